"""Conformance suite: every component family honours the engine's contract.

Each family registers a case: how to build it, random data and parameters
for it, and an independent reference log-pmf (scipy.stats) and moments.
A new family adds one entry to ``CASES``; every test below then runs on it.
"""

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import expit, logsumexp
from scipy.stats import binom, multinomial

from sklearn_coinem._estep import em_step, sufficient_statistics
from sklearn_coinem._families import ComponentFamily, MultinomialFamily
from sklearn_coinem._families._binomial_regression import BinomialRegressionFamily
from sklearn_coinem._families._dirichlet_multinomial import (
    DirichletMultinomialFamily,
)
from sklearn_coinem._numerics import safe_log
from sklearn_coinem._solver import run_em
from sklearn_coinem._table import RowBlock, RowTable
from tests._references import (
    betabinom_case_data,
    betabinom_case_logpmf,
    betabinom_case_moments,
    betabinom_case_params,
)


@dataclass
class FamilyCase:
    """What the conformance tests need to know about one family."""

    name: str
    make: Callable  # (pseudo_count=...) -> ComponentFamily
    data: Callable  # (rng, n_rows) -> RowBlock-compatible kwargs
    params: Callable  # (rng, n_runs, n_components, block) -> batched params
    reference_logpmf: Callable  # (block, params of one component) -> (n,)
    moments: Callable  # (params of one component, trials, design row) -> mean, var
    # Agreement of fits whose statistics are summed in another order: the
    # rounding of closed-form M-steps, the inner tolerance of iterative ones.
    rtol: float = 1e-9


def _multinomial_data(rng, n_rows, n_features=3):
    trials = rng.integers(0, 12, size=n_rows)
    probs = rng.dirichlet(np.ones(n_features))
    return {"X": rng.multinomial(trials, probs).astype(float)}


def _multinomial_params(rng, n_runs, n_components, block):
    n_features = block.X.shape[1]
    probs = rng.dirichlet(np.full(n_features, 2.0), size=(n_runs, n_components))
    return {"probs": probs}


def _multinomial_logpmf(block, params):
    X = block.X
    return multinomial.logpmf(X, X.sum(axis=1), params["probs"])


def _multinomial_moments(params, trials, design_row):
    p = params["probs"]
    return trials * p, trials * p * (1 - p)


def _regression_data(rng, n_rows, n_covariates=2):
    design = np.column_stack([np.ones(n_rows), rng.normal(size=(n_rows, n_covariates))])
    trials = rng.integers(0, 12, size=n_rows)
    successes = rng.binomial(trials, expit(design @ rng.normal(size=n_covariates + 1)))
    return {
        "X": np.column_stack([successes, trials - successes]).astype(float),
        "design": design,
    }


def _regression_params(rng, n_runs, n_components, block):
    n_cols = block.design.shape[1]
    return {"coef": rng.normal(scale=0.7, size=(n_runs, n_components, n_cols))}


def _regression_logpmf(block, params):
    p = expit(block.design @ params["coef"])
    return binom.logpmf(block.X[:, 0], block.X.sum(axis=1), p)


def _regression_moments(params, trials, design_row):
    p = expit(design_row @ params["coef"])
    p = np.array([p, 1 - p])
    return trials * p, trials * p * (1 - p)


CASES = [
    FamilyCase(
        "multinomial",
        lambda pseudo_count=1e-3: MultinomialFamily(pseudo_count=pseudo_count),
        _multinomial_data,
        _multinomial_params,
        _multinomial_logpmf,
        _multinomial_moments,
    ),
    FamilyCase(
        "beta-binomial",
        lambda pseudo_count=1e-3: DirichletMultinomialFamily(pseudo_count=pseudo_count),
        betabinom_case_data,
        betabinom_case_params,
        betabinom_case_logpmf,
        lambda params, trials, design_row: betabinom_case_moments(params, trials),
        rtol=1e-7,
    ),
    FamilyCase(
        "binomial-regression",
        lambda pseudo_count=0.0: BinomialRegressionFamily(shared=np.zeros(3, bool)),
        _regression_data,
        _regression_params,
        _regression_logpmf,
        _regression_moments,
    ),
]


@pytest.fixture(params=CASES, ids=[case.name for case in CASES])
def case(request):
    return request.param


def _block(case, rng, n_rows=60):
    data = case.data(rng, n_rows)
    return RowBlock(weights=rng.uniform(0.5, 2.0, size=n_rows), **data)


