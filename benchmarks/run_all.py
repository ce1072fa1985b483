"""Speed and memory of BinomialMixture against a textbook NumPy EM, in one run.

Run from the repository root::

    python benchmarks/run_all.py           # five benchmarks, plus [6] for info
    python benchmarks/run_all.py --quick   # 10x to 100x smaller smoke run
    python benchmarks/run_all.py --only 3 4

Every figure is a ratio measured in the same process against a baseline: the
plain EM below (log space, no compression, no acceleration, restarts one after
the other), a single pass over the input (``X.sum()``), or ``X.nbytes``. Both
fitters get the same number of components, restarts, ``tol`` and ``max_iter``,
and the final mean log-likelihood of both is evaluated by the same function.
Like the library, the baseline runs its matrix products on one BLAS thread:
on shared cores, threaded BLAS on these skinny products is several times
slower, which would flatter the ratios. Each library fit is also timed under
the stopping rule before the remaining-gain certificate (the per-sample
change below ``tol`` alone, the private ``_solver.stopping_rule("change")``);
the new/old time ratios are collected in a table at the end, with how many
nats of log-likelihood the old rule's fits stop short of the new rule's (where
the old rule stops far from the maximum the new one has more to do). Nothing
is asserted: the targets are printed next to the measurements.
"""

import argparse
import time
import tracemalloc
import warnings

import numpy as np
from scipy.special import gammaln, logsumexp
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from sklearn_coinem import BinomialMixture, CollapsedComponentsWarning
from sklearn_coinem._families import MultinomialFamily
from sklearn_coinem._initialization import initial_parameters
from sklearn_coinem._solver import stopping_rule
from sklearn_coinem._table import RowTable

TOL = 1e-6
MAX_ITER = 1000

# (benchmark, new/old time ratio) of every fit timed under both rules.
RULE_RATIOS = []


# --------------------------------------------------------------------- data
def make_coins(n_samples, rng):
    """Three coins (0.2, 0.5, 0.8), each row 5..50 flips of one of them."""
    theta = np.array([0.2, 0.5, 0.8])
    component = rng.choice(3, size=n_samples, p=[0.3, 0.4, 0.3])
    trials = rng.integers(5, 51, size=n_samples)
    heads = rng.binomial(trials, theta[component])
    return np.column_stack([heads, trials - heads])


def make_close_coins(n_samples, rng):
    """Three overlapping coins (0.45, 0.5, 0.55), 5..50 flips: slow plain EM."""
    theta = np.array([0.45, 0.5, 0.55])
    component = rng.choice(3, size=n_samples)
    trials = rng.integers(5, 51, size=n_samples)
    heads = rng.binomial(trials, theta[component])
    return np.column_stack([heads, trials - heads])


def make_near_unique(n_samples, rng):
    """Overlapping coins (0.45, 0.5, 0.55), log-uniform trials in 1..10**6.

    Trials are spread over six decades so that rows hardly repeat while many
    rows still have too few flips to tell the coins apart (slow EM).
    """
    theta = np.array([0.45, 0.5, 0.55])
    component = rng.choice(3, size=n_samples)
    trials = np.rint(np.exp(rng.uniform(0, np.log(1e6), size=n_samples)))
    heads = rng.binomial(trials.astype(np.int64), theta[component])
    return np.column_stack([heads, trials.astype(np.int64) - heads])


def make_dice(n_samples, n_features, n_components, rng):
    """Five overlapping 20-sided dice, 20..200 throws per row."""
    probs = rng.dirichlet(np.full(n_features, 5.0), size=n_components)
    component = rng.choice(n_components, size=n_samples)
    trials = rng.integers(20, 201, size=n_samples)
    return rng.multinomial(trials, probs[component])


def data_start(X, n_components, rng):
    """Smoothed proportions of randomly chosen rows, equal weights."""
    rows = X[rng.choice(len(X), size=n_components, replace=False)] + 0.5
    return np.full(n_components, 1 / n_components), rows / rows.sum(1, keepdims=True)


def library_start(X, n_components):
    """The library's default (k-means++) starting point, to give to both fitters."""
    family = MultinomialFamily()
    table = RowTable.compress(family, X)
    weights, params = initial_parameters(
        table, family, n_components, 1, "k-means++", np.random.RandomState(0)
    )
    return weights[0], params["probs"][0]


