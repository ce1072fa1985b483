"""The EM driver: plain EM or SQUAREM over a batch of restarts, for any family."""

import threading
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import cache

import numpy as np
from threadpoolctl import ThreadpoolController

from sklearn_coinem._estep import em_step
from sklearn_coinem._families._base import take_runs, where_runs

# SQUAREM step-length bounds (Varadhan & Roland 2008, "SqS3" with step.max growth).
_STEP_GROWTH = 4.0
_MAX_BACKTRACKS = 30

# Below this many multiply-adds per product BLAS does not use threads, and
# setting the limit (about 15 microseconds with the cached controller) would
# cost more than it saves. Small tables still need it: the Newton steps'
# eigendecomposition of a 99 x 99 information (dice, K=5, 20 faces, 100 rows)
# took 48 ms on threaded LAPACK with the cores shared, 0.7 ms on one thread.
_SINGLE_THREAD_WORK = 1 << 10

# Largest estimated gain of the total objective (a log-likelihood, in nats)
# left to the maximum at which a run counts as converged. Near a maximum the
# gain left is half the squared distance to it in standard errors, so this
# puts every parameter within sqrt(2e-3) = 0.045 standard errors of the
# maximum, whatever the number of rows.
_MAX_REMAINING_GAIN = 1e-3

# Gains of the total objective per step that count as none: below the
# objective's rounding (relative), or too small to add up to
# _MAX_REMAINING_GAIN in a million steps (a drift along a ridge of nearly
# equal likelihood, driven by the prior, never shows a shrinking ratio).
_ROUNDING = 1e-14
_NEGLIGIBLE_GAIN = _MAX_REMAINING_GAIN * 1e-6

# Per-sample change of the objective below which a run whose information is
# cheap (``_newton.polish_mode`` "first") leaves EM for Newton steps, even
# before its change is below ``tol``. Newton's quadratic region is set by the
# per-sample gain left, not the total: the third derivatives of the
# log-likelihood grow with the rows like the information does, so the
# relative error of the quadratic model at a given distance in standard
# errors shrinks as the rows grow.
_POLISH_CHANGE = 1e-5

# Plain EM steps a quiet SQUAREM run takes to certify the remaining gain
# before it accelerates again with a tenfold smaller tol.
_MAX_TAIL = 5

# Observed informations a run may evaluate for Newton steps when they are
# costly (cheap ones are limited by max_iter only). From a point where EM
# has gone quiet one step usually reaches the maximum and a second
# information certifies it; flat ridges take more.
_MAX_NEWTON = 12

# The quasi-Newton certificate (``_Runs.quasi_certifies``): after a full
# Newton step of decrement at most _QUASI_MAX_DECREMENT nats, the decrement
# at the new point with the old Hessian certifies if it is at most
# _QUASI_RHO of the old one (Newton converging quadratically) and
# _QUASI_MARGIN times it is below the bound.
_QUASI_MAX_DECREMENT = 1.0
_QUASI_RHO = 1e-3
_QUASI_MARGIN = 10.0

# Halvings of a Newton step that leaves the parameter space, and tries
# (one E-step each) of a step that lowers the objective.
_MAX_HALVINGS = 20
_MAX_LINE_SEARCH = 4

# The stopping rule; "change" is the rule before the remaining-gain
# certificate (a quiet run has converged), kept to time the two in one run.
_STOPPING_RULE = "gain"


@contextmanager
def stopping_rule(rule):
    """Run the fits inside with ``rule``: ``"gain"`` (default) or ``"change"``.

    Private: the benchmarks time the old rule (``"change"``, the per-sample
    change below ``tol`` alone) against the default in the same process.
    """
    global _STOPPING_RULE
    previous, _STOPPING_RULE = _STOPPING_RULE, rule
    try:
        yield
    finally:
        _STOPPING_RULE = previous


@dataclass
class EMResult:
    """Final state of every run of a batch.

    ``params`` holds the family's parameters with a leading run axis.
    """

    weights: np.ndarray
    params: dict
    lower_bound: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    lower_bounds: list = field(default_factory=list)

    @classmethod
    def concatenate(cls, results):
        """Join the results of several sequential batches into one."""
        if len(results) == 1:
            return results[0]
        names = results[0].params
        return cls(
            np.concatenate([r.weights for r in results]),
            {n: np.concatenate([r.params[n] for r in results]) for n in names},
            *(
                np.concatenate([getattr(r, name) for r in results])
                for name in ("lower_bound", "n_iter", "converged")
            ),
            [h for r in results for h in r.lower_bounds],
        )


