"""Starting points for EM: strategies that give responsibilities to a family."""

import warnings

import numpy as np
from scipy import sparse
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning

from sklearn_coinem._solver import single_blas_thread

# Pseudo-row added to every component of a data-driven start, so that no
# starting weight is zero.
_WEIGHT_SMOOTHING = 0.5

INIT_METHODS = ("k-means++", "kmeans", "random", "random_resp", "random_from_data")


def _one_hot(labels, weights, n_components):
    """Weighted responsibilities (n, K) of a hard assignment."""
    one_hot = np.zeros((len(labels), n_components))
    one_hot[np.arange(len(labels)), labels] = weights
    return one_hot


class _Points:
    """Seeding features with the squared norms that distances to them reuse.

    ``|x - c|^2 = |x|^2 - 2 x.c + |c|^2``: one matrix-vector product per
    center, with no (n, C) temporary, so wide (and sparse) rows cost what
    their entries cost.
    """

    def __init__(self, features):
        self.features = features
        if sparse.issparse(features):
            self.sq_norms = np.asarray(features.multiply(features).sum(axis=1))
            self.sq_norms = self.sq_norms.ravel()
        else:
            self.sq_norms = np.einsum("ij,ij->i", features, features)

    def __len__(self):
        return len(self.sq_norms)

    def row(self, index):
        """Feature vector of one row, dense."""
        row = self.features[index]
        return row.toarray().ravel() if sparse.issparse(row) else row

    def squared_distances(self, center):
        """Squared Euclidean distance of each row to ``center`` (never < 0)."""
        distances = self.sq_norms - 2.0 * (self.features @ center) + center @ center
        return np.maximum(distances, 0.0, out=distances)


def _seed_rows(points, seed_weight, n_components, rng):
    """k-means++ style spread seeding: indices of K rows, weighted by D^2."""
    chosen = [rng.choice(len(points), p=seed_weight / seed_weight.sum())]
    closest = points.squared_distances(points.row(chosen[0]))
    for _ in range(1, n_components):
        score = seed_weight * closest
        p = score / score.sum() if score.sum() > 0 else seed_weight / seed_weight.sum()
        chosen.append(rng.choice(len(points), p=p))
        closest = np.minimum(closest, points.squared_distances(points.row(chosen[-1])))
    return np.asarray(chosen)


def _nearest(points, centers):
    """Index of the nearest center (squared Euclidean) of each row."""
    distances = np.empty((len(points), len(centers)))
    for k, center in enumerate(centers):
        distances[:, k] = points.squared_distances(center)
    return distances.argmin(axis=1)


def _init_one(table, family, n_components, method, points, seed_weight, rng):
    """One starting point (weights (K,), params) by ``method``."""
    weights = table.weights
    n_rows = len(weights)
    uniform = np.full(n_components, 1.0 / n_components)
    if method == "random":
        return uniform, family.random_params(n_components, table, rng)
    if method == "random_resp":
        resp = rng.uniform(size=(n_rows, n_components))
        resp /= resp.sum(axis=1, keepdims=True)
        resp *= weights[:, None]
    elif method == "random_from_data":
        candidates = np.flatnonzero(seed_weight > 0)
        p = seed_weight[candidates] / seed_weight[candidates].sum()
        replace = len(candidates) < n_components
        rows = rng.choice(candidates, size=n_components, replace=replace, p=p)
        # One pseudo-row per chosen row, weighted 1 whatever its weight.
        resp = np.zeros((n_rows, n_components))
        resp[rows, np.arange(n_components)] = 1.0
        return uniform, family.init_params(table, resp)
    elif method == "k-means++":
        seeds = _seed_rows(points, seed_weight, n_components, rng)
        centers = [points.row(seed) for seed in seeds]
        resp = _one_hot(_nearest(points, centers), weights, n_components)
    else:
        labels = _kmeans_labels(points.features, seed_weight, n_components, rng)
        resp = _one_hot(labels, weights, n_components)
    return _smoothed_weights(resp), family.init_params(table, resp)


def _smoothed_weights(weighted_resp):
    """Mixing weights of weighted responsibilities, smoothed."""
    nk = weighted_resp.sum(axis=0) + _WEIGHT_SMOOTHING
    return nk / nk.sum()


def _kmeans_labels(props, seed_weight, n_components, rng):
    """Labels of a weighted k-means on the row proportions."""
    if props.shape[0] < n_components:
        # KMeans needs n_clusters rows; one row per cluster is then optimal and
        # the remaining components start empty.
        return np.arange(props.shape[0])
    kmeans = KMeans(
        n_clusters=n_components, n_init=1, random_state=rng.randint(2**31 - 1)
    )
    with warnings.catch_warnings():
        # Fewer distinct proportions than components is handled downstream.
        warnings.simplefilter("ignore", ConvergenceWarning)
        if np.count_nonzero(seed_weight) < n_components:
            seed_weight = seed_weight + (seed_weight == 0)
        return kmeans.fit(props, sample_weight=seed_weight).labels_


def initial_parameters(table, family, n_components, n_runs, method, random_state):
    """Starting points for ``n_runs`` runs of EM.

    Parameters
    ----------
    table : RowTable
        Distinct rows and their positive weights.
    family : ComponentFamily
        The component densities; it turns responsibilities into parameters.
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
    params : dict
        The family's parameters, each with leading axes (n_runs, n_components).
    """
    features, reliability = family.seeding_features(table)
    points = _Points(features)
    # A row's features are as reliable as its trials are many: weighting by
    # the rows alone seeds from the extreme 0/1 proportions of rows with one
    # or two trials, and starts far from the coins.
    seed_weight = table.weights * reliability
    if not seed_weight.any():
        seed_weight = table.weights
    with single_blas_thread(table.n_distinct * table.X.shape[1] * n_components):
        starts = [
            _init_one(
                table, family, n_components, method, points, seed_weight, random_state
            )
            for _ in range(n_runs)
        ]
    weights = np.array([w for w, _ in starts])
    params = {
        name: np.array([p[name] for _, p in starts]) for name in family.param_names
    }
    return weights, params
