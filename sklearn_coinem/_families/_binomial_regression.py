"""The binomial-regression family: logistic-regression components."""

from dataclasses import dataclass
from functools import cache
from types import SimpleNamespace

import numpy as np
from scipy.special import expit
from sklearn.utils import Bunch

from sklearn_coinem._families._base import ComponentFamily
from sklearn_coinem._families._multinomial import row_proportions
from sklearn_coinem._numerics import log_coefficients, row_sums

#: The curvatures of the quadratic the M-step maximises (see the class notes).
CURVATURES = ("certified-newton", "jaakkola-jordan", "bohning", "newton")

# Smoothing added to both counts of every row when a start is fitted from
# responsibilities: it keeps starting coefficients finite on separated rows.
INIT_SMOOTHING = 0.5

# Newton (IRLS) steps from coef = 0 that a start takes on the smoothed counts:
# nearly the weighted maximum likelihood of each component. Bound steps from 0
# are too short when probabilities are far from 1/2 (on betablocker, two of
# them left every k-means++ start of K = 3 in the same local optimum).
INIT_STEPS = 4

# Rows (with responsibilities) that those steps use at most: an evenly spaced
# subset of the table beyond that.
INIT_ROWS = 1 << 13

# Relative ridge added to each curvature matrix: a larger curvature keeps the
# quadratic a minoriser, and a component without data (curvature 0, gradient
# 0) then stays where it is instead of producing nan.
RIDGE = 1e-10

# Expected size below which a component counts as empty for standard errors
# (the multinomial family's threshold).
BOUNDARY_COUNT = 1e-3

# Below this |eta| the curvature tanh(eta / 2) / (2 eta) is its Taylor series
# 1/4 - eta^2 / 48 (next term eta^4 / 480, below 1e-14 relative).
SMALL_ETA = 1e-3


def linear_predictor(design, coef):
    """``eta = design @ coef_k`` of every run, component and row, shape (R, K, n)."""
    return coef @ design.T


@dataclass(frozen=True)
class Predictor:
    """The linear predictor of a block and what both halves of an E-step need.

    Attributes
    ----------
    columns : ndarray of shape (p, n)
        The block's design, transposed and contiguous: the products with it
        are several times faster than with the transpose of a row-major
        design.
    eta : ndarray of shape (R, K, n)
    magnitude : ndarray of shape (R, K, n)
        ``|eta|``.
    tail : ndarray of shape (R, K, n)
        ``exp(-|eta|)``, the one exponential of the densities and the pieces.
    trials : ndarray of shape (n,)
    """

    columns: np.ndarray
    eta: np.ndarray
    magnitude: np.ndarray
    tail: np.ndarray
    trials: np.ndarray

    @classmethod
    def of(cls, block, coef):
        """The predictor of ``coef`` (R, K, p) on the rows of ``block``."""
        columns = np.ascontiguousarray(block.design.T)
        eta = coef @ columns
        magnitude = np.abs(eta)
        tail = np.negative(magnitude)
        np.exp(tail, out=tail)
        X = block.X
        return cls(columns, eta, magnitude, tail, X[:, 0] + X[:, 1])


def binomial_logit_log_prob(X, eta, tail=None, trials=None):
    """``s log expit(eta) + f log expit(-eta)`` with ``X = (s, f)``, stably.

    With ``a = log(1 + exp(-|eta|))``, ``-log expit(eta) = max(-eta, 0) + a``
    and ``-log expit(-eta) = max(eta, 0) + a``: no cancellation at any eta.
    ``tail = exp(-|eta|)`` and ``trials = s + f`` if already known. Written
    in place on a few arrays: it runs on every row at every iteration.
    """
    successes, failures = X[:, 0], X[:, 1]
    if tail is None:
        tail = np.abs(eta)
        np.negative(tail, out=tail)
        np.exp(tail, out=tail)
        out = np.log1p(tail, out=tail)
    else:
        out = np.log1p(tail)
    out *= successes + failures if trials is None else trials
    positive = np.maximum(eta, 0.0)
    # positive - eta is max(-eta, 0) exactly (one of the two is zero).
    negative = positive - eta
    negative *= successes
    positive *= failures
    out += negative
    out += positive
    return np.negative(out, out=out)


