"""Tests of BinomialRegressionMixture against flexmix, statsmodels and scipy."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import expit, logsumexp
from scipy.stats import binom

from sklearn_coinem import BinomialRegressionMixture
from sklearn_coinem.datasets import load_betablocker
from tests import _references_flexmix as flexmix


def _simulate(rng, n_samples, intercept, coef, max_trials=30):
    X = rng.normal(size=(n_samples, coef.shape[1]))
    components = rng.integers(len(intercept), size=n_samples)
    trials = rng.integers(1, max_trials + 1, size=n_samples)
    eta = intercept[components] + (X * coef[components]).sum(axis=1)
    successes = rng.binomial(trials, expit(eta))
    return X, np.column_stack([successes, trials - successes])


@pytest.mark.parametrize("n_components", [1, 2, 3, 4])
def test_betablocker_shared_treatment_matches_flexmix(n_components):
    """Ungrouped FLXMRglmfix(fixed = ~ Treatment): log-likelihood, BIC, estimates."""
    data = load_betablocker()
    model = BinomialRegressionMixture(
        n_components, shared=[True], n_init=30, tol=1e-12, random_state=0
    ).fit(data.data, data.target)
    expected = flexmix.UNGROUPED_TREATMENT[n_components]
    log_lik = model.score(data.data, data.target) * 44
    assert log_lik >= expected["loglik"] - 1e-7
    assert_allclose(log_lik, expected["loglik"], atol=1e-6)
    assert_allclose(model.bic(data.data, data.target), expected["bic"], atol=2e-6)
    assert_allclose(model.intercept_, expected["intercept"], atol=1e-4)
    assert_allclose(model.coef_[:, 0], expected["treatment"], atol=1e-4)
    assert_allclose(model.weights_, expected["weights"], atol=1e-4)


def test_betablocker_varying_treatment_matches_flexmix():
    """A Treatment effect per component: flexmix's and mixtools' K=3 optimum."""
    data = load_betablocker()
    model = BinomialRegressionMixture(3, n_init=30, tol=1e-12, random_state=0)
    model.fit(data.data, data.target)
    expected = flexmix.UNGROUPED_VARYING[3]
    assert model.score(data.data, data.target) * 44 >= expected["loglik"] - 1e-7
    assert_allclose(model.bic(data.data, data.target), expected["bic"], atol=1e-5)
    assert_allclose(model.intercept_, expected["intercept"], atol=1e-4)
    assert_allclose(model.coef_[:, 0], expected["treatment"], atol=1e-4)


def test_one_component_equals_statsmodels():
    """K=1: coefficients and standard errors of a binomial GLM (test-only reference)."""
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(0)
    X, y = _simulate(rng, 300, np.array([-0.4]), np.array([[0.7, -1.1]]))
    weights = rng.integers(1, 4, size=300).astype(float)
    model = BinomialRegressionMixture(tol=1e-14).fit(X, y, sample_weight=weights)
    glm = sm.GLM(
        y, sm.add_constant(X), family=sm.families.Binomial(), freq_weights=weights
    ).fit(tol=1e-14)
    assert_allclose(np.r_[model.intercept_, model.coef_[0]], glm.params, rtol=1e-6)
    result = model.standard_errors(X, y, sample_weight=weights)
    assert_allclose(result["coef"][0], glm.bse, rtol=1e-5)
    assert_allclose(result.z[0], glm.tvalues, rtol=1e-5)


def test_score_samples_and_predict_match_scipy():
    """score_samples is logsumexp(log w + binom.logpmf); predict mixes expit."""
    rng = np.random.default_rng(1)
    X, y = _simulate(rng, 200, np.array([-1.5, 1.0]), np.array([[1.0], [-0.5]]))
    model = BinomialRegressionMixture(2, n_init=3, random_state=0).fit(X, y)
    eta = model.intercept_[:, None] + model.coef_ @ X.T
    log_pmf = binom.logpmf(y[:, 0], y.sum(axis=1), expit(eta))
    joint = log_pmf + np.log(model.weights_)[:, None]
    assert_allclose(
        model.log_likelihood_samples(X, y), logsumexp(joint, axis=0), rtol=1e-10
    )
    resp = np.exp(joint - logsumexp(joint, axis=0))
    assert_allclose(model.posterior_proba(X, y), resp.T, rtol=1e-9, atol=1e-12)
    assert_allclose(model.predict(X), model.weights_ @ expit(eta), rtol=1e-12)


def test_integer_sample_weight_equals_repeated_rows():
    """Weights 2 and 0 fit as duplicated and dropped rows."""
    rng = np.random.default_rng(2)
    X, y = _simulate(rng, 120, np.array([-1.0, 1.0]), np.array([[0.8], [-0.8]]))
    weights = rng.integers(0, 3, size=120)
    kwargs = {"n_components": 2, "n_init": 4, "tol": 1e-12, "random_state": 0}
    weighted = BinomialRegressionMixture(**kwargs).fit(X, y, sample_weight=weights)
    repeated = BinomialRegressionMixture(**kwargs).fit(
        np.repeat(X, weights, axis=0), np.repeat(y, weights, axis=0)
    )
    assert_allclose(weighted.intercept_, repeated.intercept_, atol=1e-6)
    assert_allclose(weighted.coef_, repeated.coef_, atol=1e-6)
    assert_allclose(weighted.weights_, repeated.weights_, atol=1e-6)


def test_shared_columns_by_mask_or_index():
    """A mask and indices name the same shared column; it is tied in coef_."""
    rng = np.random.default_rng(3)
    X, y = _simulate(
        rng, 300, np.array([-1.5, 1.5]), np.array([[1.0, 0.5], [-1.0, 0.5]])
    )
    kwargs = {"n_components": 2, "n_init": 3, "random_state": 0}
    by_mask = BinomialRegressionMixture(shared=[False, True], **kwargs).fit(X, y)
    by_index = BinomialRegressionMixture(shared=[1], **kwargs).fit(X, y)
    assert_array_equal(by_mask.coef_[0, 1], by_mask.coef_[1, 1])
    assert_allclose(by_mask.coef_, by_index.coef_)
    with pytest.raises(ValueError, match="one entry per feature"):
        BinomialRegressionMixture(shared=[True]).fit(X, y)


def test_sample_draws_at_the_covariates():
    """sample returns counts with the requested trials and valid labels."""
    data = load_betablocker()
    model = BinomialRegressionMixture(2, shared=[True], n_init=5, random_state=0)
    model.fit(data.data, data.target)
    y, labels = model.sample(data.data, 50, random_state=0)
    assert y.shape == (44, 2)
    assert_array_equal(y.sum(axis=1), 50)
    assert set(labels) <= {0, 1}


def test_bad_input():
    """A y without two non-negative columns, or weights varying in a group."""
    X = np.zeros((4, 1))
    with pytest.raises(ValueError, match="two columns"):
        BinomialRegressionMixture().fit(X, np.ones((4, 3)))
    with pytest.raises(ValueError, match="non-negative"):
        BinomialRegressionMixture().fit(X, -np.ones((4, 2)))
    with pytest.raises(ValueError, match="constant within each group"):
        BinomialRegressionMixture().fit(
            X, np.ones((4, 2)), sample_weight=[1, 2, 1, 1], groups=[0, 0, 1, 1]
        )


def test_binary_rows_warn_not_identifiable():
    """One trial per row cannot identify two components: a warning says so."""
    from sklearn_coinem._base import IdentifiabilityWarning

    rng = np.random.default_rng(4)
    X = rng.normal(size=(50, 1))
    successes = rng.integers(0, 2, size=50)
    y = np.column_stack([successes, 1 - successes])
    with pytest.warns(IdentifiabilityWarning, match="Follmann & Lambert"):
        BinomialRegressionMixture(2, random_state=0).fit(X, y)


@pytest.mark.parametrize("n_components", [1, 2, 3, 4])
def test_betablocker_grouped_by_centre_matches_flexmix(n_components):
    """``y ~ 1 | Center`` with a shared Treatment: flexmix's fit and BIC (n = 44)."""
    data = load_betablocker()
    model = BinomialRegressionMixture(
        n_components, shared=[True], n_init=30, tol=1e-12, random_state=0
    ).fit(data.data, data.target, groups=data.groups)
    expected = flexmix.GROUPED_TREATMENT[n_components]
    log_lik = model.score(data.data, data.target, groups=data.groups) * 44
    assert log_lik >= expected["loglik"] - 1e-7
    assert_allclose(log_lik, expected["loglik"], atol=1e-6)
    bic = model.bic(data.data, data.target, groups=data.groups)
    assert_allclose(bic, expected["bic"], atol=2e-6)
    assert_allclose(model.intercept_, expected["intercept"], atol=1e-4)
    assert_allclose(model.coef_[:, 0], expected["treatment"], atol=1e-4)
    assert_allclose(model.weights_, expected["weights"], atol=1e-4)


