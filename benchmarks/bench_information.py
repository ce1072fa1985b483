"""Cost of the observed information (Louis 1982) in E-steps, in one run.

Run from the repository root::

    python benchmarks/bench_information.py           # all cases
    python benchmarks/bench_information.py --quick   # 10x fewer rows

For each case a mixture is fitted, then one observed information
(``_inference.observed_information``, what a Newton step and
``standard_errors`` compute) and one E-step of one run (``_estep.em_step``)
are timed alternately on the same compressed table, best of ``--repeat``
runs each, with BLAS on one thread (as inside the solver, which limits
it); the ratio information / E-step is printed next to the estimate the
solver decides with (``_newton.information_cost``). "threaded" is the
information timed again with the default BLAS threading (as
``standard_errors`` called by a user), over the same one-thread E-step.
Nothing is asserted.
"""

import argparse
import time
import warnings

import numpy as np
from bench_beta_binomial import make_vaf
from run_all import make_coins, make_dice, make_near_unique
from threadpoolctl import threadpool_limits

from sklearn_coinem import BetaBinomialMixture, BinomialMixture
from sklearn_coinem._estep import em_step
from sklearn_coinem._inference import observed_information
from sklearn_coinem._newton import information_cost
from sklearn_coinem._table import RowTable


def make_cases(scale, rng):
    """(name, estimator, X) of every case; ``scale`` divides the rows."""
    coins = make_coins(10**6 // scale, rng)
    return [
        ("coins, K=3, C=2", BinomialMixture(3), coins),
        (
            "near-unique coins, K=3, C=2",
            BinomialMixture(3),
            make_near_unique(10**5 // scale, rng),
        ),
        ("coins, K=6, C=2", BinomialMixture(6), coins),
        ("dice, K=3, C=5", BinomialMixture(3), make_dice(10**5 // scale, 5, 3, rng)),
        ("dice, K=5, C=20", BinomialMixture(5), make_dice(10**4 // scale, 20, 5, rng)),
        (
            "dice, K=10, C=20",
            BinomialMixture(10),
            make_dice(10**4 // scale, 20, 10, rng),
        ),
        (
            "beta-binomial, K=3, C=2",
            BetaBinomialMixture(3),
            make_vaf(10**6 // scale, rng),
        ),
    ]


def best_times(funcs, repeat):
    """Best wall time of each function over ``repeat`` alternating rounds."""
    best = [np.inf] * len(funcs)
    for _ in range(repeat):
        for i, func in enumerate(funcs):
            start = time.perf_counter()
            func()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def measure(model, X, repeat):
    """Seconds of one E-step and one information at the fitted parameters."""
    family = model._family
    table = RowTable.compress(family, X.astype(float))
    weights = model.weights_
    params = {name: getattr(model, name + "_") for name in family.param_names}
    batched = {name: value[None] for name, value in params.items()}
    row_weight = table.total_weight / table.n_distinct

    def estep():
        em_step(
            table,
            family,
            weights[None],
            batched,
            pseudo_count=model.pseudo_count,
            update_weights=True,
        )

    def information():
        observed_information(table, family, weights, params, True, row_weight)

    information()
    estimate = information_cost(family, batched, X.shape[1], True)
    return table.n_distinct, best_times([estep, information], repeat), estimate


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(
        f"{'case':30s} {'rows':>7s} {'E-step':>9s} {'info':>9s} {'ratio':>7s} "
        f"{'threaded':>9s} {'estimate':>9s}"
    )
    for name, estimator, X in make_cases(10 if args.quick else 1, rng):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = estimator.set_params(random_state=0, tol=1e-6).fit(X)
        with threadpool_limits(limits=1, user_api="blas"):
            rows, (t_estep, t_info), estimate = measure(model, X, args.repeat)
        _, (_, t_threaded), _ = measure(model, X, args.repeat)
        print(
            f"{name:30s} {rows:7d} {t_estep * 1e3:7.2f}ms {t_info * 1e3:7.2f}ms "
            f"{t_info / t_estep:6.1f}x {t_threaded / t_estep:8.1f}x {estimate:8.1f}x"
        )


if __name__ == "__main__":
    main()