def jaakkola_jordan_weight(eta, magnitude=None, tanh_half=None):
    """``tanh(eta / 2) / (2 eta)``, the minorising curvature of ``log expit``.

    It lies in (0, 1/4] and equals 1/4 at ``eta = 0``: the quadratic that
    touches ``log expit`` at ``eta`` with this curvature lies below it
    everywhere (Jaakkola & Jordan 2000). ``magnitude`` and ``tanh_half`` are
    ``|eta|`` and ``tanh(|eta| / 2)`` if already known (the latter to about
    ``1e-16`` absolute, so the ratio to about ``1e-16 / |eta|`` relative);
    below ``SMALL_ETA`` the Taylor series takes over.
    """
    magnitude = np.abs(eta) if magnitude is None else magnitude
    tanh_half = np.tanh(magnitude / 2) if tanh_half is None else tanh_half
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = tanh_half / magnitude
    weight *= 0.5
    # One reduction decides whether any entry needs the series.
    if magnitude.size and magnitude.min() < SMALL_ETA:
        small = magnitude < SMALL_ETA
        weight[small] = 0.25 - magnitude[small] ** 2 / 48.0
    return weight


def binomial_logit_pieces(X, eta, curvature, predictor=None):
    """Score residual ``s - n p``, bound curvature and Fisher weight ``n p (1 - p)``.

    Everything comes from one exponential, ``exp(-|eta|)``, which never
    overflows: ``max(p, 1 - p) = 1 / (1 + exp(-|eta|))`` and ``min(p, 1 - p)``
    (that times ``exp(-|eta|)``) are both exact to rounding, so the Fisher
    weight keeps its relative precision at any eta. ``predictor`` is the
    :class:`Predictor` of ``eta`` if already computed (it is not modified).
    Updated in place, and without ``scipy.special.expit`` (ten times slower
    than ``np.exp``) or ``np.where`` (slow on unpredictable masks): this runs
    on every row at every iteration.
    """
    successes = X[:, 0]
    if predictor is None:
        trials = successes + X[:, 1]
        magnitude = np.abs(eta)
        tail = np.negative(magnitude)
        np.exp(tail, out=tail)
    else:
        trials, magnitude, tail = predictor.trials, predictor.magnitude, predictor.tail
    large = tail + 1.0
    np.reciprocal(large, out=large)
    small = np.multiply(tail, large, out=tail if predictor is None else None)
    tanh_half = large - small
    fisher = small * large
    fisher *= trials
    # p is min(p, 1 - p) plus, where eta >= 0, their difference.
    residual = np.greater_equal(eta, 0.0) * tanh_half
    residual += small
    residual *= -trials
    residual += successes
    if curvature == "bohning":
        weights = np.broadcast_to(trials / 4.0, eta.shape)
    elif curvature == "newton":
        weights = fisher
    else:
        weights = jaakkola_jordan_weight(eta, magnitude, tanh_half)
        weights *= trials
    return residual, weights, fisher


@cache
def upper_triangle(n):
    """``np.triu_indices(n)``, computed once per ``n`` (it costs as much as a
    product on a block of rows), read-only."""
    rows, cols = np.triu_indices(n)
    rows.flags.writeable = cols.flags.writeable = False
    return rows, cols


