"""BinomialMixtureClassifier: check suite, references, labels, properties."""

import warnings
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse, stats
from scipy.special import logsumexp
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.naive_bayes import MultinomialNB
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_coinem import BinomialMixtureClassifier, FitMonitor, monitor_fits
from sklearn_coinem._families import MultinomialFamily
from sklearn_coinem.datasets import load_coins
from tests.strategies import count_matrices, seeds

SETTINGS = settings(deadline=None, max_examples=25)

# sklearn's check_classifiers_classes fits labels -1 and 1 and expects both as
# classes (it exempts sklearn's own semi-supervised estimators by name), which
# contradicts the default marker -1; the suite runs with other markers, and
# the default marker has its own tests below.
CHECKED = [
    BinomialMixtureClassifier(unlabeled_label=None),
    BinomialMixtureClassifier(
        n_components_per_class=2, unlabeled_label="?", n_init=2, random_state=0
    ),
    BinomialMixtureClassifier(
        n_components_per_class=3,
        unlabeled_label=None,
        init_params="random_resp",
        algorithm="em",
        random_state=0,
    ),
]


@parametrize_with_checks(CHECKED, expected_failed_checks=lambda estimator: {})
def test_classifier_sklearn_compatible(estimator, check):
    """Every sklearn estimator check passes."""
    check(estimator)


# ----------------------------------------------------------------- references
def reference_log_joint(X, weights, probs):
    """log w_k + log multinomial pmf_k(x) by scipy.stats, shape (n, K)."""
    trials = X.sum(axis=1)
    return np.log(weights) + np.column_stack(
        [stats.multinomial.logpmf(X, trials, p) for p in probs]
    )


def reference_em_map(X, codes, row_weights, weights, probs, n_per_class, alpha):
    """One labelled EM step by hand: E-step masked to each row's class, MAP M-step."""
    log_joint = reference_log_joint(X, weights, probs)
    component_class = np.arange(len(weights)) // n_per_class
    allowed = (codes[:, None] < 0) | (codes[:, None] == component_class[None, :])
    log_joint = np.where(allowed, log_joint, -np.inf)
    resp = np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))
    resp *= row_weights[:, None]
    new_probs = resp.T @ X + alpha
    new_weights = resp.sum(axis=0) + alpha
    return new_weights / new_weights.sum(), new_probs / new_probs.sum(axis=1)[:, None]


def digits_split(seed, n_labels, n_train=None):
    """Digits 70/30 split, ``n_labels`` labelled rows per class of the training rows.

    ``n_train`` keeps only the first training rows, for faster fits.
    """
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=seed
    )
    X_train, y_train = X_train[:n_train], y_train[:n_train]
    rng = np.random.default_rng(seed)
    labelled = np.concatenate(
        [
            rng.choice(np.flatnonzero(y_train == c), n_labels, replace=False)
            for c in range(10)
        ]
    )
    y_partial = np.full(len(y_train), -1)
    y_partial[labelled] = y_train[labelled]
    return X_train, y_partial, X_test, y_test, labelled


