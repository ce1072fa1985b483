"""Behaviour of BinomialMixture checked against independent references."""

import functools
import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import optimize, stats
from scipy.special import expit, gammaln, logsumexp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_coinem import BinomialMixture, IdentifiabilityWarning

INIT_METHODS = ["k-means++", "kmeans", "random", "random_resp", "random_from_data"]

# The five experiments of Do & Batzoglou (2008), as (heads, tails).
TEXTBOOK_X = np.array([[5, 5], [9, 1], [8, 2], [4, 6], [7, 3]])


# ---------------------------------------------------------------- references
def reference_log_pmf(X, probs):
    """Log pmf of every row under every component, from scipy.stats."""
    X = np.asarray(X)
    if X.shape[1] == 2:
        n = X.sum(axis=1)
        return np.column_stack([stats.binom.logpmf(X[:, 0], n, p[0]) for p in probs])
    return np.column_stack(
        [stats.multinomial.logpmf(X, X.sum(axis=1), p) for p in probs]
    )


def gammaln_log_pmf(X, probs):
    """Log multinomial density of real-valued counts, written with gammaln."""
    X = np.asarray(X, dtype=float)
    log_coef = gammaln(X.sum(axis=1) + 1) - gammaln(X + 1).sum(axis=1)
    return log_coef[:, None] + X @ np.log(probs).T


def reference_score_samples(X, weights, probs, log_pmf=reference_log_pmf):
    """logsumexp_k(log w_k + log pmf_k(x)) of every row."""
    return logsumexp(np.log(weights) + log_pmf(X, probs), axis=1)


def textbook_em(X, theta, weights, n_iter, pseudo_count=0.0, update_weights=False):
    """Brute-force EM for a mixture of coins, one row and one coin at a time."""
    theta, weights = list(theta), list(weights)
    K = len(theta)
    for _ in range(n_iter):
        heads, trials, sizes = [0.0] * K, [0.0] * K, [0.0] * K
        for h, t in X:
            like = [weights[k] * theta[k] ** h * (1 - theta[k]) ** t for k in range(K)]
            for k in range(K):
                r = like[k] / sum(like)
                heads[k] += r * h
                trials[k] += r * (h + t)
                sizes[k] += r
        theta = [
            (heads[k] + pseudo_count) / (trials[k] + 2 * pseudo_count) for k in range(K)
        ]
        if update_weights:
            weights = [(s + pseudo_count) / (len(X) + K * pseudo_count) for s in sizes]
    return np.array(theta), np.array(weights)


def sample_mixture(rng, weights, probs, n_samples, trials):
    """Draw labelled count rows from a mixture of multinomials."""
    labels = rng.choice(len(weights), size=n_samples, p=weights)
    n = rng.integers(trials[0], trials[1] + 1, size=n_samples)
    X = np.array([rng.multinomial(n_i, probs[k]) for n_i, k in zip(n, labels)])
    return X, labels


def fitted(X, quiet=True, **params):
    """Fit a BinomialMixture, optionally silencing fit-time warnings."""
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", IdentifiabilityWarning)
        return BinomialMixture(**params).fit(X)


# -------------------------------------------------------------- likelihood
@pytest.mark.parametrize("n_features", [2, 3, 4])
def test_score_samples_matches_scipy_logpmf(n_features):
    """score_samples equals logsumexp of log weights plus scipy.stats logpmfs."""
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(n_features), size=3)
    X, _ = sample_mixture(rng, [0.5, 0.3, 0.2], probs, 60, (0, 40))
    bm = fitted(X, n_components=3, random_state=0)
    expected = reference_score_samples(X, bm.weights_, bm.probs_)
    assert_allclose(bm.score_samples(X), expected, rtol=1e-12, atol=1e-12)
    assert_allclose(bm.score(X), expected.mean(), rtol=1e-12)
    new_X = rng.integers(0, 30, size=(10, n_features))
    assert_allclose(
        bm.score_samples(new_X),
        reference_score_samples(new_X, bm.weights_, bm.probs_),
        rtol=1e-12,
    )


def test_score_samples_non_integer_counts_match_gammaln_formula():
    """Real-valued counts score by the gammaln form of the multinomial density."""
    rng = np.random.default_rng(1)
    X = rng.uniform(0, 20, size=(40, 3))
    bm = fitted(X, n_components=2, random_state=0)
    assert np.all(np.isfinite(bm.probs_))
    expected = reference_score_samples(X, bm.weights_, bm.probs_, gammaln_log_pmf)
    assert_allclose(bm.score_samples(X), expected, rtol=1e-12)
    # On integer rows the gammaln formula is the binomial logpmf itself.
    assert_allclose(
        gammaln_log_pmf(TEXTBOOK_X, [[0.3, 0.7]])[:, 0],
        stats.binom.logpmf(TEXTBOOK_X[:, 0], 10, 0.3),
        rtol=1e-12,
    )


def test_score_weighted_mean_of_score_samples():
    """score with sample_weight is the weighted mean of score_samples."""
    bm = fitted(TEXTBOOK_X, n_components=2, random_state=0)
    sample_weight = np.array([1.0, 2.0, 0.0, 3.0, 0.5])
    expected = reference_score_samples(TEXTBOOK_X, bm.weights_, bm.probs_)
    assert_allclose(
        bm.score(TEXTBOOK_X, sample_weight=sample_weight),
        (sample_weight @ expected) / sample_weight.sum(),
        rtol=1e-12,
    )


def test_zero_trial_rows_get_the_mixing_weights():
    """A row with no trials has posterior = weights_ and log-likelihood 0."""
    bm = fitted(TEXTBOOK_X, n_components=2, random_state=0)
    empty = np.zeros((3, 2))
    assert_allclose(bm.predict_proba(empty), np.tile(bm.weights_, (3, 1)), rtol=1e-12)
    assert_allclose(bm.score_samples(empty), 0.0, atol=1e-15)


