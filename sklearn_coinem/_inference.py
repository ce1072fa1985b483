"""Information criteria, observed information (Louis 1982) and standard errors."""

import warnings

import numpy as np
from scipy.linalg import lapack
from scipy.sparse import csr_array
from scipy.sparse.linalg import eigsh
from scipy.special import expit
from scipy.stats import norm
from sklearn.utils import Bunch

from sklearn_coinem._estep import (
    add_statistics,
    estimate_log_resp,
    log_joint,
    sufficient_statistics,
)
from sklearn_coinem._numerics import safe_log
from sklearn_coinem._profile import maximise, profile_bounds
from sklearn_coinem._solver import single_blas_thread

# Expected rows below which a weight is treated as lying on the boundary of
# the parameter space: far below one observation, far above what the default
# pseudo-count leaves behind. Counted in rows of the mean weight, so that
# the test does not depend on the scale of sample_weight.
_BOUNDARY_COUNT = 1e-3

# Log responsibility (relative to the row's largest) below which a
# responsibility counts as 0: exp(-345) is about 1e-150, so that the products
# of two stay normal floating-point numbers (above 1e-308).
_NEGLIGIBLE_LOG_RESP = -345.0

# Free component coordinates up to which one product also gives the
# within-component sums (it costs (K + 2P)**2 per row instead of
# (K + P)**2 + sum_k P_k**2, but saves a call per component).
_FEW_COORDINATES = 16

# Relative eigenvalue below which the observed information counts as singular.
_SINGULAR_RCOND = 1e-10

# Distance (in standard errors) from the maximum of the likelihood beyond
# which intervals centred on the estimate lose noticeable coverage (about 95%
# -> 94.6% at 0.2).
_MAX_NEWTON_DECREMENT = 0.2


# A component with a mixing weight below this, or less than one expected row
# (weight times the number of rows), describes (almost) no data.
_COLLAPSED_WEIGHT = 1e-6

# Relative tolerance under which two components' parameters coincide. EM
# merges duplicated components only as fast as it converges along the flat
# ridge between them: at the default tol they stay up to about 1e-3
# relative apart (simulated overdispersed data whose likelihood has two
# support points, fitted with 4 and 5 components). Telling apart two
# binomial components 1e-2 relative apart takes of the order of
# 1e5 * (1 - p) / p trials per component, far more than such data have.
_COINCIDE_RTOL = 1e-2


def collapsed_components(weights, params, n_rows):
    """Say which fitted components coincide or have (almost) no weight.

    Parameters
    ----------
    weights : ndarray of shape (n_components,)
        Mixing weights.
    params : dict
        Component parameters (no run axis), each with a leading component axis.
    n_rows : int
        Number of rows with positive weight the mixture was fitted on.

    Returns
    -------
    note : str
        "" when every component is distinct and has data; otherwise the
        pairs of coinciding components (0-based) and the empty components.
    """
    n_components = len(weights)
    # Coinciding is taken transitively: each group is listed once.
    group = np.arange(n_components)
    for k in range(n_components):
        for j in range(k + 1, n_components):
            if all(_coincide(value[k], value[j]) for value in params.values()):
                group[group == group[j]] = group[k]
    parts = []
    for label in np.unique(group):
        members = np.flatnonzero(group == label).tolist()
        if len(members) > 1:
            listed = ", ".join(map(str, members[:-1])) + f" and {members[-1]}"
            parts.append(f"components {listed} coincide")
    for k in np.flatnonzero((weights < _COLLAPSED_WEIGHT) | (weights * n_rows < 1)):
        parts.append(
            f"component {k} has almost no weight ({weights[k]:.2g}, "
            f"{weights[k] * n_rows:.2g} expected rows)"
        )
    return "; ".join(parts)


def _coincide(first, second):
    """Whether two parameter arrays agree to ``_COINCIDE_RTOL`` relative."""
    scale = np.maximum(np.abs(first), np.abs(second))
    return bool(np.all(np.abs(first - second) <= _COINCIDE_RTOL * scale))


def n_parameters(family, n_components, n_features, update_weights=True):
    """Number of free parameters of a mixture of ``family`` components.

    ``n_components - 1`` mixing weights (none when they are held fixed) plus
    the family's free parameters (``n_features - 1`` outcome probabilities
    per multinomial component).
    """
    n_weights = n_components - 1 if update_weights else 0
    return n_weights + family.n_parameters(n_components, n_features)


def _batched(weights, params):
    """Parameters without a run axis, as a batch of one run."""
    return safe_log(weights)[None], {name: v[None] for name, v in params.items()}


def _log_resp(table, family, weights, params):
    """Per-row log p(x) (without the row constant) and log responsibilities."""
    log_norm, log_resp = estimate_log_resp(table, family, *_batched(weights, params))
    return log_norm[:, 0], log_resp[:, 0]


def _criteria_sums(table, family, weights, params):
    """Weighted sums of log p(x) (no row constant) and of log max_k r_ik."""
    log_norm, log_resp = _log_resp(table, family, weights, params)
    return table.weights @ log_norm, table.weights @ log_resp.max(axis=1)