def _nonnegative(theta):
    """Feasibility of the simplex coordinates: every entry non-negative."""
    return ~(theta < 0).any(axis=1)


class _Coordinates:
    """The flat SQUAREM coordinates of (weights, params) for one family."""

    def __init__(self, family, update_weights):
        self.family = family
        self.update_weights = update_weights

    def flatten(self, weights, params):
        flat = self.family.flatten(params)
        return np.hstack([weights, flat]) if self.update_weights else flat

    def unflatten(self, theta, weights, params):
        """Inverse of ``flatten``; fixed weights are taken from ``weights``."""
        if self.update_weights:
            n_components = weights.shape[1]
            weights, theta = theta[:, :n_components], theta[:, n_components:]
            weights = weights / weights.sum(axis=-1, keepdims=True)
        return weights, self.family.unflatten(theta, params)

    def feasible(self, theta, n_components):
        if not self.update_weights:
            return self.family.feasible(theta)
        return _nonnegative(theta[:, :n_components]) & self.family.feasible(
            theta[:, n_components:]
        )


def _squarem_extrapolate(theta0, theta1, theta2, step_max, feasible=_nonnegative):
    """Return the SqS3 extrapolation and its step length, kept feasible.

    The step ``alpha <= -1`` is halved towards -1 (where the extrapolation is
    ``theta2``, a plain EM iterate) until ``feasible`` holds for every run.
    """
    r = theta1 - theta0
    v = theta2 - 2 * theta1 + theta0
    r_norm = np.sqrt(np.einsum("ij,ij->i", r, r))
    v_norm = np.sqrt(np.einsum("ij,ij->i", v, v))
    ratio = np.divide(r_norm, v_norm, out=np.ones_like(r_norm), where=v_norm > 0)
    alpha = -np.clip(ratio, 1.0, step_max)
    for _ in range(_MAX_BACKTRACKS):
        theta = theta0 - 2 * alpha[:, None] * r + alpha[:, None] ** 2 * v
        bad = ~feasible(theta)
        if not bad.any():
            return theta, alpha
        alpha = np.where(bad, (alpha - 1) / 2, alpha)
    # At alpha = -1 the extrapolation is theta2 itself; take it exactly, since
    # the formula can round an exact zero of theta2 to a tiny negative number.
    alpha = np.where(bad, -1.0, alpha)
    return np.where(bad[:, None], theta2, theta), alpha


def single_blas_thread(work):
    """Context that runs BLAS on one thread for products of ``work`` size.

    ``work`` is rows x columns x components of the products. The products of
    EM and of its initialisation are tall and skinny: one BLAS thread is as
    fast, and threaded BLAS collapses (several times slower, up to 40x on
    30 x 64 by 64 x 1257 products) when the cores are shared. The limit is
    process wide, so only the main thread sets it: runs in concurrent
    threads could otherwise restore each other's limits in the wrong order.
    Tiny products skip it (``_SINGLE_THREAD_WORK``).
    """
    if work >= _SINGLE_THREAD_WORK and (
        threading.current_thread() is threading.main_thread()
    ):
        return _blas_controller().limit(limits=1, user_api="blas")
    return nullcontext()


@cache
def _blas_controller():
    """The process's thread pools, inspected once.

    ``threadpool_limits`` inspects every loaded library at each call (about
    1.5 ms, several per fit); a controller's ``limit`` reuses one inspection.
    """
    return ThreadpoolController()


def newton_gain_left(decrement, previous, gained):
    """Estimated gain left to the maximum at a point of Newton ``decrement``.

    ``previous`` is the decrement of the Newton stage's point before (inf
    if none) and ``gained`` the objective gained from there. Where the
    quadratic model holds the gain left is the decrement; where Newton
    converges linearly each decrement is a fraction ``rho = decrement /
    previous`` of the one before and each cycle gains ``kappa = gained /
    previous`` times what the decrement before promised, so the gain left is
    about ``kappa * decrement / (1 - rho)``, a geometric series. ``kappa`` is
    capped at 4 and ``rho`` at 0.75, a margin of at most 16, so that
    decrements in rounding noise still certify.
    """
    rho, kappa = 0.0, 1.0
    if 0 < previous < np.inf:
        rho, kappa = decrement / previous, gained / previous
    return decrement * min(max(kappa, 1.0), 4.0) / (1 - min(rho, 0.75))


