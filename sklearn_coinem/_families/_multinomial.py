"""The multinomial family: binomial (C = 2) and multinomial components."""

import numpy as np
from scipy import sparse
from sklearn.utils import Bunch

from sklearn_coinem._families._base import ComponentFamily, dense_scores
from sklearn_coinem._numerics import log_coefficients, row_sums, safe_log

# Jeffreys-style pseudo-count that keeps data-driven starting probabilities
# strictly inside the simplex, so every starting log-likelihood is finite.
INIT_SMOOTHING = 0.5

# Expected count (outcomes of a component) below which a probability is
# treated as lying on the boundary of the parameter space: far below one
# observation, far above what the default pseudo-count leaves behind.
BOUNDARY_COUNT = 1e-3


def row_proportions(X):
    """Return x / n per row (zeros for rows without trials) and the trials n.

    Sparse counts give sparse proportions.
    """
    trials = row_sums(X)
    if sparse.issparse(X):
        inverse = np.divide(1.0, trials, out=np.zeros_like(trials), where=trials > 0)
        return sparse.csr_matrix(sparse.diags(inverse) @ X), trials
    # A division then a fix of the rows without trials: ``where=`` is
    # several times slower on large tables.
    with np.errstate(divide="ignore", invalid="ignore"):
        props = np.divide(X, trials[:, None], dtype=np.result_type(X, 1.0))
    if not trials.all():
        props[trials == 0] = 0.0
    return props, trials


def multinomial_log_prob(X, log_probs):
    """``sum_c x_ic log p_kc`` of every row and component, shape (R, K, n).

    A zero count of an impossible outcome (p = 0) contributes 0, not nan; a
    positive count of one makes the row impossible (-inf).
    """
    n_runs, n_components, n_features = log_probs.shape
    flat = log_probs.reshape(-1, n_features)
    impossible = np.isneginf(flat)
    log_prob = _times_rows(np.where(impossible, 0.0, flat), X)
    if impossible.any():
        log_prob[_times_rows(impossible.astype(float), X > 0) > 0] = -np.inf
    return log_prob.reshape(n_runs, n_components, -1)


def _times_rows(A, X):
    """``A @ X.T`` for dense A (m, C) and dense or sparse rows X (n, C)."""
    if sparse.issparse(X):
        return np.ascontiguousarray((X @ A.T).T)
    return A @ X.T


def _times_counts(A, X):
    """``A @ X`` for dense A (m, n) and dense or sparse counts X (n, C)."""
    if sparse.issparse(X):
        return np.ascontiguousarray((X.T @ A.T).T)
    return A @ X


def dirichlet_map(counts, pseudo_count):
    """MAP probabilities of counts under a symmetric Dirichlet(1 + a) prior.

    A component with no expected counts at all gets uniform probabilities.
    """
    probs = counts + pseudo_count
    totals = probs.sum(axis=-1, keepdims=True)
    n_features = counts.shape[-1]
    return np.divide(
        probs, totals, out=np.full_like(probs, 1.0 / n_features), where=totals > 0
    )


def sample_multinomial(probs, trials, rng):
    """Draw one count row per (probs row, trials) by conditional binomials.

    ``x_c ~ Binomial(n - x_1 - ... - x_{c-1}, p_c / (p_c + ... + p_C))`` is an
    exact multinomial draw that works with a different ``n`` and ``p`` on
    every row.
    """
    n_samples = len(trials)
    X = np.zeros(probs.shape, dtype=np.int64)
    remaining = trials.copy()
    tail = np.cumsum(probs[:, ::-1], axis=1)[:, ::-1]
    for c in range(probs.shape[1] - 1):
        share = np.divide(
            probs[:, c], tail[:, c], out=np.zeros(n_samples), where=tail[:, c] > 0
        )
        X[:, c] = rng.binomial(remaining, np.clip(share, 0.0, 1.0))
        remaining -= X[:, c]
    X[:, -1] = remaining
    return X


