"""Tests of the binomial-regression family against independent references."""

from types import SimpleNamespace

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import minimize
from scipy.special import expit, log_expit, logsumexp
from scipy.stats import binom
from sklearn.utils import check_random_state

from sklearn_coinem._binomial_regression_mixture import (
    evenly_spaced_rows,
    refine_on_subsample,
)
from sklearn_coinem._families import _binomial_regression
from sklearn_coinem._families._binomial_regression import (
    CURVATURES,
    BinomialRegressionFamily,
    binomial_logit_pieces,
    jaakkola_jordan_weight,
    minorised_gain,
    tied_newton_step,
    weighted_outer_sums,
)
from sklearn_coinem._groups import group_layout, grouped_e_step
from sklearn_coinem._initialization import initial_parameters
from sklearn_coinem._solver import run_em
from sklearn_coinem._table import RowTable
from sklearn_coinem.datasets import load_betablocker
from tests import _references_flexmix as flexmix

MONOTONE = ["certified-newton", "jaakkola-jordan", "bohning"]


def _block(X, design, weights=None):
    weights = np.ones(len(X)) if weights is None else weights
    return SimpleNamespace(X=np.asarray(X, float), design=design, weights=weights)


def _simulate(rng, n_samples, coef, max_trials=30):
    """Rows drawn from a mixture of logistic regressions with an intercept column."""
    n_components, n_cols = coef.shape
    design = np.column_stack(
        [np.ones(n_samples), rng.normal(size=(n_samples, n_cols - 1))]
    )
    components = rng.integers(n_components, size=n_samples)
    trials = rng.integers(1, max_trials + 1, size=n_samples)
    successes = rng.binomial(trials, expit((design * coef[components]).sum(axis=1)))
    return _block(np.column_stack([successes, trials - successes]), design)


def _scipy_log_lik(block, coef, weights):
    """Mixture log-likelihood per run from scipy.stats.binom.logpmf, shape (R,)."""
    successes, failures = block.X.T
    probs = expit(coef @ block.design.T)
    log_pmf = binom.logpmf(successes, successes + failures, probs)
    joint = log_pmf + np.log(weights)[..., None]
    return (block.weights * logsumexp(joint, axis=1)).sum(axis=-1)


def _em(family, block, coef, weights, n_iter):
    """Plain EM with the family's M-step; the log-likelihood trace from scipy."""
    params, trace = {"coef": coef}, []
    for _ in range(n_iter):
        trace.append(_scipy_log_lik(block, params["coef"], weights))
        log_prob = family.log_prob(block, params) + np.log(weights)[..., None]
        resp = np.exp(log_prob - logsumexp(log_prob, axis=1, keepdims=True))
        resp *= block.weights
        nk = resp.sum(axis=-1)
        weights = nk / nk.sum(axis=-1, keepdims=True)
        params = family.m_step(family.accumulate(block, resp, params), nk, params)
    trace.append(_scipy_log_lik(block, params["coef"], weights))
    return np.array(trace), params["coef"], weights


def _random_start(family, block, n_runs, n_components, rng):
    starts = [
        family.init_params(block, rng.dirichlet(np.ones(n_components), len(block.X)))
        for _ in range(n_runs)
    ]
    return np.stack([s["coef"] for s in starts])


@pytest.mark.parametrize("seed", range(3))
def test_log_prob_matches_scipy_binom(seed):
    """log_prob + row_constants equals binom.logpmf at p = expit(eta) to 1e-10."""
    rng = np.random.default_rng(seed)
    n_samples = 60
    design = np.column_stack([np.ones(n_samples), rng.normal(size=(n_samples, 2))])
    trials = rng.integers(0, 200, size=n_samples)
    successes = rng.binomial(trials, rng.uniform(size=n_samples))
    block = _block(np.column_stack([successes, trials - successes]), design)
    # |eta| stays below about 6, where expit(eta) and 1 - expit(eta) keep
    # full relative precision, so scipy's logpmf is an accurate reference.
    coef = rng.normal(scale=1.5, size=(2, 3, 3))
    family = BinomialRegressionFamily()
    got = family.log_prob(block, {"coef": coef}) + family.row_constants(block)
    expected = binom.logpmf(successes, trials, expit(coef @ design.T))
    assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def test_log_prob_extreme_eta_matches_mpmath():
    """At |eta| up to 800, where expit(eta) rounds to 1, log_prob stays exact."""
    mpmath = pytest.importorskip("mpmath")
    eta = np.array([-800.0, -40.0, -25.0, 0.0, 25.0, 40.0, 800.0])
    X = np.array([[3.0, 7.0]] * len(eta))
    block = _block(X, eta[:, None])
    got = BinomialRegressionFamily().log_prob(block, {"coef": np.ones((1, 1, 1))})
    with mpmath.workdps(50):
        expected = [
            float(-3 * mpmath.log1p(mpmath.exp(-e)) - 7 * mpmath.log1p(mpmath.exp(e)))
            for e in eta
        ]
    assert_allclose(got[0, 0], expected, rtol=1e-14)


def test_jaakkola_jordan_weight_is_a_minoriser():
    """The quadratic touching log expit at xi with that curvature lies below it."""
    rng = np.random.default_rng(0)
    xi = np.concatenate([rng.normal(scale=5.0, size=200), [0.0, 1e-6, -1e-5, 1e-3]])
    x = rng.normal(scale=8.0, size=(50, 1)) + xi
    weight = jaakkola_jordan_weight(xi)
    tangent = log_expit(xi) + expit(-xi) * (x - xi)
    assert (log_expit(x) >= tangent - weight / 2 * (x - xi) ** 2 - 1e-12).all()
    assert_allclose(jaakkola_jordan_weight(np.array([0.0, 1e-5])), 0.25, rtol=1e-10)
    assert_allclose(weight[:200], np.tanh(xi[:200] / 2) / (2 * xi[:200]), rtol=1e-12)


