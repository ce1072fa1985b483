"""Starting points for EM: random and data-driven strategies on the count table."""

import warnings

import numpy as np
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning

from sklearn_coinem._solver import _single_blas_thread

# Jeffreys-style pseudo-count that keeps data-driven starting probabilities
# strictly inside the simplex, so every starting log-likelihood is finite.
_INIT_SMOOTHING = 0.5

INIT_METHODS = ("k-means++", "kmeans", "random", "random_resp", "random_from_data")


def _row_proportions(X):
    """Return x / n per row (zeros for rows without trials) and the trials n."""
    trials = X.sum(axis=1)
    props = np.divide(
        X, trials[:, None], out=np.zeros_like(X), where=trials[:, None] > 0
    )
    return props, trials


def _params_from_labels(X, weights, labels, n_components):
    """Smoothed M-step of a hard assignment: (weights (K,), probs (K, C))."""
    one_hot = np.zeros((X.shape[0], n_components))
    one_hot[np.arange(X.shape[0]), labels] = weights
    return _params_from_resp(X, one_hot)


def _params_from_resp(X, weighted_resp):
    """Smoothed M-step of weighted responsibilities of shape (n, K)."""
    nk = weighted_resp.sum(axis=0) + _INIT_SMOOTHING
    counts = weighted_resp.T @ X + _INIT_SMOOTHING
    return nk / nk.sum(), counts / counts.sum(axis=1, keepdims=True)


def _squared_distances(props, center):
    """Squared Euclidean distance of each row to ``center``.

    ``einsum`` rather than ``(d ** 2).sum(axis=1)``: a reduction over a short
    last axis is twice as slow, and this dominates the k-means++ start.
    """
    diff = props - center
    return np.einsum("ij,ij->i", diff, diff)


def _seed_rows(props, seed_weight, n_components, rng):
    """k-means++ style spread seeding: indices of K rows, weighted by D^2."""
    chosen = [rng.choice(len(props), p=seed_weight / seed_weight.sum())]
    closest = _squared_distances(props, props[chosen[0]])
    for _ in range(1, n_components):
        score = seed_weight * closest
        p = score / score.sum() if score.sum() > 0 else seed_weight / seed_weight.sum()
        chosen.append(rng.choice(len(props), p=p))
        closest = np.minimum(closest, _squared_distances(props, props[chosen[-1]]))
    return np.asarray(chosen)


def _nearest(props, centers):
    """Index of the nearest center (squared Euclidean) of each row."""
    # One center at a time: temporaries of n x C, not n x K x C.
    distances = np.empty((len(props), len(centers)))
    for k, center in enumerate(centers):
        distances[:, k] = _squared_distances(props, center)
    return distances.argmin(axis=1)


def _init_one(X, weights, n_components, method, rng):
    """One starting point (weights (K,), probs (K, C)) by ``method``."""
    n_rows, n_features = X.shape
    props, trials = _row_proportions(X)
    # A row's proportions are as reliable as its trials are many: weighting
    # by the rows alone seeds from the extreme 0/1 proportions of rows with
    # one or two trials, and starts far from the coins.
    seed_weight = weights * trials
    if not seed_weight.any():
        seed_weight = weights
    if method == "random":
        probs = rng.dirichlet(np.ones(n_features), size=n_components)
        return np.full(n_components, 1.0 / n_components), probs
    if method == "random_resp":
        resp = rng.uniform(size=(n_rows, n_components))
        resp /= resp.sum(axis=1, keepdims=True)
        return _params_from_resp(X, resp * weights[:, None])
    if method == "random_from_data":
        candidates = np.flatnonzero(seed_weight > 0)
        p = seed_weight[candidates] / seed_weight[candidates].sum()
        replace = len(candidates) < n_components
        rows = X[rng.choice(candidates, size=n_components, replace=replace, p=p)]
        probs = rows + _INIT_SMOOTHING
        probs /= probs.sum(axis=1, keepdims=True)
        return np.full(n_components, 1.0 / n_components), probs
    if method == "k-means++":
        centers = props[_seed_rows(props, seed_weight, n_components, rng)]
        return _params_from_labels(X, weights, _nearest(props, centers), n_components)
    labels = _kmeans_labels(props, seed_weight, n_components, rng)
    return _params_from_labels(X, weights, labels, n_components)


def _kmeans_labels(props, seed_weight, n_components, rng):
    """Labels of a weighted k-means on the row proportions."""
    if len(props) < n_components:
        # KMeans needs n_clusters rows; one row per cluster is then optimal and
        # the remaining components start empty.
        return np.arange(len(props))
    kmeans = KMeans(
        n_clusters=n_components, n_init=1, random_state=rng.randint(2**31 - 1)
    )
    with warnings.catch_warnings():
        # Fewer distinct proportions than components is handled downstream.
        warnings.simplefilter("ignore", ConvergenceWarning)
        if np.count_nonzero(seed_weight) < n_components:
            seed_weight = seed_weight + (seed_weight == 0)
        return kmeans.fit(props, sample_weight=seed_weight).labels_


def initial_parameters(X, weights, n_components, n_runs, method, random_state):
    """Starting points for ``n_runs`` runs of EM.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
        Distinct count rows.
    weights : ndarray of shape (n_rows,)
        Positive row weights.
    n_components : int
        Number of mixture components.
    n_runs : int
        Number of starting points to draw.
    method : str
        One of ``INIT_METHODS``.
    random_state : numpy.random.RandomState
        Source of randomness, advanced in place.

    Returns
    -------
    weights : ndarray of shape (n_runs, n_components)
    probs : ndarray of shape (n_runs, n_components, n_features)
    """
    with _single_blas_thread(len(X)):
        starts = [
            _init_one(X, weights, n_components, method, random_state)
            for _ in range(n_runs)
        ]
    return np.array([w for w, _ in starts]), np.array([p for _, p in starts])
