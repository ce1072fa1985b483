"""Each case of issue 14 (and collapsed components, issue 12): a right answer or a
clear error, never NaN, a silent wrong answer or a numpy warning."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats
from scipy.special import logsumexp
from sklearn.exceptions import NotFittedError

from sklearn_coinem import (
    BinomialMixture,
    align_components,
    select_n_components,
)
from sklearn_coinem.datasets import make_binomial_mixture


@pytest.fixture(scope="module")
def coins():
    """Two well-separated coins, 300 rows of 20 flips."""
    return make_binomial_mixture(300, probs=[0.8, 0.3], random_state=0)[0]


def _binomial_score(X, weights, probs):
    """Per-row mixture log-likelihood from scipy (the independent reference)."""
    n = X.sum(axis=1)
    log_pmf = stats.binom.logpmf(X[:, [0]], n[:, None], probs[:, 0])
    return logsumexp(np.log(weights) + log_pmf, axis=1)


# ---------------------------------------------- items fixed in the refactor
def test_failed_refit_keeps_previous_state(coins):
    """Item 9: a refit that fails after validation leaves the old fit intact."""
    bm = BinomialMixture(2, random_state=0).fit(coins)
    probs, n_features = bm.probs_.copy(), bm.n_features_in_
    X3 = np.column_stack([coins, coins[:, :1]])
    bm.set_params(probs_init=[[0.5, 0.5], [0.2, 0.8]])
    with pytest.raises(ValueError, match="probs_init"):
        bm.fit(X3)
    assert bm.n_features_in_ == n_features
    assert_array_equal(bm.probs_, probs)
    assert_allclose(bm.score_samples(coins), _binomial_score(coins, bm.weights_, probs))


def test_partial_fit_after_n_components_change_restarts(coins):
    """Item 10: partial_fit after set_params(n_components) warns and restarts."""
    bm = BinomialMixture(2, random_state=0).partial_fit(coins[:150])
    bm.set_params(n_components=3)
    with pytest.warns(UserWarning, match="n_components changed from 2 to 3"):
        bm.partial_fit(coins[150:])
    assert bm.weights_.shape == (3,) and bm.probs_.shape == (3, 2)


def test_criteria_use_fit_time_update_weights(coins):
    """Item 10: aic and standard_errors describe the fit, not later set_params."""
    bm = BinomialMixture(2, update_weights=False, random_state=0).fit(coins)
    aic, se = bm.aic(coins), bm.standard_errors(coins)
    bm.set_params(update_weights=True)
    assert bm.aic(coins) == aic
    assert_array_equal(bm.standard_errors(coins).weights, se.weights)
    assert_array_equal(se.weights, [0.0, 0.0])


def test_select_n_components_int_means_one_to_k(coins):
    """Item 17: select_n_components(X, 3) scans K = 1, 2, 3."""
    result = select_n_components(coins, 3, n_init=1, random_state=0)
    assert list(result.table["n_components"]) == [1, 2, 3]


def test_sample_trials_arguments(coins):
    """Item 17 and friction: whole floats, a clear bound, the training trials."""
    bm = BinomialMixture(2, random_state=0).fit(coins)
    assert_array_equal(bm.sample(3, n_trials=20.0)[0].sum(axis=1), [20, 20, 20])
    with pytest.raises(ValueError, match="n_trials must be at most"):
        bm.sample(5, n_trials=np.full(5, 1e20))
    X = np.array([[3, 2], [10, 5], [1, 0]] * 10)
    trials = BinomialMixture(1).fit(X).sample(200, random_state=0)[0].sum(axis=1)
    assert set(trials) == {1, 5, 15}


def test_standard_errors_string_confidence_raises(coins):
    """Item 17: a string confidence gets the confidence ValueError."""
    bm = BinomialMixture(2, random_state=0).fit(coins)
    with pytest.raises(ValueError, match="confidence must be in"):
        bm.standard_errors(coins, confidence="0.9")


@pytest.mark.parametrize(
    "start",
    [
        {"weights_init": [1.0, 0.0]},
        {"weights_init": [1.0, 0.0], "algorithm": "em"},
        {"probs_init": [[1.0, 0.0], [0.3, 0.7]]},
    ],
)
def test_start_with_exact_zero_emits_no_runtime_warning(coins, start):
    """Item 18: a start with an exact 0 fits without numpy warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        bm = BinomialMixture(2, random_state=0, **start).fit(coins)
    assert np.all(np.isfinite(bm.probs_)) and np.isfinite(bm.lower_bound_)


# ----------------------------------------------------------------- item 17
def test_align_components_unfitted_mixture_raises(coins):
    """Item 17: an unfitted mixture gets sklearn's NotFittedError."""
    fitted = BinomialMixture(2, random_state=0).fit(coins)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        align_components(BinomialMixture(2), fitted)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        align_components(fitted, BinomialMixture(2))