def small_counts(seed, n_rows=60, n_features=4, n_classes=3, trials=20):
    """Counts of a few well-separated multinomial classes and their labels."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(n_features, 0.5), size=n_classes)
    y = np.arange(n_rows) % n_classes
    X = np.array([rng.multinomial(trials, probs[c]) for c in y])
    return X, y


# ----------------------------------------------------------- the two coins
def test_classifier_two_coins_known_labels_give_the_proportions():
    """Labels (B, A, A, B, A): theta_A = 24/30 and theta_B = 9/20 by counting."""
    X = load_coins().data
    y = np.array(["B", "A", "A", "B", "A"])
    clf = BinomialMixtureClassifier(pseudo_count=0).fit(X, y)
    assert_array_equal(clf.classes_, ["A", "B"])
    assert_allclose(clf.probs_[:, 0], [24 / 30, 9 / 20], rtol=1e-12)
    assert_allclose(clf.weights_, [3 / 5, 2 / 5], rtol=1e-12)


def test_classifier_two_coins_default_pseudo_count_is_laplace():
    """The default pseudo-count 1 adds one to every count and class size."""
    X = load_coins().data
    y = np.array(["B", "A", "A", "B", "A"])
    clf = BinomialMixtureClassifier().fit(X, y)
    assert_allclose(clf.probs_[:, 0], [25 / 32, 10 / 22], rtol=1e-12)
    assert_allclose(clf.weights_, [4 / 7, 3 / 7], rtol=1e-12)


# ------------------------------------------------------------ naive Bayes
@pytest.mark.parametrize("alpha", [1.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_classifier_fully_labelled_is_multinomial_nb(alpha, weighted):
    """One component per class, all labelled: MultinomialNB's probabilities.

    The class prior is smoothed here, (n_c + a) / (n + K a), and empirical in
    MultinomialNB; given that prior, MultinomialNB's posteriors are equal.
    """
    X, y = load_digits(return_X_y=True)
    X, y = X[:400], y[:400]
    sample_weight = None
    if weighted:
        sample_weight = np.random.default_rng(0).integers(1, 4, size=len(y))
    clf = BinomialMixtureClassifier(pseudo_count=alpha).fit(X, y, sample_weight)
    nb = MultinomialNB(alpha=alpha).fit(X, y, sample_weight)
    assert_allclose(np.log(clf.probs_), nb.feature_log_prob_, atol=1e-4)
    n_c = nb.class_count_
    prior = (n_c + alpha) / (n_c.sum() + len(n_c) * alpha)
    assert_allclose(clf.weights_, prior, atol=1e-4)
    nb_smoothed = MultinomialNB(alpha=alpha, class_prior=prior).fit(X, y, sample_weight)
    X_test = load_digits().data[400:800]
    assert_allclose(
        clf.predict_proba(X_test), nb_smoothed.predict_proba(X_test), atol=1e-4
    )
    assert_array_equal(clf.predict(X_test), nb_smoothed.predict(X_test))


# -------------------------------------------------------- fit and predict
@pytest.mark.parametrize("n_per_class", [1, 2])
def test_classifier_predictions_match_scipy_reference(n_per_class):
    """Class posteriors sum the components' (scipy.stats) of each class."""
    X, y = small_counts(0)
    y_partial = np.where(np.arange(len(y)) < 30, y, -1)
    clf = BinomialMixtureClassifier(
        n_components_per_class=n_per_class, random_state=0
    ).fit(X, y_partial)
    assert clf.probs_.shape == (3 * n_per_class, X.shape[1])
    log_joint = reference_log_joint(X, clf.weights_, clf.probs_)
    log_norm = logsumexp(log_joint, axis=1)
    assert_allclose(clf.score_samples(X), log_norm, rtol=1e-10)
    component_resp = np.exp(log_joint - log_norm[:, None])
    expected = component_resp.reshape(len(X), 3, n_per_class).sum(axis=2)
    assert_allclose(clf.predict_proba(X), expected, atol=1e-10)
    assert_allclose(clf.predict_log_proba(X), np.log(expected), atol=1e-8)
    assert_array_equal(clf.predict(X), clf.classes_[expected.argmax(axis=1)])


@pytest.mark.parametrize("n_per_class, unlabeled_weight", [(1, 1.0), (2, 0.3)])
def test_classifier_fit_is_a_fixed_point_of_labelled_em(n_per_class, unlabeled_weight):
    """The fitted parameters are a fixed point of a hand-written labelled EM step."""
    X, y = small_counts(1)
    codes = np.where(np.arange(len(y)) % 4 == 0, y, -1)
    clf = BinomialMixtureClassifier(
        n_components_per_class=n_per_class,
        unlabeled_weight=unlabeled_weight,
        pseudo_count=0.5,
        tol=1e-14,
        max_iter=10_000,
        random_state=0,
    ).fit(X, codes)
    row_weights = np.where(codes < 0, unlabeled_weight, 1.0)
    weights, probs = reference_em_map(
        X, codes, row_weights, clf.weights_, clf.probs_, n_per_class, 0.5
    )
    assert_allclose(weights, clf.weights_, atol=1e-6)
    assert_allclose(probs, clf.probs_, atol=1e-6)


def test_classifier_unlabeled_weight_zero_is_the_supervised_fit():
    """lambda = 0 gives the fit on the labelled rows alone."""
    X, y = small_counts(2)
    labelled = np.arange(len(y)) % 3 == 0
    y_partial = np.where(labelled, y, -1)
    params = {"n_components_per_class": 2, "random_state": 0, "unlabeled_weight": 0}
    semi = BinomialMixtureClassifier(**params).fit(X, y_partial)
    supervised = BinomialMixtureClassifier(**params).fit(X[labelled], y[labelled])
    assert_allclose(semi.probs_, supervised.probs_, rtol=1e-12)
    assert_allclose(semi.weights_, supervised.weights_, rtol=1e-12)


