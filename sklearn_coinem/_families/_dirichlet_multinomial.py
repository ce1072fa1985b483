"""The Dirichlet-multinomial family: beta-binomial (C = 2) and DM components."""

from math import comb

import numpy as np
from scipy import sparse
from scipy.special import digamma, gammaln
from sklearn.utils import Bunch

from sklearn_coinem._families._base import ComponentFamily, dense_scores
from sklearn_coinem._families._multinomial import (
    INIT_SMOOTHING,
    row_proportions,
    sample_multinomial,
)
from sklearn_coinem._numerics import log_coefficients, safe_log

# The binomial limit (no overdispersion) is precision -> infinity; the family
# caps the precision here. At the cap the log-pmf of a row with n trials is
# the multinomial one to within about n / MAX_PRECISION (measured: see the
# tests), and the rising factorials stay exact in float64.
MAX_PRECISION = 1e12

# Lower end of the precision (all-or-nothing rows drive it to 0): keeps every
# alpha positive where the probability is, and log(alpha) finite.
MIN_PRECISION = 1e-8

_LOG_RANGE = np.log(MAX_PRECISION / MIN_PRECISION)

# Range of the precisions of the data-driven and random starts: inside it
# the MM steps move the precision quickly in either direction.
INIT_PRECISION_RANGE = (1.0, 1e4)

# Precision of a start whose rows cannot show overdispersion (all n <= 1).
DEFAULT_INIT_PRECISION = 100.0

# Common precisions a start also tries (a factor 2 apart across the init
# range): the moment estimates of hard k-means clusters are biased upwards,
# since the clusters cut the tails of overlapping components.
_PROFILE_GRID = np.geomspace(*INIT_PRECISION_RANGE, 14)

# Below this argument lgamma and digamma differences lose digits to
# cancellation no more than their Stirling forms do; above it the Stirling
# series (truncation error below 1e-13) replaces the direct difference.
_ASYMPTOTIC_FROM = 10.0

# Rising-factorial tables are used while the largest count is at most this
# many times the number of rows (or below _MAX_TABLE_FLOOR): the tables then
# cost less than one special function per entry.
_TABLE_ROWS_FACTOR = 4
_MAX_TABLE_FLOOR = 4096

# Longest tail histograms of the M-step statistics: outcomes j below it
# enter the M-step exactly, those beyond through one MM minorisation (Zhou
# & Lange 2010). Its cost grows with R K C times this length.
MAX_TAIL_LENGTH = 4096

# Iterations of the M-step, and the relative change of alpha at which a
# component stops.
_INNER_MAX_ITER = 50
_INNER_TOL = 1e-12

# Relative size of a Newton step that counts as converged (its objective
# change is then below rounding and may come out negative).
_SETTLED = 1e-9

# Candidates of each iteration of the M-step: fractions of the Newton step
# (the objective is not concave, and full steps overshoot), and rescalings
# of alpha.
_NEWTON_DAMPING = (0.5, 0.25)
_PRECISION_FACTORS = (0.1, 0.5, 2.0, 10.0)

# Expected count (outcomes of a component) below which a probability is a
# boundary value in the observed information (as the multinomial family).
BOUNDARY_COUNT = 1e-3

# Coefficients of the Stirling series of lgamma(z) - (z - 1/2) log z + z
# - log(2 pi) / 2, in powers 1/z, 1/z**3, ...
_LGAMMA_SERIES = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188)

# Coefficients of the series of digamma(z) - log z + 1 / (2 z) in 1/z**2, ...
_DIGAMMA_SERIES = (-1 / 12, 1 / 120, -1 / 252, 1 / 240, -1 / 132)


def _series(z, coefficients, power):
    """``sum_i coefficients[i] / z**(power * i + power - 1)`` by Horner."""
    inv = 1.0 / z
    inv_sq = inv * inv
    total = np.zeros_like(inv)
    for coefficient in coefficients[::-1]:
        total = total * inv_sq + coefficient
    return total * inv if power == 1 else total * inv_sq


def log_rising(a, x):
    """``lgamma(a + x) - lgamma(a)`` (log rising factorial), without cancellation.

    The direct difference loses ``eps * a * log(a)`` to rounding, which
    swamps the result ``~ x log(a)`` for large ``a`` (the binomial limit);
    there the Stirling form ``(a - 1/2) log1p(x / a) + x log(a + x) - x``
    plus the difference of the series is used instead. ``a = 0`` gives 0 for
    ``x = 0`` and ``-inf`` otherwise.
    """
    a, x = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(x, dtype=float))
    out = np.empty(a.shape)
    large = a >= _ASYMPTOTIC_FROM
    al, xl = a[large], x[large]
    out[large] = (
        (al - 0.5) * np.log1p(xl / al)
        + xl * np.log(al + xl)
        - xl
        + _series(al + xl, _LGAMMA_SERIES, 1)
        - _series(al, _LGAMMA_SERIES, 1)
    )
    small = ~large
    a_s, x_s = a[small], x[small]
    with np.errstate(invalid="ignore", divide="ignore"):
        direct = gammaln(a_s + x_s) - gammaln(a_s)
    out[small] = np.where(x_s == 0, 0.0, np.where(a_s == 0, -np.inf, direct))
    return out