def information_criteria(table, family, weights, params, update_weights=True):
    """AIC, BIC and ICL of a mixture on a weighted count table.

    All three follow the "smaller is better" convention of R's flexmix
    (``AIC``, ``BIC`` and ``ICL`` methods for ``flexmix`` objects) and of
    :meth:`sklearn.mixture.GaussianMixture.bic`.

    Parameters
    ----------
    table : RowTable or DaskCountTable
        Distinct rows and their weights (kept on dask workers for a
        ``DaskCountTable``: the row sums are then reduced there).
    family : ComponentFamily
        The component densities.
    weights : ndarray of shape (n_components,)
        Mixing weights.
    params : dict
        Component parameters (no run axis).
    update_weights : bool, default=True
        Whether the weights were estimated (they then count as parameters).

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        ``log_likelihood`` (full, with the multinomial coefficient),
        ``n_parameters``, ``n_obs`` (total weight), ``entropy`` (the
        classification entropy ``-sum_i w_i log max_k r_ik``), ``aic``,
        ``bic`` and ``icl``.

    Notes
    -----
    ``aic = -2 L + 2 p`` and ``bic = -2 L + p log(n)``, with ``n`` the number
    of rows (the sum of the sample weights when weighted, as flexmix's
    ``nobs``). This is flexmix's convention for intercept-only binomial
    components (``FLXMRglm(family="binomial")``): their log-likelihood is
    ``dbinom(..., log=TRUE)``, with the binomial coefficient, and their
    ``df`` is 1 each, plus ``k - 1`` for the prior weights.
    ``icl = -2 L_c + p log(n)`` with ``L_c`` the complete-data
    log-likelihood of the maximum a posteriori classification, as flexmix's
    ``ICL``/``clogLik`` and mclust's ``icl`` compute it; equivalently
    ``bic + 2 * entropy`` with the hard-assignment entropy above (Biernacki,
    Celeux & Govaert 2000).

    Checked against flexmix 2.3-20, ``R/infocrit.R``: ``nobs`` is the number
    of rows or ``sum(weights)``, ``ICL = -2 * clogLik + df * log(nobs)`` and
    ``clogLik`` sums ``log(prior_k f_k(x_i))`` (the unscaled posterior) at
    each row's most probable component. One difference: flexmix's
    ``clogLik`` ignores the weights, while here each row's term is weighted,
    so that integer weights give the ICL of the repeated rows, as they do
    for the log-likelihood in both packages.
    """
    log_norm_sum, max_log_resp_sum = table.map_reduce(
        _criteria_sums, family, weights, params
    )
    log_likelihood = float(log_norm_sum) + table.constant_sum
    entropy = -float(max_log_resp_sum)
    p = n_parameters(family, len(weights), table.X.shape[1], update_weights)
    n_obs = table.total_weight
    bic = -2.0 * log_likelihood + p * np.log(n_obs)
    return Bunch(
        log_likelihood=log_likelihood,
        n_parameters=p,
        n_obs=n_obs,
        entropy=entropy,
        aic=-2.0 * log_likelihood + 2.0 * p,
        bic=bic,
        icl=bic + 2.0 * entropy,
    )


def _free_basis(family, weights, params, nk, stats, update_weights, row_weight):
    """Choose a free basis and flag the estimates on the boundary.

    The weights drop their largest entry (the reference, one minus the
    others); weights with fewer than ``_BOUNDARY_COUNT`` expected rows are
    boundary values, held fixed. The family chooses the basis of its own
    parameters; its coordinates follow the weights'. Both tests see the
    expected statistics in units of ``row_weight``, the mean weight of a
    row, so that rescaling ``sample_weight`` changes no decision.
    """
    n_components = len(weights)
    nk = nk / row_weight
    stats = {name: value / row_weight for name, value in stats.items()}
    weight_boundary = nk < _BOUNDARY_COUNT
    ref_weight = int(np.argmax(weights))
    free_weights = np.flatnonzero(
        ~weight_boundary & (np.arange(n_components) != ref_weight)
    )
    if not update_weights:
        free_weights = free_weights[:0]
    component = family.free_basis(params, nk, stats)
    return Bunch(
        weights=free_weights,
        ref_weight=ref_weight,
        weight_boundary=weight_boundary,
        component=component,
        n_free=len(free_weights) + component.n_free,
    )


def _weight_scores(weights, free):
    """Complete-data scores of the free weights given each component, (n_w, K).

    With ``z = k``, the log-likelihood is ``log w_k + log f_k(x)``; its
    derivative in a free weight ``j`` (reference ``r``) is
    ``[k = j] / w_j - [k = r] / w_r``, the same for every row.
    """
    comps = np.arange(len(weights))
    scores = (comps == free.weights[:, None]) / weights[free.weights][:, None]
    scores -= (comps == free.ref_weight) / weights[free.ref_weight]
    return scores