def outer_columns(columns):
    """``columns[a] * columns[b]`` for ``a <= b`` (:func:`upper_triangle`'s order).

    One product per ``a`` into a single array: gathering the rows of
    ``columns`` twice first costs several times more.

    Parameters
    ----------
    columns : ndarray of shape (p, n)

    Returns
    -------
    outer : ndarray of shape (p (p + 1) / 2, n)
    """
    n_cols = len(columns)
    outer = np.empty((n_cols * (n_cols + 1) // 2, columns.shape[1]))
    start = 0
    for a in range(n_cols):
        np.multiply(columns[a], columns[a:], out=outer[start : start + n_cols - a])
        start += n_cols - a
    return outer


def weighted_outer_sums(weights, design, columns=None):
    """``sum_i w_rki x_i x_i^T`` of every run and component, shape (R, K, p, p).

    One product with the ``p (p + 1) / 2`` distinct columns of the rows'
    outer products (the matrices are symmetric), built from the transposed
    design (``columns``, if already made contiguous): indexing the columns of
    a row-major array is several times slower.
    """
    n_runs, n_components, n_samples = weights.shape
    n_cols = design.shape[1]
    rows, cols = upper_triangle(n_cols)
    columns = np.ascontiguousarray(design.T) if columns is None else columns
    outer = outer_columns(columns)
    upper = weights.reshape(n_runs * n_components, n_samples) @ outer.T
    sums = np.empty((n_runs * n_components, n_cols, n_cols))
    sums[:, rows, cols] = upper
    sums[:, cols, rows] = upper
    return sums.reshape(n_runs, n_components, n_cols, n_cols)


# Rows per design column that full_column_rank tries first.
RANK_ROWS_PER_COLUMN = 64


def full_column_rank(design):
    """Whether ``np.linalg.matrix_rank(design)`` is the number of columns.

    Tried first on evenly spaced rows: the smallest singular value of a
    subset of the rows is at most the whole design's, so a subset's above
    matrix_rank's tolerance for the whole (``S.max() * max(M, N) * eps``,
    with the Frobenius norm, which is at least ``S.max()``) proves full
    rank without the SVD of every row; otherwise that SVD decides.
    """
    n_rows, n_cols = design.shape
    step = n_rows // (RANK_ROWS_PER_COLUMN * n_cols)
    if step > 1:
        flat = design.ravel()
        tol = np.sqrt(flat @ flat) * max(design.shape) * np.finfo(float).eps
        if np.linalg.svd(design[::step], compute_uv=False).min() > tol:
            return True
    return np.linalg.matrix_rank(design) == n_cols


def add_ridge(hess):
    """``hess`` plus a ridge relative to its mean diagonal (never singular)."""
    n_cols = hess.shape[-1]
    ridged = np.array(hess, dtype=float)
    # The diagonal as a strided view of the flat matrices: adding to it is
    # what adding ``scale * eye`` does, without the (p, p) temporaries (this
    # runs several times per EM iteration).
    diag = ridged.reshape(hess.shape[:-2] + (n_cols * n_cols,))[..., :: n_cols + 1]
    scale = RIDGE * diag.mean(axis=-1) + np.finfo(float).tiny
    diag += scale[..., None]
    return ridged


def minorised_gain(hess, grad, step):
    """``sum_k g_k.d_k - d_k^T H_k d_k / 2`` of every run, shape (R,).

    With ``H`` a minorising curvature (plus its ridge), this is a lower
    bound on the gain of the expected complete-data log-likelihood along
    ``step``: a step with a non-negative value never decreases it.
    """
    curved = (add_ridge(hess) @ step[..., None])[..., 0]
    return np.einsum("rkp,rkp->r", step, grad - curved / 2)


def tied_newton_step(hess, grad, shared):
    """Maximiser of ``sum_k g_k.d_k - d_k^T H_k d_k / 2`` with shared entries tied.

    Component k moves by ``d_k``; the entries ``shared`` of every ``d_k`` are
    one common vector. The free blocks are eliminated per component (a Schur
    complement), so the solves stay (p, p) however many components.

    Parameters
    ----------
    hess : ndarray of shape (R, K, p, p)
    grad : ndarray of shape (R, K, p)
    shared : ndarray of shape (p,), bool

    Returns
    -------
    step : ndarray of shape (R, K, p)
    """
    hess = add_ridge(hess)
    if not shared.any():
        return np.linalg.solve(hess, grad[..., None])[..., 0]
    free, tied = np.flatnonzero(~shared), np.flatnonzero(shared)
    h_ff = hess[..., free[:, None], free[None, :]]
    h_fs = hess[..., free[:, None], tied[None, :]]
    h_ss = hess[..., tied[:, None], tied[None, :]]
    g_f, g_s = grad[..., free], grad[..., tied]
    schur, rhs = h_ss.sum(axis=1), g_s.sum(axis=1)
    if len(free):
        solved = np.linalg.solve(h_ff, np.concatenate([h_fs, g_f[..., None]], -1))
        h_sf = np.swapaxes(h_fs, -1, -2)
        schur = schur - (h_sf @ solved[..., :-1]).sum(axis=1)
        rhs = rhs - (h_sf @ solved[..., -1:])[..., 0].sum(axis=1)
    step_s = np.linalg.solve(schur, rhs[..., None])[..., 0]
    step = np.empty_like(grad)
    step[..., tied] = step_s[:, None, :]
    if len(free):
        step[..., free] = (
            solved[..., -1] - (solved[..., :-1] @ step_s[:, None, :, None])[..., 0]
        )
    return step


def observed_derivatives(block, weights, coef, free_weights, hessian=True):
    """Log-likelihood of a mixture, its gradient and Hessian, from one pass.

    The parameters are the coefficients ``coef`` (K, p) and, for the
    components ``free_weights`` (all but a reference one, or none), the
    softmax logits ``a_k = log(w_k / w_ref)`` of the mixing weights. With
    responsibilities ``r_ik``, residuals ``e_ik = s_i - n_i p_ik`` and
    Fisher weights ``F_ik = n_i p_ik (1 - p_ik)``, the Hessian of
    ``sum_i log sum_k w_k f_k(x_i)`` has the coefficient blocks
    ``sum_i x_i x_i' (delta_kj r_ik (e_ik^2 - F_ik) - r_ik e_ik r_ij e_ij)``,
    the cross blocks ``sum_i x_i r_ik e_ik (delta_ka - r_ia)`` and the logit
    block ``sum_i (diag r_i - r_i r_i') - N (diag w - w w')`` (Louis 1982
    worked out for logistic components): all products of one E-step's
    arrays with the design, as the M-step's statistics.

    Parameters
    ----------
    block : RowTable or RowBlock
        Weighted rows with a design.
    weights : ndarray of shape (K,)
        Mixing weights, all positive.
    coef : ndarray of shape (K, p)
        Coefficients.
    free_weights : ndarray of shape (n_free_weights,) of int
        Components whose logit is a parameter.
    hessian : bool, default=True
        Whether to compute the Hessian; without it the pass skips the
        products that only the Hessian needs (about a quarter of its work).

    Returns
    -------
    loglik : float
        Weighted log-likelihood without the row constants.
    grad : ndarray of shape (n_free_weights + K p,)
        Gradient: the logits', then ``coef.ravel()``'s.
    hess : ndarray of shape (n_free_weights + K p, n_free_weights + K p) or None
        None if ``hessian`` is False.
    """
    n_components, n_cols = coef.shape
    n_logits = len(free_weights)
    # The pairs k <= j of coefficient blocks: the diagonal ones first.
    upper_k, upper_j = upper_triangle(n_components)
    off = upper_k != upper_j
    pair_k = np.concatenate([np.arange(n_components), upper_k[off]])
    pair_j = np.concatenate([np.arange(n_components), upper_j[off]])
    n_pairs = len(pair_k)
    loglik, nk = 0.0, np.zeros(n_components)
    hess_coef = np.zeros((n_pairs, n_cols * (n_cols + 1) // 2))
    # The gradient and the cross blocks: one product with the design.
    linear = np.zeros((n_components * (1 + n_logits), n_cols))
    resp_outer = np.zeros((n_components, n_components))
    log_weights = np.log(weights)[:, None]
    rows_p, cols_p = upper_triangle(n_cols)
    for rows in block.blocks():
        X, row_weights = rows.X, rows.weights
        successes, failures = X[:, 0], X[:, 1]
        predictor = Predictor.of(rows, coef)
        eta, tail, trials = predictor.eta, predictor.tail, predictor.trials
        # softplus(eta) = -log(1 - p) = max(eta, 0) + log(1 + exp(-|eta|)),
        # the last term to about 2e-16 absolute: np.log of 1 + tail rather
        # than np.log1p of tail, three times slower without SIMD (AVX2), and
        # the log-likelihood's own terms (s eta) round at least as much.
        large = tail + 1.0
        softplus = np.log(large)
        softplus += np.maximum(eta, 0.0)
        # p and 1 - p, each to its relative precision, from the same tail:
        # max(p, 1 - p) = 1 / (1 + tail), min(p, 1 - p) = tail / (1 + tail).
        np.reciprocal(large, out=large)
        tail *= large
        # p is min(p, 1 - p) plus, where eta >= 0, their difference (the
        # smaller one is then exact, as np.where would give it).
        difference = large - tail
        prob = (eta >= 0) * difference
        prob += tail
        comp = np.less(eta, 0) * difference
        comp += tail
        # log f (without the coefficient) = s eta - n softplus(eta).
        log_joint = eta * successes
        softplus *= trials
        log_joint -= softplus
        log_joint += log_weights
        log_max = log_joint.max(axis=0)
        log_joint -= log_max
        resp = np.exp(log_joint, out=log_joint)
        total = resp.sum(axis=0)
        loglik += row_weights @ (log_max + np.log(total))
        np.divide(row_weights, total, out=total)
        scaled = resp * total
        # residual = s (1 - p) - f p; Fisher weight n p (1 - p).
        residual = comp * successes
        residual -= prob * failures
        nk += scaled.sum(axis=1)
        if not hessian:
            score = np.multiply(residual, scaled, out=residual)
            linear[:n_components] += score @ predictor.columns.T
            continue
        resp *= total / row_weights
        fisher = prob * comp
        fisher *= trials
        resp_outer += scaled @ resp.T
        weighted = np.empty((n_components * (1 + n_logits), X.shape[0]))
        score = np.multiply(residual, scaled, out=weighted[:n_components])
        cross = weighted[n_components:].reshape(n_components, n_logits, len(X))
        np.multiply(score[:, None, :], resp[free_weights], out=cross)
        columns = predictor.columns
        linear += weighted @ columns.T
        # Per pair k <= j: the weight of x_i x_i' in the coefficient block,
        # r_ik (e_ik^2 - F_ik) on the diagonal, else -r_ik e_ik r_ij e_ij.
        scored = residual * resp
        pair = np.empty((n_pairs, X.shape[0]))
        diagonal = np.subtract(residual, scored, out=pair[:n_components])
        diagonal *= score
        scaled *= fisher
        diagonal -= scaled
        between = np.multiply(
            score[pair_k[n_components:]],
            scored[pair_j[n_components:]],
            out=pair[n_components:],
        )
        np.negative(between, out=between)
        hess_coef += pair @ outer_columns(columns).T
    grad_coef = linear[:n_components]
    grad_logits = nk[free_weights] - nk.sum() * weights[free_weights]
    grad = np.concatenate([grad_logits, grad_coef.ravel()])
    if not hessian:
        return float(loglik), grad, None
    hess_cross = -linear[n_components:].reshape(n_components, n_logits, n_cols)
    full = np.empty((n_pairs, n_cols, n_cols))
    full[:, rows_p, cols_p] = hess_coef
    full[:, cols_p, rows_p] = hess_coef
    hess_coef = full
    hess_cross[free_weights, np.arange(n_logits)] += grad_coef[free_weights]
    total_weight = nk.sum()
    hess_logits = np.diag(nk) - resp_outer
    hess_logits -= total_weight * (np.diag(weights) - np.outer(weights, weights))
    n_free = n_logits + n_components * n_cols
    hess = np.empty((n_free, n_free))
    hess[:n_logits, :n_logits] = hess_logits[np.ix_(free_weights, free_weights)]
    cross = np.moveaxis(hess_cross, 1, 0).reshape(n_logits, n_components * n_cols)
    hess[:n_logits, n_logits:] = cross
    hess[n_logits:, :n_logits] = cross.T
    blocks = np.zeros((n_components, n_components, n_cols, n_cols))
    blocks[pair_k, pair_j] = hess_coef
    blocks[pair_j, pair_k] = np.swapaxes(hess_coef, -1, -2)
    hess[n_logits:, n_logits:] = np.moveaxis(blocks, 2, 1).reshape(
        n_components * n_cols, -1
    )
    return float(loglik), grad, hess


class BinomialRegressionFamily(ComponentFamily):
    """Binomial components whose success probability is a logistic regression.

    Component k gives row i, with covariates ``x_i`` (a row of the table's
    ``design``, which holds the intercept column if there is one) and counts
    ``(s_i, f_i)``, the probability ``C(n_i, s_i) p_ik^s_i (1 - p_ik)^f_i``
    with ``p_ik = expit(x_i @ coef_k)``. Parameters: ``coef`` of shape
    ``(K, p)`` (``(R, K, p)`` in the engine); the columns ``shared`` carry the
    same value in every component (flexmix's ``FLXMRglmfix(fixed = ...)``).

    Parameters
    ----------
    shared : array-like of shape (p,), bool, default=None
        Design columns whose coefficient is common to all components; None
        means none.
    curvature : {"certified-newton", "jaakkola-jordan", "bohning", "newton"}, \
            default="certified-newton"
        Curvature of the quadratic that one M-step maximises: the
        Jaakkola-Jordan or Böhning-Lindsay minoriser (monotone), the
        log-likelihood's own Hessian (one IRLS step, not monotone; for
        comparison only), or that Hessian whenever the Jaakkola-Jordan
        minoriser certifies its step (monotone, see the notes).

    Notes
    -----
    There is no closed-form M-step. Each EM iteration takes one
    minorise-maximise step on the expected complete-data log-likelihood,
    which keeps the statistics additive (sums over rows of one pass) and the
    objective monotone. ``log expit`` is minorised at the current linear
    predictor by a quadratic whose curvature is either the constant 1/4 of
    Böhning & Lindsay (1988), or ``tanh(eta / 2) / (2 eta) <= 1/4`` of
    Jaakkola & Jordan (2000), which is tighter and therefore takes longer
    steps. Either way the step is ``coef + B^-1 g`` with
    ``B = sum_i r_ik w_i x_i x_i^T`` and ``g = sum_i r_ik x_i (s_i - n_i p_ik)``;
    shared coefficients sum the bound and gradient over components.

    ``"certified-newton"`` computes the same statistics plus the
    complete-data information ``F = sum_i r_ik n_i p_ik (1 - p_ik) x_i x_i^T``
    (which standard errors need anyway) and takes the Newton (IRLS) step
    ``d = F^-1 g`` of a run whenever the minoriser's value at it,
    ``sum_k g_k.d_k - d_k^T B_k d_k / 2``, is non-negative: that value is a
    lower bound on the step's gain of the complete-data objective, so the
    step is a generalised EM step and the log-likelihood still never
    decreases. Otherwise the run takes the bound step. Near a maximum the
    Newton step is nearly the exact M-step, so EM needs fewer iterations
    (17 instead of 19 with SQUAREM, 18 instead of 26 with plain EM on the
    benchmark's 10^5 rows; see ``docs/performance.rst``).

    References
    ----------
    D. Böhning and B. G. Lindsay (1988). Monotonicity of quadratic-approximation
    algorithms. Annals of the Institute of Statistical Mathematics 40, 641-663.

    T. S. Jaakkola and M. I. Jordan (2000). Bayesian parameter estimation via
    variational methods. Statistics and Computing 10, 25-37.

    D. A. Follmann and D. Lambert (1991). Identifiability of finite mixtures of
    logistic regression models. Journal of Statistical Planning and Inference
    27, 375-381.

    B. Grün and F. Leisch (2008). Finite mixtures of generalized linear
    regression models. In Recent Advances in Linear Models and Related Areas,
    205-230. Physica.
    """

    param_names = ("coef",)
    param_bounds = {"coef": (-np.inf, np.inf)}

    def __init__(self, shared=None, curvature="certified-newton"):
        self.shared = shared
        self.curvature = curvature

    def _shared_mask(self, n_cols):
        if self.shared is None:
            return np.zeros(n_cols, dtype=bool)
        return np.asarray(self.shared, dtype=bool)

    def row_constants(self, block):
        return log_coefficients(block.X)

    def log_prob(self, block, params):
        return self.log_prob_state(block, params)[0]

    def log_prob_state(self, block, params):
        """The densities, and their :class:`Predictor` for :meth:`accumulate`."""
        predictor = Predictor.of(block, params["coef"])
        log_prob = binomial_logit_log_prob(
            block.X, predictor.eta, predictor.tail, predictor.trials
        )
        return log_prob, predictor

    def accumulate(self, block, resp, params, state=None):
        """Gradient (R, K, p), bound and information (R, K, p, p) of the rows.

        ``information`` is ``sum_i r_ik n_i p_ik (1 - p_ik) x_i x_i^T``, the
        complete-data information that standard errors need. ``state`` is
        the :class:`Predictor` of ``params``, if already computed.
        """
        design = block.design
        predictor = Predictor.of(block, params["coef"]) if state is None else state
        columns = predictor.columns
        residual, weights, fisher = binomial_logit_pieces(
            block.X, predictor.eta, self.curvature, predictor
        )
        residual *= resp
        grad = residual @ columns.T
        n_runs = resp.shape[0]
        if self.curvature == "newton":
            fisher *= resp
            information = weighted_outer_sums(fisher, design, columns)
            return {
                "grad": grad,
                "hess": information.copy(),
                "information": information,
            }
        # One product for both curvature sums: the bound and the information.
        weighted = np.empty((2 * n_runs,) + resp.shape[1:])
        np.multiply(resp, weights, out=weighted[:n_runs])
        np.multiply(resp, fisher, out=weighted[n_runs:])
        sums = weighted_outer_sums(weighted, design, columns)
        return {"grad": grad, "hess": sums[:n_runs], "information": sums[n_runs:]}

    def m_step(self, stats, nk, params):
        coef = params["coef"]
        shared = self._shared_mask(coef.shape[-1])
        grad = stats["grad"]
        if self.curvature != "certified-newton":
            return {"coef": coef + tied_newton_step(stats["hess"], grad, shared)}
        # Both steps in one batched solve: the bound's and Newton's.
        steps = tied_newton_step(
            np.concatenate([stats["hess"], stats["information"]]),
            np.concatenate([grad, grad]),
            shared,
        )
        step, newton = np.split(steps, 2)
        certified = minorised_gain(stats["hess"], grad, newton) >= 0
        return {"coef": coef + np.where(certified[:, None, None], newton, step)}

    def log_prior(self, params):
        return np.zeros(params["coef"].shape[0])

    def seeding_features(self, block):
        return row_proportions(block.X)

    def init_params(self, block, weighted_resp):
        """A few Newton steps from 0 on the smoothed counts ``s + 1/2, f + 1/2``.

        On more than ``INIT_ROWS`` rows with responsibilities, the steps use
        every ``m``-th of them only (a start need not be exact, and the steps
        otherwise cost as much as several EM iterations).
        """
        rows = np.flatnonzero(row_sums(weighted_resp) > 0)
        rows = rows[:: max(1, -(-len(rows) // INIT_ROWS))]
        weighted_resp = weighted_resp[rows]
        smoothed = SimpleNamespace(
            X=block.X[rows] + INIT_SMOOTHING, design=block.design[rows]
        )
        newton = BinomialRegressionFamily(self.shared, curvature="newton")
        resp = np.ascontiguousarray(weighted_resp.T)[None]
        params = {"coef": np.zeros((1,) + resp.shape[1:2] + block.design.shape[1:])}
        for _ in range(INIT_STEPS):
            stats = newton.accumulate(smoothed, resp, params)
            params = newton.m_step(stats, resp.sum(axis=-1), params)
        return {"coef": params["coef"][0]}

    def random_params(self, n_components, block, rng):
        """Fits to random, heavily unequal row weights (a few rows dominate each)."""
        weights = rng.gamma(0.1, size=(block.X.shape[0], n_components))
        return self.init_params(block, weights * block.weights[:, None])

    def flatten(self, params):
        coef = params["coef"]
        return coef.reshape(coef.shape[0], -1)

    def unflatten(self, theta, params):
        coef = theta.reshape(params["coef"].shape).copy()
        shared = self._shared_mask(coef.shape[-1])
        coef[..., shared] = coef[..., :1, shared]
        return {"coef": coef}

    def feasible(self, theta):
        return np.isfinite(theta).all(axis=1)

    def n_parameters(self, n_components, n_features):
        """``K p - (K - 1) p_shared``, with ``p = len(shared)`` design columns.

        The engine passes ``n_features``, the number of count columns (2); the
        design width comes from ``shared``, which must then be given in full
        (the estimator always passes it).
        """
        if self.shared is None:
            raise ValueError(
                "n_parameters needs the design width: pass shared as a boolean "
                "mask over every design column."
            )
        shared = np.asarray(self.shared, dtype=bool)
        n_cols, n_shared = len(shared), int(shared.sum())
        return n_components * n_cols - (n_components - 1) * n_shared

    def canonical_order(self, weights, params):
        """Ascending ``coef[:, 0]`` (the intercept), the other columns, weight."""
        coef = params["coef"]
        keys = [-weights] + [coef[:, c] for c in range(coef.shape[1] - 1, -1, -1)]
        return np.lexsort(keys)

    def identifiability_problem(self, block, n_components):
        """Check the design's rank and the sufficient trials condition.

        Binary rows (one trial) cannot identify a mixture: a mixture of
        Bernoullis is a Bernoulli. Follmann & Lambert (1991) show that a
        mixture of K logistic regressions is identifiable when there are
        enough rows with at least ``2K - 1`` trials; this checks the form
        flexmix's authors use (Grün & Leisch 2008): the rows with at least
        ``2K - 1`` trials have a design of full column rank. The condition is
        sufficient, not necessary, so a message means "may not be
        identifiable". Groups (rows sharing a component) are not taken into
        account.
        """
        # Masks are applied only when they drop rows: on large tables the
        # copies cost as much as an EM iteration.
        positive = block.weights > 0
        design, X = block.design, block.X
        if not positive.all():
            design, X = design[positive], X[positive]
        trials = row_sums(X)
        n_cols = design.shape[1]
        if not full_column_rank(design):
            return (
                f"The design has rank below its {n_cols} columns: the "
                "coefficients are not identifiable even with one component."
            )
        needed = 2 * n_components - 1
        eligible = trials >= needed
        if needed <= 1 or eligible.all() or full_column_rank(design[eligible]):
            return None
        rank = np.linalg.matrix_rank(design[eligible])
        return (
            f"A mixture of {n_components} binomial regressions may not be "
            f"identifiable from these data: the rows with at least "
            f"2 * n_components - 1 = {needed} trials have a design of rank {rank} "
            f"< {n_cols} (Follmann & Lambert 1991). Rows with one trial never "
            "identify a mixture; use fewer components, rows with more trials, or "
            "groups of rows that share a component."
        )

    def sample(self, params, components, n_trials, rng, design=None):
        """Counts drawn from ``components`` (n,) at the covariates ``design`` (n, p)."""
        if design is None:
            raise ValueError("Sampling binomial regressions needs the design rows.")
        eta = np.einsum("ij,ij->i", design, params["coef"][components])
        successes = rng.binomial(n_trials, expit(eta))
        return np.column_stack([successes, n_trials - successes])

    def interval_scales(self, params):
        """Wald intervals: coefficients are unbounded (log-odds)."""
        return {"coef": "wald"}

    # ------------------------------------------------------------ Louis
    def free_basis(self, params, nk, stats):
        """Every coefficient of a component with data; shared ones once.

        Coordinates: the free coefficients of each non-empty component in
        order, then the shared coefficients. A component with expected size
        below ``BOUNDARY_COUNT`` is empty: its free coefficients are held
        fixed (boundary), never in the basis.
        """
        coef = params["coef"]
        n_components, n_cols = coef.shape
        shared = self._shared_mask(n_cols)
        empty = nk < BOUNDARY_COUNT
        index = np.full((n_components, n_cols), -1)
        free = ~empty[:, None] & ~shared[None, :]
        index[free] = np.arange(free.sum())
        n_free = int(free.sum())
        if not empty.all():
            index[:, shared] = n_free + np.arange(shared.sum())
            n_free += int(shared.sum())
        boundary = np.broadcast_to(empty[:, None] & ~shared, coef.shape).copy()
        if empty.all():
            boundary[:] = True
        return Bunch(
            n_free=n_free, index=index, boundary={"coef": boundary}, empty=empty
        )

    def complete_scores(self, block, params, basis):
        """``x_ij (s_i - n_i p_ik)`` for coefficient j of component k."""
        coef = params["coef"]
        eta = block.design @ coef.T
        residual, _, _ = binomial_logit_pieces(block.X, eta.T, "newton")
        comp, col = np.nonzero(basis.index >= 0)
        scores = np.zeros((block.X.shape[0], coef.shape[0], basis.n_free))
        scores[:, comp, basis.index[comp, col]] = (
            block.design[:, col] * residual[comp].T
        )
        return scores

    def complete_information(self, params, nk, stats, basis):
        """``sum_k J_k^T I_k J_k`` with ``I_k`` the statistic ``information``."""
        jac = self.delta_jacobians(params, basis)["coef"]
        return np.einsum("kpa,kpq,kqb->ab", jac, stats["information"], jac)

    def delta_jacobians(self, params, basis):
        coef = params["coef"]
        jac = np.zeros(coef.shape + (basis.n_free,))
        comp, col = np.nonzero(basis.index >= 0)
        jac[comp, col, basis.index[comp, col]] = 1.0
        return {"coef": jac}