def test_zero_trial_rows_leave_the_fit_unchanged():
    """Adding rows with no trials changes neither the MLE nor the total loglik."""
    X_padded = np.vstack([TEXTBOOK_X, np.zeros((4, 2), dtype=int)])
    params = {"n_components": 2, "tol": 1e-13, "random_state": 0}
    plain = fitted(TEXTBOOK_X, **params)
    padded = fitted(X_padded, **params)
    assert_allclose(padded.probs_, plain.probs_, atol=1e-5)
    assert_allclose(padded.weights_, plain.weights_, atol=1e-5)
    assert_allclose(
        padded.score(X_padded) * len(X_padded),
        plain.score(TEXTBOOK_X) * len(TEXTBOOK_X),
        rtol=1e-8,
    )


def test_all_rows_without_trials_fit_finite():
    """Data made only of empty rows fit to finite parameters and score 0."""
    X = np.zeros((5, 3))
    bm = fitted(X, n_components=2, random_state=0)
    assert np.all(np.isfinite(bm.probs_)) and np.all(np.isfinite(bm.weights_))
    assert_allclose(bm.score_samples(X), 0.0, atol=1e-15)


# -------------------------------------------------------------- textbook EM
@pytest.mark.parametrize(
    ("max_iter", "expected_theta"), [(1, (0.71, 0.58)), (10, (0.80, 0.52))]
)
@pytest.mark.parametrize("pseudo_count", [0.0, 1e-6, 0.5])
def test_textbook_trajectory_matches_brute_force_em(
    max_iter, expected_theta, pseudo_count
):
    """The Do & Batzoglou two-coins run follows hand-written EM step by step."""
    bm = fitted(
        TEXTBOOK_X,
        n_components=2,
        probs_init=[[0.6, 0.4], [0.5, 0.5]],
        weights_init=[0.5, 0.5],
        update_weights=False,
        max_iter=max_iter,
        algorithm="em",
        pseudo_count=pseudo_count,
    )
    theta, weights = textbook_em(
        TEXTBOOK_X, [0.6, 0.5], [0.5, 0.5], max_iter, pseudo_count
    )
    assert_allclose(bm.probs_[:, 0], theta, rtol=0, atol=1e-8)
    assert_allclose(bm.probs_[:, 1], 1 - theta, rtol=0, atol=1e-8)
    assert_array_equal(bm.weights_, weights)
    assert bm.n_iter_ == max_iter
    if pseudo_count < 1e-3:
        assert_allclose(bm.probs_[:, 0], expected_theta, atol=0.01)


@pytest.mark.parametrize("max_iter", [1, 2, 7])
def test_textbook_free_weights_trajectory_matches_brute_force_em(max_iter):
    """With update_weights=True the weights follow hand-written EM as well."""
    bm = fitted(
        TEXTBOOK_X,
        n_components=2,
        probs_init=[[0.6, 0.4], [0.5, 0.5]],
        weights_init=[0.3, 0.7],
        max_iter=max_iter,
        algorithm="em",
        pseudo_count=0.0,
    )
    theta, weights = textbook_em(
        TEXTBOOK_X, [0.6, 0.5], [0.3, 0.7], max_iter, update_weights=True
    )
    assert_allclose(bm.probs_[:, 0], theta, rtol=0, atol=1e-8)
    assert_allclose(bm.weights_, weights, rtol=0, atol=1e-8)


def _textbook_negative_loglik(params):
    """Negative total log-likelihood of (logit theta1, logit theta2, logit w)."""
    theta1, theta2, w = expit(params)
    heads, trials = TEXTBOOK_X[:, 0], TEXTBOOK_X.sum(axis=1)
    return -logsumexp(
        [
            np.log(w) + stats.binom.logpmf(heads, trials, theta1),
            np.log1p(-w) + stats.binom.logpmf(heads, trials, theta2),
        ],
        axis=0,
    ).sum()


@functools.cache
def textbook_mle():
    """Best (loglik, theta1, theta2, w) of Nelder-Mead from several starts."""
    starts = [(1.0, -0.5, 0.0), (2.0, 0.0, 0.5), (0.5, 0.1, -0.3)]
    best = min(
        (
            optimize.minimize(
                _textbook_negative_loglik,
                x0,
                method="Nelder-Mead",
                options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000},
            )
            for x0 in starts
        ),
        key=lambda res: res.fun,
    )
    theta1, theta2, w = expit(best.x)
    if theta1 < theta2:
        theta1, theta2, w = theta2, theta1, 1 - w
    return -best.fun, theta1, theta2, w


@functools.cache
def textbook_grid_max():
    """Largest total log-likelihood over a 100**3 grid of (theta1, theta2, w)."""
    grid = np.linspace(0.005, 0.995, 100)
    t1, t2, ww = np.meshgrid(grid, grid, grid, indexing="ij", sparse=True)
    loglik = 0.0
    for heads in TEXTBOOK_X[:, 0]:
        loglik = loglik + np.logaddexp(
            np.log(ww) + stats.binom.logpmf(heads, 10, t1),
            np.log1p(-ww) + stats.binom.logpmf(heads, 10, t2),
        )
    return loglik.max()


@pytest.mark.parametrize("algorithm", ["em", "squarem"])
def test_textbook_converges_to_the_mle(algorithm):
    """Free-weight EM reaches the optimum found by scipy.optimize on scipy logpmfs."""
    loglik, theta1, theta2, w = textbook_mle()
    assert_allclose(loglik, -9.7954, atol=1e-4)
    bm = fitted(
        TEXTBOOK_X,
        quiet=False,
        n_components=2,
        tol=1e-12,
        pseudo_count=0.0,
        algorithm=algorithm,
        random_state=0,
    )
    assert bm.converged_
    total = bm.score(TEXTBOOK_X) * len(TEXTBOOK_X)
    assert_allclose(total, loglik, rtol=0, atol=1e-8)
    assert_allclose(bm.lower_bound_ * len(TEXTBOOK_X), loglik, rtol=0, atol=1e-8)
    assert_allclose(bm.probs_[:, 0], [theta1, theta2], atol=1e-3)
    assert_allclose(bm.weights_, [w, 1 - w], atol=1e-3)
    assert_allclose(bm.probs_[:, 0], [0.793, 0.514], atol=2e-3)
    assert_allclose(bm.weights_, [0.523, 0.477], atol=2e-3)
    # No point of a fine grid beats the fit, and the grid gets close to it.
    assert total - 0.05 <= textbook_grid_max() <= total + 1e-12


