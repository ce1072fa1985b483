"""Exact compression of a count matrix into a weighted table of distinct rows."""

import numpy as np

# Rows are processed in blocks of this many so temporaries stay small.
_BLOCK_ROWS = 1 << 16

# Mixed-radix keys are int64; key spaces at least this large need another path.
_MAX_KEY_SPACE = 1 << 62

# Bits of a float64 significand: whole numbers below 2**53 add exactly.
_SIGNIFICAND_BITS = 53


def _is_integral(X):
    """Return True when every entry of X is a whole number (checked blockwise)."""
    if np.issubdtype(X.dtype, np.integer):
        return True
    for start in range(0, X.shape[0], _BLOCK_ROWS):
        block = X[start : start + _BLOCK_ROWS]
        if not np.array_equal(block, np.floor(block)):
            return False
    return True


def _limb_grid(weights):
    """Top exponent and limb width that split ``weights`` into exact limbs.

    Every weight is below ``2**top``; a limb holds ``bits`` bits, so that the
    sum of one limb over all the rows is a whole number below ``2**53``.
    """
    top = int(np.frexp(weights.max(initial=0.0))[1])
    return top, _SIGNIFICAND_BITS - len(weights).bit_length()


def _limb_sums(groups, weights, n_groups, grid, sums):
    """Add, in place, the sums by group of each limb of ``weights`` to ``sums``.

    A weight is split exactly into ``sum_j q_j * 2**base_j`` with whole
    ``q_j < 2**bits`` on the fixed grid ``base_j = top - (j + 1) * bits``;
    ``sums[base_j]`` accumulates the ``q_j`` by group. Whole numbers below
    ``2**53`` add exactly, so these sums do not depend on the order of the
    rows. Rows whose remaining bits are zero leave once they are the
    majority, so a few rows with tiny weights cost little.
    """
    base, bits = grid
    rest = weights
    while rest.size:
        base -= bits
        limb = np.floor(np.ldexp(rest, -base))
        limb_sum = np.bincount(groups, weights=limb, minlength=n_groups)
        sums[base] = sums[base] + limb_sum if base in sums else limb_sum
        rest = rest - np.ldexp(limb, base)
        left = rest > 0
        n_left = np.count_nonzero(left)
        if n_left == 0:
            return
        # Finished rows add zeros; drop them only once they are the majority.
        if 2 * n_left < len(rest):
            groups, rest = groups[left], rest[left]


def _combine_limbs(sums, n_groups):
    """Totals from the exact limb sums, added in a fixed order (smallest first)."""
    totals = np.zeros(n_groups)
    for base in sorted(sums):
        totals += np.ldexp(sums[base], base)
    return totals


def _group_sums(groups, weights, n_groups):
    """Sums of non-negative ``weights`` by group, independent of their order.

    Float addition is not associative: a running sum of a group's weights
    depends on the order of the rows. Here each weight is split exactly into
    limbs whose sums are exact (``_limb_sums``), and the limbs are combined
    in a fixed order, so permuting the rows gives bit-identical totals,
    within a few rounding errors of the exact sums.
    """
    sums = {}
    _limb_sums(groups, weights, n_groups, _limb_grid(weights), sums)
    return _combine_limbs(sums, n_groups)


def _key_radix(X, max_bins):
    """Per-column radix (int64) of the mixed-radix row key, or None.

    One pass over X gives the overall maximum, enough for a uniform radix; the
    per-column maxima (a slower strided pass) are computed only when the
    uniform key space is too large for ``np.bincount``. None means that some
    column alone does not fit in an int64 key.
    """
    n_features = X.shape[1]
    radix = [int(X.max()) + 1] * n_features
    if np.prod(radix, dtype=object) > max_bins:
        radix = [int(m) + 1 for m in X.max(axis=0)]
    if max(radix) >= _MAX_KEY_SPACE:
        return None
    return np.array(radix, dtype=np.int64)


def _key_words(radix):
    """Split the columns into runs whose key space fits in one int64 word."""
    words, start, space = [], 0, 1
    for column, base in enumerate(radix.tolist()):
        if space * base >= _MAX_KEY_SPACE:
            words.append(slice(start, column))
            start, space = column, 1
        space *= base
    words.append(slice(start, len(radix)))
    return words


def _key_strides(radix):
    """Place value of each column: the first column is the most significant."""
    strides = np.ones_like(radix)
    strides[:-1] = np.cumprod(radix[::-1])[::-1][1:]
    return strides


def _row_keys(block, strides):
    """Mixed-radix int64 key of each row of an integral block."""
    keys = block[:, -1].astype(np.int64)
    for column, stride in zip(block.T[:-1], strides[:-1]):
        keys += column.astype(np.int64, copy=False) * stride
    return keys


