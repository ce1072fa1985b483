"""Built-in data sets and synthetic data generators."""

from sklearn_coinem.datasets._coins import load_coins

__all__ = ["load_coins"]
