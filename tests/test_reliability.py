"""Each case of issue 14 (and collapsed components, issue 12): a right answer or a
clear error, never NaN, a silent wrong answer or a numpy warning."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats
from scipy.special import logsumexp
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_coinem import (
    BinomialMixture,
    CollapsedComponentsWarning,
    align_components,
    select_n_components,
)
from sklearn_coinem._inference import (
    _largest_eigenvalue_below,
    collapsed_components,
)
from sklearn_coinem.datasets import make_binomial_mixture


@pytest.fixture(scope="module")
def coins():
    """Two well-separated coins, 300 rows of 20 flips."""
    return make_binomial_mixture(300, probs=[0.8, 0.3], random_state=0)[0]


@pytest.fixture(scope="module")
def two_support_points():
    """Overdispersed rat-tumour-like data whose mixture MLE has two support points.

    71 experiments of 14 to 52 trials with beta-distributed probabilities,
    like the rats data of Tarone (1982): with 4 components EM finds two of
    them at the same probability.
    """
    rng = np.random.default_rng(1)
    n = rng.integers(14, 53, 71)
    heads = rng.binomial(n, rng.beta(2.4, 14.3, 71))
    return np.column_stack([heads, n - heads])


def _binomial_score(X, weights, probs):
    """Per-row mixture log-likelihood from scipy (the independent reference)."""
    n = X.sum(axis=1)
    log_pmf = stats.binom.logpmf(X[:, [0]], n[:, None], probs[:, 0])
    return logsumexp(np.log(weights) + log_pmf, axis=1)


# ---------------------------------------------- items fixed in the refactor
def test_failed_refit_keeps_previous_state(coins):
    """Item 9: a refit that fails after validation leaves the old fit intact."""
    bm = BinomialMixture(2, random_state=0).fit(coins)
    probs, n_features = bm.probs_.copy(), bm.n_features_in_
    X3 = np.column_stack([coins, coins[:, :1]])
    bm.set_params(probs_init=[[0.5, 0.5], [0.2, 0.8]])
    with pytest.raises(ValueError, match="probs_init"):
        bm.fit(X3)
    assert bm.n_features_in_ == n_features
    assert_array_equal(bm.probs_, probs)
    assert_allclose(bm.score_samples(coins), _binomial_score(coins, bm.weights_, probs))


def test_partial_fit_after_n_components_change_restarts(coins):
    """Item 10: partial_fit after set_params(n_components) warns and restarts."""
    bm = BinomialMixture(2, random_state=0).partial_fit(coins[:150])
    bm.set_params(n_components=3)
    with pytest.warns(UserWarning, match="n_components changed from 2 to 3"):
        bm.partial_fit(coins[150:])
    assert bm.weights_.shape == (3,) and bm.probs_.shape == (3, 2)


def test_criteria_use_fit_time_update_weights(coins):
    """Item 10: aic and standard_errors describe the fit, not later set_params."""
    bm = BinomialMixture(2, update_weights=False, random_state=0).fit(coins)
    aic, se = bm.aic(coins), bm.standard_errors(coins)
    bm.set_params(update_weights=True)
    assert bm.aic(coins) == aic
    assert_array_equal(bm.standard_errors(coins).weights, se.weights)
    assert_array_equal(se.weights, [0.0, 0.0])


def test_select_n_components_int_means_one_to_k(coins):
    """Item 17: select_n_components(X, 3) scans K = 1, 2, 3."""
    result = select_n_components(coins, 3, n_init=1, random_state=0)
    assert list(result.table["n_components"]) == [1, 2, 3]


def test_sample_trials_arguments(coins):
    """Item 17 and friction: whole floats, a clear bound, the training trials."""
    bm = BinomialMixture(2, random_state=0).fit(coins)
    assert_array_equal(bm.sample(3, n_trials=20.0)[0].sum(axis=1), [20, 20, 20])
    with pytest.raises(ValueError, match="n_trials must be at most"):
        bm.sample(5, n_trials=np.full(5, 1e20))
    X = np.array([[3, 2], [10, 5], [1, 0]] * 10)
    trials = BinomialMixture(1).fit(X).sample(200, random_state=0)[0].sum(axis=1)
    assert set(trials) == {1, 5, 15}


def test_standard_errors_string_confidence_raises(coins):
    """Item 17: a string confidence gets the confidence ValueError."""
    bm = BinomialMixture(2, random_state=0).fit(coins)
    with pytest.raises(ValueError, match="confidence must be in"):
        bm.standard_errors(coins, confidence="0.9")


# ------------------------------------------------------------------ item 5
def test_score_ignores_zero_weight_impossible_row():
    """Item 5: a zero-weight row scoring -inf is removed, not NaN."""
    X = np.array([[10, 0], [9, 0], [8, 0], [10, 0]])
    bm = BinomialMixture(1, pseudo_count=0).fit(X)
    X_new = np.array([[7, 0], [0, 5], [6, 0]])
    assert np.isneginf(bm.score_samples(X_new)[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        score = bm.score(X_new, sample_weight=[2.0, 0.0, 1.0])
    expected = np.average(
        _binomial_score(X_new[[0, 2]], [1.0], bm.probs_), weights=[2, 1]
    )
    assert_allclose(score, expected)


def test_score_all_zero_weights_raises(coins):
    """Weights that are all zero leave no row to average."""
    bm = BinomialMixture(2, random_state=0).fit(coins)
    with pytest.raises(ValueError, match="at least one non-zero"):
        bm.score(coins, sample_weight=np.zeros(len(coins)))


# ------------------------------------------------------------ items 6 and 18
@pytest.mark.parametrize("total", [2.6e305, 1e306, 1.7e308])
def test_log_factorial_overflow_names_counts(coins, total):
    """Item 6: row totals whose log-factorial overflows: a clear error, no warning."""
    X = np.array([[total, 0.0], [3.0, 2.0], [1.0, 4.0]])
    bm = BinomialMixture(1).fit(coins)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for call in (
            lambda: BinomialMixture(1).fit(X),
            lambda: bm.score_samples(X),
            lambda: bm.score(X),
            lambda: bm.predict(X),
        ):
            with pytest.raises(ValueError, match="total count") as error:
                call()
            assert "sample_weight" not in str(error.value)


def test_row_total_overflow_raises_without_warning():
    """Items 6, 18: a row total beyond float64 raises before numpy warns."""
    X = np.array([[1e308, 1e308], [1.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match="total count overflows float64"):
            BinomialMixture(1).fit(X)


def test_unweighted_total_overflow_does_not_blame_sample_weight():
    """Item 6: the total of unweighted counts overflowing blames the counts."""
    X = np.tile([2e305, 0.0], (1000, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match="counts are too large") as error:
            BinomialMixture(1).fit(X)
    assert "sample_weight" not in str(error.value)
    with pytest.raises(ValueError, match="rescale sample_weight"):
        BinomialMixture(1).fit(X[:2], sample_weight=[1e4, 1e4])


def test_overflowing_sample_weight_raises_without_warning():
    """Item 18: weights whose sum overflows raise before numpy warns."""
    X = np.array([[3, 2], [1, 4], [5, 0]])
    bm = BinomialMixture(1).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match="rescale sample_weight"):
            BinomialMixture(1).fit(X, sample_weight=np.full(3, 1e308))
        with pytest.raises(ValueError, match="rescale sample_weight"):
            bm.standard_errors(X, sample_weight=np.full(3, 1e308))
        score = bm.score(X, sample_weight=np.full(3, 1e308))
    assert_allclose(score, bm.score(X))


@pytest.mark.parametrize(
    "start",
    [
        {"weights_init": [1.0, 0.0]},
        {"weights_init": [1.0, 0.0], "algorithm": "em"},
        {"probs_init": [[1.0, 0.0], [0.3, 0.7]]},
    ],
)
def test_start_with_exact_zero_emits_no_runtime_warning(coins, start):
    """Item 18: a start with an exact 0 fits without numpy warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        bm = BinomialMixture(2, random_state=0, **start).fit(coins)
    assert np.all(np.isfinite(bm.probs_)) and np.isfinite(bm.lower_bound_)