# ------------------------------------------------------------ EM behaviour
def _monotone_datasets():
    rng = np.random.default_rng(3)
    coins, _ = sample_mixture(rng, [0.4, 0.6], [[0.8, 0.2], [0.35, 0.65]], 80, (3, 25))
    dice, _ = sample_mixture(
        rng, [0.3, 0.3, 0.4], rng.dirichlet(np.ones(4), size=3), 80, (1, 30)
    )
    return [(TEXTBOOK_X, 2), (coins, 3), (dice, 3), (rng.uniform(0, 9, (30, 3)), 2)]


@pytest.mark.parametrize("algorithm", ["em", "squarem"])
@pytest.mark.parametrize("pseudo_count", [0.0, 1e-6, 1.0])
@pytest.mark.parametrize("init_params", ["k-means++", "random"])
def test_lower_bounds_never_decrease(algorithm, pseudo_count, init_params):
    """The recorded EM objective is non-decreasing for EM and SQUAREM."""
    for X, n_components in _monotone_datasets():
        bm = fitted(
            X,
            n_components=n_components,
            algorithm=algorithm,
            tol=1e-10,
            pseudo_count=pseudo_count,
            init_params=init_params,
            random_state=1,
        )
        steps = np.diff(bm.lower_bounds_)
        assert len(bm.lower_bounds_) >= 2
        assert np.all(np.isfinite(bm.lower_bounds_))
        assert np.all(steps >= -1e-12 * np.abs(bm.lower_bounds_[1:]))
        assert bm.lower_bound_ == bm.lower_bounds_[-1]