def quasi_certifies(decrement, previous, limit):
    """Whether a quasi-Newton ``decrement`` certifies a point (see
    ``_Runs.quasi_certifies``).

    ``decrement`` is taken with the Hessian of the point before, whose
    Newton decrement ``previous`` a whole Newton step gained; ``limit`` is
    :func:`decrement_limit`'s. True only if ``previous`` was at most
    ``_QUASI_MAX_DECREMENT``, the new decrement is at most ``_QUASI_RHO``
    times it (Newton converging quadratically) and ``_QUASI_MARGIN`` times
    it is below ``limit``.
    """
    return bool(
        0 < previous <= _QUASI_MAX_DECREMENT
        and decrement <= _QUASI_RHO * previous
        and decrement * _QUASI_MARGIN < limit
    )


def decrement_limit(total_objective, tol, total_weight):
    """Largest Newton gain left that certifies a run.

    ``_MAX_REMAINING_GAIN`` nats, and at most ``tol`` per sample (a run may
    polish before it is quiet), but never below the total objective's
    rounding (huge sample weights).
    """
    rounding = _ROUNDING * abs(total_objective) if np.isfinite(total_objective) else 0.0
    return max(min(_MAX_REMAINING_GAIN, tol * total_weight), rounding)


def remaining_gain(objectives, total_weight):
    """Aitken estimate of the gain of the total objective left to the maximum.

    ``objectives`` are the per-sample objectives of consecutive plain EM
    steps. Near a maximum their gains shrink geometrically, by the ratio
    ``r`` set by the fraction of missing information (Dempster, Laird &
    Rubin 1977), so after a gain ``d`` the gain left is ``d r / (1 - r)``.
    The larger of the last two ratios is used: a fast direction dies out
    within a few steps and would otherwise hide the slow one. While the
    ratios still rise by more than a tenth of ``1 - r`` (the slow direction
    is not yet alone, and ``1 / (1 - r)`` not yet known to 10%) there is no
    estimate: ratios 0.17, 0.63, 0.70, seen after a failed Newton step on a
    flat ridge where EM's ratio tends to 0.999, would otherwise certify a
    point 1.3 nats below the maximum. Infinite while the gains do not
    shrink or their ratios still rise; zero once the gains are negligible.
    """
    if len(objectives) < 2:
        return np.inf
    totals = np.asarray(objectives[-4:]) * total_weight
    if not np.all(np.isfinite(totals)):
        return np.inf
    gains = np.diff(totals)
    if gains[-1] <= max(_NEGLIGIBLE_GAIN, _ROUNDING * abs(totals[-1])):
        return 0.0
    if len(gains) < 3:
        return np.inf
    ratio = _shrink_ratio(gains)
    if ratio >= 1:
        return np.inf
    rise = gains[-1] / gains[-2] - gains[-2] / gains[-3]
    if rise > 0.1 * (1 - ratio):
        return np.inf
    return gains[-1] * ratio / (1 - ratio)


def _shrink_ratio(gains):
    """The larger of the last two ratios of successive gains; inf if any gain
    before the last is not positive (the gains are not shrinking)."""
    if np.any(gains[:-1] <= 0):
        return np.inf
    return np.max(gains[1:] / gains[:-1])


