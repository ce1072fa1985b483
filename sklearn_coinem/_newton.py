"""Newton polishing of EM fits: steps and a certificate from the information."""

import numpy as np

from sklearn_coinem._families._base import ComponentFamily
from sklearn_coinem._inference import (
    _SINGULAR_RCOND,
    _delta_jacobians,
    observed_information,
)

# Costs of one observed information, in EM iterations. Louis' formula
# costs one E-step (the statistics and responsibilities) plus the products
# of the per-row scores, about n_free**2 / 2 multiply-adds per row against
# the E-step's n_components * n_features: measured (bench_information.py,
# one BLAS thread) about 2 + n_free**2 / (8 * n_components * n_features)
# iterations. Up to
# _CHEAP_INFORMATION a quiet run polishes at once; up to
# _MAX_INFORMATION_COST only after a tail of plain EM steps fails to certify
# it (a flat likelihood, where EM would take hundreds of iterations more);
# beyond, Newton steps cost more than the EM iterations they save.
_CHEAP_INFORMATION = 16.0
_MAX_INFORMATION_COST = 256.0

# Smallest curvature (of the information rescaled to unit diagonal) that a
# modified Newton step divides by along a direction that is not concave.
_MIN_CURVATURE = 1e-3

# The hooks a family needs for Newton steps on its parameters.
_HOOKS = (
    "free_basis",
    "complete_scores",
    "complete_information",
    "delta_jacobians",
    "prior_derivatives",
)


def information_cost(family, params, n_features, update_weights):
    """Estimated cost of one observed information, in EM iterations.

    ``params`` are batched (leading axes (R, K)); the free parameters are
    counted as the family's flat coordinates, which every family has.
    """
    n_components = next(iter(params.values())).shape[1]
    n_free = family.flatten(params).shape[1]
    if update_weights:
        n_free += n_components - 1
    return 2.0 + n_free**2 / (8.0 * n_components * n_features)


def polish_mode(family, params, n_features, update_weights):
    """When quiet runs polish: ``"first"``, ``"after_tail"`` or None (never).

    None where the family lacks a hook or the information is too costly.
    """
    implemented = all(
        getattr(type(family), hook) is not getattr(ComponentFamily, hook)
        for hook in _HOOKS
    )
    if not implemented:
        return None
    cost = information_cost(family, params, n_features, update_weights)
    if cost > _MAX_INFORMATION_COST:
        return None
    return "first" if cost <= _CHEAP_INFORMATION else "after_tail"


def newton_step(table, family, weights, params, *, pseudo_count, update_weights):
    """Newton step of the total MAP objective, and its Newton decrement.

    The objective is the weighted log-likelihood plus the log prior (of the
    weights and of the family's parameters). Its Hessian in the free basis
    is minus the observed information (Louis 1982) minus the prior's
    curvature. Where that Hessian ``H`` is negative definite the Newton step
    is ``-H^{-1} g`` and the decrement ``-g' H^{-1} g / 2`` is the gain of
    the quadratic model: near a maximum, the gain of the objective left.

    Parameters
    ----------
    table : RowTable or DaskRowTable
        The weighted distinct rows.
    family : ComponentFamily
        The component densities, with the Louis and prior hooks.
    weights : ndarray of shape (K,)
        Mixing weights of one run.
    params : dict
        Component parameters of one run (no run axis).
    pseudo_count : float
        Dirichlet pseudo-count of the mixing weights' prior.
    update_weights : bool
        Whether the weights are parameters.

    Returns
    -------
    step : dict or None
        ``"weights"`` and each parameter name -> the step in the natural
        parameters (the free step carried by the family's jacobians); None
        when the Hessian is not negative definite or nothing is free.
    decrement : float
        The Newton decrement in nats (``inf`` when ``step`` is None).
    """
    row_weight = table.total_weight / max(1, table.n_distinct)
    info, score, free = observed_information(
        table, family, weights, params, update_weights, row_weight
    )
    if free.n_free == 0:
        return None, np.inf
    prior_score, prior_info = _prior_derivatives(
        family, weights, params, free, pseudo_count, update_weights
    )
    free_step, definite = _solve_definite(info + prior_info, score + prior_score)
    if free_step is None:
        return None, np.inf
    decrement = float((score + prior_score) @ free_step) / 2 if definite else np.inf
    jacobians = _delta_jacobians(family, weights, params, free)
    return {name: jac @ free_step for name, jac in jacobians.items()}, decrement


def _prior_derivatives(family, weights, params, free, pseudo_count, update_weights):
    """Gradient and minus Hessian of the log prior in the free basis.

    The weights' Dirichlet term ``a sum_k log w_k`` has, in a free weight
    ``j`` (reference ``r``), the derivative ``a / w_j - a / w_r`` and the
    curvature ``diag(a / w_j**2) + a / w_r**2``; the family gives its own.
    """
    n_weights = len(free.weights)
    score, info = np.zeros(free.n_free), np.zeros((free.n_free, free.n_free))
    if update_weights and pseudo_count > 0 and n_weights:
        w_free, w_ref = weights[free.weights], weights[free.ref_weight]
        score[:n_weights] = pseudo_count * (1 / w_free - 1 / w_ref)
        info[:n_weights, :n_weights] = pseudo_count / w_ref**2
        info[np.arange(n_weights), np.arange(n_weights)] += pseudo_count / w_free**2
    family_score, family_info = family.prior_derivatives(params, free.component)
    score[n_weights:] = family_score
    info[n_weights:, n_weights:] = family_info
    return score, info


def _solve_definite(info, score):
    """Modified Newton step ``|info|^{-1} score`` and whether ``info`` is definite.

    The information is rescaled to unit diagonal and eigen-decomposed (a
    small matrix; LAPACK's inverse from a Cholesky factor, ``dpotri``, spins
    for milliseconds in threaded OpenBLAS even on 5 x 5 matrices). It is
    definite when its smallest eigenvalue exceeds ``_SINGULAR_RCOND``, the
    test of the standard errors, and the step is then Newton's. Otherwise
    it uses the absolute eigenvalues, floored at ``_MIN_CURVATURE``:
    uphill along directions of negative or no curvature (a ridge EM crawls
    along), with a length the caller's safeguard checks. Returns
    (None, False) for a non-finite information or a non-positive diagonal.
    """
    diag = np.diag(info)
    if not np.all(np.isfinite(info)) or np.any(diag <= 0):
        return None, False
    scale = 1.0 / np.sqrt(diag)
    eigenvalues, vectors = np.linalg.eigh(info * np.outer(scale, scale))
    definite = eigenvalues[0] > _SINGULAR_RCOND
    curvature = eigenvalues
    if not definite:
        curvature = np.maximum(np.abs(eigenvalues), _MIN_CURVATURE)
    step = scale * (vectors @ ((vectors.T @ (scale * score)) / curvature))
    return step, definite