def _complete_scores(block, family, weights, params, free):
    """Complete-data score of each row given each component, (n, K, P)."""
    n_weights = len(free.weights)
    component_scores = family.complete_scores(block, params, free.component)
    scores = np.empty(component_scores.shape[:2] + (free.n_free,))
    scores[:, :, :n_weights] = _weight_scores(weights, free).T
    scores[:, :, n_weights:] = component_scores
    return scores


def _complete_information(family, weights, params, nk, stats, free):
    """Expected complete-data information given the data, in the free basis.

    ``diag(n_j / w_j**2) + n_r / w_r**2`` for the weights, the family's block
    for its parameters (the two blocks do not interact).
    """
    n_weights = len(free.weights)
    info = np.zeros((free.n_free, free.n_free))
    w_idx = np.arange(n_weights)
    info[w_idx, w_idx] = nk[free.weights] / weights[free.weights] ** 2
    info[:n_weights, :n_weights] += nk[free.ref_weight] / weights[free.ref_weight] ** 2
    info[n_weights:, n_weights:] = family.complete_information(
        params, nk, stats, free.component
    )
    return info


def _expected_statistics(table, family, weights, params):
    """Expected component sizes ``nk`` (K,) and family statistics at ``params``."""
    nk, stats, _ = sufficient_statistics(table, family, *_batched(weights, params))
    return nk[0], {name: value[0] for name, value in stats.items()}