class _Runs:
    """Mutable per-run state of a batch of EM runs (used only by ``run_em``).

    ``tol`` is each run's threshold on the per-sample change; ``tail_start``
    is where, in its history, the plain EM steps that certify a quiet
    SQUAREM run began (-1 while it accelerates); ``newton`` marks the runs
    that polish with Newton steps, ``newton_left`` how many observed
    informations each may still evaluate (0 where Newton is unavailable).
    """

    def __init__(
        self,
        weights,
        params,
        lower_bound,
        tol,
        total_weight,
        n_newton,
        n_iter=None,
        converged=None,
    ):
        n_runs = len(weights)
        self.weights = np.array(weights, dtype=float)
        self.params = {name: np.array(v, dtype=float) for name, v in params.items()}
        self.lower_bound = np.array(lower_bound, dtype=float)
        self.n_iter = np.zeros(n_runs, dtype=int)
        self.converged = np.zeros(n_runs, dtype=bool)
        if n_iter is not None:
            self.n_iter[:] = n_iter
        if converged is not None:
            self.converged[:] = converged
        self.step_max = np.ones(n_runs)
        # A run that arrives certified has its objective as its history.
        self.history = [
            [bound] if done else []
            for bound, done in zip(self.lower_bound, self.converged)
        ]
        self.tol = np.full(n_runs, float(tol))
        self.first_tol = float(tol)
        self.change = np.full(n_runs, np.inf)
        # tol=0 runs max_iter iterations: no early Newton steps either.
        gate = max(float(tol), _POLISH_CHANGE) if tol > 0 else 0.0
        self.polish_gate = np.full(n_runs, gate)
        self.tail_start = np.full(n_runs, -1)
        self.total_weight = total_weight
        self.newton = np.zeros(n_runs, dtype=bool)
        self.newton_left = np.full(n_runs, n_newton)
        # The previous Newton decrement of each run in its current Newton
        # stage, and the objective recorded when it was evaluated.
        self.last_decrement = np.full(n_runs, np.inf)
        self.last_newton_bound = np.full(n_runs, -np.inf)
        # The quadratic model of each run's last full Newton step, kept for
        # one quasi-Newton certificate at the point it led to (or None).
        self.models = [None] * n_runs

    def get(self, idx):
        return self.weights[idx], take_runs(self.params, idx)

    def set(self, idx, weights, params):
        self.weights[idx] = weights
        for name, value in params.items():
            self.params[name][idx] = value

    def record(self, idx, objective, callback):
        """Store the objective of runs ``idx``; return which changed below tol."""
        # A start with an exact zero (weights_init=[1, 0]) has objective
        # -inf under the prior; -inf - -inf is NaN, which correctly does not
        # count as quiet, so numpy's warning about it is noise.
        with np.errstate(invalid="ignore"):
            change = objective - self.lower_bound[idx]
        self.lower_bound[idx] = objective
        self.change[idx] = change
        for run, value, delta in zip(idx, objective, change):
            self.history[run].append(value)
            if callback is not None:
                callback(run, self.n_iter[run], value, delta)
        return np.abs(change) < self.tol[idx]

    def polish(self, idx):
        """Send the runs ``idx`` that may still take Newton steps to polishing.

        Returns which of ``idx`` went.
        """
        going = self.newton_left[idx] > 0
        self.newton[idx[going]] = True
        return going

    def near_maximum(self, idx):
        """Which runs ``idx`` changed by less than their gate to Newton steps.

        The gate is ``max(tol, _POLISH_CHANGE)`` until a run's Newton steps
        fail, then its tol (the quiet test).
        """
        with np.errstate(invalid="ignore"):
            return np.abs(self.change[idx]) < np.maximum(
                self.tol[idx], self.polish_gate[idx]
            )

    def slow(self, idx):
        """Which runs ``idx`` EM would take longer to certify than Newton.

        EM's work left is predicted from the ratio ``r`` of its last gains
        (the larger of the last two): the iterations for the change to fall
        below tol, plus the ``_MAX_TAIL`` steps of its certificate. Newton's
        is two observed informations of ``information_cost`` iterations each
        (one step, one certificate). Gains that do not shrink are slow.
        """
        slow = np.zeros(len(idx), dtype=bool)
        for i, run in enumerate(idx):
            gains = np.diff(self.history[run][-4:])
            if len(gains) < 2 or gains[-1] <= 0:
                continue
            ratio = _shrink_ratio(gains)
            if ratio >= 1:
                slow[i] = True
                continue
            steps = np.log(self.tol[run] / gains[-1]) / np.log(ratio)
            work = self.steps_per_record * max(steps, 0.0) + _MAX_TAIL
            slow[i] = work > 2 * self.information_cost
        return slow

    def polish_early(self, idx, eligible):
        """Send the ``eligible`` runs of ``idx`` near a maximum to Newton steps.

        Near: :meth:`near_maximum`; where the information is costly, also
        :meth:`slow`. Returns which of ``idx`` went.
        """
        near = np.flatnonzero(eligible & self.near_maximum(idx))
        if not self.newton_first:
            near = near[self.slow(idx[near])]
        went = np.zeros(len(idx), dtype=bool)
        went[near] = self.polish(idx[near])
        return went

    def decrement_bound(self, run):
        """Newton decrement that certifies ``run``: ``_MAX_REMAINING_GAIN`` nats,
        and at most ``tol`` per sample (a run may polish before it is quiet),
        but never below the total objective's rounding (huge sample weights).
        """
        return decrement_limit(
            self.lower_bound[run] * self.total_weight, self.first_tol, self.total_weight
        )

    def newton_certifies(self, run, decrement):
        """Whether ``run``'s Newton decrement certifies it (and remember it).

        The decrement is the gain left if the quadratic model holds; then a
        Newton step gains it and the next decrement is tiny. Where the model
        is poor (a curved ridge, a precision far from quadratic), Newton
        converges linearly, and :func:`newton_gain_left` adds the geometric
        series of the cycles to come; seen on two overlapping beta-binomial
        clusters, ``rho`` 0.34-0.45 and ``kappa`` about 3, where the bare
        decrement (8e-4) certified a fit 2.4e-3 nats from the maximum.
        """
        previous = self.last_decrement[run]
        bound = self.lower_bound[run]
        gained = (bound - self.last_newton_bound[run]) * self.total_weight
        self.last_decrement[run], self.last_newton_bound[run] = decrement, bound
        gain_left = newton_gain_left(decrement, previous, gained)
        return gain_left < self.decrement_bound(run)

    def quasi_certifies(self, run, decrement):
        """Whether a quasi-Newton ``decrement`` certifies ``run``.

        ``decrement`` is the gain left at the run's point predicted with the
        Hessian of the point of its last Newton decrement ``d``, from which
        a whole Newton step led here. The Hessians differ by the third
        derivatives along the step ``s``, and so does the score here from
        the model's zero: in units of the old Hessian, a relative change
        ``eps`` of the Hessian leaves a decrement of about ``eps**2 d / 4``.
        A new decrement of at most ``_QUASI_RHO`` times ``d`` is thus the
        evidence that the Hessian changed by a few percent (along ``s``;
        the step is short, ``d`` at most ``_QUASI_MAX_DECREMENT``, so that
        the third derivatives have little room), and ``_QUASI_MARGIN``
        times the decrement must be below :meth:`decrement_bound`, which
        allows the Hessian here to be ten times flatter than the old one
        along the score. Where the quadratic model was poor (Newton
        converging linearly) the ratio is large, and the run evaluates the
        information instead.
        """
        return quasi_certifies(
            decrement, self.last_decrement[run], self.decrement_bound(run)
        )

    def forget_newton(self, idx):
        """Start the next Newton stage of runs ``idx`` without history."""
        self.last_decrement[idx] = np.inf
        self.last_newton_bound[idx] = -np.inf
        for run in np.atleast_1d(idx):
            self.models[run] = None

    def certify(self, idx, quiet, start):
        """Mark converged the quiet runs whose remaining gain is small enough.

        ``start`` is where each run's plain EM steps began in its history.
        Under the old rule (``stopping_rule("change")``) quiet is enough.
        """
        if _STOPPING_RULE == "change":
            self.converged[idx] = quiet
            return
        for run, is_quiet, first in zip(idx, quiet, start):
            gain = remaining_gain(self.history[run][first:], self.total_weight)
            self.converged[run] = is_quiet and gain < _MAX_REMAINING_GAIN