@pytest.mark.parametrize("curvature", CURVATURES)
def test_accumulate_is_additive_over_blocks(curvature):
    """Statistics of random block splits sum to those of the whole table."""
    rng = np.random.default_rng(1)
    block = _simulate(rng, 90, rng.normal(size=(3, 4)))
    family = BinomialRegressionFamily(curvature=curvature)
    params = {"coef": rng.normal(size=(2, 3, 4))}
    resp = rng.uniform(size=(2, 3, 90))
    whole = family.accumulate(block, resp, params)
    cuts = np.sort(rng.choice(np.arange(1, 90), size=4, replace=False))
    parts = [
        family.accumulate(
            _block(block.X[rows], block.design[rows]), resp[..., rows], params
        )
        for rows in np.split(np.arange(90), cuts)
    ]
    for name in whole:
        assert_allclose(sum(p[name] for p in parts), whole[name], rtol=1e-12)


@pytest.mark.parametrize("shared", [None, [False, True, False]])
def test_batched_runs_equal_single_runs(shared):
    """One batched M-step over runs equals the runs one at a time."""
    rng = np.random.default_rng(2)
    block = _simulate(rng, 80, rng.normal(size=(2, 3)))
    family = BinomialRegressionFamily(shared=shared)
    coef = rng.normal(size=(4, 2, 3))
    coef[..., 1] = coef[:, :1, 1]
    resp = rng.uniform(size=(4, 2, 80))
    nk = resp.sum(axis=-1)
    batched = family.m_step(
        family.accumulate(block, resp, {"coef": coef}), nk, {"coef": coef}
    )
    for r in range(4):
        one = {"coef": coef[r : r + 1]}
        single = family.m_step(
            family.accumulate(block, resp[r : r + 1], one), nk[r : r + 1], one
        )
        assert_allclose(batched["coef"][r], single["coef"][0], rtol=1e-12, atol=1e-14)
        assert_allclose(
            family.log_prob(block, batched)[r],
            family.log_prob(block, single)[0],
            rtol=1e-12,
        )


@pytest.mark.parametrize("seed", range(4))
def test_tied_step_equals_dense_joint_solve(seed):
    """The Schur-complement step equals solving the full tied system."""
    rng = np.random.default_rng(seed)
    n_components, n_cols = 3, 4
    shared = np.array([True, False, True, False])
    factors = rng.normal(size=(2, n_components, n_cols, n_cols))
    hess = factors @ np.swapaxes(factors, -1, -2) + np.eye(n_cols)
    grad = rng.normal(size=(2, n_components, n_cols))
    step = tied_newton_step(hess, grad, shared)
    free, tied = np.flatnonzero(~shared), np.flatnonzero(shared)
    n_free = len(tied) + n_components * len(free)
    for r in range(2):
        joint, rhs = np.zeros((n_free, n_free)), np.zeros(n_free)
        for k in range(n_components):
            # The parameter vector is (tied, free of component 0, 1, ...).
            jac = np.zeros((n_cols, n_free))
            jac[tied, np.arange(len(tied))] = 1.0
            jac[free, len(tied) + k * len(free) + np.arange(len(free))] = 1.0
            joint += jac.T @ hess[r, k] @ jac
            rhs += jac.T @ grad[r, k]
        delta = np.linalg.solve(joint, rhs)
        for k in range(n_components):
            assert_allclose(step[r, k, tied], delta[: len(tied)], rtol=1e-8)
            free_k = delta[len(tied) + k * len(free) :][: len(free)]
            assert_allclose(step[r, k, free], free_k, rtol=1e-8)


@pytest.mark.parametrize("curvature", MONOTONE)
@pytest.mark.parametrize("shared", [None, [False, False, True]])
@pytest.mark.parametrize("seed", range(8))
def test_em_is_monotone(curvature, shared, seed):
    """The log-likelihood (scipy) never decreases along EM with the bound step."""
    rng = np.random.default_rng(seed)
    n_components = int(rng.integers(1, 4))
    true = rng.normal(scale=1.5, size=(n_components, 3))
    block = _simulate(rng, 120, true, max_trials=int(rng.integers(1, 40)))
    block.weights = rng.uniform(0.5, 2.0, size=120)
    family = BinomialRegressionFamily(shared=shared, curvature=curvature)
    coef = rng.normal(scale=2.0, size=(3, n_components, 3))
    if shared is not None:
        coef[..., 2] = coef[:, :1, 2]
    weights = rng.dirichlet(np.ones(n_components), size=3)
    trace, _, _ = _em(family, block, coef, weights, 40)
    assert (np.diff(trace, axis=0) >= -1e-9 * np.abs(trace[1:])).all()
    assert (trace[-1] > trace[0]).all()


def _fit_one_component(family, block, n_iter=500):
    params = {"coef": np.zeros((1, 1, block.design.shape[1]))}
    resp = block.weights[None, None, :]
    for _ in range(n_iter):
        stats = family.accumulate(block, resp, params)
        params = family.m_step(stats, resp.sum(axis=-1), params)
    return params["coef"][0, 0]


@pytest.mark.parametrize("curvature", CURVATURES)
def test_one_component_equals_statsmodels_glm(curvature):
    """K=1 iterated to convergence equals statsmodels' binomial GLM to 1e-6.

    statsmodels is a test-only reference (not a dependency of the package).
    """
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(3)
    block = _simulate(rng, 200, np.array([[-0.5, 1.0, -0.7, 0.3]]))
    block.weights = rng.uniform(0.2, 3.0, size=200)
    coef = _fit_one_component(BinomialRegressionFamily(curvature=curvature), block)
    glm = sm.GLM(
        block.X, block.design, family=sm.families.Binomial(), freq_weights=block.weights
    )
    expected = glm.fit(tol=1e-14).params
    assert_allclose(coef, expected, rtol=1e-6, atol=1e-8)


