"""Profile-likelihood confidence intervals, on any smooth log-likelihood.

The functions here know nothing of mixtures: they see the log-likelihood of
a vector ``delta`` of free coordinates (an offset from the estimate), its
score and information, and which ``delta`` lie in the parameter space.
``sklearn_coinem._inference`` builds these from a component family.
"""

import numpy as np
from scipy.linalg import null_space
from scipy.optimize import brentq

# Newton stops when the predicted gain of the log-likelihood, half the
# squared Newton decrement, is below this: far below the 1.92 of a 95%
# bound, and above the rounding of a sum of many log-likelihood terms.
_GAIN_TOL = 1e-8
_MAX_NEWTON = 50

# Halvings of a move along the profile path before it is given up.
_MAX_SUBSTEPS = 30

# Steps of the bracketing search before a bound is declared to lie at the
# edge of the parameter's range (each halves the distance to the edge).
_MAX_EXPANSIONS = 80

# A bound closer than this fraction of the distance from the estimate to an
# edge of the parameter's range is the edge itself.
_EDGE_RTOL = 1e-6

# Accuracy of a bound, relative to the standard error: the coverage of an
# interval moves by about 0.06 * this, far below any simulation's error.
_BOUND_RTOL = 1e-4

# A Newton step may lower the log-likelihood by this much (rounding in a
# sum of many terms) and still be taken.
_ROUNDING = 1e-9


def maximise(loglik, derivatives, inside, delta, basis=None):
    """Newton ascent of ``loglik`` from ``delta`` along the columns of ``basis``.

    Each step solves the information restricted to the basis (floored
    where it is not positive definite) and is halved until it stays in the
    parameter space and does not lower the log-likelihood, so the ascent is
    monotone.

    Parameters
    ----------
    loglik : callable
        ``delta -> float``.
    derivatives : callable
        ``delta -> (score, information)``, the gradient and minus the
        Hessian of ``loglik``.
    inside : callable
        ``delta -> bool``, whether ``delta`` lies in the parameter space.
    delta : ndarray of shape (n_free,)
        A starting point inside the parameter space.
    basis : ndarray of shape (n_free, n_directions), default=None
        Directions along which to move (all coordinates when None).

    Returns
    -------
    delta : ndarray of shape (n_free,)
        The maximiser found.
    value : float
        ``loglik(delta)``.
    information : ndarray of shape (n_free, n_free)
        The information at ``delta``.
    converged : bool
        Whether the predicted gain of a further step is below tolerance.
    """
    if basis is None:
        basis = np.eye(len(delta))
    value = loglik(delta)
    for _ in range(_MAX_NEWTON):
        score, info = derivatives(delta)
        gradient = basis.T @ score
        step = _newton_step(gradient, basis.T @ info @ basis)
        if step is None:
            return delta, value, info, False
        if gradient @ step < 2 * _GAIN_TOL:
            return delta, value, info, True
        scale = 1.0
        while scale > 1e-10:
            candidate = delta + scale * (basis @ step)
            if inside(candidate):
                new_value = loglik(candidate)
                if new_value >= value - _ROUNDING:
                    break
            scale /= 2
        else:
            return delta, value, info, False
        delta, value = candidate, new_value
    return delta, value, info, False


def _newton_step(gradient, hessian):
    """``hessian^-1 gradient``, with eigenvalues floored where not definite."""
    if not np.all(np.isfinite(hessian)) or not np.all(np.isfinite(gradient)):
        return None
    if len(gradient) == 0:
        return gradient
    eigval, eigvec = np.linalg.eigh(hessian)
    floor = 1e-8 * max(np.abs(eigval).max(), 1e-300)
    return eigvec @ ((eigvec.T @ gradient) / np.maximum(eigval, floor))