# ------------------------------------------------------------------ item 8
def test_huge_pseudo_count_is_rejected():
    """Item 8: pseudo_count is bounded; 1e308 gets sklearn's parameter error."""
    X = np.array([[5, 5], [9, 1], [8, 2], [4, 6]])
    with pytest.raises(InvalidParameterError, match="'pseudo_count' parameter"):
        BinomialMixture(2, pseudo_count=1e308).fit(X)


def test_largest_pseudo_count_gives_finite_fit(coins):
    """Item 8: at the bound the fit is finite: the prior's uniform coins."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", CollapsedComponentsWarning)
        bm = BinomialMixture(2, pseudo_count=1e100, random_state=0).fit(coins)
        resp = bm.predict_proba(coins)
    assert_allclose(bm.weights_, [0.5, 0.5])
    assert_allclose(bm.probs_, 0.5)
    assert np.all(np.isfinite(resp)) and np.isfinite(bm.lower_bound_)


# ----------------------------------------------------------------- item 11
def test_standard_errors_boundary_test_is_scale_free(coins):
    """Item 11: sample_weight * 1e-6 flags nothing; errors scale by 1e3."""
    params = {"n_components": 2, "pseudo_count": 0, "random_state": 0}
    unit = np.ones(len(coins))
    se = BinomialMixture(**params).fit(coins).standard_errors(coins)
    scaled = BinomialMixture(**params).fit(coins, sample_weight=unit * 1e-6)
    se_scaled = scaled.standard_errors(coins, sample_weight=unit * 1e-6)
    assert not np.isin("boundary", se_scaled.probs_status)
    assert not np.isin("boundary", se_scaled.weights_status)
    assert_allclose(se_scaled.probs, se.probs * 1e3, rtol=1e-5)
    assert_allclose(se_scaled.weights, se.weights * 1e3, rtol=1e-5)


def test_standard_errors_boundary_still_detected_with_scaled_weights():
    """Item 11: a probability at 0 stays 'boundary' whatever the weights' scale."""
    X = np.array([[10, 0], [9, 0], [10, 0], [2, 8], [3, 7], [1, 9]] * 5)
    for scale in (1.0, 1e-6, 1e6):
        sample_weight = np.full(len(X), scale)
        bm = BinomialMixture(2, random_state=0).fit(X, sample_weight=sample_weight)
        with pytest.warns(UserWarning, match="boundary"):
            se = bm.standard_errors(X, sample_weight=sample_weight)
        assert np.isin("boundary", se.probs_status)


