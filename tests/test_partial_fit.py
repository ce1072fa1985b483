"""Exact streaming EM: BinomialMixture.partial_fit."""

from collections import Counter

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from sklearn_coinem import BinomialMixture
from sklearn_coinem._solver import _MAX_REMAINING_GAIN
from sklearn_coinem._table import RowTable


def _coins(n_samples, seed, max_trials=12):
    """Two-coin data with varying trials."""
    rng = np.random.default_rng(seed)
    trials = rng.integers(1, max_trials + 1, n_samples)
    heads = rng.binomial(trials, np.where(rng.random(n_samples) < 0.4, 0.85, 0.25))
    return np.column_stack([heads, trials - heads])


@st.composite
def streams(draw, max_rows=120, max_chunks=5):
    """Seeded count data, optional weights, and random chunk boundaries."""
    seed = draw(st.integers(0, 2**32 - 1))
    n_samples = draw(st.integers(4, max_rows))
    n_features = draw(st.integers(2, 3))
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 6, size=(n_samples, n_features))
    weighted = draw(st.booleans())
    sample_weight = rng.uniform(0.1, 2.0, n_samples) if weighted else None
    n_cuts = draw(st.integers(0, min(max_chunks - 1, n_samples - 2)))
    cuts = sorted(rng.choice(np.arange(2, n_samples), size=n_cuts, replace=False))
    return X, sample_weight, [0, *cuts, n_samples]


def _stream(bm, X, sample_weight, bounds):
    """Feed the chunks X[bounds[i]:bounds[i + 1]] to partial_fit."""
    for start, stop in zip(bounds[:-1], bounds[1:]):
        weight = None if sample_weight is None else sample_weight[start:stop]
        bm.partial_fit(X[start:stop], sample_weight=weight)
    return bm


@settings(max_examples=25, deadline=None)
@given(streams())
def test_partial_fit_table_is_weighted_row_count(stream):
    """The stored table is the weighted count of distinct rows of the stream."""
    X, sample_weight, bounds = stream
    bm = _stream(
        BinomialMixture(2, random_state=0, max_iter=5), X, sample_weight, bounds
    )
    weights = np.ones(len(X)) if sample_weight is None else sample_weight
    expected = Counter()
    for row, weight in zip(map(tuple, X.tolist()), weights):
        expected[row] += weight
    table = bm._stream
    assert sorted(map(tuple, table.X.tolist())) == sorted(expected)
    for row, weight in zip(map(tuple, table.X.tolist()), table.weights):
        assert_allclose(weight, expected[row], rtol=1e-12)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@settings(max_examples=25, deadline=None)
@given(streams())
def test_partial_fit_equals_fit_warm_started(stream):
    """After any chunking, partial_fit is fit on all rows from the same start."""
    X, sample_weight, bounds = stream
    assume(len(bounds) > 2)
    # Plain EM: fit renormalises weights_init, a last-bit change that SQUAREM's
    # extrapolation can amplify on the flat likelihoods of tiny random data.
    params = {"n_components": 2, "random_state": 0, "max_iter": 50, "algorithm": "em"}
    bm = _stream(BinomialMixture(**params), X, sample_weight, bounds[:-1])
    weights_before, probs_before = bm.weights_.copy(), bm.probs_.copy()
    _stream(bm, X, sample_weight, bounds[-2:])
    expected = BinomialMixture(
        **params, weights_init=weights_before, probs_init=probs_before
    ).fit(X, sample_weight=sample_weight)
    if sample_weight is None:
        # Integer weights: the stream's table is fit's, so is the whole path.
        assert_allclose(bm.weights_, expected.weights_, rtol=0, atol=1e-8)
        assert_allclose(bm.probs_, expected.probs_, rtol=0, atol=1e-8)
        assert bm.n_iter_ == expected.n_iter_
        return
    # Float weights summed chunk by chunk round once more than summed over all
    # rows (an ulp): the same table to that precision, and converged fits the
    # same to the stopping rule's (Newton steps on the flat likelihoods of tiny
    # data amplify an ulp, so no bit-equal paths).
    merged = BinomialMixture(2)._make_family()
    compressed = RowTable.compress(merged, X.astype(float), sample_weight)
    assert_array_equal(bm._stream.X, compressed.X)
    assert_allclose(bm._stream.weights, compressed.weights, rtol=1e-14)
    if bm.converged_ and expected.converged_:
        gap = bm.score(X, sample_weight) - expected.score(X, sample_weight)
        assert abs(gap) * sample_weight.sum() <= _MAX_REMAINING_GAIN


@settings(max_examples=25, deadline=None)
@given(streams())
def test_partial_fit_one_component_is_closed_form(stream):
    """With one component, every chunking gives the pooled outcome frequencies."""
    X, sample_weight, bounds = stream
    bm = _stream(BinomialMixture(1, pseudo_count=0), X, sample_weight, bounds)
    weights = np.ones(len(X)) if sample_weight is None else sample_weight
    totals = weights @ X
    assert_allclose(bm.probs_[0], totals / totals.sum(), rtol=1e-10)
    assert_allclose(bm.weights_, [1.0])