def test_classifier_unlabeled_weight_multiplies_the_sample_weights():
    """lambda = 0.25 equals lambda = 1 with the unlabelled weights divided by 4."""
    X, y = small_counts(3)
    y_partial = np.where(np.arange(len(y)) % 2 == 0, y, -1)
    quarter = BinomialMixtureClassifier(unlabeled_weight=0.25).fit(X, y_partial)
    sample_weight = np.where(y_partial < 0, 0.25, 1.0)
    full = BinomialMixtureClassifier().fit(X, y_partial, sample_weight)
    assert_allclose(quarter.probs_, full.probs_, rtol=1e-12)
    assert_allclose(quarter.weights_, full.weights_, rtol=1e-12)


def test_classifier_unlabelled_rows_change_the_fit():
    """Unlabelled rows move the components (lambda = 1 differs from lambda = 0)."""
    X, y = small_counts(4)
    y_partial = np.where(np.arange(len(y)) < 6, y, -1)
    semi = BinomialMixtureClassifier().fit(X, y_partial)
    supervised = BinomialMixtureClassifier(unlabeled_weight=0).fit(X, y_partial)
    assert np.abs(semi.probs_ - supervised.probs_).max() > 1e-2


def test_classifier_unlabelled_rows_help_on_digits():
    """Nigam et al.'s effect: 5 labels per class plus unlabelled rows beat NB."""
    X_train, y_partial, X_test, y_test, labelled = digits_split(0, 5)
    nb = MultinomialNB().fit(X_train[labelled], y_partial[labelled])
    clf = BinomialMixtureClassifier(
        n_components_per_class=3, unlabeled_weight=0.1, random_state=0
    ).fit(X_train, y_partial)
    assert clf.score(X_test, y_test) > nb.score(X_test, y_test) + 0.02


class _Objectives(FitMonitor):
    """Collect the final objective of every run."""

    def __init__(self):
        self.objectives = []

    def run_finished(self, run, n_iter, objective, converged):
        self.objectives.append(objective)


def test_classifier_one_component_per_class_restarts_are_identical():
    """With one component per class every start is naive Bayes on the labels."""
    X, y = small_counts(5)
    y_partial = np.where(np.arange(len(y)) < 9, y, -1)
    monitor = _Objectives()
    with monitor_fits(monitor):
        BinomialMixtureClassifier(n_init=4, random_state=0).fit(X, y_partial)
    assert len(monitor.objectives) == 4
    assert_allclose(monitor.objectives, monitor.objectives[0], rtol=1e-12)


def test_classifier_restarts_vary_the_split_and_keep_the_best():
    """Several components per class: restarts differ; the best one is kept."""
    X_train, y_partial, _, _, _ = digits_split(0, 5, n_train=600)
    monitor = _Objectives()
    with monitor_fits(monitor):
        clf = BinomialMixtureClassifier(
            n_components_per_class=3, n_init=3, random_state=0
        ).fit(X_train, y_partial)
    assert len(set(np.round(monitor.objectives, 10))) > 1
    assert clf.lower_bound_ == max(monitor.objectives)


def test_classifier_components_ordered_within_classes():
    """Fits differing only in row order give the same components, in class blocks."""
    X, y = small_counts(6)
    y_partial = np.where(np.arange(len(y)) % 2 == 0, y, -1)
    perm = np.random.default_rng(0).permutation(len(y))
    params = {"n_components_per_class": 2, "random_state": 0}
    first = BinomialMixtureClassifier(**params).fit(X, y_partial)
    second = BinomialMixtureClassifier(**params).fit(X[perm], y_partial[perm])
    assert_allclose(first.probs_, second.probs_, rtol=1e-10)
    for c in range(3):
        block = first.probs_[2 * c : 2 * c + 2]
        assert block[0, 0] >= block[1, 0]


# ------------------------------------------------------------------ labels
def _coins_fit(y, **params):
    return BinomialMixtureClassifier(pseudo_count=0, **params).fit(load_coins().data, y)


