"""Tests of the exact compression of count matrices into weighted tables."""

import math
import warnings
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from sklearn_coinem import BinomialMixture, _count_table
from sklearn_coinem._count_table import (
    _compress_counts,
    _dense_key_table,
    _is_integral,
    _key_radix,
    _merge_tables,
    _sorted_key_table,
    _sorted_unique_table,
)


def _brute_force_table(X, sample_weight=None):
    """Distinct rows and total weights by a dictionary over row tuples."""
    if sample_weight is None:
        sample_weight = np.ones(len(X))
    totals = defaultdict(float)
    for row, weight in zip(X.tolist(), sample_weight.tolist()):
        totals[tuple(row)] += weight
    rows = sorted(row for row, total in totals.items() if total > 0)
    return (
        np.array(rows, dtype=float).reshape(-1, X.shape[1]),
        np.array([totals[row] for row in rows]),
    )


def _random_counts(rng, n_samples, n_features, high):
    return rng.integers(0, high, size=(n_samples, n_features))


def _all_paths(X, sample_weight):
    """The table of every compression path that applies to integral X."""
    radix = _key_radix(X, max_bins=np.inf)
    return {
        "bincount": _dense_key_table(X, sample_weight, radix),
        "sorted key": _sorted_key_table(X, sample_weight, radix),
        "sorted unique": _sorted_unique_table(X, sample_weight),
        "default": _compress_counts(X, sample_weight),
        "no bincount": _compress_counts(X, sample_weight, max_bins=1),
    }


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n_features", [1, 2, 3, 6])
def test_compress_counts_paths_match_brute_force(n_features, weighted):
    """Every compression path gives the brute-force table of distinct rows."""
    rng = np.random.default_rng(n_features)
    X = _random_counts(rng, 500, n_features, 6)
    sample_weight = rng.uniform(0, 2, size=len(X)) if weighted else None
    expected_rows, expected_weights = _brute_force_table(X, sample_weight)
    for path, (rows, weights) in _all_paths(X, sample_weight).items():
        assert_array_equal(rows, expected_rows, err_msg=path)
        assert_allclose(weights, expected_weights, rtol=1e-12, err_msg=path)


def test_compress_counts_multi_word_keys_match_brute_force(monkeypatch):
    """Rows too wide for one int64 key are sorted on several key words."""
    monkeypatch.setattr(_count_table, "_MAX_KEY_SPACE", 50)
    rng = np.random.default_rng(0)
    X = _random_counts(rng, 400, 5, 5)
    sample_weight = rng.integers(0, 3, size=len(X)).astype(float)
    assert len(_count_table._key_words(_key_radix(X, max_bins=1))) > 1
    rows, weights = _compress_counts(X, sample_weight, max_bins=1)
    expected_rows, expected_weights = _brute_force_table(X, sample_weight)
    assert_array_equal(rows, expected_rows)
    assert_allclose(weights, expected_weights)


def test_compress_counts_non_integral_counts():
    """Fractional counts are compressed exactly by the sort-based unique."""
    rng = np.random.default_rng(1)
    X = rng.integers(0, 4, size=(300, 2)) / 2
    rows, weights = _compress_counts(X)
    expected_rows, expected_weights = _brute_force_table(X)
    assert_array_equal(rows, expected_rows)
    assert_array_equal(weights, expected_weights)


def test_compress_counts_counts_beyond_int64_keys():
    """Whole counts too large for an int64 key fall back to an exact unique."""
    X = np.array([[2.0**70, 1.0], [3.0, 2.0**64], [2.0**70, 1.0]])
    assert _key_radix(X, max_bins=1) is None
    rows, weights = _compress_counts(X)
    assert_array_equal(rows, [[3.0, 2.0**64], [2.0**70, 1.0]])
    assert_array_equal(weights, [1.0, 2.0])


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.int64, np.float32])
def test_compress_counts_input_dtypes(dtype):
    """Integer and float inputs of any width give the same float64 table."""
    rng = np.random.default_rng(2)
    X = _random_counts(rng, 200, 3, 7)
    rows, weights = _compress_counts(X.astype(dtype))
    expected_rows, expected_weights = _brute_force_table(X)
    assert rows.dtype == np.float64
    assert_array_equal(rows, expected_rows)
    assert_array_equal(weights, expected_weights)


def test_compress_counts_row_order_invariant():
    """Permuting the rows (with their weights) leaves the table unchanged."""
    rng = np.random.default_rng(3)
    X = _random_counts(rng, 1000, 2, 30)
    sample_weight = rng.integers(1, 4, size=len(X)).astype(float)
    order = rng.permutation(len(X))
    for max_bins in (None, 1):
        rows, weights = _compress_counts(X, sample_weight, max_bins)
        rows_perm, weights_perm = _compress_counts(
            X[order], sample_weight[order], max_bins
        )
        assert_array_equal(rows_perm, rows)
        assert_array_equal(weights_perm, weights)