def test_partial_fit_first_call_equals_fit():
    """The first call initialises and fits like fit on the chunk."""
    X = _coins(500, seed=0)
    params = {"n_components": 2, "n_init": 3, "random_state": 0}
    result = BinomialMixture(**params).partial_fit(X)
    expected = BinomialMixture(**params).fit(X)
    assert_allclose(result.probs_, expected.probs_, rtol=0, atol=1e-12)
    assert_allclose(result.weights_, expected.weights_, rtol=0, atol=1e-12)
    assert result.lower_bound_ == pytest.approx(expected.lower_bound_, rel=1e-12)


def test_partial_fit_squarem_equals_fit_warm_started():
    """With SQUAREM on identifiable data, the last call is fit from the same start."""
    X = _coins(1500, seed=7)
    sample_weight = np.random.default_rng(8).uniform(0.5, 1.5, len(X))
    bm = BinomialMixture(2, random_state=0)
    for start in (0, 400, 1100):
        bm.partial_fit(X[start:1500], sample_weight=sample_weight[start:1500])
        if start == 400:
            weights_before, probs_before = bm.weights_.copy(), bm.probs_.copy()
    stream = np.concatenate([X, X[400:], X[1100:]])
    stream_weight = np.concatenate(
        [sample_weight, sample_weight[400:], sample_weight[1100:]]
    )
    expected = BinomialMixture(
        2, weights_init=weights_before, probs_init=probs_before
    ).fit(stream, sample_weight=stream_weight)
    assert_allclose(bm.weights_, expected.weights_, rtol=0, atol=1e-8)
    assert_allclose(bm.probs_, expected.probs_, rtol=0, atol=1e-8)


def test_partial_fit_memory_bounded_by_distinct_rows():
    """A long stream of repetitive rows keeps a table of its distinct rows."""
    bm = BinomialMixture(2, random_state=0, max_iter=3)
    n_trials = 10
    for seed in range(30):
        rng = np.random.default_rng(seed)
        heads = rng.binomial(n_trials, 0.3, 1000)
        bm.partial_fit(np.column_stack([heads, n_trials - heads]))
    assert len(bm._stream.X) <= n_trials + 1
    assert bm._stream.total_weight == 30_000


def test_partial_fit_keeps_component_order():
    """Later calls continue from the current components without relabelling."""
    X = _coins(2000, seed=1)
    bm = BinomialMixture(2, random_state=0).partial_fit(X[:1000])
    labels = bm.predict(X[:1000])
    bm.partial_fit(X[1000:])
    agreement = np.mean(bm.predict(X[:1000]) == labels)
    assert agreement > 0.95


def test_partial_fit_converges_to_fit_over_passes():
    """Streaming the same data twice converges to the full-data optimum."""
    X = _coins(3000, seed=2)
    params = {"n_components": 2, "random_state": 0, "tol": 1e-12, "max_iter": 5000}
    bm = BinomialMixture(**params)
    for start in range(0, len(X), 500):
        bm.partial_fit(X[start : start + 500])
    expected = BinomialMixture(**params).fit(X)
    assert_allclose(bm.probs_, expected.probs_, atol=1e-5)
    assert_allclose(bm.weights_, expected.weights_, atol=1e-5)


def test_fit_resets_partial_fit_stream():
    """fit discards the stream: the next partial_fit starts from its chunk."""
    X = _coins(600, seed=3)
    bm = BinomialMixture(2, random_state=0).partial_fit(X[:300]).fit(X[300:])
    bm.partial_fit(X[:300])
    assert bm._stream.total_weight == 300


def test_partial_fit_fixed_weights_stay_fixed():
    """With update_weights=False the weights stay at weights_init across calls."""
    X = _coins(400, seed=4)
    bm = BinomialMixture(2, update_weights=False, weights_init=[0.2, 0.8])
    for start in range(0, len(X), 100):
        bm.partial_fit(X[start : start + 100])
        assert_allclose(np.sort(bm.weights_), [0.2, 0.8])


def test_partial_fit_n_features_mismatch_raises():
    """A chunk with another number of columns is rejected."""
    bm = BinomialMixture(2, random_state=0).partial_fit(_coins(50, seed=5))
    with pytest.raises(ValueError, match="X has 3 features, but BinomialMixture"):
        bm.partial_fit(np.ones((10, 3)))


def test_partial_fit_bad_chunk_leaves_model_unchanged():
    """A rejected chunk neither raises later nor changes the stream or the fit."""
    X = _coins(100, seed=6)
    bm = BinomialMixture(2, random_state=0).partial_fit(X)
    probs, table = bm.probs_.copy(), bm._stream
    bad = X[:10].copy()
    bad[3, 0] = -1
    with pytest.raises(ValueError, match="Negative values in data passed to"):
        bm.partial_fit(bad)
    assert bm._stream is table
    assert_array_equal(bm.probs_, probs)


def test_partial_fit_first_chunk_too_small_raises():
    """The first chunk needs at least n_components rows, as fit does."""
    with pytest.raises(ValueError, match="Expected n_samples >= n_components"):
        BinomialMixture(3).partial_fit(np.array([[1, 2], [3, 4]]))