# ----------------------------------------------------------------- item 12
def test_huge_trials_warn_that_log_likelihood_loses_digits():
    """Item 12: beyond about 1.4e14 trials per row the log-likelihood warns."""
    rng = np.random.default_rng(0)
    for n, warns in [(1e12, False), (1e15, True), (1e18, True)]:
        heads = np.floor(n * 0.3 + rng.normal(0, np.sqrt(n * 0.21), 5))
        X = np.column_stack([heads, n - heads])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            bm = BinomialMixture(1).fit(X)
            bm.score_samples(X)
        lost = [w for w in caught if "loses digits" in str(w.message)]
        assert len(lost) == (2 if warns else 0)
        assert_allclose(bm.probs_[0, 0], heads.sum() / (5 * n), rtol=1e-9)


# ----------------------------------------------------------------- item 17
def test_align_components_unfitted_mixture_raises(coins):
    """Item 17: an unfitted mixture gets sklearn's NotFittedError."""
    fitted = BinomialMixture(2, random_state=0).fit(coins)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        align_components(BinomialMixture(2), fitted)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        align_components(fitted, BinomialMixture(2))


def test_n_jobs_zero_names_the_parameter(coins):
    """Item 17: n_jobs=0 gets sklearn's parameter error naming n_jobs."""
    with pytest.raises(InvalidParameterError, match="'n_jobs' parameter"):
        BinomialMixture(2, n_jobs=0).fit(coins)
    assert BinomialMixture(2, n_jobs=-1, random_state=0).fit(coins).converged_


