"""Coverage of the 95% intervals of standard_errors, by simulation.

Run from the repository root (about 5 minutes on two shared cores)::

    python benchmarks/bench_coverage.py            # 1000 data sets
    python benchmarks/bench_coverage.py --reps 200

The hard case of docs/performance.rst: a small component overlapping a large
one (weights 0.15/0.85, heads probabilities 0.5/0.35, 600 rows of 20 flips).
Each simulated data set is fitted with ``n_init=5``, the components are
matched to the truth with ``align_components``, and both interval scales
are scored. The slow tests in tests/test_inference.py check the easier cases.
"""

import argparse
import warnings

import numpy as np

from sklearn_coinem import BinomialMixture, align_components
from sklearn_coinem.datasets import make_binomial_mixture

WEIGHTS = np.array([0.15, 0.85])
PROBS = np.array([[0.5, 0.5], [0.35, 0.65]])


def coverage(n_reps, seed=1):
    """Fraction of data sets whose intervals cover each true parameter."""
    rng = np.random.default_rng(seed)
    truth = np.concatenate([WEIGHTS, PROBS.ravel()])
    covered = {"logit": np.zeros(6), "wald": np.zeros(6)}
    for rep in range(n_reps):
        X, _ = make_binomial_mixture(
            600,
            weights=WEIGHTS,
            probs=PROBS,
            n_trials=20,
            random_state=int(rng.integers(2**31)),
        )
        bm = BinomialMixture(
            2, tol=1e-10, pseudo_count=0, n_init=5, random_state=rep
        ).fit(X)
        perm = align_components(PROBS, bm)
        for scale, count in covered.items():
            se = bm.standard_errors(X, interval=scale)
            ci = np.concatenate([se.weights_ci[perm], se.probs_ci[perm].reshape(-1, 2)])
            count += (ci[:, 0] <= truth) & (truth <= ci[:, 1])
    return {scale: count / n_reps for scale, count in covered.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000)
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = coverage(args.reps)
    print("coverage of weights[0..1], probs[0, 0..1], probs[1, 0..1] (target 0.95)")
    for scale, values in result.items():
        print(f"  {scale:5s}: {np.round(values, 3)}")


if __name__ == "__main__":
    main()