@pytest.mark.parametrize("init_params", INIT_METHODS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_more_initializations_never_worse(init_params, seed):
    """n_init=5 reaches at least the objective of n_init=1 with the same seed."""
    rng = np.random.default_rng(seed)
    X, _ = sample_mixture(
        rng, [0.3, 0.3, 0.4], [[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]], 60, (5, 15)
    )
    params = {"n_components": 3, "init_params": init_params, "random_state": seed}
    one = fitted(X, n_init=1, **params)
    five = fitted(X, n_init=5, **params)
    assert five.lower_bound_ >= one.lower_bound_ - 1e-12
    assert five.score(X) >= one.score(X) - 1e-6


def test_fit_predict_equals_fit_then_predict():
    """fit_predict(X) returns fit(X).predict(X) for the same seed."""
    rng = np.random.default_rng(4)
    X, _ = sample_mixture(rng, [0.5, 0.5], [[0.8, 0.2], [0.2, 0.8]], 50, (1, 20))
    sample_weight = rng.uniform(0.5, 2, size=len(X))
    bm = BinomialMixture(2, random_state=0)
    labels = bm.fit_predict(X, sample_weight=sample_weight)
    again = clone(bm).fit(X, sample_weight=sample_weight).predict(X)
    assert_array_equal(labels, again)
    assert_array_equal(labels, bm.predict(X))


@pytest.mark.parametrize(
    ("weights", "probs"),
    [
        ([0.3, 0.7], [[0.85, 0.15], [0.3, 0.7]]),
        ([0.2, 0.5, 0.3], [[0.9, 0.1], [0.5, 0.5], [0.1, 0.9]]),
        (
            [0.5, 0.25, 0.25],
            [[0.7, 0.1, 0.1, 0.1], [0.4, 0.4, 0.1, 0.1], [0.1, 0.1, 0.2, 0.6]],
        ),
    ],
)
@pytest.mark.parametrize("algorithm", ["em", "squarem"])
def test_parameter_recovery_on_simulated_data(weights, probs, algorithm):
    """Well-separated simulated mixtures are recovered (labels aligned by sorting)."""
    rng = np.random.default_rng(5)
    X, labels = sample_mixture(rng, weights, np.array(probs), 3000, (20, 40))
    bm = fitted(
        X,
        quiet=False,
        n_components=len(weights),
        n_init=3,
        algorithm=algorithm,
        random_state=0,
    )
    order = np.argsort(-np.asarray(probs)[:, 0])
    assert_allclose(bm.probs_, np.asarray(probs)[order], atol=0.02)
    assert_allclose(bm.weights_, np.asarray(weights)[order], atol=0.03)
    # Rows are assigned to their generating component almost always.
    agreement = np.mean(order[bm.predict(X)] == labels)
    assert agreement > 0.95


def test_integer_sample_weight_equals_repeated_rows():
    """Integer sample weights fit exactly like the repeated rows."""
    rng = np.random.default_rng(6)
    X, _ = sample_mixture(rng, [0.5, 0.5], [[0.7, 0.3], [0.3, 0.7]], 30, (0, 12))
    repeats = rng.integers(1, 4, size=len(X))
    for init_params in INIT_METHODS:
        params = {"n_components": 2, "init_params": init_params, "random_state": 3}
        weighted = BinomialMixture(**params).fit(X, sample_weight=repeats)
        repeated = BinomialMixture(**params).fit(np.repeat(X, repeats, axis=0))
        assert_allclose(weighted.probs_, repeated.probs_, rtol=1e-10)
        assert_allclose(weighted.weights_, repeated.weights_, rtol=1e-10)
        assert_allclose(weighted.lower_bound_, repeated.lower_bound_, rtol=1e-10)


def test_zero_sample_weight_removes_rows():
    """A row with zero weight has no influence on the fit."""
    rng = np.random.default_rng(7)
    X, _ = sample_mixture(rng, [0.5, 0.5], [[0.7, 0.3], [0.3, 0.7]], 30, (1, 12))
    outliers = np.array([[40, 0], [0, 33], [17, 2]])
    sample_weight = np.r_[np.ones(len(X)), np.zeros(len(outliers))]
    params = {"n_components": 2, "random_state": 0}
    with_zero = BinomialMixture(**params).fit(
        np.vstack([X, outliers]), sample_weight=sample_weight
    )
    without = BinomialMixture(**params).fit(X)
    assert_allclose(with_zero.probs_, without.probs_, rtol=1e-10)
    assert_allclose(with_zero.weights_, without.weights_, rtol=1e-10)


@pytest.mark.parametrize("algorithm", ["em", "squarem"])
def test_warm_start_continues_from_previous_fit(algorithm):
    """A warm-started fit starts at the previous objective and never goes lower."""
    rng = np.random.default_rng(8)
    X, _ = sample_mixture(rng, [0.5, 0.5], [[0.6, 0.4], [0.45, 0.55]], 80, (5, 15))
    bm = BinomialMixture(
        2, max_iter=4, warm_start=True, algorithm=algorithm, random_state=0
    )
    previous = -np.inf
    for _ in range(4):
        with pytest.warns(ConvergenceWarning, match="did not converge"):
            bm.fit(X)
        assert bm.lower_bounds_[0] >= previous - 1e-12
        assert np.all(np.diff(bm.lower_bounds_) >= -1e-12)
        previous = bm.lower_bound_


def test_warm_start_equals_one_longer_run():
    """Two warm-started EM fits of 5 steps equal one cold fit of 10 steps."""
    rng = np.random.default_rng(9)
    X, _ = sample_mixture(rng, [0.5, 0.5], [[0.6, 0.4], [0.4, 0.6]], 60, (5, 15))
    params = {
        "n_components": 2,
        "algorithm": "em",
        "pseudo_count": 0.0,
        "random_state": 0,
    }
    warm = fitted(X, max_iter=5, warm_start=True, **params)
    first_start, first_end = warm.lower_bounds_[0], warm.score(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm.fit(X)
    # The second fit's first objective is the likelihood where the first ended.
    assert_allclose(warm.lower_bounds_[0], first_end, rtol=1e-12)
    cold = fitted(X, max_iter=10, **params)
    assert_allclose(warm.probs_, cold.probs_, rtol=1e-10)
    assert_allclose(warm.weights_, cold.weights_, rtol=1e-10)
    assert_allclose(cold.lower_bounds_[0], first_start, rtol=1e-12)
    assert_allclose(warm.lower_bound_, cold.lower_bound_, rtol=1e-12)


@pytest.mark.parametrize(
    ("change", "X_new"),
    [
        ({"n_components": 3}, TEXTBOOK_X),
        ({}, np.column_stack([TEXTBOOK_X, TEXTBOOK_X[:, 0]])),
    ],
)
def test_warm_start_after_shape_change_initialises_afresh(change, X_new):
    """Regression: warm_start with a new n_components or n_features refits cold."""
    bm = fitted(TEXTBOOK_X, n_components=2, warm_start=True, random_state=0)
    bm.set_params(**change)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifiabilityWarning)
        bm.fit(X_new)
        cold = clone(bm).set_params(warm_start=False).fit(X_new)
    assert bm.probs_.shape == (bm.n_components, X_new.shape[1])
    assert_allclose(bm.probs_, cold.probs_, rtol=1e-12)
    assert_allclose(bm.weights_, cold.weights_, rtol=1e-12)


def _fit_verbose_until_max_iter(algorithm, max_iter, verbose_interval):
    """Fit TEXTBOOK_X with verbose=2 and tol=0, so that it runs max_iter steps."""
    with pytest.warns(ConvergenceWarning):
        BinomialMixture(
            2,
            algorithm=algorithm,
            tol=0,
            max_iter=max_iter,
            verbose=2,
            verbose_interval=verbose_interval,
            random_state=0,
        ).fit(TEXTBOOK_X)


@pytest.mark.parametrize("n_init", [1, 3])
def test_verbose_prints_initialization_lines(capsys, n_init):
    """verbose=1 announces each initialization; verbose=2 also the iterations."""
    BinomialMixture(2, n_init=n_init, verbose=1, random_state=0).fit(TEXTBOOK_X)
    out = capsys.readouterr().out
    for run in range(n_init):
        assert f"Initialization {run}" in out
    assert out.count("Initialization converged") == n_init
    _fit_verbose_until_max_iter("em", max_iter=20, verbose_interval=5)
    out = capsys.readouterr().out
    assert "Initialization 0" in out and "did not converge" in out
    assert "Iteration 5" in out and "Iteration 20" in out
    assert "lower bound" in out and "ll change" in out


@pytest.mark.parametrize(("algorithm", "n_lines"), [("em", 10), ("squarem", 9)])
def test_verbose_interval_counts_iterations(capsys, algorithm, n_lines):
    """verbose=2 reports once per verbose_interval iterations, also for SQUAREM.

    SQUAREM records the objective at iterations 1, 4, 7, ..., 28 when
    max_iter=30; a line follows each of the nine multiples of 3 below 28.
    """
    _fit_verbose_until_max_iter(algorithm, max_iter=30, verbose_interval=3)
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("  Iteration") for line in lines) == n_lines


@pytest.mark.parametrize("algorithm", ["em", "squarem"])
def test_verbose_does_not_change_the_fit(capsys, algorithm):
    """Restarts run one by one for printing give the batched result."""
    rng = np.random.default_rng(18)
    X, _ = sample_mixture(
        rng, [0.3, 0.3, 0.4], [[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]], 60, (5, 15)
    )
    params = {"n_components": 3, "n_init": 4, "algorithm": algorithm}
    quiet = fitted(X, random_state=0, **params)
    loud = fitted(X, random_state=0, verbose=2, **params)
    capsys.readouterr()
    assert_allclose(loud.probs_, quiet.probs_, rtol=1e-12)
    assert_allclose(loud.weights_, quiet.weights_, rtol=1e-12)
    assert_allclose(loud.lower_bounds_, quiet.lower_bounds_, rtol=1e-12)
    assert loud.n_iter_ == quiet.n_iter_


def test_silent_by_default(capsys):
    """verbose=0 prints nothing."""
    BinomialMixture(2, random_state=0).fit(TEXTBOOK_X)
    assert capsys.readouterr().out == ""


def test_convergence_warning_when_max_iter_too_small():
    """Stopping at max_iter before converging warns; converging does not."""
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        bm = BinomialMixture(2, max_iter=2, random_state=0).fit(TEXTBOOK_X)
    assert not bm.converged_
    assert bm.n_iter_ == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        bm = BinomialMixture(2, random_state=0).fit(TEXTBOOK_X)
    assert bm.converged_