def _block_rows(family, params):
    """Rows per block of the information's passes.

    Small enough that the per-row arrays of a block (``K + 2P`` rows of
    responsibilities and scores for few coordinates) stay in a core's cache
    between the passes over them, large enough that the products run at
    speed and the per-block costs (the family's tables) stay small; chosen
    with ``benchmarks/bench_information.py``.
    """
    return max(8192, (1 << 20) // _n_coordinates(family, params))


def _n_coordinates(family, params):
    """Weights plus the family's flat coordinates: at least the free ones."""
    batched = {name: value[None] for name, value in params.items()}
    return len(next(iter(params.values()))) + family.flatten(batched).shape[1]


def _block_resp(block, family, weights, params):
    """Responsibilities of one block, (K, n), as the E-step computes them.

    Those below ``exp(_NEGLIGIBLE_LOG_RESP)`` are set to 0: their products
    would be subnormal numbers, on which the arithmetic runs many times
    slower, and their terms are far below the rounding of the sums.
    """
    log_resp, log_max, _ = log_joint(block, family, *_batched(weights, params))
    shifted = log_resp[0]
    shifted -= log_max[0]
    shifted[shifted < _NEGLIGIBLE_LOG_RESP] = -np.inf
    resp = np.exp(shifted, out=shifted)
    resp /= resp.sum(axis=0)
    return resp


def _information_work(table, family, params):
    """Multiply-adds of the information's largest products, for the BLAS limit."""
    n_components = len(next(iter(params.values())))
    n_free = _n_coordinates(family, params)
    return table.n_distinct * max(n_free**2, n_components * table.X.shape[1])


def _is_distributed(table):
    """Whether ``map_reduce`` sums over chunks on dask workers."""
    from sklearn_coinem._dask import DaskCountTable

    return isinstance(table, DaskCountTable)


def observed_information(
    table, family, weights, params, update_weights=True, row_weight=1.0
):
    """Observed information of the free parameters by Louis' (1982) formula.

    ``I(theta) = E[B_c | x] - Cov[S_c | x]``: the expected complete-data
    information minus the conditional covariance of the complete-data score,
    summed over the (weighted) rows; rows are independent, so the covariance
    is the sum of the per-row covariances ``sum_k r_ik g_ik g_ik' - s_i s_i'``.

    One pass of the E-step gives the responsibilities, the expected
    statistics and, from them, the free basis; the score moments reuse the
    same responsibilities (a table on dask workers takes a second pass).

    Parameters
    ----------
    table : RowTable or DaskCountTable
        Distinct rows and their weights (kept on dask workers for a
        ``DaskCountTable``: the row sums are then reduced there).
    family : ComponentFamily
        The component densities, with the Louis hooks.
    weights : ndarray of shape (n_components,)
        Mixing weights.
    params : dict
        Component parameters (no run axis).
    update_weights : bool, default=True
        Whether the weights are parameters.
    row_weight : float, default=1.0
        Mean weight of a row (total weight over the rows of positive weight):
        the unit of the boundary tests.

    Returns
    -------
    information : ndarray of shape (n_free, n_free)
        Minus the Hessian of the log-likelihood in the free basis.
    score : ndarray of shape (n_free,)
        Gradient of the log-likelihood in the free basis, ``sum_i w_i s_i``
        (zero at a maximum).
    free : Bunch
        The free basis: the free weights, the family's basis
        (``free.component``), the reference entries, and the boundary flags.
    """

    def basis(nk, stats):
        return _free_basis(
            family, weights, params, nk, stats, update_weights, row_weight
        )

    with single_blas_thread(_information_work(table, family, params)):
        if _is_distributed(table):
            nk, stats = table.map_reduce(_expected_statistics, family, weights, params)
            free = basis(nk, stats)
            covariance, score = table.map_reduce(
                _score_moments, family, weights, params, free
            )
        else:
            nk, stats, free, covariance, score = _local_sums(
                table, family, weights, params, basis
            )
        info = _complete_information(family, weights, params, nk, stats, free)
    info -= covariance
    return (info + info.T) / 2, score, free


def _local_sums(table, family, weights, params, basis):
    """E-step statistics, free basis and score moments from one E-step.

    ``basis(nk, stats)`` chooses the free basis from the statistics of the
    whole table; the score moments in it reuse the responsibilities.
    """
    blocks, nk, stats = _statistics_blocks(table, family, weights, params)
    stats = {name: value[0] for name, value in stats.items()}
    free = basis(nk, stats)
    covariance, score = _moment_sums(blocks, family, weights, params, free)
    return nk, stats, free, covariance, score


def _statistics_blocks(table, family, weights, params):
    """The blocks with their responsibilities, and the summed ``nk`` and stats.

    The responsibilities (``K`` numbers per distinct row) are kept for the
    score moments, so that the E-step runs once.
    """
    blocks, nk, stats = [], 0.0, None
    batched = {name: value[None] for name, value in params.items()}
    for block in table.blocks(_block_rows(family, params)):
        resp = _block_resp(block, family, weights, params)
        weighted = resp * block.weights
        block_stats = family.accumulate(block, weighted[None], batched)
        nk = nk + weighted.sum(axis=1)
        stats = block_stats if stats is None else add_statistics(stats, block_stats)
        blocks.append((block, resp))
    return blocks, nk, stats


def _fixed_basis_sums(table, family, weights, params, free):
    """``nk``, statistics, score covariance and score in a known basis, one pass.

    Sums over the rows: ``map_reduce`` adds them over the chunks of a table.
    """
    blocks, nk, stats = _statistics_blocks(table, family, weights, params)
    covariance, score = _moment_sums(blocks, family, weights, params, free)
    return nk, stats, covariance, score


def _score_moments(table, family, weights, params, free):
    """Summed conditional covariance of the complete-data scores, and the score.

    ``sum_i w_i (sum_k r_ik g_ik g_ik' - s_i s_i')`` and ``sum_i w_i s_i``
    with ``s_i = sum_k r_ik g_ik``, in blocks of rows.
    """
    rows = _block_rows(family, params)
    blocks = (
        (block, _block_resp(block, family, weights, params))
        for block in table.blocks(rows)
    )
    return _moment_sums(blocks, family, weights, params, free)


def _moment_sums(blocks, family, weights, params, free):
    """Sum of :func:`_block_moments` over ``(block, resp)`` pairs."""
    covariance, score = np.zeros((free.n_free, free.n_free)), np.zeros(free.n_free)
    for block, resp in blocks:
        block_covariance, block_score = _block_moments(
            block, family, weights, params, free, resp
        )
        covariance += block_covariance
        score += block_score
    return covariance, score


def _block_moments(block, family, weights, params, free, resp):
    """Score covariance and score of one block given its responsibilities (K, n).

    With the family's per-component scores (``component_scores``), each
    component's scores ``h_ik`` live on its own coordinates and the weights'
    scores ``a_k`` are constants: one symmetric product of the stacked
    ``sqrt(w_i) [r_ik; r_ik h_ik]`` gives ``sum_i w_i r_ik r_il``, the cross
    terms and ``sum_i w_i s_i s_i'`` on the components' coordinates, and
    each component adds ``sum_i w_i r_ik h_ik h_ik'``. Otherwise the dense
    (n, K, P) complete-data scores are used.
    """
    component = family.component_scores(block, params, free.component)
    if component is None:
        return _dense_moments(block, family, weights, params, free, resp)
    scores, owner = component
    n_components, n_weights = len(resp), len(free.weights)
    order = np.argsort(owner, kind="stable")
    if np.any(order != np.arange(len(order))):
        scores, owner = scores[order], owner[order]
    bounds = np.searchsorted(owner, np.arange(n_components + 1))
    sqrt_weights = np.sqrt(block.weights)
    root_resp = np.sqrt(resp) * sqrt_weights
    n_coords = len(owner)
    few = n_coords <= _FEW_COORDINATES
    # Rows: sqrt(w) r_k, sqrt(w) r_k h_k and (few coordinates) sqrt(w r_k) h_k.
    stacked = np.empty((n_components + n_coords * (1 + few), resp.shape[1]))
    means = slice(n_components, n_components + n_coords)
    roots = slice(n_components + n_coords, n_components + 2 * n_coords)
    np.multiply(resp, sqrt_weights, out=stacked[:n_components])
    for k in range(n_components):
        rows = slice(bounds[k], bounds[k + 1])
        np.multiply(scores[rows], stacked[k], out=stacked[means][rows])
        if few:
            np.multiply(scores[rows], root_resp[k], out=stacked[roots][rows])
    products = stacked @ stacked.T
    resp_pairs = products[:n_components, :n_components]
    cross = products[:n_components, means]
    # The r_ik of a row sum to 1: the sizes and the score from the same product.
    nk = resp_pairs.sum(axis=0)
    component_score = cross.sum(axis=0)
    if few:
        within = np.where(owner[:, None] == owner, products[roots, roots], 0.0)
    else:
        within = np.zeros((n_coords, n_coords))
        for k in range(n_components):
            rows = slice(bounds[k], bounds[k + 1])
            root = scores[rows] * root_resp[k]
            within[rows, rows] = root @ root.T
    coef = _weight_scores(weights, free)
    own = owner == np.arange(n_components)[:, None]
    covariance = np.empty((free.n_free, free.n_free))
    covariance[:n_weights, :n_weights] = coef @ (np.diag(nk) - resp_pairs) @ coef.T
    weights_cross = coef @ (own * component_score - cross)
    coords = n_weights + order
    covariance[:n_weights, coords] = weights_cross
    covariance[coords, :n_weights] = weights_cross.T
    covariance[np.ix_(coords, coords)] = within - products[means, means]
    score = np.empty(free.n_free)
    score[:n_weights] = coef @ nk
    score[coords] = component_score
    return covariance, score


def _dense_moments(block, family, weights, params, free, resp):
    """:func:`_block_moments` from the dense complete-data scores (n, K, P).

    A component's scores are zero outside its own coordinates (and the
    weights'): the first sum is taken over each component's support only.
    """
    n_free = free.n_free
    resp = resp.T
    covariance = np.zeros((n_free, n_free))
    scores = _complete_scores(block, family, weights, params, free)
    root_weight = np.sqrt(resp * block.weights[:, None])
    mean_scores = np.zeros((scores.shape[0], n_free))
    for k in range(scores.shape[1]):
        support = np.flatnonzero(np.any(scores[:, k] != 0, axis=0))
        component = scores[:, k, support]
        root = root_weight[:, k, None] * component
        covariance[np.ix_(support, support)] += root.T @ root
        mean_scores[:, support] += resp[:, k, None] * component
    score = block.weights @ mean_scores
    mean_scores *= np.sqrt(block.weights)[:, None]
    covariance -= mean_scores.T @ mean_scores
    return covariance, score


def _delta_jacobians(family, weights, params, free):
    """Linear maps from the free basis to all weights and all parameters."""
    n_weights = len(free.weights)
    jac_w = np.zeros((len(weights), free.n_free))
    jac_w[free.weights, np.arange(n_weights)] = 1.0
    jac_w[free.ref_weight, :n_weights] = -1.0
    jacobians = {"weights": jac_w}
    for name, jac in family.delta_jacobians(params, free.component).items():
        full = np.zeros(jac.shape[:-1] + (free.n_free,))
        full[..., n_weights:] = jac
        jacobians[name] = full
    return jacobians


def _parameter_status(weights, params, free, update_weights):
    """Why each estimate has (or lacks) a standard error: name -> str array."""
    n_components = len(weights)
    weight_status = np.full(n_components, "estimated", dtype=object)
    if not update_weights or n_components == 1:
        weight_status[:] = "fixed"
    else:
        weight_status[free.weight_boundary] = "boundary"
        if len(free.weights) == 0:
            weight_status[free.ref_weight] = "boundary"
    status = {"weights": weight_status}
    for name, value in params.items():
        boundary = free.component.boundary[name]
        param_status = np.where(boundary, "boundary", "estimated").astype(object)
        param_status[free.component.empty] = "empty component"
        status[name] = param_status
    return status


_STATUS_MESSAGES = {
    "boundary": "some estimates lie on the boundary of the parameter space (a "
    "probability at 0 or 1, or a weight at 0); a Wald interval is meaningless "
    "there, so their standard errors are NaN and the others are computed with "
    "them held fixed",
    "empty component": "some components have (almost) no rows, so their outcome "
    "probabilities are not identified; their standard errors are NaN",
    "near boundary": "the Wald intervals of some estimates cross 0 or 1 (a "
    "weight or probability close to the edge, e.g. a component of a few rows): "
    "their standard errors are reported, marked 'near boundary', but so close "
    "to the edge the likelihood is far from quadratic and no interval from "
    "the information (the default logit ones included) has the nominal "
    "coverage",
    "singular information": "the observed information matrix is singular or "
    "not positive definite (the data do not identify the parameters, e.g. too "
    "many components, duplicated components or a fit that has not converged); "
    "all standard errors are NaN",
}


def _covariance(info):
    """Inverse of the information, or None when it is not positive definite.

    The test runs on the information rescaled to unit diagonal, so that
    parameters on very different scales (a weight and a rare outcome's
    probability) do not pass for a singular matrix: the rescaled matrix must
    have a Cholesky factor and a smallest eigenvalue above
    ``_SINGULAR_RCOND``, that is its inverse a largest eigenvalue below
    ``1 / _SINGULAR_RCOND``. The inverse comes from the Cholesky factor, a
    third of the work of an eigen-decomposition.
    """
    if info.size == 0:
        return info
    diag = np.diag(info)
    if not np.all(np.isfinite(info)) or np.any(diag <= 0):
        return None
    scale = 1.0 / np.sqrt(diag)
    scaled = info * np.outer(scale, scale)
    # On shared cores threaded OpenBLAS spins in the factorisations too (a
    # 1600 x 1600 one many times slower than on one thread).
    with single_blas_thread(info.size):
        factor, failed = lapack.dpotrf(scaled, lower=1)
        if failed:
            return None
        inverse, failed = lapack.dpotri(factor, lower=1)
        if failed:
            return None
        # dpotri fills the lower triangle; dpotrf zeroed the upper one.
        inverse = inverse + inverse.T
        inverse[np.diag_indices_from(inverse)] /= 2
        if not _largest_eigenvalue_below(inverse, 1.0 / _SINGULAR_RCOND):
            return None
    return inverse * np.outer(scale, scale)


def _largest_eigenvalue_below(matrix, bound):
    """Whether a symmetric positive definite matrix has all eigenvalues below bound.

    Its largest eigenvalue lies between its largest diagonal entry and its
    trace, which settle most cases; otherwise Lanczos iterations find it, in
    O(P^2) each.
    """
    diag = np.diag(matrix)
    if diag.sum() < bound:
        return True
    if diag.max() >= bound or len(matrix) < 3:
        return bool(np.linalg.eigvalsh(matrix)[-1] < bound)
    return bool(eigsh(matrix, k=1, which="LA", return_eigenvectors=False)[0] < bound)


def standard_errors(
    table,
    family,
    weights,
    params,
    *,
    update_weights=True,
    confidence=0.95,
    interval="logit",
    feature_names=None,
    row_weight=1.0,
):
    """Standard errors and confidence intervals of all weights and parameters.

    The covariance of the free parameters is the inverse observed information
    (:func:`observed_information`); the delta method carries it to every
    weight and every component parameter (exactly, for parameters that are
    linear in the free ones, as the multinomial probabilities).

    Parameters
    ----------
    table : RowTable or DaskCountTable
        Distinct rows and their weights (kept on dask workers for a
        ``DaskCountTable``: the row sums are then reduced there).
    family : ComponentFamily
        The component densities, with the Louis hooks.
    weights : ndarray of shape (n_components,)
        Mixing weights.
    params : dict
        Component parameters (no run axis).
    update_weights : bool, default=True
        If False the weights are known constants: standard error 0.
    confidence : float, default=0.95
        Coverage of the two-sided intervals.
    interval : {"logit", "wald", "profile"}, default="logit"
        Scale of the intervals: the family's choice per parameter
        (``family.interval_scales``; the weights always on the logit scale),
        plain Wald intervals clipped to the parameter's range for all, or
        profile-likelihood intervals (:func:`profile_intervals`) for every
        estimate with a standard error.
    feature_names : sequence of str, default=None
        Names of the outcome columns for the table.
    row_weight : float, default=1.0
        Mean weight of a row, the unit of the boundary tests.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        See :meth:`BinomialMixture.standard_errors`; one entry ``name``,
        ``name_ci`` and ``name_status`` for the weights and for each of the
        family's parameters.
    """
    info, score, free = observed_information(
        table, family, weights, params, update_weights, row_weight
    )
    covariance = _covariance(info)
    status = _parameter_status(weights, params, free, update_weights)
    if covariance is None:
        for value in status.values():
            value[value == "estimated"] = "singular information"
        covariance = np.full_like(info, np.nan)
    half = norm.ppf(0.5 + confidence / 2)
    estimates = {"weights": weights, **params}
    bounds = {"weights": (0.0, 1.0), **family.param_bounds}
    scales = {"weights": "logit", **family.interval_scales(params)}
    if interval == "wald":
        scales = dict.fromkeys(scales, "wald")
    result = Bunch(
        confidence=confidence,
        interval=interval,
        information=info,
        covariance=covariance,
    )
    for name, jac in _delta_jacobians(family, weights, params, free).items():
        # Each natural parameter depends on few free ones: a sparse product
        # is O(P^2), where the dense one was O(K * C * P^2).
        flat = csr_array(jac.reshape(int(np.prod(jac.shape[:-1])), free.n_free))
        variance = np.asarray((flat @ covariance * flat).sum(axis=1)).ravel()
        std_error = np.sqrt(np.maximum(variance, 0.0)).reshape(jac.shape[:-1])
        std_error = np.where(status[name] == "estimated", std_error, np.nan)
        std_error[status[name] == "fixed"] = 0.0
        _flag_near_boundary(
            status[name], estimates[name], std_error, half, bounds[name]
        )
        result[name] = std_error
        result[f"{name}_ci"] = _interval(
            estimates[name], std_error, half, bounds[name], scales[name]
        )
        result[f"{name}_status"] = status[name].astype(str)
    if interval == "profile" and not np.isnan(covariance).any():
        profiled = profile_intervals(
            table, family, weights, params, free, status, confidence
        )
        for name, ci in profiled.items():
            known = ~np.isnan(ci[..., 0])
            result[f"{name}_ci"][known] = ci[known]
    result.newton_decrement = float(np.sqrt(max(score @ covariance @ score, 0.0)))
    result.message = _explain(status, result.newton_decrement)
    result.table = _tidy_table(estimates, result, feature_names)
    return result


def profile_intervals(table, family, weights, params, free, status, confidence):
    """Profile-likelihood intervals of every weight and parameter entry.

    The interval of an entry ``psi`` holds the values where twice the drop
    of the profile log-likelihood (the log-likelihood maximised over all
    other free parameters with ``psi`` held) stays below the
    chi-square(1) quantile (Venzon & Moolgavkar 1988). The free basis of
    the observed information is the chart: every natural parameter is
    affine in its coordinates (``_delta_jacobians``), and Louis' formula
    gives the score and information at any point of it, so the nuisance
    maximisation is Newton's method. The profile keeps the components in
    their fitted order (``family.canonical_order``), the identifiability
    constraint without which a weight's profile would pass through the
    relabelled maximum. An entry that is an affine function of
    one already profiled (the reference weight with two components, the
    second probability of a coin) takes that entry's interval, mapped.

    Parameters
    ----------
    table, family, weights, params
        As for :func:`standard_errors`.
    free : Bunch
        The free basis (:func:`observed_information`).
    status : dict
        ``name -> str array``; only "estimated" and "near boundary" entries
        are profiled.
    confidence : float
        Coverage of the two-sided intervals.

    Returns
    -------
    intervals : dict
        ``name -> ndarray of shape estimate.shape + (2,)``, NaN where the
        entry was not profiled.
    """
    estimates = {"weights": weights, **params}
    bounds = {"weights": (0.0, 1.0), **family.param_bounds}
    jacobians = _delta_jacobians(family, weights, params, free)
    chart = _Chart(table, family, weights, params, free, jacobians, bounds)
    delta_max, _, info_max, _ = maximise(
        chart.loglik, chart.derivatives, chart.inside, np.zeros(free.n_free)
    )
    half = norm.ppf(0.5 + confidence / 2)
    done = []
    intervals = {}
    for name, jac in jacobians.items():
        rows = jac.reshape(-1, free.n_free)
        flat_estimate = np.ravel(estimates[name])
        flat_status = np.ravel(status[name])
        ci = np.full((len(rows), 2), np.nan)
        for i, direction in enumerate(rows):
            if flat_status[i] not in ("estimated", "near boundary"):
                continue
            if not np.any(direction):
                continue
            offsets = _mapped_offsets(done, direction)
            if offsets is None:
                low, high = np.asarray(bounds[name]) - flat_estimate[i]
                offsets = profile_bounds(
                    chart.loglik,
                    chart.derivatives,
                    chart.inside,
                    delta_max,
                    direction,
                    (low, high),
                    half,
                    np.sqrt(direction @ np.linalg.solve(info_max, direction)),
                )
                done.append((direction, offsets))
            ci[i] = flat_estimate[i] + offsets
        intervals[name] = ci.reshape(np.shape(estimates[name]) + (2,))
    return intervals


def _mapped_offsets(done, direction):
    """Bounds of ``direction @ delta`` from a profiled parallel direction, or None.

    ``direction = c * other`` makes the profile of one the profile of the
    other, with the bounds scaled by ``c`` (and swapped when ``c < 0``).
    """
    for other, offsets in done:
        c = (direction @ other) / (other @ other)
        if np.allclose(direction, c * other, rtol=0, atol=1e-12 * abs(c)):
            return c * offsets if c > 0 else c * offsets[::-1]
    return None


class _Chart:
    """The log-likelihood and its derivatives on the free basis' affine chart.

    ``delta`` is the offset of the free coordinates from the fitted ones;
    the weights and parameters are the fitted ones plus the Jacobians
    times ``delta``. The free basis (which weight and which probabilities
    are the references) stays that of the fit, so scores and information
    at every point are in one coordinate system.
    """

    def __init__(self, table, family, weights, params, free, jacobians, bounds):
        self.table, self.family, self.free = table, family, free
        self.estimates = {"weights": weights, **params}
        self.jacobians = jacobians
        self.bounds = bounds
        self.moving = {
            name: np.any(jac != 0, axis=-1) for name, jac in jacobians.items()
        }
        self.order = family.canonical_order(weights, params)

    def natural(self, delta):
        values = {
            name: self.estimates[name] + self.jacobians[name] @ delta
            for name in self.jacobians
        }
        return values.pop("weights"), values

    def inside(self, delta):
        weights, params = self.natural(delta)
        for name, value in {"weights": weights, **params}.items():
            low, high = self.bounds[name]
            moving = value[self.moving[name]]
            if not np.all((moving > low) & (moving < high)):
                return False
        # Label switching would join the profile of one component to that
        # of another: the chart keeps the fitted order of the components.
        return np.array_equal(self.family.canonical_order(weights, params), self.order)

    def loglik(self, delta):
        weights, params = self.natural(delta)
        _, _, loglik = self.table.map_reduce(
            sufficient_statistics, self.family, *_batched(weights, params)
        )
        return float(loglik[0])

    def derivatives(self, delta):
        weights, params = self.natural(delta)
        with single_blas_thread(_information_work(self.table, self.family, params)):
            nk, stats, covariance, score = self.table.map_reduce(
                _fixed_basis_sums, self.family, weights, params, self.free
            )
        stats = {name: value[0] for name, value in stats.items()}
        info = _complete_information(self.family, weights, params, nk, stats, self.free)
        info -= covariance
        return score, (info + info.T) / 2


def _flag_near_boundary(status, estimate, std_error, half_width, bounds):
    """Mark, in place, estimates whose Wald interval crosses ``bounds``."""
    low, high = bounds
    crosses = (estimate - half_width * std_error < low) | (
        estimate + half_width * std_error > high
    )
    status[crosses & (status == "estimated")] = "near boundary"


def _explain(status, newton_decrement):
    """Say (and warn) why some standard errors are NaN or unreliable."""
    reasons = set().union(*(set(value.ravel()) for value in status.values()))
    parts = [_STATUS_MESSAGES[r] for r in sorted(reasons & {*_STATUS_MESSAGES})]
    if newton_decrement > _MAX_NEWTON_DECREMENT:
        parts.append(
            f"the parameters are {newton_decrement:.2g} standard errors (Newton "
            "decrement) away from the maximum of the likelihood of these data: "
            "refit with a smaller tol, or pass the data the model was fitted on"
        )
    message = "; ".join(parts)
    if message:
        warnings.warn(f"Standard errors: {message}.", UserWarning, stacklevel=4)
    return message


def _interval(estimate, std_error, half_width, bounds, scale):
    """Confidence interval of each estimate; shape ``estimate.shape + (2,)``.

    ``scale="wald"``: ``estimate -/+ z * std_error`` clipped to ``bounds``.
    ``scale="logit"``: the Wald interval of a transform that maps the
    parameter's range onto the real line, carried back: the logit for
    parameters in (0, 1) (weights, probabilities), the log for (0, inf)
    (precisions), the identity otherwise. The transform's standard error
    comes from the natural one by the delta method; the interval is never
    clipped, and it is asymmetric where the likelihood is (near 0 or 1).
    """
    low, high = bounds
    if scale == "wald" or (np.isinf(low) and np.isinf(high)):
        lower = np.clip(estimate - half_width * std_error, low, high)
        upper = np.clip(estimate + half_width * std_error, low, high)
        return np.stack([lower, upper], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        centre, slope = _to_line(estimate, bounds)
        spread = half_width * std_error * slope
        lower = _from_line(centre - spread, bounds)
        upper = _from_line(centre + spread, bounds)
    return np.stack([lower, upper], axis=-1)


def _to_line(value, bounds):
    """The log or logit of a bounded parameter, and its derivative."""
    low, high = bounds
    if np.isinf(high):
        return np.log(value - low), 1.0 / (value - low)
    u = (value - low) / (high - low)
    return np.log(u) - np.log1p(-u), 1.0 / ((high - low) * u * (1 - u))


def _from_line(t, bounds):
    """Inverse of ``_to_line``."""
    low, high = bounds
    if np.isinf(high):
        return low + np.exp(t)
    return low + (high - low) * expit(t)


def _tidy_table(estimates, result, feature_names):
    """One row per weight and parameter entry: the report table.

    A parameter of shape (K, C) with one entry per outcome column is
    labelled by the column names; other trailing axes by their index.
    """
    weights = estimates["weights"]
    n_components = len(weights)
    columns = {name: [] for name in ("parameter", "component", "outcome")}
    for name, value in estimates.items():
        value = np.asarray(value)
        n_entries = value[0].size if value.ndim > 1 else 1
        label = {"weights": "weight", "probs": "prob"}.get(name, name)
        columns["parameter"] += [label] * value.size
        columns["component"] += list(np.repeat(np.arange(n_components), n_entries))
        if value.ndim == 1:
            outcomes = [""] * n_components
        elif name == "probs" and feature_names is not None:
            outcomes = list(np.tile(np.asarray(feature_names, dtype=str), n_components))
        else:
            outcomes = [f"x{c}" for c in range(n_entries)] * n_components
        columns["outcome"] += outcomes
    names = list(estimates)

    def stacked(key):
        return np.concatenate([np.ravel(result[key.format(n)]) for n in names])

    columns = {name: np.asarray(values) for name, values in columns.items()}
    columns["estimate"] = np.concatenate([np.ravel(estimates[n]) for n in names])
    columns["std_error"] = stacked("{}")
    ci = [np.asarray(result[f"{n}_ci"]).reshape(-1, 2) for n in names]
    columns["ci_low"] = np.concatenate([c[:, 0] for c in ci])
    columns["ci_high"] = np.concatenate([c[:, 1] for c in ci])
    columns["status"] = stacked("{}_status")
    return as_table(columns)


def as_table(columns):
    """A pandas DataFrame of ``columns`` if pandas is installed, else a record array.

    Both index by column name (``table["bic"]``), and ``pandas.DataFrame``
    accepts the record array as is.
    """
    try:
        import pandas as pd
    except ImportError:
        arrays = [np.asarray(col) for col in columns.values()]
        return np.rec.fromarrays(arrays, names=list(columns))
    return pd.DataFrame(columns)
