"""The single validation path: arrays, dask collections, weights, starts."""

import warnings

import numpy as np
from scipy import sparse
from sklearn.utils.validation import (
    _check_sample_weight,
    check_non_negative,
    validate_data,
)

from sklearn_coinem._counts import check_trials_columns
from sklearn_coinem._dask import _is_dask_collection
from sklearn_coinem._numerics import row_sums
from sklearn_coinem._table import RowTable


def check_counts(estimator, X, *, reset, whom, accept_sparse=False):
    """Validate a count matrix; sklearn's wording for the check suite.

    Sparse input (when the family accepts it) comes back as float64 CSR.
    """
    X = validate_data(
        estimator,
        X,
        reset=reset,
        dtype="numeric",
        accept_sparse=["csr", "csc", "coo"] if accept_sparse else False,
        ensure_min_features=2 if reset else 1,
    )
    check_non_negative(X, whom)
    if sparse.issparse(X):
        X = sparse.csr_matrix(X, dtype=np.float64)
        X.sum_duplicates()
    return X


def warn_if_trials(X, feature_names, stacklevel):
    """Warn when the second column looks like trials (row totals), not failures.

    ``X`` may be None (a dask collection: only the names are checked).
    """
    message = check_trials_columns(
        np.zeros((0, len(feature_names))) if X is None else X, feature_names
    )
    if message is not None:
        warnings.warn(message, UserWarning, stacklevel=stacklevel + 1)


def check_n_samples(n_samples, n_components):
    """Raise if there are fewer rows than components."""
    if n_samples < n_components:
        raise ValueError(
            "Expected n_samples >= n_components but got "
            f"n_components = {n_components}, n_samples = {n_samples}"
        )


def check_positive_weight(total_weight):
    """Raise unless the sample weights have a positive sum."""
    if not total_weight > 0:
        raise ValueError("sample_weight must have a positive sum.")


def check_row_totals(X):
    """Raise if a row's total count overflows float64: its likelihood is undefined."""
    if not np.isfinite(row_sums(X)).all():
        raise ValueError(
            "Input X has a row whose total count overflows float64; the counts "
            "are too large."
        )


def check_weighted_totals(table):
    """Raise unless the weighted sums that EM accumulates are representable.

    An overflowing total makes the statistics NaN; a total weight below the
    smallest normal float64 makes the per-sample objective (the prior term
    divided by the total weight) overflow.
    """
    weighted_total = table.weights @ row_sums(table.X)
    if not (np.isfinite(weighted_total) and np.isfinite(table.constant_sum)):
        raise ValueError(
            "The weighted total count of X (sample_weight times the row totals) "
            "overflows float64; rescale sample_weight."
        )
    tiny = np.finfo(np.float64).tiny
    if table.total_weight < tiny:
        raise ValueError(
            f"The total sample_weight is below {tiny:.3g}, the smallest normal "
            "float64; rescale sample_weight."
        )


def check_distribution(values, shape, name):
    """Check that ``values`` has ``shape`` and its last axis is a distribution."""
    values = np.array(values, dtype=float)
    if values.shape != shape:
        raise ValueError(
            f"The parameter '{name}' should have the shape {shape}, "
            f"but got {values.shape}."
        )
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"The parameter '{name}' must be finite and non-negative.")
    sums = values.sum(axis=-1)
    if not np.allclose(sums, 1.0, rtol=0, atol=1e-6):
        raise ValueError(
            f"The parameter '{name}' should be normalized along its last axis, "
            f"but got sums {np.round(sums, 6)}."
        )
    return values / values.sum(axis=-1, keepdims=True)


def count_table(estimator, family, X, sample_weight, *, reset, whom, distributed):
    """Validate X and sample_weight; return the row table of the rows.

    Dask collections are validated and compressed chunk by chunk on the
    workers with the same checks and messages.
    """
    if _is_dask_collection(X):
        return _dask_count_table(
            estimator, family, X, sample_weight, reset, whom, distributed
        )
    X = check_counts(
        estimator, X, reset=reset, whom=whom, accept_sparse=family.supports_sparse
    )
    if reset:
        check_n_samples(X.shape[0], estimator.n_components)
        # User code -> sklearn's fit wrapper -> fit -> _table -> here.
        warn_if_trials(X, getattr(estimator, "feature_names_in_", None), 5)
    if sample_weight is not None:
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        check_positive_weight(sample_weight.sum())
    table = RowTable.compress(family, X, sample_weight)
    check_row_totals(table.X)
    check_weighted_totals(table)
    return table


def _dask_count_table(estimator, family, X, sample_weight, reset, whom, distributed):
    """Validate and compress a dask collection on the workers.

    With ``distributed=False`` the table is always merged on the client;
    otherwise tables above ``MAX_LOCAL_ROWS`` distinct rows stay on the
    workers and each EM iteration reduces the E-step statistics there.
    """
    from sklearn_coinem._dask import MAX_LOCAL_ROWS, check_2d, dask_count_table

    check_2d(X)
    validate_data(estimator, X, reset=reset, skip_check_array=True)
    names = getattr(estimator, "feature_names_in_", None)
    if reset and names is not None:
        warn_if_trials(None, names, 6)
    if reset and estimator.n_features_in_ < 2:
        raise ValueError(
            f"Found array with {estimator.n_features_in_} feature(s) "
            f"(shape={X.shape}) while a minimum of 2 is required by "
            f"{type(estimator).__name__}."
        )
    table, n_samples = dask_count_table(
        X,
        sample_weight,
        family=family,
        whom=whom,
        max_local_rows=MAX_LOCAL_ROWS if distributed else np.inf,
    )
    if reset:
        check_n_samples(n_samples, estimator.n_components)
    if sample_weight is not None and not table.total_weight > 0:
        # The message of sklearn's check of the in-memory weights.
        raise ValueError("Sample weights must contain at least one non-zero number.")
    if isinstance(table, RowTable):
        # The in-memory checks, on the merged table; a table left on the
        # workers is checked there only for sign and finiteness.
        check_row_totals(table.X)
        check_weighted_totals(table)
    return table


def check_rows(estimator, family, X, whom):
    """Validate rows to predict on: float64 counts with finite row totals."""
    X = check_counts(
        estimator, X, reset=False, whom=whom, accept_sparse=family.supports_sparse
    )
    if not sparse.issparse(X):
        X = np.asarray(X, dtype=np.float64)
    check_row_totals(X)
    return X