@pytest.mark.parametrize("algorithm", ["em", "squarem"])
def test_max_iter_zero_only_initialises(algorithm):
    """max_iter=0 keeps the start, records no objective and does not warn."""
    probs_init = np.array([[0.6, 0.4], [0.5, 0.5]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        bm = BinomialMixture(
            2, probs_init=probs_init, max_iter=0, algorithm=algorithm
        ).fit(TEXTBOOK_X)
    assert_array_equal(bm.probs_, probs_init)
    assert_array_equal(bm.weights_, [0.5, 0.5])
    assert bm.n_iter_ == 0 and not bm.converged_
    assert bm.lower_bound_ == -np.inf and len(bm.lower_bounds_) == 0
    expected = logsumexp(
        np.log(0.5) + stats.binom.logpmf(TEXTBOOK_X[:, [0]], 10, probs_init[:, 0]),
        axis=1,
    )
    assert_allclose(bm.score_samples(TEXTBOOK_X), expected, rtol=1e-12)


@pytest.mark.parametrize("init_params", INIT_METHODS)
@pytest.mark.parametrize("n_features", [2, 3])
def test_canonical_component_order(init_params, n_features):
    """Without probs_init, components come sorted by descending probs_[:, 0]."""
    rng = np.random.default_rng(10)
    for seed in range(4):
        probs = rng.dirichlet(np.ones(n_features), size=3)
        X, _ = sample_mixture(rng, [0.3, 0.3, 0.4], probs, 40, (2, 20))
        bm = fitted(X, n_components=3, init_params=init_params, random_state=seed)
        assert np.all(np.diff(bm.probs_[:, 0]) <= 0)


def test_probs_init_keeps_the_user_order():
    """An explicit probs_init fixes the component order of the fit."""
    rng = np.random.default_rng(11)
    X, _ = sample_mixture(rng, [0.5, 0.5], [[0.9, 0.1], [0.2, 0.8]], 100, (10, 20))
    bm = fitted(X, n_components=2, probs_init=[[0.4, 0.6], [0.6, 0.4]])
    assert bm.probs_[0, 0] < 0.3 < 0.8 < bm.probs_[1, 0]
    assert_array_equal(bm.predict([[0, 10], [10, 0]]), [0, 1])


# ----------------------------------------------------- sklearn integration
@pytest.mark.parametrize("init_params", INIT_METHODS)
@pytest.mark.parametrize("algorithm", ["em", "squarem"])
def test_every_init_params_fits(init_params, algorithm):
    """Every init strategy reaches a good fit on separated data."""
    rng = np.random.default_rng(12)
    X, _ = sample_mixture(rng, [0.5, 0.5], [[0.9, 0.1], [0.15, 0.85]], 200, (10, 20))
    bm = fitted(
        X,
        quiet=False,
        n_components=2,
        init_params=init_params,
        algorithm=algorithm,
        random_state=0,
    )
    assert bm.converged_
    assert_allclose(bm.probs_[:, 0], [0.9, 0.15], atol=0.03)


def test_grid_search_over_init_params_and_n_components():
    """GridSearchCV selects among init_params and n_components by score."""
    rng = np.random.default_rng(13)
    X, _ = sample_mixture(
        rng, [0.3, 0.3, 0.4], [[0.95, 0.05], [0.5, 0.5], [0.05, 0.95]], 240, (20, 30)
    )
    search = GridSearchCV(
        BinomialMixture(random_state=0),
        {"init_params": INIT_METHODS, "n_components": [1, 2, 3]},
        cv=3,
    )
    search.fit(X)
    assert search.best_params_["n_components"] == 3
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores))
    assert search.best_estimator_.probs_.shape == (3, 2)


def test_clone_and_pickle_roundtrip():
    """clone copies the parameters; a pickled fit predicts identically."""
    rng = np.random.default_rng(14)
    X, _ = sample_mixture(rng, [0.5, 0.5], [[0.8, 0.2], [0.3, 0.7]], 50, (1, 20))
    bm = BinomialMixture(2, n_init=2, init_params="random", random_state=0).fit(X)
    copy = clone(bm)
    assert copy.get_params() == bm.get_params()
    assert not hasattr(copy, "probs_")
    restored = pickle.loads(pickle.dumps(bm))
    assert_array_equal(restored.predict(X), bm.predict(X))
    assert_array_equal(restored.predict_proba(X), bm.predict_proba(X))
    assert_array_equal(restored.score_samples(X), bm.score_samples(X))


def test_pipeline():
    """BinomialMixture works as the last step of a Pipeline."""
    rng = np.random.default_rng(15)
    X, _ = sample_mixture(rng, [0.5, 0.5], [[0.8, 0.2], [0.3, 0.7]], 50, (1, 20))
    pipe = make_pipeline(FunctionTransformer(), BinomialMixture(2, random_state=0))
    pipe.fit(X)
    bm = BinomialMixture(2, random_state=0).fit(X)
    assert_array_equal(pipe.predict(X), bm.predict(X))
    assert_allclose(pipe.score(X), bm.score(X), rtol=1e-12)
    assert_allclose(pipe.predict_proba(X), bm.predict_proba(X), rtol=1e-12)


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_pandas_column_names_are_recorded():
    """A DataFrame's column names become feature_names_in_."""
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(TEXTBOOK_X, columns=["heads", "tails"])
    bm = BinomialMixture(2, random_state=0).fit(df)
    assert_array_equal(bm.feature_names_in_, ["heads", "tails"])
    assert_array_equal(bm.predict(df), bm.predict(TEXTBOOK_X))