def test_betablocker_grouped_standard_errors_match_flexmix_refit():
    """K=3 grouped: Louis standard errors equal flexmix's refit (optim Hessian)."""
    data = load_betablocker()
    model = BinomialRegressionMixture(
        3, shared=[True], n_init=30, tol=1e-12, random_state=0
    ).fit(data.data, data.target, groups=data.groups)
    result = model.standard_errors(data.data, data.target, groups=data.groups)
    assert_array_equal(result["coef_status"], "estimated")
    expected = flexmix.GROUPED_TREATMENT_K3_REFIT
    assert_allclose(result["coef"][:, 0], expected["intercept_se"], rtol=1e-3)
    assert_allclose(result["coef"][:, 1], expected["treatment_se"], rtol=1e-3)
    assert_allclose(result.z[:, 1], expected["treatment_z"], rtol=1e-3)


def test_groups_of_single_rows_equal_no_groups():
    """One row per group is the ungrouped model."""
    rng = np.random.default_rng(5)
    X, y = _simulate(rng, 80, np.array([-1.0, 1.0]), np.array([[0.5], [-0.5]]))
    kwargs = {"n_components": 2, "n_init": 3, "tol": 1e-12, "random_state": 0}
    grouped = BinomialRegressionMixture(**kwargs).fit(X, y, groups=np.arange(80)[::-1])
    plain = BinomialRegressionMixture(**kwargs).fit(X, y)
    assert_allclose(grouped.coef_, plain.coef_, atol=1e-6)
    assert_allclose(
        grouped.score(X, y, groups=np.arange(80)), plain.score(X, y), rtol=1e-10
    )