def profile_bounds(
    loglik, derivatives, inside, delta_max, direction, limits, half_width, scale
):
    """Both likelihood-ratio bounds of the linear function ``direction @ delta``.

    A bound is a ``t`` where the signed root of the profile deviance,
    ``sign(t - t_max) sqrt(2 (loglik_max - max{loglik(delta) :
    direction @ delta = t}))``, equals ``-/+ half_width``. The profile is
    followed as a path from the maximum: each new point starts from the
    nearest one already solved, moved along the path's tangent
    ``I^-1 a / (a' I^-1 a)``, and the nuisance directions (the null space of
    ``a = direction``) are maximised by Newton; a move that leaves the
    parameter space or does not converge is halved, so the path does not
    jump to another ridge of the likelihood.

    Parameters
    ----------
    loglik, derivatives, inside : callable
        As for :func:`maximise`.
    delta_max : ndarray of shape (n_free,)
        The maximiser of ``loglik``.
    direction : ndarray of shape (n_free,)
        The parameter ``t = direction @ delta``.
    limits : tuple of float
        The range of ``t`` (the parameter's range, shifted).
    half_width : float
        The normal quantile; ``half_width**2`` the chi-square(1) one.
    scale : float
        The standard error of ``t``: the first trial step and the unit of
        the bounds' accuracy.

    Returns
    -------
    bounds : ndarray of shape (2,)
        Lower and upper bound of ``t``; an edge of ``limits`` when the
        deviance stays below ``half_width**2`` up to it; NaN when the path
        could not be followed.
    """
    value_max = loglik(delta_max)
    t_max = direction @ delta_max
    nuisance = null_space(direction[None, :])
    solved = {t_max: (delta_max, derivatives(delta_max)[1], value_max)}

    roots = {}

    def signed_root(t):
        if t in roots:
            return roots[t]
        roots[t] = _signed_root(t)
        return roots[t]

    def _signed_root(t):
        value = _follow(solved, t, direction, nuisance, loglik, derivatives, inside)
        if value is None:
            return None
        deviance = max(2.0 * (value_max - value), 0.0)
        return np.sign(t - t_max) * np.sqrt(deviance)

    bounds = np.empty(2)
    for side, edge in ((-1, limits[0]), (1, limits[1])):
        bounds[(side + 1) // 2] = _solve_side(
            signed_root, t_max, side, edge, half_width, scale
        )
    return bounds


def _follow(solved, t, direction, nuisance, loglik, derivatives, inside):
    """The profile log-likelihood at ``t``, reached from the nearest solved point.

    ``solved`` maps each solved ``t`` to its maximiser, information and
    value, and gains every point of the path. Returns None when the path
    cannot be followed to ``t``.
    """
    here = min(solved, key=lambda s: abs(s - t))
    move = t - here
    for _ in range(_MAX_SUBSTEPS):
        if here == t:
            return solved[t][2]
        delta, info, _ = solved[here]
        candidate = delta + move * _tangent(info, direction)
        if inside(candidate):
            new, value, new_info, converged = maximise(
                loglik, derivatives, inside, candidate, nuisance
            )
            if converged:
                here += move
                solved[here] = (new, new_info, value)
                move = t - here
                continue
        move /= 2
    return None


def _tangent(info, direction):
    """How the profile's maximiser moves per unit of ``t``: ``I^-1 a / a' I^-1 a``.

    Falls back to ``a / a'a`` where the information is not definite.
    """
    try:
        moved = np.linalg.solve(info, direction)
    except np.linalg.LinAlgError:
        moved = direction
    curvature = direction @ moved
    if not np.isfinite(curvature) or curvature <= 0:
        moved, curvature = direction, direction @ direction
    return moved / curvature


def _solve_side(signed_root, t_max, side, edge, half_width, scale):
    """One bound: bracket the root of ``signed_root(t) = side * half_width``.

    Trial points move out by secant steps from the estimate; one that cannot
    be placed in the parameter space, or lies beyond the edge of the range,
    is pulled halfway back to the last point inside the bound.
    """
    target = side * half_width
    inner, stuck = t_max, edge
    trial = t_max + side * half_width * scale
    for _ in range(_MAX_EXPANSIONS):
        if side * (trial - stuck) >= 0:
            trial = inner + (stuck - inner) / 2
        root = signed_root(trial)
        if root is None:
            stuck = trial
            if abs(stuck - inner) <= _BOUND_RTOL * scale:
                # The path ends inside the bound: the other parameters run
                # onto the edge of their space (a weight to 0, beyond which
                # this parameter is no longer identified) with the deviance
                # still below the bound, so no value up to the edge of this
                # parameter's range is excluded.
                return edge if np.isfinite(edge) else np.nan
            continue
        if side * (root - target) >= 0:
            return brentq(
                lambda t: _placed(signed_root(t), side) - target,
                *sorted((inner, trial)),
                xtol=_BOUND_RTOL * scale,
            )
        inner = trial
        if np.isfinite(stuck) and abs(stuck - inner) <= _EDGE_RTOL * abs(stuck - t_max):
            return edge
        # A secant step from the estimate (root 0), aimed a little beyond.
        trial = t_max + (trial - t_max) * (1.2 * target / root if root else 2.0)
    return np.nan


def _placed(root, side):
    """A point that cannot be placed in the parameter space counts as beyond."""
    return side * 1e3 if root is None else root
