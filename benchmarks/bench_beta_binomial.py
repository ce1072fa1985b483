"""BetaBinomialMixture against bbmix, a direct maximiser and BinomialMixture.

Run from the repository root::

    python benchmarks/bench_beta_binomial.py            # 10**5 and 10**6 rows
    python benchmarks/bench_beta_binomial.py --quick    # 10**4 and 10**5 rows
    python benchmarks/bench_beta_binomial.py --only-large --repeat 5  # section 2

Variant-allele-like rows: depth negative binomial with mean 100 (size 10),
alternative reads beta-binomial from one of three equally likely clusters
with means 0.1, 0.25, 0.45 and precision 60. K = 3 and n_init = 5
everywhere. Every log-likelihood printed is the full one (with the binomial
coefficients), evaluated by ``scipy.stats.betabinom`` at each method's
estimates, so the methods are compared on one scale.

1. Against ``bbmix`` 0.2.2 (``pip install bbmix==0.2.2``; skipped with a
   message when missing), whose M-step runs L-BFGS-B over every row, with
   ``n_init_searches=5``, and against a direct L-BFGS-B maximiser of the
   mixture likelihood over the distinct rows (written here, five starts).
   bbmix needs minutes per thousand rows (405 s on 2000), so it runs on the first
   ``--bbmix-rows`` rows (default 2000), and BetaBinomialMixture is timed
   again on those same rows for its ratio.
2. 10**6 rows: BetaBinomialMixture against BinomialMixture on the same rows,
   same n_init, defaults otherwise; ``--repeat`` times, each repeat timing
   both (the median and range of the ratios are printed).

Nothing is asserted: the targets are printed next to the ratios.
"""

import argparse
import time
import warnings

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, gammaln, logsumexp
from scipy.stats import betabinom

from sklearn_coinem import BetaBinomialMixture, BinomialMixture

MEANS = np.array([0.1, 0.25, 0.45])
PRECISION = 60.0
DEPTH, DEPTH_SIZE = 100.0, 10.0
N_COMPONENTS, N_INIT = 3, 5


def make_vaf(n_samples, rng):
    """Alternative and reference reads of ``n_samples`` VAF-like rows."""
    success = DEPTH_SIZE / (DEPTH_SIZE + DEPTH)
    depth = np.maximum(rng.negative_binomial(DEPTH_SIZE, success, n_samples), 1)
    mean = MEANS[rng.integers(len(MEANS), size=n_samples)]
    alt = rng.binomial(depth, rng.beta(mean * PRECISION, (1 - mean) * PRECISION))
    return np.column_stack([alt, depth - alt])


def full_loglik(X, weights, mean, precision):
    """Full log-likelihood of a beta-binomial mixture, by scipy.stats."""
    a, b = mean * precision, (1 - mean) * precision
    log_pmf = betabinom.logpmf(X[:, :1], X.sum(axis=1, keepdims=True), a[None], b[None])
    return float(logsumexp(log_pmf + np.log(weights), axis=1).sum())


def timed(func):
    start = time.perf_counter()
    result = func()
    return result, time.perf_counter() - start


def fit_coinem(X, estimator=BetaBinomialMixture):
    """Default fit of ``estimator``; returns (weights, mean, precision), seconds."""
    model, seconds = timed(
        lambda: estimator(N_COMPONENTS, n_init=N_INIT, random_state=0).fit(X)
    )
    precision = getattr(model, "precision_", np.full(N_COMPONENTS, np.inf))
    return (model.weights_, model.probs_[:, 0], precision), seconds, model.n_iter_


def _unpack(theta):
    """Softmax weights, logistic means and log precisions from the vector."""
    log_weights = np.append(theta[: N_COMPONENTS - 1], 0.0)
    weights = np.exp(log_weights - logsumexp(log_weights))
    mean = expit(theta[N_COMPONENTS - 1 : 2 * N_COMPONENTS - 1])
    precision = np.exp(theta[2 * N_COMPONENTS - 1 :])
    return weights, mean, precision


