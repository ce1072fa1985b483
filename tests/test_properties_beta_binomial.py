"""Hypothesis properties of BetaBinomialMixture on bounded random count matrices."""

import warnings

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning

from sklearn_coinem import (
    BetaBinomialMixture,
    CollapsedComponentsWarning,
    IdentifiabilityWarning,
)
from sklearn_coinem._solver import _MAX_REMAINING_GAIN
from tests._references import dm_logpmf
from tests.strategies import (
    algorithms,
    init_params,
    n_components,
    overdispersed_count_matrices,
    seeds,
)

SETTINGS = settings(deadline=None, max_examples=15)

# The documented range of precision_: the binomial limit is the cap.
MIN_PRECISION, MAX_PRECISION = 1e-8, 1e12


def fit_quietly(X, sample_weight=None, **params):
    """Fit, ignoring only the warnings random small data legitimately raise.

    ``max_iter`` is 200 unless given: flat likelihoods near the binomial
    limit can take many slow steps, and no property below needs more.
    """
    params.setdefault("max_iter", 200)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Column .* looks like a number of trials")
        warnings.simplefilter("ignore", IdentifiabilityWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", CollapsedComponentsWarning)
        return BetaBinomialMixture(**params).fit(X, sample_weight=sample_weight)


def reference_log_joint(X, weights, probs, precision):
    """log w_k + log pmf_k(x) of each row and component, from scipy.stats.

    ``scipy.stats.betabinom`` (two columns) or ``dirichlet_multinomial``
    (more), through the shared reference ``dm_logpmf``, which sums the
    log-pmf exactly where scipy loses accuracy (a precision near the cap).
    """
    return np.column_stack(
        [np.log(w) + dm_logpmf(X, a * p) for w, p, a in zip(weights, probs, precision)]
    )


def assert_fits_agree(fit, X, weights, probs, precision, score):
    """Another converged fit agrees with ``fit`` as the stopping rule allows.

    Each converged fit is within ``_MAX_REMAINING_GAIN`` of its maximum's
    total log-likelihood; at the same maximum their totals differ by less
    than that and each parameter by less than ``2 sqrt(2 gain)`` standard
    errors (checked where the standard error exists: not at the binomial
    limit, where the likelihood is flat in the precision).
    """
    assert abs(score - fit.score(X)) * len(X) <= _MAX_REMAINING_GAIN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        std_errors = fit.standard_errors(X)
    bound = 2 * np.sqrt(2 * _MAX_REMAINING_GAIN)
    for estimate, other, std_error in (
        (fit.weights_, weights, std_errors.weights),
        (fit.probs_, probs, std_errors.probs),
        (fit.precision_, precision, std_errors.precision),
    ):
        known = np.isfinite(std_error)
        distance = np.abs(estimate - other)[known]
        assert np.all(distance <= bound * std_error[known] + 1e-9 * estimate[known])


@SETTINGS
@given(
    X=overdispersed_count_matrices(),
    n_components=n_components,
    init_params=init_params,
    algorithm=algorithms,
    seed=seeds,
)
def test_fit_outputs_are_distributions(X, n_components, init_params, algorithm, seed):
    """Weights, means, precisions and responsibilities are finite and in range."""
    model = fit_quietly(
        X,
        n_components=n_components,
        init_params=init_params,
        algorithm=algorithm,
        random_state=seed,
    )
    assert_allclose(model.weights_.sum(), 1.0, rtol=1e-12)
    assert_allclose(model.probs_.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(model.weights_ >= 0) and np.all(model.probs_ >= 0)
    assert np.all(np.isfinite(model.precision_))
    # Within the range, to the rounding of precision = sum(alpha) (an ulp).
    assert np.all(model.precision_ >= MIN_PRECISION * (1 - 1e-15))
    assert np.all(model.precision_ <= MAX_PRECISION * (1 + 1e-15))
    resp = model.predict_proba(X)
    assert np.all(np.isfinite(resp)) and np.all((resp >= 0) & (resp <= 1))
    assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-12)
    assert_array_equal(model.predict(X), resp.argmax(axis=1))


@SETTINGS
@given(
    X=overdispersed_count_matrices(),
    n_components=n_components,
    init_params=init_params,
    seed=seeds,
)
def test_score_samples_matches_scipy(X, n_components, init_params, seed):
    """score_samples is logsumexp(log w + scipy's betabinom / DM log-pmf)."""
    model = fit_quietly(
        X, n_components=n_components, init_params=init_params, random_state=seed
    )
    log_joint = reference_log_joint(X, model.weights_, model.probs_, model.precision_)
    expected = logsumexp(log_joint, axis=1)
    scores = model.score_samples(X)
    assert np.all(np.isfinite(scores))
    assert_allclose(scores, expected, rtol=1e-9, atol=1e-9)
    resp = model.predict_proba(X)
    assert_allclose(resp, np.exp(log_joint - expected[:, None]), atol=1e-9)


@SETTINGS
@given(
    X=overdispersed_count_matrices(),
    n_components=n_components,
    algorithm=algorithms,
    update_weights=st.booleans(),
    pseudo_count=st.sampled_from([0.0, 1e-6, 1.0]),
    seed=seeds,
)
def test_lower_bounds_never_decrease(
    X, n_components, algorithm, update_weights, pseudo_count, seed
):
    """The recorded objective is finite and non-decreasing, to the last step."""
    model = fit_quietly(
        X,
        n_components=n_components,
        algorithm=algorithm,
        update_weights=update_weights,
        pseudo_count=pseudo_count,
        max_iter=200,
        random_state=seed,
    )
    bounds = model.lower_bounds_
    assert np.all(np.isfinite(bounds))
    assert np.all(np.diff(bounds) >= -1e-12 * (1 + np.abs(bounds[1:])))


@SETTINGS
@given(
    X=overdispersed_count_matrices(min_cols=2, max_cols=2),
    n_components=n_components,
    algorithm=algorithms,
    seed=seeds,
)
def test_swapping_columns_mirrors_probs(X, n_components, algorithm, seed):
    """Columns swapped: probs_ mirror, precision_ and the log-likelihood stay."""
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0.05, 0.95, size=n_components)
    probs_init = np.column_stack([theta, 1 - theta])
    precision_init = np.exp(rng.uniform(0, np.log(1e3), size=n_components))
    params = {"n_components": n_components, "algorithm": algorithm}
    params["precision_init"] = precision_init
    model = fit_quietly(X, probs_init=probs_init, **params)
    mirror = fit_quietly(X[:, ::-1], probs_init=probs_init[:, ::-1], **params)
    assume(model.converged_ and mirror.converged_)
    assert_fits_agree(
        model,
        X,
        mirror.weights_,
        mirror.probs_[:, ::-1],
        mirror.precision_,
        mirror.score(X[:, ::-1]),
    )


