"""Tests of the (successes, trials) helpers."""

import doctest
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse

from sklearn_coinem import BinomialMixture, _counts
from sklearn_coinem._counts import check_trials_columns, counts_from_trials

pd = pytest.importorskip("pandas")


def test_counts_from_trials_returns_successes_and_failures():
    """Column 0 holds the successes, column 1 the trials minus the successes."""
    rng = np.random.default_rng(0)
    trials = rng.integers(0, 50, size=100)
    successes = rng.binomial(trials, 0.3)
    X = counts_from_trials(successes, trials)
    assert X.shape == (100, 2) and X.dtype == np.float64
    assert_array_equal(X[:, 0], successes)
    assert_array_equal(X[:, 0] + X[:, 1], trials)


def test_counts_from_trials_rounds_float_noise():
    """Products like 0.57 * 100 (56.99999999999999) count as whole and are rounded."""
    assert 0.57 * 100 != 57
    X = counts_from_trials([0.57 * 100, 3], [100.0, 3])
    assert_array_equal(X, [[57, 43], [3, 0]])


def test_counts_from_trials_accepts_aligned_series():
    """pandas Series (nullable integers too) give the same matrix as arrays."""
    frame = pd.DataFrame({"deaths": [3, 1, 0], "total": [10, 4, 7]}, index=[5, 6, 9])
    X = counts_from_trials(frame["deaths"], frame["total"])
    assert_array_equal(X, [[3, 7], [1, 3], [0, 7]])
    nullable = frame.astype("Int64")
    assert_array_equal(counts_from_trials(nullable["deaths"], nullable["total"]), X)


@pytest.mark.parametrize(
    "successes, trials, message",
    [
        ([1, 2], [3, 4, 5], "same length, got 2 and 3"),
        ([[1, 2]], [[3, 4]], r"successes must be 1-D, got an array of shape \(1, 2\)"),
        ([1, np.nan], [3, 4], "successes nan is not a finite number at position 1"),
        ([1, 2], [np.inf, 4], "trials inf is not a finite number at position 0"),
        ([1, -1], [3, 4], "successes -1 is negative at position 1"),
        ([1, 2], [3, -4], "trials -4 is negative at position 1"),
        ([0.3, 0.5], [10, 4], r"successes 0.3 is not a whole number \(for prop"),
        ([1, 2], [3, 4.5], "trials 4.5 is not a whole number at position 1"),
        ([1, 5], [3, 4], "successes 5 exceed trials 4 at position 1"),
        (["a", "b"], [3, 4], "successes must hold numbers"),
    ],
)
def test_counts_from_trials_rejects_bad_input(successes, trials, message):
    """Each invalid input raises a ValueError naming the problem and position."""
    with pytest.raises(ValueError, match=message):
        counts_from_trials(successes, trials)


def test_counts_from_trials_rejects_missing_value_in_series():
    """A pd.NA in a nullable Series is reported as not finite, with its position."""
    successes = pd.Series([1, None, 2], dtype="Int64")
    with pytest.raises(ValueError, match="nan is not a finite number at position 1"):
        counts_from_trials(successes, pd.Series([3, 3, 3]))


def test_counts_from_trials_rejects_misaligned_series():
    """Two Series with different indexes are not silently paired by position."""
    successes = pd.Series([1, 2], index=[0, 1])
    trials = pd.Series([3, 4], index=[1, 0])
    with pytest.raises(ValueError, match="different indexes; align them first"):
        counts_from_trials(successes, trials)


@pytest.mark.parametrize(
    "names",
    [
        ["deaths", "total"],
        ["Deaths", "TOTAL"],
        ["heads", "n"],
        ["clicks", "impressions"],
        ["alt_reads", "readDepth"],
        ["events", "n_patients"],
        ["a", "b", "c", "sample size"],
    ],
)
def test_check_trials_columns_flags_total_names(names):
    """A name with a whole word naming trials is flagged, whatever its case."""
    X = np.array([[5, 5, 1, 1], [9, 1, 1, 1]])[:, : len(names)]
    message = check_trials_columns(X, names)
    assert message is not None
    assert "trials" in message and "failures" in message
    assert "counts_from_trials(successes, trials)" in message
    assert "--successes COLUMN --trials COLUMN" in message