def run_em(
    table,
    family,
    weights,
    params,
    *,
    pseudo_count,
    update_weights,
    tol,
    max_iter,
    algorithm="squarem",
    lower_bound=None,
    n_iter=None,
    converged=None,
    callback=None,
    component_labels=None,
):
    """Run EM from a batch of starting points until each run converges.

    Parameters
    ----------
    table : RowTable or DaskRowTable
        The weighted distinct rows.
    family : ComponentFamily
        The component densities.
    weights : ndarray of shape (R, K)
        Starting mixing weights of the R runs.
    params : dict
        Starting component parameters, each array with leading axes (R, K).
    pseudo_count : float
        Dirichlet pseudo-count of the mixing weights' MAP update.
    update_weights : bool
        If False every run keeps its starting mixing weights.
    tol : float
        Threshold on the change of the per-sample objective between
        iterations (between SQUAREM cycles for ``"squarem"``). A run whose
        change is below it converges once the estimated gain of the total
        objective left to the maximum (:func:`remaining_gain`) is below
        ``_MAX_REMAINING_GAIN``; a quiet SQUAREM run takes plain EM steps to
        estimate it, and accelerates again with a tenfold smaller tol when
        they do not certify it.
    max_iter : int
        Maximum number of EM map evaluations (one E-step plus one M-step each).
    algorithm : {"em", "squarem"}
        Plain EM, or SQUAREM with its monotonicity safeguard.
    lower_bound : ndarray of shape (R,), default=None
        Objective of the starting point, if known (warm start).
    n_iter : ndarray of shape (R,) of int, default=None
        Iterations each run has already spent (counted in the result's).
    converged : ndarray of shape (R,) of bool, default=None
        Runs that arrive certified at their start (a caller's Newton steps
        whose decrement passed :func:`decrement_limit`), with their
        objective in ``lower_bound``: they are returned as they are.
    callback : callable, default=None
        ``callback(run, n_iter, objective, change)`` after each recorded step.
    component_labels : ndarray of shape (K,), default=None
        Class of each component, for tables with labelled rows.

    Returns
    -------
    EMResult
    """
    # Imported here: _newton needs _inference, which imports this module.
    from sklearn_coinem._newton import information_cost

    n_runs = len(weights)
    if lower_bound is None:
        lower_bound = np.full(n_runs, -np.inf)
    newton, mode = _newton_map(table, family, params, pseudo_count, update_weights)
    if component_labels is not None or _STOPPING_RULE == "change":
        newton = None
    runs = _Runs(
        weights,
        params,
        lower_bound,
        tol,
        table.total_weight,
        0 if newton is None else (max_iter if mode == "first" else _MAX_NEWTON),
        n_iter,
        converged,
    )
    runs.newton_first = mode == "first"
    runs.information_cost = (
        np.inf
        if newton is None
        else information_cost(family, params, table.X.shape[1], update_weights)
    )
    runs.steps_per_record = 3 if algorithm == "squarem" else 1
    coords = _Coordinates(family, update_weights)

    def em_map(idx, w, p):
        new_w, new_p, objective = em_step(
            table,
            family,
            w,
            p,
            pseudo_count=pseudo_count,
            update_weights=update_weights,
            component_labels=component_labels,
        )
        runs.n_iter[idx] += 1
        return new_w, new_p, objective

    with single_blas_thread(table.n_distinct * table.X.shape[1] * weights.size):
        while True:
            active = np.flatnonzero(~runs.converged & (runs.n_iter < max_iter))
            if active.size == 0:
                break
            polish = runs.newton[active] & (max_iter - runs.n_iter[active] >= 2)
            if active[polish].size:
                _newton_cycle(runs, active[polish], em_map, newton, coords, callback)
            active = active[~polish]
            accelerate = (
                (max_iter - runs.n_iter[active] >= 3)
                & (algorithm == "squarem")
                & (runs.tail_start[active] < 0)
            )
            if active[~accelerate].size:
                _plain_step(runs, active[~accelerate], em_map, algorithm, callback)
            if active[accelerate].size:
                _squarem_cycle(runs, active[accelerate], em_map, coords, callback)
    return EMResult(
        runs.weights,
        runs.params,
        runs.lower_bound,
        runs.n_iter,
        runs.converged,
        [np.asarray(h) for h in runs.history],
    )