class MultinomialFamily(ComponentFamily):
    """Multinomial components with a symmetric Dirichlet(1 + a) MAP prior.

    Parameters
    ----------
    pseudo_count : float
        The prior's ``a``: added to every expected outcome count in the
        M-step; 0 gives the maximum likelihood update.
    """

    param_names = ("probs",)
    param_bounds = {"probs": (0.0, 1.0)}
    supports_sparse = True

    def __init__(self, pseudo_count=0.0):
        self.pseudo_count = pseudo_count

    def row_constants(self, block):
        return log_coefficients(block.X)

    def log_prob(self, block, params):
        return multinomial_log_prob(block.X, safe_log(params["probs"]))

    def accumulate(self, block, resp, params):
        n_runs, n_components, _ = resp.shape
        counts = _times_counts(resp.reshape(n_runs * n_components, -1), block.X)
        return {"counts": counts.reshape(n_runs, n_components, -1)}

    def m_step(self, stats, nk, params):
        return {"probs": dirichlet_map(stats["counts"], self.pseudo_count)}

    def log_prior(self, params):
        probs = params["probs"]
        if self.pseudo_count == 0:
            return np.zeros(probs.shape[0])
        return self.pseudo_count * safe_log(probs).sum(axis=(-2, -1))

    def seeding_features(self, block):
        return row_proportions(block.X)

    def init_params(self, block, weighted_resp):
        counts = _times_counts(weighted_resp.T, block.X) + INIT_SMOOTHING
        return {"probs": counts / counts.sum(axis=1, keepdims=True)}

    def random_params(self, n_components, block, rng):
        n_features = block.X.shape[1]
        return {"probs": rng.dirichlet(np.ones(n_features), size=n_components)}

    def flatten(self, params):
        probs = params["probs"]
        return probs.reshape(probs.shape[0], -1)

    def unflatten(self, theta, params):
        # The extrapolation keeps the sums of its inputs only up to rounding
        # amplified by the squared step length: unnormalised probabilities
        # inflate the objective, and the safeguard would accept an
        # extrapolation whose EM step then lowers it.
        probs = theta.reshape(params["probs"].shape)
        return {"probs": probs / probs.sum(axis=-1, keepdims=True)}

    def feasible(self, theta):
        return ~(theta < 0).any(axis=1)

    def n_parameters(self, n_components, n_features):
        return n_components * (n_features - 1)

    def canonical_order(self, weights, params):
        """Descending probs[:, 0], then the other columns, then weight."""
        probs = params["probs"]
        keys = [-weights] + [-probs[:, c] for c in range(probs.shape[1] - 1, -1, -1)]
        return np.lexsort(keys)

    def identifiability_problem(self, block, n_components):
        """Rows need 2K - 1 trials to identify K components (Teicher 1963)."""
        X = block.X
        max_trials = float(row_sums(X).max()) if X.shape[0] else 0.0
        needed = 2 * n_components - 1
        if max_trials >= needed:
            return None
        return (
            f"A mixture of {n_components} binomial/multinomial components is not "
            f"identifiable from these data: it needs rows with at least "
            f"2 * n_components - 1 = {needed} trials (Teicher 1963), but the "
            f"largest row has {max_trials:g}. Several parameter values fit equally "
            "well; use fewer components or rows with more trials."
        )

    def sample(self, params, components, n_trials, rng, design=None):
        return sample_multinomial(params["probs"][components], n_trials, rng)

    def interval_scales(self, params):
        """Logit intervals for binomial probabilities, Wald ones for C > 2.

        Measured by simulation (docs/performance.rst): the logit scale
        repairs the coverage of small binomial probabilities and weights,
        but over-covers the marginal probabilities of dice, whose Wald
        intervals already cover at the nominal rate.
        """
        binomial = params["probs"].shape[-1] == 2
        return {"probs": "logit" if binomial else "wald"}

    # ------------------------------------------------------------ Louis
    def free_basis(self, params, nk, stats):
        """Each probability row drops its largest entry (one minus the others).

        Probabilities with an expected count below ``BOUNDARY_COUNT``, and
        all of a component without data, are boundary values: held fixed,
        never in the basis.
        """
        probs, counts = params["probs"], stats["counts"]
        n_components = probs.shape[0]
        empty = (nk < BOUNDARY_COUNT) | (counts.sum(axis=1) < BOUNDARY_COUNT)
        boundary = (counts < BOUNDARY_COUNT) | empty[:, None]
        ref = probs.argmax(axis=1)
        free_mask = ~boundary
        free_mask[np.arange(n_components), ref] = False
        comp, col = np.nonzero(free_mask)
        # A reference entry is itself on the boundary (at 1) when nothing is free.
        boundary[np.arange(n_components), ref] |= ~free_mask.any(axis=1)
        return Bunch(
            n_free=len(comp),
            comp=comp,
            col=col,
            ref=ref,
            boundary={"probs": boundary},
            empty=empty,
        )

    def complete_scores(self, block, params, basis):
        """``x_c / p_kc - x_ref / p_k,ref`` for a probability of component k."""
        scores, owner = self.component_scores(block, params, basis)
        return dense_scores(scores, owner, params["probs"].shape[0])

    def component_scores(self, block, params, basis):
        """``x_c / p_kc - x_ref / p_k,ref``, owned by component k."""
        X, probs = block.X, params["probs"]
        comp, col = basis.comp, basis.col
        counts = X.T.toarray() if sparse.issparse(X) else np.ascontiguousarray(X.T)
        scores = np.take(counts, col, axis=0)
        scores /= probs[comp, col, None]
        # One row x_ref / p_k,ref per component, taken off its coordinates.
        for k in np.unique(comp):
            ref = basis.ref[k]
            rows = slice(*np.searchsorted(comp, [k, k + 1]))
            scores[rows] -= counts[ref] / probs[k, ref]
        return scores, comp

    def complete_information(self, params, nk, stats, basis):
        """``diag(s_kc / p_kc**2) + s_k,ref / p_k,ref**2`` within each component."""
        probs, counts = params["probs"], stats["counts"]
        # Boundary entries (p = 0 possible) are never in the basis: skip them.
        # (A probability of 1e-200 squares to 0: test the square.)
        squares = probs**2
        curvature = np.divide(
            counts, squares, out=np.zeros_like(counts), where=squares > 0
        )
        comp = basis.comp
        info = (comp[:, None] == comp) * curvature[comp, basis.ref[comp], None]
        info[np.diag_indices_from(info)] += curvature[comp, basis.col]
        return info

    def complete_score(self, params, nk, stats, basis):
        """``s_kc / p_kc - s_k,ref / p_k,ref``: the rows' scores summed."""
        probs, counts = params["probs"], stats["counts"]
        comp, ref_col = basis.comp, basis.ref[basis.comp]
        return (
            counts[comp, basis.col] / probs[comp, basis.col]
            - counts[comp, ref_col] / probs[comp, ref_col]
        )

    def prior_derivatives(self, params, basis):
        """``a / p_kc - a / p_k,ref`` and the curvature of ``a`` pseudo-counts."""
        probs = params["probs"]
        prior_counts = np.full_like(probs, self.pseudo_count)
        ref_col = basis.ref[basis.comp]
        score = self.pseudo_count * (
            1 / probs[basis.comp, basis.col] - 1 / probs[basis.comp, ref_col]
        )
        info = self.complete_information(params, None, {"counts": prior_counts}, basis)
        return score, info

    def delta_jacobians(self, params, basis):
        probs = params["probs"]
        jac = np.zeros(probs.shape + (basis.n_free,))
        cols = np.arange(basis.n_free)
        jac[basis.comp, basis.col, cols] = 1.0
        jac[basis.comp, basis.ref[basis.comp], cols] = -1.0
        return {"probs": jac}