@pytest.mark.parametrize(
    "y",
    [
        np.array(["B", "A", "-1", "-1", "A"]),
        np.array(["B", "A", -1, -1, "A"], dtype=object),
        np.array(["B", "A", "-1", -1, "A"], dtype=object),
    ],
    ids=["str-array", "object-int", "object-mixed"],
)
def test_classifier_string_labels_unlabelled_marker(y):
    """-1, or "-1" among string labels, marks an unlabelled row."""
    clf = _coins_fit(y)
    reference = _coins_fit(np.array([1, 0, -1, -1, 0]))
    assert_array_equal(clf.classes_, ["A", "B"])
    assert_allclose(clf.probs_, reference.probs_, rtol=1e-12)


def test_classifier_minus_one_is_unlabelled_by_default():
    """Labels -1 and 1: by default the -1 rows are unlabelled, one class remains."""
    X, _ = small_counts(7, n_classes=2)
    y = np.where(np.arange(len(X)) % 2 == 0, -1, 1)
    assert_array_equal(BinomialMixtureClassifier().fit(X, y).classes_, [1])
    clf = BinomialMixtureClassifier(unlabeled_label=None).fit(X, y)
    assert_array_equal(clf.classes_, [-1, 1])


def test_classifier_custom_string_marker():
    """unlabeled_label="?" marks string rows; -1 is then an ordinary label."""
    y = np.array(["B", "A", "?", "?", "A"])
    clf = _coins_fit(y, unlabeled_label="?")
    reference = _coins_fit(np.array([1, 0, -1, -1, 0]))
    assert_allclose(clf.probs_, reference.probs_, rtol=1e-12)
    with_minus_one = _coins_fit(np.array([1, 0, -1, 2, 0]), unlabeled_label="?")
    assert_array_equal(with_minus_one.classes_, [-1, 0, 1, 2])


@pytest.mark.parametrize(
    "y, error, match",
    [
        (np.array([-1, -1, -1, -1, -1]), ValueError, "no labelled rows"),
        (np.array(["a", "b", None, "a", "b"], dtype=object), ValueError, "None"),
        (np.array(["a", "b", np.nan, "a", "b"], dtype=object), ValueError, "NaN"),
        (np.array([0.5, 1.5, 0.5, 2.5, 1.0]), ValueError, "Unknown label type"),
    ],
    ids=["all-unlabelled", "none", "nan", "continuous"],
)
def test_classifier_rejects_bad_labels(y, error, match):
    """Labels without a class, None, NaN and continuous targets raise."""
    with pytest.raises(error, match=match):
        BinomialMixtureClassifier().fit(load_coins().data, y)


def test_classifier_failed_refit_keeps_the_previous_fit():
    """A refit that raises (here on labels) leaves the fitted model as it was."""
    X, y = small_counts(11)
    clf = BinomialMixtureClassifier().fit(X, y)
    probs, proba = clf.probs_.copy(), clf.predict_proba(X)
    with pytest.raises(ValueError, match="no labelled rows"):
        clf.fit(X[:, :3], np.full(len(y), -1))
    assert clf.n_features_in_ == X.shape[1]
    assert_array_equal(clf.probs_, probs)
    assert_array_equal(clf.predict_proba(X), proba)


def test_classifier_warns_when_a_column_looks_like_trials():
    """A second column of trials (not failures) warns, at the caller's line."""
    X = np.array([[3, 10], [5, 10], [9, 10], [1, 10], [6, 10], [2, 10]])
    with pytest.warns(UserWarning, match="trials") as record:
        BinomialMixtureClassifier().fit(X, [0, 0, 1, 0, 1, -1])
    assert record[0].filename == __file__


@pytest.mark.parametrize("n_components_per_class", [1, 2])
@pytest.mark.parametrize("container", [sparse.csr_matrix, sparse.csc_array])
def test_classifier_sparse_equals_dense(n_components_per_class, container):
    """Sparse counts give the fit, posteriors and criteria of the dense ones."""
    X, y = small_counts(60)
    y[::4] = -1
    params = {"n_components_per_class": n_components_per_class, "random_state": 0}
    dense = BinomialMixtureClassifier(**params).fit(X, y)
    fitted = BinomialMixtureClassifier(**params).fit(container(X), y)
    assert_allclose(fitted.weights_, dense.weights_, rtol=1e-8)
    assert_allclose(fitted.probs_, dense.probs_, rtol=1e-8, atol=1e-12)
    X_sparse = container(X)
    assert_allclose(fitted.predict_proba(X_sparse), dense.predict_proba(X), atol=1e-8)
    assert_array_equal(fitted.predict(X_sparse), dense.predict(X))
    assert_allclose(fitted.score_samples(X_sparse), dense.score_samples(X))
    assert_allclose(fitted.aic(X_sparse), dense.aic(X), rtol=1e-10)