def test_one_component_equals_sklearn_logistic_regression():
    """K=1 equals unpenalised (C=inf) LogisticRegression on rows expanded to 0/1."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(4)
    block = _simulate(rng, 150, np.array([[0.3, -1.2, 0.8]]))
    coef = _fit_one_component(BinomialRegressionFamily(), block)
    features = np.vstack([block.design[:, 1:], block.design[:, 1:]])
    outcome = np.repeat([1, 0], 150)
    counts = np.concatenate([block.X[:, 0], block.X[:, 1]])
    keep = counts > 0
    model = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000)
    model.fit(features[keep], outcome[keep], sample_weight=counts[keep])
    assert_allclose(coef, np.r_[model.intercept_, model.coef_[0]], rtol=1e-6, atol=1e-7)


def _direct_negative_log_lik(theta, block, n_components, shared):
    """Full mixture likelihood in (free coefficients, shared, log-odds of weights)."""
    n_cols = block.design.shape[1]
    n_free = int((~shared).sum())
    coef = np.empty((n_components, n_cols))
    coef[:, ~shared] = theta[: n_components * n_free].reshape(n_components, n_free)
    coef[:, shared] = theta[
        n_components * n_free : n_components * n_free + shared.sum()
    ]
    logits = np.r_[0.0, theta[n_components * n_free + shared.sum() :]]
    weights = np.exp(logits - logsumexp(logits))
    return -_scipy_log_lik(block, coef[None], weights[None])[0]


def test_shared_fit_matches_direct_maximiser():
    """EM with a shared slope reaches scipy.optimize's multistart maximum."""
    rng = np.random.default_rng(5)
    shared = np.array([False, False, True])
    true = np.array([[-2.0, 1.0, 0.8], [1.5, -1.0, 0.8]])
    block = _simulate(rng, 300, true, max_trials=20)
    best = None
    for _ in range(20):
        theta = np.r_[rng.normal(scale=2.0, size=5), rng.normal()]
        result = minimize(
            _direct_negative_log_lik, theta, args=(block, 2, shared), method="BFGS"
        )
        if best is None or result.fun < best.fun:
            best = result
    family = BinomialRegressionFamily(shared=shared)
    coef = _random_start(family, block, 8, 2, rng)
    trace, coef, weights = _em(family, block, coef, np.full((8, 2), 0.5), 400)
    run = trace[-1].argmax()
    assert_allclose(trace[-1, run], -best.fun, rtol=0, atol=1e-6)
    order = np.argsort(coef[run, :, 0])
    direct = best.x[:4].reshape(2, 2)
    direct_order = np.argsort(direct[:, 0])
    assert_allclose(coef[run, order][:, :2], direct[direct_order], atol=1e-4)
    assert_allclose(coef[run, :, 2], best.x[4], atol=1e-4)
    assert_array_equal(coef[run, 0, 2], coef[run, 1, 2])


def _betablocker_block(treatment, grouped):
    """The betablocker rows sorted by centre, design [1, treated] or [1]."""
    data = load_betablocker()
    groups = data.groups if grouped else np.arange(44)
    order, starts, _ = group_layout(groups)
    columns = [np.ones(44)] + ([data.data[order, 0]] if treatment else [])
    return _block(data.target[order], np.column_stack(columns)), starts


def _grouped_em(family, block, starts, coef, n_iter):
    """EM in which the rows of a group share a component (by hand, no engine)."""
    n_runs, n_components = coef.shape[:2]
    params = {"coef": coef}
    log_weights = np.full((n_runs, n_components), -np.log(n_components))
    group_weights = np.ones(len(starts))
    for _ in range(n_iter):
        _, nk, row_resp = grouped_e_step(
            family.log_prob(block, params),
            log_weights,
            block.weights,
            starts,
            group_weights,
        )
        log_weights = np.log(nk / nk.sum(axis=1, keepdims=True))
        params = family.m_step(family.accumulate(block, row_resp, params), nk, params)
    return params["coef"], log_weights


def _engine_em(family, block, n_components, n_init):
    """The engine's SQUAREM from k-means++ starts (rows independent)."""
    table = RowTable.compress(family, block.X, None, design=block.design)
    weights, params = initial_parameters(
        table, family, n_components, n_init, "k-means++", check_random_state(0)
    )
    result = run_em(
        table,
        family,
        weights,
        params,
        pseudo_count=0.0,
        update_weights=True,
        tol=1e-13,
        max_iter=3000,
        algorithm="squarem",
    )
    assert result.converged.all()
    return result.params["coef"], np.log(result.weights)


def _fit_betablocker(n_components, treatment, grouped, n_starts=48):
    """Best of random starts on betablocker, its log-likelihood from scipy."""
    block, starts = _betablocker_block(treatment, grouped)
    family = BinomialRegressionFamily(shared=[False, True] if treatment else None)
    if grouped:
        rng = np.random.default_rng(n_components)
        sizes = np.diff(np.append(starts, 44))
        resp = [
            np.repeat(rng.dirichlet(np.full(n_components, 0.3), len(starts)), sizes, 0)
            for _ in range(n_starts)
        ]
        coef = np.stack([family.init_params(block, r)["coef"] for r in resp])
        coef, log_weights = _grouped_em(family, block, starts, coef, 600)
    else:
        coef, log_weights = _engine_em(family, block, n_components, n_starts)
    successes, failures = block.X.T
    probs = expit(coef @ block.design.T)
    log_pmf = binom.logpmf(successes, successes + failures, probs)
    group_log_pmf = np.add.reduceat(log_pmf, starts, axis=-1) + log_weights[..., None]
    log_lik = logsumexp(group_log_pmf, axis=1).sum(axis=-1)
    best = log_lik.argmax()
    order = np.argsort(coef[best, :, 0])
    return log_lik[best], coef[best, order], np.exp(log_weights[best, order])


