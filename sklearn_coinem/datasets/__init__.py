"""Built-in data sets and synthetic data generators."""

from sklearn_coinem.datasets._betablocker import load_betablocker
from sklearn_coinem.datasets._coins import load_coins
from sklearn_coinem.datasets._generators import make_binomial_mixture

__all__ = ["load_betablocker", "load_coins", "make_binomial_mixture"]
