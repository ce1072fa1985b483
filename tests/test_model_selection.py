"""Choosing the number of components: select_n_components and GridSearchCV."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from scipy.stats import binom
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from sklearn_coinem import (
    BinomialMixture,
    IdentifiabilityWarning,
    select_n_components,
)
from sklearn_coinem.datasets import make_binomial_mixture

TRUE_PROBS = [0.92, 0.55, 0.12]


@pytest.fixture(scope="module")
def three_coins():
    """Well-separated three-coin data."""
    X, _ = make_binomial_mixture(
        400,
        weights=[0.3, 0.4, 0.3],
        probs=TRUE_PROBS,
        n_trials=(15, 25),
        random_state=0,
    )
    return X


@pytest.mark.parametrize("criterion", ["bic", "icl", "aic"])
def test_select_n_components_finds_true_k(three_coins, criterion):
    """On well-separated data every criterion picks the true K = 3."""
    result = select_n_components(
        three_coins, range(1, 6), criterion=criterion, random_state=0
    )
    assert result.best_n_components == 3
    assert result.best_estimator.n_components == 3
    assert_allclose(
        np.sort(result.best_estimator.probs_[:, 0]), np.sort(TRUE_PROBS), atol=0.03
    )
    scores = np.asarray(result.table[criterion])
    assert np.argmin(scores) == 2


def test_select_n_components_table_matches_scipy(three_coins):
    """Every table row holds the log-likelihood and criteria of its fit."""
    pd = pytest.importorskip("pandas")
    result = select_n_components(three_coins, [1, 2, 3], n_init=2, random_state=1)
    table = result.table
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == [
        "n_components",
        "log_likelihood",
        "n_parameters",
        "aic",
        "bic",
        "icl",
        "converged",
        "n_iter",
        "identifiable",
        "note",
    ]
    n = three_coins.sum(axis=1)
    for row in table.itertuples():
        est = result.estimators[row.n_components]
        log_comp = np.log(est.weights_) + binom.logpmf(
            three_coins[:, [0]], n[:, None], est.probs_[:, 0]
        )
        loglik = logsumexp(log_comp, axis=1).sum()
        n_params = 2 * row.n_components - 1
        assert row.n_parameters == n_params
        assert_allclose(row.log_likelihood, loglik, rtol=1e-10)
        assert_allclose(row.aic, -2 * loglik + 2 * n_params, rtol=1e-10)
        assert_allclose(row.bic, -2 * loglik + np.log(400) * n_params, rtol=1e-10)
        assert row.icl >= row.bic
        assert row.converged and row.n_iter == est.n_iter_ and row.identifiable


def test_select_n_components_reproducible(three_coins):
    """The same random_state gives the same table."""
    first = select_n_components(three_coins, [2, 3], random_state=3, n_init=1)
    second = select_n_components(three_coins, [2, 3], random_state=3, n_init=1)
    assert_array_equal(first.table["log_likelihood"], second.table["log_likelihood"])
    assert_array_equal(first.best_estimator.probs_, second.best_estimator.probs_)


def test_select_n_components_marks_unidentifiable_k():
    """K the data cannot identify is warned about, marked, and not selected."""
    rng = np.random.default_rng(4)
    heads = rng.binomial(2, 0.5, size=(6, 1))
    X = np.hstack([heads, 2 - heads])
    with pytest.warns(IdentifiabilityWarning, match=r"\[2, 3, 7\]"):
        result = select_n_components(X, [1, 2, 3, 7], random_state=0)
    assert_array_equal(result.table["identifiable"], [True, False, False, False])
    assert result.best_n_components == 1
    # K = 7 exceeds the 6 rows: not fitted, NaN criteria, parameter count kept.
    assert np.isnan(result.table["bic"][3])
    assert result.table["n_parameters"][3] == 13
    assert 7 not in result.estimators


def test_select_n_components_summarises_convergence():
    """One ConvergenceWarning lists the K whose fit did not converge."""
    X, _ = make_binomial_mixture(100, probs=TRUE_PROBS, random_state=5)
    with pytest.warns(ConvergenceWarning, match=r"n_components in \[2, 3\]"):
        result = select_n_components(
            X, [1, 2, 3], max_iter=3, algorithm="em", random_state=0
        )
    assert_array_equal(result.table["converged"], [True, False, False])


def test_select_n_components_passes_params_and_weights():
    """Estimator params and sample weights reach every fit and the criteria."""
    X, _ = make_binomial_mixture(60, probs=[0.8, 0.2], random_state=6)
    sample_weight = np.random.default_rng(6).integers(1, 4, size=60)
    result = select_n_components(
        X, [1, 2], sample_weight=sample_weight, update_weights=False, random_state=0
    )
    assert_array_equal(result.table["n_parameters"], [1, 2])
    est = result.estimators[2]
    assert not est.update_weights
    assert_allclose(est.weights_, [0.5, 0.5])
    assert_allclose(
        result.table["bic"][1], est.bic(X, sample_weight=sample_weight), rtol=1e-12
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_components_range": []}, "non-empty collection of positive integers"),
        ({"n_components_range": [0, 1]}, "non-empty collection of positive integers"),
        ({"n_components_range": [1.5]}, "non-empty collection of positive integers"),
        ({"n_components_range": [1], "criterion": "dic"}, "criterion must be one of"),
    ],
)
def test_select_n_components_invalid_arguments_raise(kwargs, match):
    """Bad ranges and unknown criteria raise ValueError."""
    X, _ = make_binomial_mixture(20, random_state=7)
    with pytest.raises(ValueError, match=match):
        select_n_components(X, **kwargs)


def test_select_n_components_negative_counts_raise():
    """Negative counts are rejected with sklearn's wording."""
    with pytest.raises(ValueError, match="Negative values"):
        select_n_components([[1, -1], [2, 3]], [1])