# ----------------------------------------------------------------- baseline
def mean_loglik(X, weights, probs, log_coef=None):
    """Mean log-likelihood (with the multinomial coefficient) of the mixture."""
    if log_coef is None:
        log_coef = gammaln(X.sum(1) + 1) - gammaln(X + 1).sum(1)
    with np.errstate(divide="ignore"):
        log_joint = X @ np.log(probs).T + np.log(weights)
    return float(logsumexp(log_joint, axis=1).mean() + log_coef.mean())


def plain_em(X, weights, probs, tol=TOL, max_iter=MAX_ITER):
    """Textbook EM: full E-step on every row, M-step, stop on loglik change."""
    with threadpool_limits(limits=1, user_api="blas"):
        return _plain_em(np.asarray(X, dtype=float), weights, probs, tol, max_iter)


def _plain_em(X, weights, probs, tol, max_iter):
    log_coef_mean = (gammaln(X.sum(1) + 1) - gammaln(X + 1).sum(1)).mean()
    loglik = -np.inf
    for n_iter in range(1, max_iter + 1):
        log_joint = X @ np.log(probs).T + np.log(weights)
        log_norm = logsumexp(log_joint, axis=1)
        resp = np.exp(log_joint - log_norm[:, None])
        previous, loglik = loglik, log_norm.mean() + log_coef_mean
        weights = resp.mean(0)
        probs = resp.T @ X
        probs /= probs.sum(1, keepdims=True)
        if abs(loglik - previous) < tol:
            break
    return weights, probs, n_iter


def plain_em_restarts(X, starts, **kwargs):
    """Best of plain EM from each start; return (weights, probs, total iters)."""
    best, best_loglik, total_iter = None, -np.inf, 0
    for weights, probs in starts:
        weights, probs, n_iter = plain_em(X, weights, probs, **kwargs)
        total_iter += n_iter
        loglik = mean_loglik(X, weights, probs)
        if loglik > best_loglik:
            best, best_loglik = (weights, probs), loglik
    return best[0], best[1], total_iter


# ------------------------------------------------------------------ helpers
def best_time(func, repeat):
    """Smallest wall time of ``repeat`` calls, and the last return value."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        value = func()
        best = min(best, time.perf_counter() - start)
    return best, value


def time_rules(label, fit, repeat, n_samples):
    """Best times of ``fit()`` under the new and the old stopping rule.

    Returns the new time, the last fitted model, and a line comparing both.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with stopping_rule("change"):
            t_old, old = best_time(fit, repeat)
            old_iter, old_converged = old.n_iter_, old.converged_
            old_bound = old.lower_bound_
        t_new, model = best_time(fit, repeat)
    # The total objective the old rule leaves on the table (nats).
    short = (model.lower_bound_ - old_bound) * n_samples
    RULE_RATIOS.append((label, t_new / t_old, short))
    line = (
        f"stopping rule new/old: {t_new / t_old:.2f}x time "
        f"(old {t_old:.3f} s n_iter_={old_iter} converged_={old_converged}, "
        f"{short:.1e} nats short; "
        f"new n_iter_={model.n_iter_} converged_={model.converged_})"
    )
    return t_new, model, line


def report(number, title, lines, figure, target):
    print(f"\n[{number}] {title}")
    for line in lines:
        print(f"    {line}")
    print(f"    => {figure}   (target: {target})")


def compare_with_plain(label, X, model, starts, repeat=1):
    """Time the library and plain EM on X; return the printed lines and ratio."""
    t_lib, model, rule_line = time_rules(label, lambda: model.fit(X), repeat, len(X))
    t_plain, (w, p, plain_iter) = best_time(lambda: plain_em_restarts(X, starts), 1)
    ll_lib = mean_loglik(X, model.weights_, model.probs_)
    ll_plain = mean_loglik(X, w, p)
    lines = [
        f"library ({model.algorithm}): {t_lib:9.3f} s  n_iter_={model.n_iter_:4d}  "
        f"loglik={ll_lib:.10f}",
        f"plain EM        : {t_plain:9.3f} s  iterations={plain_iter:4d}  "
        f"loglik={ll_plain:.10f}",
        f"loglik(library) - loglik(plain) = {ll_lib - ll_plain:+.2e}",
        rule_line,
    ]
    return lines, t_plain / t_lib, ll_lib - ll_plain


