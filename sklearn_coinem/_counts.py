"""Getting data in: (successes, trials) pairs and columns that look like totals."""

import re

import numpy as np
from scipy import sparse

# Words that name a number of trials (a row total) rather than an outcome.
_TOTAL_WORDS = frozenset(
    """
    n total totals trial trials size sizes depth attempts attempt tries impressions
    count counts patients subjects participants exposures exposed denominator
    """.split()
)

# Rows of a (successes, trials) pair with all trials successful are rare; when
# column 2 equals column 1 in more than this share of the rows, it is a count.
_MAX_EQUAL_SHARE = 0.1

# Fewer rows than this are too little evidence for the value rule.
_MIN_ROWS = 5


def _is_series(values):
    """Whether ``values`` is a pandas Series (or quacks like one)."""
    return hasattr(values, "to_numpy") and hasattr(
        getattr(values, "index", None), "equals"
    )


def _as_1d_float(values, name):
    """``values`` (array-like or pandas Series) as a 1-D float64 array."""
    if hasattr(values, "to_numpy"):  # pandas: nullable dtypes hold pd.NA
        try:
            values = values.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must hold numbers.") from None
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must hold numbers.") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got an array of shape {array.shape}.")
    return array


def _is_whole(a):
    """Whether each value is a whole number up to float rounding."""
    return np.abs(a - np.rint(a)) <= 1e-9 * np.maximum(1.0, np.abs(a))


def _first_invalid(successes, trials):
    """(position, message) of the first invalid pair, or None when all are valid.

    The checks run in a fixed order, so each message names one problem.
    """
    checks = [
        ("successes", successes, np.isfinite, "is not a finite number"),
        ("trials", trials, np.isfinite, "is not a finite number"),
        ("successes", successes, lambda a: a >= 0, "is negative"),
        ("trials", trials, lambda a: a >= 0, "is negative"),
        ("successes", successes, _is_whole, "is not a whole number"),
        ("trials", trials, _is_whole, "is not a whole number"),
    ]
    # In this order, each check sees only finite values.
    for name, values, is_valid, problem in checks:
        bad = ~is_valid(values)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            message = f"{name} {values[i]:g} {problem}"
            if name == "successes" and is_valid is _is_whole:
                message += (
                    " (for proportions, pass successes = round(proportion * trials))"
                )
            return i, message
    bad = successes > trials
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        return i, f"successes {successes[i]:g} exceed trials {trials[i]:g}"
    return None


def counts_from_trials(successes, trials):
    """Build the count matrix [successes, failures] from (successes, trials) data.

    The estimators take the count of each outcome per row, so binomial data
    recorded as a number of successes and a number of trials (deaths and
    patients, clicks and impressions, reads and depth) must become
    ``[successes, trials - successes]`` first. Fitting ``[successes, trials]``
    directly fits the wrong model without any error.

    Parameters
    ----------
    successes : array-like or pandas Series of shape (n_samples,)
        The number of successes of each row: finite, non-negative whole
        numbers (within float rounding, to which they are rounded).

    trials : array-like or pandas Series of shape (n_samples,)
        The number of trials of each row: finite whole numbers at least
        ``successes``. Two Series must have the same index.

    Returns
    -------
    X : ndarray of shape (n_samples, 2)
        The counts: successes in column 0, failures (``trials - successes``)
        in column 1.

    Raises
    ------
    ValueError
        When the lengths or the Series indexes differ, or a value is not
        finite, negative, not whole, or when successes exceed trials; the
        message names the first such position (counted from 0).

    See Also
    --------
    check_trials_columns : Detect a count matrix that holds trials, not failures.

    Examples
    --------
    >>> from sklearn_coinem._counts import counts_from_trials
    >>> counts_from_trials([3, 0, 10], [10, 4, 10])
    array([[ 3.,  7.],
           [ 0.,  4.],
           [10.,  0.]])
    """
    if _is_series(successes) and _is_series(trials):
        if not successes.index.equals(trials.index):
            raise ValueError(
                "successes and trials have different indexes; align them first "
                "(for example with trials.reindex(successes.index))."
            )
    successes = _as_1d_float(successes, "successes")
    trials = _as_1d_float(trials, "trials")
    if successes.shape != trials.shape:
        raise ValueError(
            f"successes and trials must have the same length, got "
            f"{successes.shape[0]} and {trials.shape[0]}."
        )
    invalid = _first_invalid(successes, trials)
    if invalid is not None:
        position, message = invalid
        raise ValueError(f"{message} at position {position}.")
    successes, trials = np.rint(successes), np.rint(trials)
    return np.column_stack([successes, trials - successes])