def _table(case, block, compress=False):
    family = case.make()
    if compress:
        return RowTable.compress(
            family, block.X, block.weights, design=block.design, labels=block.labels
        )
    return RowTable.from_rows(
        family, block.X, block.weights, design=block.design, labels=block.labels
    )


def test_family_implements_the_contract(case):
    """Every required hook of the contract is overridden."""
    family = case.make()
    assert isinstance(family, ComponentFamily)
    hooks = [
        name
        for name, value in vars(ComponentFamily).items()
        if callable(value)
        and not name.startswith("_")
        and "NotImplementedError" in inspect.getsource(value)
    ]
    assert len(hooks) == 19
    missing = [
        name
        for name in hooks
        if getattr(type(family), name) is getattr(ComponentFamily, name)
    ]
    assert missing == []
    assert set(family.param_bounds) == set(family.param_names)


def test_family_log_prob_matches_reference(case):
    """log_prob plus the row constant equals an independent log-pmf."""
    rng = np.random.default_rng(0)
    block = _block(case, rng)
    family = case.make()
    params = case.params(rng, 2, 3, block)
    log_prob = family.log_prob(block, params) + family.row_constants(block)
    assert log_prob.shape == (2, 3, block.X.shape[0])
    for run in range(2):
        for k in range(3):
            one = {name: value[run, k] for name, value in params.items()}
            assert_allclose(
                log_prob[run, k], case.reference_logpmf(block, one), rtol=1e-9
            )


def test_family_statistics_are_additive_over_blocks(case):
    """Statistics of a table equal the sum over any split into blocks."""
    rng = np.random.default_rng(1)
    block = _block(case, rng, n_rows=90)
    family = case.make()
    params = case.params(rng, 2, 3, block)
    log_weights = safe_log(rng.dirichlet(np.ones(3), size=2))
    whole = sufficient_statistics(_table(case, block), family, log_weights, params)
    parts = [
        sufficient_statistics(
            _table(case, _rows(block, rows)), family, log_weights, params
        )
        for rows in (slice(0, 17), slice(17, 60), slice(60, 90))
    ]
    total = parts[0]
    for part in parts[1:]:
        total = (
            total[0] + part[0],
            {n: total[1][n] + part[1][n] for n in total[1]},
            total[2] + part[2],
        )
    assert_allclose(total[0], whole[0], rtol=1e-12)
    for name in whole[1]:
        assert_allclose(total[1][name], whole[1][name], rtol=1e-10, atol=1e-12)
    assert_allclose(total[2], whole[2], rtol=1e-12)


def _rows(block, rows):
    return RowBlock(
        block.X[rows],
        block.weights[rows],
        None if block.design is None else block.design[rows],
        None if block.labels is None else block.labels[rows],
    )


def _fit(case, table, weights, params, **kwargs):
    options = {
        "pseudo_count": 1e-3,
        "update_weights": True,
        "tol": 1e-10,
        "max_iter": 200,
        "algorithm": "squarem",
    }
    return run_em(table, case.make(), weights, params, **{**options, **kwargs})


def test_family_batched_runs_match_single_runs(case):
    """A batch of restarts gives each restart's result when run alone.

    Plain EM for a fixed number of iterations: batches of other sizes may
    round products differently, and SQUAREM's accept/reject decisions (or a
    stopping rule) can turn a last-digit difference into another path to
    the same maximum.
    """
    rng = np.random.default_rng(2)
    block = _block(case, rng, n_rows=200)
    table = _table(case, block)
    weights = rng.dirichlet(np.full(3, 5.0), size=4)
    params = case.params(rng, 4, 3, block)
    options = {"algorithm": "em", "tol": 0.0, "max_iter": 40}
    batch = _fit(case, table, weights, params, **options)
    for run in range(4):
        alone = _fit(
            case,
            table,
            weights[run : run + 1],
            {n: v[run : run + 1] for n, v in params.items()},
            **options,
        )
        assert_allclose(batch.weights[run], alone.weights[0], rtol=1e-10)
        for name in params:
            assert_allclose(batch.params[name][run], alone.params[name][0], rtol=1e-10)
        assert_allclose(batch.lower_bounds[run], alone.lower_bounds[0], rtol=1e-12)