BETABLOCKER_CASES = [
    (name, reference, n_components)
    for name, reference in [
        ("grouped_treatment", flexmix.GROUPED_TREATMENT),
        ("ungrouped_treatment", flexmix.UNGROUPED_TREATMENT),
        ("grouped_plain", flexmix.GROUPED_PLAIN),
        ("ungrouped_plain", flexmix.UNGROUPED_PLAIN),
    ]
    for n_components in range(1, 5)
]


@pytest.mark.parametrize("name, reference, n_components", BETABLOCKER_CASES)
def test_betablocker_matches_or_beats_flexmix(name, reference, n_components):
    """Best of 48 starts: flexmix's log-likelihood and estimates, or better.

    Ungrouped fits run the engine (k-means++ starts, SQUAREM); grouped ones
    a hand-written EM over the group E-step of ``sklearn_coinem._groups``.
    """
    grouped, treatment = name.startswith("grouped"), name.endswith("treatment")
    log_lik, coef, weights = _fit_betablocker(n_components, treatment, grouped)
    expected = reference[n_components]
    if name == "ungrouped_plain" and n_components == 2:
        # flexmix stops at a local optimum here; the maximum is 6.68 higher.
        expected = flexmix.UNGROUPED_PLAIN_K2_MAXIMUM
        assert log_lik > reference[2]["loglik"] + 6.6
    assert log_lik >= expected["loglik"] - 1e-7
    assert_allclose(log_lik, expected["loglik"], rtol=0, atol=1e-6)
    # flexmix stops at a relative log-likelihood change of 1e-10: on the flat
    # K = 4 optima its estimates are up to 2e-5 from the maximum (where
    # scipy's BFGS agrees with EM here).
    assert_allclose(coef[:, 0], expected["intercept"], atol=1e-4)
    assert_allclose(weights, expected["weights"], atol=1e-4)
    if treatment:
        assert_allclose(coef[:, 1], expected["treatment"], atol=1e-4)


def test_n_parameters_matches_flexmix_df():
    """Free parameters plus K - 1 weights equal flexmix's df."""
    shared_family = BinomialRegressionFamily(shared=[False, True])
    for n_components, expected in flexmix.GROUPED_TREATMENT.items():
        n_free = shared_family.n_parameters(n_components, 2) + n_components - 1
        assert n_free == expected["df"]
    for n_components, expected in flexmix.UNGROUPED_VARYING.items():
        family = BinomialRegressionFamily(shared=[False, False])
        n_free = family.n_parameters(n_components, 2) + n_components - 1
        assert n_free == expected["df"]
    with pytest.raises(ValueError, match="needs the design width"):
        BinomialRegressionFamily().n_parameters(2, 2)


def test_varying_treatment_matches_flexmix_and_mixtools():
    """A Treatment effect per component (no sharing) reaches flexmix's K=2 fit."""
    data = load_betablocker()
    block = _block(data.target, np.column_stack([np.ones(44), data.data[:, 0]]))
    family = BinomialRegressionFamily()
    rng = np.random.default_rng(6)
    coef = _random_start(family, block, 16, 2, rng)
    trace, coef, weights = _em(family, block, coef, np.full((16, 2), 0.5), 600)
    run = trace[-1].argmax()
    order = np.argsort(coef[run, :, 0])
    expected = flexmix.UNGROUPED_VARYING[2]
    assert trace[-1, run] >= expected["loglik"] - 1e-7
    assert_allclose(coef[run, order, 0], expected["intercept"], atol=1e-5)
    assert_allclose(coef[run, order, 1], expected["treatment"], atol=1e-5)
    assert_allclose(weights[run, order], expected["weights"], atol=1e-5)


def test_init_params_finite_on_separated_rows():
    """Starts stay finite when a component's rows are all successes."""
    design = np.column_stack([np.ones(6), np.arange(6.0)])
    block = _block(np.array([[5, 0], [7, 0], [3, 0], [0, 4], [0, 9], [0, 2]]), design)
    family = BinomialRegressionFamily()
    resp = np.array([[1, 0]] * 3 + [[0, 1]] * 3, dtype=float)
    coef = family.init_params(block, resp)["coef"]
    assert coef.shape == (2, 2)
    assert np.isfinite(coef).all()
    assert np.isfinite(family.log_prob(block, {"coef": coef[None]})).all()
    random = family.random_params(3, block, np.random.default_rng(0))["coef"]
    assert random.shape == (3, 2)
    assert np.isfinite(random).all()


def test_empty_component_stays_put():
    """A component without responsibility keeps its coefficients (no nan)."""
    rng = np.random.default_rng(7)
    block = _simulate(rng, 40, rng.normal(size=(2, 2)))
    family = BinomialRegressionFamily()
    coef = rng.normal(size=(1, 2, 2))
    resp = np.zeros((1, 2, 40))
    resp[0, 0] = 1.0
    new = family.m_step(
        family.accumulate(block, resp, {"coef": coef}), resp.sum(-1), {"coef": coef}
    )
    assert_allclose(new["coef"][0, 1], coef[0, 1])
    assert np.isfinite(new["coef"]).all()


def test_flatten_round_trip_reties_shared():
    """unflatten(flatten(p)) == p, and shared entries are tied again."""
    family = BinomialRegressionFamily(shared=[True, False])
    coef = np.random.default_rng(8).normal(size=(3, 2, 2))
    coef[..., 0] = coef[:, :1, 0]
    params = {"coef": coef}
    assert_array_equal(family.unflatten(family.flatten(params), params)["coef"], coef)
    theta = family.flatten(params) + np.random.default_rng(9).normal(size=(3, 4))
    moved = family.unflatten(theta, params)["coef"]
    assert_array_equal(moved[:, 0, 0], moved[:, 1, 0])
    assert family.feasible(theta).all()
    assert not family.feasible(np.array([[np.inf, 0.0, 0.0, 0.0]]))[0]


