"""Synthetic count data drawn from a mixture of binomials or multinomials."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from sklearn_coinem._families._multinomial import sample_multinomial

_DEFAULT_PROBS = ((0.8, 0.2), (0.45, 0.55))


def _check_probs(probs):
    """Return probs as a (K, C) float array; a 1-D input lists heads probabilities."""
    probs = np.array(_DEFAULT_PROBS if probs is None else probs, dtype=float)
    if probs.ndim == 1:
        probs = np.column_stack([probs, 1.0 - probs])
    if probs.ndim != 2 or probs.shape[0] == 0 or probs.shape[1] < 2:
        raise ValueError(
            "probs must be of shape (n_components,) (probabilities of heads) or "
            f"(n_components, n_features) with n_features >= 2, got {probs.shape}."
        )
    if not np.all(np.isfinite(probs)) or np.any(probs < 0) or np.any(probs > 1):
        raise ValueError("probs must contain probabilities in [0, 1].")
    if not np.allclose(probs.sum(axis=1), 1.0, rtol=0, atol=1e-8):
        raise ValueError("Each row of probs must sum to 1.")
    return probs


def _check_weights(weights, n_components):
    """Return the mixing weights as a float array (uniform when None)."""
    if weights is None:
        return np.full(n_components, 1.0 / n_components)
    weights = np.array(weights, dtype=float)
    if weights.shape != (n_components,):
        raise ValueError(
            f"weights must be of shape ({n_components},) to match probs, "
            f"got {weights.shape}."
        )
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError("weights must be finite and non-negative.")
    if not np.isclose(weights.sum(), 1.0, rtol=0, atol=1e-8):
        raise ValueError(f"weights must sum to 1, got {weights.sum():g}.")
    return weights


def _is_int(value):
    """True for an integer that is not a bool."""
    return isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))


# numpy's binomial draws take int64 trials; beyond this they overflow.
_MAX_TRIALS = 2**62


def _check_n_trials(n_trials, n_samples, rng):
    """Trials of each row from an int, a (low, high) range or a per-row array.

    A scalar may be any whole number (``20.0`` is 20 trials).
    """
    if _is_int(n_trials) or (
        isinstance(n_trials, Real) and not isinstance(n_trials, (bool, np.bool_))
    ):
        trials = np.full(n_samples, n_trials)
    elif isinstance(n_trials, tuple) and len(n_trials) == 2:
        low, high = n_trials
        if not (_is_int(low) and _is_int(high)) or low > high:
            raise ValueError(
                "A range n_trials=(low, high) needs integers with low <= high, "
                f"got {n_trials!r}."
            )
        # Checked before drawing, so that the error does not depend on the draw.
        if low < 0:
            raise ValueError("n_trials must be non-negative.")
        trials = rng.randint(low, high + 1, size=n_samples)
    else:
        trials = np.asarray(n_trials)
        if trials.shape != (n_samples,):
            raise ValueError(
                "n_trials must be an int, a (low, high) tuple or an array of "
                f"shape (n_samples,) = ({n_samples},), got shape {trials.shape}."
            )
        if not np.issubdtype(trials.dtype, np.number):
            raise ValueError(
                f"n_trials must contain numbers, got dtype {trials.dtype}."
            )
        if not np.all(np.isfinite(trials)) or np.any(trials != np.round(trials)):
            raise ValueError("n_trials must contain whole numbers.")
    if not np.all(np.isfinite(trials)) or np.any(trials != np.round(trials)):
        raise ValueError("n_trials must contain whole numbers.")
    if np.any(trials < 0):
        raise ValueError("n_trials must be non-negative.")
    if np.any(trials > _MAX_TRIALS):
        raise ValueError(
            f"n_trials must be at most 2**62 (numpy draws int64 trials), got "
            f"{np.max(trials):g}."
        )
    return trials.astype(np.int64)


def _sample_mixture(weights, probs, n_samples, n_trials, rng):
    """Draw the trials, then component labels, then the counts of each row."""
    trials = _check_n_trials(n_trials, n_samples, rng)
    labels = rng.choice(len(weights), size=n_samples, p=weights)
    return sample_multinomial(probs[labels], trials, rng), labels


def make_binomial_mixture(
    n_samples=100, *, weights=None, probs=None, n_trials=20, random_state=None
):
    """Generate count data from a finite mixture of binomials or multinomials.

    Each row picks a component ``k`` with probability ``weights[k]`` and then
    draws ``n_trials`` outcomes from ``probs[k]``.

    Parameters
    ----------
    n_samples : int, default=100
        Number of rows (experiments).

    weights : array-like of shape (n_components,), default=None
        Mixing weights, non-negative and summing to 1. Uniform when None.

    probs : array-like of shape (n_components, n_features) or \
            (n_components,), default=None
        Outcome probabilities of each component, rows summing to 1. A 1-D
        array gives the probability of heads of each coin (two columns,
        heads and tails). None means ``[[0.8, 0.2], [0.45, 0.55]]``.

    n_trials : int, tuple (low, high) or array-like of shape (n_samples,), \
            default=20
        Trials per row: the same for every row, drawn uniformly from the
        integers ``low..high`` (inclusive), or given per row.

    random_state : int, RandomState instance or None, default=None
        Determines the draws. Pass an int for reproducible output.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Integer outcome counts; ``X.sum(axis=1)`` are the trials.

    y : ndarray of shape (n_samples,)
        Component of each row.

    See Also
    --------
    BinomialMixture.sample : Draw from a fitted mixture.

    Examples
    --------
    >>> from sklearn_coinem.datasets import make_binomial_mixture
    >>> X, y = make_binomial_mixture(
    ...     6, probs=[0.9, 0.2], n_trials=(5, 10), random_state=0
    ... )
    >>> X.shape, y.shape
    ((6, 2), (6,))
    >>> bool(((X.sum(axis=1) >= 5) & (X.sum(axis=1) <= 10)).all())
    True
    """
    if not _is_int(n_samples) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
    probs = _check_probs(probs)
    weights = _check_weights(weights, probs.shape[0])
    rng = check_random_state(random_state)
    return _sample_mixture(weights, probs, n_samples, n_trials, rng)
