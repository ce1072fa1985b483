"""The EM driver: plain EM or SQUAREM over a batch of restarts."""

import threading
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from sklearn_coinem._em import _em_step

# SQUAREM step-length bounds (Varadhan & Roland 2008, "SqS3" with step.max growth).
_STEP_GROWTH = 4.0
_MAX_BACKTRACKS = 30

# Below this many rows BLAS does not use threads anyway (see _single_blas_thread).
_SINGLE_THREAD_ROWS = 1 << 12


@dataclass
class EMResult:
    """Final state of every run of a batch."""

    weights: np.ndarray
    probs: np.ndarray
    lower_bound: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    lower_bounds: list = field(default_factory=list)


def _flatten(weights, probs, update_weights):
    """Stack the free parameters of each run into one vector per run."""
    flat_probs = probs.reshape(probs.shape[0], -1)
    return np.hstack([weights, flat_probs]) if update_weights else flat_probs


def _unflatten(theta, weights, probs, update_weights):
    """Inverse of ``_flatten``, rescaled onto the simplex.

    Fixed weights are taken from ``weights``. The extrapolation keeps the
    sums of its inputs only up to rounding amplified by the squared step
    length (1e-7 off for long steps on flat likelihoods): unnormalised
    probabilities inflate the objective, and the safeguard would accept an
    extrapolation whose EM step then lowers it.
    """
    n_runs, n_components, n_features = probs.shape
    if update_weights:
        weights, theta = theta[:, :n_components], theta[:, n_components:]
        weights = weights / weights.sum(axis=-1, keepdims=True)
    probs = theta.reshape(n_runs, n_components, n_features)
    return weights, probs / probs.sum(axis=-1, keepdims=True)


def _squarem_extrapolate(theta0, theta1, theta2, step_max):
    """Return the SqS3 extrapolation and its step length, kept in the simplex.

    The step ``alpha <= -1`` is halved towards -1 (where the extrapolation is
    ``theta2``, a plain EM iterate) until every parameter is non-negative.
    """
    r = theta1 - theta0
    v = theta2 - 2 * theta1 + theta0
    r_norm = np.sqrt(np.einsum("ij,ij->i", r, r))
    v_norm = np.sqrt(np.einsum("ij,ij->i", v, v))
    ratio = np.divide(r_norm, v_norm, out=np.ones_like(r_norm), where=v_norm > 0)
    alpha = -np.clip(ratio, 1.0, step_max)
    for _ in range(_MAX_BACKTRACKS):
        theta = theta0 - 2 * alpha[:, None] * r + alpha[:, None] ** 2 * v
        bad = (theta < 0).any(axis=1)
        if not bad.any():
            return theta, alpha
        alpha = np.where(bad, (alpha - 1) / 2, alpha)
    # At alpha = -1 the extrapolation is theta2 itself; take it exactly, since
    # the formula can round an exact zero of theta2 to a tiny negative number.
    alpha = np.where(bad, -1.0, alpha)
    return np.where(bad[:, None], theta2, theta), alpha


def _single_blas_thread(n_rows):
    """Context that runs BLAS on one thread for products over ``n_rows`` rows.

    The products of EM and of its initialisation are tall and skinny: one
    BLAS thread is as fast, and threaded BLAS collapses (several times
    slower) when the cores are shared. The limit is process wide, so only
    the main thread sets it: runs in concurrent threads could otherwise
    restore each other's limits in the wrong order. Small inputs skip it,
    as BLAS does not thread them and setting the limit costs milliseconds.
    """
    if n_rows >= _SINGLE_THREAD_ROWS and (
        threading.current_thread() is threading.main_thread()
    ):
        return threadpool_limits(limits=1, user_api="blas")
    return nullcontext()


class _Runs:
    """Mutable per-run state of a batch of EM runs (used only by ``run_em``)."""

    def __init__(self, weights, probs, lower_bound):
        n_runs = probs.shape[0]
        self.weights = np.array(weights, dtype=float)
        self.probs = np.array(probs, dtype=float)
        self.lower_bound = np.array(lower_bound, dtype=float)
        self.n_iter = np.zeros(n_runs, dtype=int)
        self.converged = np.zeros(n_runs, dtype=bool)
        self.step_max = np.ones(n_runs)
        self.history = [[] for _ in range(n_runs)]

    def record(self, idx, objective, tol, callback):
        """Store the objective of runs ``idx``; return which have converged."""
        change = objective - self.lower_bound[idx]
        self.lower_bound[idx] = objective
        for run, value, delta in zip(idx, objective, change):
            self.history[run].append(value)
            if callback is not None:
                callback(run, self.n_iter[run], value, delta)
        done = np.abs(change) < tol
        self.converged[idx[done]] = True
        return done


