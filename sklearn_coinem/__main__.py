"""Command line: ``python -m sklearn_coinem`` runs the two-coins demo."""

import sys
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklearn_coinem import BinomialMixture
from sklearn_coinem.datasets import load_coins


def _demo(n_steps=10):
    """Print the textbook EM trajectory and the converged two-coins fit."""
    X = load_coins().data
    print("Two coins (Do & Batzoglou 2008): heads/tails of five experiments")
    print("  " + "  ".join(f"{h}/{t}" for h, t in X))
    print("\nEM from theta_A=0.6, theta_B=0.5, weights held at 1/2:")
    print(f"{'iter':>4}  {'theta_A':>8}  {'theta_B':>8}  {'log-lik':>10}")
    for n_iter in range(1, n_steps + 1):
        model = BinomialMixture(
            2,
            probs_init=[[0.6, 0.4], [0.5, 0.5]],
            weights_init=[0.5, 0.5],
            update_weights=False,
            algorithm="em",
            max_iter=n_iter,
            tol=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X)
        theta = model.probs_[:, 0]
        loglik = model.score(X) * len(X)
        print(f"{n_iter:>4}  {theta[0]:>8.4f}  {theta[1]:>8.4f}  {loglik:>10.4f}")
    model = BinomialMixture(2, n_init=10, random_state=0).fit(X)
    print("\nConverged fit with free mixing weights (n_init=10):")
    print(f"  theta   = {np.round(model.probs_[:, 0], 4)}")
    print(f"  weights = {np.round(model.weights_, 4)}")
    print(f"  log-likelihood = {model.score(X) * len(X):.4f}")
    print(f"  converged = {model.converged_}, iterations = {model.n_iter_}")
    print(f"  P(coin A | row) = {np.round(model.predict_proba(X)[:, 0], 3)}")
    return 0


def main(argv=None):
    """Entry point of ``python -m sklearn_coinem`` and ``sklearn-coinem``."""
    argv = sys.argv[1:] if argv is None else argv
    if argv:
        print("usage: python -m sklearn_coinem", file=sys.stderr)
        return 2
    return _demo()


if __name__ == "__main__":
    sys.exit(main())
