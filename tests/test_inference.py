"""Information criteria, observed information, standard errors and alignment."""

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import expit, logit, logsumexp
from scipy.stats import binom, multinomial, norm
from sklearn.exceptions import NotFittedError

from sklearn_coinem import (
    BinomialMixture,
    IdentifiabilityWarning,
    _inference,
    align_components,
)
from sklearn_coinem._families import MultinomialFamily
from sklearn_coinem._inference import observed_information
from sklearn_coinem._table import RowTable
from sklearn_coinem.datasets import make_binomial_mixture
from tests.strategies import count_matrices, seeds


def _reference_component_logpmf(X, weights, probs):
    """log(w_k) + log Multinomial(x | p_k) from scipy, shape (n, K)."""
    n = X.sum(axis=1)
    return np.column_stack(
        [
            np.log(w) + multinomial.logpmf(X, n, p)
            for w, p in zip(weights, probs, strict=True)
        ]
    )


def _reference_loglik(X, weights, probs):
    """Full mixture log-likelihood from scipy's multinomial pmf."""
    return logsumexp(_reference_component_logpmf(X, weights, probs), axis=1).sum()


def _unpack(theta, weights, probs, free):
    """All weights and probs from the free parameters, the basis of ``free``."""
    weights, probs = weights.copy(), probs.copy()
    n_weights = len(free.weights)
    weights[free.weights] = theta[:n_weights]
    others = weights.sum() - weights[free.ref_weight]
    weights[free.ref_weight] = 1 - others
    basis = free.component
    probs[basis.comp, basis.col] = theta[n_weights:]
    for k, ref in enumerate(basis.ref):
        probs[k, ref] = 1 - (probs[k].sum() - probs[k, ref])
    return weights, probs


def _numerical_hessian(func, theta, step=1e-4):
    """Central-difference Hessian of a scalar function."""
    size = len(theta)
    hess = np.zeros((size, size))
    eye = np.eye(size) * step
    for i in range(size):
        for j in range(size):
            hess[i, j] = (
                func(theta + eye[i] + eye[j])
                - func(theta + eye[i] - eye[j])
                - func(theta - eye[i] + eye[j])
                + func(theta - eye[i] - eye[j])
            ) / (4 * step**2)
    return hess


FAMILY = MultinomialFamily()


def _table(X, sample_weight=None):
    return RowTable.compress(FAMILY, X, sample_weight)


def _information(table, weights, probs, update_weights=True):
    return observed_information(
        table, FAMILY, weights, {"probs": probs}, update_weights
    )


@pytest.mark.parametrize("update_weights", [True, False])
def test_observed_information_matches_numerical_hessian(update_weights):
    """Louis' information equals minus a finite-difference Hessian of scipy's loglik."""
    rng = np.random.default_rng(0)
    n_trials = rng.integers(2, 9, size=40)
    X = np.array([rng.multinomial(n, [0.2, 0.3, 0.5]) for n in n_trials])
    # An arbitrary interior point: Louis' identity holds away from the MLE too.
    weights = np.array([0.3, 0.5, 0.2])
    probs = rng.dirichlet(np.ones(3), size=3)
    info, score, free = _information(_table(X), weights, probs, update_weights)
    theta = np.concatenate(
        [weights[free.weights], probs[free.component.comp, free.component.col]]
    )
    assert len(theta) == (2 if update_weights else 0) + 3 * 2

    def loglik(t):
        return _reference_loglik(X, *_unpack(t, weights, probs, free))

    assert_allclose(info, -_numerical_hessian(loglik, theta), rtol=1e-5, atol=1e-3)


