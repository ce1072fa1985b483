"""Matching the components of two mixtures (label switching)."""

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted


def _component_probs(mixture, name):
    """Outcome probabilities of a fitted mixture or of an array, as (K, C)."""
    if isinstance(mixture, BaseEstimator):
        check_is_fitted(mixture, "probs_")
    probs = getattr(mixture, "probs_", mixture)
    probs = np.asarray(probs, dtype=float)
    if probs.ndim == 1:
        probs = np.column_stack([probs, 1.0 - probs])
    if probs.ndim != 2 or not np.all(np.isfinite(probs)):
        raise ValueError(
            f"{name} must be a fitted BinomialMixture or a finite array of "
            f"shape (n_components, n_features), got shape {probs.shape}."
        )
    return probs


def align_components(reference, mixture):
    """Permutation of the components of ``mixture`` that best matches ``reference``.

    Mixture components are defined only up to relabelling. This finds the
    one-to-one matching that minimises the total squared Euclidean distance
    between matched outcome-probability rows (the Hungarian algorithm,
    :func:`scipy.optimize.linear_sum_assignment`).

    Parameters
    ----------
    reference : BinomialMixture or array-like of shape (n_components, n_features)
        A fitted mixture, or true outcome probabilities. A 1-D array lists the
        probabilities of heads of coins.

    mixture : BinomialMixture or array-like of shape (n_other, n_features)
        The mixture to relabel, with ``n_other >= n_components``.

    Returns
    -------
    permutation : ndarray of shape (n_components,)
        ``mixture.probs_[permutation]`` (and ``mixture.weights_[permutation]``)
        lines up row by row with the reference. With more components than the
        reference, the unmatched ones are left out.

    Examples
    --------
    >>> from sklearn_coinem import align_components
    >>> align_components([[0.8, 0.2], [0.3, 0.7]], [[0.28, 0.72], [0.83, 0.17]])
    array([1, 0])
    """
    ref = _component_probs(reference, "reference")
    other = _component_probs(mixture, "mixture")
    if ref.shape[1] != other.shape[1]:
        raise ValueError(
            f"The mixtures have different numbers of outcomes: {ref.shape[1]} "
            f"and {other.shape[1]}."
        )
    if other.shape[0] < ref.shape[0]:
        raise ValueError(
            f"mixture has {other.shape[0]} components, fewer than the "
            f"{ref.shape[0]} of reference; swap the arguments."
        )
    cost = ((ref[:, None, :] - other[None, :, :]) ** 2).sum(axis=-1)
    rows, cols = linear_sum_assignment(cost)
    return cols[np.argsort(rows)]
