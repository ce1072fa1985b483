"""The scikit-learn estimator check suite, with no expected failures."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import sparse
from sklearn.base import clone
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import (
    _generate_sparse_data,
    check_estimators_partial_fit_n_features,
    parametrize_with_checks,
)

from sklearn_coinem import (
    BetaBinomialMixture,
    BinomialMixture,
    BinomialRegressionMixture,
)

ESTIMATORS = [
    BinomialMixture(),
    BinomialMixture(2, n_init=2, random_state=0),
    BinomialMixture(3, init_params="random", algorithm="em", random_state=0),
    BetaBinomialMixture(2, n_init=2, max_iter=100, random_state=0),
    BinomialRegressionMixture(),
    BinomialRegressionMixture(2, shared=[0], n_init=2, random_state=0),
]

# sklearn's sparse-container checks assume that an estimator with
# predict_proba is a classifier: they read ``tags.classifier_tags.multi_class``
# (None for a density estimator: AttributeError) and expect (n, n_classes)
# probabilities. They are replaced, not marked as failures, by
# ``test_sklearn_sparse_containers`` below, the same check with the mixture's
# (n, n_components) posteriors, on every container sklearn generates.
_REPLACED = {"check_estimator_sparse_array", "check_estimator_sparse_matrix"}


def _checks(estimator, check):
    replaced = getattr(check, "func", check).__name__ in _REPLACED
    return not (replaced and get_tags(estimator).input_tags.sparse)


SPARSE_ESTIMATORS = [e for e in ESTIMATORS if get_tags(e).input_tags.sparse]


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda estimator: {})
def test_sklearn_compatible_estimator(estimator, check):
    """Every sklearn estimator check passes."""
    if not _checks(estimator, check):
        pytest.skip("replaced by test_sklearn_sparse_containers")
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
def test_sklearn_partial_fit_n_features(estimator):
    """sklearn's partial_fit check, which the suite runs only for predictors."""
    check_estimators_partial_fit_n_features(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", SPARSE_ESTIMATORS, ids=repr)
@pytest.mark.parametrize("container", [sparse.csr_matrix, sparse.csr_array])
def test_sklearn_sparse_containers(estimator, container):
    """sklearn's sparse-container check, with mixture-shaped posteriors.

    Every format and index width of sklearn's check fits and predicts, and
    gives the fit of the dense counts.
    """
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(40, 3))
    X[X < 0.6] = 0
    X = np.round(10 * X)
    dense = clone(estimator).fit(X)
    for matrix_format, X_sparse in _generate_sparse_data(container(X)):
        fitted = clone(estimator).fit(X_sparse)
        assert fitted.predict(X_sparse).shape == (40,), matrix_format
        proba = fitted.predict_proba(X_sparse)
        assert proba.shape == (40, estimator.n_components), matrix_format
        # atol: a row without trials scores log(sum of weights), 0 up to rounding.
        assert_allclose(
            fitted.score_samples(X_sparse), dense.score_samples(X), atol=1e-12
        )
