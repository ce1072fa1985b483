"""Scikit-learn compatible EM for finite mixtures of binomials and multinomials."""

from sklearn_coinem._alignment import align_components
from sklearn_coinem._base import CollapsedComponentsWarning, IdentifiabilityWarning
from sklearn_coinem._beta_binomial_mixture import BetaBinomialMixture
from sklearn_coinem._binomial_mixture import BinomialMixture
from sklearn_coinem._binomial_regression_mixture import BinomialRegressionMixture
from sklearn_coinem._classifier import BinomialMixtureClassifier
from sklearn_coinem._counts import counts_from_trials
from sklearn_coinem._model_selection import select_n_components
from sklearn_coinem._monitor import FitMonitor, monitor_fits

__version__ = "0.1.0"

__all__ = [
    "BetaBinomialMixture",
    "BinomialMixture",
    "BinomialRegressionMixture",
    "BinomialMixtureClassifier",
    "CollapsedComponentsWarning",
    "FitMonitor",
    "IdentifiabilityWarning",
    "__version__",
    "align_components",
    "counts_from_trials",
    "monitor_fits",
    "select_n_components",
]