def test_canonical_order_by_intercept():
    """Components sort by ascending intercept, ties broken by the slopes."""
    coef = np.array([[0.5, 1.0], [-1.0, 2.0], [0.5, -1.0]])
    order = BinomialRegressionFamily().canonical_order(np.ones(3) / 3, {"coef": coef})
    assert_array_equal(order, [1, 2, 0])


def test_identifiability_problem():
    """Binary rows, a rank-deficient design, or enough trials."""
    family = BinomialRegressionFamily()
    design = np.column_stack([np.ones(4), [0.0, 1.0, 2.0, 3.0]])
    binary = _block([[1, 0], [0, 1], [1, 0], [1, 0]], design)
    assert "2 * n_components - 1 = 3 trials" in family.identifiability_problem(
        binary, 2
    )
    assert family.identifiability_problem(binary, 1) is None
    counts = _block([[3, 1], [1, 4], [2, 0], [0, 1]], design)
    assert family.identifiability_problem(counts, 2) is None
    assert "rank 1 < 2" in family.identifiability_problem(counts, 3)
    collinear = _block([[3, 2]] * 4, np.column_stack([np.ones(4), np.ones(4)]))
    assert "rank below" in family.identifiability_problem(collinear, 1)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("kind", ["full", "collinear", "rare", "near"])
def test_full_column_rank_agrees_with_matrix_rank(kind, seed):
    """The subset shortcut answers as np.linalg.matrix_rank on all rows:
    a generic design, an exactly collinear column, a column that only a
    few rows (none of the evenly spaced ones, mostly) make independent, and
    a column independent only at the 1e-13 level."""
    from sklearn_coinem._families._binomial_regression import full_column_rank

    rng = np.random.default_rng(seed)
    n_rows = 5000
    design = np.column_stack([np.ones(n_rows), rng.normal(size=(n_rows, 2))])
    last = {
        "full": rng.normal(size=n_rows),
        "collinear": design[:, 1] - 2 * design[:, 2],
        "rare": np.where(np.arange(n_rows) == 4999 - seed, 1.0, 0.0),
        "near": design[:, 1] + 1e-13 * rng.normal(size=n_rows),
    }[kind]
    design = np.column_stack([design, last])
    expected = np.linalg.matrix_rank(design) == design.shape[1]
    assert full_column_rank(design) == expected
    assert expected == (kind in ("full", "rare"))


def test_sample_moments():
    """Sampled success fractions average to expit(design @ coef) per component."""
    rng = np.random.default_rng(10)
    coef = np.array([[-1.0, 0.5], [1.0, -0.5]])
    design = np.column_stack([np.ones(4000), np.tile([0.0, 2.0], 2000)])
    components = np.repeat([0, 1], 2000)
    trials = np.full(4000, 50)
    family = BinomialRegressionFamily()
    X = family.sample({"coef": coef}, components, trials, rng, design=design)
    assert_array_equal(X.sum(axis=1), trials)
    for k in range(2):
        for x in (0.0, 2.0):
            rows = (components == k) & (design[:, 1] == x)
            expected = expit(coef[k, 0] + coef[k, 1] * x)
            stderr = np.sqrt(expected * (1 - expected) / (50 * rows.sum()))
            assert abs(X[rows, 0].mean() / 50 - expected) < 5 * stderr
    with pytest.raises(ValueError, match="needs the design"):
        family.sample({"coef": coef}, components, trials, rng)


def test_standard_errors_one_component_equal_statsmodels():
    """K=1: the observed-information standard errors are statsmodels' bse."""
    sm = pytest.importorskip("statsmodels.api")
    from sklearn_coinem._inference import standard_errors

    rng = np.random.default_rng(11)
    block = _simulate(rng, 150, np.array([[-0.3, 0.8, -0.5]]))
    block.weights = rng.integers(1, 4, size=150).astype(float)
    glm = sm.GLM(
        block.X, block.design, family=sm.families.Binomial(), freq_weights=block.weights
    ).fit(tol=1e-14)
    family = BinomialRegressionFamily()
    table = RowTable.compress(family, block.X, block.weights, design=block.design)
    result = standard_errors(
        table, family, np.ones(1), {"coef": glm.params[None]}, update_weights=False
    )
    assert_allclose(result["coef"][0], glm.bse, rtol=1e-6)
    assert_array_equal(result["coef_status"][0], "estimated")


def _numerical_hessian(func, theta, step=1e-4):
    """Central second differences of ``func`` at ``theta``."""
    n_params = len(theta)
    hess = np.zeros((n_params, n_params))
    basis = np.eye(n_params) * step
    for a in range(n_params):
        for b in range(a, n_params):
            value = (
                func(theta + basis[a] + basis[b])
                - func(theta + basis[a] - basis[b])
                - func(theta - basis[a] + basis[b])
                + func(theta - basis[a] - basis[b])
            ) / (4 * step**2)
            hess[a, b] = hess[b, a] = value
    return hess


def test_standard_errors_shared_mixture_equal_numerical_hessian():
    """K=2 with a shared slope: SEs of the coefficients from a numerical Hessian."""
    from sklearn_coinem._inference import standard_errors

    rng = np.random.default_rng(12)
    shared = np.array([False, False, True])
    block = _simulate(rng, 400, np.array([[-2.0, 1.0, 0.8], [1.5, -1.0, 0.8]]), 20)
    family = BinomialRegressionFamily(shared=shared)
    coef = _random_start(family, block, 6, 2, rng)
    trace, coef, weights = _em(family, block, coef, np.full((6, 2), 0.5), 1500)
    run = trace[-1].argmax()
    coef, weights = coef[run], weights[run]
    table = RowTable.compress(family, block.X, None, design=block.design)
    result = standard_errors(table, family, weights, {"coef": coef})
    theta = np.r_[coef[:, :2].ravel(), coef[0, 2], np.log(weights[1] / weights[0])]
    hess = _numerical_hessian(
        lambda t: _direct_negative_log_lik(t, block, 2, shared), theta
    )
    std_errors = np.sqrt(np.diag(np.linalg.inv(hess)))
    assert_allclose(result["coef"][:, :2].ravel(), std_errors[:4], rtol=1e-3)
    assert_allclose(result["coef"][:, 2], std_errors[4], rtol=1e-3)


