"""How far from the maximum the default stopping rule stops, in standard errors.

Run from the repository root::

    python benchmarks/bench_stopping.py           # 10**5 and 10**6 rows
    python benchmarks/bench_stopping.py --quick   # 10**4 and 10**5 rows

Two overlapping coins (theta 0.6 and 0.45, weights 1/2, ten flips per row):
EM converges slowly and the per-sample change of the log-likelihood is small
long before the estimates are. For each size, data seed and algorithm, the
default fit is compared with a reference fit in the same run (``tol=0`` and
many iterations, the baseline of the time ratio): the distance is
``max |estimate - reference| / standard error`` over every weight and
probability, with the standard errors of the reference. Each default fit is
also timed under the old stopping rule (the per-sample change below ``tol``
alone, the private ``_solver.stopping_rule("change")``) and the new/old time
ratio printed. Nothing is asserted: the targets are printed next to the
measurements.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklearn_coinem import BinomialMixture
from sklearn_coinem._solver import stopping_rule

REFERENCE_ITER = 3000
TARGET = 0.05
TIME_TARGET = 1.5
REPEAT = 3


def make_coins(n_samples, rng):
    """Ten flips of coin 0.6 or 0.45, chosen with probability 1/2."""
    heads = rng.binomial(10, np.where(rng.random(n_samples) < 0.5, 0.6, 0.45))
    return np.column_stack([heads, 10 - heads])


def timed_fit(X, repeat=1, **params):
    """Fit BinomialMixture(2, **params); return it and the best seconds."""
    model = BinomialMixture(2, random_state=0, **params)
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X)
        best = min(best, time.perf_counter() - start)
    return model, best


def distance_in_se(model, reference, std_errors):
    """Largest distance of any weight or probability, in standard errors."""
    weights = np.abs(model.weights_ - reference.weights_) / std_errors.weights
    probs = np.abs(model.probs_ - reference.probs_) / std_errors.probs
    return float(max(weights.max(), probs.max()))


def bench(n_samples, seed):
    X = make_coins(n_samples, np.random.default_rng(seed))
    reference, ref_seconds = timed_fit(X, tol=0.0, max_iter=REFERENCE_ITER)
    std_errors = reference.standard_errors(X)
    print(
        f"  {n_samples:.0e} rows, seed {seed}: reference {reference.n_iter_} "
        f"evals {ref_seconds:.2f} s, Newton decrement "
        f"{std_errors.newton_decrement:.1e}"
    )
    worst, ratios = 0.0, []
    for algorithm in ("squarem", "em"):
        with stopping_rule("change"):
            old, old_seconds = timed_fit(X, REPEAT, algorithm=algorithm)
        model, seconds = timed_fit(X, REPEAT, algorithm=algorithm)
        distance = distance_in_se(model, reference, std_errors)
        worst = max(worst, distance)
        ratios.append(seconds / old_seconds)
        honest = model.converged_ == (distance < TARGET)
        print(
            f"    {algorithm:8s} default: {distance:6.3f} SE, "
            f"converged_={model.converged_!s:5s} ({'honest' if honest else 'WRONG'}), "
            f"{model.n_iter_:5d} evals, {seconds:.3f} s; old rule "
            f"{distance_in_se(old, reference, std_errors):6.3f} SE, "
            f"{old.n_iter_:5d} evals, {old_seconds:.3f} s; "
            f"new/old {seconds / old_seconds:.2f}x"
        )
    return worst, max(ratios)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10x smaller sizes")
    args = parser.parse_args()
    sizes = (10**4, 10**5) if args.quick else (10**5, 10**6)
    print(f"two coins 0.6/0.45, ten flips; target: every parameter < {TARGET} SE")
    results = [bench(n, seed) for n in sizes for seed in range(3)]
    worst = max(distance for distance, _ in results)
    ratio = max(ratio for _, ratio in results)
    print(f"=> worst distance {worst:.3f} SE (target: < {TARGET} SE)")
    print(f"=> worst time new/old rule {ratio:.2f}x (target: <= {TIME_TARGET}x)")


if __name__ == "__main__":
    main()
