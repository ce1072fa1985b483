"""Exact compression of a count matrix into a weighted table of distinct rows."""

import numpy as np

# Rows are processed in blocks of this many so temporaries stay small.
_BLOCK_ROWS = 1 << 16


def _is_integral(X):
    """Return True when every entry of X is a whole number (checked blockwise)."""
    if np.issubdtype(X.dtype, np.integer):
        return True
    for start in range(0, X.shape[0], _BLOCK_ROWS):
        block = X[start : start + _BLOCK_ROWS]
        if not np.array_equal(block, np.floor(block)):
            return False
    return True


def _dense_key_table(X, sample_weight, column_max):
    """Compress integer counts with a mixed-radix key and ``np.bincount``.

    One linear pass: row ``x`` gets key ``sum_c x_c * stride_c``; the table is
    the non-empty bins, decoded back into counts.
    """
    radix = column_max.astype(np.int64) + 1
    strides = np.ones_like(radix)
    strides[:-1] = np.cumprod(radix[::-1])[::-1][1:]
    n_bins = int(np.prod(radix))
    totals = np.zeros(n_bins)
    for start in range(0, X.shape[0], _BLOCK_ROWS):
        block = X[start : start + _BLOCK_ROWS]
        keys = block.astype(np.int64, copy=False) @ strides
        block_weight = (
            None if sample_weight is None else sample_weight[start : start + len(keys)]
        )
        totals += np.bincount(keys, weights=block_weight, minlength=n_bins)
    keys = np.flatnonzero(totals)
    rows = (keys[:, None] // strides[None, :]) % radix[None, :]
    return rows.astype(np.float64), totals[keys]


def _sorted_unique_table(X, sample_weight):
    """Compress any numeric counts with a sort-based unique over rows."""
    rows, inverse = np.unique(X, axis=0, return_inverse=True)
    weights = np.bincount(inverse.ravel(), weights=sample_weight, minlength=len(rows))
    keep = weights > 0
    return rows[keep].astype(np.float64), weights[keep]


def _compress_counts(X, sample_weight=None, max_bins=None):
    """Return the distinct rows of ``X`` and their total weight.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Validated, non-negative counts (any real or integer dtype).
    sample_weight : ndarray of shape (n_samples,), default=None
        Non-negative weights; ``None`` means every row has weight 1.
    max_bins : int, default=None
        Largest key space the linear ``bincount`` path may allocate; defaults
        to ``max(4 * n_samples, 2**20)``. Larger key spaces use a sort.

    Returns
    -------
    table : ndarray of shape (n_distinct, n_features)
        Distinct rows with positive total weight, in lexicographic order.
    weights : ndarray of shape (n_distinct,)
        Total weight (multiplicity times sample weight) of each distinct row.
    """
    n_samples = X.shape[0]
    if max_bins is None:
        max_bins = max(4 * n_samples, 1 << 20)
    if _is_integral(X):
        column_max = X.max(axis=0).astype(np.float64)
        if np.prod(column_max + 1) <= max_bins:
            return _dense_key_table(X, sample_weight, column_max)
    return _sorted_unique_table(X, sample_weight)


def _merge_tables(tables):
    """Merge weighted tables of distinct rows into one, summing the weights.

    Parameters
    ----------
    tables : sequence of (ndarray of shape (n_i, n_features), ndarray of shape (n_i,))
        Tables as returned by ``_compress_counts``; rows may repeat across
        tables.

    Returns
    -------
    table : ndarray of shape (n_distinct, n_features)
        Distinct rows in lexicographic order, as ``_compress_counts`` sorts
        them, so merging the tables of the chunks of ``X`` gives the table
        of ``X``.
    weights : ndarray of shape (n_distinct,)
        Total weight of each distinct row.
    """
    rows = np.concatenate([np.asarray(r, dtype=np.float64) for r, _ in tables])
    weights = np.concatenate([np.asarray(w, dtype=np.float64) for _, w in tables])
    if len(rows) == 0:
        return rows, weights
    order = np.lexsort(rows.T[::-1])
    rows, weights = rows[order], weights[order]
    starts_row = np.ones(len(rows), dtype=bool)
    starts_row[1:] = (rows[1:] != rows[:-1]).any(axis=1)
    starts = np.flatnonzero(starts_row)
    return rows[starts], np.add.reduceat(weights, starts)
