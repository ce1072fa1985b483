"""Tests of the EM engine: compression, SQUAREM, Newton polishing, restarts."""

from math import factorial, lgamma

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats
from scipy.optimize import minimize
from scipy.special import expit, logit, logsumexp
from scipy.stats import binom, multinomial
from sklearn.exceptions import ConvergenceWarning

from sklearn_coinem import BetaBinomialMixture, BinomialMixture, _newton, _solver
from sklearn_coinem._estep import sufficient_statistics
from sklearn_coinem._families import MultinomialFamily
from sklearn_coinem._families._base import ComponentFamily
from sklearn_coinem._newton import newton_step
from sklearn_coinem._numerics import log_coefficients, safe_log
from sklearn_coinem._solver import (
    _MAX_REMAINING_GAIN,
    _squarem_extrapolate,
    remaining_gain,
    run_em,
)
from sklearn_coinem._table import RowTable

FAMILY = MultinomialFamily(pseudo_count=1e-6)


def _coins(rng, n_samples, theta, low=5, high=50):
    component = rng.integers(len(theta), size=n_samples)
    trials = rng.integers(low, high + 1, size=n_samples)
    heads = rng.binomial(trials, np.asarray(theta)[component])
    return np.column_stack([heads, trials - heads])


def _starts(rng, n_runs, n_components, n_features):
    weights = rng.dirichlet(np.full(n_components, 5.0), size=n_runs)
    probs = rng.dirichlet(np.full(n_features, 5.0), size=(n_runs, n_components))
    return weights, probs


def _run(table, weights, probs, **kwargs):
    params = {
        "pseudo_count": 1e-6,
        "update_weights": True,
        "tol": 1e-8,
        "max_iter": 500,
        "algorithm": "squarem",
    }
    params = {**params, **kwargs}
    family = MultinomialFamily(pseudo_count=params["pseudo_count"])
    return run_em(table, family, weights, {"probs": probs}, **params)


def _table(X, sample_weight=None):
    return RowTable.compress(FAMILY, X, sample_weight)


def _statistics(table, weights, probs):
    nk, stats, loglik = sufficient_statistics(
        table, FAMILY, safe_log(weights), {"probs": probs}
    )
    return nk, stats["counts"], loglik


def _reference_em(X, weights, probs, n_iter):
    """Maximum-likelihood EM for coins on the raw rows with scipy's binomial."""
    trials = X.sum(axis=1)
    objectives = []
    for _ in range(n_iter):
        log_joint = binom.logpmf(X[:, [0]], trials[:, None], probs[:, 0]) + np.log(
            weights
        )
        log_norm = logsumexp(log_joint, axis=1)
        objectives.append(log_norm.mean())
        resp = np.exp(log_joint - log_norm[:, None])
        weights = resp.mean(axis=0)
        probs = resp.T @ X
        probs = probs / probs.sum(axis=1, keepdims=True)
    return weights, probs, np.array(objectives)


@pytest.mark.parametrize("algorithm", ["em", "squarem"])
@pytest.mark.parametrize("weighted", [False, True])
def test_run_em_compressed_table_matches_raw_rows(algorithm, weighted):
    """EM on the compressed table equals EM on every raw row with its weight."""
    rng = np.random.default_rng(0)
    X = _coins(rng, 3000, [0.2, 0.5, 0.8], high=20)
    sample_weight = rng.uniform(0.5, 2, size=len(X)) if weighted else None
    compressed = _table(X, sample_weight)
    raw = RowTable.from_rows(
        FAMILY,
        X.astype(float),
        np.ones(len(X)) if sample_weight is None else sample_weight,
    )
    assert compressed.n_distinct < len(X) / 5
    weights, probs = _starts(rng, 3, 3, 2)
    # A fixed number of steps: the same map on both tables, step by step.
    result = _run(compressed, weights, probs, algorithm=algorithm, tol=0.0, max_iter=30)
    expected = _run(raw, weights, probs, algorithm=algorithm, tol=0.0, max_iter=30)
    assert_allclose(result.weights, expected.weights, rtol=1e-10, atol=1e-12)
    assert_allclose(
        result.params["probs"], expected.params["probs"], rtol=1e-10, atol=1e-12
    )
    assert_array_equal(result.n_iter, expected.n_iter)
    for bounds, expected_bounds in zip(result.lower_bounds, expected.lower_bounds):
        assert_allclose(bounds, expected_bounds, rtol=1e-12)


def test_run_em_matches_scipy_reference():
    """Plain EM on the table follows a scipy-based EM on the raw rows."""
    rng = np.random.default_rng(1)
    X = _coins(rng, 500, [0.3, 0.7], low=1, high=20)
    weights, probs = np.array([0.5, 0.5]), np.array([[0.4, 0.6], [0.6, 0.4]])
    table = _table(X)
    result = _run(
        table,
        weights[None],
        probs[None],
        algorithm="em",
        pseudo_count=0.0,
        tol=0.0,
        max_iter=8,
    )
    ref_weights, ref_probs, ref_objectives = _reference_em(X, weights, probs, 8)
    assert_allclose(result.weights[0], ref_weights, rtol=1e-10)
    assert_allclose(result.params["probs"][0], ref_probs, rtol=1e-10)
    assert_allclose(result.lower_bounds[0], ref_objectives, rtol=1e-12)


