"""Small numerical helpers shared by the families and the engine."""

import numpy as np
from scipy import sparse
from scipy.special import gammaln

# Rows per block of the elementwise work on a whole table: temporaries of
# this size come back from the heap, where whole-table ones are fresh pages
# from the system (a page fault per 4 KiB, about 2.5 us each on the
# benchmark machine: 8 ms of a 70 ms regression fit, docs/performance.rst).
TEMPORARY_ROWS = 1 << 13

# Rows shorter than this are summed column by column by ``row_sums``; numpy
# sums them in the same order (its pairwise summation starts at 8 terms).
SHORT_ROWS = 8


def row_sums(X):
    """Sum of each row of a dense or sparse matrix, as a 1-D array."""
    if sparse.issparse(X):
        return np.asarray(X.sum(axis=1)).ravel()
    if X.dtype.kind == "f" and X.ndim == 2 and 1 <= X.shape[1] < SHORT_ROWS:
        # Column by column, as numpy sums a row this short (in order): a
        # reduction along a short last axis is ten times slower.
        total = X[:, 0].copy()
        for column in range(1, X.shape[1]):
            total += X[:, column]
        return total
    return X.sum(axis=1)


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
    """Return log(n! / prod_c x_c!) of each row, with n the row sum.

    On a sparse matrix only the non-zero counts are evaluated (0! = 1).
    """
    if sparse.issparse(X):
        totals = row_sums(X)
        X = sparse.csr_matrix(X, copy=True)
        X.data = log_factorial(X.data)
        return log_factorial(totals) - row_sums(X)
    totals = row_sums(X)
    top = totals.max(initial=0)
    starts = range(0, X.shape[0], TEMPORARY_ROWS)
    blocks = [slice(start, start + TEMPORARY_ROWS) for start in starts]
    if top < max(totals.size, 1024) and all(
        np.array_equal(X[rows], np.floor(X[rows])) for rows in blocks
    ):
        # One table of log factorials for the counts and their totals (the
        # values log_factorial gives each), looked up block by block.
        table = gammaln(np.arange(int(top) + 1) + 1.0)
        out = np.empty(totals.shape)
        for rows in blocks:
            counts = np.take(table, X[rows].astype(np.intp))
            out[rows] = np.take(table, totals[rows].astype(np.intp))
            out[rows] -= row_sums(counts)
        return out
    return log_factorial(totals) - row_sums(log_factorial(X))


def safe_log(a):
    """Natural log that maps 0 to -inf without a warning."""
    with np.errstate(divide="ignore"):
        return np.log(a)
