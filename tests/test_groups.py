"""Tests of the grouped-rows E-step, compression and blocks."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from scipy.stats import binom

from sklearn_coinem._groups import (
    compress_grouped,
    group_blocks,
    group_layout,
    group_log_prob,
    grouped_e_step,
)


def _random_groups(rng, n_rows, n_groups):
    """Shuffled integer labels, every label used at least once."""
    labels = np.concatenate([np.arange(n_groups), rng.integers(n_groups, size=n_rows)])
    return rng.permutation(labels[:n_rows] if n_rows >= n_groups else labels)


def _brute_force_e_step(log_prob, log_weights, groups, group_weight):
    """Loop over groups: joint log density, posterior, spread onto rows."""
    n_runs, n_components, n_rows = log_prob.shape
    log_lik = np.zeros(n_runs)
    nk = np.zeros((n_runs, n_components))
    row_resp = np.zeros_like(log_prob)
    for label in np.unique(groups):
        rows = np.flatnonzero(groups == label)
        weight = group_weight[label]
        joint = log_prob[:, :, rows].sum(axis=-1) + log_weights
        norm = logsumexp(joint, axis=1)
        resp = np.exp(joint - norm[:, None])
        log_lik += weight * norm
        nk += weight * resp
        row_resp[:, :, rows] = weight * resp[:, :, None]
    return log_lik, nk, row_resp


def test_group_layout_sorts_stably():
    """Rows come out sorted by group, in input order within a group."""
    groups = np.array(["b", "a", "c", "a", "b", "a"])
    order, starts, labels = group_layout(groups)
    assert_array_equal(order, [1, 3, 5, 0, 4, 2])
    assert_array_equal(starts, [0, 3, 5])
    assert_array_equal(labels, ["a", "b", "c"])


@pytest.mark.parametrize("seed", range(5))
def test_group_log_prob_matches_loop(seed):
    """Multiplicity-weighted sums per group equal a loop, -inf included."""
    rng = np.random.default_rng(seed)
    n_rows, n_groups = 30, 7
    groups = np.sort(_random_groups(rng, n_rows, n_groups))
    log_prob = rng.normal(size=(2, 3, n_rows))
    log_prob[0, 1, 4] = -np.inf
    counts = rng.integers(0, 3, size=n_rows).astype(float)
    counts[4] = 0.0
    log_prob[1, 2, 5] = -np.inf
    counts[5] = 2.0
    _, starts, _ = group_layout(groups)
    expected = np.zeros((2, 3, n_groups))
    for g in range(n_groups):
        for i in np.flatnonzero(groups == g):
            if counts[i] > 0:
                expected[:, :, g] += counts[i] * log_prob[:, :, i]
    assert_allclose(group_log_prob(log_prob, counts, starts), expected)
    assert np.isneginf(group_log_prob(log_prob, counts, starts)[1, 2, groups[5]])


@pytest.mark.parametrize("seed", range(5))
def test_grouped_e_step_matches_loop(seed):
    """Log-likelihood, nk and row responsibilities equal a loop over groups."""
    rng = np.random.default_rng(seed)
    n_rows, n_groups = 40, 9
    groups = _random_groups(rng, n_rows, n_groups)
    log_prob = rng.normal(scale=3.0, size=(3, 4, n_rows))
    log_weights = np.log(rng.dirichlet(np.ones(4), size=3))
    group_weight = rng.uniform(0.5, 2.0, size=n_groups)
    order, starts, _ = group_layout(groups)
    log_lik, nk, row_resp = grouped_e_step(
        log_prob[..., order],
        log_weights,
        np.ones(n_rows),
        starts,
        group_weight,
    )
    expected = _brute_force_e_step(log_prob, log_weights, groups, group_weight)
    assert_allclose(log_lik, expected[0], rtol=1e-12)
    assert_allclose(nk, expected[1], rtol=1e-12)
    assert_allclose(row_resp, expected[2][..., order], rtol=1e-12)


def test_grouped_e_step_impossible_group():
    """A group impossible under every component gets 0 and a -inf likelihood."""
    log_prob = np.array([[[0.0, -np.inf, -1.0], [-np.inf, -2.0, -1.0]]])
    log_lik, nk, row_resp = grouped_e_step(
        log_prob, np.log([[0.5, 0.5]]), np.ones(3), np.array([0, 2]), np.ones(2)
    )
    assert np.isneginf(log_lik[0])
    assert_array_equal(row_resp[0, :, :2], 0.0)
    assert_allclose(nk[0], [0.5, 0.5])


def _binomial_table_log_lik(table, probs, log_weights):
    """Grouped log-likelihood of a (successes, failures) table under probs."""
    successes, failures = table["rows"].T
    log_prob = binom.logpmf(successes, successes + failures, probs[:, :, None])
    return grouped_e_step(
        log_prob,
        log_weights,
        table["row_counts"],
        table["starts"],
        table["group_weights"],
    )


@pytest.mark.parametrize("seed", range(4))
def test_compress_grouped_keeps_likelihood(seed):
    """Merging duplicate rows and groups leaves the likelihood and nk unchanged."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 4, size=(6, 2))
    # Groups 0 and 3 are the same multiset of rows in another order; group 1
    # repeats a row.
    members = [[0, 1, 1], [2, 2, 3], [4], [1, 0, 1], [5, 0]]
    rows = np.concatenate([base[m] for m in members])
    groups = np.repeat(np.array([10, 11, 12, 13, 14]), [len(m) for m in members])
    shuffle = rng.permutation(len(rows))
    rows, groups = rows[shuffle], groups[shuffle]
    weight = {10: 1.0, 11: 2.0, 12: 0.5, 13: 3.0, 14: 1.5}
    sample_weight = np.array([weight[g] for g in groups])
    probs = rng.uniform(0.05, 0.95, size=(2, 3))
    log_weights = np.log(rng.dirichlet(np.ones(3), size=2))

    table = compress_grouped(groups, rows, sample_weight)
    order, starts, _ = group_layout(groups)
    raw = {
        "rows": rows[order].astype(float),
        "row_counts": np.ones(len(rows)),
        "starts": starts,
        "group_weights": np.array([weight[g] for g in np.unique(groups)]),
    }
    compressed = _binomial_table_log_lik(table, probs, log_weights)
    uncompressed = _binomial_table_log_lik(raw, probs, log_weights)
    assert len(table["group_weights"]) == 4
    assert len(table["rows"]) < len(rows)
    assert_allclose(compressed[0], uncompressed[0], rtol=1e-12)
    assert_allclose(compressed[1], uncompressed[1], rtol=1e-12)
    assert table["group_index"][0] == table["group_index"][3]
    assert_allclose(table["group_weights"][table["group_index"][0]], 4.0)