def digamma_diff(a, x):
    """``digamma(a + x) - digamma(a)`` for ``a > 0``, without cancellation."""
    a, x = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(x, dtype=float))
    out = np.empty(a.shape)
    large = a >= _ASYMPTOTIC_FROM
    al, xl = a[large], x[large]
    out[large] = (
        np.log1p(xl / al)
        - 0.5 / (al + xl)
        + 0.5 / al
        + _series(al + xl, _DIGAMMA_SERIES, 2)
        - _series(al, _DIGAMMA_SERIES, 2)
    )
    small = ~large
    out[small] = digamma(a[small] + x[small]) - digamma(a[small])
    return out


def alpha_digamma_diff(alpha, x):
    """``alpha * (digamma(alpha + x) - digamma(alpha))``, finite at ``alpha = 0``.

    Equal to ``sum_{j < x} alpha / (alpha + j)`` for whole ``x``: 0 for
    ``x = 0``, and ``1 + alpha * (digamma(alpha + x) - digamma(alpha + 1))``
    otherwise (the ``j = 0`` term is 1 for every ``alpha``).
    """
    alpha, x = np.broadcast_arrays(alpha, x)
    positive = x > 0
    tail = digamma_diff(alpha[positive] + 1.0, x[positive] - 1.0)
    out = np.zeros(alpha.shape)
    out[positive] = 1.0 + alpha[positive] * tail
    return out


def _row_trials(X):
    """Row sums ``n_i``; a product, since numpy's sum over a short axis is slow."""
    return X @ np.ones(X.shape[1])


def _whole_rows(X):
    """Which rows hold whole counts; one reduction when all of them do (numpy's
    reduction over a short axis costs ten times more)."""
    integral = X == np.floor(X)
    if integral.all():
        return np.ones(X.shape[0], dtype=bool)
    return integral.all(axis=1)


def _use_tables(X, trials):
    """Whether the rising-factorial tables are cheaper and applicable."""
    top = trials.max(initial=0)
    limit = max(_TABLE_ROWS_FACTOR * X.shape[0], _MAX_TABLE_FLOOR)
    return top <= limit and np.array_equal(X, np.floor(X))


def _log_rising_table(a, top):
    """``table[..., v] = lgamma(a + v) - lgamma(a)`` for ``v = 0 .. top``.

    Each entry by :func:`log_rising`, accurate to rounding: a cumulative
    sum of ``log(a + j)`` would be cheaper but accumulates ``sqrt(v)``
    roundings, which show in the log-likelihood of rows with thousands of
    trials.
    """
    return log_rising(a[..., None], np.arange(int(top) + 1.0))


def _reverse_counts(values, resp, top):
    """``G[r, k, m, j] = sum_i resp[r, k, i] [values_im > j]`` for ``j < top``.

    Weighted histograms of every column of ``values`` (n, M) at once, as
    one product of the responsibilities with a sparse one-hot matrix of
    ``M`` entries per row (built directly in CSR form, without sorting),
    then reverse cumulative sums: the cost is linear in the rows times the
    (run, component) pairs plus the table length, in one call (a weighted
    ``bincount`` per pair and column costs a Python call each).
    """
    n_rows, n_columns = values.shape
    bins = int(top) + 1
    index = np.minimum(values, top).astype(np.intp) + bins * np.arange(n_columns)
    one_hot = sparse.csr_matrix(
        (
            np.ones(index.size),
            index.ravel(),
            np.arange(0, index.size + 1, n_columns),
        ),
        shape=(n_rows, n_columns * bins),
    )
    flat = resp.reshape(-1, n_rows)
    hist = np.asarray(one_hot.T @ flat.T).T.reshape(-1, n_columns, bins)
    tail = np.cumsum(hist[..., :0:-1], axis=-1)[..., ::-1]
    return tail.reshape(resp.shape[:-1] + (n_columns, bins - 1))


def dm_log_prob(X, probs, precision):
    """``log f_k(x_i) - log(n_i! / prod_c x_ic!)`` of every row, shape (R, K, n).

    ``sum_c [lgamma(x_c + alpha_c) - lgamma(alpha_c)] - [lgamma(n + A) -
    lgamma(A)]`` with ``alpha = precision * probs`` and ``A = precision``.
    Whole counts index tables of :func:`log_rising` over ``v = 0 .. max
    trials`` (one evaluation per value rather than per entry); other counts
    call it per entry. Both are free of cancellation in the binomial limit.
    """
    alpha = precision[..., None] * probs
    trials = _row_trials(X)
    if _use_tables(X, trials):
        top = trials.max(initial=0)
        alpha_table = _log_rising_table(alpha, top)
        log_prob = -np.take(
            _log_rising_table(precision, top), trials.astype(np.intp), axis=-1
        )
        for c in range(X.shape[1]):
            log_prob += np.take(
                alpha_table[..., c, :], X[:, c].astype(np.intp), axis=-1
            )
        return log_prob
    log_prob = -log_rising(precision[..., None], trials)
    for c in range(X.shape[1]):
        log_prob += log_rising(alpha[..., c, None], X[:, c])
    return log_prob


