"""The single validation path: arrays, dask collections, weights, starts."""

import warnings

import numpy as np
from scipy import sparse
from scipy.special import gammaln
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


# Largest row total whose log-factorial (part of every row's log-likelihood)
# is a finite float64: gammaln(n + 1) overflows just above it.
_MAX_ROW_TOTAL = 2.556e305

# Rounding error, in nats, of a row's log-likelihood beyond which a
# log-likelihood no longer carries what it is used for: it would mis-rank
# models whose likelihoods differ by a factor e. The error is about
# ``eps * log(n!)`` (the log coefficient and the probability terms cancel
# to a value of order log n): one nat at about 1.4e14 trials.
MAX_LOGLIK_ERROR = 1.0


def check_row_totals(X):
    """Raise unless every row's total and its log-factorial are finite float64.

    Returns the largest row total (for :func:`warn_lost_digits`).
    """
    with np.errstate(over="ignore"):
        totals = np.asarray(X.sum(axis=1, dtype=np.float64)).ravel()
    max_total = float(totals.max(initial=0.0))
    check_max_total(max_total)
    return max_total


def check_max_total(max_total):
    """The checks of :func:`check_row_totals` on the largest row total."""
    if not np.isfinite(max_total):
        raise ValueError(
            "Input X has a row whose total count overflows float64; the counts "
            "are too large."
        )
    if not np.isfinite(gammaln(max_total + 1.0)):
        raise ValueError(
            f"Input X has a row with a total count of {max_total:.3g}: the "
            "log-factorial of a row total (part of the log-likelihood) "
            f"overflows float64 above about {_MAX_ROW_TOTAL:.3g}; the counts are "
            "too large."
        )


def warn_lost_digits(max_total, stacklevel):
    """Warn when the rows' log-likelihood has an error above ``MAX_LOGLIK_ERROR``.

    ``stacklevel`` counts from this function to the user's call.
    """
    error = np.finfo(np.float64).eps * float(gammaln(max_total + 1.0))
    if error > MAX_LOGLIK_ERROR:
        warnings.warn(
            f"Input X has rows with up to {max_total:.3g} trials: in float64 "
            "their log-likelihood loses digits to cancellation between the log "
            f"multinomial coefficient and the probability terms, an error of "
            f"about {error:.2g} nats per row, more than {MAX_LOGLIK_ERROR:g}. "
            "Log-likelihoods (score, score_samples, lower_bound_, aic, bic, icl) "
            "are unreliable; the fitted parameters and the predictions are not "
            "affected.",
            UserWarning,
            stacklevel=stacklevel,
        )


def check_weighted_totals(table, *, weighted=True):
    """Raise unless the weighted sums that EM accumulates are representable.

    ``weighted`` says whether the user passed sample weights, so that an
    overflow of unweighted counts is not blamed on them (callers that do not
    say get the message about sample_weight).
    """
    with np.errstate(over="ignore"):
        weighted_total = float(table.weights @ row_sums(table.X))
    check_weighted_sums(
        weighted_total, table.constant_sum, table.total_weight, weighted=weighted
    )


def check_weighted_sums(weighted_total, constant_sum, total_weight, *, weighted=True):
    """The checks of :func:`check_weighted_totals` on the table's sums.

    An overflowing total makes the statistics NaN; a total weight below the
    smallest normal float64 makes the per-sample objective (the prior term
    divided by the total weight) overflow.
    """
    if not (np.isfinite(weighted_total) and np.isfinite(constant_sum)):
        if not weighted:
            raise ValueError(
                "The total count of X (the sum of all counts, or of their log "
                "multinomial coefficients) overflows float64; the counts are "
                "too large."
            )
        raise ValueError(
            "The weighted total count of X (sample_weight times the row totals) "
            "overflows float64; rescale sample_weight."
        )
    if not np.isfinite(total_weight):
        raise ValueError("The total sample_weight overflows float64; rescale it.")
    tiny = np.finfo(np.float64).tiny
    if total_weight < tiny:
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
    """Validate X and sample_weight; return the row table and the row count.

    Dask collections are validated and compressed chunk by chunk on the
    workers with the same checks and messages. The row count is the number
    of rows with positive weight: the weights divided by it are the scale
    of one observation, whatever the scale of ``sample_weight``.
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
    n_rows = X.shape[0]
    if sample_weight is not None:
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        n_rows = np.count_nonzero(sample_weight)
    # Before compressing: the table's constants would overflow with warnings.
    max_total = check_row_totals(X)
    # Weighted sums that overflow are refused just below, with a message.
    with np.errstate(over="ignore"):
        if sample_weight is not None:
            check_positive_weight(sample_weight.sum())
        table = RowTable.compress(family, X, sample_weight)
    check_weighted_totals(table, weighted=sample_weight is not None)
    # User code -> fit (or aic, ...) and its wrapper -> _table -> here.
    warn_lost_digits(max_total, stacklevel=6)
    return table, int(n_rows)


def _dask_count_table(estimator, family, X, sample_weight, reset, whom, distributed):
    """Validate and compress a dask collection on the workers.

    With ``distributed=False`` the table is always merged on the client;
    otherwise tables above ``MAX_LOCAL_ROWS`` distinct rows stay on the
    workers and each EM iteration reduces the E-step statistics there. The
    sums that the in-memory checks need are reduced on the workers, so both
    kinds of table are checked alike.
    """
    from sklearn_coinem._dask import (
        MAX_LOCAL_ROWS,
        check_2d,
        dask_count_table,
        feature_names_view,
    )

    check_2d(X)
    validate_data(estimator, feature_names_view(X), reset=reset, skip_check_array=True)
    names = getattr(estimator, "feature_names_in_", None)
    if reset and names is not None:
        warn_if_trials(None, names, 6)
    if reset and estimator.n_features_in_ < 2:
        raise ValueError(
            f"Found array with {estimator.n_features_in_} feature(s) "
            f"(shape={X.shape}) while a minimum of 2 is required by "
            f"{type(estimator).__name__}."
        )
    table, sums = dask_count_table(
        X,
        sample_weight,
        family=family,
        whom=whom,
        max_local_rows=MAX_LOCAL_ROWS if distributed else np.inf,
    )
    if reset:
        check_n_samples(sums.n_samples, estimator.n_components)
    if sample_weight is not None and not table.total_weight > 0:
        # The message of sklearn's check of the in-memory weights.
        raise ValueError("Sample weights must contain at least one non-zero number.")
    check_max_total(sums.max_total)
    check_weighted_sums(
        sums.weighted_total,
        table.constant_sum,
        table.total_weight,
        weighted=sample_weight is not None,
    )
    warn_lost_digits(sums.max_total, stacklevel=7)
    return table, sums.n_rows


def check_rows(estimator, family, X, whom):
    """Validate rows to predict on: float64 counts with finite row totals."""
    X = check_counts(
        estimator, X, reset=False, whom=whom, accept_sparse=family.supports_sparse
    )
    if not sparse.issparse(X):
        X = np.asarray(X, dtype=np.float64)
    # User code -> score_samples (or predict, ...) -> _log_resp -> here.
    warn_lost_digits(check_row_totals(X), stacklevel=5)
    return X