@SETTINGS
@given(
    X=overdispersed_count_matrices(min_cols=3),
    n_components=n_components,
    algorithm=algorithms,
    seed=seeds,
)
def test_permuting_columns_permutes_probs(X, n_components, algorithm, seed):
    """Relabelling the outcomes relabels probs_ and keeps precision_."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(X.shape[1])
    probs_init = rng.dirichlet(np.ones(X.shape[1]), size=n_components)
    params = {"n_components": n_components, "algorithm": algorithm}
    model = fit_quietly(X, probs_init=probs_init, **params)
    permuted = fit_quietly(X[:, perm], probs_init=probs_init[:, perm], **params)
    assume(model.converged_ and permuted.converged_)
    assert_fits_agree(
        model,
        X,
        permuted.weights_,
        permuted.probs_[:, np.argsort(perm)],
        permuted.precision_,
        permuted.score(X[:, perm]),
    )


@SETTINGS
@given(
    X=overdispersed_count_matrices(),
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
    model = fit_quietly(X, **params)
    shuffled = fit_quietly(X[perm], **params)
    assert_allclose(shuffled.probs_, model.probs_, rtol=1e-10, atol=1e-10)
    assert_allclose(shuffled.weights_, model.weights_, rtol=1e-10, atol=1e-10)
    assert_allclose(shuffled.precision_, model.precision_, rtol=1e-10)
    assert_allclose(shuffled.lower_bound_, model.lower_bound_, rtol=1e-10)
    assert_array_equal(shuffled.predict(X[perm]), model.predict(X)[perm])


@SETTINGS
@given(
    X=overdispersed_count_matrices(max_rows=20),
    n_components=n_components,
    init_params=init_params,
    weight=st.integers(2, 3),
    seed=seeds,
)
def test_duplicating_rows_equals_integer_sample_weight(
    X, n_components, init_params, weight, seed
):
    """Each row repeated ``weight`` times fits exactly like sample_weight=weight."""
    params = {
        "n_components": n_components,
        "init_params": init_params,
        "random_state": seed,
    }
    repeated = fit_quietly(np.vstack([X] * weight), **params)
    weighted = fit_quietly(X, sample_weight=np.full(len(X), float(weight)), **params)
    assert_allclose(weighted.probs_, repeated.probs_, rtol=1e-10, atol=1e-10)
    assert_allclose(weighted.weights_, repeated.weights_, rtol=1e-10, atol=1e-10)
    assert_allclose(weighted.precision_, repeated.precision_, rtol=1e-10)
    assert_allclose(weighted.lower_bound_, repeated.lower_bound_, rtol=1e-10)


@SETTINGS
@given(
    X=overdispersed_count_matrices(),
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
    model = fit_quietly(X, algorithm=algorithm, **params)
    start_score, score = start.score(X), model.score(X)
    assert np.isfinite(start_score) and np.isfinite(score)
    assert score >= start_score - 1e-12 * (1 + abs(start_score))


@SETTINGS
@given(X=overdispersed_count_matrices(), n_components=n_components, seed=seeds)
def test_more_initializations_never_worse(X, n_components, seed):
    """n_init=3 ends at least as high as n_init=1 with the same random_state.

    Run 0 of both starts from the same point, but its path depends on the
    last bits of the batch it runs in (the M-step's inner iterations, the
    Newton steps), so two converged fits agree only at the stopping rule's
    precision: ``_MAX_REMAINING_GAIN`` nats in total.
    """
    params = {"n_components": n_components, "random_state": seed}
    one = fit_quietly(X, n_init=1, **params)
    three = fit_quietly(X, n_init=3, **params)
    slack = 1e-12 * (1 + abs(one.lower_bound_))
    if one.converged_ and three.converged_:
        slack = max(slack, _MAX_REMAINING_GAIN / len(X))
    assert three.lower_bound_ >= one.lower_bound_ - slack