def run_em(
    table,
    weights,
    probs,
    *,
    pseudo_count,
    update_weights,
    tol,
    max_iter,
    algorithm="squarem",
    lower_bound=None,
    callback=None,
):
    """Run EM from a batch of starting points until each run converges.

    Parameters
    ----------
    table : CountTable
        The weighted distinct rows.
    weights, probs : ndarray of shape (R, K) and (R, K, C)
        Starting parameters of the R runs.
    pseudo_count : float
        Dirichlet pseudo-count of the MAP M-step.
    update_weights : bool
        If False the mixing weights stay at their starting values.
    tol : float
        Convergence threshold on the change of the per-sample objective
        between iterations (between SQUAREM cycles for ``"squarem"``).
    max_iter : int
        Maximum number of EM map evaluations (one E-step plus one M-step each).
    algorithm : {"em", "squarem"}
        Plain EM, or SQUAREM with its monotonicity safeguard.
    lower_bound : ndarray of shape (R,), default=None
        Objective of the starting point, if known (warm start).
    callback : callable, default=None
        ``callback(run, n_iter, objective, change)`` after each recorded step.

    Returns
    -------
    EMResult
    """
    n_runs = probs.shape[0]
    if lower_bound is None:
        lower_bound = np.full(n_runs, -np.inf)
    fixed = None if update_weights else np.asarray(weights[0], dtype=float)
    runs = _Runs(weights, probs, lower_bound)

    def em_map(idx, w, p):
        new_w, new_p, objective = _em_step(table, w, p, pseudo_count, fixed)
        runs.n_iter[idx] += 1
        return new_w, new_p, objective

    with _single_blas_thread(table.X.shape[0]):
        while True:
            active = np.flatnonzero(~runs.converged & (runs.n_iter < max_iter))
            if active.size == 0:
                break
            accelerate = (max_iter - runs.n_iter[active] >= 3) & (
                algorithm == "squarem"
            )
            for idx, step in (
                (active[~accelerate], _plain_step),
                (active[accelerate], _squarem_cycle),
            ):
                if idx.size:
                    step(runs, idx, em_map, update_weights, tol, callback)
    return EMResult(
        runs.weights,
        runs.probs,
        runs.lower_bound,
        runs.n_iter,
        runs.converged,
        [np.asarray(h) for h in runs.history],
    )


def _plain_step(runs, idx, em_map, update_weights, tol, callback):
    """Advance runs ``idx`` by one EM iteration."""
    w, p, objective = em_map(idx, runs.weights[idx], runs.probs[idx])
    runs.record(idx, objective, tol, callback)
    runs.weights[idx], runs.probs[idx] = w, p


def _squarem_cycle(runs, idx, em_map, update_weights, tol, callback):
    """Advance runs ``idx`` by one SQUAREM cycle (three EM map evaluations).

    The cycle keeps the extrapolated point only if its objective is at least
    that of the first EM iterate; otherwise it falls back to two plain EM
    steps. Objectives at cycle starts therefore never decrease.
    """
    w0, p0 = runs.weights[idx], runs.probs[idx]
    w1, p1, objective0 = em_map(idx, w0, p0)
    done = runs.record(idx, objective0, tol, callback)
    runs.weights[idx], runs.probs[idx] = w1, p1
    idx, w0, p0, w1, p1 = idx[~done], w0[~done], p0[~done], w1[~done], p1[~done]
    if idx.size == 0:
        return
    w2, p2, objective1 = em_map(idx, w1, p1)
    theta, alpha = _squarem_extrapolate(
        _flatten(w0, p0, update_weights),
        _flatten(w1, p1, update_weights),
        _flatten(w2, p2, update_weights),
        runs.step_max[idx],
    )
    w_ext, p_ext = _unflatten(theta, w2, p2, update_weights)
    w3, p3, objective_ext = em_map(idx, w_ext, p_ext)
    accept = objective_ext >= objective1
    runs.weights[idx] = np.where(accept[:, None], w3, w2)
    runs.probs[idx] = np.where(accept[:, None, None], p3, p2)
    at_max = accept & (-alpha >= runs.step_max[idx])
    runs.step_max[idx] = np.where(
        accept,
        np.where(at_max, runs.step_max[idx] * _STEP_GROWTH, runs.step_max[idx]),
        np.maximum(1.0, runs.step_max[idx] / _STEP_GROWTH),
    )
