"""Tests of the Dirichlet-multinomial (beta-binomial) component family."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import minimize
from scipy.special import digamma, logsumexp, softmax
from scipy.stats import binom

from sklearn_coinem import _inference
from sklearn_coinem._beta_binomial_mixture import binomial_starts
from sklearn_coinem._estep import sum_statistics
from sklearn_coinem._families._dirichlet_multinomial import (
    _PROFILE_GRID,
    INIT_PRECISION_RANGE,
    MAX_PRECISION,
    MAX_TAIL_LENGTH,
    MIN_PRECISION,
    DirichletMultinomialFamily,
    _unpack,
    digamma_diff,
    log_rising,
    profile_precision,
    surrogate_change,
    surrogate_objective,
)
from sklearn_coinem._inference import observed_information
from sklearn_coinem._table import RowTable
from tests._references import (
    OROBANCHE_N,
    OROBANCHE_Y,
    VGAM_OROBANCHE,
    betabinom_mle,
    dm_logpmf,
    dm_mixture_loglik,
    make_block,
    reference_em_step,
)


def _dm_rows(rng, n_rows, probs, precision, max_trials, weights=None):
    """Rows drawn from a DM mixture by numpy (Dirichlet then multinomial)."""
    n_components = len(probs)
    weights = np.full(n_components, 1 / n_components) if weights is None else weights
    labels = rng.choice(n_components, size=n_rows, p=weights)
    trials = rng.integers(0, max_trials + 1, size=n_rows)
    return np.array(
        [
            rng.multinomial(n, rng.dirichlet(precision[k] * probs[k]))
            for n, k in zip(trials, labels)
        ]
    )


def _long_rows(rng, n_rows, probs, precision):
    """DM rows with more trials than the tail histograms hold."""
    low = MAX_TAIL_LENGTH - 200
    trials = rng.integers(low, MAX_TAIL_LENGTH + 300, size=n_rows)
    return np.array(
        [rng.multinomial(n, rng.dirichlet(precision * probs)) for n in trials]
    )


def _random_params(rng, n_runs, n_components, n_features, log_precision=(-3, 12)):
    probs = rng.dirichlet(np.ones(n_features), size=(n_runs, n_components))
    precision = np.exp(rng.uniform(*log_precision, size=(n_runs, n_components)))
    return {"probs": probs, "precision": precision}


def _full_log_prob(family, block, params):
    return family.log_prob(block, params) + family.row_constants(block)


def _reference_log_prob(X, params):
    probs, precision = params["probs"], params["precision"]
    return np.array(
        [
            [dm_logpmf(X, a * p) for p, a in zip(run_probs, run_precision)]
            for run_probs, run_precision in zip(probs, precision)
        ]
    )


@pytest.mark.parametrize("n_features", [2, 3, 5])
@pytest.mark.parametrize("max_trials", [60, 20000])
def test_log_prob_matches_scipy(n_features, max_trials):
    """log_prob + row_constants equals scipy's betabinom / dirichlet_multinomial."""
    rng = np.random.default_rng(n_features * 7 + max_trials)
    # Few rows with many trials take the special-function path, many rows
    # with few trials the rising-factorial tables.
    n_rows = 12 if max_trials > 1000 else 300
    probs = rng.dirichlet(np.ones(n_features), size=2)
    X = _dm_rows(rng, n_rows, probs, np.array([3.0, 50.0]), max_trials)
    X[0] = 0
    # scipy's betaln differences lose digits beyond precision ~1e5.
    params = _random_params(rng, 2, 3, n_features, log_precision=(-3, np.log(1e5)))
    params["precision"][0, :2] = [MIN_PRECISION, 1e5]
    family = DirichletMultinomialFamily()
    log_prob = _full_log_prob(family, make_block(X), params)
    assert_allclose(log_prob, _reference_log_prob(X, params), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("n_rows", [5, 500])
def test_log_prob_large_precision_matches_mpmath(n_rows):
    """At precisions up to the cap the log-pmf equals 40-digit lgamma sums."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    rng = np.random.default_rng(n_rows)
    trials = rng.integers(0, 8000 if n_rows == 5 else 200, size=n_rows)
    heads = rng.binomial(trials, 0.3)
    X = np.column_stack([heads, trials - heads])
    precision = np.array([[1e6, 1e9, MAX_PRECISION]])
    probs = np.broadcast_to([0.3, 0.7], (1, 3, 2))
    params = {"probs": probs, "precision": precision}
    log_prob = DirichletMultinomialFamily().log_prob(make_block(X), params)[0]
    loggamma = mpmath.loggamma
    for k, a in enumerate(precision[0]):
        alpha = [mpmath.mpf(0.3) * a, mpmath.mpf(0.7) * a]
        for i in rng.choice(n_rows, size=min(n_rows, 20), replace=False):
            expected = sum(loggamma(x + b) - loggamma(b) for x, b in zip(X[i], alpha))
            expected -= loggamma(trials[i] + mpmath.mpf(a)) - loggamma(a)
            assert_allclose(log_prob[k, i], float(expected), rtol=1e-12, atol=1e-12)


def test_log_prob_zero_probability():
    """A zero mean probability makes rows with that outcome impossible, not nan."""
    rng = np.random.default_rng(0)
    X = _dm_rows(rng, 200, np.array([[0.2, 0.3, 0.5]]), np.array([5.0]), 30)
    params = {"probs": np.array([[[0.0, 0.4, 0.6]]]), "precision": np.array([[7.0]])}
    log_prob = _full_log_prob(DirichletMultinomialFamily(), make_block(X), params)[0, 0]
    possible = X[:, 0] == 0
    assert np.isneginf(log_prob[~possible]).all()
    reference = dm_logpmf(X[possible][:, 1:], np.array([2.8, 4.2]))
    assert_allclose(log_prob[possible], reference, rtol=1e-10)


@pytest.mark.parametrize("n_trials", [10, 100, 1000])
def test_log_prob_binomial_limit(n_trials):
    """At the precision cap the log-pmf is the binomial one to ~n / cap."""
    p = 0.3
    heads = np.arange(n_trials + 1)
    X = np.column_stack([heads, n_trials - heads])
    params = {
        "probs": np.array([[[p, 1 - p]]]),
        "precision": np.array([[MAX_PRECISION]]),
    }
    family = DirichletMultinomialFamily()
    log_prob = _full_log_prob(family, make_block(X), params)[0, 0]
    assert np.isfinite(log_prob).all()
    # First order in 1/A: [sum_c x_c (x_c - 1) / (2 p_c) - n (n - 1) / 2] / A.
    first_order = (
        heads * (heads - 1) / (2 * p)
        + (n_trials - heads) * (n_trials - heads - 1) / (2 * (1 - p))
        - n_trials * (n_trials - 1) / 2
    ) / MAX_PRECISION
    difference = log_prob - binom.logpmf(heads, n_trials, p)
    plausible = binom.pmf(heads, n_trials, p) > 1e-12
    rounding = 4e-15 * n_trials * np.log(MAX_PRECISION)
    assert_allclose(difference[plausible], first_order[plausible], atol=rounding)
    mean_error = binom.pmf(heads, n_trials, p) @ np.abs(difference)
    assert mean_error < n_trials / MAX_PRECISION


def test_log_rising_and_digamma_diff_match_mpmath():
    """The cancellation-free rising factorials equal 50-digit mpmath values."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    for a in [1e-8, 0.3, 9.99, 10.0, 123.4, 1e6, 1e12]:
        for x in [0.0, 1.0, 2.5, 7.0, 1e3, 1e7]:
            expected = mpmath.loggamma(mpmath.mpf(a) + x) - mpmath.loggamma(a)
            assert_allclose(log_rising(a, x), float(expected), rtol=1e-13, atol=1e-14)
            expected = mpmath.digamma(mpmath.mpf(a) + x) - mpmath.digamma(a)
            assert_allclose(digamma_diff(a, x), float(expected), rtol=1e-12, atol=0)


def _split_statistics(family, blocks, resp_parts, params):
    """Statistics of several blocks, summed as the engine sums them."""
    stats = [family.accumulate(b, r, params) for b, r in zip(blocks, resp_parts)]
    return sum_statistics(*stats)


@pytest.mark.parametrize("kind", ["whole", "long", "real"])
def test_statistics_additive_over_blocks(kind):
    """accumulate over blocks of any lengths sums to accumulate over the whole."""
    rng = np.random.default_rng(1)
    X = _dm_rows(rng, 3000, np.array([[0.3, 0.7], [0.8, 0.2]]), [4.0, 40.0], 50)
    # One long row (or non-integral rows) in the small block: different tail
    # lengths and minorised sums per block.
    if kind == "long":
        X[-1] = [3000, 2000]
    X = X.astype(float)
    if kind == "real":
        X[-3:] *= 1.37
    params = _random_params(rng, 2, 3, 2)
    resp = rng.uniform(size=(2, 3, X.shape[0]))
    family = DirichletMultinomialFamily()
    whole = family.accumulate(make_block(X), resp, params)
    cut = X.shape[0] - 5
    split = _split_statistics(
        family,
        [make_block(X[:cut]), make_block(X[cut:])],
        [resp[..., :cut], resp[..., cut:]],
        params,
    )
    assert split["count_tails"].values.shape == whole["count_tails"].values.shape
    for name in whole:
        expected, actual = whole[name], split[name]
        if name.endswith("tails"):
            expected, actual = expected.values, actual.values
        assert_allclose(actual, expected, rtol=1e-12, atol=1e-12)


def test_tail_statistics_match_definition():
    """Tail histograms count the weight of rows with more than j outcomes."""
    rng = np.random.default_rng(2)
    X = _dm_rows(rng, 40, np.array([[0.2, 0.3, 0.5]]), [2.0], 25)
    resp = rng.uniform(size=(2, 2, X.shape[0]))
    stats = DirichletMultinomialFamily().accumulate(
        make_block(X), resp, _random_params(rng, 2, 2, 3)
    )
    length = X.sum(axis=1).max()
    assert stats["count_tails"].values.shape == (2, 2, 3, length)
    for j in [0, 1, 7, length - 1]:
        assert_allclose(stats["count_tails"].values[..., j], resp @ (X > j))
        assert_allclose(stats["trial_tails"].values[..., j], resp @ (X.sum(1) > j))
    assert_array_equal(stats["alpha_sums"], 0.0)
    assert_array_equal(stats["trial_sums"], 0.0)


def test_long_row_statistics_match_definition():
    """Outcomes beyond the tail length enter as sums of alpha / (alpha + j)."""
    rng = np.random.default_rng(3)
    X = _long_rows(rng, 6, np.array([0.5, 0.2, 0.3]), 3.0)
    X[0] = [MAX_TAIL_LENGTH + 50, 0, 0]
    params = _random_params(rng, 1, 2, 3)
    alpha = params["precision"][..., None] * params["probs"]
    resp = rng.uniform(size=(1, 2, X.shape[0]))
    stats = DirichletMultinomialFamily().accumulate(make_block(X), resp, params)
    assert stats["count_tails"].values.shape[-1] == MAX_TAIL_LENGTH
    j = np.arange(MAX_TAIL_LENGTH, X.sum(axis=1).max())
    for k in range(2):
        alpha_sums = [
            sum(
                resp[0, k, i] * (alpha[0, k, c] / (alpha[0, k, c] + j[j < x])).sum()
                for i, x in enumerate(X[:, c])
            )
            for c in range(3)
        ]
        assert_allclose(stats["alpha_sums"][0, k], alpha_sums, rtol=1e-10)
        trial_sums = sum(
            resp[0, k, i] * (1 / (params["precision"][0, k] + j[j < n])).sum()
            for i, n in enumerate(X.sum(axis=1))
        )
        assert_allclose(stats["trial_sums"][0, k], trial_sums, rtol=1e-10)


def test_non_integral_rows_enter_through_digamma_sums():
    """Non-integral rows give alpha (digamma(alpha + x) - digamma(alpha)) sums."""
    rng = np.random.default_rng(4)
    X = rng.uniform(0, 20, size=(30, 2))
    params = _random_params(rng, 1, 2, 2)
    alpha = params["precision"][..., None] * params["probs"]
    resp = rng.uniform(size=(1, 2, 30))
    stats = DirichletMultinomialFamily().accumulate(make_block(X), resp, params)
    assert stats["count_tails"].values.shape[-1] == 0
    expected = np.einsum(
        "rki,rkic->rkc",
        resp,
        alpha[:, :, None]
        * (digamma(alpha[:, :, None] + X) - digamma(alpha[:, :, None])),
    )
    assert_allclose(stats["alpha_sums"], expected, rtol=1e-10)


def test_m_step_maximises_expected_loglik():
    """The M-step equals a scipy.optimize maximiser of the weighted DM fit."""
    rng = np.random.default_rng(9)
    X = _dm_rows(rng, 150, np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]), [3, 30], 30)
    resp = rng.uniform(size=(1, 1, X.shape[0]))
    family = DirichletMultinomialFamily()
    start = {"probs": np.full((1, 1, 3), 1 / 3), "precision": np.array([[500.0]])}
    stats = family.accumulate(make_block(X), resp, start)
    new = family.m_step(stats, resp.sum(axis=-1), start)

    def negative(log_alpha):
        return -resp[0, 0] @ dm_logpmf(X, np.exp(log_alpha))

    options = {"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000}
    best = minimize(negative, np.zeros(3), method="Nelder-Mead", options=options)
    best = minimize(negative, best.x, method="BFGS", tol=1e-12)
    fitted = np.log(new["precision"][0, 0] * new["probs"][0, 0])
    assert negative(fitted) <= best.fun + 1e-9
    assert_allclose(fitted, best.x, atol=1e-5)


@pytest.mark.parametrize("long", [False, True])
@pytest.mark.parametrize("pseudo_count", [0.0, 0.5])
def test_batched_runs_equal_single_runs(pseudo_count, long):
    """log_prob, accumulate and m_step of R runs equal R separate single runs."""
    rng = np.random.default_rng(3)
    X = _dm_rows(rng, 300, np.array([[0.3, 0.3, 0.4], [0.1, 0.8, 0.1]]), [4, 40], 30)
    if long:
        X = np.vstack([X, _long_rows(rng, 3, np.array([0.2, 0.3, 0.5]), 5.0)])
    block = make_block(X)
    family = DirichletMultinomialFamily(pseudo_count=pseudo_count)
    params = _random_params(rng, 4, 2, 3)
    resp = rng.uniform(size=(4, 2, X.shape[0]))
    log_prob = family.log_prob(block, params)
    stats = family.accumulate(block, resp, params)
    new = family.m_step(stats, resp.sum(axis=-1), params)
    prior = family.log_prior(params)
    for run in range(4):
        single = {name: value[[run]] for name, value in params.items()}
        single_stats = family.accumulate(block, resp[[run]], single)
        single_new = family.m_step(single_stats, resp[[run]].sum(axis=-1), single)
        assert_allclose(family.log_prob(block, single)[0], log_prob[run], rtol=1e-14)
        assert_allclose(family.log_prior(single)[0], prior[run], rtol=1e-14)
        for name in new:
            assert_allclose(single_new[name][0], new[name][run], rtol=1e-12)


def _monotone_case(seed):
    """Random data (DM, binomial or all-or-nothing rows) and random starts."""
    rng = np.random.default_rng(seed)
    n_features = int(rng.choice([2, 2, 3]))
    n_sources = int(rng.integers(1, 4))
    probs = rng.dirichlet(np.full(n_features, 0.8), size=n_sources)
    kind = seed % 3
    precision = (
        np.exp(rng.uniform(-2, 6, size=n_sources))
        if kind == 0
        else np.full(n_sources, 1e9 if kind == 1 else 1e-3)
    )
    X = _dm_rows(rng, int(rng.integers(5, 60)), probs, precision, 40)
    if seed % 30 == 29:
        X = np.vstack([X, _long_rows(rng, 2, probs[0], precision[0])])
    n_components = int(rng.integers(1, 4))
    params = _random_params(rng, 3, n_components, n_features, log_precision=(-4, 10))
    weights = rng.dirichlet(np.ones(n_components), size=3)
    sample_weight = rng.uniform(0.5, 3.0, size=X.shape[0])
    return X, sample_weight, weights, params, float(rng.choice([0.0, 1e-6, 0.5]))


@pytest.mark.parametrize("seed_block", range(3))
def test_em_is_monotone(seed_block):
    """EM with either M-step never lowers the MAP objective beyond rounding.

    The objective is the test's own log-sum-exp over ``log_prob``, which the
    tests above check against scipy and 40-digit mpmath; scipy itself is
    not used here because its log-pmf errors (1e-10 at precision 1e5, nan
    for subnormal shapes) exceed the rounding this test resolves.
    """
    worst = 0.0
    for seed in range(100 * seed_block, 100 * seed_block + 100):
        X, sample_weight, weights, params, pseudo_count = _monotone_case(seed)
        block = make_block(X, sample_weight)
        family = DirichletMultinomialFamily(pseudo_count=pseudo_count)
        constant = family.row_constants(block) @ sample_weight
        previous = None
        for _ in range(40):
            weights, params, objective = reference_em_step(
                family, block, weights, params, constant
            )
            assert np.isfinite(objective).all()
            if previous is not None:
                decrease = (previous - objective) / np.maximum(np.abs(previous), 1.0)
                worst = max(worst, float(decrease.max()))
            previous = objective
    assert worst <= 1e-12


@pytest.mark.parametrize("seed", range(5))
def test_em_is_monotone_scipy_objective(seed):
    """At moderate precisions EM steps raise the scipy log-likelihood too."""
    rng = np.random.default_rng(seed)
    probs = np.array([[0.2, 0.8], [0.7, 0.3]])
    X = _dm_rows(rng, 80, probs, np.array([3.0, 30.0]), 40)
    family = DirichletMultinomialFamily()
    block = make_block(X)
    params = _random_params(rng, 1, 2, 2, log_precision=(0, 5))
    weights = np.array([[0.5, 0.5]])
    previous = -np.inf
    for _ in range(30):
        loglik = dm_mixture_loglik(
            X, weights[0], params["probs"][0], params["precision"][0]
        )
        assert loglik >= previous - 1e-9
        previous = loglik
        weights, params, _ = reference_em_step(family, block, weights, params)


def test_mm_objective_matches_reference_objective():
    """The E-step objective of the family equals the scipy log-likelihood."""
    rng = np.random.default_rng(4)
    X = _dm_rows(rng, 100, np.array([[0.3, 0.7], [0.9, 0.1]]), [5.0, 50.0], 40)
    family = DirichletMultinomialFamily()
    block = make_block(X)
    params = _random_params(rng, 1, 2, 2)
    weights = np.array([[0.3, 0.7]])
    constant = family.row_constants(block).sum()
    _, _, objective = reference_em_step(family, block, weights, params, constant)
    expected = dm_mixture_loglik(
        X, weights[0], params["probs"][0], params["precision"][0]
    )
    assert_allclose(objective[0], expected, rtol=1e-12)


def _fit_one_component(X, family, n_iter=20000, tol=1e-14, start=None):
    block = make_block(X)
    params = start or {
        name: value[None]
        for name, value in family.init_params(block, np.ones((X.shape[0], 1))).items()
    }
    weights = np.ones((1, 1))
    previous = -np.inf
    for _ in range(n_iter):
        _, new, objective = reference_em_step(family, block, weights, params)
        if objective[0] - previous < tol:
            break
        previous, params = objective[0], new
    return params


def test_orobanche_one_component_mle():
    """K = 1 on Crowder's seeds equals the scipy.optimize and VGAM MLEs."""
    X = np.column_stack([OROBANCHE_Y, OROBANCHE_N - OROBANCHE_Y])
    params = _fit_one_component(X, DirichletMultinomialFamily())
    fitted_mu = params["probs"][0, 0, 0]
    fitted_rho = 1 / (1 + params["precision"][0, 0])
    fitted_loglik = dm_mixture_loglik(
        X, [1.0], params["probs"][0], params["precision"][0]
    )
    mu, rho, loglik = betabinom_mle(OROBANCHE_Y, OROBANCHE_N)
    for reference in [(mu, rho, loglik), VGAM_OROBANCHE]:
        assert_allclose(fitted_mu, reference[0], rtol=1e-6)
        assert_allclose(fitted_rho, reference[1], rtol=1e-5)
        assert fitted_loglik >= reference[2] - 1e-9


@pytest.mark.parametrize("precision", [1e-3, 1.0, 1e3, 1e11])
def test_m_step_one_component_converges_in_one_step(precision):
    """With one component one EM step reaches the MLE from any start."""
    X = np.column_stack([OROBANCHE_Y, OROBANCHE_N - OROBANCHE_Y])
    start = {"probs": np.array([[[0.9, 0.1]]]), "precision": np.array([[precision]])}
    _, params, _ = reference_em_step(
        DirichletMultinomialFamily(), make_block(X), np.ones((1, 1)), start
    )
    assert_allclose(params["probs"][0, 0, 0], VGAM_OROBANCHE[0], rtol=1e-7)
    assert_allclose(1 / (1 + params["precision"][0, 0]), VGAM_OROBANCHE[1], rtol=1e-6)


def test_binomial_long_rows_stay_finite():
    """Binomial rows beyond the tail length: finite MM steps towards the MLE.

    Their outcomes beyond ``MAX_TAIL_LENGTH`` enter through the one-step
    MM minorisation, which raises a flat likelihood slowly; from a large
    precision the fit is within ``n / precision`` of the binomial MLE.
    """
    rng = np.random.default_rng(0)
    X = _long_rows(rng, 6, np.array([0.35, 0.65]), 1e13)
    heads, trials = X[:, 0], X.sum(axis=1)
    binomial_loglik = binom.logpmf(heads, trials, heads.sum() / trials.sum()).sum()
    family = DirichletMultinomialFamily()
    block = make_block(X)
    for precision in [1e4, 1e9]:
        params = {
            "probs": np.array([[[0.5, 0.5]]]),
            "precision": np.array([[precision]]),
        }
        gaps = []
        for step in range(30):
            if step in (1, 29):
                fitted = dm_mixture_loglik(
                    X, [1.0], params["probs"][0], params["precision"][0]
                )
                gaps.append(binomial_loglik - fitted)
            _, params, _ = reference_em_step(family, block, np.ones((1, 1)), params)
            assert np.isfinite(params["precision"]).all()
            assert params["precision"][0, 0] <= MAX_PRECISION
        assert gaps[-1] <= gaps[0] + 1e-9
        assert gaps[-1] <= trials.sum() / precision


@pytest.mark.parametrize("seed", range(3))
def test_binomial_data_reaches_binomial_mle(seed):
    """On binomial data a few EM steps reach the binomial MLE or beat it."""
    rng = np.random.default_rng(seed)
    trials = rng.integers(20, 80, size=400)
    heads = rng.binomial(trials, 0.35)
    X = np.column_stack([heads, trials - heads])
    binomial_loglik = binom.logpmf(heads, trials, heads.sum() / trials.sum()).sum()
    block = make_block(X)
    family = DirichletMultinomialFamily()
    params = {
        name: value[None]
        for name, value in family.init_params(block, np.ones((400, 1))).items()
    }
    for _ in range(3):
        _, params, _ = reference_em_step(family, block, np.ones((1, 1)), params)
    assert params["precision"][0, 0] <= MAX_PRECISION
    fitted = dm_mixture_loglik(X, [1.0], params["probs"][0], params["precision"][0])
    assert fitted >= binomial_loglik - trials.sum() / MAX_PRECISION


def test_underdispersed_data_at_the_cap():
    """Underdispersed rows keep a precision at the cap there, never past it."""
    trials = np.full(50, 40)
    heads = np.full(50, 20)
    heads[::2] += 1
    X = np.column_stack([heads, trials - heads])
    family = DirichletMultinomialFamily()
    block = make_block(X)
    params = {
        "probs": np.array([[[0.5, 0.5]]]),
        "precision": np.array([[MAX_PRECISION]]),
    }
    for _ in range(3):
        _, params, _ = reference_em_step(family, block, np.ones((1, 1)), params)
        assert params["precision"][0, 0] == MAX_PRECISION
    binomial_loglik = binom.logpmf(heads, trials, heads.sum() / trials.sum()).sum()
    fitted = dm_mixture_loglik(X, [1.0], params["probs"][0], params["precision"][0])
    assert np.isfinite(fitted) and fitted >= binomial_loglik - 1e-9


@pytest.mark.parametrize(
    "probs, precision",
    [([0.3, 0.7], 4.0), ([0.6, 0.1, 0.3], 15.0), ([0.5, 0.5], 1e-3)],
)
def test_sample_moments(probs, precision):
    """Sample means and covariances match n p and the overdispersed multinomial."""
    rng = np.random.default_rng(5)
    probs = np.array(probs)
    n_samples, n_trials = 200_000, 12
    params = {"probs": probs[None], "precision": np.array([precision])}
    X = DirichletMultinomialFamily().sample(
        params, np.zeros(n_samples, dtype=int), np.full(n_samples, n_trials), rng
    )
    assert_array_equal(X.sum(axis=1), n_trials)
    factor = (n_trials + precision) / (1 + precision)
    covariance = n_trials * factor * (np.diag(probs) - np.outer(probs, probs))
    standard_error = np.sqrt(np.diag(covariance) / n_samples)
    assert np.all(np.abs(X.mean(axis=0) - n_trials * probs) < 5 * standard_error)
    assert_allclose(np.cov(X.T), covariance, rtol=0.03, atol=1e-12)


def test_flatten_round_trip():
    """unflatten(flatten(params)) returns the parameters; they are feasible."""
    rng = np.random.default_rng(6)
    params = _random_params(rng, 3, 4, 3, log_precision=(-18, 27))
    family = DirichletMultinomialFamily()
    theta = family.flatten(params)
    assert theta.shape == (3, 4 * 3 + 4)
    assert family.feasible(theta).all()
    back = family.unflatten(theta, params)
    for name in params:
        assert_allclose(back[name], params[name], rtol=1e-13)


def test_flatten_extrapolations_stay_in_range():
    """Far extrapolations of the precision clip to the range or are infeasible."""
    params = {"probs": np.full((2, 1, 2), 0.5), "precision": np.array([[1.0], [1.0]])}
    family = DirichletMultinomialFamily()
    theta = family.flatten(params)
    theta[0, -1] = 1e3
    theta[1, -1] = -1.0
    assert_array_equal(family.feasible(theta), [True, False])
    assert family.unflatten(theta, params)["precision"][0, 0] == MAX_PRECISION
    theta[1, 0] = -0.1
    theta[1, -1] = 0.0
    assert not family.feasible(theta)[1]


def test_init_params_moment_precision():
    """The moment start is near the true precision and inside the init range."""
    rng = np.random.default_rng(7)
    X = _dm_rows(rng, 4000, np.array([[0.25, 0.75]]), np.array([20.0]), 60)
    family = DirichletMultinomialFamily()
    block = make_block(X)
    start = family.init_params(block, np.ones((X.shape[0], 1)))
    assert_allclose(start["precision"], [20.0], rtol=0.2)
    assert_allclose(start["probs"], [[0.25, 0.75]], atol=0.02)
    binomial = np.column_stack([X.sum(axis=1) // 2, X.sum(axis=1) - X.sum(axis=1) // 2])
    start = family.init_params(make_block(binomial), np.ones((X.shape[0], 1)))
    assert_allclose(start["precision"], [INIT_PRECISION_RANGE[1]])
    ones = np.eye(2)[rng.integers(2, size=30)]
    start = family.init_params(make_block(ones), np.ones((30, 1)))
    assert np.isfinite(start["precision"]).all()


def test_random_params_in_range():
    """Random starts lie on the simplex with precisions inside the init range."""
    rng = np.random.default_rng(8)
    block = make_block(np.ones((3, 4)))
    params = DirichletMultinomialFamily().random_params(5, block, rng)
    assert_allclose(params["probs"].sum(axis=1), 1.0)
    low, high = INIT_PRECISION_RANGE
    assert ((params["precision"] >= low) & (params["precision"] <= high)).all()


def test_n_parameters():
    """K components of C columns have K * C free parameters (C - 1 plus one)."""
    assert DirichletMultinomialFamily().n_parameters(3, 2) == 6
    assert DirichletMultinomialFamily().n_parameters(2, 4) == 8


def test_canonical_order():
    """Components sort by descending first probability, then precision."""
    params = {
        "probs": np.array([[0.2, 0.8], [0.6, 0.4], [0.6, 0.4]]),
        "precision": np.array([1.0, 2.0, 5.0]),
    }
    order = DirichletMultinomialFamily().canonical_order(np.ones(3) / 3, params)
    assert_array_equal(order, [2, 1, 0])


@pytest.mark.parametrize(
    "n_features, n_components, max_trials, identifiable",
    [
        (2, 1, 1, False),
        (2, 1, 2, True),
        (2, 2, 4, False),
        (2, 2, 5, True),
        (2, 3, 8, True),
        (3, 1, 1, False),
        (3, 1, 2, True),
    ],
)
def test_identifiability_problem(n_features, n_components, max_trials, identifiable):
    """Rows need enough trials for the moments to identify the parameters."""
    X = np.zeros((3, n_features))
    X[0, 0] = max_trials
    problem = DirichletMultinomialFamily().identifiability_problem(
        make_block(X), n_components
    )
    if identifiable:
        assert problem is None
    else:
        assert "not identifiable" in problem


def _louis_case(n_features, seed=10):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(n_features, 3.0), size=2)
    X = _dm_rows(rng, 80, probs, np.array([5.0, 40.0]), 30)
    params = {"probs": probs, "precision": np.array([5.0, 40.0])}
    resp = rng.dirichlet(np.ones(2), size=X.shape[0]).T * rng.uniform(0.5, 2, 80)
    family = DirichletMultinomialFamily()
    stats = family.accumulate(
        make_block(X), resp[None], {n: v[None] for n, v in params.items()}
    )
    stats = {name: value[0] for name, value in stats.items()}
    basis = family.free_basis(params, resp.sum(axis=1), stats)
    return X, params, resp, family, stats, basis


def _moved(family, params, basis, step):
    jac = family.delta_jacobians(params, basis)
    return {name: params[name] + jac[name] @ step for name in params}


def _expected_loglik(X, resp, params):
    """``sum_ik r_ik log f_k(x_i)`` from scipy's log-pmfs."""
    alpha = params["precision"][:, None] * params["probs"]
    return sum(resp[k] @ dm_logpmf(X, alpha[k]) for k in range(len(alpha)))


@pytest.mark.parametrize("n_features", [2, 3])
def test_louis_scores_match_finite_differences(n_features):
    """complete_scores summed with the responsibilities is the gradient."""
    X, params, resp, family, _, basis = _louis_case(n_features)
    assert basis.n_free == 2 * n_features
    scores = family.complete_scores(make_block(X), params, basis)
    gradient = np.einsum("kn,nkp->p", resp, scores)
    h = 1e-6
    numeric = [
        (
            _expected_loglik(X, resp, _moved(family, params, basis, h * e))
            - _expected_loglik(X, resp, _moved(family, params, basis, -h * e))
        )
        / (2 * h)
        for e in np.eye(basis.n_free)
    ]
    assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("n_features", [2, 3])
def test_louis_information_matches_finite_differences(n_features):
    """complete_information is minus the Hessian of the expected log-likelihood."""
    X, params, resp, family, stats, basis = _louis_case(n_features)
    info = family.complete_information(params, resp.sum(axis=1), stats, basis)
    block = make_block(X)

    def gradient(step):
        moved = _moved(family, params, basis, step)
        return np.einsum("kn,nkp->p", resp, family.complete_scores(block, moved, basis))

    h = 1e-5
    numeric = np.array(
        [(gradient(h * e) - gradient(-h * e)) / (2 * h) for e in np.eye(basis.n_free)]
    )
    assert_allclose(info, -(numeric + numeric.T) / 2, rtol=1e-6, atol=1e-6)


def test_louis_boundary_values_leave_the_basis():
    """A precision at the cap and an empty outcome are fixed, not free."""
    X, params, resp, family, _, _ = _louis_case(3)
    X[:, 2] = 0
    params["probs"][:, 2] = 1e-12
    params["probs"] /= params["probs"].sum(axis=1, keepdims=True)
    params["precision"][1] = MAX_PRECISION
    stats = family.accumulate(
        make_block(X), resp[None], {n: v[None] for n, v in params.items()}
    )
    stats = {name: value[0] for name, value in stats.items()}
    basis = family.free_basis(params, resp.sum(axis=1), stats)
    assert_array_equal(basis.boundary["precision"], [False, True])
    assert basis.boundary["probs"][:, 2].all()
    assert basis.n_free == 2 + 1


def test_surrogate_is_the_expected_complete_loglik():
    """For whole counts the M-step objective is sum_i r_i log f(x_i) (scipy)."""
    rng = np.random.default_rng(11)
    X = _dm_rows(rng, 120, np.array([[0.2, 0.3, 0.5]]), [4.0], 40)
    params = _random_params(rng, 1, 2, 3)
    resp = rng.uniform(size=(1, 2, X.shape[0]))
    family = DirichletMultinomialFamily()
    stats = _unpack(family.accumulate(make_block(X), resp, params))
    alpha = params["precision"][..., None] * params["probs"]
    constants = family.row_constants(make_block(X))
    expected = [resp[0, k] @ (dm_logpmf(X, alpha[0, k]) - constants) for k in range(2)]
    assert_allclose(surrogate_objective(stats, alpha, 0.0)[0], expected, rtol=1e-10)
    moved = alpha * rng.uniform(0.5, 2.0, size=alpha.shape)
    difference = surrogate_objective(stats, moved, 0.3) - surrogate_objective(
        stats, alpha, 0.3
    )
    assert_allclose(surrogate_change(stats, moved, alpha, 0.3), difference, rtol=1e-9)


def test_profile_precision_maximises_scipy_likelihood():
    """The profiled start is the candidate of largest scipy.stats likelihood."""
    rng = np.random.default_rng(11)
    probs = np.array([[0.1, 0.9], [0.45, 0.55]])
    X = _dm_rows(rng, 600, probs, np.array([30.0, 30.0]), 80)
    weights, start = np.array([0.4, 0.6]), np.array([500.0, 2.0])
    chosen = profile_precision(X, np.ones(len(X)), weights, probs, start)
    candidates = [start] + [np.full(2, a) for a in _PROFILE_GRID]
    logliks = [dm_mixture_loglik(X, weights, probs, a) for a in candidates]
    assert_allclose(chosen, candidates[int(np.argmax(logliks))])
    assert 10 < chosen[0] < 100
    kept = profile_precision(X, np.ones(len(X)), weights, probs, np.full(2, 30.0))
    assert_allclose(kept, 30.0)


def test_binomial_starts_are_binomial_em_fixed_points():
    """Binomial starts are fixed points of a scipy.stats binomial EM step."""
    rng = np.random.default_rng(12)
    probs = np.array([[0.15, 0.85], [0.5, 0.5]])
    X = _dm_rows(rng, 500, probs, np.array([40.0, 40.0]), 60)
    family = DirichletMultinomialFamily(pseudo_count=1e-6)
    start = {"probs": np.array([[[0.3, 0.7], [0.6, 0.4]]] * 2), "precision": None}
    start["precision"] = np.array([[5.0, 5.0], [5e3, 5e3]])
    weights, params = binomial_starts(
        RowTable.compress(family, X),
        family,
        np.full((2, 2), 0.5),
        start,
        update_weights=True,
    )
    trials = X.sum(axis=1)
    for w, p in zip(weights, params["probs"]):
        resp = softmax(np.log(w) + binom.logpmf(X[:, :1], trials[:, None], p[:, 0]), 1)
        assert_allclose(resp.mean(axis=0), w, atol=1e-4)
        assert_allclose(resp.T @ X[:, 0] / (resp.T @ trials), p[:, 0], atol=1e-4)
    assert ((params["precision"] >= 1.0) & (params["precision"] <= 1e4)).all()


@pytest.mark.parametrize("n_features", [2, 3])
def test_louis_mixture_information_in_blocks_matches_hessian(n_features, monkeypatch):
    """Blocks of 9 rows: the information and score are scipy's -Hessian and gradient.

    The scores come from the digamma tables of each block (whole counts) and
    the responsibilities of the statistics pass.
    """
    monkeypatch.setattr(_inference, "_block_rows", lambda family, params: 9)
    rng = np.random.default_rng(12)
    probs = rng.dirichlet(np.full(n_features, 3.0), size=2)
    precision = np.array([4.0, 30.0])
    X = _dm_rows(rng, 60, probs, precision, 25)
    family = DirichletMultinomialFamily()
    table = RowTable.compress(family, X)
    weights = np.array([0.4, 0.6])
    params = {"probs": probs, "precision": precision}
    info, score, free = observed_information(table, family, weights, params)
    assert free.n_free == 1 + 2 * n_features
    jacobians = _inference._delta_jacobians(family, weights, params, free)

    def loglik(step):
        moved = {
            name: value + jacobians[name] @ step
            for name, value in {"weights": weights, **params}.items()
        }
        alpha = moved["precision"][:, None] * moved["probs"]
        log_joint = [
            np.log(w) + dm_logpmf(X, a) for w, a in zip(moved["weights"], alpha)
        ]
        return logsumexp(np.array(log_joint), axis=0).sum()

    h = 1e-4
    eye = np.eye(free.n_free) * h
    gradient = [(loglik(e) - loglik(-e)) / (2 * h) for e in eye]
    hessian = np.array(
        [
            [
                (loglik(a + b) - loglik(a - b) - loglik(b - a) + loglik(-a - b))
                / (4 * h**2)
                for b in eye
            ]
            for a in eye
        ]
    )
    assert_allclose(score, gradient, rtol=1e-6, atol=1e-5)
    assert_allclose(info, -hessian, rtol=1e-4, atol=1e-3)