def test_classifier_rejects_class_without_weight():
    """A class whose labelled rows all have zero weight raises, naming it."""
    y = np.array(["B", "A", "A", "B", "A"])
    with pytest.raises(ValueError, match="class 'B' has none"):
        BinomialMixtureClassifier().fit(load_coins().data, y, [0, 1, 1, 0, 1])


@pytest.mark.parametrize(
    "params, match",
    [
        ({"unlabeled_weight": 1.5}, "unlabeled_weight"),
        ({"n_components_per_class": 0}, "n_components_per_class"),
        ({"init_params": "random"}, "init_params"),
        ({"unlabeled_label": 1.5}, "unlabeled_label"),
    ],
)
def test_classifier_rejects_bad_parameters(params, match):
    """Parameters outside their range raise sklearn's InvalidParameterError."""
    with pytest.raises(ValueError, match=match):
        BinomialMixtureClassifier(**params).fit(load_coins().data, [0, 1, 1, 0, 1])


# ----------------------------------------------------------- score, search
def test_classifier_score_ignores_unlabelled_rows():
    """score is the (weighted) accuracy over the labelled rows only."""
    X, y = small_counts(8)
    clf = BinomialMixtureClassifier().fit(X, y)
    y_test = np.where(np.arange(len(y)) % 3 == 0, -1, y)
    labelled = y_test >= 0
    y_pred = clf.predict(X)
    assert clf.score(X, y_test) == accuracy_score(y[labelled], y_pred[labelled])
    sample_weight = np.random.default_rng(0).uniform(size=len(y))
    assert_allclose(
        clf.score(X, y_test, sample_weight),
        accuracy_score(
            y[labelled], y_pred[labelled], sample_weight=sample_weight[labelled]
        ),
    )
    with pytest.raises(ValueError, match="needs labelled rows"):
        clf.score(X, np.full(len(y), -1))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clf.score(X, y[:-1])


def test_classifier_grid_search_over_unlabeled_weight():
    """GridSearchCV on partially labelled rows scores each fold's labelled rows."""
    X_train, y_partial, _, _, _ = digits_split(1, 10, n_train=500)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    grid = {"unlabeled_weight": [0.0, 0.1, 1.0]}
    search = GridSearchCV(BinomialMixtureClassifier(), grid, cv=cv).fit(
        X_train, y_partial
    )
    assert search.best_params_["unlabeled_weight"] in grid["unlabeled_weight"]
    for i, weight in enumerate(grid["unlabeled_weight"]):
        scores = []
        for train, test in cv.split(X_train, y_partial):
            clf = BinomialMixtureClassifier(unlabeled_weight=weight)
            clf.fit(X_train[train], y_partial[train])
            labelled = test[y_partial[test] >= 0]
            scores.append(
                accuracy_score(y_partial[labelled], clf.predict(X_train[labelled]))
            )
        assert_allclose(search.cv_results_["mean_test_score"][i], np.mean(scores))


def test_classifier_aic_bic_hand_formula():
    """AIC and BIC count K - 1 weights and K (C - 1) probabilities."""
    X, y = small_counts(9)
    clf = BinomialMixtureClassifier(n_components_per_class=2, random_state=0)
    clf.fit(X, np.where(np.arange(len(y)) < 20, y, -1))
    log_likelihood = clf.score_samples(X).sum()
    n_components, n_features = clf.probs_.shape
    n_parameters = n_components - 1 + n_components * (n_features - 1)
    assert_allclose(clf.aic(X), -2 * log_likelihood + 2 * n_parameters)
    assert_allclose(clf.bic(X), -2 * log_likelihood + np.log(len(X)) * n_parameters)


def test_classifier_convergence_warning_when_max_iter_too_small():
    """A best run stopped at max_iter warns; max_iter=0 only initialises."""
    X_train, y_partial, _, _, _ = digits_split(0, 5)
    clf = BinomialMixtureClassifier(n_components_per_class=2, max_iter=2)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        clf.fit(X_train, y_partial)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.set_params(max_iter=0).fit(X_train, y_partial)
    assert clf.n_iter_ == 0 and not clf.converged_


