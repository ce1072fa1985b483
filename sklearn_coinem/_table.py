"""The row table: every row-aligned array of a fit, as weighted distinct rows."""

from dataclasses import dataclass

import numpy as np

from sklearn_coinem._count_table import _compress_counts, _merge_tables

# Rows per block: E-step temporaries are at most block x n_runs x n_components.
BLOCK_ROWS = 1 << 14


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

    def blocks(self, block_rows=BLOCK_ROWS):
        """Consecutive slices of at most ``block_rows`` rows."""
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
        counts, covariates and labels are all equal.
        """
        rows, weights = _compress_counts(_stack(X, design, labels), sample_weight)
        X, design, labels = _split(rows, X.shape[1], design, labels)
        return cls.from_rows(family, X, weights, design, labels)

    def map_reduce(self, func, *args):
        """``func(self, *args)``: a table kept on dask workers sums it over chunks."""
        return func(self, *args)

    @property
    def n_distinct(self):
        """Number of distinct rows."""
        return self.X.shape[0]


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
    n_features = first.X.shape[1]
    rows, weights = _merge_tables(
        [(_stack(t.X, t.design, t.labels), t.weights) for t in tables]
    )
    X, design, labels = _split(rows, n_features, first.design, first.labels)
    return RowTable.from_rows(family, X, weights, design, labels)
