"""Hypothesis properties of BinomialMixture on bounded random count matrices."""

import warnings

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats
from scipy.special import gammaln, logsumexp
from sklearn.exceptions import ConvergenceWarning

from sklearn_coinem import BinomialMixture, IdentifiabilityWarning
from sklearn_coinem._solver import _MAX_REMAINING_GAIN
from tests.strategies import (
    algorithms,
    count_matrices,
    init_params,
    n_components,
    seeds,
)

SETTINGS = settings(deadline=None, max_examples=30)


def fit_quietly(X, sample_weight=None, **params):
    """Fit, ignoring only the warnings random small data legitimately raise."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifiabilityWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        return BinomialMixture(**params).fit(X, sample_weight=sample_weight)


def assert_fits_agree(fit, X, weights, probs, score):
    """Another fit's estimates agree with ``fit`` as the stopping rule allows.

    Both fits must have converged on the likelihood of ``X`` (the other fit's
    columns mapped onto those of ``fit``). Each is then within
    ``_MAX_REMAINING_GAIN`` of the maximum's total log-likelihood, so their
    total log-likelihoods differ by less than that and, near a maximum, each
    parameter by less than ``2 sqrt(2 gain)`` standard errors (checked where
    the standard error exists).
    """
    assert abs(score - fit.score(X)) * len(X) <= _MAX_REMAINING_GAIN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        std_errors = fit.standard_errors(X)
    bound = 2 * np.sqrt(2 * _MAX_REMAINING_GAIN)
    for estimate, other, std_error in (
        (fit.weights_, weights, std_errors.weights),
        (fit.probs_, probs, std_errors.probs),
    ):
        known = np.isfinite(std_error)
        distance = np.abs(estimate - other)[known]
        assert np.all(distance <= bound * std_error[known] + 1e-12)


def reference_log_joint(X, weights, probs):
    """log w_k + log pmf_k(x) of each row and component, independently computed.

    scipy.stats.multinomial on integer counts, the gammaln form of the
    multinomial density on real-valued counts.
    """
    trials = X.sum(axis=1)
    if np.array_equal(X, np.round(X)):
        log_pmf = np.column_stack(
            [stats.multinomial.logpmf(X, trials, p) for p in probs]
        )
    else:
        log_coef = gammaln(trials + 1) - gammaln(X + 1).sum(axis=1)
        log_pmf = log_coef[:, None] + X @ np.log(probs).T
    return np.log(weights) + log_pmf


@SETTINGS
@given(
    X=count_matrices(real=st.booleans()),
    n_components=n_components,
    init_params=init_params,
    algorithm=algorithms,
    seed=seeds,
)
def test_fit_outputs_are_distributions(X, n_components, init_params, algorithm, seed):
    """Weights, probability rows and responsibilities are finite distributions."""
    bm = fit_quietly(
        X,
        n_components=n_components,
        init_params=init_params,
        algorithm=algorithm,
        random_state=seed,
    )
    assert_allclose(bm.weights_.sum(), 1.0, rtol=1e-12)
    assert_allclose(bm.probs_.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(bm.weights_ >= 0) and np.all(bm.probs_ >= 0)
    resp = bm.predict_proba(X)
    assert np.all(np.isfinite(resp))
    assert np.all((resp >= 0) & (resp <= 1))
    assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-12)
    scores = bm.score_samples(X)
    assert np.all(np.isfinite(scores))
    log_joint = reference_log_joint(X, bm.weights_, bm.probs_)
    expected = logsumexp(log_joint, axis=1)
    assert_allclose(scores, expected, rtol=1e-9, atol=1e-9)
    assert_allclose(resp, np.exp(log_joint - expected[:, None]), atol=1e-9)
    assert_array_equal(bm.predict(X), resp.argmax(axis=1))
    assert np.all(np.diff(bm.probs_[:, 0]) <= 0)


@SETTINGS
@given(
    X=count_matrices(real=st.booleans()),
    n_components=n_components,
    algorithm=algorithms,
    update_weights=st.booleans(),
    pseudo_count=st.sampled_from([0.0, 1e-6, 1.0]),
    tol=st.sampled_from([0.0, 1e-8]),
    seed=seeds,
)
def test_lower_bounds_never_decrease(
    X, n_components, algorithm, update_weights, pseudo_count, tol, seed
):
    """The recorded objective is finite and non-decreasing, to the last step."""
    bm = fit_quietly(
        X,
        n_components=n_components,
        algorithm=algorithm,
        update_weights=update_weights,
        pseudo_count=pseudo_count,
        tol=tol,
        max_iter=200,
        random_state=seed,
    )
    bounds = bm.lower_bounds_
    assert np.all(np.isfinite(bounds))
    assert np.all(np.diff(bounds) >= -1e-12 * (1 + np.abs(bounds[1:])))


@SETTINGS
@given(
    X=count_matrices(min_cols=2, max_cols=2),
    n_components=n_components,
    algorithm=algorithms,
    seed=seeds,
)
def test_swapping_columns_mirrors_theta(X, n_components, algorithm, seed):
    """Heads and tails swapped: theta becomes 1 - theta with the same score."""
    theta = np.random.default_rng(seed).uniform(0.05, 0.95, size=n_components)
    probs_init = np.column_stack([theta, 1 - theta])
    params = {"n_components": n_components, "algorithm": algorithm}
    bm = fit_quietly(X, probs_init=probs_init, **params)
    mirror = fit_quietly(X[:, ::-1], probs_init=probs_init[:, ::-1], **params)
    assume(bm.converged_ and mirror.converged_)
    assert_fits_agree(
        bm, X, mirror.weights_, mirror.probs_[:, ::-1], mirror.score(X[:, ::-1])
    )


@SETTINGS
@given(
    X=count_matrices(min_cols=3),
    n_components=n_components,
    algorithm=algorithms,
    seed=seeds,
)
def test_permuting_columns_permutes_probs(X, n_components, algorithm, seed):
    """Relabelling the outcomes relabels the columns of probs_."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(X.shape[1])
    probs_init = rng.dirichlet(np.ones(X.shape[1]), size=n_components)
    params = {"n_components": n_components, "algorithm": algorithm}
    bm = fit_quietly(X, probs_init=probs_init, **params)
    permuted = fit_quietly(X[:, perm], probs_init=probs_init[:, perm], **params)
    assume(bm.converged_ and permuted.converged_)
    inverse = np.argsort(perm)
    assert_fits_agree(
        bm,
        X,
        permuted.weights_,
        permuted.probs_[:, inverse],
        permuted.score(X[:, perm]),
    )


