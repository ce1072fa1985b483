"""The row table: every row-aligned array of a fit, as weighted distinct rows."""

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from sklearn_coinem._count_table import _compress_counts, _group_sums, _merge_tables
from sklearn_coinem._numerics import TEMPORARY_ROWS

# Rows per block: E-step temporaries are at most block x n_runs x n_components.
BLOCK_ROWS = 1 << 14

# Rows per block of a table with covariates. Their families' E-steps hold
# a dozen such temporaries at once; at 2^14 rows (K = 3) allocating them
# afresh costs as much as the arithmetic (page faults on memory the
# allocator has returned to the system), and a block of 2^13 rows halves
# the time of an E-step on 10^5 rows (docs/performance.rst).
DESIGN_BLOCK_ROWS = 1 << 13


@dataclass(frozen=True)
class RowBlock:
    """A slice of a row table: what a component family sees.

    Attributes
    ----------
    X : ndarray of shape (n, C)
        Counts.
    weights : ndarray of shape (n,)
        Row weights.
    design : ndarray of shape (n, p) or None
        Covariates.
    labels : ndarray of shape (n,) or None
        Known class of each row, -1 where unknown.
    """

    X: np.ndarray
    weights: np.ndarray
    design: np.ndarray | None = None
    labels: np.ndarray | None = None

    def blocks(self, block_rows=None):
        """Consecutive slices of at most ``block_rows`` rows.

        By default ``BLOCK_ROWS``, or ``DESIGN_BLOCK_ROWS`` with a design.
        """
        if block_rows is None:
            block_rows = BLOCK_ROWS if self.design is None else DESIGN_BLOCK_ROWS
        n_rows = self.X.shape[0]
        if n_rows <= block_rows:
            yield self
            return
        for start in range(0, n_rows, block_rows):
            rows = slice(start, start + block_rows)
            yield RowBlock(
                self.X[rows],
                self.weights[rows],
                None if self.design is None else self.design[rows],
                None if self.labels is None else self.labels[rows],
            )


@dataclass(frozen=True)
class RowTable(RowBlock):
    """Weighted distinct rows plus the constants EM needs from them.

    Attributes
    ----------
    constant_sum : float
        Weighted sum of the family's per-row constants (for counts, the log
        multinomial coefficients): the full log-likelihood is the engine's
        sum plus this.
    total_weight : float
        Sum of ``weights``.
    """

    constant_sum: float = 0.0
    total_weight: float = 0.0

    @classmethod
    def from_rows(cls, family, X, weights, design=None, labels=None):
        """Build the table of already distinct rows and its constants once."""
        block = RowBlock(X, weights, design, labels)
        constant_sum = float(weights @ family.row_constants(block))
        return cls(X, weights, design, labels, constant_sum, float(weights.sum()))

    @classmethod
    def compress(cls, family, X, sample_weight=None, design=None, labels=None):
        """Table of the distinct rows of (X, design, labels) with total weights.

        Compression keys on every row array, so rows merge only when their
        counts, covariates and labels are all equal. Sparse counts stay
        sparse and are compressed on their non-zero entries, into the same
        rows in the same order as their dense equivalent.
        """
        if sparse.issparse(X):
            if design is not None:
                return cls._uncompressed(family, X, sample_weight, design, labels)
            if labels is None:
                return cls.from_rows(family, *compress_sparse(X, sample_weight))
            # The shifted label (>= 0) keys the rows as a last column.
            keyed = sparse.hstack([X, (labels + 1.0)[:, None]], format="csr")
            rows, weights = compress_sparse(keyed, sample_weight)
            n_features = X.shape[1]
            labels = rows[:, n_features].toarray().ravel().astype(np.intp) - 1
            return cls.from_rows(family, rows[:, :n_features], weights, None, labels)
        if design is not None:
            table = cls._distinct_by_design(family, X, sample_weight, design, labels)
            if table is not None:
                return table
        rows, weights = _compress_counts(_stack(X, design, labels), sample_weight)
        X, design, labels = _split(rows, X.shape[1], design, labels)
        return cls.from_rows(family, X, weights, design, labels)

    @classmethod
    def _distinct_by_design(cls, family, X, sample_weight, design, labels):
        """The table of rows that a covariate makes distinct, or None.

        With a continuous covariate every row is distinct and compression
        merges nothing. The rows are then put in the lexicographic order of
        the compressed table (so that it does not depend on the input's)
        without a sort over every column: the columns after the distinct
        one never decide, and those before it (the counts, an intercept)
        take few values, so they sort as one small integer key
        (:func:`_lexicographic_order`).
        """
        weights = np.ones(len(X)) if sample_weight is None else sample_weight
        weights = np.asarray(weights, dtype=np.float64)
        keep = np.flatnonzero(weights > 0)
        if len(keep) == len(X):
            keep = slice(None)
        for index, column in enumerate(design.T):
            # Contiguous: argsort is faster on it. A constant column (the
            # intercept) is never distinct and need not be sorted.
            column = np.ascontiguousarray(column[keep])
            if len(column) == 0:
                return None
            if len(column) > 1 and column.min() == column.max():
                continue
            by_column = np.argsort(column)
            if _strictly_increasing(column, by_column):
                break
        else:
            return None
        X, design = np.asarray(X, dtype=np.float64)[keep], design[keep]
        prefix = [X[:, c] for c in range(X.shape[1])]
        prefix += [design[:, c] for c in range(index)]
        order = _lexicographic_order(prefix, by_column)
        # np.take: several times faster than fancy indexing of the rows.
        X, design = np.take(X, order, axis=0), np.take(design, order, axis=0)
        weights = np.take(weights[keep], order)
        labels = None if labels is None else np.take(labels[keep], order)
        return cls.from_rows(family, X, weights, design, labels)

    @classmethod
    def _uncompressed(cls, family, X, sample_weight, design, labels):
        weights = np.ones(X.shape[0]) if sample_weight is None else sample_weight
        keep = np.flatnonzero(weights > 0)
        if len(keep) < X.shape[0]:
            X, weights = X[keep], weights[keep]
            design = None if design is None else design[keep]
            labels = None if labels is None else labels[keep]
        return cls.from_rows(family, X, np.asarray(weights, float), design, labels)

    def map_reduce(self, func, *args):
        """``func(self, *args)``: a table kept on dask workers sums it over chunks."""
        return func(self, *args)

    @property
    def n_distinct(self):
        """Number of distinct rows."""
        return self.X.shape[0]


