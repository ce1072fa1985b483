"""The scikit-learn estimator check suite, with no expected failures."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_coinem import BinomialMixture


@parametrize_with_checks(
    [
        BinomialMixture(),
        BinomialMixture(2, n_init=2, random_state=0),
        BinomialMixture(3, init_params="random", algorithm="em", random_state=0),
    ],
    expected_failed_checks=lambda estimator: {},
)
def test_sklearn_compatible_estimator(estimator, check):
    """Every sklearn estimator check passes."""
    check(estimator)