def test_compress_grouped_rejects_varying_weight():
    """A sample weight that varies within a group is an error."""
    with pytest.raises(ValueError, match="constant within each group"):
        compress_grouped([0, 0, 1], np.ones((3, 2)), sample_weight=[1.0, 2.0, 1.0])


@pytest.mark.parametrize("max_rows", [1, 3, 5, 100])
def test_group_blocks_never_split_a_group(max_rows):
    """Blocks cover the rows in order, hold whole groups, and sum to the whole."""
    rng = np.random.default_rng(max_rows)
    groups = np.sort(_random_groups(rng, 50, 12))
    _, starts, _ = group_layout(groups)
    log_prob = rng.normal(size=(2, 3, 50))
    log_weights = np.log(np.full((2, 3), 1 / 3))
    blocks = group_blocks(starts, 50, max_rows)
    covered = np.concatenate([np.arange(50)[rows] for rows, _ in blocks])
    assert_array_equal(covered, np.arange(50))
    total = np.zeros(2)
    for rows, grps in blocks:
        block_groups = groups[rows]
        assert_array_equal(np.unique(block_groups), np.arange(12)[grps])
        assert rows.stop - rows.start <= max_rows or len(np.unique(block_groups)) == 1
        block_starts = starts[grps] - rows.start
        total += grouped_e_step(
            log_prob[..., rows],
            log_weights,
            np.ones(rows.stop - rows.start),
            block_starts,
            np.ones(grps.stop - grps.start),
        )[0]
    whole = grouped_e_step(log_prob, log_weights, np.ones(50), starts, np.ones(12))[0]
    assert_allclose(total, whole, rtol=1e-12)


def test_grouped_family_log_prob_matches_scipy_group_sums():
    """GroupedFamily: group log-density + constants = sum of binom.logpmf rows."""
    from scipy.special import expit

    from sklearn_coinem._families._binomial_regression import BinomialRegressionFamily
    from sklearn_coinem._groups import GroupedFamily, GroupedTable

    rng = np.random.default_rng(0)
    n_rows = 60
    groups = _random_groups(rng, n_rows, 15)
    design = np.column_stack([np.ones(n_rows), rng.integers(0, 2, size=n_rows)])
    trials = rng.integers(1, 20, size=n_rows)
    successes = rng.binomial(trials, 0.3)
    X = np.column_stack([successes, trials - successes]).astype(float)
    X[5], design[5], groups[5] = X[4], design[4], groups[4]  # a repeated row
    family = GroupedFamily(BinomialRegressionFamily())
    table = GroupedTable.from_groups(family, X, groups, None, design)
    coef = rng.normal(size=(2, 3, 2))
    got = family.log_prob(table, {"coef": coef}) + family.row_constants(table)
    log_pmf = binom.logpmf(X[:, 0], X.sum(axis=1), expit(coef @ design.T))
    expected = np.stack(
        [log_pmf[..., groups == g].sum(axis=-1) for g in np.unique(groups)], axis=-1
    )
    # Identical groups are merged: compare through group_index.
    index = compress_grouped(groups, np.column_stack([X, design]))["group_index"]
    assert_allclose(got[..., index], expected, rtol=1e-10)
    assert_allclose(
        table.X[index].sum(axis=1), [X[groups == g].sum() for g in np.unique(groups)]
    )
    assert_allclose(table.constant_sum, family.row_constants(table) @ table.weights)
    pieces = list(table.blocks(block_rows=7))
    assert len(pieces) > 1
    assert sum(p.n_distinct for p in pieces) == table.n_distinct
