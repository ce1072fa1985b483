"""Grouped rows: all the rows of one group share one latent component.

A group's likelihood under component k is the product of its rows'
densities, so the E-step works on groups: it sums the row log-densities of
each group (``np.add.reduceat`` over rows sorted by group), normalises over
components per group, and spreads each group's responsibilities back onto its
rows, where any family's ``accumulate`` consumes them unchanged. The pure
functions below are what an engine needs for that:

- :func:`group_layout` sorts rows by group and finds where each group starts;
- :func:`compress_grouped` merges identical rows within a group (a row
  multiplicity, which multiplies the row's log-density) and identical groups
  (a group weight, which multiplies the group's log-likelihood);
- :func:`group_blocks` cuts the sorted rows into blocks that never split a
  group, so that every block's E-step is complete on its own;
- :func:`group_log_prob` and :func:`grouped_e_step` are the E-step.

:class:`GroupedTable` and :class:`GroupedFamily` wire them into the engine
without changing it: the table's units are groups (blocks of whole groups),
and the family's density of a group is the product of its rows' densities
under any row family, whose ``accumulate`` receives the group
responsibilities spread back onto the rows.
"""

import numpy as np
from scipy.special import logsumexp

from sklearn_coinem._families._base import ComponentFamily


def group_layout(groups):
    """Stable order that sorts rows by group, the group starts and the codes.

    Parameters
    ----------
    groups : array-like of shape (n_samples,)
        Any sortable labels.

    Returns
    -------
    order : ndarray of shape (n_samples,)
        Row permutation; ``groups[order]`` is sorted and rows of one group
        keep their input order.
    starts : ndarray of shape (n_groups,)
        Position (in sorted order) of the first row of each group.
    labels : ndarray of shape (n_groups,)
        The distinct labels, in the order of ``starts``.
    """
    labels, codes = np.unique(np.asarray(groups), return_inverse=True)
    order = np.argsort(codes.ravel(), kind="stable")
    sizes = np.bincount(codes.ravel(), minlength=len(labels))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return order, starts, labels


def group_sizes(starts, n_rows):
    """Number of (sorted) rows in each group."""
    return np.diff(np.append(starts, n_rows))


def group_log_prob(log_prob, row_counts, starts):
    """Log density of each group, ``sum_i m_i log f_k(x_i)`` over its rows.

    Parameters
    ----------
    log_prob : ndarray of shape (..., n_rows)
        Row log-densities, rows sorted by group.
    row_counts : ndarray of shape (n_rows,)
        Multiplicity ``m_i`` of each row within its group.
    starts : ndarray of shape (n_groups,)
        From :func:`group_layout` or :func:`compress_grouped`.

    Returns
    -------
    group_log_prob : ndarray of shape (..., n_groups)
        ``-inf`` where a row of positive multiplicity is impossible.
    """
    if len(starts) == 0:
        return np.zeros(log_prob.shape[:-1] + (0,))
    # 0 * -inf would be nan: a row of multiplicity 0 contributes nothing.
    with np.errstate(invalid="ignore"):
        terms = np.where(row_counts > 0, log_prob * row_counts, 0.0)
    return np.add.reduceat(terms, starts, axis=-1)


def grouped_e_step(log_prob, log_weights, row_counts, starts, group_weights):
    """E-step in which the rows of a group share one latent component.

    Parameters
    ----------
    log_prob : ndarray of shape (R, K, n_rows)
        Row log-densities (with or without the row constants), rows sorted
        by group.
    log_weights : ndarray of shape (R, K)
        Log mixing weights.
    row_counts : ndarray of shape (n_rows,)
        Multiplicity of each row within its group.
    starts : ndarray of shape (n_groups,)
        First row of each group.
    group_weights : ndarray of shape (n_groups,)
        Weight of each group (its multiplicity, or its sample weight).

    Returns
    -------
    log_likelihood : ndarray of shape (R,)
        ``sum_g w_g log sum_k pi_k prod_{i in g} f_k(x_i)^m_i``.
    nk : ndarray of shape (R, K)
        Expected weight of each component (counted in groups).
    row_resp : ndarray of shape (R, K, n_rows)
        Each row's group responsibility times the group weight and the row
        multiplicity: the weighted responsibilities a family's
        ``accumulate`` expects. Groups impossible under every component get
        0 (and make ``log_likelihood`` -inf).
    """
    log_joint = group_log_prob(log_prob, row_counts, starts) + log_weights[..., None]
    log_norm = logsumexp(log_joint, axis=1)
    dead = np.isneginf(log_norm)
    with np.errstate(invalid="ignore"):
        resp = np.exp(log_joint - np.where(dead, 0.0, log_norm)[:, None])
    resp = np.where(dead[:, None], 0.0, resp) * group_weights
    sizes = group_sizes(starts, log_prob.shape[-1])
    row_resp = np.repeat(resp, sizes, axis=-1) * row_counts
    log_likelihood = np.where(group_weights > 0, log_norm, 0.0) @ group_weights
    return log_likelihood, resp.sum(axis=-1), row_resp