def test_compressed_table_gives_raw_statistics():
    """Duplicate (counts, covariates) rows merged by RowTable: same statistics."""
    rng = np.random.default_rng(13)
    base = _simulate(rng, 30, rng.normal(size=(2, 3)), max_trials=5)
    repeats = rng.integers(1, 4, size=30)
    X = np.repeat(base.X, repeats, axis=0)
    design = np.repeat(base.design, repeats, axis=0)
    family = BinomialRegressionFamily()
    table = RowTable.compress(family, X, None, design=design)
    assert table.n_distinct <= 30
    params = {"coef": rng.normal(size=(2, 2, 3))}
    log_prob = family.log_prob(table, params)
    resp = np.exp(log_prob - logsumexp(log_prob, axis=1, keepdims=True))
    compressed = family.accumulate(table, resp * table.weights, params)
    raw_block = _block(X, design)
    raw_prob = family.log_prob(raw_block, params)
    raw_resp = np.exp(raw_prob - logsumexp(raw_prob, axis=1, keepdims=True))
    raw = family.accumulate(raw_block, raw_resp, params)
    for name in raw:
        assert_allclose(compressed[name], raw[name], rtol=1e-12)
    assert_allclose(
        table.constant_sum, family.row_constants(raw_block).sum(), rtol=1e-12
    )


def _complete_data_objective(block, resp, coef):
    """``sum_rki r_rki (s_i log p_rki + f_i log(1 - p_rki))``, scipy's log_expit.

    The binomial coefficients are left out: they cancel in every gain.
    """
    successes, failures = block.X.T
    eta = coef @ block.design.T
    log_lik = successes * log_expit(eta) + failures * log_expit(-eta)
    return (resp * log_lik).sum(axis=(1, 2))


@pytest.mark.parametrize("seed", range(4))
def test_minorised_gain_bounds_the_complete_data_gain(seed):
    """The certificate of a step never exceeds its gain of Q (scipy), any step."""
    rng = np.random.default_rng(seed)
    block = _simulate(rng, 150, rng.normal(size=(3, 3)))
    family = BinomialRegressionFamily(curvature="jaakkola-jordan")
    coef = rng.normal(scale=2.0, size=(2, 3, 3))
    resp = rng.uniform(size=(2, 3, 150))
    stats = family.accumulate(block, resp, {"coef": coef})
    before = _complete_data_objective(block, resp, coef)
    for scale in (1e-3, 0.1, 1.0, 10.0):
        step = rng.normal(scale=scale, size=coef.shape)
        gain = _complete_data_objective(block, resp, coef + step) - before
        bound = minorised_gain(stats["hess"], stats["grad"], step)
        assert (bound <= gain + 1e-9 * np.abs(before)).all()


def test_certified_newton_converges_quadratically_near_the_optimum():
    """Near statsmodels' optimum one certified step is Newton's: error squared."""
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(5)
    block = _simulate(rng, 300, np.array([[-0.5, 1.0, -0.7]]))
    optimum = sm.GLM(block.X, block.design, family=sm.families.Binomial())
    optimum = optimum.fit(tol=1e-14).params
    start = optimum + rng.normal(scale=0.02, size=3)
    resp = np.ones((1, 1, 300))
    errors = {}
    for curvature in ("certified-newton", "jaakkola-jordan"):
        family = BinomialRegressionFamily(curvature=curvature)
        params = {"coef": start[None, None]}
        params = family.m_step(family.accumulate(block, resp, params), None, params)
        errors[curvature] = np.abs(params["coef"][0, 0] - optimum).max()
    initial = np.abs(start - optimum).max()
    # The bound step only contracts the error by a constant factor.
    assert errors["certified-newton"] < 2 * initial**2 < 0.1 * initial
    assert errors["jaakkola-jordan"] > 0.1 * initial


def test_logit_pieces_match_mpmath_at_extreme_eta():
    """Residual ``s - n p`` and Fisher weight ``n p (1 - p)`` to 1e-14 at any eta."""
    mpmath = pytest.importorskip("mpmath")
    eta = np.array([[-800.0, -40.0, -3.0, -1e-6, 0.0, 2e-4, 0.7, 25.0, 800.0]])
    X = np.array([[3.0, 7.0]] * eta.shape[1])
    residual, _, fisher = binomial_logit_pieces(X, eta, "newton")
    with mpmath.workdps(50):
        probs = [1 / (1 + mpmath.exp(-mpmath.mpf(e))) for e in eta[0]]
        expected_residual = [float(3 - 10 * p) for p in probs]
        expected_fisher = [float(10 * p * (1 - p)) for p in probs]
    assert_allclose(residual[0], expected_residual, rtol=1e-14, atol=1e-15)
    assert_allclose(fisher[0], expected_fisher, rtol=1e-14)


def test_weighted_outer_sums_equal_einsum():
    """The symmetric product equals the brute-force sum of weighted outer products."""
    rng = np.random.default_rng(6)
    design = rng.normal(size=(70, 5))
    weights = rng.uniform(size=(2, 3, 70))
    expected = np.einsum("rkn,ni,nj->rkij", weights, design, design)
    assert_allclose(weighted_outer_sums(weights, design), expected, rtol=1e-12)


def test_init_params_on_a_subsample_is_close_to_all_rows(monkeypatch):
    """Starting fits on every m-th row of a large table stay near the full ones."""
    rng = np.random.default_rng(7)
    block = _simulate(rng, 6000, np.array([[-1.0, 1.0, 0.5], [1.0, -0.5, 0.2]]))
    resp = rng.dirichlet(np.ones(2), size=6000)
    family = BinomialRegressionFamily()
    monkeypatch.setattr(_binomial_regression, "INIT_ROWS", 1000)
    subsampled = family.init_params(block, resp)["coef"]
    monkeypatch.setattr(_binomial_regression, "INIT_ROWS", 10**6)
    full = family.init_params(block, resp)["coef"]
    assert_allclose(subsampled, full, atol=0.15)
    assert not np.allclose(subsampled, full, atol=1e-8)