# --------------------------------------------------------------- benchmarks
def bench_coins(n_samples, rng):
    X = make_coins(n_samples, rng)
    starts = [data_start(X, 3, rng) for _ in range(5)]
    model = BinomialMixture(3, n_init=5, tol=TOL, max_iter=MAX_ITER, random_state=0)
    lines, ratio, _ = compare_with_plain("[1] coins", X, model, starts, repeat=3)
    report(
        1,
        f"coins, {n_samples:.0e} rows, trials 5..50, K=3, n_init=5",
        lines,
        f"speed-up {ratio:.0f}x",
        ">= 100x at equal or better loglik",
    )


def bench_one_pass(n_samples, rng):
    X = make_coins(n_samples, rng)
    t_sum, _ = best_time(X.sum, 5)
    model = BinomialMixture(3, n_init=5, tol=TOL, max_iter=MAX_ITER, random_state=0)
    t_fit, _, rule_line = time_rules("[2] coins 1e7", lambda: model.fit(X), 3, len(X))
    w, p = data_start(X, 3, rng)
    t_iter, _ = best_time(lambda: plain_em(X, w, p, max_iter=1), 1)
    lines = [
        rule_line,
        f"X.sum(): {t_sum * 1e3:.1f} ms   fit (K=3, n_init=5): {t_fit * 1e3:.1f} ms",
        f"one iteration of plain EM: {t_iter * 1e3:.0f} ms "
        f"({t_iter / t_fit:.1f}x the whole fit)",
    ]
    report(
        2,
        f"coins, {n_samples:.0e} rows: fit time / one pass over X",
        lines,
        f"{t_fit / t_sum:.1f}x",
        "<= 20x",
    )
    return X


def compare_algorithms(number, title, X, n_components, target):
    """Time both library algorithms and plain EM from the library's start."""
    weights, probs = library_start(X, n_components)
    lines = [f"distinct rows: {len(np.unique(X, axis=0))} of {len(X)}"]
    ratios = {}
    for algorithm in ("squarem", "em"):
        model = BinomialMixture(
            n_components,
            weights_init=weights,
            probs_init=probs,
            algorithm=algorithm,
            tol=TOL,
            max_iter=MAX_ITER,
        )
        new_lines, ratios[algorithm], _ = compare_with_plain(
            f"[{number}] {algorithm}", X, model, [(weights, probs)], repeat=3
        )
        lines += new_lines
    report(
        number,
        title,
        lines,
        f"speed-up squarem {ratios['squarem']:.1f}x, em {ratios['em']:.1f}x",
        target,
    )


def bench_near_unique(n_samples, rng):
    compare_algorithms(
        3,
        f"near-unique coins, {n_samples:.0e} rows, thetas 0.45/0.5/0.55, K=3",
        make_near_unique(n_samples, rng),
        3,
        ">= 3x at the same loglik",
    )


def bench_dice(n_samples, rng):
    compare_algorithms(
        4,
        f"multinomial, {n_samples:.0e} rows x 20 columns, K=5",
        make_dice(n_samples, 20, 5, rng),
        5,
        "report",
    )


def bench_memory(X):
    model = BinomialMixture(3, n_init=5, tol=TOL, max_iter=MAX_ITER, random_state=0)
    peaks = {}
    for rule in ("change", "gain"):
        with stopping_rule(rule):
            tracemalloc.start()
            model.fit(X)
            peaks[rule] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    peak = peaks["gain"]
    report(
        5,
        f"peak memory allocated by fit, coins, {len(X):.0e} rows",
        [
            f"X.nbytes = {X.nbytes / 2**20:.0f} MiB, fit peak = {peak / 2**20:.1f} MiB",
            f"stopping rule new/old: {peak / peaks['change']:.2f}x peak memory",
        ],
        f"{peak / X.nbytes:.3f}x X.nbytes",
        "<= 2x",
    )