# Largest number of distinct keys of the columns before a distinct one that
# sort as one integer key; beyond, they sort column by column.
_MAX_PREFIX_KEYS = 1 << 62


def _ordinal_coder(column):
    """The integer codes of the column's values, in their order, and their number.

    Returns ``(codes_of, n_codes)``: ``codes_of(rows)`` gives the codes of
    ``column[rows]``. Integral values with a small range are their own codes
    (shifted to 0), computed block by block; others are ranked by
    ``np.unique``. Equal values (0.0 and -0.0 too) get equal codes; a
    constant column has one code (and ``codes_of`` None).
    """
    low, high = column.min(), column.max()
    if low == high:
        # A constant column (an intercept) orders nothing: no codes.
        return None, 1
    if high - low < len(column) and _whole(column):
        return lambda rows: (column[rows] - low).astype(np.int64), int(high - low) + 1
    values, codes = np.unique(column, return_inverse=True)
    return codes.ravel().__getitem__, len(values)


def _row_blocks(n_rows):
    """Slices of ``TEMPORARY_ROWS`` rows: whole-column temporaries would be
    fresh pages from the system (see ``_numerics.TEMPORARY_ROWS``)."""
    starts = range(0, n_rows, TEMPORARY_ROWS)
    return [slice(start, start + TEMPORARY_ROWS) for start in starts]


def _whole(column):
    """Whether every value of ``column`` is a whole number."""
    return all(
        np.array_equal(column[rows], np.round(column[rows]))
        for rows in _row_blocks(len(column))
    )


def _strictly_increasing(column, order):
    """Whether ``column[order]`` is strictly increasing (its values distinct)."""
    n_rows = len(order)
    return all(
        np.all(column[order[rows][1:]] > column[order[rows][:-1]])
        for rows in _row_blocks(n_rows)
    ) and all(
        column[order[start - 1]] < column[order[start]]
        for start in range(TEMPORARY_ROWS, n_rows, TEMPORARY_ROWS)
    )