def _digamma_diffs(X, alpha, precision):
    """``digamma(alpha_kc + x_ic) - digamma(alpha_kc)`` (K, C, n) and the trials'.

    The second array (K, n) is the same for the precisions and the row
    totals. Whole counts take the values from tables over ``v = 0 .. max
    trials`` (one evaluation per value rather than per entry).
    """
    trials = _row_trials(X)
    if not _use_tables(X, trials):
        return (
            digamma_diff(alpha[..., None], X.T[None]),
            digamma_diff(precision[:, None], trials),
        )
    values = np.arange(trials.max(initial=0) + 1.0)
    alpha_table = digamma_diff(alpha[..., None], values)
    counts = X.T.astype(np.intp)
    psi = np.empty(alpha.shape + (X.shape[0],))
    for c in range(X.shape[1]):
        psi[:, c] = np.take(alpha_table[:, c], counts[c], axis=-1)
    trials_table = digamma_diff(precision[:, None], values)
    return psi, np.take(trials_table, trials.astype(np.intp), axis=-1)


def _beyond_sums(X, resp, alpha, precision, start):
    """Zhou & Lange sums over the outcomes ``j >= start`` of the rows X."""
    alpha_sums = np.empty(alpha.shape)
    for c in range(X.shape[1]):
        a = alpha[..., c, None]
        if start == 0:
            terms = alpha_digamma_diff(a, X[:, c])
        else:
            terms = a * digamma_diff(a + start, np.maximum(X[:, c] - start, 0.0))
        alpha_sums[..., c] = np.einsum("rki,rki->rk", resp, terms)
    rest = _row_trials(X) - start
    trial_sums = np.einsum(
        "rki,rki->rk", resp, digamma_diff(precision[..., None] + start, rest)
    )
    return alpha_sums, trial_sums


class TailCounts:
    """Tail histograms, shape (..., L), that add across blocks of any ``L``.

    A block whose rows have fewer trials gives a shorter histogram; a sum
    pads the shorter one with zeros, which is exact (its rows have no
    outcomes there). Scaling by a number and indexing (runs) act as on an
    array.
    """

    __slots__ = ("values",)

    def __init__(self, values):
        self.values = values

    def __add__(self, other):
        length = max(self.values.shape[-1], other.values.shape[-1])
        return TailCounts(
            _pad_tail(self.values, length) + _pad_tail(other.values, length)
        )

    def __mul__(self, scale):
        return TailCounts(self.values * scale)

    __rmul__ = __mul__

    def __truediv__(self, scale):
        return TailCounts(self.values / scale)

    def __getitem__(self, index):
        return TailCounts(self.values[index])

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.values, dtype=dtype)


_STAT_NAMES = ("count_tails", "trial_tails", "alpha_sums", "trial_sums")


def _unpack(stats):
    """The statistics as arrays, in the order of ``_STAT_NAMES``."""
    return tuple(
        value.values if isinstance(value, TailCounts) else value
        for value in (stats[name] for name in _STAT_NAMES)
    )


def _pad_tail(values, length):
    width = [(0, 0)] * (values.ndim - 1) + [(0, length - values.shape[-1])]
    return np.pad(values, width)


def dm_statistics(X, resp, probs, precision):
    """Additive statistics of one block for the M-step.

    A whole-number row enters exactly: its outcomes ``j < min(x, L)`` (with
    ``L = MAX_TAIL_LENGTH``) through the tail histograms ``count_tails[r, k,
    c, j] = sum_i r_ik [x_ic > j]`` and ``trial_tails[r, k, j] = sum_i r_ik
    [n_i > j]``, in which the expected complete-data log-likelihood of a
    component is ``sum_cj count_tails log(alpha_c + j) - sum_j trial_tails
    log(A + j)``. The outcomes ``j >= L`` of longer rows, and all of a row
    of non-integral counts, enter through the Zhou & Lange (2010)
    minorisation at the current parameters, ``S_c log alpha_c - T A`` with

    ``alpha_sums = S_c = sum_i r_ik sum_{j >= L, j < x_ic} alpha_c / (alpha_c
    + j)`` and ``trial_sums = T = sum_i r_ik sum_{j >= L, j < n_i} 1 / (A +
    j)`` (digamma differences; ``L = 0`` for non-integral rows).

    Every term is a sum over rows decided row by row, so the statistics of
    a table are the sums of those of its blocks.

    Returns
    -------
    count_tails : TailCounts of shape (R, K, C, L_block)
    trial_tails : TailCounts of shape (R, K, L_block)
    alpha_sums : ndarray of shape (R, K, C)
    trial_sums : ndarray of shape (R, K)
    """
    alpha = precision[..., None] * probs
    trials = _row_trials(X)
    whole = _whole_rows(X)
    length = int(min(trials[whole].max(initial=0), MAX_TAIL_LENGTH))
    exact_resp = resp if whole.all() else resp * whole
    tails = _reverse_counts(np.column_stack([X, trials]), exact_resp, length)
    count_tails, trial_tails = tails[..., :-1, :], tails[..., -1, :]
    alpha_sums = np.zeros(alpha.shape)
    trial_sums = np.zeros(precision.shape)
    for rows, start in (
        (whole & (trials > MAX_TAIL_LENGTH), MAX_TAIL_LENGTH),
        (~whole, 0),
    ):
        if rows.any():
            beyond = _beyond_sums(X[rows], resp[..., rows], alpha, precision, start)
            alpha_sums += beyond[0]
            trial_sums += beyond[1]
    return TailCounts(count_tails), TailCounts(trial_tails), alpha_sums, trial_sums


