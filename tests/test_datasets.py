"""Data sets, the make_binomial_mixture generator and BinomialMixture.sample."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from scipy.stats import chisquare
from sklearn.exceptions import NotFittedError

from sklearn_coinem import BinomialMixture
from sklearn_coinem.datasets import load_coins, make_binomial_mixture


def test_load_coins_returns_the_published_table():
    """The five Do & Batzoglou experiments, ten flips each."""
    X, y = load_coins(return_X_y=True)
    assert_array_equal(X[:, 0], [5, 9, 8, 4, 7])
    assert_array_equal(X.sum(axis=1), [10] * 5)
    assert_array_equal(y, [1, 0, 0, 1, 0])


def test_make_binomial_mixture_shapes_and_trials():
    """Rows sum to the requested trials: fixed, a range or per row."""
    X, y = make_binomial_mixture(50, n_trials=7, random_state=0)
    assert X.shape == (50, 2) and y.shape == (50,)
    assert np.issubdtype(X.dtype, np.integer)
    assert_array_equal(X.sum(axis=1), 7)
    X, _ = make_binomial_mixture(500, n_trials=(3, 5), random_state=0)
    assert set(X.sum(axis=1)) == {3, 4, 5}
    trials = np.arange(20)
    X, _ = make_binomial_mixture(20, n_trials=trials, random_state=0)
    assert_array_equal(X.sum(axis=1), trials)


def test_make_binomial_mixture_reproducible():
    """The same seed gives the same draws, another seed different ones."""
    first = make_binomial_mixture(30, n_trials=(1, 9), random_state=1)
    second = make_binomial_mixture(30, n_trials=(1, 9), random_state=1)
    other = make_binomial_mixture(30, n_trials=(1, 9), random_state=2)
    assert_array_equal(first[0], second[0])
    assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[0], other[0])


def test_make_binomial_mixture_distribution():
    """Labels follow weights and counts follow each component's probabilities."""
    weights = np.array([0.2, 0.5, 0.3])
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [1 / 3, 1 / 3, 1 / 3]])
    X, y = make_binomial_mixture(
        20000, weights=weights, probs=probs, n_trials=(0, 6), random_state=3
    )
    label_counts = np.bincount(y, minlength=3)
    assert chisquare(label_counts, 20000 * weights).pvalue > 1e-3
    for k in range(3):
        outcome_counts = X[y == k].sum(axis=0)
        expected = outcome_counts.sum() * probs[k]
        assert chisquare(outcome_counts, expected).pvalue > 1e-3


def test_make_binomial_mixture_heads_probabilities():
    """A 1-D probs lists heads probabilities; degenerate coins are exact."""
    X, y = make_binomial_mixture(
        100, weights=[0.5, 0.5], probs=[1.0, 0.0], n_trials=4, random_state=4
    )
    assert_array_equal(X[y == 0], [[4, 0]] * int((y == 0).sum()))
    assert_array_equal(X[y == 1], [[0, 4]] * int((y == 1).sum()))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_samples": 0}, "n_samples must be a positive integer"),
        ({"probs": [[0.5, 0.6]]}, "must sum to 1"),
        ({"probs": [1.2, 0.1]}, r"probabilities in \[0, 1\]"),
        ({"probs": [[[0.5, 0.5]]]}, "must be of shape"),
        ({"weights": [0.5, 0.6]}, "weights must sum to 1"),
        ({"weights": [1.0]}, "must be of shape"),
        ({"n_trials": -1}, "non-negative"),
        ({"n_trials": (5, 2)}, "low <= high"),
        ({"n_trials": [1, 2]}, "array of shape"),
        ({"n_trials": np.full(10, 2.5)}, "whole numbers"),
    ],
)
def test_make_binomial_mixture_invalid_input_raises(kwargs, match):
    """Invalid sizes, parameters and trials raise ValueError."""
    params = {"n_samples": 10, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_binomial_mixture(**params)


def _fitted(**params):
    X, _ = make_binomial_mixture(
        200, weights=[0.3, 0.7], probs=[0.9, 0.2], random_state=5
    )
    return BinomialMixture(2, **params).fit(X)


def test_sample_reproducible_with_random_state():
    """Same seed, same draws; the estimator's random_state is the default."""
    bm = _fitted(random_state=0)
    X1, y1 = bm.sample(40, n_trials=10, random_state=7)
    X2, y2 = bm.sample(40, n_trials=10, random_state=7)
    assert_array_equal(X1, X2)
    assert_array_equal(y1, y2)
    assert_array_equal(bm.sample(40, n_trials=10)[0], bm.sample(40, n_trials=10)[0])
    assert not np.array_equal(X1, bm.sample(40, n_trials=10, random_state=8)[0])


def test_sample_per_row_trials_and_distribution():
    """Per-row trials are honoured and draws follow the fitted mixture."""
    bm = _fitted(random_state=0)
    trials = np.tile([0, 5, 30], 4000)
    X, y = bm.sample(len(trials), n_trials=trials, random_state=1)
    assert X.shape == (12000, 2)
    assert_array_equal(X.sum(axis=1), trials)
    assert chisquare(np.bincount(y), 12000 * bm.weights_).pvalue > 1e-3
    for k in range(2):
        heads = X[y == k].sum(axis=0)
        assert chisquare(heads, heads.sum() * bm.probs_[k]).pvalue > 1e-3


def test_sample_invalid_input_raises():
    """Unfitted models, zero samples and bad trials are rejected."""
    with pytest.raises(NotFittedError):
        BinomialMixture(2).sample(3, n_trials=5)
    bm = _fitted(random_state=0)
    with pytest.raises(ValueError, match="Invalid value for 'n_samples'"):
        bm.sample(0, n_trials=5)
    with pytest.raises(ValueError, match="array of shape"):
        bm.sample(3, n_trials=[5, 5])
    with pytest.raises(ValueError, match="non-negative"):
        bm.sample(3, n_trials=-2)


def test_sample_trials_range():
    """A (low, high) n_trials draws each row's trials from that range."""
    bm = _fitted(random_state=0)
    X, _ = bm.sample(500, n_trials=(2, 4), random_state=2)
    assert set(X.sum(axis=1)) == {2, 3, 4}


@pytest.mark.parametrize("seed", range(5))
def test_make_binomial_mixture_negative_trials_range_raises(seed):
    """A range reaching below zero is rejected whatever the draw."""
    with pytest.raises(ValueError, match="non-negative"):
        make_binomial_mixture(3, n_trials=(-1, 1000), random_state=seed)


@pytest.mark.parametrize(
    "n_trials",
    [True, (False, 3), np.array(["5", "5", "5"]), np.array([1.0, np.nan, 3.0])],
)
def test_sample_non_numeric_trials_raise(n_trials):
    """Booleans and non-numeric trials raise ValueError, not a TypeError."""
    bm = _fitted(random_state=0)
    with pytest.raises(ValueError, match="n_trials"):
        bm.sample(3, n_trials=n_trials)


def test_make_binomial_mixture_boolean_n_samples_raises():
    """n_samples=True is not a number of rows."""
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        make_binomial_mixture(True)
