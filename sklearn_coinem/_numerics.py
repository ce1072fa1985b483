"""Small numerical helpers shared by the families and the engine."""

import numpy as np
from scipy.special import gammaln


def log_factorial(a):
    """Return log(a!) elementwise, as ``gammaln(a + 1)``.

    Small whole counts, the common case, index a table of ``gammaln`` values
    (no larger than ``a``) instead of evaluating it per entry: the same
    numbers several times faster.
    """
    top = a.max(initial=0)
    if top < max(a.size, 1024) and np.array_equal(a, np.floor(a)):
        return gammaln(np.arange(int(top) + 1) + 1.0)[a.astype(np.intp)]
    return gammaln(a + 1)


def log_coefficients(X):
    """Return log(n! / prod_c x_c!) of each row, with n the row sum."""
    return log_factorial(X.sum(axis=1)) - log_factorial(X).sum(axis=1)


def safe_log(a):
    """Natural log that maps 0 to -inf without a warning."""
    with np.errstate(divide="ignore"):
        return np.log(a)
