"""Newton polishing of EM fits: steps and a certificate from the information."""

from dataclasses import dataclass

import numpy as np
from sklearn.utils import Bunch

from sklearn_coinem._families._base import ComponentFamily
from sklearn_coinem._inference import (
    _SINGULAR_RCOND,
    _delta_jacobians,
    _expected_statistics,
    _free_basis,
    _weight_scores,
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


@dataclass
class QuadraticModel:
    """The quadratic model of the objective at one point: its Hessian, factored.

    ``free`` is the free basis of the point (:func:`_inference._free_basis`);
    the Hessian ``-info`` in that basis is kept as the eigendecomposition of
    ``info`` rescaled to unit diagonal (``scale``, ``eigenvalues``,
    ``vectors``). ``decrement`` is the Newton decrement at the point, ``inf``
    where ``info`` is not positive definite.
    """

    free: Bunch
    scale: np.ndarray
    eigenvalues: np.ndarray
    vectors: np.ndarray
    decrement: float

    def decrement_of(self, score):
        """``score' info^{-1} score / 2``: the decrement of this Hessian at ``score``.

        ``inf`` where the Hessian is not negative definite.
        """
        if not np.isfinite(self.decrement):
            return np.inf
        projected = self.vectors.T @ (self.scale * score)
        return float(projected @ (projected / self.eigenvalues)) / 2


def newton_step(table, family, weights, params, *, pseudo_count, update_weights):
    """Newton step of the total MAP objective, and its quadratic model.

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
    model : QuadraticModel or None
        The Hessian and the Newton decrement in nats (``model.decrement``,
        ``inf`` when the Hessian is not negative definite); None when
        nothing is free or the information is not finite.
    """
    row_weight = table.total_weight / max(1, table.n_distinct)
    info, score, free = observed_information(
        table, family, weights, params, update_weights, row_weight
    )
    if free.n_free == 0:
        return None, None
    prior_score, prior_info = _prior_derivatives(
        family, weights, params, free, pseudo_count, update_weights
    )
    solved = _solve_definite(info + prior_info, score + prior_score)
    if solved is None:
        return None, None
    free_step, definite, factors = solved
    decrement = float((score + prior_score) @ free_step) / 2 if definite else np.inf
    model = QuadraticModel(free, *factors, decrement)
    jacobians = _delta_jacobians(family, weights, params, free)
    return {name: jac @ free_step for name, jac in jacobians.items()}, model


def has_quasi_decrement(family):
    """Whether ``family`` gives its score from the E-step statistics."""
    return type(family).complete_score is not ComponentFamily.complete_score


def quasi_decrement(
    table, family, weights, params, model, *, pseudo_count, update_weights
):
    """Decrement at a new point of the quadratic model kept from an earlier one.

    ``g' H^{-1} g / 2`` with the score ``g`` of the total MAP objective at
    ``(weights, params)``, in the free basis of ``model``, and the Hessian
    ``H`` of ``model``: a quasi-Newton decrement. The observed score is the
    complete-data score at the current responsibilities (Fisher's identity),
    which the family computes from the E-step statistics
    (:meth:`ComponentFamily.complete_score`): one E-step, where the
    information costs many. Near a maximum, after a Newton step from the
    model's point, it estimates the Newton decrement here (how well is the
    caller's to judge). ``inf`` where a weight or a parameter reached or
    left the boundary since (the free bases differ in what they hold
    fixed), or the Hessian was not negative definite.
    """
    if not np.isfinite(model.decrement):
        return np.inf
    free = model.free
    nk, stats = table.map_reduce(_expected_statistics, family, weights, params)
    row_weight = table.total_weight / max(1, table.n_distinct)
    here = _free_basis(family, weights, params, nk, stats, update_weights, row_weight)
    if not _same_boundary(here, free):
        return np.inf
    score = np.empty(free.n_free)
    n_weights = len(free.weights)
    score[:n_weights] = _weight_scores(weights, free) @ nk
    score[n_weights:] = family.complete_score(params, nk, stats, free.component)
    prior_score, _ = _prior_derivatives(
        family, weights, params, free, pseudo_count, update_weights
    )
    return model.decrement_of(score + prior_score)


def _same_boundary(first, second):
    """Whether two free bases hold the same weights and parameters fixed.

    Their references may differ (the largest weight or probability may
    change): any reference parametrises the same free coordinates.
    """
    return (
        np.array_equal(first.weight_boundary, second.weight_boundary)
        and np.array_equal(first.component.empty, second.component.empty)
        and first.component.boundary.keys() == second.component.boundary.keys()
        and all(
            np.array_equal(value, second.component.boundary[name])
            for name, value in first.component.boundary.items()
        )
    )


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
    """Modified Newton step ``|info|^{-1} score``, whether ``info`` is definite.

    The information is rescaled to unit diagonal and eigen-decomposed (a
    small matrix; LAPACK's inverse from a Cholesky factor, ``dpotri``, spins
    for milliseconds in threaded OpenBLAS even on 5 x 5 matrices). It is
    definite when its smallest eigenvalue exceeds ``_SINGULAR_RCOND``, the
    test of the standard errors, and the step is then Newton's. Otherwise
    it uses the absolute eigenvalues, floored at ``_MIN_CURVATURE``:
    uphill along directions of negative or no curvature (a ridge EM crawls
    along), with a length the caller's safeguard checks. The third value is
    the factors ``(scale, eigenvalues, vectors)`` of the rescaled ``info``.
    Returns None for a non-finite information or a non-positive diagonal.
    """
    diag = np.diag(info)
    if not np.all(np.isfinite(info)) or np.any(diag <= 0):
        return None
    scale = 1.0 / np.sqrt(diag)
    eigenvalues, vectors = np.linalg.eigh(info * np.outer(scale, scale))
    definite = eigenvalues[0] > _SINGULAR_RCOND
    curvature = eigenvalues
    if not definite:
        curvature = np.maximum(np.abs(eigenvalues), _MIN_CURVATURE)
    step = scale * (vectors @ ((vectors.T @ (scale * score)) / curvature))
    return step, definite, (scale, eigenvalues, vectors)