def _lexicographic_order(prefix, by_column):
    """Order of rows by the columns ``prefix``, ties broken by ``by_column``.

    ``by_column`` orders the rows by a column of distinct values that
    follows ``prefix``: the result is the lexicographic order of the rows.
    The prefix columns are combined into one mixed-radix integer key; a
    stable sort of it (a radix sort when it fits 16 bits) keeps the
    tie-break.
    """
    coders, n_keys = [], 1
    for column in prefix:
        codes_of, n_codes = _ordinal_coder(column)
        if n_codes == 1:
            continue
        if n_keys * n_codes > _MAX_PREFIX_KEYS:
            # Too many combinations for one key: a sort over every column,
            # the distinct one as its rank.
            rank = np.empty(len(by_column), dtype=np.intp)
            rank[by_column] = np.arange(len(by_column))
            return np.lexsort([rank, *reversed(prefix)])
        coders.append((codes_of, n_codes))
        n_keys *= n_codes
    if n_keys == 1:
        return by_column
    small = n_keys <= np.iinfo(np.int16).max
    key = np.empty(len(by_column), dtype=np.int16 if small else np.int64)
    for rows in _row_blocks(len(by_column)):
        block = 0
        for codes_of, n_codes in coders:
            block = block * n_codes + codes_of(rows)
        key[rows] = block
    return by_column[np.argsort(key[by_column], kind="stable")]


def _stack(X, design, labels):
    """One float array of all row arrays, the key of the compression."""
    parts = [X]
    if design is not None:
        parts.append(design)
    if labels is not None:
        # Shifted so that the unknown label -1 keys like any count (>= 0).
        parts.append(labels[:, None] + 1.0)
    return parts[0] if len(parts) == 1 else np.hstack(parts).astype(np.float64)


def _split(rows, n_features, design, labels):
    """Inverse of ``_stack`` on the distinct rows."""
    X = rows[:, :n_features]
    end = n_features
    if design is not None:
        design, end = rows[:, end : end + design.shape[1]], end + design.shape[1]
    if labels is not None:
        labels = rows[:, end].astype(np.intp) - 1
    return X, design, labels


def merge_tables(family, tables):
    """One table of several, summing the weights of rows they share."""
    first = tables[0]
    if any(sparse.issparse(t.X) for t in tables):
        return _stacked(family, tables)
    n_features = first.X.shape[1]
    rows, weights = _merge_tables(
        [(_stack(t.X, t.design, t.labels), t.weights) for t in tables]
    )
    X, design, labels = _split(rows, n_features, first.design, first.labels)
    return RowTable.from_rows(family, X, weights, design, labels)


def _stacked(family, tables):
    """The union of sparse tables: compressed again, or stacked with covariates."""

    def joined(name):
        parts = [getattr(t, name) for t in tables]
        return None if parts[0] is None else np.concatenate(parts)

    X = sparse.vstack([sparse.csr_matrix(t.X) for t in tables], format="csr")
    weights = np.concatenate([t.weights for t in tables])
    if tables[0].design is None and tables[0].labels is None:
        return RowTable.from_rows(family, *compress_sparse(X, weights))
    return RowTable.from_rows(family, X, weights, joined("design"), joined("labels"))


def _sparse_sort_keys(X):
    """Keys whose lexicographic order is the dense rows' lexicographic order.

    With sorted column indices, row ``a`` precedes row ``b`` in dense order
    exactly when its sequence of ``(-column, value)`` pairs precedes ``b``'s,
    a sequence that stops early (zeros after) preceding its extensions. Rows
    are padded to the longest with a pair smaller than any real one.
    """
    n_rows, n_features = X.shape
    lengths = np.diff(X.indptr)
    width = int(lengths.max(initial=0))
    rows = np.repeat(np.arange(n_rows), lengths)
    slots = np.arange(X.nnz) - np.repeat(X.indptr[:-1], lengths)
    columns = np.full((n_rows, width), -float(n_features))
    values = np.full((n_rows, width), -1.0)
    columns[rows, slots] = -X.indices.astype(float)
    values[rows, slots] = X.data
    keys = np.empty((n_rows, 2 * width))
    keys[:, 0::2], keys[:, 1::2] = columns, values
    return keys


def compress_sparse(X, sample_weight=None):
    """Distinct rows of sparse counts and their total weights (sparse CSR).

    The rows and their order are those of the dense path
    (``_compress_counts``): sorted lexicographically as dense rows. The
    weights of equal rows are summed exactly as there (``_group_sums``), so
    the table does not depend on the order of the rows and equals the dense
    one bit for bit.
    """
    X = sparse.csr_matrix(X, dtype=np.float64, copy=True)
    X.eliminate_zeros()
    X.sort_indices()
    weights = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    if X.shape[0] == 0:
        return X, weights[:0]
    keys = _sparse_sort_keys(X)
    order = np.lexsort([weights, *keys.T[::-1]])
    keys = keys[order]
    is_new = np.concatenate([[True], (keys[1:] != keys[:-1]).any(axis=1)])
    starts = np.flatnonzero(is_new)
    totals = _group_sums(np.cumsum(is_new) - 1, weights[order], len(starts))
    keep = totals > 0
    return X[order[starts[keep]]], totals[keep]