def test_gridsearchcv_cross_validated_loglik_finds_true_k(three_coins):
    """GridSearchCV over n_components with the held-out log-likelihood picks K=3."""
    search = GridSearchCV(
        BinomialMixture(n_init=3, random_state=0), {"n_components": [1, 2, 3]}, cv=5
    )
    search.fit(three_coins)
    assert search.best_params_ == {"n_components": 3}
    scores = search.cv_results_["mean_test_score"]
    assert scores[0] < scores[1] < scores[2]


def test_select_n_components_dataframe_keeps_feature_names(three_coins):
    """On a DataFrame the selected model knows the column names, as fit does."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(three_coins, columns=["heads", "tails"])
    result = select_n_components(frame, [2, 3], n_init=1, random_state=0)
    assert_array_equal(result.best_estimator.feature_names_in_, ["heads", "tails"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        labels = result.best_estimator.predict(frame)
    assert_array_equal(np.unique(labels), [0, 1, 2])


DICE = [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.4, 0.3, 0.3]]
COINS = [[0.95, 0.05], [0.1, 0.9], [0.65, 0.35], [0.35, 0.65]]


@pytest.mark.parametrize("probs", [COINS, DICE], ids=["coins", "dice"])
@pytest.mark.parametrize("n_components", [1, 2, 4])
def test_select_n_components_finds_true_k_one_to_four(probs, n_components):
    """BIC picks the true K in 1..4 on well-separated coins and dice."""
    X, _ = make_binomial_mixture(
        400, probs=probs[:n_components], n_trials=(20, 30), random_state=n_components
    )
    result = select_n_components(X, range(1, 6), n_init=3, random_state=0)
    assert result.best_n_components == n_components
    assert result.table["identifiable"].all()


def test_select_n_components_warning_elides_long_k_lists():
    """A scan over many unidentifiable K keeps the warning one short line."""
    X = np.array([[1, 1], [2, 0], [0, 2], [1, 0], [0, 1]] * 4)
    with pytest.warns(IdentifiabilityWarning) as record:
        select_n_components(X, range(1, 60), n_init=1, random_state=0)
    message = str(record[0].message)
    assert "[2, 3, ..., 59] (58 values)" in message
    assert len(message) < 400