@settings(deadline=None, max_examples=25)
@given(
    X=count_matrices(max_rows=15, max_cols=3, max_trials=8, real=st.booleans()),
    n_components=st.integers(1, 3),
    seed=seeds,
)
def test_observed_information_property_matches_hessian(X, n_components, seed):
    """For any counts (also real-valued) and interior parameters, Louis = -Hessian."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(n_components, 5.0))
    probs = rng.dirichlet(np.full(X.shape[1], 5.0), size=n_components)
    info, _, free = _information(_table(X), weights, probs)
    theta = np.concatenate(
        [weights[free.weights], probs[free.component.comp, free.component.col]]
    )

    def loglik(t):
        w, p = _unpack(t, weights, probs, free)
        return logsumexp(np.log(w) + X @ np.log(p).T, axis=1).sum()

    step = 1e-3 * min(weights.min(), probs.min())
    hessian = _numerical_hessian(loglik, theta, step=step)
    assert_allclose(
        info, -hessian, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(info).max(initial=0))
    )


@pytest.mark.parametrize("few_coordinates", [0, 16])
def test_observed_information_in_blocks_matches_numerical_derivatives(
    few_coordinates, monkeypatch
):
    """Blocks of 7 rows, both product layouts: -Hessian and gradient of scipy's loglik.

    The responsibilities of every block are kept between the statistics and
    the score moments; each path (one product for few coordinates, one per
    component for more) must give Louis' information and the score.
    """
    monkeypatch.setattr(_inference, "_block_rows", lambda family, params: 7)
    monkeypatch.setattr(_inference, "_FEW_COORDINATES", few_coordinates)
    rng = np.random.default_rng(3)
    n_trials = rng.integers(2, 12, size=45)
    X = np.array([rng.multinomial(n, [0.1, 0.2, 0.3, 0.4]) for n in n_trials])
    sample_weight = rng.uniform(0.5, 3.0, size=len(X))
    weights = np.array([0.2, 0.5, 0.3])
    probs = rng.dirichlet(np.full(4, 3.0), size=3)
    info, score, free = _information(_table(X, sample_weight), weights, probs)
    assert free.n_free == 2 + 3 * 3
    theta = np.concatenate(
        [weights[free.weights], probs[free.component.comp, free.component.col]]
    )

    def loglik(t):
        component = _reference_component_logpmf(X, *_unpack(t, weights, probs, free))
        return sample_weight @ logsumexp(component, axis=1)

    step = 1e-5
    gradient = [
        (loglik(theta + step * e) - loglik(theta - step * e)) / (2 * step)
        for e in np.eye(len(theta))
    ]
    assert_allclose(score, gradient, rtol=1e-6, atol=1e-6)
    assert_allclose(info, -_numerical_hessian(loglik, theta), rtol=1e-5, atol=1e-3)


def test_observed_information_negligible_responsibilities():
    """Rows that a component explains with probability below 1e-150 add nothing.

    Two coins far apart, on rows of 400 flips: most responsibilities are far
    below 1e-150 (set to 0, not left subnormal). The information still
    equals minus scipy's Hessian.
    """
    rng = np.random.default_rng(4)
    heads = np.concatenate([rng.binomial(400, 0.05, 30), rng.binomial(400, 0.9, 30)])
    X = np.column_stack([heads, 400 - heads])
    weights, probs = np.array([0.5, 0.5]), np.array([[0.05, 0.95], [0.9, 0.1]])
    info, score, free = _information(_table(X), weights, probs)
    theta = np.concatenate(
        [weights[free.weights], probs[free.component.comp, free.component.col]]
    )
    log_joint = _reference_component_logpmf(X, weights, probs)
    assert np.mean(log_joint.min(axis=1) - log_joint.max(axis=1) < -345) > 0.9

    def loglik(t):
        return _reference_loglik(X, *_unpack(t, weights, probs, free))

    hessian = _numerical_hessian(loglik, theta, step=1e-5)
    assert_allclose(info, -hessian, rtol=1e-5, atol=1e-3)


@settings(deadline=None, max_examples=30)
@given(
    X=count_matrices(max_rows=20, max_cols=3, max_trials=10, real=st.booleans()),
    n_components=st.integers(1, 3),
    seed=seeds,
)
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_standard_errors_property_nan_only_with_reason(X, n_components, seed):
    """On any data, an SE is NaN exactly when its status explains why."""
    if X.shape[0] < n_components:
        return
    bm = BinomialMixture(n_components, random_state=seed).fit(X)
    se = bm.standard_errors(X)
    for values, status in [
        (se.weights, se.weights_status),
        (se.probs, se.probs_status),
    ]:
        estimated = np.isin(status, ["estimated", "fixed", "near boundary"])
        assert np.all(np.isfinite(values[estimated]))
        assert np.all(values[estimated] >= 0)
        assert np.all(np.isnan(values[~estimated]))
    assert (se.message == "") == bool(
        np.isin(se.probs_status, ["estimated"]).all()
        and np.isin(se.weights_status, ["estimated", "fixed"]).all()
        and not se.newton_decrement > 0.2
    )


def test_standard_errors_match_inverse_numerical_hessian():
    """SEs of every weight and prob equal the delta method on a numerical Hessian."""
    X, _ = make_binomial_mixture(
        150, weights=[0.3, 0.7], probs=[0.85, 0.35], n_trials=(4, 12), random_state=1
    )
    bm = BinomialMixture(2, pseudo_count=0, tol=1e-12, random_state=0).fit(X)
    se = bm.standard_errors(X)
    weights, probs = bm.weights_, bm.probs_
    # Independent basis: weight 0 and the heads probabilities.
    theta = np.array([weights[0], probs[0, 0], probs[1, 0]])

    def loglik(t):
        w = np.array([t[0], 1 - t[0]])
        p = np.array([[t[1], 1 - t[1]], [t[2], 1 - t[2]]])
        return _reference_loglik(X, w, p)

    cov = np.linalg.inv(-_numerical_hessian(loglik, theta, step=1e-5))
    expected = np.sqrt(np.diag(cov))
    assert_allclose(se.weights, [expected[0], expected[0]], rtol=1e-4)
    assert_allclose(se.probs[:, 0], expected[1:], rtol=1e-4)
    assert_allclose(se.probs[:, 1], expected[1:], rtol=1e-4)
    z = norm.ppf(0.975)
    wald = bm.standard_errors(X, interval="wald")
    assert_allclose(wald.probs_ci[:, 0, 0], probs[:, 0] - z * expected[1:], rtol=1e-4)
    p = probs[:, 0]
    lower = expit(logit(p) - z * expected[1:] / (p * (1 - p)))
    assert_allclose(se.probs_ci[:, 0, 0], lower, rtol=1e-4)


def test_aic_bic_match_flexmix_convention():
    """AIC/BIC are -2 L + 2p and -2 L + log(n) p, L from scipy.stats.binom."""
    X, _ = make_binomial_mixture(
        120,
        weights=[0.2, 0.5, 0.3],
        probs=[0.9, 0.5, 0.1],
        n_trials=(5, 20),
        random_state=2,
    )
    bm = BinomialMixture(3, pseudo_count=0, n_init=3, random_state=0).fit(X)
    n = X.sum(axis=1)
    log_comp = np.log(bm.weights_) + binom.logpmf(
        X[:, [0]], n[:, None], bm.probs_[:, 0]
    )
    loglik = logsumexp(log_comp, axis=1).sum()
    n_params = 2 + 3  # two free weights, one heads probability per coin
    assert_allclose(bm.aic(X), -2 * loglik + 2 * n_params, rtol=1e-10)
    assert_allclose(bm.bic(X), -2 * loglik + np.log(120) * n_params, rtol=1e-10)


def test_bic_fixed_weights_count_no_weight_parameters():
    """With update_weights=False the count is K * (C - 1) for a multinomial."""
    rng = np.random.default_rng(3)
    X = rng.multinomial(12, [0.5, 0.3, 0.2], size=80)
    bm = BinomialMixture(2, update_weights=False, random_state=0).fit(X)
    loglik = _reference_loglik(X, bm.weights_, bm.probs_)
    assert_allclose(bm.bic(X), -2 * loglik + np.log(80) * 2 * 2, rtol=1e-10)
    assert_allclose(bm.aic(X), -2 * loglik + 2 * 2 * 2, rtol=1e-10)


def test_bic_sample_weight_equals_repeated_rows():
    """Integer sample weights give the BIC of the repeated rows (n = weight sum)."""
    rng = np.random.default_rng(4)
    X = rng.binomial(10, 0.4, size=(30, 1))
    X = np.hstack([X, 10 - X])
    sample_weight = rng.integers(0, 4, size=30)
    bm = BinomialMixture(2, random_state=0).fit(X, sample_weight=sample_weight)
    repeated = np.repeat(X, sample_weight, axis=0)
    loglik = _reference_loglik(repeated, bm.weights_, bm.probs_)
    expected = -2 * loglik + np.log(sample_weight.sum()) * 3
    assert_allclose(bm.bic(X, sample_weight=sample_weight), expected, rtol=1e-10)
    assert_allclose(bm.bic(repeated), expected, rtol=1e-10)


def test_icl_is_flexmix_complete_likelihood_criterion():
    """ICL = -2 * complete loglik of the MAP classification + log(n) p (flexmix)."""
    X, _ = make_binomial_mixture(
        100, probs=[0.7, 0.4], n_trials=(3, 10), random_state=5
    )
    bm = BinomialMixture(2, random_state=0).fit(X)
    log_comp = _reference_component_logpmf(X, bm.weights_, bm.probs_)
    log_resp = log_comp - logsumexp(log_comp, axis=1, keepdims=True)
    classification = log_comp.argmax(axis=1)
    complete = log_comp[np.arange(100), classification].sum()
    assert_allclose(bm.icl(X), -2 * complete + np.log(100) * 3, rtol=1e-10)
    hard_entropy = -log_resp.max(axis=1).sum()
    assert_allclose(bm.icl(X), bm.bic(X) + 2 * hard_entropy, rtol=1e-10)
    assert bm.icl(X) > bm.bic(X)


def _coverage(weights, probs, n_samples, n_trials, seed, n_datasets=1000):
    """Fraction of simulated data sets whose 95% intervals cover each parameter."""
    rng = np.random.default_rng(seed)
    covered_w = np.zeros(len(weights))
    covered_p = np.zeros(probs.shape)
    for rep in range(n_datasets):
        X, _ = make_binomial_mixture(
            n_samples,
            weights=weights,
            probs=probs,
            n_trials=n_trials,
            random_state=int(rng.integers(2**31)),
        )
        bm = BinomialMixture(
            len(weights), tol=1e-10, pseudo_count=0, random_state=rep
        ).fit(X)
        perm = align_components(probs, bm)
        se = bm.standard_errors(X)
        ci_w, ci_p = se.weights_ci[perm], se.probs_ci[perm]
        covered_w += (ci_w[:, 0] <= weights) & (weights <= ci_w[:, 1])
        covered_p += (ci_p[..., 0] <= probs) & (probs <= ci_p[..., 1])
    return np.concatenate([covered_w, covered_p.ravel()]) / n_datasets


@pytest.mark.slow
def test_standard_errors_coverage_by_simulation():
    """95% Wald intervals cover each true parameter in 93-97% of 1000 data sets."""
    weights = np.array([0.4, 0.6])
    probs = np.array([[0.8, 0.2], [0.3, 0.7]])
    coverage = _coverage(weights, probs, 200, (5, 15), seed=0)
    print("coverage of weights[0..1], probs[0,0..1], probs[1,0..1]:", coverage)
    assert np.all((coverage >= 0.93) & (coverage <= 0.97)), coverage


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Standard errors. the Wald intervals:UserWarning")
def test_standard_errors_coverage_multinomial_by_simulation():
    """Three-outcome components: 95% intervals cover in 93-97% of 1000 data sets."""
    weights = np.array([0.35, 0.65])
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.3, 0.5]])
    coverage = _coverage(weights, probs, 200, (4, 10), seed=4)
    print("coverage of weights, then probs row by row:", coverage)
    assert np.all((coverage >= 0.93) & (coverage <= 0.97)), coverage


def test_standard_errors_shapes_and_table():
    """The Bunch has the shapes of weights_/probs_ and a tidy table per parameter."""
    pd = pytest.importorskip("pandas")
    X, _ = make_binomial_mixture(
        300, probs=[[0.6, 0.3, 0.1], [0.1, 0.3, 0.6]], n_trials=8, random_state=6
    )
    bm = BinomialMixture(2, random_state=0).fit(pd.DataFrame(X, columns=list("abc")))
    se = bm.standard_errors(pd.DataFrame(X, columns=list("abc")), confidence=0.9)
    assert se.weights.shape == bm.weights_.shape
    assert se.probs.shape == bm.probs_.shape
    assert se.probs_ci.shape == (2, 3, 2)
    assert np.all(np.isfinite(se.probs)) and np.all(se.probs > 0)
    # The two weights (and each row's dependent prob) share one free direction.
    assert_allclose(se.weights[0], se.weights[1])
    table = se.table
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == [
        "parameter",
        "component",
        "outcome",
        "estimate",
        "std_error",
        "ci_low",
        "ci_high",
        "status",
    ]
    assert len(table) == 2 + 6
    assert list(table["outcome"][2:5]) == ["a", "b", "c"]
    assert_allclose(table["std_error"][2:], se.probs.ravel())
    # Weights on the logit scale; the probabilities of dice keep Wald intervals.
    estimate, z = table["estimate"], norm.ppf(0.95)
    slope = 1 / (estimate * (1 - estimate))
    logit_high = expit(logit(estimate) + z * table["std_error"] * slope)
    wald_high = np.minimum(estimate + z * table["std_error"], 1.0)
    weight = table["parameter"] == "weight"
    assert_allclose(table["ci_high"][weight], logit_high[weight], rtol=1e-10)
    assert_allclose(table["ci_high"][~weight], wald_high[~weight], rtol=1e-10)


def test_standard_errors_table_without_pandas(monkeypatch):
    """Without pandas the table is a numpy record array with the same columns."""
    monkeypatch.setitem(sys.modules, "pandas", None)
    X, _ = make_binomial_mixture(100, random_state=7)
    se = BinomialMixture(2, random_state=0).fit(X).standard_errors(X)
    assert isinstance(se.table, np.recarray)
    assert_array_equal(se.table["status"], ["estimated"] * 6)
    assert_allclose(se.table["std_error"][:2], se.weights)


def test_standard_errors_boundary_estimates_are_nan():
    """A coin with probability 1 gets NaN SEs and a warning; the others stay finite."""
    X = np.array([[10, 0]] * 20 + [[3, 7], [4, 6], [5, 5]] * 10)
    bm = BinomialMixture(2, random_state=0).fit(X)
    with pytest.warns(UserWarning, match="boundary of the parameter space"):
        se = bm.standard_errors(X)
    heads_coin = int(np.argmax(bm.probs_[:, 0]))
    assert np.all(np.isnan(se.probs[heads_coin]))
    assert np.all(np.isnan(se.probs_ci[heads_coin]))
    assert_array_equal(se.probs_status[heads_coin], ["boundary", "boundary"])
    assert np.all(np.isfinite(se.probs[1 - heads_coin]))
    assert np.all(np.isfinite(se.weights))
    assert "boundary" in se.message


def test_standard_errors_singular_information_is_nan():
    """Duplicated components make the information singular: NaN, explained."""
    X, _ = make_binomial_mixture(200, probs=[0.7, 0.2], n_trials=10, random_state=8)
    bm = BinomialMixture(
        3, probs_init=[[0.7, 0.3], [0.2, 0.8], [0.2, 0.8]], random_state=0
    ).fit(X)
    with pytest.warns(UserWarning, match="information matrix is singular"):
        se = bm.standard_errors(X)
    assert np.all(np.isnan(se.weights)) and np.all(np.isnan(se.probs))
    assert set(se.probs_status.ravel()) == {"singular information"}


def test_standard_errors_unidentifiable_data_is_nan():
    """Two coins from single flips are not identifiable: NaN, not a number."""
    rng = np.random.default_rng(9)
    heads = rng.binomial(1, 0.5, size=(50, 1))
    X = np.hstack([heads, 1 - heads])
    with pytest.warns(IdentifiabilityWarning, match="not identifiable"):
        bm = BinomialMixture(2, probs_init=[[0.7, 0.3], [0.2, 0.8]], max_iter=0)
        bm.fit(X)
    with pytest.warns(UserWarning, match="singular"):
        se = bm.standard_errors(X)
    assert np.all(np.isnan(se.probs))


def test_standard_errors_fixed_weights_are_zero():
    """Weights held fixed are constants: standard error 0, interval a point."""
    X, _ = make_binomial_mixture(200, probs=[0.8, 0.3], random_state=10)
    bm = BinomialMixture(2, update_weights=False, random_state=0).fit(X)
    se = bm.standard_errors(X)
    assert_array_equal(se.weights, [0.0, 0.0])
    assert_array_equal(se.weights_status, ["fixed", "fixed"])
    assert_allclose(se.weights_ci, np.column_stack([bm.weights_, bm.weights_]))
    assert np.all(np.isfinite(se.probs))


def test_standard_errors_unfitted_raises():
    """Standard errors of an unfitted model raise NotFittedError."""
    with pytest.raises(NotFittedError, match="not fitted"):
        BinomialMixture(2).standard_errors([[1, 2], [3, 4]])


@pytest.mark.parametrize("confidence", [0, 1, 1.5, -0.1])
def test_standard_errors_invalid_confidence_raises(confidence):
    """Confidence outside (0, 1) is rejected."""
    X, _ = make_binomial_mixture(20, random_state=11)
    bm = BinomialMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="confidence must be in"):
        bm.standard_errors(X, confidence=confidence)


def test_criteria_unfitted_and_wrong_width_raise():
    """aic/bic/icl need a fitted model and the training number of columns."""
    with pytest.raises(NotFittedError):
        BinomialMixture(2).bic([[1, 2]])
    X, _ = make_binomial_mixture(20, random_state=12)
    bm = BinomialMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="features"):
        bm.aic(np.ones((3, 3)))
    with pytest.raises(ValueError, match="Negative values"):
        bm.icl([[1, -1]])


def test_align_components_recovers_permutation():
    """A shuffled copy of the components is matched back to the reference."""
    rng = np.random.default_rng(13)
    reference = rng.dirichlet(np.ones(4), size=5)
    perm = rng.permutation(5)
    noisy = reference[perm] + rng.normal(0, 1e-3, size=(5, 4))
    found = align_components(reference, noisy)
    assert_allclose(noisy[found], reference, atol=1e-2)
    assert_array_equal(perm[found], np.arange(5))


def test_align_components_fitted_models_and_coins():
    """Fitted mixtures and 1-D heads probabilities are accepted."""
    X, _ = make_binomial_mixture(300, probs=[0.9, 0.2], random_state=14)
    bm = BinomialMixture(2, random_state=0).fit(X)
    found = align_components([0.2, 0.9], bm)
    assert_allclose(bm.probs_[found, 0], [0.2, 0.9], atol=0.05)
    assert_array_equal(align_components(bm, bm), [0, 1])


def test_align_components_more_components_and_errors():
    """Extra components are left out; fewer components or other widths raise."""
    found = align_components([[0.9, 0.1]], [[0.5, 0.5], [0.85, 0.15], [0.1, 0.9]])
    assert_array_equal(found, [1])
    with pytest.raises(ValueError, match="fewer than"):
        align_components([[0.9, 0.1], [0.1, 0.9]], [[0.5, 0.5]])
    with pytest.raises(ValueError, match="different numbers of outcomes"):
        align_components([[0.9, 0.1]], [[0.5, 0.25, 0.25]])
    with pytest.raises(ValueError, match="fitted BinomialMixture or a finite"):
        align_components([[np.nan, 0.1]], [[0.5, 0.5]])


def test_standard_errors_single_component_closed_form():
    """With K=1 the SE of p is sqrt(p (1 - p) / total trials), the weight fixed."""
    rng = np.random.default_rng(15)
    X = rng.multinomial(7, [0.5, 0.3, 0.2], size=90)
    bm = BinomialMixture(1, pseudo_count=0).fit(X)
    se = bm.standard_errors(X)
    p = X.sum(axis=0) / X.sum()
    assert_allclose(se.probs[0], np.sqrt(p * (1 - p) / X.sum()), rtol=1e-10)
    assert_array_equal(se.weights, [0.0])


def test_standard_errors_separated_components_rare_outcome():
    """Separated components, rare outcome: multinomial SEs, not a singular flag."""
    rng = np.random.default_rng(16)
    probs = np.array([[0.6, 0.3999, 1e-4], [0.1, 0.8999, 1e-4]])
    labels = np.repeat([0, 1], [40, 60])
    X = np.array([rng.multinomial(100_000, probs[k]) for k in labels])
    bm = BinomialMixture(2, pseudo_count=0, tol=1e-12, random_state=0).fit(X)
    se = bm.standard_errors(X)
    order = align_components(probs, bm)
    trials = np.array([X[labels == k].sum() for k in (0, 1)])
    p_hat = bm.probs_[order]
    assert_allclose(
        se.probs[order], np.sqrt(p_hat * (1 - p_hat) / trials[:, None]), rtol=1e-6
    )
    w_hat = bm.weights_[order]
    assert_allclose(se.weights[order], np.sqrt(w_hat * (1 - w_hat) / 100), rtol=1e-6)


def test_standard_errors_empty_component_is_nan():
    """A component held at weight 0 has unidentified probabilities: NaN."""
    X, _ = make_binomial_mixture(150, probs=[0.8, 0.3], random_state=17)
    bm = BinomialMixture(
        3, weights_init=[0.5, 0.5, 0.0], update_weights=False, random_state=0
    ).fit(X)
    with pytest.warns(UserWarning, match="not identified"):
        se = bm.standard_errors(X)
    empty = int(np.flatnonzero(bm.weights_ == 0)[0])
    assert np.all(np.isnan(se.probs[empty]))
    assert_array_equal(se.probs_status[empty], ["empty component"] * 2)
    others = np.delete(np.arange(3), empty)
    assert np.all(np.isfinite(se.probs[others]))


def test_standard_errors_warn_away_from_maximum():
    """SEs on other data than the fit's warn that they are not at a maximum."""
    X, _ = make_binomial_mixture(300, probs=[0.8, 0.3], random_state=18)
    other, _ = make_binomial_mixture(300, probs=[0.7, 0.4], random_state=19)
    bm = BinomialMixture(2, tol=1e-10, random_state=0).fit(X)
    assert bm.standard_errors(X).newton_decrement < 1e-3
    with pytest.warns(UserWarning, match="away from the maximum"):
        se = bm.standard_errors(other)
    assert se.newton_decrement > 1


