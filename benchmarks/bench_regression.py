"""Mixtures of binomial regressions: one start of this library vs R's flexmix.

Run from the repository root::

    python benchmarks/bench_regression.py            # 10^5 rows, K = 3
    python benchmarks/bench_regression.py --rows 20000

The data: 3 standard normal covariates, 5..50 trials per row, three
logistic-regression components. Every fitter gets one start and stops at a
log-likelihood change of about 1e-8 relative (flexmix's ``tolerance``; here
``tol`` on the mean log-likelihood, which is near -2.75 on these data, plus
the engine's remaining-gain certificate). flexmix is timed inside R
(``system.time`` around ``flexmix()``, not R's start-up) by
``benchmarks/bench_regression.R``, from its default start (a random
assignment of the rows); it is skipped when ``Rscript`` or flexmix is
missing.

Ours is timed three ways, each from the arrays to the end of EM:

- ``estimator``: ``BinomialRegressionMixture(3, random_state=seed).fit``
  with every default (n_init=1, a k-means++ start seeded and refined by EM
  on 2048 evenly spaced rows, then Newton steps on all rows, whose
  decrement certifies the fit; SQUAREM and the certified-Newton M-step
  where it does not), including validation and the row table's exact
  compression, which finds nothing to merge on continuous covariates;
- ``engine, rows as given``: the same start, refinement and EM on the
  table of the rows as given (no compression), what ``fit`` costs when
  compression is skipped;
- one line per M-step curvature and algorithm (same, without the subsample
  refinement), for the per-iteration comparison.

Nothing is asserted: the target (>= 100x faster at an equal-or-better
log-likelihood) is printed next to the ratios. Each of ours is the best of
``--repeat`` runs (the same start each time); flexmix runs once.
"""

import argparse
import pathlib
import shutil
import subprocess
import tempfile
import time
from functools import partial

import numpy as np
from scipy.special import expit
from sklearn.utils import check_random_state

from sklearn_coinem import BinomialRegressionMixture
from sklearn_coinem._binomial_regression_mixture import (
    evenly_spaced_rows,
    refine_on_subsample,
)
from sklearn_coinem._families._binomial_regression import (
    CURVATURES,
    BinomialRegressionFamily,
)
from sklearn_coinem._initialization import initial_parameters
from sklearn_coinem._solver import run_em
from sklearn_coinem._table import RowTable

COEF = np.array([[-1.5, 1.0, -0.5, 0.3], [0.0, -1.0, 0.5, 0.3], [1.5, 0.5, 1.0, -0.3]])
R_SCRIPT = pathlib.Path(__file__).with_name("bench_regression.R")


def make_data(n_samples, rng):
    """Counts (n, 2) and covariates (n, 3) from three logistic regressions."""
    covariates = rng.normal(size=(n_samples, 3))
    component = rng.choice(3, size=n_samples, p=[0.3, 0.3, 0.4])
    trials = rng.integers(5, 51, size=n_samples)
    eta = COEF[component, 0] + (covariates * COEF[component, 1:]).sum(axis=1)
    successes = rng.binomial(trials, expit(eta))
    return np.column_stack([successes, trials - successes]), covariates


def fit_estimator(counts, covariates, seed=0):
    """Seconds, total log-likelihood and full-data iterations of ``fit``."""
    start = time.perf_counter()
    model = BinomialRegressionMixture(3, random_state=seed).fit(covariates, counts)
    seconds = time.perf_counter() - start
    return seconds, model.lower_bound_ * len(counts), model.n_iter_


def fit_engine(counts, covariates, curvature, algorithm, refine, seed=0):
    """Seconds, total log-likelihood and iterations of one start on the raw rows."""
    start = time.perf_counter()
    family = BinomialRegressionFamily(np.zeros(4, dtype=bool), curvature=curvature)
    design = np.column_stack([np.ones(len(counts)), covariates])
    counts = counts.astype(float)
    table = RowTable.from_rows(family, counts, np.ones(len(counts)), design)
    subsample = evenly_spaced_rows(table, family) if refine else None
    weights, params = initial_parameters(
        table if subsample is None else subsample,
        family,
        3,
        1,
        "k-means++",
        check_random_state(seed),
    )
    options = {
        "pseudo_count": 0.0,
        "update_weights": True,
        "tol": 1e-8,
        "algorithm": algorithm,
    }
    certified = {}
    if refine:
        weights, params, lower_bound, n_iter, converged = refine_on_subsample(
            table, subsample, family, weights, params, **options
        )
        certified = {
            "lower_bound": np.where(converged, lower_bound, -np.inf),
            "n_iter": np.where(converged, n_iter, 0),
            "converged": converged,
        }
    result = run_em(
        table, family, weights, params, max_iter=5000, **options, **certified
    )
    seconds = time.perf_counter() - start
    return (
        seconds,
        float(result.lower_bound[0] * table.total_weight),
        int(result.n_iter[0]),
    )


def fit_flexmix(counts, covariates):
    """Seconds, log-likelihood and iterations of flexmix, or None without R."""
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "data.csv"
        header = "s,f,x1,x2,x3"
        np.savetxt(
            path,
            np.column_stack([counts, covariates]),
            delimiter=",",
            header=header,
            comments="",
            fmt=["%d", "%d", "%.17g", "%.17g", "%.17g"],
        )
        run = subprocess.run(
            ["Rscript", str(R_SCRIPT), str(path), "3", "1e-8", "0"],
            capture_output=True,
            text=True,
        )
    if run.returncode != 0:
        print("flexmix failed:", run.stderr.strip().splitlines()[-1:])
        return None
    fields = dict(item.split("=") for item in run.stdout.split()[1:])
    return float(fields["seconds"]), float(fields["loglik"]), int(fields["iter"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--repeat", type=int, default=3, help="best of this many runs of ours"
    )
    args = parser.parse_args(argv)
    counts, covariates = make_data(args.rows, np.random.default_rng(args.seed))
    print(f"{args.rows} rows, 3 covariates, K = 3, one start")
    reference = fit_flexmix(counts, covariates)
    if reference is None:
        print("flexmix: not run (Rscript or flexmix missing)")
    else:
        seconds, loglik, n_iter = reference
        print(
            f"{'flexmix':28s} {seconds:7.3f} s  loglik {loglik:.4f}  iter {n_iter:3d}"
        )
    runs = [("estimator (defaults)", lambda: fit_estimator(counts, covariates))]
    runs.append(
        (
            "engine, rows as given",
            lambda: fit_engine(counts, covariates, "certified-newton", "squarem", True),
        )
    )
    for curvature in CURVATURES:
        for algorithm in ("squarem", "em"):
            runs.append(
                (
                    f"{curvature} {algorithm}",
                    partial(
                        fit_engine, counts, covariates, curvature, algorithm, False
                    ),
                )
            )
    for name, run in runs:
        # The best of a few runs: the machine may be shared.
        seconds, loglik, n_iter = min(run() for _ in range(args.repeat))
        line = f"{name:28s} {seconds:7.3f} s  loglik {loglik:.4f}  iter {n_iter:3d}"
        if reference is not None:
            line += f"  flexmix/ours {reference[0] / seconds:6.1f}x"
            line += f"  loglik - flexmix's {loglik - reference[1]:+.4f}"
        print(line)
    print("target: >= 100x faster than flexmix at an equal-or-better log-likelihood")


if __name__ == "__main__":
    main()