def compress_grouped(groups, rows, sample_weight=None):
    """Distinct rows within each group, and distinct groups.

    Identical rows of one group merge into one row with a multiplicity
    (``prod f(x)^m``); groups with the same multiset of rows then merge into
    one group with the sum of their weights. The likelihood, and every
    responsibility-weighted statistic, is unchanged.

    Parameters
    ----------
    groups : array-like of shape (n_samples,)
        Group labels.
    rows : ndarray of shape (n_samples, d)
        Every row-aligned array, stacked (counts and covariates): rows are
        identical when all of them are.
    sample_weight : array-like of shape (n_samples,), default=None
        Weight of each row's group; it must be constant within a group.

    Returns
    -------
    table : Bunch-like dict
        ``rows`` (n_rows, d) sorted by group, ``row_counts`` (n_rows,),
        ``starts`` (n_groups,), ``group_weights`` (n_groups,) and
        ``group_index`` (n_input_groups,), the compressed group of each
        distinct input label, in the order of ``np.unique(groups)``.
    """
    order, starts, labels = group_layout(groups)
    rows = np.asarray(rows, dtype=float)[order]
    sizes = group_sizes(starts, len(order))
    codes = np.repeat(np.arange(len(starts)), sizes)
    weights = _group_weights(sample_weight, order, starts, sizes)
    keyed = np.column_stack([codes, rows])
    distinct, counts = np.unique(keyed, axis=0, return_counts=True)
    # np.unique sorts by group code first: each group's distinct rows are
    # contiguous, and their sorted contents are the group's signature.
    row_codes = distinct[:, 0].astype(np.intp)
    bounds = np.searchsorted(row_codes, np.arange(len(starts) + 1))
    content = np.column_stack([distinct[:, 1:], counts])
    keys = {}
    group_index = np.array(
        [
            keys.setdefault(content[lo:hi].tobytes(), len(keys))
            for lo, hi in zip(bounds[:-1], bounds[1:])
        ],
        dtype=np.intp,
    )
    first = np.unique(group_index, return_index=True)[1]
    kept = np.concatenate([np.arange(bounds[g], bounds[g + 1]) for g in first])
    kept_sizes = bounds[first + 1] - bounds[first]
    return {
        "rows": distinct[kept, 1:],
        "row_counts": counts[kept].astype(float),
        "starts": np.concatenate([[0], np.cumsum(kept_sizes)[:-1]]).astype(np.intp),
        "group_weights": np.bincount(group_index, weights=weights),
        "group_index": group_index,
    }


def _group_weights(sample_weight, order, starts, sizes):
    """One weight per group, checking that it is constant within the group."""
    if sample_weight is None:
        return np.ones(len(starts))
    weight = np.asarray(sample_weight, dtype=float)[order]
    per_group = weight[starts]
    if not np.array_equal(weight, np.repeat(per_group, sizes)):
        raise ValueError(
            "sample_weight must be constant within each group: it weighs the "
            "group's joint likelihood, not a row."
        )
    return per_group


def group_blocks(starts, n_rows, max_rows):
    """Slices of the sorted rows that never split a group.

    Each slice holds whole groups and at most ``max_rows`` rows, unless one
    group alone is larger (then that group is a block by itself).

    Returns
    -------
    blocks : list of (slice, slice)
        The rows and the groups of each block.
    """
    bounds = np.append(starts, n_rows)
    blocks, first = [], 0
    while first < len(starts):
        limit = bounds[first] + max_rows
        last = max(first + 1, int(np.searchsorted(bounds, limit, side="right")) - 1)
        last = min(last, len(starts))
        blocks.append((slice(bounds[first], bounds[last]), slice(first, last)))
        first = last
    return blocks