def test_sufficient_statistics_match_brute_force():
    """E-step statistics equal a scipy computation row by row, zeros included."""
    X = np.array([[3.0, 0.0, 1.0], [0.0, 2.0, 2.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    row_weight = np.array([2.0, 0.5, 1.0, 3.0])
    probs = np.array(
        [
            [[0.5, 0.0, 0.5], [0.2, 0.3, 0.5]],
            [[0.6, 0.4, 0.0], [0.0, 0.5, 0.5]],
        ]
    )
    weights = np.array([[0.3, 0.7], [0.9, 0.1]])
    nk, counts, loglik = _statistics(
        RowTable.from_rows(FAMILY, X, row_weight), weights, probs
    )
    for run in range(2):
        joint = np.array(
            [
                [
                    weights[run, k] * multinomial.pmf(x, x.sum(), probs[run, k])
                    for k in range(2)
                ]
                for x in X
            ]
        )
        norm = joint.sum(axis=1)
        resp = np.where(norm[:, None] > 0, joint, weights[run])
        resp /= resp.sum(axis=1, keepdims=True)
        coef = np.array(
            [
                factorial(int(x.sum())) / np.prod([factorial(int(c)) for c in x])
                for x in X
            ]
        )
        with np.errstate(divide="ignore"):
            expected_loglik = row_weight @ (np.log(norm) - np.log(coef))
        assert_allclose(nk[run], row_weight @ resp, rtol=1e-12)
        assert_allclose(counts[run], (resp * row_weight[:, None]).T @ X, rtol=1e-12)
        assert_allclose(loglik[run], expected_loglik, rtol=1e-12)


def test_sufficient_statistics_row_impossible_under_every_component():
    """A row with probability zero everywhere scores -inf and gets the weights."""
    X = np.array([[2.0, 1.0], [0.0, 3.0]])
    probs = np.array([[[1.0, 0.0], [1.0, 0.0]]])
    weights = np.array([[0.25, 0.75]])
    nk, counts, loglik = _statistics(
        RowTable.from_rows(FAMILY, X, np.ones(2)), weights, probs
    )
    assert loglik[0] == -np.inf
    assert_allclose(nk[0], [0.25 * 2, 0.75 * 2])
    assert_allclose(counts[0], [[0.5, 1.0], [1.5, 3.0]])


def test_run_em_squarem_matches_em_at_convergence():
    """SQUAREM and plain EM reach the same fixed point on separated data."""
    rng = np.random.default_rng(2)
    X = _coins(rng, 5000, [0.1, 0.5, 0.9])
    table = _table(X)
    weights, probs = _starts(rng, 2, 3, 2)
    kwargs = {"tol": 1e-13, "max_iter": 5000}
    em = _run(table, weights, probs, algorithm="em", **kwargs)
    squarem = _run(table, weights, probs, algorithm="squarem", **kwargs)
    assert em.converged.all() and squarem.converged.all()
    assert_allclose(squarem.params["probs"], em.params["probs"], atol=1e-6)
    assert_allclose(squarem.weights, em.weights, atol=1e-6)
    assert_allclose(squarem.lower_bound, em.lower_bound, rtol=1e-12)


@pytest.mark.parametrize("algorithm", ["em", "squarem"])
def test_run_em_objective_never_decreases(algorithm):
    """The recorded objective of every run is non-decreasing."""
    rng = np.random.default_rng(3)
    datasets = [
        (_coins(rng, 2000, [0.45, 0.5, 0.55]), 3),
        (rng.multinomial(rng.integers(5, 30, size=500), [0.2, 0.3, 0.5]), 4),
    ]
    for X, n_components in datasets:
        table = _table(X)
        weights, probs = _starts(rng, 6, n_components, X.shape[1])
        result = _run(table, weights, probs, algorithm=algorithm, tol=1e-10)
        for bounds in result.lower_bounds:
            assert len(bounds) > 3
            assert np.all(np.diff(bounds) >= -1e-13 * np.abs(bounds[1:]))


class _RecordingTable:
    """A row table that records how far each evaluated point is off the simplex."""

    def __init__(self, table):
        self.table = table
        self.n_distinct = table.n_distinct
        self.X = table.X
        self.constant_sum = table.constant_sum
        self.total_weight = table.total_weight
        self.off_simplex = 0.0

    def map_reduce(self, func, family, log_weights, params, *args):
        # The E-steps of EM and of the Newton steps' line search; the
        # observed information (Newton steps) takes plain weights.
        if func is sufficient_statistics:
            sums = np.concatenate(
                [
                    np.exp(log_weights).sum(axis=-1).ravel(),
                    params["probs"].sum(-1).ravel(),
                ]
            )
            self.off_simplex = max(self.off_simplex, np.abs(sums - 1).max())
        return self.table.map_reduce(func, family, log_weights, params, *args)


@pytest.mark.parametrize("seed", range(5))
def test_run_em_squarem_long_steps_stay_on_the_simplex(seed):
    """Long SQUAREM steps on a flat likelihood evaluate only distributions.

    Three components for one coin make the likelihood nearly flat, so the step
    length grows to where rounding of the extrapolation would push the sums off
    1 and inflate the objective the safeguard compares.
    """
    rng = np.random.default_rng(seed)
    X = _coins(rng, 30, [0.45], low=0, high=50)
    table = _RecordingTable(_table(X))
    weights, probs = _starts(rng, 4, 3, 2)
    result = _run(table, weights, probs, tol=0.0, max_iter=300)
    assert table.off_simplex < 1e-12
    for bounds in result.lower_bounds:
        assert np.all(np.diff(bounds) >= -1e-13 * np.abs(bounds[1:]))


def test_run_em_batched_restarts_match_single_runs():
    """A batch of restarts gives each restart's result when run alone."""
    rng = np.random.default_rng(4)
    X = _coins(rng, 2000, [0.3, 0.5, 0.7])
    table = _table(X)
    weights, probs = _starts(rng, 5, 3, 2)
    batch = _run(table, weights, probs, max_iter=200)
    assert len(set(batch.n_iter.tolist())) > 1
    for run in range(5):
        alone = _run(table, weights[run : run + 1], probs[run : run + 1], max_iter=200)
        assert_allclose(batch.weights[run], alone.weights[0], rtol=1e-12)
        assert_allclose(
            batch.params["probs"][run], alone.params["probs"][0], rtol=1e-12
        )
        assert batch.n_iter[run] == alone.n_iter[0]
        assert batch.converged[run] == alone.converged[0]
        assert_allclose(batch.lower_bounds[run], alone.lower_bounds[0], rtol=1e-13)


@pytest.mark.parametrize("algorithm", ["em", "squarem"])
def test_run_em_max_iter_counts_em_map_evaluations(algorithm, monkeypatch):
    """n_iter counts E-step evaluations and never exceeds max_iter."""
    calls = []
    em_step = _solver.em_step

    def counting_em_step(table, family, weights, *args, **kwargs):
        calls.append(len(weights))
        return em_step(table, family, weights, *args, **kwargs)

    monkeypatch.setattr(_solver, "em_step", counting_em_step)
    rng = np.random.default_rng(5)
    X = _coins(rng, 1000, [0.45, 0.55])
    table = _table(X)
    weights, probs = _starts(rng, 3, 2, 2)
    result = _run(table, weights, probs, algorithm=algorithm, tol=0.0, max_iter=10)
    assert_array_equal(result.n_iter, [10, 10, 10])
    assert sum(calls) == result.n_iter.sum()
    assert not result.converged.any()


def test_run_em_fixed_weights_stay_fixed():
    """With update_weights=False both algorithms keep the starting weights."""
    rng = np.random.default_rng(6)
    X = _coins(rng, 500, [0.2, 0.8])
    table = _table(X)
    weights = np.array([[0.3, 0.7]])
    probs = np.array([[[0.4, 0.6], [0.6, 0.4]]])
    for algorithm in ("em", "squarem"):
        result = _run(table, weights, probs, algorithm=algorithm, update_weights=False)
        assert_array_equal(result.weights, weights)
        assert result.converged.all()


@pytest.mark.parametrize("algorithm", ["em", "squarem"])
def test_run_em_fixed_weights_are_per_run(algorithm):
    """Each run of a batch keeps its own fixed weights, not those of run 0."""
    rng = np.random.default_rng(6)
    X = _coins(rng, 500, [0.2, 0.8])
    table = _table(X)
    weights = np.array([[0.3, 0.7], [0.9, 0.1]])
    probs = np.array([[[0.4, 0.6], [0.6, 0.4]]] * 2)
    batch = _run(table, weights, probs, algorithm=algorithm, update_weights=False)
    assert_array_equal(batch.weights, weights)
    second = _run(
        table, weights[1:], probs[1:], algorithm=algorithm, update_weights=False
    )
    assert_allclose(batch.params["probs"][1], second.params["probs"][0], rtol=1e-12)


def test_squarem_extrapolate_stays_in_simplex():
    """Extrapolated probabilities stay non-negative and keep their sums."""
    rng = np.random.default_rng(7)
    theta0 = rng.dirichlet(np.ones(4), size=50)
    theta1 = rng.dirichlet(np.ones(4), size=50)
    theta2 = rng.dirichlet(np.ones(4), size=50)
    theta, alpha = _squarem_extrapolate(theta0, theta1, theta2, np.full(50, 64.0))
    assert (theta >= 0).all()
    assert (alpha <= -1).all()
    assert_allclose(theta.sum(axis=1), 1.0)


def test_fit_repeated_rows_match_sample_weight_and_permutation():
    """Repeating rows, weighting them, or shuffling them gives the same fit."""
    rng = np.random.default_rng(8)
    X = _coins(rng, 400, [0.2, 0.6, 0.9])
    repeats = rng.integers(1, 4, size=len(X))
    X_repeated = np.repeat(X, repeats, axis=0)
    order = rng.permutation(len(X_repeated))
    params = {"n_components": 3, "random_state": 0, "tol": 1e-10}
    fits = [
        BinomialMixture(**params).fit(X, sample_weight=repeats.astype(float)),
        BinomialMixture(**params).fit(X_repeated),
        BinomialMixture(**params).fit(X_repeated[order]),
    ]
    for fit in fits[1:]:
        assert_allclose(fit.weights_, fits[0].weights_, rtol=1e-10)
        assert_allclose(fit.probs_, fits[0].probs_, rtol=1e-10)
        assert_allclose(fit.lower_bounds_, fits[0].lower_bounds_, rtol=1e-12)


def test_log_coefficients_of_many_rows_match_gammaln():
    """Rows over several blocks, whole counts but one fraction in the last
    block (which sends every row to gammaln), equal scipy's gammaln sums."""
    from scipy.special import gammaln

    rng = np.random.default_rng(3)
    X = rng.integers(0, 40, size=(20000, 3)).astype(float)

    def expected(X):
        return gammaln(X.sum(axis=1) + 1) - gammaln(X + 1).sum(axis=1)

    assert_allclose(log_coefficients(X), expected(X), rtol=1e-13)
    X[-1, 0] += 0.5
    assert_allclose(log_coefficients(X), expected(X), rtol=1e-13)


@pytest.mark.parametrize(
    "X",
    [
        np.array([[0, 0], [3, 4], [10, 0], [7, 2]]),
        np.array([[0.0, 5.0, 1.0], [2.0, 2.0, 2.0]]),
        np.array([[1e6, 3.0], [2.0, 5e5]]),
        np.array([[0.5, 2.0], [1.5, 0.25]]),
    ],
)
def test_log_coefficients_match_lgamma(X):
    """Log multinomial coefficients equal lgamma sums, by table or by gammaln."""
    expected = [
        lgamma(sum(row) + 1) - sum(lgamma(count + 1) for count in row)
        for row in X.tolist()
    ]
    assert_allclose(log_coefficients(X), expected, rtol=1e-13)


def test_remaining_gain_of_geometric_gains_is_exact():
    """Gains shrinking by a fixed ratio leave exactly their geometric tail."""
    total_weight, ratio = 1000.0, 0.97
    steps = np.arange(10)
    total = -5000.0 - 3.0 * ratio**steps
    gain = remaining_gain(total / total_weight, total_weight)
    assert_allclose(gain, -5000.0 - total[-1], rtol=1e-8)


def test_remaining_gain_needs_shrinking_gains():
    """Too few steps or growing gains give inf; gains below rounding give 0."""
    assert remaining_gain([-3.0, -2.0, -1.5], 1.0) == np.inf
    assert remaining_gain([-3.0, -2.5, -1.9, -1.2], 1.0) == np.inf
    assert remaining_gain([-2.0, -1.0, -1.0, -1.0], 1.0) == 0.0


def test_remaining_gain_waits_for_the_ratios_to_settle():
    """Rising ratios (a fast direction dying out) give no estimate yet.

    Two directions, gains ``a r1**t + b r2**t``: the ratios of successive
    gains rise from near r1 to r2. Until they settle the Aitken estimate
    from the last ratio would undershoot the true tail, so it is inf; once
    the fast direction is gone the estimate is the slow tail.
    """
    r1, r2, a, b = 0.1, 0.95, 1.0, 1e-3
    steps = np.arange(60)
    gains = a * r1**steps + b * r2**steps
    total = np.concatenate([[0.0], np.cumsum(gains)])
    tail_left = b * r2**steps.size / (1 - r2) + a * r1**steps.size / (1 - r1)
    ratios = gains[1:] / gains[:-1]
    rising = np.flatnonzero(np.diff(ratios) > 0.1 * (1 - ratios[1:]))
    assert rising.size  # the sequence does have a rising stretch
    for end in rising + 3:
        assert remaining_gain(total[end - 3 : end + 1], 1.0) == np.inf
    gain = remaining_gain(total, 1.0)
    assert_allclose(gain, tail_left, rtol=1e-6)


def _overlapping_coins(n_samples):
    rng = np.random.default_rng(0)
    heads = rng.binomial(10, np.where(rng.random(n_samples) < 0.5, 0.6, 0.45))
    return np.column_stack([heads, 10 - heads])


def _distance_in_standard_errors(model, reference, X):
    """Largest distance of a weight or probability to the reference, in SE."""
    std_errors = reference.standard_errors(X)
    assert std_errors.newton_decrement < 1e-6
    weights = np.abs(model.weights_ - reference.weights_) / std_errors.weights
    probs = np.abs(model.probs_ - reference.probs_) / std_errors.probs
    return max(weights.max(), probs.max())


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("n_samples", [10**5, 10**6])
def test_converged_fits_are_near_the_maximum_in_standard_errors(n_samples):
    """A converged fit is within sqrt(2 * gain) SE of the maximum at any size.

    Two overlapping coins with ten flips: EM converges slowly and the
    per-sample change is below tol long before the estimates settle.
    """
    X = _overlapping_coins(n_samples)
    reference = BinomialMixture(2, tol=0.0, max_iter=3000, random_state=0).fit(X)
    bound = np.sqrt(2 * _MAX_REMAINING_GAIN)
    for algorithm, max_iter in (("squarem", 1000), ("em", 5000)):
        model = BinomialMixture(
            2, algorithm=algorithm, max_iter=max_iter, random_state=0
        ).fit(X)
        assert model.converged_
        assert _distance_in_standard_errors(model, reference, X) < bound
    # Stopped before its change is small enough for Newton steps.
    stopped = BinomialMixture(2, algorithm="em", max_iter=10, random_state=0)
    with pytest.warns(ConvergenceWarning):
        stopped.fit(X)
    assert not stopped.converged_
    assert _distance_in_standard_errors(stopped, reference, X) > bound


def _map_objective(X, weights, probs, pseudo_count):
    """Total MAP objective of coins with scipy's binomial (the reference)."""
    log_joint = binom.logpmf(X[:, [0]], X.sum(axis=1)[:, None], probs[:, 0])
    log_lik = logsumexp(log_joint + np.log(weights), axis=1).sum()
    return log_lik + pseudo_count * (np.log(weights).sum() + np.log(probs).sum())


def _scipy_maximum(X, weights, probs, pseudo_count):
    """Maximise the MAP objective of two coins by BFGS on logit parameters."""

    def unpack(z):
        w = expit(z[0])
        p = expit(z[1:])
        return np.array([w, 1 - w]), np.column_stack([p, 1 - p])

    start = np.concatenate([logit(weights[:1]), logit(probs[:, 0])])
    result = minimize(
        lambda z: -_map_objective(X, *unpack(z), pseudo_count),
        start,
        method="BFGS",
        options={"gtol": 1e-9},
    )
    return (*unpack(result.x), -result.fun)


def test_run_em_newton_polish_reaches_the_scipy_maximum():
    """Both algorithms stop at the maximum scipy.optimize finds, and say so."""
    rng = np.random.default_rng(11)
    X = _coins(rng, 3000, [0.6, 0.45], low=10, high=10)
    weights, probs = np.array([[0.4, 0.6]]), np.array([[[0.7, 0.3], [0.4, 0.6]]])
    ref_weights, ref_probs, ref_objective = _scipy_maximum(
        X, weights[0], probs[0], 1e-6
    )
    order = np.argsort(-ref_probs[:, 0])
    for algorithm in ("squarem", "em"):
        result = _run(_table(X), weights, probs, algorithm=algorithm, max_iter=5000)
        assert result.converged[0]
        fitted = result.params["probs"][0]
        final = _map_objective(X, result.weights[0], fitted, 1e-6)
        # The guarantee: the gain left is below _MAX_REMAINING_GAIN (and tol
        # per sample), so the estimates are within 0.045 standard errors;
        # at 3000 rows of overlapping coins a weight's is about 0.1.
        assert ref_objective - final < min(_MAX_REMAINING_GAIN, 1e-8 * len(X))
        fit_order = np.argsort(-fitted[:, 0])
        assert_allclose(fitted[fit_order], ref_probs[order], atol=5e-3)
        assert_allclose(result.weights[0][fit_order], ref_weights[order], atol=5e-3)


def test_newton_decrement_estimates_the_gain_left():
    """Near a maximum the Newton decrement is the objective's gain left to it."""
    rng = np.random.default_rng(12)
    X = _coins(rng, 20000, [0.6, 0.45], low=10, high=10)
    table = _table(X)
    weights, probs = np.array([[0.4, 0.6]]), np.array([[[0.7, 0.3], [0.4, 0.6]]])
    # 400 plain EM steps, without Newton steps: near, not at, the maximum.
    with _solver.stopping_rule("change"):
        near = _run(table, weights, probs, algorithm="em", tol=0.0, max_iter=400)
    w, p = near.weights[0], near.params["probs"][0]
    _, _, best = _scipy_maximum(X, w, p, 1e-6)
    gain = best - _map_objective(X, w, p, 1e-6)
    assert gain > 0.1
    step, model = newton_step(
        table, FAMILY, w, {"probs": p}, pseudo_count=1e-6, update_weights=True
    )
    assert_allclose(model.decrement, gain, rtol=0.1)
    after = _map_objective(X, w + step["weights"], p + step["probs"], 1e-6)
    assert best - after < 0.25 * gain


def test_run_em_newton_steps_keep_the_objective_monotone(monkeypatch):
    """Runs polished by Newton steps record non-decreasing objectives."""
    calls = []
    step = _newton.newton_step

    def counting_step(*args, **kwargs):
        calls.append(1)
        return step(*args, **kwargs)

    monkeypatch.setattr(_newton, "newton_step", counting_step)
    rng = np.random.default_rng(13)
    X = _coins(rng, 5000, [0.6, 0.45], low=10, high=10)
    weights, probs = _starts(rng, 4, 2, 2)
    for algorithm in ("squarem", "em"):
        result = _run(_table(X), weights, probs, algorithm=algorithm, max_iter=5000)
        assert result.converged.all()
        for bounds in result.lower_bounds:
            assert np.all(np.diff(bounds) >= -1e-13 * np.abs(bounds[1:]))
    assert len(calls) >= 8


def test_run_em_cut_by_max_iter_before_polishing_has_not_converged():
    """A quiet run that max_iter stops before its certificate is not converged."""
    rng = np.random.default_rng(14)
    X = _coins(rng, 5000, [0.6, 0.45], low=10, high=10)
    weights, probs = _starts(rng, 2, 2, 2)
    for algorithm in ("squarem", "em"):
        result = _run(
            _table(X), weights, probs, algorithm=algorithm, tol=1.0, max_iter=5000
        )
        assert result.converged.all()
        cut = _run(_table(X), weights, probs, algorithm=algorithm, tol=1.0, max_iter=2)
        assert not cut.converged.any()
        assert_array_equal(cut.n_iter, [2, 2])


def test_stopping_rule_change_is_the_old_rule():
    """The private old rule converges as soon as the change is below tol."""
    rng = np.random.default_rng(15)
    X = _coins(rng, 5000, [0.6, 0.45], low=10, high=10)
    weights, probs = _starts(rng, 2, 2, 2)
    with _solver.stopping_rule("change"):
        old = _run(_table(X), weights, probs, algorithm="em", tol=1e-3)
    assert _solver._STOPPING_RULE == "gain"
    assert old.converged.all()
    for bounds in old.lower_bounds:
        assert abs(bounds[-1] - bounds[-2]) < 1e-3 <= abs(bounds[-2] - bounds[-3])
    new = _run(_table(X), weights, probs, algorithm="em", tol=1e-3)
    assert np.all(new.n_iter > old.n_iter)


def test_newton_needs_the_prior_hook():
    """Newton steps need every hook, and wait for the tail when costly."""

    class WithoutPriorHook(MultinomialFamily):
        prior_derivatives = ComponentFamily.prior_derivatives

    def params(n_components, n_features):
        return {"probs": np.full((1, n_components, n_features), 1 / n_features)}

    assert _newton.polish_mode(FAMILY, params(2, 2), 2, True) == "first"
    # About 2 + n_free**2 / (8 K C) E-steps (bench_information.py).
    assert _newton.polish_mode(FAMILY, params(5, 20), 20, True) == "first"
    assert _newton.polish_mode(FAMILY, params(10, 40), 40, True) == "after_tail"
    assert _newton.polish_mode(WithoutPriorHook(1e-6), params(2, 2), 2, True) is None
    assert _newton.polish_mode(FAMILY, params(20, 200), 200, True) is None


@pytest.mark.parametrize("family_name", ["multinomial", "dirichlet-multinomial"])
def test_prior_derivatives_match_finite_differences(family_name):
    """The prior's gradient and curvature agree with central differences."""
    from sklearn.utils import Bunch

    from sklearn_coinem._families import DirichletMultinomialFamily

    rng = np.random.default_rng(16)
    probs = rng.dirichlet(np.ones(4), size=3)
    params = {"probs": probs}
    ref = probs.argmax(axis=1)
    comp, col = np.nonzero(np.arange(4)[None, :] != ref[:, None])
    basis = Bunch(n_free=len(comp), comp=comp, col=col, ref=ref)
    if family_name == "multinomial":
        family = MultinomialFamily(pseudo_count=0.3)
    else:
        family = DirichletMultinomialFamily(pseudo_count=0.3)
        params["precision"] = np.array([3.0, 40.0, 500.0])
        # Every precision is free: the prior does not depend on them.
        basis.precision_comp = np.arange(3)
        basis.n_free += 3
    score, info = family.prior_derivatives(params, basis)
    jac = family.delta_jacobians(params, basis)

    def prior(z):
        moved = {name: (value + jac[name] @ z)[None] for name, value in params.items()}
        return family.log_prior(moved)[0]

    h = 1e-5
    eye = np.eye(basis.n_free) * h
    gradient = [(prior(e) - prior(-e)) / (2 * h) for e in eye]
    hessian = [
        [
            (prior(a + b) - prior(a - b) - prior(b - a) + prior(-a - b)) / (4 * h * h)
            for b in eye
        ]
        for a in eye
    ]
    assert_allclose(score, gradient, rtol=1e-5, atol=1e-8)
    assert_allclose(-info, hessian, rtol=1e-4, atol=1e-4)


def test_halve_into_returns_the_feasible_step_length():
    """A step far outside the simplex is halved into it, and says how far."""
    coords = _solver._Coordinates(FAMILY, update_weights=True)
    weights = np.array([[0.3, 0.7]])
    probs = np.array([[[0.25, 0.75], [0.45, 0.55]]])
    step_w, step_p = np.array([[-2.0, 2.0]]), np.array([[[-0.4, 0.4], [0.5, -0.5]]])
    new_w, new_p, inside, t = _solver._halve_into(
        coords, weights, {"probs": probs}, step_w, {"probs": step_p}, np.ones(1)
    )
    assert inside.all()
    # The first power of two that keeps every coordinate non-negative.
    assert t[0] == 0.125
    assert_allclose(new_w, weights + t[0] * step_w)
    assert_allclose(new_p["probs"], probs + t[0] * step_p)


def _overdispersed_overlap(n_samples, rng):
    """Two beta-binomial clusters (means 0.3, 0.45, precision 20), 5..39 reads."""
    depth = rng.integers(5, 40, n_samples)
    mean = np.where(rng.random(n_samples) < 0.5, 0.3, 0.45)
    alt = rng.binomial(depth, rng.beta(mean * 20, (1 - mean) * 20))
    return np.column_stack([alt, depth - alt])


def _beta_binomial_gain_left(X, model):
    """Gain of the log-likelihood from ``model``'s estimates to scipy's BFGS maximum."""
    trials = X.sum(axis=1)[:, None]

    def negative_loglik(z):
        weights = np.array([expit(z[0]), 1 - expit(z[0])])
        mean, precision = expit(z[1:3]), np.exp(z[3:5])
        log_pmf = stats.betabinom.logpmf(
            X[:, :1], trials, mean * precision, (1 - mean) * precision
        )
        return -logsumexp(log_pmf + np.log(weights), axis=1).sum()

    start = np.concatenate(
        [
            logit(model.weights_[:1]),
            logit(model.probs_[:, 0]),
            np.log(model.precision_),
        ]
    )
    result = minimize(negative_loglik, start, method="BFGS", options={"gtol": 1e-8})
    return negative_loglik(start) - result.fun


@pytest.mark.parametrize("algorithm", ["em", "squarem"])
def test_beta_binomial_newton_step_outside_then_halved_converges(algorithm):
    """Plain EM's first Newton step leaves the parameter space by far.

    The line search must halve on from the first feasible length: it used
    to retry that same point, lose its step and leave plain EM crawling to
    max_iter (1000 iterations, not converged). Now both algorithms
    converge within the rule's guarantee of scipy's maximum.
    """
    X = _overdispersed_overlap(2000, np.random.default_rng(1))
    model = BetaBinomialMixture(2, algorithm=algorithm, random_state=0).fit(X)
    assert model.converged_
    assert model.n_iter_ < 200
    assert _beta_binomial_gain_left(X, model) < 2 * _MAX_REMAINING_GAIN


def _runs_for_certificate(total_weight=2000.0):
    """One run's state, as ``run_em`` makes it, for the certificate rules."""
    return _solver._Runs(
        np.array([[0.5, 0.5]]),
        {"probs": np.full((1, 2, 2), 0.5)},
        np.array([-2.0]),
        1e-6,
        total_weight,
        12,
    )


def test_newton_certificate_of_a_quadratic_stage():
    """A first decrement below the bound certifies, as does a tiny second one."""
    runs = _runs_for_certificate()
    assert runs.newton_certifies(0, 8e-4)
    runs = _runs_for_certificate()
    assert not runs.newton_certifies(0, 0.05)
    runs.lower_bound[0] += 0.05 / runs.total_weight  # gained what it promised
    assert runs.newton_certifies(0, 1e-9)


def test_newton_certificate_margin_where_newton_converges_linearly():
    """Decrements that shrink by 0.34 while each cycle gains 3 times its
    promise leave about 3 * d / (1 - 0.34) nats: 8e-4 does not certify.

    The sequence is the one traced on two overlapping beta-binomial
    clusters (2000 rows, SQUAREM, tol=1e-6), where the bare decrement
    certified a fit 2.4e-3 nats below the maximum.
    """
    runs = _runs_for_certificate()
    assert not runs.newton_certifies(0, 2.32e-3)
    runs.lower_bound[0] += 6.9e-3 / runs.total_weight
    assert not runs.newton_certifies(0, 7.95e-4)
    runs.lower_bound[0] += 3.6e-3 / runs.total_weight
    # A decrement well below the bound certifies despite the margin (4.3 here).
    assert runs.newton_certifies(0, 6e-5)
    runs.forget_newton(np.array([0]))
    assert runs.newton_certifies(0, 7.95e-4)


def _dice(rng, n_samples):
    """Two three-faced dice, 10..30 throws per row."""
    probs = np.array([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    component = rng.integers(2, size=n_samples)
    return rng.multinomial(rng.integers(10, 31, size=n_samples), probs[component])


def _dice_objective(X, weights, probs, pseudo_count=1e-6):
    """Total MAP objective of dice with scipy's multinomial (the reference)."""
    log_joint = np.column_stack(
        [multinomial.logpmf(X, X.sum(axis=1), p) for p in probs]
    )
    log_lik = logsumexp(log_joint + np.log(weights), axis=1).sum()
    return log_lik + pseudo_count * (np.log(weights).sum() + np.log(probs).sum())


def _near_dice_maximum(X, n_steps):
    """Weights and probs after ``n_steps`` plain EM steps from a fixed start."""
    weights, probs = np.array([[0.4, 0.6]]), np.array([[[0.4, 0.3, 0.3]] * 2])
    probs[0, 1] = [0.3, 0.3, 0.4]
    with _solver.stopping_rule("change"):
        near = _run(
            _table(X), weights, probs, algorithm="em", tol=0.0, max_iter=n_steps
        )
    return near.weights[0], near.params["probs"][0]


def test_quadratic_model_decrement_of_a_quadratic_objective():
    """With the Hessian of a quadratic, the decrement anywhere is its gain left."""
    rng = np.random.default_rng(30)
    root = rng.normal(size=(4, 4))
    curvature = root @ root.T + 0.1 * np.eye(4)
    top = rng.normal(size=4)

    def gain_left(x):
        return (x - top) @ curvature @ (x - top) / 2

    start = rng.normal(size=4)
    score = curvature @ (top - start)
    step, definite, factors = _newton._solve_definite(curvature, score)
    model = _newton.QuadraticModel(None, *factors, float(score @ step) / 2)
    assert definite
    assert_allclose(step, top - start)
    for point in (start, rng.normal(size=4), top + 1e-3 * rng.normal(size=4)):
        decrement = model.decrement_of(curvature @ (top - point))
        assert_allclose(decrement, gain_left(point), rtol=1e-10)
    saddle = np.array([[1.0, 2.0], [2.0, 1.0]])
    _, definite, factors = _newton._solve_definite(saddle, np.ones(2))
    assert not definite
    assert _newton.QuadraticModel(None, *factors, np.inf).decrement_of(np.ones(2)) == (
        np.inf
    )


def test_quasi_decrement_matches_a_scipy_newton_decrement():
    """The score from the E-step statistics and the Louis information give the
    decrement of scipy's objective, by finite differences in the free basis."""
    X = _dice(np.random.default_rng(31), 2000)
    weights, probs = _near_dice_maximum(X, 4)
    table = _table(X)
    options = {"pseudo_count": 1e-6, "update_weights": True}
    _, model = newton_step(table, FAMILY, weights, {"probs": probs}, **options)
    jacobians = _newton._delta_jacobians(FAMILY, weights, {"probs": probs}, model.free)

    def objective(z):
        return _dice_objective(
            X, weights + jacobians["weights"] @ z, probs + jacobians["probs"] @ z
        )

    h = 1e-4
    eye = np.eye(model.free.n_free) * h
    gradient = np.array([(objective(e) - objective(-e)) / (2 * h) for e in eye])
    hessian = np.array(
        [
            [
                objective(a + b)
                - objective(a - b)
                - objective(b - a)
                + objective(-a - b)
                for b in eye
            ]
            for a in eye
        ]
    ) / (4 * h * h)
    reference = -gradient @ np.linalg.solve(hessian, gradient) / 2
    assert reference > 1e-2
    assert_allclose(model.decrement, reference, rtol=1e-4)
    # The model's own point: the statistics' score is the information's.
    quasi = _newton.quasi_decrement(
        table, FAMILY, weights, {"probs": probs}, model, **options
    )
    assert_allclose(quasi, model.decrement, rtol=1e-9)


def test_quasi_decrement_after_a_newton_step_is_the_exact_one():
    """One Newton step later, the old Hessian gives the new decrement closely."""
    X = _dice(np.random.default_rng(32), 2000)
    weights, probs = _near_dice_maximum(X, 4)
    table = _table(X)
    options = {"pseudo_count": 1e-6, "update_weights": True}
    step, model = newton_step(table, FAMILY, weights, {"probs": probs}, **options)
    weights, probs = weights + step["weights"], probs + step["probs"]
    _, exact = newton_step(table, FAMILY, weights, {"probs": probs}, **options)
    quasi = _newton.quasi_decrement(
        table, FAMILY, weights, {"probs": probs}, model, **options
    )
    assert exact.decrement < 1e-3 * model.decrement
    assert_allclose(quasi, exact.decrement, rtol=0.05)


def test_quasi_decrement_refuses_a_changed_boundary():
    """A weight that reached the boundary since the model leaves no estimate."""
    X = _dice(np.random.default_rng(33), 2000)
    weights, probs = _near_dice_maximum(X, 4)
    table = _table(X)
    options = {"pseudo_count": 1e-6, "update_weights": True}
    _, model = newton_step(table, FAMILY, weights, {"probs": probs}, **options)
    empty = np.array([1.0, 1e-30])
    quasi = _newton.quasi_decrement(
        table, FAMILY, empty, {"probs": probs}, model, **options
    )
    assert quasi == np.inf


def test_quasi_certificate_rule():
    """Certified only after a short step, by a tiny ratio and with a margin."""
    runs = _runs_for_certificate()
    assert not runs.newton_certifies(0, 0.05)
    assert runs.quasi_certifies(0, 1e-6)
    # Newton did not converge quadratically: a ratio of 2e-3 (bound met).
    assert not runs.quasi_certifies(0, 1e-4)
    runs = _runs_for_certificate()
    assert not runs.newton_certifies(0, 0.5)
    # A ratio of 4e-4, but not ten times below the bound.
    assert not runs.quasi_certifies(0, 2e-4)
    assert runs.quasi_certifies(0, 9e-5)
    runs = _runs_for_certificate()
    assert not runs.newton_certifies(0, 2.0)
    # A long step: the Hessian may have changed, whatever the ratio.
    assert not runs.quasi_certifies(0, 1e-9)
    runs = _runs_for_certificate()
    assert not runs.quasi_certifies(0, 1e-9)


def _counting(monkeypatch, owner, name):
    """Replace ``owner.name`` by a wrapper that records what it returns."""
    results, function = [], getattr(owner, name)

    def counting(*args, **kwargs):
        results.append(function(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(owner, name, counting)
    return results


def test_quasi_certified_fit_is_within_the_bound_of_scipy_maximum(monkeypatch):
    """A plain EM fit that the quasi-Newton decrement certifies is within
    ``_MAX_REMAINING_GAIN`` of scipy's maximum, at the cost of one E-step."""
    certified = _counting(monkeypatch, _solver._Runs, "quasi_certifies")
    informations = _counting(monkeypatch, _newton, "newton_step")
    X = _dice(np.random.default_rng(34), 4000)
    weights, probs = _starts(np.random.default_rng(35), 1, 2, 3)
    result = _run(_table(X), weights, probs, algorithm="em", tol=1e-6)
    assert result.converged[0]
    assert certified == [True]
    assert len(informations) == 1
    fitted_w, fitted_p = result.weights[0], result.params["probs"][0]

    def negative(z):
        w = np.exp(z[:2]) / np.exp(z[:2]).sum()
        p = np.exp(z[2:].reshape(2, 3))
        return -_dice_objective(X, w, p / p.sum(axis=1, keepdims=True))

    start = np.log(np.concatenate([fitted_w, fitted_p.ravel()]))
    best = minimize(negative, start, method="BFGS", options={"gtol": 1e-8})
    gain_left = negative(start) - best.fun
    assert gain_left < _MAX_REMAINING_GAIN


def test_quasi_certificate_refused_falls_back_to_the_information(monkeypatch):
    """Where the quasi-Newton ratio test fails the run evaluates the information,
    and ends at the same point."""
    X = _dice(np.random.default_rng(34), 4000)
    weights, probs = _starts(np.random.default_rng(35), 1, 2, 3)
    quasi = _run(_table(X), weights, probs, algorithm="em", tol=1e-6)
    monkeypatch.setattr(_solver, "_QUASI_RHO", 0.0)
    informations = _counting(monkeypatch, _newton, "newton_step")
    full = _run(_table(X), weights, probs, algorithm="em", tol=1e-6)
    assert full.converged[0]
    assert len(informations) == 2
    # The information costs one iteration, as the quasi-Newton try did.
    assert full.n_iter[0] == quasi.n_iter[0] + 1
    assert_allclose(full.lower_bound, quasi.lower_bound, rtol=1e-12)
