"""Component families: all the numerics of one form of component density."""

from sklearn_coinem._families._base import ComponentFamily
from sklearn_coinem._families._multinomial import MultinomialFamily

__all__ = ["ComponentFamily", "MultinomialFamily"]