def dm_mm_step(alpha_sums, trial_sums, probs, precision, pseudo_count):
    """One MM step for (probs, precision) under a Dirichlet(1 + a) prior on probs.

    The prior ``a sum_c log p_c = a sum_c log alpha_c - C a log A`` is
    minorised by its tangent in ``A``; the surrogate
    ``sum_c (S_c + a) log alpha_c - (T + C a / A_old) A`` is maximised by
    ``alpha_c = (S_c + a) / (T + C a / A_old)``. It separates into
    ``probs`` and a concave function of ``precision``, so clipping the
    precision into ``[MIN_PRECISION, MAX_PRECISION]`` gives the constrained
    maximiser and the step stays monotone. A component without trials keeps
    its precision and gets uniform probabilities (as the multinomial family).
    """
    n_features = probs.shape[-1]
    numer = alpha_sums + pseudo_count
    denom = trial_sums + n_features * pseudo_count / precision
    totals = numer.sum(axis=-1)
    new_probs = np.divide(
        numer,
        totals[..., None],
        out=np.full_like(numer, 1.0 / n_features),
        where=totals[..., None] > 0,
    )
    new_precision = np.divide(
        totals, denom, out=precision.astype(float), where=(denom > 0) & (totals > 0)
    )
    return new_probs, np.clip(new_precision, MIN_PRECISION, MAX_PRECISION)


