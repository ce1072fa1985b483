"""Information criteria, observed information (Louis 1982) and standard errors."""

import warnings

import numpy as np
from scipy.stats import norm
from sklearn.utils import Bunch

from sklearn_coinem._em import _estimate_log_resp, _safe_log

# Expected count (rows for a weight, outcomes for a probability) below which an
# estimate is treated as lying on the boundary of the parameter space: far
# below one observation, far above what the default pseudo-count leaves behind.
_BOUNDARY_COUNT = 1e-3

# Relative eigenvalue below which the observed information counts as singular.
_SINGULAR_RCOND = 1e-10

# Distance (in standard errors) from the maximum of the likelihood beyond
# which intervals centred on the estimate lose noticeable coverage (about 95%
# -> 94.6% at 0.2).
_MAX_NEWTON_DECREMENT = 0.2


def n_parameters(n_components, n_features, update_weights=True):
    """Number of free parameters of a mixture of multinomials.

    ``n_components - 1`` mixing weights (none when they are held fixed) plus
    ``n_features - 1`` outcome probabilities per component.
    """
    n_weights = n_components - 1 if update_weights else 0
    return n_weights + n_components * (n_features - 1)


def _log_resp(table, weights, probs):
    """Per-row log p(x) (without coefficient) and log responsibilities."""
    log_norm, log_resp = _estimate_log_resp(
        table.X, _safe_log(weights)[None], _safe_log(probs)[None]
    )
    return log_norm[:, 0], log_resp[:, 0]


def _sum_over_rows(table, func, *args):
    """``func(table, *args)``, a tuple of per-row sums, over the whole table.

    A table kept on dask workers (``DaskCountTable``) holds only a sample of
    its rows locally; it sums ``func`` over its chunk tables on the workers.
    """
    if hasattr(table, "map_reduce"):
        return table.map_reduce(func, *args)
    return func(table, *args)


def _criteria_sums(table, weights, probs):
    """Weighted sums of log p(x) (no coefficient) and of log max_k r_ik."""
    log_norm, log_resp = _log_resp(table, weights, probs)
    return table.weights @ log_norm, table.weights @ log_resp.max(axis=1)