def test_refine_on_subsample_certifies_the_maximum():
    """Starts seeded on 2048 rows, refined there and by Newton steps on all
    rows, are certified at the maximum long EM reaches, and the engine
    returns them as they are."""
    rng = np.random.default_rng(8)
    block = _simulate(rng, 40000, np.array([[-1.5, 1.0, -0.5], [1.0, -1.0, 0.8]]))
    family = BinomialRegressionFamily()
    table = RowTable.from_rows(family, block.X, block.weights, block.design)
    subsample = evenly_spaced_rows(table, family)
    assert 2048 <= subsample.n_distinct < 4096
    weights, params = initial_parameters(
        subsample, family, 2, 2, "k-means++", check_random_state(0)
    )
    options = {"pseudo_count": 0.0, "update_weights": True, "tol": 1e-8}
    refined = refine_on_subsample(table, subsample, family, weights, params, **options)
    weights_r, params_r, lower_bound, n_iter, certified = refined
    assert certified.all()
    assert np.all((n_iter >= 2) & (n_iter <= 5))
    # The objective is the full log-likelihood (scipy's) of the returned point.
    total = table.total_weight
    assert_allclose(
        lower_bound * total,
        _scipy_log_lik(block, params_r["coef"], weights_r),
        rtol=1e-12,
    )
    # Long EM from the raw starts: the certificate holds to 1e-3 nats.
    em = run_em(
        table, family, weights, params, max_iter=5000, **dict(options, tol=1e-13)
    )
    assert np.all(np.abs(em.lower_bound - lower_bound) * total < 2e-3)
    # The engine returns certified runs untouched.
    result = run_em(
        table,
        family,
        weights_r,
        params_r,
        max_iter=1000,
        lower_bound=lower_bound,
        n_iter=n_iter,
        converged=certified,
        **options,
    )
    assert_array_equal(result.params["coef"], params_r["coef"])
    assert_array_equal(result.lower_bound, lower_bound)
    assert_array_equal(result.n_iter, n_iter)
    assert result.converged.all()


@pytest.mark.parametrize("em_iter", [0, 1, 9])
def test_subsample_maxima_are_maxima(em_iter, monkeypatch):
    """EM then Newton steps on the subsample (or EM alone where Newton
    fails, from cruder starts) end at the maximum long EM reaches there."""
    from sklearn_coinem import _binomial_regression_mixture as brm

    monkeypatch.setattr(brm, "SUBSAMPLE_EM_ITER", em_iter)
    rng = np.random.default_rng(9)
    block = _simulate(rng, 3000, np.array([[-1.5, 1.0, -0.5], [1.0, -1.0, 0.8]]))
    family = BinomialRegressionFamily()
    table = RowTable.from_rows(family, block.X, block.weights, block.design)
    weights, params = initial_parameters(
        table, family, 2, 3, "k-means++", check_random_state(1)
    )
    options = {"pseudo_count": 0.0, "update_weights": True, "tol": 1e-8}
    moved_w, moved_p = brm._subsample_maxima(table, family, weights, params, options)
    em = run_em(
        table, family, weights, params, max_iter=5000, **dict(options, tol=1e-13)
    )
    # The maximum in each start's basin, to the certificate's 1e-3 nats.
    gap = _scipy_log_lik(block, em.params["coef"], em.weights) - _scipy_log_lik(
        block, moved_p["coef"], moved_w
    )
    assert np.all(np.abs(gap) < 1e-3)


def _logit_log_lik(block, theta, free_weights, weights, n_cols):
    """scipy log-likelihood at (free logits, coef) with the reference logit 0.

    Without free logits the mixing weights are ``weights``.
    """
    n_logits = len(free_weights)
    coef = theta[n_logits:].reshape(-1, n_cols)
    logits = np.zeros(len(coef))
    logits[free_weights] = theta[:n_logits]
    if n_logits == 0:
        logits = np.log(weights)
    weights = np.exp(logits - logsumexp(logits))
    return _scipy_log_lik(block, coef[None], weights[None])[0]