def _tail_sums(tails, a, power):
    """``sum_j tails[..., j] / (a + j)**power`` (0 where the tail is 0)."""
    steps = np.arange(tails.shape[-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = tails / (a[..., None] + steps) ** power
    return np.where(tails > 0, terms, 0.0).sum(axis=-1)


def surrogate_objective(stats, alpha, pseudo_count):
    """The M-step objective of :func:`dm_statistics` plus the log prior, (R, K).

    Exact for the tails; the minorised part adds ``S_c log alpha_c - T A``.
    ``alpha`` may carry extra leading axes (candidates).
    """
    count_tails, trial_tails, alpha_sums, trial_sums = stats
    steps = np.arange(trial_tails.shape[-1])
    precision = alpha.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        count_terms = count_tails * safe_log(alpha[..., None] + steps)
        linear = (alpha_sums + pseudo_count) * safe_log(alpha)
    objective = np.where(count_tails > 0, count_terms, 0.0).sum(axis=(-2, -1))
    objective += np.where(alpha_sums + pseudo_count > 0, linear, 0.0).sum(axis=-1)
    objective -= (trial_tails * np.log(precision[..., None] + steps)).sum(axis=-1)
    objective -= trial_sums * precision
    if pseudo_count:
        objective -= alpha.shape[-1] * pseudo_count * np.log(precision)
    return objective


def _clip_precision(alpha):
    """Rescale alpha rows so that their total lies in the precision range.

    Rows with a zero or infinite total become nan (discarded candidates).
    """
    precision = alpha.sum(axis=-1, keepdims=True)
    clipped = np.clip(precision, MIN_PRECISION, MAX_PRECISION)
    with np.errstate(divide="ignore", invalid="ignore"):
        return alpha * (clipped / precision)


def _mm_alpha(stats, alpha, pseudo_count):
    """One Zhou & Lange MM step on the surrogate objective (never lowers it)."""
    count_tails, trial_tails, alpha_sums, trial_sums = stats
    precision = alpha.sum(axis=-1)
    probs, new_precision = dm_mm_step(
        alpha * _tail_sums(count_tails, alpha, 1) + alpha_sums,
        _tail_sums(trial_tails, precision, 1) + trial_sums,
        alpha / precision[..., None],
        precision,
        pseudo_count,
    )
    return new_precision[..., None] * probs


def _newton_alpha(stats, alpha, pseudo_count):
    """Newton steps on the surrogate objective: in alpha, and in log precision.

    The Hessian in alpha is ``diag(d) + h 1 1^T`` with ``d_c < 0``;
    Sherman-Morrison solves it in O(C). Where it is not negative definite
    (far from the maximum) the step is nan. The second step moves only
    ``log(precision)``, probabilities fixed, by its own Newton step where
    that curvature is negative (else nan). Columns without counts go to 0
    (their maximiser without a prior) or stay fixed.
    """
    count_tails, trial_tails, alpha_sums, trial_sums = stats
    n_features = alpha.shape[-1]
    a = pseudo_count
    linear = alpha_sums + a
    precision = alpha.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        grad = _tail_sums(count_tails, alpha, 1) + np.where(
            alpha > 0, linear / alpha, 0
        )
        grad -= (
            _tail_sums(trial_tails, precision, 1)
            + trial_sums
            + n_features * a / precision
        )[..., None]
        diag = -_tail_sums(count_tails, alpha, 2) - np.where(
            alpha > 0, linear / alpha**2, 0
        )
        rank_one = _tail_sums(trial_tails, precision, 2) + n_features * a / precision**2
        inverse = np.where(diag < 0, 1.0 / diag, 0.0)
        denom = 1.0 + rank_one * inverse.sum(axis=-1)
        step = inverse * grad
        step -= inverse * (rank_one * step.sum(axis=-1) / denom)[..., None]
        new = alpha - step
        new = np.where(diag == 0, 0.0 if a == 0 else alpha, new)
        ok = (denom > 0) & ((new > 0) | (diag == 0)).all(axis=-1)
        slope = (alpha * grad).sum(axis=-1)
        curvature = (diag * alpha**2).sum(axis=-1) + rank_one * precision**2 + slope
        scaled = alpha * np.exp(-slope / curvature)[..., None]
    return (
        np.where(ok[..., None], new, np.nan),
        np.where((curvature < 0)[..., None], scaled, np.nan),
    )


def surrogate_change(stats, new_alpha, alpha, pseudo_count):
    """``surrogate_objective(new_alpha) - surrogate_objective(alpha)``, accurately.

    Summed as ``log1p`` of relative changes rather than as a difference of
    two large sums, so that steps near the maximum are compared to their
    own size, not to the rounding of the objective (which would leave
    ``sqrt(eps)`` in the parameters). ``new_alpha`` may carry extra
    leading axes (candidates).
    """
    count_tails, trial_tails, alpha_sums, trial_sums = stats
    steps = np.arange(trial_tails.shape[-1])
    precision = alpha.sum(axis=-1)
    new_precision = new_alpha.sum(axis=-1)
    delta = new_alpha - alpha
    delta_precision = new_precision - precision
    linear = alpha_sums + pseudo_count
    with np.errstate(divide="ignore", invalid="ignore"):
        count_terms = count_tails * np.log1p(
            delta[..., None] / (alpha[..., None] + steps)
        )
        linear_terms = linear * np.log1p(delta / alpha)
        trial_terms = trial_tails * np.log1p(
            delta_precision[..., None] / (precision[..., None] + steps)
        )
        prior_term = np.log1p(delta_precision / precision)
    change = np.where(count_tails > 0, count_terms, 0.0).sum(axis=(-2, -1))
    change += np.where(linear > 0, linear_terms, 0.0).sum(axis=-1)
    change -= np.where(trial_tails > 0, trial_terms, 0.0).sum(axis=-1)
    change -= trial_sums * delta_precision
    if pseudo_count:
        change -= alpha.shape[-1] * pseudo_count * prior_term
    return change


def dm_m_step(stats, probs, precision, pseudo_count):
    """Maximise the surrogate objective: the best of Newton, MM and rescaled steps.

    Each iteration takes the Newton step if it raises the surrogate
    objective (:func:`surrogate_change`), else the best of damped Newton
    steps, a Newton step in the log precision alone, a Zhou & Lange MM step
    and the current alpha rescaled by ``_PRECISION_FACTORS`` (which walks a
    far-off precision geometrically towards the maximum, where the
    objective is not concave and Newton steps fail), if that raises it. The
    MM step never lowers it, so the M-step never does and EM stays monotone
    (a generalised EM when the iterations stop early). The cost is
    independent of the rows.
    """
    alpha = precision[..., None] * probs
    active = np.ones(alpha.shape[:-1], dtype=bool)
    for _ in range(_INNER_MAX_ITER):
        newton, scaled = _newton_alpha(stats, alpha, pseudo_count)
        newton = _clip_precision(newton)
        # Near the maximum the full Newton step wins: the other candidates
        # are evaluated only where it does not raise the objective.
        new_alpha = newton
        improved = active & (surrogate_change(stats, newton, alpha, pseudo_count) > 0)
        # A Newton step below rounding means the maximum is reached.
        with np.errstate(invalid="ignore"):
            settled = (np.abs(newton - alpha) <= _SETTLED * alpha).all(axis=-1)
        active &= improved | ~settled
        if (active & ~improved).any():
            candidates = [
                _mm_alpha(stats, alpha, pseudo_count),
                _clip_precision(scaled),
            ]
            candidates += [
                _clip_precision(alpha + t * (newton - alpha)) for t in _NEWTON_DAMPING
            ]
            candidates += [_clip_precision(alpha * f) for f in _PRECISION_FACTORS]
            candidates = np.stack(candidates)
            changes = surrogate_change(stats, candidates, alpha, pseudo_count)
            changes[np.isnan(changes)] = -np.inf
            best = changes.argmax(axis=0)
            others = np.take_along_axis(candidates, best[None, ..., None], axis=0)[0]
            fallback = active & ~improved
            new_alpha = np.where(fallback[..., None], others, newton)
            improved |= fallback & (changes.max(axis=0) > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            moved = (np.abs(new_alpha - alpha) > _INNER_TOL * alpha).any(axis=-1)
        alpha = np.where(improved[..., None], new_alpha, alpha)
        # Each component stops on its own (so that batched runs give the
        # results of single runs) once its alpha settles.
        active &= improved & moved
        if not active.any():
            break
    new_precision = alpha.sum(axis=-1)
    return alpha / new_precision[..., None], new_precision


def moment_precision(X, weighted_resp, probs):
    """Moment estimate of each component's precision, clipped to the init range.

    The weighted Pearson statistic ``X2_k = sum_i r_ik sum_c (x_ic - n_i
    p_kc)**2 / (n_i p_kc)`` has expectation about ``(C - 1) sum_i r_ik (1 +
    (n_i - 1) rho_k)`` under a Dirichlet-multinomial with intra-class
    correlation ``rho_k = 1 / (1 + precision_k)``.
    """
    n_features = X.shape[1]
    trials = _row_trials(X)
    if not trials.all():
        has_trials = trials > 0
        X, weighted_resp = X[has_trials], weighted_resp[has_trials]
        trials = trials[has_trials]
    # The weighted sums in one product (one pass over the responsibilities).
    columns = np.column_stack([X**2 / trials[:, None], trials, np.ones_like(trials)])
    sums = weighted_resp.T @ columns
    square_sums, trial_sums, nk = sums[:, :-2], sums[:, -2], sums[:, -1]
    pearson = (square_sums / probs).sum(axis=1) - trial_sums
    excess = pearson - (n_features - 1) * nk
    spread = (n_features - 1) * (trial_sums - nk)
    low, high = INIT_PRECISION_RANGE
    rho = np.divide(excess, spread, out=np.full_like(excess, -1.0), where=spread > 0)
    rho = np.clip(rho, 1 / (1 + high), 1 / (1 + low))
    return np.where(spread > 0, 1 / rho - 1, DEFAULT_INIT_PRECISION)


def profile_precision(X, row_weights, weights, probs, precision):
    """The start's precisions or a common grid one, whichever fits best.

    Candidates are the per-component ``precision`` (K,) and every common
    precision of ``_PROFILE_GRID``; each is scored by the log-likelihood of
    the rows under the mixture of ``weights`` (K,) and ``probs`` (K, C), in
    one batched evaluation (the candidates as runs).
    """
    candidates = np.vstack(
        [precision, np.repeat(_PROFILE_GRID[:, None], len(precision), axis=1)]
    )
    batched = np.broadcast_to(probs, (len(candidates),) + probs.shape)
    log_joint = dm_log_prob(X, batched, candidates)
    log_joint += safe_log(weights)[None, :, None]
    # In place: the candidates times the rows make the largest array of a start.
    log_max = log_joint.max(axis=1)
    log_joint -= log_max[:, None]
    log_norm = log_max + np.log(np.exp(log_joint, out=log_joint).sum(axis=1))
    return candidates[np.argmax(log_norm @ row_weights)]


def sample_dirichlet(alpha, rng):
    """One probability row per row of ``alpha`` (n, C), by normalised gammas.

    Small shapes draw ``log G = log Gamma(a + 1) + log(U) / a`` so that the
    gammas do not underflow to an all-zero row; zero shapes give zero
    probabilities.
    """
    positive = alpha > 0
    shape = np.where(positive, alpha, 1.0)
    log_gamma = (
        np.log(rng.standard_gamma(shape + 1.0))
        + np.log(rng.uniform(size=alpha.shape)) / shape
    )
    log_gamma = np.where(positive, log_gamma, -np.inf)
    log_gamma -= log_gamma.max(axis=1, keepdims=True)
    probs = np.exp(log_gamma)
    return probs / probs.sum(axis=1, keepdims=True)


class DirichletMultinomialFamily(ComponentFamily):
    """Dirichlet-multinomial components; beta-binomial ones for two columns.

    A component has mean outcome probabilities ``probs`` (rows on the
    simplex) and a ``precision`` ``A > 0``: the row's outcome probabilities
    are drawn from ``Dirichlet(A * probs)``, then its counts from the
    multinomial. The intra-class correlation is ``1 / (1 + A)`` and the
    variance of a count is the multinomial one times ``(n + A) / (1 + A)``.
    ``A -> infinity`` is the multinomial (binomial) limit, represented by
    the cap ``MAX_PRECISION``.

    The M-step maximises the expected complete-data log-likelihood, which
    for whole counts is a function of tail histograms of the outcomes
    (:func:`dm_statistics`): exact and additive over blocks, so EM keeps
    its rate (with one component it converges in one step). It runs Newton
    steps safeguarded by the MM step of Zhou & Lange (2010) (Minka's fixed
    point) on those histograms, at a cost independent of the rows. Outcomes
    beyond ``MAX_TAIL_LENGTH``, and rows of non-integral counts, enter
    through that MM minorisation instead, which is slow when rows have many
    trials. The objective never decreases for whole-number counts; for
    non-integral ones (not a distribution) the log-likelihood is evaluated,
    but the minorisation, hence monotonicity, does not hold.

    Parameters
    ----------
    pseudo_count : float, default=0.0
        The ``a`` of a symmetric Dirichlet(1 + a) prior on the mean
        probabilities ``probs`` (as in the multinomial family); the
        precision has a flat prior on ``[MIN_PRECISION, MAX_PRECISION]``.
        0 gives maximum likelihood.

    References
    ----------
    Zhou, H. and Lange, K. (2010). MM algorithms for some discrete
    multivariate distributions. Journal of Computational and Graphical
    Statistics, 19(3), 645-665.

    Minka, T. (2000). Estimating a Dirichlet distribution. Technical report.
    """

    param_names = ("probs", "precision")
    param_bounds = {"probs": (0.0, 1.0), "precision": (0.0, np.inf)}

    def __init__(self, pseudo_count=0.0, profile_init=True):
        self.pseudo_count = pseudo_count
        # False: init_params keeps the moment precisions, for starts whose
        # precisions are profiled later anyway (BetaBinomialMixture's).
        self.profile_init = profile_init

    def row_constants(self, block):
        return log_coefficients(block.X)

    def log_prob(self, block, params):
        return dm_log_prob(block.X, params["probs"], params["precision"])

    def accumulate(self, block, resp, params):
        stats = dm_statistics(block.X, resp, params["probs"], params["precision"])
        return dict(zip(_STAT_NAMES, stats))

    def m_step(self, stats, nk, params):
        probs, precision = dm_m_step(
            _unpack(stats), params["probs"], params["precision"], self.pseudo_count
        )
        return {"probs": probs, "precision": precision}

    def log_prior(self, params):
        probs = params["probs"]
        if self.pseudo_count == 0:
            return np.zeros(probs.shape[0])
        return self.pseudo_count * safe_log(probs).sum(axis=(-2, -1))

    def seeding_features(self, block):
        return row_proportions(block.X)

    def init_params(self, block, weighted_resp):
        """Smoothed multinomial M-step for probs, moments or a grid for the precision.

        The per-component moment estimates compete with common precisions
        on a grid (:func:`profile_precision`): starting nearer the
        precision cuts the EM iterations (measured: about a quarter on
        three overlapping beta-binomial clusters, docs/performance.rst).
        """
        counts = weighted_resp.T @ block.X + INIT_SMOOTHING
        probs = counts / counts.sum(axis=1, keepdims=True)
        precision = moment_precision(block.X, weighted_resp, probs)
        if self.profile_init:
            nk = weighted_resp.sum(axis=0) + INIT_SMOOTHING
            precision = profile_precision(
                block.X, block.weights, nk / nk.sum(), probs, precision
            )
        return {"probs": probs, "precision": precision}

    def random_params(self, n_components, block, rng):
        """Uniform probabilities on the simplex, log-uniform init-range precisions."""
        n_features = block.X.shape[1]
        low, high = np.log(INIT_PRECISION_RANGE)
        return {
            "probs": rng.dirichlet(np.ones(n_features), size=n_components),
            "precision": np.exp(rng.uniform(low, high, size=n_components)),
        }

    def flatten(self, params):
        """Probabilities as they are (as the multinomial family), log precision.

        The log precision is offset by ``log(MIN_PRECISION)`` so that, as for
        the probabilities, the parameter space is where every entry is
        non-negative.
        """
        probs = params["probs"]
        # A Newton step may propose a precision <= 0: NaN, which is infeasible.
        with np.errstate(divide="ignore", invalid="ignore"):
            log_precision = np.log(params["precision"] / MIN_PRECISION)
        return np.hstack(
            [
                probs.reshape(probs.shape[0], -1),
                log_precision,
            ]
        )

    def unflatten(self, theta, params):
        """Renormalised probabilities; precision clipped into its range."""
        shape = params["probs"].shape
        n_probs = shape[1] * shape[2]
        probs = theta[:, :n_probs].reshape(shape)
        precision = np.clip(
            MIN_PRECISION * np.exp(np.minimum(theta[:, n_probs:], _LOG_RANGE)),
            MIN_PRECISION,
            MAX_PRECISION,
        )
        return {
            "probs": probs / probs.sum(axis=-1, keepdims=True),
            "precision": precision,
        }

    def feasible(self, theta):
        return np.isfinite(theta).all(axis=1) & ~(theta < 0).any(axis=1)

    def n_parameters(self, n_components, n_features):
        """``C - 1`` probabilities and one precision per component."""
        return n_components * n_features

    def canonical_order(self, weights, params):
        """Descending probs[:, 0], then the other columns, precision, weight."""
        probs = params["probs"]
        keys = [-weights, -params["precision"]]
        keys += [-probs[:, c] for c in range(probs.shape[1] - 1, -1, -1)]
        return np.lexsort(keys)

    def identifiability_problem(self, block, n_components):
        """The largest row must carry as many moments as there are parameters.

        The law of the counts of a row with ``n`` trials depends on the
        mixing distribution of its outcome probabilities only through the
        ``comb(n + C - 1, C - 1) - 1`` moments of order 1 to ``n``, and K
        Dirichlet components have ``K * C + K - 1`` free parameters (with
        the weights). For the beta-binomial this needs ``n >= 3K - 1``
        (``n >= 2`` for one component: rows of one trial say nothing about
        the precision). The condition is necessary, not sufficient.
        """
        X = block.X
        n_features = X.shape[1]
        max_trials = int(X.sum(axis=1).max()) if X.shape[0] else 0
        n_free = n_components * n_features + n_components - 1
        if comb(max_trials + n_features - 1, n_features - 1) - 1 >= n_free:
            return None
        needed = max_trials + 1
        while comb(needed + n_features - 1, n_features - 1) - 1 < n_free:
            needed += 1
        return (
            f"A mixture of {n_components} Dirichlet-multinomial (beta-binomial) "
            f"components is not identifiable from these data: its {n_free} free "
            f"parameters need rows with at least {needed} trials (the counts of a "
            "row with n trials depend on the components only through the moments "
            f"of order up to n), but the largest row has {max_trials}. Use fewer "
            "components, rows with more trials, or the binomial family."
        )

    def sample(self, params, components, n_trials, rng, design=None):
        alpha = params["precision"][components, None] * params["probs"][components]
        return sample_multinomial(sample_dirichlet(alpha, rng), n_trials, rng)

    def interval_scales(self, params):
        """Logit intervals for beta-binomial probabilities, Wald ones for C > 2.

        As the multinomial family; the precision's interval is on the log
        scale.
        """
        binomial = params["probs"].shape[-1] == 2
        return {"probs": "logit" if binomial else "wald", "precision": "logit"}

    # ------------------------------------------------------------ Louis
    def free_basis(self, params, nk, stats):
        """Per component: the probabilities but the largest, and the precision.

        Probabilities with an expected count below ``BOUNDARY_COUNT``, a
        precision at the cap (the binomial limit) or at its floor, and all
        of a component without data are boundary values: held fixed, never
        in the basis.
        """
        probs, precision = params["probs"], params["precision"]
        count_tails, _, alpha_sums, _ = _unpack(stats)
        counts = count_tails.sum(axis=-1) + alpha_sums
        n_components = probs.shape[0]
        empty = (nk < BOUNDARY_COUNT) | (counts.sum(axis=1) < BOUNDARY_COUNT)
        boundary = (counts < BOUNDARY_COUNT) | empty[:, None]
        ref = probs.argmax(axis=1)
        free_mask = ~boundary
        free_mask[np.arange(n_components), ref] = False
        boundary[np.arange(n_components), ref] |= ~free_mask.any(axis=1)
        precision_boundary = (
            empty
            | (precision >= MAX_PRECISION * (1 - 1e-9))
            | (precision <= MIN_PRECISION * (1 + 1e-9))
        )
        comp, col = np.nonzero(free_mask)
        precision_comp = np.flatnonzero(~precision_boundary)
        return Bunch(
            n_free=len(comp) + len(precision_comp),
            comp=comp,
            col=col,
            ref=ref,
            precision_comp=precision_comp,
            boundary={"probs": boundary, "precision": precision_boundary},
            empty=empty,
        )

    def complete_scores(self, block, params, basis):
        """``A (Psi_c - Psi_ref)`` per probability, ``sum_c p_c Psi_c - Psi_n``.

        ``Psi_c = digamma(alpha_c + x_c) - digamma(alpha_c)`` and ``Psi_n``
        the same for the precision and the trials.
        """
        scores, owner = self.component_scores(block, params, basis)
        return dense_scores(scores, owner, params["probs"].shape[0])

    def component_scores(self, block, params, basis):
        """The scores of :meth:`complete_scores`, rows last.

        Whole counts index tables of the digamma differences over ``v = 0
        .. max trials``, as :func:`dm_log_prob` does for the log rising
        factorials.
        """
        X, probs, precision = block.X, params["probs"], params["precision"]
        psi, psi_trials = _digamma_diffs(X, precision[:, None] * probs, precision)
        n_probs = len(basis.comp)
        comp, col, ref = basis.comp, basis.col, basis.ref[basis.comp]
        k = basis.precision_comp
        scores = np.empty((basis.n_free, X.shape[0]))
        scores[:n_probs] = precision[comp, None] * (psi[comp, col] - psi[comp, ref])
        scores[n_probs:] = np.einsum("kc,kcn->kn", probs[k], psi[k]) - psi_trials[k]
        return scores, np.concatenate([comp, k])

    def complete_information(self, params, nk, stats, basis):
        """Minus the expected Hessian of ``log f_k`` from the tail histograms.

        Needs every row inside the tail histograms (whole counts, at most
        ``MAX_TAIL_LENGTH`` trials): the minorised part of the statistics
        carries no second derivatives.
        """
        count_tails, trial_tails, alpha_sums, trial_sums = _unpack(stats)
        if alpha_sums.any() or trial_sums.any():
            raise NotImplementedError(
                "The observed information of the Dirichlet-multinomial family "
                f"needs whole counts and at most {MAX_TAIL_LENGTH} trials per row."
            )
        probs, precision = params["probs"], params["precision"]
        alpha = precision[:, None] * probs
        first = _tail_sums(count_tails, alpha, 1)
        second = -_tail_sums(count_tails, alpha, 2)
        second_trials = -_tail_sums(trial_tails, precision, 2)
        info = np.zeros((basis.n_free, basis.n_free))
        n_probs = len(basis.comp)
        for k in range(probs.shape[0]):
            idx = np.flatnonzero(basis.comp == k)
            cols, r = basis.col[idx], basis.ref[k]
            a = precision[k]
            info[idx, idx] -= a**2 * second[k, cols]
            info[np.ix_(idx, idx)] -= a**2 * second[k, r]
            where = np.flatnonzero(basis.precision_comp == k)
            if where.size:
                j = n_probs + where[0]
                info[j, j] = -(probs[k] ** 2 @ second[k] - second_trials[k])
                cross = first[k, cols] - first[k, r]
                cross += a * (
                    probs[k, cols] * second[k, cols] - probs[k, r] * second[k, r]
                )
                info[idx, j] = info[j, idx] = -cross
        return info

    def prior_derivatives(self, params, basis):
        """The multinomial prior's on the probabilities; none on the precision."""
        probs, a = params["probs"], self.pseudo_count
        n_probs = len(basis.comp)
        comp, col, ref = basis.comp, basis.col, basis.ref[basis.comp]
        score = np.zeros(basis.n_free)
        score[:n_probs] = a * (1 / probs[comp, col] - 1 / probs[comp, ref])
        info = np.zeros((basis.n_free, basis.n_free))
        same = comp[:, None] == comp[None, :]
        info[:n_probs, :n_probs] = a * same / probs[comp, ref][:, None] ** 2
        info[np.arange(n_probs), np.arange(n_probs)] += a / probs[comp, col] ** 2
        return score, info

    def delta_jacobians(self, params, basis):
        probs, precision = params["probs"], params["precision"]
        n_probs = len(basis.comp)
        jac_probs = np.zeros(probs.shape + (basis.n_free,))
        cols = np.arange(n_probs)
        jac_probs[basis.comp, basis.col, cols] = 1.0
        jac_probs[basis.comp, basis.ref[basis.comp], cols] = -1.0
        jac_precision = np.zeros(precision.shape + (basis.n_free,))
        k = basis.precision_comp
        jac_precision[k, n_probs + np.arange(len(k))] = 1.0
        return {"probs": jac_probs, "precision": jac_precision}