def test_compress_counts_zero_weight_rows_dropped():
    """Rows whose total weight is zero do not enter the table."""
    X = np.array([[1, 2], [3, 4], [1, 2], [5, 6]])
    sample_weight = np.array([0.0, 1.5, 0.0, 2.0])
    for max_bins in (None, 1):
        rows, weights = _compress_counts(X, sample_weight, max_bins)
        assert_array_equal(rows, [[3, 4], [5, 6]])
        assert_array_equal(weights, [1.5, 2.0])


def test_compress_counts_does_not_mutate_input():
    """Compression leaves X and sample_weight untouched."""
    rng = np.random.default_rng(4)
    X = _random_counts(rng, 300, 2, 10).astype(float)
    sample_weight = rng.uniform(size=300)
    X_copy, weight_copy = X.copy(), sample_weight.copy()
    for max_bins in (None, 1):
        _compress_counts(X, sample_weight, max_bins)
        assert_array_equal(X, X_copy)
        assert_array_equal(sample_weight, weight_copy)


def test_compress_counts_empty_input():
    """No rows give an empty table with the right number of columns."""
    rows, weights = _compress_counts(np.zeros((0, 3)))
    assert rows.shape == (0, 3)
    assert weights.shape == (0,)


def test_compress_counts_blocks_larger_than_one():
    """Data spanning several blocks is counted across block boundaries."""
    rng = np.random.default_rng(5)
    n_samples = 2 * _count_table._BLOCK_ROWS + 17
    X = _random_counts(rng, n_samples, 2, 4)
    rows, weights = _compress_counts(X)
    expected_rows, expected_weights = _brute_force_table(X)
    assert_array_equal(rows, expected_rows)
    assert_array_equal(weights, expected_weights)
    assert weights.sum() == n_samples


def test_is_integral_detects_fractions():
    """Whole floats are integral; a single fraction anywhere is not."""
    X = np.zeros((3 * _count_table._BLOCK_ROWS, 2))
    assert _is_integral(X)
    X[-1, 1] = 0.5
    assert not _is_integral(X)
    assert _is_integral(np.arange(6).reshape(3, 2))


@settings(deadline=None, max_examples=40)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_samples=st.integers(1, 60),
    n_features=st.integers(1, 4),
    high=st.integers(1, 12),
    weighted=st.booleans(),
)
def test_compress_counts_property_matches_brute_force(
    seed, n_samples, n_features, high, weighted
):
    """For any small count matrix every path equals the brute-force table."""
    rng = np.random.default_rng(seed)
    X = _random_counts(rng, n_samples, n_features, high)
    sample_weight = rng.integers(0, 3, size=n_samples) * 0.5 if weighted else None
    expected_rows, expected_weights = _brute_force_table(X, sample_weight)
    for path, (rows, weights) in _all_paths(X, sample_weight).items():
        assert_array_equal(rows, expected_rows, err_msg=path)
        assert_allclose(weights, expected_weights, rtol=1e-12, err_msg=path)


def _float_weights(rng, n_samples, spread):
    """Float weights over ``spread`` decades, so that sums round in many ways."""
    return rng.uniform(0, 1, size=n_samples) * 10.0 ** rng.integers(
        -spread, spread + 1, size=n_samples
    )


def test_compress_counts_float_weights_match_exact_sums():
    """Float weights of equal rows total their exact sum (math.fsum), rounded."""
    rng = np.random.default_rng(6)
    X = _random_counts(rng, 3000, 2, 3)
    sample_weight = _float_weights(rng, len(X), 300)
    for path, (rows, weights) in _all_paths(X, sample_weight).items():
        expected = [math.fsum(sample_weight[(X == row).all(axis=1)]) for row in rows]
        assert_allclose(weights, expected, rtol=4e-16, atol=0, err_msg=path)


def test_compress_counts_float_weights_any_order_of_addition():
    """0.1 + 0.2 + 0.3 gives one total whichever row comes first."""
    X = np.zeros((3, 2))
    totals = {
        float(_compress_counts(X, np.array(order))[1][0])
        for order in ([0.1, 0.2, 0.3], [0.3, 0.2, 0.1], [0.2, 0.3, 0.1])
    }
    assert totals == {0.6}


@settings(deadline=None, max_examples=40)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_samples=st.integers(1, 300),
    n_features=st.integers(1, 3),
    high=st.integers(1, 5),
    spread=st.sampled_from([0, 3, 300]),
)
def test_compress_counts_property_float_weights_row_order_invariant(
    seed, n_samples, n_features, high, spread
):
    """Permuted rows with float weights give a bit-identical table on every path."""
    rng = np.random.default_rng(seed)
    X = _random_counts(rng, n_samples, n_features, high)
    sample_weight = _float_weights(rng, n_samples, spread)
    perm = rng.permutation(n_samples)
    tables = _all_paths(X, sample_weight)
    for path, (rows, weights) in _all_paths(X[perm], sample_weight[perm]).items():
        assert_array_equal(rows, tables[path][0], err_msg=path)
        assert_array_equal(weights, tables[path][1], err_msg=path)
    chunks = np.array_split(perm, 3)
    merged = _merge_tables([(X[c], sample_weight[c]) for c in chunks[::-1]])
    rows, weights = _merge_tables([(X[perm], sample_weight[perm])])
    expected_rows, expected_weights = _merge_tables([(X, sample_weight)])
    assert_array_equal(rows, expected_rows)
    assert_array_equal(weights, expected_weights)
    assert_array_equal(merged[0], expected_rows)
    assert_allclose(merged[1], expected_weights, rtol=1e-14)