def test_newton_decrement_measures_distance_to_maximum():
    """At parameters 1.5 SEs from the MLE, the Newton decrement is about 1.5."""
    X, _ = make_binomial_mixture(
        100_000,
        weights=[0.35, 0.65],
        probs=[0.6, 0.45],
        n_trials=(5, 20),
        random_state=0,
    )
    rows, counts = np.unique(X, axis=0, return_counts=True)
    n = rows.sum(axis=1)

    def loglik(t):
        log_comp = np.log([t[0], 1 - t[0]]) + binom.logpmf(
            rows[:, [0]], n[:, None], np.array([t[1], t[2]])
        )
        return counts @ logsumexp(log_comp, axis=1)

    mle = BinomialMixture(2, tol=1e-13, max_iter=10_000, random_state=0).fit(X)
    theta = np.array([mle.weights_[0], *mle.probs_[:, 0]])
    cov = np.linalg.inv(-_numerical_hessian(loglik, theta, step=1e-5))
    # A step of Mahalanobis length 1.5 in the basis (weight 0, heads 0, heads 1).
    shifted = theta + 1.5 * np.linalg.cholesky(cov) @ (np.ones(3) / np.sqrt(3))
    # max_iter=0 keeps the given starting point as the "fit".
    moved = BinomialMixture(
        2,
        weights_init=[shifted[0], 1 - shifted[0]],
        probs_init=np.column_stack([shifted[1:], 1 - shifted[1:]]),
        max_iter=0,
    ).fit(X)
    assert mle.standard_errors(X).newton_decrement < 1e-2
    with pytest.warns(UserWarning, match="1.5 standard errors"):
        decrement = moved.standard_errors(X).newton_decrement
    assert_allclose(decrement, 1.5, rtol=0.05)