@pytest.mark.parametrize(
    "names",
    [
        ["heads", "tails"],
        ["tn", "fn"],
        ["entotal", "sizeable"],
        ["count_heads", "count_tails"],
        ["one", "two", "three"],
    ],
)
def test_check_trials_columns_ignores_other_names(names):
    """Words inside other words, and names that all match, are not flagged."""
    X = np.array([[5, 5, 1], [9, 1, 1]])[:, : len(names)]
    assert check_trials_columns(X, names) is None


def test_check_trials_columns_flags_second_column_of_totals():
    """(successes, trials) rows, read as counts, are flagged by their values."""
    rng = np.random.default_rng(1)
    trials = rng.integers(1, 30, size=50)
    X = np.column_stack([rng.binomial(trials, 0.6), trials])
    message = check_trials_columns(X)
    assert message.startswith("Column 2 looks like a number of trials")
    assert "at least column 1 in every row" in message


def test_check_trials_columns_value_rule_needs_rows_and_strict_excess():
    """Few rows, one row with column 2 below column 1, or many ties: no warning."""
    X = np.array([[3, 10], [0, 4], [5, 12], [2, 9], [7, 9], [1, 8]])
    assert check_trials_columns(X) is not None
    assert check_trials_columns(X[:4]) is None
    assert check_trials_columns(np.vstack([X, [[9, 8]]])) is None
    ties = np.vstack([X, [[5, 5]] * 2])  # 2 of 8 rows equal: a fair coin's ties
    assert check_trials_columns(ties) is None


def test_check_trials_columns_flags_a_sum_column():
    """With 3+ columns, a column equal to the others' sum in every row is flagged."""
    rng = np.random.default_rng(2)
    counts = rng.multinomial(20, [0.2, 0.3, 0.5], size=10)
    X = np.column_stack([counts[:, :2], counts.sum(axis=1), counts[:, 2:]])
    assert check_trials_columns(counts) is None
    message = check_trials_columns(X, ["a", "b", "all", "c"])
    assert message.startswith("Column 'all' looks like a number of trials")
    assert check_trials_columns(np.zeros((10, 3))) is None


def test_check_trials_columns_sparse_equals_dense():
    """A sparse matrix gives the same message as its dense array."""
    rng = np.random.default_rng(5)
    trials = rng.integers(1, 30, size=40)
    pair = np.column_stack([rng.binomial(trials, 0.2), trials])
    counts = rng.multinomial(20, [0.2, 0.3, 0.5], size=40)
    triple = np.column_stack([counts[:, :2], counts.sum(axis=1), counts[:, 2:]])
    for X in (pair, triple, counts):
        dense = check_trials_columns(X)
        assert check_trials_columns(sparse.csr_matrix(X)) == dense
    assert check_trials_columns(pair) is not None
    assert check_trials_columns(triple) is not None


def test_check_trials_columns_fair_coins_are_not_flagged():
    """Heads and tails of fair coins almost never match the value rule."""
    rng = np.random.default_rng(3)
    heads = rng.binomial(10, 0.5, size=(200, 20))
    flagged = [
        check_trials_columns(np.column_stack([h, 10 - h])) is not None for h in heads.T
    ]
    assert not any(flagged)


def test_counts_docstring_examples_run():
    """The examples of the module's functions run as doctests."""
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(_counts, optionflags=flags)
    assert result.attempted >= 3 and result.failed == 0


def test_counts_from_trials_fits_betablocker_style_table():
    """The converted table gives the pooled death rate for one component."""
    deaths, total = np.array([3, 14, 11, 127]), np.array([39, 116, 93, 1520])
    X = counts_from_trials(deaths, total)
    model = BinomialMixture(1).fit(X)
    assert_allclose(model.probs_[0, 0], deaths.sum() / total.sum(), rtol=1e-6)


def test_fit_warns_when_a_column_holds_trials():
    """Estimators warn at fit when a column is named or valued like trials."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"deaths": [3, 0, 5, 2, 7, 1], "total": [10, 4, 12, 3, 9, 8]})
    with pytest.warns(UserWarning, match="looks like a number of trials") as record:
        BinomialMixture(1).fit(frame)
    assert record[0].filename == __file__
    with pytest.warns(UserWarning, match="by its values"):
        BinomialMixture(1).fit(frame.to_numpy())
    coins = pd.DataFrame({"heads": [5, 9, 8, 4, 7], "tails": [5, 1, 2, 6, 3]})
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        BinomialMixture(1).fit(coins)