def _plain_step(runs, idx, em_map, algorithm, callback):
    """Advance runs ``idx`` by one EM iteration and certify the quiet ones.

    Plain EM runs certify on their whole history; SQUAREM runs on their
    tail of plain EM steps. Where Newton steps are available a quiet run
    that is not certified polishes: at once if the information is cheap
    (``runs.newton_first``), else after ``_MAX_TAIL`` quiet steps. A
    SQUAREM run that does not polish leaves its tail after ``_MAX_TAIL``
    steps and accelerates again with a tenfold smaller tol.
    """
    w, p, objective = em_map(idx, *runs.get(idx))
    quiet = runs.record(idx, objective, callback)
    runs.set(idx, w, p)
    start = runs.tail_start[idx]
    tail = start >= 0
    if algorithm == "em":
        runs.certify(idx, quiet, np.zeros_like(start))
        waiting = quiet & ~runs.converged[idx]
        if runs.newton_first:
            runs.polish_early(idx, ~runs.converged[idx])
            return
        waiting &= ~runs.polish_early(idx, ~runs.converged[idx] & ~tail)
        # The quiet steps count as the tail of a plain EM run.
        _start_tail(runs, idx[waiting & ~tail])
        runs.tail_start[idx[~waiting]] = -1
        tail &= waiting
    else:
        runs.certify(idx[tail], quiet[tail], start[tail])
    tail_length = np.array([len(runs.history[run]) for run in idx]) - start
    give_up = idx[tail & ~runs.converged[idx] & (tail_length > _MAX_TAIL)]
    runs.tail_start[give_up] = -1
    if not runs.newton_first:
        give_up = give_up[~runs.polish(give_up)]
    if algorithm != "em":
        runs.tol[give_up] /= 10


