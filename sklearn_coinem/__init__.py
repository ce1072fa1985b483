"""Scikit-learn compatible EM for finite mixtures of binomials and multinomials."""

from sklearn_coinem._binomial_mixture import BinomialMixture, IdentifiabilityWarning

__version__ = "0.1.0"

__all__ = ["BinomialMixture", "IdentifiabilityWarning", "__version__"]