@settings(deadline=None, max_examples=20)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_samples=st.integers(20, 400),
    n_components=st.integers(1, 3),
)
def test_fit_float_weights_row_order_invariant(seed, n_samples, n_components):
    """Permuting rows with float sample weights changes the fit by at most 1e-10."""
    rng = np.random.default_rng(seed)
    heads = rng.binomial(10, np.where(rng.random(n_samples) < 0.5, 0.6, 0.45))
    X = np.column_stack([heads, 10 - heads])
    sample_weight = rng.uniform(0.1, 2.0, size=n_samples)
    perm = rng.permutation(n_samples)
    params = {"n_components": n_components, "random_state": 0, "max_iter": 300}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bm = BinomialMixture(**params).fit(X, sample_weight=sample_weight)
        shuffled = BinomialMixture(**params).fit(
            X[perm], sample_weight=sample_weight[perm]
        )
    assert_allclose(shuffled.probs_, bm.probs_, rtol=0, atol=1e-10)
    assert_allclose(shuffled.weights_, bm.weights_, rtol=0, atol=1e-10)
    assert shuffled.n_iter_ == bm.n_iter_


@pytest.mark.parametrize("max_prefix_keys", [None, 1])
@pytest.mark.parametrize("prefix", ["binary", "halves", "wide"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n_rows", [300, 20000])
def test_rows_made_distinct_by_a_covariate_are_sorted_like_compressed_rows(
    n_rows, weighted, prefix, max_prefix_keys, monkeypatch
):
    """A continuous covariate skips the merging, not the canonical order.

    The columns before the distinct one are small integers, non-integral
    values (ranked) or integers of a wide range; ``max_prefix_keys=1``
    forces the sort over every column. 20000 rows span several of the
    blocks in which the keys are computed.
    """
    from sklearn_coinem import _table
    from sklearn_coinem._families import BinomialRegressionFamily
    from sklearn_coinem._table import RowTable

    if max_prefix_keys is not None:
        monkeypatch.setattr(_table, "_MAX_PREFIX_KEYS", max_prefix_keys)
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 4, size=(n_rows, 2)).astype(float)
    before = {
        "binary": rng.integers(0, 2, n_rows).astype(float),
        "halves": rng.integers(-3, 3, n_rows) / 2,
        "wide": rng.integers(-(10**12), 10**12, n_rows).astype(float),
    }[prefix]
    # A signed zero must key like zero, as in the sort over every column.
    before[:5] = -0.0
    before[5:10] = 0.0
    design = np.column_stack([np.ones(n_rows), before, rng.normal(size=n_rows)])
    weights = rng.uniform(0, 2, n_rows) if weighted else None
    if weighted:
        weights[:7] = 0.0
    table = RowTable.compress(BinomialRegressionFamily(), counts, weights, design)
    # Reference: numpy's sorted unique rows of the positive-weight rows.
    keep = slice(None) if weights is None else weights > 0
    stacked = np.hstack([counts, design])[keep]
    unique, index = np.unique(stacked, axis=0, return_index=True)
    assert_array_equal(np.hstack([table.X, table.design]), unique)
    expected = np.ones(n_rows)[keep] if weights is None else weights[keep]
    assert_array_equal(table.weights, expected[index])
    # Any order of the input rows gives the same table, bit for bit.
    perm = rng.permutation(n_rows)
    shuffled = RowTable.compress(
        BinomialRegressionFamily(),
        counts[perm],
        None if weights is None else weights[perm],
        design[perm],
    )
    for name in ("X", "design", "weights"):
        assert_array_equal(getattr(shuffled, name), getattr(table, name))


def test_one_repeated_value_across_key_blocks_is_not_distinct():
    """Two equal values sorted to either side of a block boundary of the
    distinctness check: the column is not distinct, and the rows merge."""
    from sklearn_coinem._families import BinomialRegressionFamily
    from sklearn_coinem._numerics import TEMPORARY_ROWS
    from sklearn_coinem._table import RowTable, _strictly_increasing

    n_rows = 3 * TEMPORARY_ROWS
    column = np.arange(n_rows, dtype=float)
    assert _strictly_increasing(column, np.arange(n_rows))
    column[TEMPORARY_ROWS] = column[TEMPORARY_ROWS - 1]
    assert not _strictly_increasing(column, np.argsort(column))
    counts = np.ones((n_rows, 2))
    design = np.column_stack([np.ones(n_rows), column])
    table = RowTable.compress(BinomialRegressionFamily(), counts, None, design)
    assert table.n_distinct == n_rows - 1
    assert table.weights.max() == 2.0