def information_criteria(table, weights, probs, update_weights=True):
    """AIC, BIC and ICL of a mixture on a weighted count table.

    All three follow the "smaller is better" convention of R's flexmix
    (``AIC``, ``BIC`` and ``ICL`` methods for ``flexmix`` objects) and of
    :meth:`sklearn.mixture.GaussianMixture.bic`.

    Parameters
    ----------
    table : CountTable or DaskCountTable
        Distinct rows and their weights (kept on dask workers for a
        ``DaskCountTable``: the row sums are then reduced there).
    weights : ndarray of shape (n_components,)
        Mixing weights.
    probs : ndarray of shape (n_components, n_features)
        Outcome probabilities.
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
    n_components, n_features = probs.shape
    log_norm_sum, max_log_resp_sum = _sum_over_rows(
        table, _criteria_sums, weights, probs
    )
    log_likelihood = float(log_norm_sum) + table.log_coef_sum
    entropy = -float(max_log_resp_sum)
    p = n_parameters(n_components, n_features, update_weights)
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


def _free_parameters(weights, probs, nk, counts, update_weights):
    """Choose a free basis and flag the estimates on the boundary.

    Each probability row drops its largest entry (the reference, expressed as
    one minus the others), and so do the weights. Estimates with an expected
    count below ``_BOUNDARY_COUNT`` are boundary values: they are held fixed,
    never part of the basis.
    """
    n_components, n_features = probs.shape
    empty = (nk < _BOUNDARY_COUNT) | (counts.sum(axis=1) < _BOUNDARY_COUNT)
    prob_boundary = (counts < _BOUNDARY_COUNT) | empty[:, None]
    weight_boundary = nk < _BOUNDARY_COUNT
    ref_weight = int(np.argmax(weights))
    ref_prob = probs.argmax(axis=1)
    free_weights = np.flatnonzero(
        ~weight_boundary & (np.arange(n_components) != ref_weight)
    )
    if not update_weights:
        free_weights = free_weights[:0]
    free_mask = ~prob_boundary
    free_mask[np.arange(n_components), ref_prob] = False
    prob_comp, prob_col = np.nonzero(free_mask)
    # A reference entry is itself on the boundary (at 1) when nothing is free.
    prob_boundary[np.arange(n_components), ref_prob] |= ~free_mask.any(axis=1)
    return Bunch(
        weights=free_weights,
        ref_weight=ref_weight,
        prob_comp=prob_comp,
        prob_col=prob_col,
        ref_prob=ref_prob,
        weight_boundary=weight_boundary,
        prob_boundary=prob_boundary,
        empty=empty,
    )


def _complete_scores(X, weights, probs, free):
    """Complete-data score of each row given each component, (n, K, P).

    With ``z = k``, the log-likelihood is ``log w_k + sum_c x_c log p_kc``;
    its derivatives in the free basis are ``[k = j] / w_j - [k = r] / w_r``
    for a weight ``j`` (reference ``r``) and ``x_c / p_kc - x_ref / p_k,ref``
    for a probability of component ``k``, zero for other components.
    """
    n_components = probs.shape[0]
    n_weights, n_probs = len(free.weights), len(free.prob_comp)
    scores = np.zeros((X.shape[0], n_components, n_weights + n_probs))
    comps = np.arange(n_components)[:, None]
    weight_scores = (comps == free.weights) / weights[free.weights]
    weight_scores -= (comps == free.ref_weight) / weights[free.ref_weight]
    scores[:, :, :n_weights] = weight_scores
    ref_col = free.ref_prob[free.prob_comp]
    prob_scores = X[:, free.prob_col] / probs[free.prob_comp, free.prob_col]
    prob_scores -= X[:, ref_col] / probs[free.prob_comp, ref_col]
    scores[:, free.prob_comp, n_weights + np.arange(n_probs)] = prob_scores
    return scores


def _complete_information(weights, probs, nk, counts, free):
    """Expected complete-data information given the data, in the free basis.

    Closed form from the expected statistics: ``diag(n_j / w_j**2) +
    n_r / w_r**2`` for the weights and ``diag(s_kc / p_kc**2) + s_k,ref /
    p_k,ref**2`` within each component's probabilities.
    """
    n_weights = len(free.weights)
    info = np.zeros((n_weights + len(free.prob_comp),) * 2)
    w_idx = np.arange(n_weights)
    info[w_idx, w_idx] = nk[free.weights] / weights[free.weights] ** 2
    info[:n_weights, :n_weights] += nk[free.ref_weight] / weights[free.ref_weight] ** 2
    # Boundary entries (p = 0 possible) are never in the basis: skip them.
    curvature = np.divide(counts, probs**2, out=np.zeros_like(counts), where=probs > 0)
    for k, ref in enumerate(free.ref_prob):
        idx = n_weights + np.flatnonzero(free.prob_comp == k)
        info[idx, idx] = curvature[k, free.prob_col[idx - n_weights]]
        info[np.ix_(idx, idx)] += curvature[k, ref]
    return info


def observed_information(table, weights, probs, update_weights=True):
    """Observed information of the free parameters by Louis' (1982) formula.

    ``I(theta) = E[B_c | x] - Cov[S_c | x]``: the expected complete-data
    information minus the conditional covariance of the complete-data score,
    summed over the (weighted) rows; rows are independent, so the covariance
    is the sum of the per-row covariances ``sum_k r_ik g_ik g_ik' - s_i s_i'``.

    Parameters
    ----------
    table : CountTable or DaskCountTable
        Distinct rows and their weights (kept on dask workers for a
        ``DaskCountTable``: the row sums are then reduced there).
    weights : ndarray of shape (n_components,)
        Mixing weights.
    probs : ndarray of shape (n_components, n_features)
        Outcome probabilities.
    update_weights : bool, default=True
        Whether the weights are parameters.

    Returns
    -------
    information : ndarray of shape (n_free, n_free)
        Minus the Hessian of the log-likelihood in the free basis.
    score : ndarray of shape (n_free,)
        Gradient of the log-likelihood in the free basis, ``sum_i w_i s_i``
        (zero at a maximum).
    free : Bunch
        The free basis: the free weights and (component, column) pairs of
        free probabilities, the reference entries, and the boundary flags.
    """
    nk, counts = _sum_over_rows(table, _expected_counts, weights, probs)
    free = _free_parameters(weights, probs, nk, counts, update_weights)
    info = _complete_information(weights, probs, nk, counts, free)
    score_covariance, score = _sum_over_rows(
        table, _score_moments, weights, probs, free
    )
    info -= score_covariance
    return (info + info.T) / 2, score, free


def _expected_counts(table, weights, probs):
    """Expected component sizes ``nk`` and outcome counts, (K,) and (K, C)."""
    _, log_resp = _log_resp(table, weights, probs)
    weighted_resp = np.exp(log_resp) * table.weights[:, None]
    return weighted_resp.sum(axis=0), weighted_resp.T @ table.X


def _score_moments(table, weights, probs, free):
    """Summed conditional covariance of the complete-data scores, and the score.

    ``sum_i w_i (sum_k r_ik g_ik g_ik' - s_i s_i')`` and ``sum_i w_i s_i``
    with ``s_i = sum_k r_ik g_ik``, computed in blocks of rows to bound the
    memory of the (rows, K, P) scores.
    """
    _, log_resp = _log_resp(table, weights, probs)
    resp = np.exp(log_resp)
    weighted_resp = resp * table.weights[:, None]
    n_free = len(free.weights) + len(free.prob_comp)
    covariance, score = np.zeros((n_free, n_free)), np.zeros(n_free)
    block = max(1, (1 << 21) // max(1, resp.shape[1] * n_free))
    for start in range(0, table.X.shape[0], block):
        rows = slice(start, start + block)
        scores = _complete_scores(table.X[rows], weights, probs, free)
        root = np.sqrt(weighted_resp[rows])[..., None] * scores
        root = root.reshape(scores.shape[0] * scores.shape[1], scores.shape[2])
        mean_scores = np.einsum("nk,nkp->np", resp[rows], scores)
        mean_scores *= np.sqrt(table.weights[rows])[:, None]
        covariance += root.T @ root - mean_scores.T @ mean_scores
        score += np.einsum("nk,nkp->p", weighted_resp[rows], scores)
    return covariance, score


def _delta_jacobians(n_components, n_features, free):
    """Linear maps from the free basis to all weights and all probabilities."""
    n_weights, n_probs = len(free.weights), len(free.prob_comp)
    jac_w = np.zeros((n_components, n_weights + n_probs))
    jac_w[free.weights, np.arange(n_weights)] = 1.0
    jac_w[free.ref_weight, :n_weights] = -1.0
    jac_p = np.zeros((n_components, n_features, n_weights + n_probs))
    cols = n_weights + np.arange(n_probs)
    jac_p[free.prob_comp, free.prob_col, cols] = 1.0
    jac_p[free.prob_comp, free.ref_prob[free.prob_comp], cols] = -1.0
    return jac_w, jac_p


def _parameter_status(n_components, free, update_weights):
    """Why each estimate has (or lacks) a standard error."""
    weight_status = np.full(n_components, "estimated", dtype=object)
    if not update_weights or n_components == 1:
        weight_status[:] = "fixed"
    else:
        weight_status[free.weight_boundary] = "boundary"
        if len(free.weights) == 0:
            weight_status[free.ref_weight] = "boundary"
    prob_status = np.where(free.prob_boundary, "boundary", "estimated").astype(object)
    prob_status[free.empty] = "empty component"
    return weight_status, prob_status


_STATUS_MESSAGES = {
    "boundary": "some estimates lie on the boundary of the parameter space (a "
    "probability at 0 or 1, or a weight at 0); a Wald interval is meaningless "
    "there, so their standard errors are NaN and the others are computed with "
    "them held fixed",
    "empty component": "some components have (almost) no rows, so their outcome "
    "probabilities are not identified; their standard errors are NaN",
    "near boundary": "the Wald intervals of some estimates cross 0 or 1 (a "
    "weight or probability close to the edge, e.g. a component of a few rows): "
    "their standard errors are reported, marked 'near boundary', but the "
    "intervals are clipped to [0, 1] and do not have the nominal coverage",
    "singular information": "the observed information matrix is singular or "
    "not positive definite (the data do not identify the parameters, e.g. too "
    "many components, duplicated components or a fit that has not converged); "
    "all standard errors are NaN",
}


def _covariance(info):
    """Inverse of the information, or None when it is not positive definite.

    The test runs on the information rescaled to unit diagonal, so that
    parameters on very different scales (a weight and a rare outcome's
    probability) do not pass for a singular matrix.
    """
    if info.size == 0:
        return info
    diag = np.diag(info)
    if not np.all(np.isfinite(info)) or np.any(diag <= 0):
        return None
    scale = 1.0 / np.sqrt(diag)
    scaled = info * np.outer(scale, scale)
    if np.linalg.eigvalsh(scaled)[0] <= _SINGULAR_RCOND:
        return None
    return np.linalg.inv(scaled) * np.outer(scale, scale)


def standard_errors(
    table,
    weights,
    probs,
    *,
    update_weights=True,
    confidence=0.95,
    feature_names=None,
):
    """Standard errors and Wald intervals of all weights and probabilities.

    The covariance of the free parameters is the inverse observed information
    (:func:`observed_information`); the delta method, exact here because the
    dependent entries are linear in the free ones, carries it to every
    weight and every probability.

    Parameters
    ----------
    table : CountTable or DaskCountTable
        Distinct rows and their weights (kept on dask workers for a
        ``DaskCountTable``: the row sums are then reduced there).
    weights : ndarray of shape (n_components,)
        Mixing weights.
    probs : ndarray of shape (n_components, n_features)
        Outcome probabilities.
    update_weights : bool, default=True
        If False the weights are known constants: standard error 0.
    confidence : float, default=0.95
        Coverage of the two-sided Wald intervals.
    feature_names : sequence of str, default=None
        Names of the outcome columns for the table.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        See :meth:`BinomialMixture.standard_errors`.
    """
    n_components, n_features = probs.shape
    info, score, free = observed_information(table, weights, probs, update_weights)
    covariance = _covariance(info)
    weight_status, prob_status = _parameter_status(n_components, free, update_weights)
    if covariance is None:
        weight_status[weight_status == "estimated"] = "singular information"
        prob_status[prob_status == "estimated"] = "singular information"
        covariance = np.full_like(info, np.nan)
    jac_w, jac_p = _delta_jacobians(n_components, n_features, free)
    se_w = np.sqrt(np.einsum("kp,pq,kq->k", jac_w, covariance, jac_w))
    se_p = np.sqrt(np.einsum("kcp,pq,kcq->kc", jac_p, covariance, jac_p))
    se_w = np.where(weight_status == "estimated", se_w, np.nan)
    se_w[weight_status == "fixed"] = 0.0
    se_p = np.where(prob_status == "estimated", se_p, np.nan)
    half = norm.ppf(0.5 + confidence / 2)
    _flag_near_boundary(weight_status, weights, se_w, half)
    _flag_near_boundary(prob_status, probs, se_p, half)
    newton_decrement = float(np.sqrt(max(score @ covariance @ score, 0.0)))
    message = _explain(weight_status, prob_status, newton_decrement)
    result = Bunch(
        weights=se_w,
        probs=se_p,
        weights_ci=_wald_interval(weights, se_w, half),
        probs_ci=_wald_interval(probs, se_p, half),
        weights_status=weight_status.astype(str),
        probs_status=prob_status.astype(str),
        confidence=confidence,
        information=info,
        covariance=covariance,
        newton_decrement=newton_decrement,
        message=message,
    )
    result.table = _tidy_table(weights, probs, result, feature_names)
    return result


def _flag_near_boundary(status, estimate, std_error, half_width):
    """Mark, in place, estimates whose Wald interval crosses 0 or 1."""
    crosses = (estimate - half_width * std_error < 0) | (
        estimate + half_width * std_error > 1
    )
    status[crosses & (status == "estimated")] = "near boundary"


def _explain(weight_status, prob_status, newton_decrement):
    """Say (and warn) why some standard errors are NaN or unreliable."""
    reasons = set(weight_status) | set(prob_status.ravel())
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


def _wald_interval(estimate, std_error, half_width):
    """Wald interval clipped to [0, 1]; shape ``estimate.shape + (2,)``."""
    low = np.clip(estimate - half_width * std_error, 0.0, 1.0)
    high = np.clip(estimate + half_width * std_error, 0.0, 1.0)
    return np.stack([low, high], axis=-1)


def _tidy_table(weights, probs, result, feature_names):
    """One row per weight and probability: the report table."""
    n_components, n_features = probs.shape
    if feature_names is None:
        feature_names = [f"x{c}" for c in range(n_features)]
    outcomes = np.tile(np.asarray(feature_names, dtype=str), n_components)

    def stack(for_weights, for_probs):
        return np.concatenate([for_weights, np.ravel(for_probs)])

    columns = {
        "parameter": stack(["weight"] * n_components, ["prob"] * probs.size),
        "component": stack(
            np.arange(n_components), np.repeat(np.arange(n_components), n_features)
        ),
        "outcome": stack(np.full(n_components, ""), outcomes),
        "estimate": stack(weights, probs),
        "std_error": stack(result.weights, result.probs),
        "ci_low": stack(result.weights_ci[:, 0], result.probs_ci[..., 0]),
        "ci_high": stack(result.weights_ci[:, 1], result.probs_ci[..., 1]),
        "status": stack(result.weights_status, result.probs_status),
    }
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