@pytest.mark.parametrize("update_weights", [True, False])
def test_observed_derivatives_match_finite_differences(update_weights):
    """Log-likelihood, gradient and Hessian agree with scipy and differences."""
    rng = np.random.default_rng(11)
    coef = np.array([[-1.0, 1.0, 0.5], [0.5, -0.5, 0.2], [1.5, 0.3, -1.0]])
    block = _simulate(rng, 300, coef, max_trials=12)
    block.weights = rng.uniform(0.5, 2.0, 300)
    table = RowTable.from_rows(
        BinomialRegressionFamily(), block.X, block.weights, block.design
    )
    weights = np.array([0.2, 0.5, 0.3])
    free = np.array([0, 2]) if update_weights else np.array([], dtype=int)
    start = coef + rng.normal(scale=0.3, size=coef.shape)
    loglik, grad, hess = _binomial_regression.observed_derivatives(
        table, weights, start, free
    )
    # Without the Hessian: the same log-likelihood and gradient.
    loglik_only, grad_only, none = _binomial_regression.observed_derivatives(
        table, weights, start, free, hessian=False
    )
    assert none is None
    logits = np.log(weights / weights[1])[free]
    theta = np.concatenate([logits, start.ravel()])

    def reference(theta):
        return _logit_log_lik(block, theta, free, weights, coef.shape[1])

    assert_allclose(loglik + table.constant_sum, reference(theta), rtol=1e-12)
    eye, eps = np.eye(len(theta)), 1e-4
    fd_grad = [
        (reference(theta + eps * e) - reference(theta - eps * e)) / (2 * eps)
        for e in eye
    ]
    assert_allclose(grad, np.ravel(fd_grad), rtol=1e-6, atol=1e-5)
    assert_allclose(loglik_only + table.constant_sum, reference(theta), rtol=1e-12)
    assert_allclose(grad_only, np.ravel(fd_grad), rtol=1e-6, atol=1e-5)
    fd_hess = np.array(
        [
            [
                reference(theta + eps * (a + b))
                - reference(theta + eps * (a - b))
                - reference(theta - eps * (a - b))
                + reference(theta - eps * (a + b))
                for b in eye
            ]
            for a in eye
        ]
    ) / (4 * eps**2)
    assert_allclose(hess, fd_hess, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("quasi", [True, False])
@pytest.mark.parametrize(
    "shared, pseudo_count", [(None, 0.0), ([False, True, False], 0.0), (None, 2.0)]
)
def test_newton_on_all_rows_reaches_the_em_maximum(
    shared, pseudo_count, quasi, monkeypatch
):
    """Newton steps from a nearby start end at the maximum long EM reaches,
    certified by the quasi-Newton decrement of a pass without the Hessian,
    or (that certificate refused) by the Newton decrement of a full pass."""
    from sklearn_coinem import _binomial_regression_mixture as brm
    from sklearn_coinem._binomial_regression_mixture import newton_on_all_rows

    passes = []
    full_pass = brm.observed_derivatives

    def spy(*args):
        passes.append(args[-1])
        return full_pass(*args)

    monkeypatch.setattr(brm, "observed_derivatives", spy)
    if not quasi:
        monkeypatch.setattr(brm, "quasi_certifies", lambda *args: False)

    rng = np.random.default_rng(12)
    coef = np.array([[-1.5, 0.8, -0.5], [1.0, 0.8, 0.8]])
    block = _simulate(rng, 20000, coef)
    family = BinomialRegressionFamily(shared=shared)
    table = RowTable.from_rows(family, block.X, block.weights, block.design)
    start_coef = coef.copy()
    start_coef[:, 0] += 0.05
    if shared is None:
        start_coef[:, 2] -= 0.05
    options = {"pseudo_count": pseudo_count, "update_weights": True, "tol": 1e-12}
    em = run_em(
        table,
        family,
        np.array([[0.4, 0.6]]),
        {"coef": start_coef[None]},
        max_iter=5000,
        **options,
    )
    assert em.converged[0]
    weights, newton_coef, objective, n_passes, certified = newton_on_all_rows(
        table,
        family,
        np.array([0.4, 0.6]),
        start_coef,
        pseudo_count=pseudo_count,
        update_weights=True,
        tol=1e-8,
    )
    assert certified
    assert 2 <= n_passes <= 5
    assert len(passes) == n_passes
    # A pass without the Hessian tries the quasi certificate: it certifies
    # (the last pass) or a full pass at the same point follows.
    assert passes[-1] or quasi
    assert all(first or second for first, second in zip(passes, passes[1:]))
    # Certified: within 1e-3 nats of the maximum (scipy's log-likelihood
    # of the EM fit at tol=1e-12), about 0.002 standard errors here.
    gap = (
        _scipy_log_lik(block, em.params["coef"], em.weights)[0]
        - (_scipy_log_lik(block, newton_coef[None], weights[None])[0])
    )
    gap += pseudo_count * (np.log(em.weights[0]) - np.log(weights)).sum()
    assert -1e-6 < gap < 1e-3
    assert_allclose(newton_coef, em.params["coef"][0], atol=1e-3)
    assert_allclose(weights, em.weights[0], atol=1e-4)
    if shared is not None:
        assert_array_equal(newton_coef[0, 1], newton_coef[1, 1])
    # The objective returned is scipy's log-likelihood plus the prior there.
    prior = pseudo_count * np.log(weights).sum()
    assert_allclose(
        objective + table.constant_sum,
        _scipy_log_lik(block, newton_coef[None], weights[None])[0] + prior,
        rtol=1e-12,
    )
    # The maximum by scipy: every free direction is flat there.
    assert _scipy_log_lik(block, newton_coef[None], weights[None])[0] + prior >= (
        _scipy_log_lik(block, start_coef[None], np.array([[0.4, 0.6]]))[0]
        + pseudo_count * np.log([0.4, 0.6]).sum()
    )


def test_quasi_certificate_skips_the_last_hessian(monkeypatch):
    """A start a Newton step from the maximum: one full pass, one for the
    step's point, then a pass without the Hessian certifies the next point,
    within 1e-3 nats of the maximum long EM reaches."""
    from sklearn_coinem import _binomial_regression_mixture as brm

    passes = []
    full_pass = brm.observed_derivatives

    def spy(*args):
        passes.append(args[-1])
        return full_pass(*args)

    rng = np.random.default_rng(13)
    coef = np.array([[-1.5, 0.8, -0.5], [1.0, -0.8, 0.8]])
    block = _simulate(rng, 20000, coef)
    family = BinomialRegressionFamily()
    table = RowTable.from_rows(family, block.X, block.weights, block.design)
    options = {"pseudo_count": 0.0, "update_weights": True}
    em = run_em(
        table,
        family,
        np.array([[0.4, 0.6]]),
        {"coef": coef[None]},
        max_iter=5000,
        tol=1e-13,
        **options,
    )
    start_coef = em.params["coef"][0] + 0.01
    monkeypatch.setattr(brm, "observed_derivatives", spy)
    weights, new_coef, objective, n_passes, certified = brm.newton_on_all_rows(
        table, family, em.weights[0], start_coef, tol=1e-8, **options
    )
    assert certified
    assert passes == [True, True, False]
    assert n_passes == 3
    gap = (
        _scipy_log_lik(block, em.params["coef"], em.weights)[0]
        - _scipy_log_lik(block, new_coef[None], weights[None])[0]
    )
    assert -1e-6 < gap < 1e-3