def test_partial_fit_equals_fit_warm_started():
    """After chunks, the last partial_fit is fit on all rows from the same start."""
    rng = np.random.default_rng(6)
    X, y = _simulate(rng, 600, np.array([-1.5, 1.0]), np.array([[1.0], [-0.5]]))
    weights = rng.uniform(0.5, 1.5, 600)
    params = {"n_components": 2, "random_state": 0, "tol": 1e-10}
    model = BinomialRegressionMixture(**params)
    for start, stop in [(0, 200), (200, 450)]:
        model.partial_fit(
            X[start:stop], y[start:stop], sample_weight=weights[start:stop]
        )
    assert model._stream.total_weight == pytest.approx(weights[:450].sum())
    expected = BinomialRegressionMixture(**params, warm_start=True)
    expected.fit(X[:200], y[:200], sample_weight=weights[:200])
    expected.weights_, expected.intercept_ = model.weights_, model.intercept_
    expected.coef_ = model.coef_
    model.partial_fit(X[450:], y[450:], sample_weight=weights[450:])
    expected.fit(X, y, sample_weight=weights)
    assert_allclose(model.weights_, expected.weights_, atol=1e-10)
    assert_allclose(model.coef_, expected.coef_, atol=1e-10)
    assert_allclose(model.intercept_, expected.intercept_, atol=1e-10)


def test_partial_fit_first_call_equals_fit_and_one_component_is_glm():
    """The first chunk fits like fit; K=1 streams to the pooled GLM optimum."""
    rng = np.random.default_rng(7)
    X, y = _simulate(rng, 400, np.array([-0.4]), np.array([[0.7, -1.1]]))
    params = {"n_components": 2, "n_init": 3, "random_state": 0}
    first = BinomialRegressionMixture(**params).partial_fit(X, y)
    fitted = BinomialRegressionMixture(**params).fit(X, y)
    assert_allclose(first.coef_, fitted.coef_, atol=1e-12)
    streamed = BinomialRegressionMixture(tol=1e-14)
    for start in range(0, 400, 100):
        streamed.partial_fit(X[start : start + 100], y[start : start + 100])
    pooled = BinomialRegressionMixture(tol=1e-14).fit(X, y)
    assert_allclose(streamed.coef_, pooled.coef_, atol=1e-7)
    assert_allclose(streamed.intercept_, pooled.intercept_, atol=1e-7)