def _looks_like_total(name):
    """Whether a column name has a word that names a number of trials."""
    # Split on anything but letters, and between camelCase words.
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", str(name))
    return any(word.lower() in _TOTAL_WORDS for word in words)


def _name_rule(feature_names):
    """The first of some (not all) names that look like a total, or None.

    When every name matches (``count_heads, count_tails``), the word is a
    naming pattern, not a total.
    """
    if feature_names is None:
        return None
    matches = [name for name in feature_names if _looks_like_total(name)]
    if matches and len(matches) < len(feature_names):
        return matches[0]
    return None


def _column(X, j):
    """Column ``j`` of a dense or sparse matrix as a dense 1-D array."""
    if sparse.issparse(X):
        return X[:, [j]].toarray().ravel()
    return X[:, j]


def _value_rule(X):
    """The index of a column that holds row totals by its values, or None.

    Two columns: column 2 is at least column 1 in every row and equal to it
    in at most a tenth of the rows. More columns: one column equals the sum
    of the others in every row (and they are not all zero).
    """
    n_samples, n_features = X.shape
    if n_samples < _MIN_ROWS or n_features < 2:
        return None
    if n_features == 2:
        first, second = _column(X, 0), _column(X, 1)
        if (second >= first).all() and (second == first).mean() <= _MAX_EQUAL_SHARE:
            return 1
        return None
    row_total = np.asarray(X.sum(axis=1)).ravel()
    if not (row_total > 0).any():
        return None
    for j in range(n_features):
        # Column j equals the others' sum exactly when it is half the row total.
        if np.allclose(2 * _column(X, j), row_total, rtol=1e-12, atol=0):
            return j
    return None


def check_trials_columns(X, feature_names=None):
    """Return a warning message when a count matrix seems to hold trials.

    The estimators need the count of each outcome; a column of trials (row
    totals) in place of the failures fits the wrong model silently. Two
    rules flag it:

    - by name: some but not all feature names contain a word that names a
      number of trials, matched case-insensitively as a whole word (``n``,
      ``total``, ``trials``, ``size``, ``depth``, ``attempts``,
      ``impressions``, ``count``, ``patients``, ...; ``n_patients``,
      ``Total`` and ``readDepth`` match, ``heads`` and ``tn`` do not);
    - by value, with at least 5 rows: for 2 columns, column 2 is at least
      column 1 in every row and equal to it in at most a tenth of them (a
      success in every trial is rare, a tie of heads and tails is not); for
      more columns, one column equals the sum of the others in every row.

    The value rule also matches genuine counts whose second outcome
    outnumbers the first in every row (a rare first outcome); the message
    then does not apply.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The count matrix, as it would be passed to ``fit`` (in memory).

    feature_names : array-like of str of shape (n_features,), default=None
        The column names (a DataFrame's columns); None checks the values only.

    Returns
    -------
    message : str or None
        The warning text, naming the column and the conversion, or None when
        no rule matches.

    See Also
    --------
    counts_from_trials : Build the count matrix from successes and trials.

    Examples
    --------
    >>> from sklearn_coinem._counts import check_trials_columns
    >>> X = [[3, 10], [0, 4], [5, 12], [2, 2], [7, 9]]
    >>> print(check_trials_columns(X, ["deaths", "total"]))
    Column 'total' looks like a number of trials (a row total), not a count of
    failures...
    >>> print(check_trials_columns([[5, 5], [9, 1]], ["heads", "tails"]))
    None
    """
    X = X.tocsc() if sparse.issparse(X) else np.asarray(X, dtype=np.float64)
    names = None if feature_names is None else [str(n) for n in feature_names]
    name = _name_rule(names)
    if name is not None:
        column, reason = repr(name), "by its name"
    else:
        index = _value_rule(X)
        if index is None:
            return None
        column = repr(names[index]) if names is not None else f"{index + 1}"
        reason = (
            "by its values (at least column 1 in every row)"
            if X.shape[1] == 2
            else "by its values (the sum of the other columns in every row)"
        )
    return (
        f"Column {column} looks like a number of trials (a row total), not a "
        f"count of failures, {reason}. Each column of X must count one "
        "outcome: for (successes, trials) data, fit "
        "counts_from_trials(successes, trials), the [successes, failures] "
        "matrix (on the command line: --successes COLUMN --trials COLUMN)."
    )