# ----------------------------------------------------------------- item 19
def test_largest_eigenvalue_test_matches_eigvalsh():
    """Item 19: the cheap singularity test agrees with a full decomposition."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        basis = np.linalg.qr(rng.normal(size=(30, 30)))[0]
        eigenvalues = 10.0 ** rng.uniform(-2, 0.5, 30)
        eigenvalues[rng.integers(30)] = 10.0 ** rng.uniform(9, 11)
        matrix = (basis * eigenvalues) @ basis.T
        expected = np.linalg.eigvalsh(matrix)[-1] < 1e10
        assert _largest_eigenvalue_below(matrix, 1e10) == expected


# ----------------------------------------------------------------- item 20
def test_lower_bounds_last_entry_is_lower_bound(coins):
    """Item 20: lower_bounds_ ends at lower_bound_, and is empty without iterations."""
    bm = BinomialMixture(2, random_state=0).fit(coins)
    assert bm.lower_bounds_[-1] == bm.lower_bound_
    previous = bm.lower_bound_
    bm.set_params(warm_start=True, max_iter=0).fit(coins)
    assert bm.lower_bound_ == previous and bm.lower_bounds_.size == 0
    cold = BinomialMixture(2, max_iter=0, random_state=0).fit(coins)
    assert cold.lower_bound_ == -np.inf and cold.lower_bounds_.size == 0


# ------------------------------------------------ collapsed components (#12)
def test_fit_warns_when_components_coincide(two_support_points):
    """Two components at the same probability are named after fit."""
    with pytest.warns(
        CollapsedComponentsWarning, match=r"components \d and \d coincide"
    ):
        bm = BinomialMixture(4, n_init=5, random_state=0).fit(two_support_points)
    probs = np.sort(bm.probs_[:, 0])
    assert np.min(np.diff(probs) / probs[1:]) < 1e-2
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollapsedComponentsWarning)
        BinomialMixture(2, n_init=5, random_state=0).fit(two_support_points)


def test_collapsed_components_names_empty_and_coinciding():
    """The note names a component of weight 6e-8 and two at 0.2276 (rats data)."""
    weights = np.array([0.5, 0.5 - 6e-8, 6e-8])
    probs = np.array([[0.2276, 0.7724], [0.22761, 0.77239], [0.05, 0.95]])
    note = collapsed_components(weights, {"probs": probs}, n_rows=71)
    assert "components 0 and 1 coincide" in note
    assert "component 2 has almost no weight (6e-08" in note
    assert collapsed_components(weights[[0, 2]], {"probs": probs[[0, 2]]}, 71) == (
        "component 1 has almost no weight (6e-08, 4.3e-06 expected rows)"
    )
    distinct = collapsed_components(np.array([0.4, 0.6]), {"probs": probs[1:]}, 71)
    assert distinct == ""


def test_collapsed_components_fewer_than_one_expected_row():
    """A weight above 1e-6 that amounts to less than one row is also collapsed."""
    probs = np.array([[0.2, 0.8], [0.7, 0.3]])
    note = collapsed_components(np.array([0.999, 0.001]), {"probs": probs}, 500)
    assert note == "component 1 has almost no weight (0.001, 0.5 expected rows)"


def test_select_n_components_note_column(two_support_points):
    """The scan's table says which K have collapsed components, warning once."""
    with pytest.warns(CollapsedComponentsWarning, match="note column") as record:
        result = select_n_components(two_support_points, 4, random_state=0)
    assert sum(w.category is CollapsedComponentsWarning for w in record) == 1
    notes = dict(zip(result.table["n_components"], result.table["note"]))
    assert notes[1] == notes[2] == ""
    assert "coincide" in notes[4]
