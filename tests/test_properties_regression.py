"""Hypothesis properties of BinomialRegressionMixture."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy.special import expit, logsumexp
from scipy.stats import binom

from sklearn_coinem import BinomialRegressionMixture
from tests.strategies import seeds

MAX_ROWS = 40
MAX_TRIALS = 20

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn_coinem._base.IdentifiabilityWarning"
)


@st.composite
def regression_data(draw, max_rows=MAX_ROWS, max_features=2):
    """Covariates and (successes, failures) of a random logistic mixture.

    Hypothesis draws the shape, the trial bound and a seed; the data come
    from ``np.random.default_rng(seed)``. Rows may have no trials.
    """
    n_rows = draw(st.integers(6, max_rows))
    n_features = draw(st.integers(1, max_features))
    max_trials = draw(st.integers(1, MAX_TRIALS))
    rng = np.random.default_rng(draw(seeds))
    X = rng.normal(size=(n_rows, n_features))
    intercept = rng.normal(scale=1.5, size=2)
    coef = rng.normal(size=(2, n_features))
    component = rng.integers(2, size=n_rows)
    eta = intercept[component] + (X * coef[component]).sum(axis=1)
    trials = rng.integers(0, max_trials + 1, size=n_rows)
    successes = rng.binomial(trials, expit(eta))
    return X, np.column_stack([successes, trials - successes]), rng


def _fit(X, y, n_components=2, **kwargs):
    params = {"n_init": 2, "random_state": 0, "tol": 1e-10, "algorithm": "em"}
    return BinomialRegressionMixture(n_components, **params, **kwargs).fit(X, y)


def _reference_log_joint(model, X, y):
    """``log w_k + binom.logpmf`` of every component and row, from scipy."""
    eta = model.intercept_[:, None] + model.coef_ @ X.T
    log_pmf = binom.logpmf(y[:, 0], y.sum(axis=1), expit(eta))
    return log_pmf + np.log(model.weights_)[:, None]


@settings(max_examples=10, deadline=None)
@given(regression_data())
def test_row_permutation_invariance(data):
    """Permuting the rows leaves the fit unchanged (the table is sorted)."""
    X, y, rng = data
    order = rng.permutation(len(X))
    model, permuted = _fit(X, y), _fit(X[order], y[order])
    assert_allclose(permuted.weights_, model.weights_, atol=1e-12)
    assert_allclose(permuted.coef_, model.coef_, atol=1e-10)
    assert_allclose(permuted.lower_bound_, model.lower_bound_, rtol=1e-12)


@settings(max_examples=10, deadline=None)
@given(regression_data())
def test_duplicated_rows_equal_integer_weights(data):
    """Repeating rows fits as the integer sample_weight that counts them."""
    X, y, rng = data
    weights = rng.integers(0, 4, size=len(X))
    weights[0] = 1
    kwargs = {"n_init": 2, "random_state": 0, "tol": 1e-10, "algorithm": "em"}
    weighted = BinomialRegressionMixture(2, **kwargs).fit(X, y, sample_weight=weights)
    repeated = _fit(np.repeat(X, weights, axis=0), np.repeat(y, weights, axis=0))
    assert_allclose(weighted.weights_, repeated.weights_, atol=1e-10)
    assert_allclose(weighted.coef_, repeated.coef_, atol=1e-8)
    assert_allclose(weighted.lower_bound_, repeated.lower_bound_, rtol=1e-10)


@settings(max_examples=10, deadline=None)
@given(regression_data(), st.floats(0.1, 10.0))
def test_rescaled_covariate_rescales_coef(data, scale):
    """``X[:, 0] * c`` gives ``coef_[:, 0] / c`` and the same log-likelihood.

    With one component the optimum is unique and the stopping rule (tol on
    the mean log-likelihood) bounds the coefficients' error by about
    sqrt(tol / curvature). (Two components are left out: on flat
    likelihoods the stopping rule does not pin one optimum, and rounding
    differences of the rescaled path end 1e-4 apart.)
    """
    X, y, _ = data
    scaled = X.copy()
    scaled[:, 0] *= scale
    single, single_scaled = _fit(X, y, 1), _fit(scaled, y, 1)
    if y.sum() and y[:, 0].sum() and y[:, 1].sum():
        assert_allclose(
            single_scaled.coef_[:, 0] * scale, single.coef_[:, 0], atol=1e-3, rtol=1e-3
        )
    assert_allclose(single_scaled.lower_bound_, single.lower_bound_, atol=1e-8)


@settings(max_examples=10, deadline=None)
@given(regression_data())
def test_log_likelihood_samples_is_logsumexp_of_scipy_terms(data):
    """Per-row log-likelihood and posteriors from scipy.stats.binom.logpmf.

    atol: a row without trials scores log(sum of weights), 0 up to rounding.
    """
    X, y, _ = data
    model = _fit(X, y)
    joint = _reference_log_joint(model, X, y)
    assert_allclose(
        model.log_likelihood_samples(X, y),
        logsumexp(joint, axis=0),
        rtol=1e-10,
        atol=1e-12,
    )
    posterior = np.exp(joint - logsumexp(joint, axis=0))
    assert_allclose(model.posterior_proba(X, y), posterior.T, atol=1e-10)
    assert_allclose(
        model.score(X, y), logsumexp(joint, axis=0).mean(), rtol=1e-10, atol=1e-12
    )


@settings(max_examples=10, deadline=None)
@given(regression_data())
def test_grouped_score_invariant_to_group_labels(data):
    """Relabelling and reordering the groups keeps the grouped log-likelihood.

    The reference is computed per group from scipy: ``log sum_k w_k
    prod_{i in g} Binomial(y_i)``.
    """
    X, y, rng = data
    groups = rng.integers(0, max(2, len(X) // 3), size=len(X))
    model = BinomialRegressionMixture(2, n_init=2, random_state=0).fit(
        X, y, groups=groups
    )
    joint = _reference_log_joint(model, X, y) - np.log(model.weights_)[:, None]
    expected = 0.0
    for group in np.unique(groups):
        rows = groups == group
        expected += logsumexp(joint[:, rows].sum(axis=1) + np.log(model.weights_))
    relabel = rng.permutation(100)[: groups.max() + 1]
    order = rng.permutation(len(X))
    score = model.score(X[order], y[order], groups=relabel[groups][order])
    assert_allclose(score * len(X), expected, rtol=1e-10, atol=1e-12)