def bench_algorithm_choice(n_samples, rng, seeds=(0, 1, 2)):
    """Informational: plain EM vs SQUAREM inside the library, and n_init cost.

    Each cell sums over ``n_init=1`` fits from the k-means++ starts of
    ``seeds``: EM map evaluations, seconds, and the runs that hit max_iter;
    ``gain`` is the largest objective of SQUAREM minus that of plain EM.
    """
    print("\n[6] plain EM vs SQUAREM inside the library, 3 starts (informational)")
    cases = [
        ("coins 0.2/0.5/0.8", make_coins(n_samples, rng), 3),
        ("close coins 0.45/0.5/0.55", make_close_coins(n_samples, rng), 3),
        ("near-unique coins", make_near_unique(n_samples // 10, rng), 3),
        ("dice 20 faces", make_dice(n_samples // 100, 20, 5, rng), 5),
    ]
    for name, X, n_components in cases:
        for tol in (TOL, 1e-10):
            cells, best = [], {}
            for algorithm in ("em", "squarem"):
                evaluations = seconds = old_seconds = stalled = 0
                short = 0.0
                best[algorithm] = -np.inf
                for seed in seeds:
                    model = BinomialMixture(
                        n_components,
                        algorithm=algorithm,
                        tol=tol,
                        max_iter=MAX_ITER,
                        random_state=seed,
                    )
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        # Overlapping coins with K=3 often collapse (expected).
                        warnings.simplefilter("ignore", CollapsedComponentsWarning)
                        with stopping_rule("change"):
                            elapsed, _ = best_time(lambda: model.fit(X), 3)
                            old_bound = model.lower_bound_
                        old_seconds += elapsed
                        elapsed, _ = best_time(lambda: model.fit(X), 3)
                    seconds += elapsed
                    short = max(short, (model.lower_bound_ - old_bound) * len(X))
                    evaluations += model.n_iter_
                    stalled += not model.converged_
                    best[algorithm] = max(best[algorithm], model.lower_bound_)
                label = f"[6] {name}, tol={tol:.0e}, {algorithm}"
                RULE_RATIOS.append((label, seconds / old_seconds, short))
                cells.append(
                    f"{algorithm}: {evaluations:4d} evals {seconds:6.3f} s "
                    f"({stalled} hit max_iter, {seconds / old_seconds:.2f}x old rule)"
                )
            gain = best["squarem"] - best["em"]
            print(
                f"    {name:26s} tol={tol:.0e}  "
                + "  |  ".join(cells)
                + f"  |  gain {gain:+.1e}"
            )
    X = cases[2][1]
    one, _ = best_time(lambda: BinomialMixture(3, random_state=0).fit(X), 2)
    five, _ = best_time(lambda: BinomialMixture(3, n_init=5, random_state=0).fit(X), 2)
    print(f"    near-unique coins: n_init=5 costs {five / one:.1f}x n_init=1")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller smoke run")
    parser.add_argument("--only", type=int, nargs="+", choices=range(1, 7))
    args = parser.parse_args()
    only = set(args.only or range(1, 7))
    scale = 100 if args.quick else 1
    rng = np.random.default_rng(0)
    print(f"sizes divided by {scale}; tol={TOL}, max_iter={MAX_ITER}")
    if 1 in only:
        bench_coins(10**6 // scale, rng)
    X = None
    if 2 in only:
        X = bench_one_pass(10**7 // scale, rng)
    if 3 in only:
        bench_near_unique(10**5 // max(1, scale // 10), rng)
    if 4 in only:
        bench_dice(10**5 // max(1, scale // 10), rng)
    if 5 in only:
        bench_memory(make_coins(10**7 // scale, rng) if X is None else X)
    if 6 in only:
        bench_algorithm_choice(10**6 // scale, rng)
    print(
        "\nfit time, new stopping rule / old (target: every ratio <= 1.5), and the"
        "\nlargest total log-likelihood the old rule's fits stop short of the new's"
    )
    for label, ratio, short in RULE_RATIOS:
        print(f"    {label:50s} {ratio:5.2f}x   old rule {short:8.1e} nats short")


if __name__ == "__main__":
    main()