def _squarem_cycle(runs, idx, em_map, coords, callback):
    """Advance runs ``idx`` by one SQUAREM cycle (three EM map evaluations).

    The cycle keeps the extrapolated point only if its objective is at least
    that of the first EM iterate; otherwise it falls back to two plain EM
    steps. Objectives at cycle starts therefore never decrease. A run whose
    change falls below its tol leaves the cycle for a tail of plain EM steps
    that certifies its remaining gain (``_plain_step``).
    """
    w0, p0 = runs.get(idx)
    w1, p1, objective0 = em_map(idx, w0, p0)
    done = runs.record(idx, objective0, callback)
    runs.set(idx, w1, p1)
    if _STOPPING_RULE == "change":
        runs.converged[idx[done]] = True
    else:
        # Quiet runs polish at once where the information is cheap, else
        # they certify by a tail first; runs near a maximum may polish early.
        eligible = np.ones_like(done) if runs.newton_first else ~done
        going = runs.polish_early(idx, eligible)
        _start_tail(runs, idx[done & ~going])
        done |= going
    keep = ~done
    idx = idx[keep]
    if idx.size == 0:
        return
    w0, p0, w1, p1 = w0[keep], take_runs(p0, keep), w1[keep], take_runs(p1, keep)
    w2, p2, objective1 = em_map(idx, w1, p1)
    n_components = w0.shape[1]
    theta, alpha = _squarem_extrapolate(
        coords.flatten(w0, p0),
        coords.flatten(w1, p1),
        coords.flatten(w2, p2),
        runs.step_max[idx],
        lambda theta: coords.feasible(theta, n_components),
    )
    w_ext, p_ext = coords.unflatten(theta, w2, p2)
    w3, p3, objective_ext = em_map(idx, w_ext, p_ext)
    accept = objective_ext >= objective1
    runs.set(idx, np.where(accept[:, None], w3, w2), where_runs(accept, p3, p2))
    at_max = accept & (-alpha >= runs.step_max[idx])
    runs.step_max[idx] = np.where(
        accept,
        np.where(at_max, runs.step_max[idx] * _STEP_GROWTH, runs.step_max[idx]),
        np.maximum(1.0, runs.step_max[idx] / _STEP_GROWTH),
    )


def _start_tail(runs, idx):
    """Certify runs ``idx`` by plain EM steps from their last recorded point."""
    runs.tail_start[idx] = [len(runs.history[run]) - 1 for run in idx]


def _newton_map(table, family, params, pseudo_count, update_weights):
    """The Newton steps and certificates of one run (:class:`_Newton`), and when.

    The second value is :func:`_newton.polish_mode`; the first is None where
    that is None (the family lacks the hooks or its information costs more
    than the EM iterations it would save).
    """
    # Imported here: _newton needs _inference, which imports this module.
    from sklearn_coinem import _newton

    mode = _newton.polish_mode(family, params, table.X.shape[1], update_weights)
    if mode is None:
        return None, None
    return _Newton(table, family, pseudo_count, update_weights), mode


class _Newton:
    """Newton steps and quasi-Newton decrements of one run at a time."""

    def __init__(self, table, family, pseudo_count, update_weights):
        from sklearn_coinem import _newton

        self.table, self.family = table, family
        self.options = {"pseudo_count": pseudo_count, "update_weights": update_weights}
        self.has_quasi = _newton.has_quasi_decrement(family)

    def step(self, weights, params):
        """``(step, model)`` of :func:`_newton.newton_step`."""
        from sklearn_coinem import _newton

        try:
            return _newton.newton_step(
                self.table, self.family, weights, params, **self.options
            )
        except NotImplementedError:
            # No information for these rows (the Dirichlet-multinomial's
            # beyond its tail histograms): the run takes the Aitken tail.
            return None, None

    def quasi_decrement(self, weights, params, model):
        """:func:`_newton.quasi_decrement` at ``(weights, params)``."""
        from sklearn_coinem import _newton

        return _newton.quasi_decrement(
            self.table, self.family, weights, params, model, **self.options
        )


def _newton_cycle(runs, idx, em_map, newton, coords, callback):
    """Certify runs ``idx`` by the Newton decrement, or move them by a Newton step.

    A run that arrives by a full Newton step first tries the quasi-Newton
    certificate (one E-step, counted as an iteration): the decrement with
    the Hessian of the step's start (:meth:`_Runs.quasi_certifies`). The
    others, and those it does not certify, evaluate their observed
    information (counted as one iteration): a decrement below
    ``_MAX_REMAINING_GAIN`` certifies, with a margin where Newton converges
    only linearly (:meth:`_Runs.newton_certifies`). Otherwise the Newton
    step, halved until it stays in the parameter space, is taken if its
    objective is at least the last recorded one, followed by one EM step
    (so the recorded objectives never decrease); the run then polishes
    again. Where the Hessian is not negative definite the step is a
    modified Newton step (``_newton._solve_definite``) and certifies
    nothing. A run whose step fails, or that has spent its ``_MAX_NEWTON``
    informations, falls back to the plain EM tail.
    """
    moving, steps, models = [], [], []
    for run in idx:
        if _quasi_certified(runs, run, newton):
            continue
        step, model = newton.step(*runs.get(run))
        runs.n_iter[run] += 1
        runs.newton_left[run] -= 1
        decrement = np.inf if model is None else model.decrement
        if runs.newton_certifies(run, decrement):
            runs.converged[run] = True
        elif step is not None:
            moving.append(run)
            steps.append(step)
            models.append(model)
    moving = np.array(moving, dtype=int)
    failed = idx[~runs.converged[idx] & ~np.isin(idx, moving)]
    if moving.size:
        step_w = np.stack([step.pop("weights") for step in steps])
        step_p = {name: np.stack([step[name] for step in steps]) for name in steps[0]}
        lost, full = _line_search(
            runs, moving, em_map, coords, step_w, step_p, callback
        )
        failed = np.concatenate([failed, lost])
        for run, model, whole in zip(moving, models, full):
            runs.models[run] = model if whole else None
    # A run out of informations certifies, if it can, by the Aitken rule.
    spent = idx[~runs.converged[idx] & (runs.newton_left[idx] <= 0)]
    failed = np.union1d(failed, spent)
    runs.newton[failed] = False
    runs.polish_gate[failed] = 0.0
    runs.forget_newton(failed)
    _start_tail(runs, failed)