@pytest.mark.parametrize(
    "n_components, n_features, update_weights, n_params",
    [(3, 4, True, 2 + 3 * 3), (3, 4, False, 3 * 3), (1, 4, True, 3), (1, 4, False, 3)],
)
def test_aic_parameter_count_multinomial(
    n_components, n_features, update_weights, n_params
):
    """AIC counts (K - 1) free weights, if estimated, and K (C - 1) probabilities."""
    rng = np.random.default_rng(20)
    X = rng.multinomial(15, np.full(n_features, 1 / n_features), size=60)
    bm = BinomialMixture(
        n_components, update_weights=update_weights, random_state=0
    ).fit(X)
    loglik = _reference_loglik(X, bm.weights_, bm.probs_)
    assert_allclose(bm.aic(X), -2 * loglik + 2 * n_params, rtol=1e-10)
    assert_allclose(bm.bic(X), -2 * loglik + np.log(60) * n_params, rtol=1e-10)


@pytest.mark.parametrize(
    "n_components, n_features, update_weights", [(2, 4, True), (3, 3, False)]
)
def test_standard_errors_multinomial_match_hessian_last_column_basis(
    n_components, n_features, update_weights
):
    """Multinomial SEs equal a numerical Hessian in a basis without last entries."""
    rng = np.random.default_rng(21)
    true_probs = rng.dirichlet(np.full(n_features, 2.0), size=n_components)
    X, _ = make_binomial_mixture(
        300, probs=true_probs, n_trials=(5, 15), random_state=22
    )
    bm = BinomialMixture(
        n_components,
        update_weights=update_weights,
        pseudo_count=0,
        tol=1e-14,
        max_iter=20_000,
        n_init=3,
        random_state=0,
    ).fit(X)
    n_w = n_components - 1 if update_weights else 0

    def unpack(t):
        w = np.append(t[:n_w], 1 - t[:n_w].sum()) if update_weights else bm.weights_
        p = t[n_w:].reshape(n_components, n_features - 1)
        return w, np.column_stack([p, 1 - p.sum(axis=1)])

    theta = np.concatenate([bm.weights_[:n_w], bm.probs_[:, :-1].ravel()])
    hessian = _numerical_hessian(
        lambda t: _reference_loglik(X, *unpack(t)), theta, step=1e-5
    )
    cov = np.linalg.inv(-hessian)
    # Linear maps from theta to every weight and every probability.
    jac_w = np.zeros((n_components, len(theta)))
    jac_w[:n_w, :n_w] = np.eye(n_w)
    jac_w[-1, :n_w] = -1 if update_weights else 0
    jac_p = np.zeros((n_components, n_features, len(theta)))
    for k in range(n_components):
        cols = n_w + k * (n_features - 1) + np.arange(n_features - 1)
        jac_p[k, np.arange(n_features - 1), cols] = 1
        jac_p[k, -1, cols] = -1
    expected_w = np.sqrt(np.einsum("kp,pq,kq->k", jac_w, cov, jac_w))
    expected_p = np.sqrt(np.einsum("kcp,pq,kcq->kc", jac_p, cov, jac_p))
    se = bm.standard_errors(X)
    assert_allclose(se.probs, expected_p, rtol=1e-4)
    assert_allclose(se.weights, expected_w, rtol=1e-4, atol=0)