def test_family_compressed_rows_match_raw_rows(case):
    """EM on the compressed table equals EM on every raw row with its weight."""
    rng = np.random.default_rng(3)
    block = _block(case, rng, n_rows=400)
    repeated = _rows(block, rng.integers(0, 400, size=1200))
    compressed = _table(case, repeated, compress=True)
    assert compressed.n_distinct < 1200
    raw = _table(case, repeated)
    weights = rng.dirichlet(np.full(2, 5.0), size=2)
    params = case.params(rng, 2, 2, block)
    result = _fit(case, compressed, weights, params, algorithm="em", max_iter=30)
    expected = _fit(case, raw, weights, params, algorithm="em", max_iter=30)
    assert_allclose(result.weights, expected.weights, rtol=case.rtol)
    for name in params:
        assert_allclose(result.params[name], expected.params[name], rtol=10 * case.rtol)
    assert_allclose(result.lower_bound, expected.lower_bound, rtol=case.rtol / 100)


@pytest.mark.parametrize("seed", range(10))
def test_family_em_objective_never_decreases(case, seed):
    """Every EM (and SQUAREM-cycle) objective is at least the previous one."""
    rng = np.random.default_rng(seed)
    block = _block(case, rng, n_rows=150)
    table = _table(case, block)
    weights = rng.dirichlet(np.ones(3), size=3)
    params = case.params(rng, 3, 3, block)
    for algorithm in ("em", "squarem"):
        result = _fit(case, table, weights, params, algorithm=algorithm, tol=0.0)
        for bounds in result.lower_bounds:
            assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))


def test_family_objective_is_the_full_log_likelihood(case):
    """The engine's objective equals the reference mixture log-likelihood."""
    rng = np.random.default_rng(4)
    block = _block(case, rng, n_rows=80)
    table = _table(case, block)
    family = case.make(pseudo_count=0.0)
    weights = rng.dirichlet(np.ones(2), size=1)
    params = case.params(rng, 1, 2, block)
    _, _, objective = em_step(
        table, family, weights, params, pseudo_count=0.0, update_weights=True
    )
    components = [
        np.log(weights[0, k])
        + case.reference_logpmf(block, {n: v[0, k] for n, v in params.items()})
        for k in range(2)
    ]
    expected = block.weights @ logsumexp(components, axis=0) / block.weights.sum()
    assert_allclose(objective[0], expected, rtol=1e-10)


def test_family_flatten_round_trip(case):
    """unflatten(flatten(params)) gives the parameters back, feasible."""
    rng = np.random.default_rng(5)
    block = _block(case, rng)
    family = case.make()
    params = case.params(rng, 3, 4, block)
    theta = family.flatten(params)
    assert theta.shape[0] == 3 and theta.ndim == 2
    assert family.feasible(theta).all()
    back = family.unflatten(theta, params)
    for name in params:
        assert_allclose(back[name], params[name], rtol=1e-12)


def test_family_sample_moments_match_model(case):
    """Sampled counts have the model's mean and variance."""
    rng = np.random.default_rng(6)
    block = _block(case, rng)
    family = case.make()
    params = case.params(rng, 1, 2, block)
    one = {n: v[0] for n, v in params.items()}
    n_samples, trials = 40_000, 30
    components = np.repeat([0, 1], n_samples // 2)
    design_row = None if block.design is None else block.design[0]
    design = None if design_row is None else np.tile(design_row, (n_samples, 1))
    X = family.sample(one, components, np.full(n_samples, trials), rng, design=design)
    assert_array_equal(X.sum(axis=1), trials)
    for k in range(2):
        rows = X[components == k]
        component = {n: v[k] for n, v in one.items()}
        mean, variance = case.moments(component, trials, design_row)
        standard_error = np.sqrt(variance / len(rows))
        assert np.all(np.abs(rows.mean(axis=0) - mean) < 5 * standard_error + 1e-12)
        assert_allclose(rows.var(axis=0), variance, rtol=0.05, atol=1e-9)


def test_family_init_params_are_inside_the_space(case):
    """Starts from responsibilities have a finite log-likelihood everywhere."""
    rng = np.random.default_rng(7)
    block = _block(case, rng)
    family = case.make()
    resp = rng.dirichlet(np.ones(3), size=block.X.shape[0]) * block.weights[:, None]
    params = family.init_params(block, resp)
    batched = {n: v[None] for n, v in params.items()}
    assert np.isfinite(family.log_prob(block, batched)).all()
    random = family.random_params(3, block, rng)
    assert family.feasible(family.flatten({n: v[None] for n, v in random.items()}))