def _quasi_certified(runs, run, newton):
    """Try the quasi-Newton certificate of ``run``; whether it converged.

    Each kept model serves once; the try costs one E-step.
    """
    model, runs.models[run] = runs.models[run], None
    if model is None or not newton.has_quasi or not np.isfinite(model.decrement):
        return False
    decrement = newton.quasi_decrement(*runs.get(run), model)
    runs.n_iter[run] += 1
    runs.converged[run] = runs.quasi_certifies(run, decrement)
    return runs.converged[run]


def _line_search(runs, idx, em_map, coords, step_w, step_p, callback):
    """Move runs ``idx`` by ``t`` times their step, the first ``t`` that works.

    ``t`` starts at 1 and is halved until the point lies in the parameter
    space and then, one batched E-step per try, until its objective is at
    least the run's last recorded one (at most ``_MAX_LINE_SEARCH`` tries).
    A run that finds such a point records it and takes the EM step from
    it. Returns the runs that found none, or whose gain was negligible (a
    flat ridge, as in a model the data cannot identify: the Aitken rule
    certifies those), and which of ``idx`` took the whole step (``t = 1``).
    """
    t = np.ones(len(idx))
    pending = np.ones(len(idx), dtype=bool)
    outside = np.zeros(len(idx), dtype=bool)
    stalled = np.zeros(len(idx), dtype=bool)
    for _ in range(_MAX_LINE_SEARCH):
        rows = np.flatnonzero(pending)
        w, p = runs.get(idx[rows])
        w, p, inside, t[rows] = _halve_into(
            coords, w, p, step_w[rows], take_runs(step_p, rows), t[rows]
        )
        pending[rows[~inside]] = False
        outside[rows[~inside]] = True
        rows, w, p = rows[inside], w[inside], take_runs(p, inside)
        if rows.size == 0:
            break
        new_w, new_p, objective = em_map(idx[rows], w, p)
        previous = runs.lower_bound[idx[rows]]
        better = np.isfinite(objective) & (objective >= previous)
        # Gains of the total objective below these count as none.
        total = objective * runs.total_weight
        floor = np.maximum(_NEGLIGIBLE_GAIN, _ROUNDING * np.abs(total))
        gain = total - previous * runs.total_weight
        stalled[rows[better & ~(gain > floor)]] = True
        runs.record(idx[rows[better]], objective[better], callback)
        runs.set(idx[rows[better]], new_w[better], take_runs(new_p, better))
        pending[rows[better]] = False
        t[rows[~better]] /= 2
        if not pending.any():
            break
    lost = pending | outside | stalled
    return idx[lost], ~lost & (t == 1)


def _halve_into(coords, weights, params, step_w, step_p, t):
    """``(weights, params) + t * step`` with ``t`` halved until feasible.

    Returns the (renormalised) points, which runs found a feasible one, and
    the ``t`` of each (so that a line search halves on from there).
    """
    n_components = weights.shape[1]
    t = np.array(t, dtype=float)
    for _ in range(_MAX_HALVINGS):
        new_w = weights + t[:, None] * step_w
        new_p = {
            name: value + t.reshape((-1,) + (1,) * (value.ndim - 1)) * step_p[name]
            for name, value in params.items()
        }
        theta = coords.flatten(new_w, new_p)
        inside = coords.feasible(theta, n_components)
        if inside.all():
            break
        t = np.where(inside, t, t / 2)
    new_w, new_p = coords.unflatten(theta, new_w, new_p)
    return new_w, new_p, inside, t