def fit_direct(X, rng):
    """L-BFGS-B on the mixture log-likelihood of the distinct rows, 5 starts.

    Starts: equal weights, means at three row proportions drawn at random
    (sorted), precision 100. The objective omits the binomial coefficients
    (a constant); the gradient is by finite differences.
    """
    rows, counts = np.unique(X, axis=0, return_counts=True)
    alt, trials = rows[:, :1].astype(float), rows.sum(axis=1, keepdims=True)
    proportions = alt[:, 0] / np.maximum(trials[:, 0], 1)

    def negative_loglik(theta):
        weights, mean, precision = _unpack(theta)
        a, b = mean * precision, (1 - mean) * precision
        log_pmf = (
            gammaln(alt + a)
            + gammaln(trials - alt + b)
            + gammaln(precision)
            - gammaln(a)
            - gammaln(b)
            - gammaln(trials + precision)
        )
        return -logsumexp(log_pmf + np.log(weights), axis=1) @ counts

    best = None
    for _ in range(N_INIT):
        start_mean = np.sort(
            rng.choice(proportions, N_COMPONENTS, p=counts / counts.sum())
        )
        start_mean = np.clip(start_mean, 0.01, 0.99)
        theta0 = np.concatenate(
            [
                np.zeros(N_COMPONENTS - 1),
                np.log(start_mean / (1 - start_mean)),
                np.full(N_COMPONENTS, np.log(100.0)),
            ]
        )
        result = minimize(negative_loglik, theta0, method="L-BFGS-B")
        if best is None or result.fun < best.fun:
            best = result
    return _unpack(best.x)


def fit_bbmix(X):
    """bbmix 0.2.2's MixtureBetaBinomial with five initial searches."""
    from bbmix.models import MixtureBetaBinomial

    model = MixtureBetaBinomial(n_components=N_COMPONENTS, n_init_searches=N_INIT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params = model.fit((X[:, 0], X.sum(axis=1)))
    a = params[:N_COMPONENTS]
    b = params[N_COMPONENTS : 2 * N_COMPONENTS]
    weights = params[2 * N_COMPONENTS :]
    return weights / weights.sum(), a / (a + b), a + b


def report(name, X, fitted, seconds, baseline_seconds, baseline_loglik):
    loglik = full_loglik(X, *fitted)
    print(
        f"  {name:22s} {seconds:8.2f} s  log-lik {loglik:16.3f}  "
        f"(coinem - this: {baseline_loglik - loglik:+.3f})  "
        f"coinem is {seconds / baseline_seconds:7.1f}x faster"
    )


def compare_others(X, bbmix_rows, rng):
    n_samples = X.shape[0]
    print(f"\n1. {n_samples} rows, K={N_COMPONENTS}, n_init={N_INIT} (target: >= 30x)")
    fitted, seconds, n_iter = fit_coinem(X)
    loglik = full_loglik(X, *fitted)
    print(
        f"  {'BetaBinomialMixture':22s} {seconds:8.2f} s  log-lik {loglik:16.3f}  "
        f"({n_iter} EM iterations)"
    )
    direct, direct_seconds = timed(lambda: fit_direct(X, rng))
    report("direct L-BFGS-B", X, direct, direct_seconds, seconds, loglik)
    try:
        import bbmix  # noqa: F401
    except ImportError:
        print("  bbmix: not installed (pip install bbmix==0.2.2), skipped")
        return
    small = X[:bbmix_rows]
    fitted, seconds, _ = fit_coinem(small)
    loglik = full_loglik(small, *fitted)
    print(
        f"  on the first {bbmix_rows} rows: BetaBinomialMixture {seconds:.2f} s, "
        f"log-lik {loglik:.3f}"
    )
    bb, bb_seconds = timed(lambda: fit_bbmix(small))
    report("bbmix 0.2.2", small, bb, bb_seconds, seconds, loglik)


def compare_binomial(X, repeat):
    print(
        f"\n2. {X.shape[0]} rows: BetaBinomialMixture / BinomialMixture (target <= 3)"
    )
    ratios = []
    for _ in range(repeat):
        _, binomial_seconds, binomial_iter = fit_coinem(X, BinomialMixture)
        fitted, seconds, n_iter = fit_coinem(X)
        ratios.append(seconds / binomial_seconds)
        print(
            f"  BinomialMixture {binomial_seconds:.3f} s ({binomial_iter} iterations), "
            f"BetaBinomialMixture {seconds:.3f} s ({n_iter} iterations, log-lik "
            f"{full_loglik(X, *fitted):.3f}): ratio {ratios[-1]:.2f}"
        )
    if repeat > 1:
        print(
            f"  ratio median {np.median(ratios):.2f}, "
            f"range {min(ratios):.2f}-{max(ratios):.2f} over {repeat} repeats"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10x smaller sizes")
    parser.add_argument("--bbmix-rows", type=int, default=2000)
    parser.add_argument(
        "--only-large", action="store_true", help="only section 2 (10**6 rows)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="timings of section 2 (default 1)"
    )
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    rng = np.random.default_rng(0)
    X = make_vaf(10**6 // scale, rng)
    if not args.only_large:
        compare_others(X[: 10**5 // scale], min(args.bbmix_rows, 10**5 // scale), rng)
    compare_binomial(X, args.repeat)


if __name__ == "__main__":
    main()