def test_partial_fit_rejects_bad_chunks_and_restarts_on_new_params():
    """Bad chunks leave the stream as it was; changed parameters start anew."""
    rng = np.random.default_rng(8)
    X, y = _simulate(rng, 100, np.array([-1.0, 1.0]), np.array([[0.8], [-0.8]]))
    model = BinomialRegressionMixture(2, random_state=0).partial_fit(X, y)
    stream, coef = model._stream, model.coef_.copy()
    with pytest.raises(ValueError, match="X has 2 features"):
        model.partial_fit(np.ones((5, 2)), y[:5])
    with pytest.raises(ValueError, match="not seen in fit"):
        model.partial_fit(X[:5], np.array([0, 1, 2, 1, 0]))
    assert model._stream is stream
    assert_array_equal(model.coef_, coef)
    model.set_params(shared=[0])
    with pytest.warns(UserWarning, match="starting a new stream"):
        model.partial_fit(X[:50], y[:50])
    assert model._stream.total_weight == 50
    model.fit(X, y)
    assert model._stream is None


def test_binary_outcomes_equal_one_trial_counts():
    """1-D 0/1, boolean and two-label y are rows of one trial, the larger a success."""
    rng = np.random.default_rng(9)
    X = rng.normal(size=(200, 2))
    outcomes = (rng.random(200) < expit(X @ [1.0, -0.5])).astype(int)
    counts = np.column_stack([outcomes, 1 - outcomes])
    expected = BinomialRegressionMixture(tol=1e-12).fit(X, counts)
    for y in (outcomes, outcomes.astype(bool), np.where(outcomes, "yes", "no")):
        model = BinomialRegressionMixture(tol=1e-12).fit(X, y)
        assert_allclose(model.coef_, expected.coef_, rtol=1e-12)
        assert_allclose(model.score(X, y), expected.score(X, counts), rtol=1e-12)
    model = BinomialRegressionMixture(tol=1e-12).fit(X, np.where(outcomes, 7, -3))
    assert_array_equal(model.outcome_labels_, [-3, 7])
    assert_allclose(model.coef_, expected.coef_, rtol=1e-12)


@pytest.mark.parametrize(
    "y, match",
    [
        (np.array([0, 1, 2, 1]), "must hold binary outcomes"),
        (np.array([0.2, 0.5, 0.2, 0.5]), "continuous"),
        (np.array([3, 3, 3, 3]), "one class"),
        (np.array([[1, 2], [0.5, 1], [1, 1], [0, 2]]), "integer counts"),
        (np.array([[1, -2], [1, 1], [1, 1], [0, 2]]), "non-negative counts"),
        (np.ones((4, 3)), "two columns"),
        (np.array([0, 1, 1, 0], dtype=object), "Unknown label type"),
    ],
)
def test_meaningless_y_raises(y, match):
    """Counts must be non-negative integers; 1-D y must be binary outcomes."""
    with pytest.raises(ValueError, match=match):
        BinomialRegressionMixture().fit(np.zeros((4, 1)), y)


def test_count_mixture_methods_are_absent():
    """predict_proba(X) and score_samples(X) do not exist: they would need y."""
    model = BinomialRegressionMixture()
    assert not hasattr(model, "predict_proba")
    with pytest.raises(AttributeError, match="posterior_proba"):
        model.predict_proba  # noqa: B018


def test_fit_warnings_point_at_the_caller():
    """A fit cut by max_iter warns, attributed to the line that called fit."""
    from sklearn.exceptions import ConvergenceWarning

    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 1))
    trials = rng.integers(5, 20, size=60)
    successes = rng.binomial(trials, 0.4)
    y = np.column_stack([successes, trials - successes])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        BinomialRegressionMixture(2, max_iter=1, random_state=0).fit(X, y)
    assert ConvergenceWarning in {w.category for w in record}
    assert all(w.filename == __file__ for w in record)