def _decode_keys(keys, radix, strides):
    """Counts (float64) of the rows with the given keys."""
    return ((keys[:, None] // strides[None, :]) % radix[None, :]).astype(np.float64)


def _dense_key_table(X, sample_weight, radix):
    """Compress integral counts with a mixed-radix key and ``np.bincount``.

    One linear pass: rows are keyed block by block and counted into one
    array of bins; the table is the non-empty bins, decoded back into counts.
    Blocks are at least as long as the key space, so each block's bincount
    costs O(block) and the total cost is O(n_samples + n_bins). Float
    weights are binned as exact limbs on one grid for all the blocks
    (``_limb_sums``), so the totals do not depend on the order of the rows.
    """
    strides = _key_strides(radix)
    n_bins = int(np.prod(radix))
    block_rows = max(_BLOCK_ROWS, n_bins)
    totals = np.zeros(n_bins, dtype=np.int64)
    grid = None if sample_weight is None else _limb_grid(sample_weight)
    limb_sums = {}
    for start in range(0, X.shape[0], block_rows):
        keys = _row_keys(X[start : start + block_rows], strides)
        if grid is None:
            totals += np.bincount(keys, minlength=n_bins)
        else:
            block_weight = sample_weight[start : start + len(keys)]
            _limb_sums(keys, block_weight, n_bins, grid, limb_sums)
    if grid is not None:
        totals = _combine_limbs(limb_sums, n_bins)
    keys = np.flatnonzero(totals)
    return _decode_keys(keys, radix, strides), totals[keys].astype(np.float64)


def _sorted_key_table(X, sample_weight, radix):
    """Compress integral counts by sorting int64 keys of the rows.

    Each row gets one mixed-radix key per run of columns (``_key_words``);
    a sort of the key words orders the rows lexicographically and equal
    rows become neighbours.
    """
    words = _key_words(radix)
    keys = np.empty((len(words), X.shape[0]), dtype=np.int64)
    for start in range(0, X.shape[0], _BLOCK_ROWS):
        block = X[start : start + _BLOCK_ROWS]
        for word_keys, word in zip(keys, words):
            word_keys[start : start + len(block)] = _row_keys(
                block[:, word], _key_strides(radix[word])
            )
    if len(words) == 1:
        order = np.argsort(keys[0], kind="stable")
    else:
        order = np.lexsort(keys[::-1])
    keys = keys[:, order]
    is_new = np.ones(X.shape[0], dtype=bool)
    is_new[1:] = (keys[:, 1:] != keys[:, :-1]).any(axis=0)
    starts = np.flatnonzero(is_new)
    if sample_weight is None:
        totals = np.diff(np.append(starts, X.shape[0])).astype(np.float64)
    else:
        groups = np.cumsum(is_new) - 1
        totals = _group_sums(groups, sample_weight[order], len(starts))
    keep = totals > 0
    return X[order[starts[keep]]].astype(np.float64), totals[keep]


def _sorted_unique_table(X, sample_weight):
    """Compress any numeric counts with a sort-based unique over rows."""
    rows, inverse = np.unique(X, axis=0, return_inverse=True)
    if sample_weight is None:
        weights = np.bincount(inverse.ravel(), minlength=len(rows)).astype(float)
    else:
        weights = _group_sums(inverse.ravel(), sample_weight, len(rows))
    keep = weights > 0
    return rows[keep].astype(np.float64), weights[keep]


def _compress_counts(X, sample_weight=None, max_bins=None):
    """Return the distinct rows of ``X`` and their total weight.

    Integral counts get an int64 mixed-radix key per row. A small key space
    is counted with ``np.bincount`` in one linear pass; larger ones are
    sorted (wide rows get one key word per run of columns that fits in
    int64). Other data (non-integral counts, or a column whose counts do not
    fit in an int64 key) use a sort-based unique over rows.
    All paths return the same table, so the result does not depend on the
    path nor on the order of the rows: float weights of equal rows are
    summed exactly in limbs (``_group_sums``), so even their rounding is the
    same for any order of the rows.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Validated, non-negative counts (any real or integer dtype).
    sample_weight : ndarray of shape (n_samples,), default=None
        Non-negative weights; ``None`` means every row has weight 1.
    max_bins : int, default=None
        Largest key space the linear ``bincount`` path may allocate; defaults
        to ``max(n_samples, 2**16)``, so its memory stays within a small
        multiple of the input's. Larger key spaces are sorted.

    Returns
    -------
    table : ndarray of shape (n_distinct, n_features)
        Distinct rows with positive total weight, in lexicographic order.
    weights : ndarray of shape (n_distinct,)
        Total weight (multiplicity times sample weight) of each distinct row.
    """
    n_samples, n_features = X.shape
    if n_samples == 0:
        return np.zeros((0, n_features)), np.zeros(0)
    if max_bins is None:
        max_bins = max(n_samples, _BLOCK_ROWS)
    radix = _key_radix(X, max_bins) if _is_integral(X) else None
    if radix is None:
        return _sorted_unique_table(X, sample_weight)
    if np.prod(radix, dtype=object) <= max_bins:
        return _dense_key_table(X, sample_weight, radix)
    return _sorted_key_table(X, sample_weight, radix)


def _merge_tables(tables):
    """Merge weighted tables of distinct rows into one, summing the weights.

    Parameters
    ----------
    tables : sequence of (ndarray of shape (n_i, n_features), ndarray of shape (n_i,))
        Tables as returned by ``_compress_counts``; rows may repeat across
        tables.

    Returns
    -------
    table : ndarray of shape (n_distinct, n_features)
        Distinct rows in lexicographic order, as ``_compress_counts`` sorts
        them, so merging the tables of the chunks of ``X`` gives the table
        of ``X``.
    weights : ndarray of shape (n_distinct,)
        Total weight of each distinct row, summed as ``_compress_counts``
        does, so it does not depend on the order of the tables nor of their
        rows.
    """
    rows = np.concatenate([np.asarray(r, dtype=np.float64) for r, _ in tables])
    weights = np.concatenate([np.asarray(w, dtype=np.float64) for _, w in tables])
    if len(rows) == 0:
        return rows, weights
    order = np.lexsort(rows.T[::-1])
    rows, weights = rows[order], weights[order]
    starts_row = np.ones(len(rows), dtype=bool)
    starts_row[1:] = (rows[1:] != rows[:-1]).any(axis=1)
    starts = np.flatnonzero(starts_row)
    groups = np.cumsum(starts_row) - 1
    return rows[starts], _group_sums(groups, weights, len(starts))
