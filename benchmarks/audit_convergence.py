"""Audit of ``converged_``: how much log-likelihood does each converged fit leave?

Run from the repository root::

    python benchmarks/audit_convergence.py                  # binomial cases
    python benchmarks/audit_convergence.py --family beta-binomial
    python benchmarks/audit_convergence.py --cases close1e4 --seeds 10 -v

Each case is fitted from ``--seeds`` random starts (``n_init=1``), with both
algorithms and ``tol`` of 1e-8 (the default) and 1e-6. For every fit that
reports ``converged_=True`` the gain left is measured from its estimates:
the best mean log-likelihood (``score``) reached by 4000 plain EM steps from
them (``tol=0``) and by a ``tol=1e-12`` fit from there, minus the fit's own,
times the rows. The stopping rule promises about ``1e-3`` nats
(``_solver._MAX_REMAINING_GAIN``); a fit leaving more than twice that is
printed as BAD. The fits certified by the quasi-Newton decrement
(``_solver._Runs.quasi_certifies``) are counted, with the largest gain any
of them left. Nothing is asserted.
"""

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from bench_beta_binomial import make_vaf  # noqa: E402
from run_all import (  # noqa: E402
    make_close_coins,
    make_coins,
    make_dice,
    make_near_unique,
)

from sklearn_coinem import BetaBinomialMixture, BinomialMixture, _solver  # noqa: E402


def two_coins(n_samples, rng):
    """Coins 0.6 and 0.45, weights 1/2, ten flips (the issue's slow case)."""
    heads = rng.binomial(10, np.where(rng.random(n_samples) < 0.5, 0.6, 0.45))
    return np.column_stack([heads, 10 - heads])


def overlapping_clusters(n_samples, rng):
    """Beta-binomial clusters with means 0.3 and 0.45, precision 20, 5-39 reads."""
    depth = rng.integers(5, 40, n_samples)
    mean = np.where(rng.random(n_samples) < 0.5, 0.3, 0.45)
    alt = rng.binomial(depth, rng.beta(mean * 20, (1 - mean) * 20))
    return np.column_stack([alt, depth - alt])


BINOMIAL = {
    "twocoins1e4": (lambda rng: two_coins(10**4, rng), 2),
    "twocoins1e5": (lambda rng: two_coins(10**5, rng), 2),
    "close1e4": (lambda rng: make_close_coins(10**4, rng), 3),
    "close1e5": (lambda rng: make_close_coins(10**5, rng), 3),
    "nearunique1e4": (lambda rng: make_near_unique(10**4, rng), 3),
    "dice1e3": (lambda rng: make_dice(1000, 20, 5, rng), 5),
    "coins1e4": (lambda rng: make_coins(10**4, rng), 3),
    "coins1e4k4": (lambda rng: make_coins(10**4, rng), 4),
}
BETA_BINOMIAL = {
    "overlap2000": (lambda rng: overlapping_clusters(2000, rng), 2),
    "overlap2000k3": (lambda rng: overlapping_clusters(2000, rng), 3),
    "vaf2000": (lambda rng: make_vaf(2000, rng), 3),
}


def fit_counting_quasi(estimator, X, **params):
    """Fit ``estimator(**params)``; and whether a quasi-Newton decrement did it."""
    certified = []
    rule = _solver._Runs.quasi_certifies

    def counting(runs, run, decrement):
        certified.append(rule(runs, run, decrement))
        return certified[-1]

    _solver._Runs.quasi_certifies = counting
    try:
        model = estimator(**params).fit(X)
    finally:
        _solver._Runs.quasi_certifies = rule
    return model, any(certified)


def refit(estimator, model, X, **params):
    """A fit of ``estimator`` started at ``model``'s estimates."""
    start = {"weights_init": model.weights_, "probs_init": model.probs_}
    if hasattr(model, "precision_"):
        start["precision_init"] = model.precision_
    return estimator(model.n_components, **start, **params).fit(X)


def gain_left(estimator, model, X):
    """Total log-likelihood that EM and a tight fit gain from ``model``."""
    far = refit(estimator, model, X, algorithm="em", tol=0.0, max_iter=4000)
    tight = refit(estimator, far, X, tol=1e-12, max_iter=2000)
    return (max(far.score(X), tight.score(X)) - model.score(X)) * len(X)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--family", choices=["binomial", "beta-binomial"], default="binomial"
    )
    parser.add_argument("--cases", nargs="+", help="default: every case")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    binomial = args.family == "binomial"
    cases = BINOMIAL if binomial else BETA_BINOMIAL
    estimator = BinomialMixture if binomial else BetaBinomialMixture
    n_bad = n_fits = n_quasi = 0
    quasi_worst = 0.0
    for name in args.cases or list(cases):
        make, n_components = cases[name]
        X = make(np.random.default_rng(0))
        for algorithm in ("squarem", "em"):
            for tol in (1e-8, 1e-6):
                for seed in range(args.seeds):
                    label = f"{name} {algorithm} tol={tol:g} seed={seed}"
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        model, quasi = fit_counting_quasi(
                            estimator,
                            X,
                            n_components=n_components,
                            algorithm=algorithm,
                            tol=tol,
                            random_state=seed,
                        )
                        if not model.converged_:
                            print(
                                f"{label}: not converged ({model.n_iter_} iterations)"
                            )
                            continue
                        gain = gain_left(estimator, model, X)
                    n_fits += 1
                    bad = gain > 2e-3
                    n_bad += bad
                    n_quasi += quasi
                    if quasi:
                        quasi_worst = max(quasi_worst, gain)
                    if bad or args.verbose:
                        flag = "  <-- BAD" if bad else ""
                        iters = f"{model.n_iter_} iterations"
                        how = " (quasi-Newton)" if quasi else ""
                        print(f"{label}: {iters}{how}, {gain:.2e} nats left{flag}")
    print(f"{n_bad} of {n_fits} converged fits left more than 2e-3 nats")
    print(
        f"{n_quasi} certified by the quasi-Newton decrement, "
        f"leaving at most {quasi_worst:.2e} nats"
    )


if __name__ == "__main__":
    main()
