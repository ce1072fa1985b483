"""The generic E-step: posteriors and additive statistics over a row table.

Every function works on arrays and a component family only. Parameters carry
a leading batch axis of ``n_runs`` so that several restarts advance together:
``log_weights`` has shape (R, K) and every array of ``params`` starts with
(R, K).
"""

import numpy as np

from sklearn_coinem._numerics import safe_log


def _forbidden(labels, component_labels):
    """(K, n) mask of the components a labelled row cannot come from."""
    known = labels >= 0
    return known[None, :] & (component_labels[:, None] != labels[None, :])


def log_joint(block, family, log_weights, params, component_labels=None, log_prob=None):
    """Return log(w_k f_k(x)) without the row constant, in a (R, K, n) layout.

    A labelled row (``block.labels >= 0``) can come only from the components
    of its class (``component_labels``). A row that has probability zero
    under every allowed component (possible only without a prior) gets the
    mixing weights of those components instead, so that its posterior is
    their weights. ``log_prob`` is the family's, if already computed (it is
    overwritten).

    Returns
    -------
    log_joint : ndarray of shape (R, K, n)
    log_max : ndarray of shape (R, n)
        Maximum of ``log_joint`` over the components.
    dead : ndarray of shape (R, n)
        Rows impossible under every component.
    """
    log_joint = family.log_prob(block, params) if log_prob is None else log_prob
    log_joint += log_weights[:, :, None]
    forbidden = None
    if block.labels is not None and component_labels is not None:
        forbidden = _forbidden(block.labels, component_labels)
        log_joint[:, forbidden] = -np.inf
    log_max = log_joint.max(axis=1)
    dead = np.isneginf(log_max)
    if dead.any():
        runs, rows = np.nonzero(dead)
        fallback = log_weights[runs]
        if forbidden is not None:
            fallback = np.where(forbidden.T[rows], -np.inf, fallback)
        log_joint[runs, :, rows] = fallback
        log_max = log_joint.max(axis=1)
    return log_joint, log_max, dead


def estimate_log_resp(block, family, log_weights, params, component_labels=None):
    """E-step on raw rows.

    Returns
    -------
    log_norm : ndarray of shape (n, R)
        log p(x) without the row constant (-inf for a row impossible under
        every component).
    log_resp : ndarray of shape (n, R, K)
        Log posterior of each component (the mixing weights for a row
        impossible under every component).
    """
    log_resp, log_max, dead = log_joint(
        block, family, log_weights, params, component_labels
    )
    # A log-sum-exp without scipy's general-purpose overhead (it dominated
    # the time of predict_proba and score_samples on large inputs).
    log_resp -= log_max[:, None, :]
    log_sum = np.log(np.exp(log_resp).sum(axis=1))
    log_resp -= log_sum[:, None, :]
    log_norm = log_max + log_sum
    log_norm[dead] = -np.inf
    return log_norm.T, np.ascontiguousarray(np.moveaxis(log_resp, 2, 0))


def block_statistics(block, family, log_weights, params, component_labels=None):
    """E-step statistics of one block of rows: (nk, stats, loglik).

    Components sit on the middle axis so that the reductions over them run
    over long contiguous rows, and the exponentials are taken once: the
    normalised responsibilities come from the same array as ``log_norm``.
    What the densities and the statistics share is computed once
    (:meth:`ComponentFamily.log_prob_state`).
    """
    log_prob, state = family.log_prob_state(block, params)
    log_resp, log_max, dead = log_joint(
        block, family, log_weights, params, component_labels, log_prob
    )
    log_resp -= log_max[:, None, :]
    resp = np.exp(log_resp, out=log_resp)
    total = resp.sum(axis=1)
    log_norm = log_max + np.log(total)
    log_norm[dead] = -np.inf
    resp *= (block.weights / total)[:, None, :]
    if state is None:
        stats = family.accumulate(block, resp, params)
    else:
        stats = family.accumulate(block, resp, params, state)
    return resp.sum(axis=2), stats, log_norm @ block.weights


def add_statistics(first, second):
    """Sum two statistics (arrays, or tuples and dicts of them) entry by entry."""
    if isinstance(first, dict):
        return {name: add_statistics(first[name], second[name]) for name in first}
    if isinstance(first, tuple):
        return tuple(add_statistics(a, b) for a, b in zip(first, second))
    return first + second


def sum_statistics(*results):
    """Sum any number of statistics (the reduction of the dask tables)."""
    total = results[0]
    for result in results[1:]:
        total = add_statistics(total, result)
    return total


def sufficient_statistics(table, family, log_weights, params, component_labels=None):
    """Return the expected statistics of one E-step over the table.

    Returns
    -------
    nk : ndarray of shape (R, K)
        Expected weight of each component.
    stats : dict
        The family's statistics (:meth:`ComponentFamily.accumulate`).
    loglik : ndarray of shape (R,)
        Weighted log-likelihood without the row constants.
    """
    return sum_statistics(
        *(
            block_statistics(block, family, log_weights, params, component_labels)
            for block in table.blocks()
        )
    )


def em_step(
    table,
    family,
    weights,
    params,
    *,
    pseudo_count,
    update_weights,
    component_labels=None,
):
    """One EM iteration from (weights, params).

    Returns the updated weights and parameters and the objective at the
    *input* parameters: the mean log-likelihood plus the prior term divided
    by the total weight, the quantity MAP-EM never decreases. Fixed weights
    (``update_weights=False``) stay those of each run.
    """
    nk, stats, loglik = table.map_reduce(
        sufficient_statistics, family, safe_log(weights), params, component_labels
    )
    prior = family.log_prior(params)
    if update_weights and pseudo_count > 0:
        prior = prior + pseudo_count * safe_log(weights).sum(axis=-1)
    objective = (loglik + table.constant_sum + prior) / table.total_weight
    if update_weights:
        new_weights = nk + pseudo_count
        new_weights /= new_weights.sum(axis=-1, keepdims=True)
    else:
        new_weights = weights
    return new_weights, family.m_step(stats, nk, params), objective