def test_standard_errors_interval_crossing_boundary_is_flagged():
    """A weight whose interval reaches below 0 keeps its SE but is flagged."""
    X, _ = make_binomial_mixture(
        300, probs=[0.8, 0.3], n_trials=(10, 20), random_state=3
    )
    # One outlier row with many trials gets a component of its own.
    X = np.vstack([X, [[0, 200]]])
    bm = BinomialMixture(3, n_init=5, random_state=0).fit(X)
    small = int(np.argmin(bm.weights_))
    assert bm.weights_[small] < 0.01
    with pytest.warns(UserWarning, match="cross 0 or 1"):
        se = bm.standard_errors(X)
    assert se.weights_status[small] == "near boundary"
    assert np.isfinite(se.weights[small])
    assert bm.weights_[small] - norm.ppf(0.975) * se.weights[small] < 0
    assert 0 < se.weights_ci[small, 0] < bm.weights_[small]
    wald = bm.standard_errors(X, interval="wald")
    assert wald.weights_ci[small, 0] == 0.0
    others = np.delete(np.arange(3), small)
    assert_array_equal(se.weights_status[others], ["estimated", "estimated"])


def test_standard_errors_sample_weight():
    """Integer weights give the SEs of repeated rows; K=1 has the closed form."""
    rng = np.random.default_rng(23)
    X, _ = make_binomial_mixture(
        120, probs=[0.8, 0.3], n_trials=(5, 15), random_state=23
    )
    sample_weight = rng.integers(0, 4, size=len(X))
    bm = BinomialMixture(2, tol=1e-12, random_state=0)
    bm.fit(X, sample_weight=sample_weight)
    weighted = bm.standard_errors(X, sample_weight=sample_weight)
    repeated = bm.standard_errors(np.repeat(X, sample_weight, axis=0))
    assert_allclose(weighted.weights, repeated.weights, rtol=1e-10)
    assert_allclose(weighted.probs, repeated.probs, rtol=1e-10)
    real_weight = rng.uniform(0.1, 3.0, size=len(X))
    single = BinomialMixture(1, pseudo_count=0).fit(X, sample_weight=real_weight)
    se = single.standard_errors(X, sample_weight=real_weight)
    n_trials = real_weight @ X.sum(axis=1)
    p = real_weight @ X / n_trials
    assert_allclose(se.probs[0], np.sqrt(p * (1 - p) / n_trials), rtol=1e-10)