@SETTINGS
@given(
    X=count_matrices(real=st.booleans()),
    n_components=n_components,
    init_params=init_params,
    n_init=st.integers(1, 2),
    seed=seeds,
)
def test_permuting_rows_changes_nothing(X, n_components, init_params, n_init, seed):
    """Row order is irrelevant, even for random initialisations."""
    params = {
        "n_components": n_components,
        "init_params": init_params,
        "n_init": n_init,
        "random_state": seed,
    }
    perm = np.random.default_rng(seed).permutation(len(X))
    bm = fit_quietly(X, **params)
    shuffled = fit_quietly(X[perm], **params)
    assert_allclose(shuffled.probs_, bm.probs_, rtol=1e-10, atol=1e-10)
    assert_allclose(shuffled.weights_, bm.weights_, rtol=1e-10, atol=1e-10)
    assert_allclose(shuffled.lower_bound_, bm.lower_bound_, rtol=1e-10)
    assert_array_equal(shuffled.predict(X[perm]), bm.predict(X)[perm])


@SETTINGS
@given(
    X=count_matrices(max_rows=20, real=st.booleans()),
    n_components=n_components,
    init_params=init_params,
    seed=seeds,
)
def test_duplicating_rows_equals_sample_weight_two(X, n_components, init_params, seed):
    """Each row twice fits exactly like sample_weight=2."""
    params = {
        "n_components": n_components,
        "init_params": init_params,
        "random_state": seed,
    }
    doubled = fit_quietly(np.vstack([X, X]), **params)
    weighted = fit_quietly(X, sample_weight=np.full(len(X), 2.0), **params)
    assert_allclose(weighted.probs_, doubled.probs_, rtol=1e-10, atol=1e-10)
    assert_allclose(weighted.weights_, doubled.weights_, rtol=1e-10, atol=1e-10)
    assert_allclose(weighted.lower_bound_, doubled.lower_bound_, rtol=1e-10)


@SETTINGS
@given(
    X=count_matrices(),
    n_components=n_components,
    init_params=init_params,
    algorithm=algorithms,
    seed=seeds,
)
def test_fit_never_scores_below_its_start(
    X, n_components, init_params, algorithm, seed
):
    """The maximum-likelihood fit scores at least as well as its starting point."""
    params = {
        "n_components": n_components,
        "init_params": init_params,
        "pseudo_count": 0.0,
        "random_state": seed,
    }
    start = fit_quietly(X, max_iter=0, **params)
    bm = fit_quietly(X, algorithm=algorithm, **params)
    start_score, score = start.score(X), bm.score(X)
    assert np.isfinite(start_score) and np.isfinite(score)
    assert score >= start_score - 1e-12 * (1 + abs(start_score))


@SETTINGS
@given(X=count_matrices(), n_components=n_components, seed=seeds)
def test_more_initializations_never_worse(X, n_components, seed):
    """n_init=3 ends at least as high as n_init=1 with the same random_state."""
    params = {"n_components": n_components, "random_state": seed}
    one = fit_quietly(X, n_init=1, **params)
    three = fit_quietly(X, n_init=3, **params)
    assert three.lower_bound_ >= one.lower_bound_ - 1e-12 * (1 + abs(one.lower_bound_))
