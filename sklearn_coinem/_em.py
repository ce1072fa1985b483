"""Pure EM numerics for finite mixtures of binomials and multinomials.

Every function works on arrays only. Parameters carry a leading batch axis of
``n_runs`` so that several restarts advance together in one array computation:
``weights`` has shape (n_runs, n_components) and ``probs`` has shape
(n_runs, n_components, n_features).
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

# Rows per E-step block: temporaries are at most block x n_runs x n_components.
_BLOCK_ROWS = 1 << 14


@dataclass(frozen=True)
class CountTable:
    """Weighted distinct rows plus the constants EM needs from them.

    Attributes
    ----------
    X : ndarray of shape (n_rows, n_features)
        Distinct count rows (float64).
    weights : ndarray of shape (n_rows,)
        Positive weight of each row (multiplicity times sample weight).
    log_coef_sum : float
        Weighted sum of the rows' log multinomial coefficients.
    total_weight : float
        Sum of ``weights``.
    """

    X: np.ndarray
    weights: np.ndarray
    log_coef_sum: float
    total_weight: float

    @classmethod
    def from_rows(cls, X, weights):
        """Build the table and its constants (the gammaln terms) once."""
        log_coef_sum = float(weights @ _log_coefficients(X))
        return cls(X, weights, log_coef_sum, float(weights.sum()))

    def sufficient_statistics(self, log_weights, log_probs):
        """E-step statistics over the table (see ``_sufficient_statistics``).

        The EM engine calls this method, so a table kept elsewhere (the dask
        ``DaskCountTable``) can supply the same statistics.
        """
        return _sufficient_statistics(self, log_weights, log_probs)


def _log_coefficients(X):
    """Return log(n! / prod_c x_c!) of each row, with n the row sum."""
    return _log_factorial(X.sum(axis=1)) - _log_factorial(X).sum(axis=1)


def _log_factorial(a):
    """Return log(a!) elementwise, as ``gammaln(a + 1)``.

    Small whole counts, the common case, index a table of ``gammaln`` values
    (no larger than ``a``) instead of evaluating it per entry: the same
    numbers several times faster.
    """
    top = a.max(initial=0)
    if top < max(a.size, 1024) and np.array_equal(a, np.floor(a)):
        return gammaln(np.arange(int(top) + 1) + 1.0)[a.astype(np.intp)]
    return gammaln(a + 1)


def _safe_log(a):
    """Natural log that maps 0 to -inf without a warning."""
    with np.errstate(divide="ignore"):
        return np.log(a)


def _log_joint(X, log_weights, log_probs):
    """Return log(w_k p(x | k)) without the coefficient, in a (R, K, n) layout.

    A zero count of an impossible outcome (p = 0) contributes 0, not nan. A
    row that has probability zero under every component (possible only with
    ``pseudo_count=0``) gets the mixing weights instead, so that its
    posterior is the weights.

    Returns
    -------
    log_joint : ndarray of shape (R, K, n)
    log_max : ndarray of shape (R, n)
        Maximum of ``log_joint`` over the components.
    dead : ndarray of shape (R, n)
        Rows impossible under every component.
    """
    n_runs, n_components, n_features = log_probs.shape
    flat = log_probs.reshape(-1, n_features)
    impossible = np.isneginf(flat)
    log_joint = np.where(impossible, 0.0, flat) @ X.T
    if impossible.any():
        log_joint[impossible.astype(float) @ (X > 0).T > 0] = -np.inf
    log_joint = log_joint.reshape(n_runs, n_components, -1)
    log_joint += log_weights[:, :, None]
    log_max = log_joint.max(axis=1)
    dead = np.isneginf(log_max)
    if dead.any():
        runs, rows = np.nonzero(dead)
        log_joint[runs, :, rows] = log_weights[runs]
        log_max = log_joint.max(axis=1)
    return log_joint, log_max, dead


def _estimate_log_resp(X, log_weights, log_probs):
    """E-step on raw rows.

    Returns
    -------
    log_norm : ndarray of shape (n, R)
        log p(x) without the multinomial coefficient (-inf for a row
        impossible under every component).
    log_resp : ndarray of shape (n, R, K)
        Log posterior of each component (the mixing weights for a row
        impossible under every component).
    """
    log_resp, log_max, dead = _log_joint(X, log_weights, log_probs)
    # A log-sum-exp without scipy's general-purpose overhead (it dominated
    # the time of predict_proba and score_samples on large inputs).
    log_resp -= log_max[:, None, :]
    log_sum = np.log(np.exp(log_resp).sum(axis=1))
    log_resp -= log_sum[:, None, :]
    log_norm = log_max + log_sum
    log_norm[dead] = -np.inf
    return log_norm.T, np.ascontiguousarray(np.moveaxis(log_resp, 2, 0))


def _block_statistics(X, w, log_weights, log_probs):
    """E-step statistics of one block of rows, in a (R, K, n) layout.

    Components sit on the middle axis so that the reductions over them run
    over long contiguous rows, and the exponentials are taken once: the
    normalised responsibilities come from the same array as ``log_norm``.
    """
    n_runs, n_components, n_features = log_probs.shape
    log_joint, log_max, dead = _log_joint(X, log_weights, log_probs)
    log_joint -= log_max[:, None, :]
    resp = np.exp(log_joint, out=log_joint)
    total = resp.sum(axis=1)
    log_norm = log_max + np.log(total)
    log_norm[dead] = -np.inf
    resp *= (w / total)[:, None, :]
    counts = resp.reshape(n_runs * n_components, -1) @ X
    return (
        resp.sum(axis=2),
        counts.reshape(n_runs, n_components, n_features),
        log_norm @ w,
    )


def _sufficient_statistics(table, log_weights, log_probs):
    """Return the expected statistics of one E-step over the table.

    Returns
    -------
    nk : ndarray of shape (R, K)
        Expected weight of each component.
    counts : ndarray of shape (R, K, C)
        Expected outcome counts of each component.
    loglik : ndarray of shape (R,)
        Weighted log-likelihood without the coefficient term.
    """
    n_runs, n_components, n_features = log_probs.shape
    nk = np.zeros((n_runs, n_components))
    counts = np.zeros((n_runs, n_components, n_features))
    loglik = np.zeros(n_runs)
    for start in range(0, table.X.shape[0], _BLOCK_ROWS):
        block_nk, block_counts, block_loglik = _block_statistics(
            table.X[start : start + _BLOCK_ROWS],
            table.weights[start : start + _BLOCK_ROWS],
            log_weights,
            log_probs,
        )
        nk += block_nk
        counts += block_counts
        loglik += block_loglik
    return nk, counts, loglik


def _m_step(nk, counts, pseudo_count, fixed_weights=None):
    """MAP M-step under symmetric Dirichlet(1 + pseudo_count) priors.

    With ``pseudo_count=0`` this is the maximum-likelihood update. A component
    with no expected counts at all gets uniform outcome probabilities.
    """
    probs = counts + pseudo_count
    totals = probs.sum(axis=-1, keepdims=True)
    n_features = counts.shape[-1]
    probs = np.divide(
        probs, totals, out=np.full_like(probs, 1.0 / n_features), where=totals > 0
    )
    if fixed_weights is not None:
        weights = np.broadcast_to(fixed_weights, nk.shape).copy()
    else:
        weights = nk + pseudo_count
        weights /= weights.sum(axis=-1, keepdims=True)
    return weights, probs


def _log_prior(weights, probs, pseudo_count, update_weights):
    """Log Dirichlet prior density (up to a constant) of each run's parameters."""
    if pseudo_count == 0:
        return np.zeros(probs.shape[0])
    log_prior = pseudo_count * _safe_log(probs).sum(axis=(-2, -1))
    if update_weights:
        log_prior += pseudo_count * _safe_log(weights).sum(axis=-1)
    return log_prior


def _em_step(table, weights, probs, pseudo_count, fixed_weights=None):
    """One EM iteration from (weights, probs).

    Returns the updated parameters and the objective at the *input*
    parameters: the mean log-likelihood plus the prior term divided by the
    total weight, the quantity MAP-EM never decreases.
    """
    nk, counts, loglik = table.sufficient_statistics(
        _safe_log(weights), _safe_log(probs)
    )
    prior = _log_prior(weights, probs, pseudo_count, fixed_weights is None)
    objective = (loglik + table.log_coef_sum + prior) / table.total_weight
    new_weights, new_probs = _m_step(nk, counts, pseudo_count, fixed_weights)
    return new_weights, new_probs, objective