class GroupedTable:
    """A row table whose units are groups of rows: what the engine iterates.

    To the engine (E-step, SQUAREM, initialisation, criteria) every group is
    one "row" of weight ``weights[g]``, and :class:`GroupedFamily` turns a
    family of row densities into the family of group densities, so the
    engine fits grouped rows unchanged. It implements the two methods the
    engine calls on a table, ``blocks()`` (here never splitting a group) and
    ``map_reduce(func)``.

    Attributes
    ----------
    X : ndarray of shape (n_groups, C)
        Pooled counts of each group (what the seeding features see).
    weights : ndarray of shape (n_groups,)
        Group weights.
    rows : RowBlock
        The distinct rows of every group, sorted by group.
    row_counts : ndarray of shape (n_rows,)
        Multiplicity of each row within its group.
    starts : ndarray of shape (n_groups,)
        First row of each group.
    constant_sum : float
        Weighted sum of the groups' constants (set by :meth:`from_groups`).
    total_weight : float
        Sum of ``weights``.
    """

    design = None
    labels = None

    def __init__(self, rows, row_counts, starts, weights):
        self.rows, self.row_counts, self.starts = rows, row_counts, starts
        self.weights = weights
        self.X = group_log_prob(rows.X.T, row_counts, starts).T
        self.total_weight = float(weights.sum())
        self.constant_sum = 0.0

    @classmethod
    def from_groups(cls, family, X, groups, sample_weight=None, design=None):
        """Compress rows (counts ``X`` and covariates) within and across groups.

        ``family`` is the :class:`GroupedFamily` that gives the constants.
        Groups of weight 0 are dropped.
        """
        from sklearn_coinem._table import RowBlock

        stacked = X if design is None else np.column_stack([X, design])
        table = compress_grouped(groups, stacked, sample_weight)
        rows, n_counts = table["rows"], X.shape[1]
        row_design = None if design is None else rows[:, n_counts:]
        block = RowBlock(rows[:, :n_counts], np.ones(len(rows)), row_design)
        grouped = cls(
            block, table["row_counts"], table["starts"], table["group_weights"]
        )
        kept = grouped.take(np.flatnonzero(grouped.weights > 0))
        kept.constant_sum = float(kept.weights @ family.row_constants(kept))
        return kept

    def take(self, groups):
        """The table of the groups ``groups`` (sorted indices), constants unset."""
        from sklearn_coinem._table import RowBlock

        sizes = group_sizes(self.starts, len(self.row_counts))
        rows = np.concatenate(
            [np.arange(self.starts[g], self.starts[g] + sizes[g]) for g in groups]
            or [np.zeros(0, dtype=np.intp)]
        )
        design = None if self.rows.design is None else self.rows.design[rows]
        block = RowBlock(self.rows.X[rows], self.rows.weights[rows], design)
        starts = np.concatenate([[0], np.cumsum(sizes[groups])[:-1]]).astype(np.intp)
        return type(self)(block, self.row_counts[rows], starts, self.weights[groups])

    @property
    def n_distinct(self):
        """Number of groups."""
        return len(self.weights)

    def blocks(self, block_rows=1 << 14):
        """Tables of whole groups with at most about ``block_rows`` rows each."""
        pieces = group_blocks(self.starts, len(self.row_counts), block_rows)
        if len(pieces) == 1:
            yield self
            return
        for _, groups in pieces:
            yield self.take(np.arange(groups.start, groups.stop))

    def map_reduce(self, func, *args):
        """``func(self, *args)``, as an in-memory ``RowTable``."""
        return func(self, *args)


class GroupedFamily(ComponentFamily):
    """The densities of groups of rows that share one component of ``family``.

    A group's log-density under component k is ``sum_i m_i log f_k(x_i)``
    over its distinct rows (multiplicities ``m_i``); its responsibilities
    are spread back onto the rows, where ``family`` accumulates its
    statistics unchanged. Blocks are :class:`GroupedTable` objects.
    """

    def __init__(self, family):
        self.family = family

    @property
    def param_names(self):
        return self.family.param_names

    @property
    def param_bounds(self):
        return self.family.param_bounds

    def _spread(self, block, resp):
        """Group responsibilities (..., G) onto the rows (..., n) times m_i."""
        sizes = group_sizes(block.starts, len(block.row_counts))
        return np.repeat(resp, sizes, axis=-1) * block.row_counts

    def row_constants(self, block):
        constants = self.family.row_constants(block.rows)
        return group_log_prob(constants, block.row_counts, block.starts)

    def log_prob(self, block, params):
        log_prob = self.family.log_prob(block.rows, params)
        return group_log_prob(log_prob, block.row_counts, block.starts)

    def accumulate(self, block, resp, params):
        return self.family.accumulate(block.rows, self._spread(block, resp), params)

    def m_step(self, stats, nk, params):
        return self.family.m_step(stats, nk, params)

    def log_prior(self, params):
        return self.family.log_prior(params)

    def seeding_features(self, block):
        """The family's features of the pooled counts of each group."""
        return self.family.seeding_features(block)

    def init_params(self, block, weighted_resp):
        row_resp = self._spread(block, weighted_resp.T).T
        return self.family.init_params(block.rows, row_resp)

    def random_params(self, n_components, block, rng):
        return self.family.random_params(n_components, block.rows, rng)

    def flatten(self, params):
        return self.family.flatten(params)

    def unflatten(self, theta, params):
        return self.family.unflatten(theta, params)

    def feasible(self, theta):
        return self.family.feasible(theta)

    def n_parameters(self, n_components, n_features):
        return self.family.n_parameters(n_components, n_features)

    def canonical_order(self, weights, params):
        return self.family.canonical_order(weights, params)

    def identifiability_problem(self, block, n_components):
        """The family's verdict on the rows (groups only help identify)."""
        return self.family.identifiability_problem(block.rows, n_components)

    def interval_scales(self, params):
        return self.family.interval_scales(params)

    def free_basis(self, params, nk, stats):
        return self.family.free_basis(params, nk, stats)

    def complete_scores(self, block, params, basis):
        """A group's complete-data score: the sum of its rows' scores."""
        scores = self.family.complete_scores(block.rows, params, basis)
        scores = scores * block.row_counts[:, None, None]
        if len(block.starts) == 0:
            return scores[:0]
        return np.add.reduceat(scores, block.starts, axis=0)

    def complete_information(self, params, nk, stats, basis):
        return self.family.complete_information(params, nk, stats, basis)

    def delta_jacobians(self, params, basis):
        return self.family.delta_jacobians(params, basis)