# -------------------------------------------------------- degenerate data
def _assert_finite_fit(bm, X):
    assert np.all(np.isfinite(bm.weights_)) and np.all(np.isfinite(bm.probs_))
    assert_allclose(bm.weights_.sum(), 1.0, rtol=1e-12)
    assert_allclose(bm.probs_.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(np.isfinite(bm.score_samples(X)))
    assert np.all(np.isfinite(bm.predict_proba(X)))
    assert np.all(np.isfinite(bm.lower_bounds_))


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("init_params", INIT_METHODS)
@pytest.mark.parametrize("algorithm", ["em", "squarem"])
def test_degenerate_data_never_gives_nan(init_params, algorithm):
    """Boundary thetas, empty components and identical rows give finite fits."""
    boundary = np.array([[10, 0]] * 6 + [[0, 8]] * 5 + [[4, 4]] * 3)
    few_distinct = np.array([[3, 1], [3, 1], [0, 4], [0, 4], [3, 1], [0, 4]])
    identical = np.array([[6, 2, 1]] * 7)
    dice_boundary = np.array([[5, 0, 0]] * 4 + [[0, 3, 3]] * 4)
    for X, n_components in [
        (boundary, 2),
        (boundary, 3),
        (few_distinct, 4),
        (identical, 3),
        (dice_boundary, 3),
    ]:
        for pseudo_count in [0.0, 1e-6]:
            bm = fitted(
                X,
                n_components=n_components,
                init_params=init_params,
                algorithm=algorithm,
                pseudo_count=pseudo_count,
                random_state=0,
            )
            _assert_finite_fit(bm, X)
            assert np.all(np.diff(bm.lower_bounds_) >= -1e-12)


@pytest.mark.parametrize("init_params", ["k-means++", "kmeans"])
def test_data_driven_starts_rely_on_rows_with_many_trials(init_params):
    """Seeds come from informative rows, not from the 0/1 proportions of 1 flip.

    Nine rows in ten have a single flip; their proportions are 0 or 1 and
    say little about the coins. The starting heads probabilities must still
    be close to the three coins on average over seeds.
    """
    rng = np.random.default_rng(0)
    theta = np.array([0.2, 0.5, 0.8])
    trials = np.where(rng.random(2000) < 0.1, 200, 1)
    heads = rng.binomial(trials, theta[rng.integers(3, size=2000)])
    X = np.column_stack([heads, trials - heads])
    errors = [
        np.abs(
            np.sort(
                BinomialMixture(
                    3, init_params=init_params, max_iter=0, random_state=seed
                )
                .fit(X)
                .probs_[:, 0]
            )
            - theta
        ).max()
        for seed in range(20)
    ]
    assert np.mean(errors) < 0.035


def test_kmeans_init_with_fewer_distinct_rows_than_components():
    """Regression: init_params="kmeans" works when K exceeds the distinct rows."""
    X = np.array([[6, 2, 1]] * 4 + [[1, 1, 7]] * 3)
    for n_init in [1, 3]:
        bm = fitted(X, n_components=3, init_params="kmeans", n_init=n_init)
        _assert_finite_fit(bm, X)
        assert_allclose(np.sort(bm.probs_[:, 0])[[0, 2]], [1 / 9, 6 / 9], atol=1e-3)


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_squarem_step_to_boundary_stays_in_the_simplex():
    """Regression: a SQUAREM step onto theta = 0 never takes the log of theta < 0."""
    X = np.array([[10, 0]] * 6 + [[0, 8]] * 5 + [[4, 4]] * 3)
    # The smoothed M-step of the k-means++ labels {[10, 0] rows} / {the rest}:
    # from here SQUAREM extrapolates the first component onto theta = 1.
    bm = fitted(
        X,
        n_components=2,
        pseudo_count=0.0,
        weights_init=[6.5 / 15, 8.5 / 15],
        probs_init=[[60.5 / 61, 0.5 / 61], [12.5 / 65, 52.5 / 65]],
    )
    _assert_finite_fit(bm, X)
    assert np.all(bm.probs_ >= 0)
    assert_array_equal(bm.probs_[0], [1.0, 0.0])


def test_boundary_component_reaches_zero_or_one():
    """A pure-heads group drives its theta to 1 (within the pseudo-count)."""
    X = np.array([[10, 0]] * 6 + [[3, 7]] * 6)
    bm = fitted(X, n_components=2, tol=1e-12, random_state=0)
    assert bm.probs_[0, 0] > 1 - 1e-6
    assert bm.probs_[0, 0] < 1
    expected = reference_score_samples(X, bm.weights_, bm.probs_)
    assert_allclose(bm.score_samples(X), expected, rtol=1e-10)


def test_all_heads_then_tails_scores_finite():
    """After all-heads data a row with tails scores finite with the default prior."""
    X = np.array([[5, 0], [8, 0], [3, 0], [10, 0]])
    bm = fitted(X, n_components=2, random_state=0)
    scores = bm.score_samples([[3, 2], [0, 5]])
    assert np.all(np.isfinite(scores))
    assert_allclose(
        scores,
        reference_score_samples([[3, 2], [0, 5]], bm.weights_, bm.probs_),
        rtol=1e-10,
    )
    proba = bm.predict_proba([[3, 2], [0, 5]])
    assert np.all(np.isfinite(proba))
    assert_allclose(proba.sum(axis=1), 1.0)


def test_pseudo_count_zero_scores_impossible_row_minus_inf():
    """With pseudo_count=0 an impossible row scores -inf but its posterior is finite."""
    X = np.array([[5, 0], [8, 0], [3, 0], [10, 0]])
    bm = fitted(X, n_components=1, pseudo_count=0.0)
    assert_array_equal(bm.probs_, [[1.0, 0.0]])
    assert bm.score_samples([[3, 2]])[0] == -np.inf
    assert_allclose(bm.score_samples([[4, 0]]), 0.0, atol=1e-15)
    assert_allclose(bm.predict_proba([[3, 2]]), [[1.0]])


@pytest.mark.parametrize(
    ("n_components", "max_trials", "warns"),
    [
        (1, 0, True),
        (1, 1, False),
        (2, 2, True),
        (2, 3, False),
        (3, 4, True),
        (3, 5, False),
    ],
)
def test_identifiability_warning(n_components, max_trials, warns):
    """Warn exactly when no row has 2 * n_components - 1 trials."""
    one = min(max_trials, 1)
    X = np.array([[0, max_trials], [one, 0], [0, one]] * 2)
    bm = BinomialMixture(n_components, random_state=0)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        bm.fit(X)
    messages = [str(w.message) for w in record if w.category is IdentifiabilityWarning]
    if warns:
        assert len(messages) == 1 and "identifiable" in messages[0]
    else:
        assert messages == []


def test_identifiability_uses_rows_with_weight():
    """Rows removed by zero sample_weight do not count towards identifiability."""
    X = np.array([[1, 1], [2, 0], [5, 5]])
    with pytest.warns(IdentifiabilityWarning, match="identifiable"):
        BinomialMixture(2, random_state=0).fit(X, sample_weight=[1, 1, 0])


# ------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("X", "match"),
    [
        ([[1, -1], [2, 3]], "Negative values in data passed to BinomialMixture.fit"),
        ([[1, np.nan], [2, 3]], "Input X contains NaN"),
        ([[1, np.inf], [2, 3]], "Input X contains infinity"),
        ([["a", "b"], ["c", "d"]], "not compatible with arrays of bytes/strings"),
        (np.array([[1, None], [2, 3]], dtype=object), "Input X contains NaN"),
        (
            np.array([[1, {}], [2, 3]], dtype=object),
            "must be a string or a real number",
        ),
        ([1, 2, 3], "Expected 2D array, got 1D array"),
        (np.ones((2, 2, 2)), "Found array with dim 3"),
        ([[1], [2]], "a minimum of 2 is required"),
        (np.empty((0, 2)), "Found array with 0 sample"),
        ([[1e308, 1e308], [2, 3]], "row whose total count overflows float64"),
    ],
)
def test_fit_rejects_bad_counts(X, match):
    """Invalid count matrices raise ValueError with sklearn's wording."""
    with pytest.raises((ValueError, TypeError), match=match):
        BinomialMixture(1).fit(X)