def test_classifier_verbose_prints_each_initialization(capsys):
    """verbose=1 prints one block per restart, in order."""
    X, y = small_counts(10)
    BinomialMixtureClassifier(n_init=2, verbose=1).fit(X, y)
    out = capsys.readouterr().out
    assert out.index("Initialization 0") < out.index("Initialization 1")


def test_classifier_clone_keeps_parameters():
    """get_params round-trips every constructor parameter."""
    clf = BinomialMixtureClassifier(n_components_per_class=2, unlabeled_weight=0.1)
    assert clone(clf).get_params() == clf.get_params()


# -------------------------------------------------------------- properties
@st.composite
def labelled_counts(draw):
    """Counts, labels with -1 for unlabelled rows (every class labelled once)."""
    X = draw(count_matrices(min_rows=4))
    n_classes = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(seeds))
    y = rng.integers(n_classes, size=len(X))
    y[rng.uniform(size=len(X)) < draw(st.floats(0.0, 0.9))] = -1
    y[: min(n_classes, len(X))] = np.arange(min(n_classes, len(X)))
    return X, y


def _fit_quietly(X, y, **params):
    """Fit, ignoring only the warnings random small data legitimately raise."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", "Column .* looks like a number of trials")
        return BinomialMixtureClassifier(**params).fit(X, y)


@SETTINGS
@given(
    data=labelled_counts(),
    n_per_class=st.integers(1, 3),
    unlabeled_weight=st.sampled_from([0.0, 0.3, 1.0]),
    seed=seeds,
)
def test_classifier_row_permutation_invariance(
    data, n_per_class, unlabeled_weight, seed
):
    """Permuting the rows (with their labels) leaves the fit unchanged."""
    X, y = data
    perm = np.random.default_rng(seed).permutation(len(y))
    params = {
        "n_components_per_class": n_per_class,
        "unlabeled_weight": unlabeled_weight,
        "random_state": seed,
    }
    first = _fit_quietly(X, y, **params)
    second = _fit_quietly(X[perm], y[perm], **params)
    assert_allclose(first.weights_, second.weights_, rtol=1e-9, atol=1e-12)
    assert_allclose(first.probs_, second.probs_, rtol=1e-9, atol=1e-12)
    proba = first.predict_proba(X)
    assert np.all(np.isfinite(proba))
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)


@SETTINGS
@given(
    data=labelled_counts(),
    n_per_class=st.integers(1, 3),
    pseudo_count=st.sampled_from([0.0, 1e-6, 1.0]),
    seed=seeds,
)
def test_classifier_labels_never_contradicted(data, n_per_class, pseudo_count, seed):
    """In every E-step of the fit a labelled row's posterior is 0 outside its class."""
    X, y = data
    seen = []
    accumulate = MultinomialFamily.accumulate

    def spy(self, block, resp, params):
        seen.append((block.labels.copy(), resp.copy()))
        return accumulate(self, block, resp, params)

    with mock.patch.object(MultinomialFamily, "accumulate", spy):
        clf = _fit_quietly(
            X,
            y,
            n_components_per_class=n_per_class,
            pseudo_count=pseudo_count,
            random_state=seed,
            max_iter=50,
        )
    assert seen
    component_class = np.arange(len(clf.weights_)) // n_per_class
    for labels, resp in seen:
        labelled = labels >= 0
        outside = component_class[:, None] != labels[None, labelled]
        assert np.all(resp[:, :, labelled][:, outside] == 0)
        inside = resp[:, :, labelled].sum(axis=1)
        assert np.all(inside > 0)


@SETTINGS
@given(data=labelled_counts(), n_per_class=st.integers(1, 2), seed=seeds)
def test_classifier_unlabeled_weight_zero_drops_unlabelled_rows(
    data, n_per_class, seed
):
    """lambda = 0 equals the fit on the labelled rows only, on any data."""
    X, y = data
    labelled = y >= 0
    params = {
        "n_components_per_class": n_per_class,
        "unlabeled_weight": 0.0,
        "random_state": seed,
    }
    semi = _fit_quietly(X, y, **params)
    supervised = _fit_quietly(X[labelled], y[labelled], **params)
    assert_allclose(semi.probs_, supervised.probs_, rtol=1e-12, atol=1e-15)
    assert_allclose(semi.weights_, supervised.weights_, rtol=1e-12, atol=1e-15)