def test_standard_errors_boundary_held_fixed_match_hessian():
    """With one probability at 0, the other SEs equal a Hessian that fixes it."""
    rng = np.random.default_rng(5)
    X = np.vstack(
        [
            rng.multinomial(10, [0.7, 0.3, 0.0], size=80),
            rng.multinomial(10, [0.2, 0.3, 0.5], size=120),
        ]
    )
    bm = BinomialMixture(
        2, pseudo_count=0, tol=1e-14, max_iter=20_000, n_init=3, random_state=0
    ).fit(X)
    a = int(np.argmin(bm.probs_[:, 2]))
    b = 1 - a
    # At (or, once Newton steps certify the fit, within rounding of) zero.
    assert bm.probs_[a, 2] < 1e-9

    def loglik(t):
        weights, probs = np.zeros(2), np.zeros((2, 3))
        weights[[a, b]] = t[0], 1 - t[0]
        probs[a] = t[1], 1 - t[1], 0
        probs[b] = t[2], t[3], 1 - t[2] - t[3]
        return _reference_loglik(X, weights, probs)

    theta = np.array([bm.weights_[a], bm.probs_[a, 0], *bm.probs_[b, :2]])
    cov = np.linalg.inv(-_numerical_hessian(loglik, theta, step=1e-5))
    with pytest.warns(UserWarning, match="boundary"):
        se = bm.standard_errors(X)
    assert_array_equal(se.probs_status[a], ["estimated", "estimated", "boundary"])
    assert np.isnan(se.probs[a, 2])
    sd = np.sqrt(np.diag(cov))
    assert_allclose(se.weights, [sd[0], sd[0]], rtol=1e-5)
    assert_allclose(se.probs[a, :2], [sd[1], sd[1]], rtol=1e-5)
    last = np.sqrt(cov[2, 2] + cov[3, 3] + 2 * cov[2, 3])
    assert_allclose(se.probs[b], [sd[2], sd[3], last], rtol=1e-5)


def test_standard_errors_rejects_unknown_interval():
    """An unknown interval scale is a clear error."""
    X, _ = make_binomial_mixture(100, random_state=0)
    bm = BinomialMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="must be 'logit', 'wald' or 'profile'"):
        bm.standard_errors(X, interval="bootstrap")
