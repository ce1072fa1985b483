"""Coverage of the 95% intervals of standard_errors, by simulation.

Run from the repository root::

    python benchmarks/bench_coverage.py                  # all cases, 1000 sets
    python benchmarks/bench_coverage.py --case hard --reps 200
    python benchmarks/bench_coverage.py --case hard --start-at-truth

Cases (docs/performance.rst, "Interval coverage"):

- ``hard``: a small component overlapping a large one (weights 0.15/0.85,
  heads probabilities 0.5/0.35, 600 rows of 20 flips), fitted with
  ``n_init=5``;
- ``coins``: weights 0.4/0.6, heads probabilities 0.8/0.3, 200 rows of 5-15
  flips;
- ``dice``: three outcomes, weights 0.35/0.65, 200 rows of 4-10 throws.

Each simulated data set is fitted (``tol=1e-10``, no pseudo-count), the
components are matched to the truth with ``align_components``, and every
interval scale is scored. ``--start-at-truth`` fits from the true
parameters instead, which tells a shortfall of the fits (local maxima)
from one of the intervals. The Monte Carlo standard error of a coverage
``c`` over ``n`` data sets is ``sqrt(c (1 - c) / n)``, about 0.007 at 0.95
and 1000 data sets.
"""

import argparse
import time
import warnings

import numpy as np

from sklearn_coinem import BinomialMixture, align_components
from sklearn_coinem.datasets import make_binomial_mixture

CASES = {
    "hard": {
        "weights": [0.15, 0.85],
        "probs": [[0.5, 0.5], [0.35, 0.65]],
        "n_samples": 600,
        "n_trials": 20,
        "n_init": 5,
    },
    "coins": {
        "weights": [0.4, 0.6],
        "probs": [[0.8, 0.2], [0.3, 0.7]],
        "n_samples": 200,
        "n_trials": (5, 15),
        "n_init": 1,
    },
    "dice": {
        "weights": [0.35, 0.65],
        "probs": [[0.6, 0.3, 0.1], [0.2, 0.3, 0.5]],
        "n_samples": 200,
        "n_trials": (4, 10),
        "n_init": 1,
    },
}
INTERVALS = ("logit", "wald", "profile")


def coverage(case, n_reps, seed=1, start_at_truth=False):
    """Fraction of data sets whose intervals cover each true parameter.

    Returns the coverages (interval -> array over the weights, then the
    probabilities row by row) and the seconds spent in standard_errors per
    interval.
    """
    spec = CASES[case]
    weights, probs = np.asarray(spec["weights"]), np.asarray(spec["probs"])
    truth = np.concatenate([weights, probs.ravel()])
    covered = {name: np.zeros(truth.size) for name in INTERVALS}
    seconds = dict.fromkeys(INTERVALS, 0.0)
    rng = np.random.default_rng(seed)
    for rep in range(n_reps):
        X, _ = make_binomial_mixture(
            spec["n_samples"],
            weights=weights,
            probs=probs,
            n_trials=spec["n_trials"],
            random_state=int(rng.integers(2**31)),
        )
        start = {"weights_init": weights, "probs_init": probs} if start_at_truth else {}
        bm = BinomialMixture(
            len(weights),
            tol=1e-10,
            pseudo_count=0,
            n_init=1 if start_at_truth else spec["n_init"],
            random_state=rep,
            **start,
        ).fit(X)
        perm = align_components(probs, bm)
        for name in INTERVALS:
            tic = time.perf_counter()
            se = bm.standard_errors(X, interval=name)
            seconds[name] += time.perf_counter() - tic
            ci = np.concatenate([se.weights_ci[perm], se.probs_ci[perm].reshape(-1, 2)])
            covered[name] += (ci[:, 0] <= truth) & (truth <= ci[:, 1])
    return {name: count / n_reps for name, count in covered.items()}, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--case", choices=[*CASES, "all"], default="all")
    parser.add_argument("--start-at-truth", action="store_true")
    args = parser.parse_args()
    cases = list(CASES) if args.case == "all" else [args.case]
    for case in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result, seconds = coverage(
                case, args.reps, start_at_truth=args.start_at_truth
            )
        print(
            f"{case}: coverage of weights, then probs row by row (target 0.95), "
            f"{args.reps} data sets"
        )
        for name, values in result.items():
            mc_se = np.sqrt(values * (1 - values) / args.reps)
            cells = "  ".join(f"{v:.3f}+-{s:.3f}" for v, s in zip(values, mc_se))
            per_fit = 1e3 * seconds[name] / args.reps
            ratio = seconds[name] / seconds["logit"]
            print(
                f"  {name:7s}: {cells}   ({per_fit:.1f} ms per call, "
                f"{ratio:.1f}x logit)"
            )


if __name__ == "__main__":
    main()