def test_fit_rejects_fewer_rows_than_components():
    """n_samples < n_components raises."""
    with pytest.raises(ValueError, match="Expected n_samples >= n_components"):
        BinomialMixture(3).fit([[1, 2], [3, 4]])


@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "score_samples", "score"]
)
def test_predict_time_validation(method):
    """Methods of a fitted model check n_features, negativity and NaN."""
    bm = BinomialMixture(2, random_state=0).fit(TEXTBOOK_X)
    func = getattr(bm, method)
    with pytest.raises(ValueError, match="X has 3 features, but BinomialMixture"):
        func([[1, 2, 3]])
    with pytest.raises(ValueError, match="X has 1 features"):
        func([[1], [2]])
    with pytest.raises(ValueError, match="Negative values in data passed"):
        func([[1, -2]])
    with pytest.raises(ValueError, match="Input X contains NaN"):
        func([[1, np.nan]])
    with pytest.raises(ValueError, match="total count overflows float64"):
        func([[1e308, 1e308]])
    with pytest.raises(NotFittedError):
        getattr(BinomialMixture(2), method)(TEXTBOOK_X)


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"n_components": 0}, InvalidParameterError, "'n_components' parameter"),
        ({"n_components": 1.5}, InvalidParameterError, "'n_components' parameter"),
        ({"tol": -1}, InvalidParameterError, "'tol' parameter"),
        ({"max_iter": -1}, InvalidParameterError, "'max_iter' parameter"),
        ({"n_init": 0}, InvalidParameterError, "'n_init' parameter"),
        ({"init_params": "bogus"}, InvalidParameterError, "'init_params' parameter"),
        ({"algorithm": "fast"}, InvalidParameterError, "'algorithm' parameter"),
        ({"pseudo_count": -0.1}, InvalidParameterError, "'pseudo_count' parameter"),
        ({"verbose_interval": 0}, InvalidParameterError, "'verbose_interval'"),
        ({"update_weights": "yes"}, InvalidParameterError, "'update_weights'"),
        (
            {"probs_init": [[0.5, 0.5]]},
            ValueError,
            r"'probs_init' should have the shape \(2, 2\)",
        ),
        (
            {"probs_init": [[0.5, 0.5, 0.0]] * 2},
            ValueError,
            "'probs_init' should have the shape",
        ),
        (
            {"probs_init": [[0.5, 0.6], [0.5, 0.5]]},
            ValueError,
            "'probs_init' should be normalized",
        ),
        (
            {"probs_init": [[1.5, -0.5], [0.5, 0.5]]},
            ValueError,
            "'probs_init' must be finite and non-negative",
        ),
        (
            {"probs_init": [[np.nan, 0.5], [0.5, 0.5]]},
            ValueError,
            "'probs_init' must be finite",
        ),
        (
            {"weights_init": [0.5, 0.6]},
            ValueError,
            "'weights_init' should be normalized",
        ),
        ({"weights_init": [1.0]}, ValueError, "'weights_init' should have the shape"),
        (
            {"weights_init": [1.5, -0.5]},
            ValueError,
            "'weights_init' must be finite and non-negative",
        ),
    ],
)
def test_fit_rejects_bad_parameters(params, error, match):
    """Invalid parameters raise with a message naming the parameter."""
    params = {"n_components": 2, **params}
    with pytest.raises(error, match=match):
        BinomialMixture(**params).fit(TEXTBOOK_X)


@pytest.mark.parametrize(
    ("sample_weight", "match"),
    [
        ([1, 1, 1, 1, -1], "Negative values in data passed to `sample_weight`"),
        ([1, 1, 1, 1], r"sample_weight.shape == \(4,\), expected \(5,\)"),
        ([0, 0, 0, 0, 0], "at least one non-zero"),
        ([1, 1, np.nan, 1, 1], "NaN"),
        ([1, 1, np.inf, 1, 1], "infinity"),
    ],
)
def test_fit_rejects_bad_sample_weight(sample_weight, match):
    """Negative, mis-sized, all-zero or non-finite sample weights raise."""
    with pytest.raises(ValueError, match=match):
        BinomialMixture(2).fit(TEXTBOOK_X, sample_weight=sample_weight)


@pytest.mark.parametrize(
    ("scale", "weight", "match"),
    [
        (1.0, 1e308, "overflows float64; rescale sample_weight"),
        (1e13, 1e300, "overflows float64; rescale sample_weight"),
        (1.0, 1e-320, "total sample_weight is below"),
    ],
)
def test_fit_rejects_sample_weight_out_of_float_range(scale, weight, match):
    """Weights whose totals over- or underflow raise instead of giving NaN."""
    sample_weight = np.full(len(TEXTBOOK_X), weight)
    with pytest.raises(ValueError, match=match):
        BinomialMixture(2).fit(TEXTBOOK_X * scale, sample_weight=sample_weight)


