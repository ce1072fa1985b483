"""The scikit-learn estimator check suite, with no expected failures."""

import pytest
from sklearn.utils.estimator_checks import (
    check_estimators_partial_fit_n_features,
    parametrize_with_checks,
)

from sklearn_coinem import BinomialMixture

ESTIMATORS = [
    BinomialMixture(),
    BinomialMixture(2, n_init=2, random_state=0),
    BinomialMixture(3, init_params="random", algorithm="em", random_state=0),
]


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda estimator: {})
def test_sklearn_compatible_estimator(estimator, check):
    """Every sklearn estimator check passes."""
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
def test_sklearn_partial_fit_n_features(estimator):
    """sklearn's partial_fit check, which the suite runs only for predictors."""
    check_estimators_partial_fit_n_features(type(estimator).__name__, estimator)
