"""Component families: all the numerics of one form of component density."""

from sklearn_coinem._families._base import ComponentFamily
from sklearn_coinem._families._binomial_regression import BinomialRegressionFamily
from sklearn_coinem._families._dirichlet_multinomial import (
    DirichletMultinomialFamily,
)
from sklearn_coinem._families._multinomial import MultinomialFamily

__all__ = [
    "BinomialRegressionFamily",
    "ComponentFamily",
    "DirichletMultinomialFamily",
    "MultinomialFamily",
]