@pytest.mark.parametrize("trials", [1e9, 1e15])
def test_huge_trials_fit_pooled_proportions(trials):
    """Rows of 10^9 or 10^15 trials from two far-apart coins fit exactly.

    Each component is then the pooled proportion of its rows, whatever the
    rounding of the log-likelihood at such counts.
    """
    rng = np.random.default_rng(19)
    labels = rng.integers(2, size=300)
    theta = np.array([0.8, 0.3])[labels]
    heads = np.round(theta * trials + rng.normal(0, np.sqrt(trials / 5), 300))
    X = np.column_stack([heads, trials - heads])
    bm = BinomialMixture(2, pseudo_count=0.0, random_state=0).fit(X)
    pooled = [X[labels == k, 0].sum() / X[labels == k].sum() for k in (0, 1)]
    assert_allclose(bm.probs_[:, 0], pooled, rtol=1e-14)
    assert_allclose(bm.weights_, [np.mean(labels == 0), np.mean(labels == 1)])
    assert bm.converged_ and np.isfinite(bm.score(X))


@pytest.mark.parametrize(
    ("scale", "relative"),
    [(1e-320, np.ones(5)), (1e308, np.ones(5)), (1e307, np.arange(1.0, 6.0))],
)
def test_score_weighted_mean_is_scale_free(scale, relative):
    """score's weighted mean does not overflow or lose digits at extreme scales."""
    bm = BinomialMixture(2, random_state=0).fit(TEXTBOOK_X)
    expected = np.sum(relative * bm.score_samples(TEXTBOOK_X)) / relative.sum()
    assert_allclose(
        bm.score(TEXTBOOK_X, sample_weight=scale * relative), expected, rtol=1e-12
    )


def test_partial_fit_rejects_stream_whose_totals_overflow():
    """Chunks that fit alone but overflow float64 together raise, not NaN."""
    sample_weight = np.full(len(TEXTBOOK_X), 2e306)
    bm = BinomialMixture(2, random_state=0)
    bm.partial_fit(TEXTBOOK_X, sample_weight=sample_weight)
    assert np.isfinite(bm.lower_bound_)
    with pytest.raises(ValueError, match="overflows float64; rescale sample_weight"):
        bm.partial_fit(TEXTBOOK_X, sample_weight=sample_weight)


@pytest.mark.parametrize("weight", [1e-300, 1e300])
def test_extreme_but_representable_sample_weight_fits_finite(weight):
    """Tiny and huge weights whose totals fit in float64 give a finite fit."""
    sample_weight = np.full(len(TEXTBOOK_X), weight)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        bm = BinomialMixture(2, random_state=0).fit(
            TEXTBOOK_X, sample_weight=sample_weight
        )
    assert np.isfinite(bm.lower_bound_)
    assert np.all(np.isfinite(bm.lower_bounds_))
    assert np.isfinite(bm.score(TEXTBOOK_X, sample_weight=sample_weight))


@pytest.mark.parametrize(
    ("sample_weight", "match"),
    [
        ([1, 1, 1, 1, -1], "Negative values in data passed to `sample_weight`"),
        ([1, 1, 1, 1], r"sample_weight.shape == \(4,\), expected \(5,\)"),
        ([0, 0, 0, 0, 0], "at least one non-zero"),
        ([1, 1, np.nan, 1, 1], "NaN"),
    ],
)
def test_score_rejects_bad_sample_weight(sample_weight, match):
    """Regression: score rejects negative weights as fit does."""
    bm = BinomialMixture(2, random_state=0).fit(TEXTBOOK_X)
    with pytest.raises(ValueError, match=match):
        bm.score(TEXTBOOK_X, sample_weight=sample_weight)


def test_warnings_point_at_the_caller():
    """Fit-time warnings are attributed to the line that called fit."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        BinomialMixture(3, max_iter=1, random_state=0).fit(TEXTBOOK_X // 5)
    categories = {w.category for w in record}
    assert categories == {ConvergenceWarning, IdentifiabilityWarning}
    assert all(w.filename == __file__ for w in record)


def test_inputs_are_not_modified():
    """fit and every predict method leave X, sample_weight and inits untouched."""
    rng = np.random.default_rng(16)
    X = rng.integers(0, 10, size=(20, 3)).astype(float)
    X[0] = 0
    sample_weight = rng.uniform(0.5, 2, size=20)
    probs_init = np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]])
    weights_init = np.array([0.4, 0.6])
    copies = [a.copy() for a in (X, sample_weight, probs_init, weights_init)]
    bm = BinomialMixture(2, probs_init=probs_init, weights_init=weights_init)
    bm.fit(X, sample_weight=sample_weight)
    bm.predict(X), bm.predict_proba(X), bm.score_samples(X)
    bm.score(X, sample_weight=sample_weight), bm.fit_predict(X)
    for original, copy in zip((X, sample_weight, probs_init, weights_init), copies):
        assert_array_equal(original, copy)
    assert bm.probs_init is probs_init and bm.weights_init is weights_init
    integer_X = rng.integers(0, 10, size=(20, 2))
    integer_copy = integer_X.copy()
    BinomialMixture(2, random_state=0).fit(integer_X).predict(integer_X)
    assert_array_equal(integer_X, integer_copy)


def test_integer_and_float_inputs_agree():
    """Integer and floating-point dtypes of the same counts give the same fit."""
    rng = np.random.default_rng(17)
    X, _ = sample_mixture(rng, [0.5, 0.5], [[0.8, 0.2], [0.3, 0.7]], 40, (1, 20))
    fits = [
        BinomialMixture(2, random_state=0).fit(X.astype(dtype))
        for dtype in (np.int64, np.int32, np.float64, np.float32, np.uint8)
    ]
    for bm in fits[1:]:
        assert_allclose(bm.probs_, fits[0].probs_, rtol=1e-10)
        assert_allclose(bm.weights_, fits[0].weights_, rtol=1e-10)
