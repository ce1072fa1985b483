"""Dask integration: distributed row tables, E-steps and lazy prediction."""

import sys

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils.validation import check_array, check_non_negative

from sklearn_coinem._estep import estimate_log_resp, sum_statistics
from sklearn_coinem._numerics import safe_log
from sklearn_coinem._table import RowBlock, RowTable, merge_tables

# Largest number of distinct rows (summed over the chunk tables) that is
# merged into one table on the client. Beyond it the chunk tables stay on the
# workers and every EM iteration reduces their sufficient statistics there.
# At 2**20 rows the merged table of a few columns is tens of MiB.
MAX_LOCAL_ROWS = 1 << 20

# Fan-in of the tree reductions: a reduction task holds at most this many
# chunk results at once.
_SPLIT_EVERY = 8


def _is_dask_collection(X):
    """Return True when X is a dask collection, without importing dask."""
    dask = sys.modules.get("dask")
    return dask is not None and dask.is_dask_collection(X)


def _import_dask():
    """Import dask.array and dask.delayed, with a hint if dask is missing."""
    try:
        import dask
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - dask is present in CI
        raise ImportError(
            "Dask input needs the optional dependency dask: "
            "pip install 'sklearn_coinem[dask]'."
        ) from exc
    return dask, da


def check_2d(X):
    """Raise sklearn's error unless the dask collection X is two-dimensional."""
    if X.ndim != 2:
        raise ValueError(
            f"Expected 2D array, got {X.ndim}D array instead. Reshape your data "
            "either using array.reshape(-1, 1) if your data has a single feature "
            "or array.reshape(1, -1) if it contains a single sample."
        )


def feature_names_view(X):
    """What ``validate_data`` should see of X to check its column names.

    sklearn reads the names of in-memory frames only; a dask dataframe is
    shown as an empty pandas frame with its columns, so that fit records
    ``feature_names_in_`` and later calls validate the names as for pandas.
    """
    columns = getattr(X, "columns", None)
    if columns is None or not hasattr(X, "to_dask_array"):
        return X
    import pandas as pd

    return pd.DataFrame(columns=columns)


def _as_dask_array(X):
    """A 2-D dask array with all columns in one chunk; dataframes are converted."""
    _, da = _import_dask()
    if not isinstance(X, da.Array):
        if not hasattr(X, "to_dask_array"):
            raise TypeError(
                f"Expected a dask array or dask dataframe, got {type(X).__name__}."
            )
        X = X.to_dask_array(lengths=True)
    check_2d(X)
    return X.rechunk({1: -1})


def _known_row_chunks(array):
    """The array, with its row chunk sizes computed if dask does not know them.

    Arrays from dataframes (``to_dask_array()`` without lengths) have unknown
    chunk sizes; aligning sample weights with them needs the sizes, which
    the workers compute without sending any chunk to the client.
    """
    if array.ndim and np.isnan(array.chunks[0]).any():
        return array.compute_chunk_sizes()
    return array


def _aligned_weights(sample_weight, row_chunks):
    """Sample weights as a 1-D dask array chunked like ``row_chunks``."""
    _, da = _import_dask()
    expected = (int(sum(row_chunks)),)
    if isinstance(sample_weight, da.Array):
        sample_weight = _known_row_chunks(sample_weight)
    else:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
    if sample_weight.shape != expected:
        raise ValueError(
            f"sample_weight.shape == {sample_weight.shape}, expected {expected}!"
        )
    if isinstance(sample_weight, da.Array):
        return sample_weight.rechunk((row_chunks,))
    return da.from_array(sample_weight, chunks=(row_chunks,))


def _weight_blocks(sample_weight, X):
    """One sample-weight block (or None) per row chunk of X (chunk sizes known)."""
    if sample_weight is None:
        return [None] * X.numblocks[0]
    sample_weight = _aligned_weights(sample_weight, X.chunks[0])
    return list(sample_weight.to_delayed().ravel())


def _check_block(block, whom):
    """Validate one chunk with the checks (and messages) of in-memory input.

    A chunk may be empty (a boolean filter emptied it): sklearn's
    non-negativity check cannot reduce it, and it has nothing to check.
    """
    # Imported here: _validation imports this module.
    from sklearn_coinem._validation import check_row_totals

    block = check_array(
        block,
        dtype="numeric",
        ensure_min_samples=0,
        input_name="X",
        estimator=whom.split(".")[0],
    )
    if block.size:
        check_non_negative(block, whom)
    # The client warns about lost digits, from the largest total of all chunks.
    check_row_totals(block)
    return block


def _check_chunk_weight(sample_weight, n_rows):
    """Validate the weights of one chunk; unlike the whole, a chunk may be all zero."""
    sample_weight = check_array(
        sample_weight,
        ensure_2d=False,
        dtype=np.float64,
        ensure_min_samples=0,
        input_name="sample_weight",
    )
    if sample_weight.shape != (n_rows,):
        raise ValueError(
            f"sample_weight.shape == {sample_weight.shape}, expected {(n_rows,)}!"
        )
    if sample_weight.size:
        check_non_negative(sample_weight, "`sample_weight`")
    return sample_weight


def _chunk_table(block, sample_weight, family, whom):
    """Validate and compress one chunk: (RowTable, sums).

    ``sums`` holds what the client checks the whole table with:
    ``(n_samples, n_rows with positive weight, largest row total, weighted
    total count)``.
    """
    block = _check_block(block, whom)
    n_rows = block.shape[0]
    if sample_weight is not None:
        sample_weight = _check_chunk_weight(sample_weight, block.shape[0])
        n_rows = np.count_nonzero(sample_weight)
    table = RowTable.compress(family, block, sample_weight)
    totals = table.X.sum(axis=1)
    with np.errstate(over="ignore"):
        weighted_total = table.weights @ totals
    sums = np.array([block.shape[0], n_rows, totals.max(initial=0.0), weighted_total])
    return table, sums


def _combine_sums(*sums):
    """Sums of several chunks: counts and totals add up, the largest row is kept."""
    sums = np.array(sums)
    with np.errstate(over="ignore"):
        combined = sums.sum(axis=0)
    combined[2] = sums[:, 2].max()
    return combined


def _merge_chunk_tables(family, *parts):
    """Merge (RowTable, sums) results into one."""
    table = merge_tables(family, [table for table, _ in parts])
    return table, _combine_sums(*(sums for _, sums in parts))


def _summary(part):
    """(n_distinct, sums, constant_sum, total_weight) of a chunk table."""
    table, sums = part
    return table.n_distinct, sums, table.constant_sum, table.total_weight


def _tree_reduce(parts, combine, *args):
    """Reduce delayed values with ``combine(*args, *values)`` in a tree.

    Each reduction task combines at most ``_SPLIT_EVERY`` values.
    """
    dask, _ = _import_dask()
    while len(parts) > 1:
        parts = [
            dask.delayed(combine, pure=True)(*args, *parts[i : i + _SPLIT_EVERY])
            for i in range(0, len(parts), _SPLIT_EVERY)
        ]
    return parts[0]


class DaskCountTable:
    """Row table whose chunk tables stay on the dask workers.

    It quacks like :class:`~sklearn_coinem._table.RowTable` for the EM
    engine and the inference code: ``map_reduce`` maps a per-row sum (the
    E-step statistics, information criteria, observed information) over the
    chunk tables and sums the results in a tree, so only the sums reach the
    client.

    Attributes
    ----------
    X, weights, design, labels : ndarray or None
        Merged table of the first chunks, at most ``max_local_rows`` distinct
        rows (all of the first chunk if it alone is larger); used only to draw
        starting points.
    constant_sum, total_weight : float
        Exact constants of the whole table.
    """

    def __init__(self, parts, summaries, family, max_local_rows):
        dask, _ = _import_dask()
        self.parts = parts
        self.constant_sum = float(sum(s[2] for s in summaries))
        self.total_weight = float(sum(s[3] for s in summaries))
        sizes = np.cumsum([s[0] for s in summaries])
        n_first = max(1, int(np.searchsorted(sizes, max_local_rows, side="right")))
        sample = _tree_reduce(list(parts[:n_first]), _merge_chunk_tables, family)
        self.sample = dask.compute(sample)[0][0]
        self.X, self.weights = self.sample.X, self.sample.weights
        self.design, self.labels = self.sample.design, self.sample.labels

    @property
    def n_distinct(self):
        """Distinct rows of the local sample (BLAS threading is decided on it)."""
        return self.sample.n_distinct

    def blocks(self, *args):
        """Blocks of the local sample (for starting points only)."""
        return self.sample.blocks(*args)

    def map_reduce(self, func, *args):
        """Sum ``func(chunk_table, *args)`` over the chunk tables, on the workers.

        ``func`` returns statistics (arrays, or tuples and dicts of them);
        they are summed entry by entry in a tree and only the sum reaches the
        client.
        """
        dask, _ = _import_dask()
        results = [
            dask.delayed(_apply_to_part, pure=True)(func, part, *args)
            for part in self.parts
        ]
        return dask.compute(_tree_reduce(results, sum_statistics))[0]


def _apply_to_part(func, part, *args):
    """``func`` applied to the RowTable of one (RowTable, sums) part."""
    return func(part[0], *args)


def dask_count_table(X, sample_weight, *, family, whom, max_local_rows=MAX_LOCAL_ROWS):
    """Validate and compress a dask array chunk by chunk on the workers.

    Parameters
    ----------
    X : dask array or dask dataframe of shape (n_samples, n_features)
        Counts; validated chunk by chunk with the in-memory messages.
    sample_weight : array-like or dask array of shape (n_samples,) or None
        Row weights, aligned with the row chunks of X.
    family : ComponentFamily
        The component densities (for the per-row constants).
    whom : str
        Caller named in the error for negative counts.
    max_local_rows : int, default=MAX_LOCAL_ROWS
        Distinct rows up to which the merged table is brought to the client;
        larger tables stay distributed (:class:`DaskCountTable`).

    Returns
    -------
    table : RowTable or DaskCountTable
        The count table of all rows.
    sums : Bunch
        ``n_samples`` (rows of X), ``n_rows`` (rows with positive weight),
        ``max_total`` (largest row total) and ``weighted_total`` (weighted
        sum of the row totals), reduced on the workers for the checks of
        the whole table.
    """
    dask, _ = _import_dask()
    X = _as_dask_array(X)
    if sample_weight is not None:
        X = _known_row_chunks(X)
    parts = [
        dask.delayed(_chunk_table, pure=True)(block, weight, family, whom)
        for block, weight in zip(
            X.to_delayed().ravel(), _weight_blocks(sample_weight, X)
        )
    ]
    return _reduce_chunk_tables(parts, family, max_local_rows)


def _reduce_chunk_tables(parts, family, max_local_rows):
    """The table of the chunk tables ``parts``, and the sums of their checks.

    Small tables are merged into one in-memory table; larger ones stay on
    the workers as a :class:`DaskCountTable`.
    """
    dask, _ = _import_dask()
    parts = dask.persist(*parts)
    summaries = dask.compute(*[dask.delayed(_summary)(part) for part in parts])
    n_samples, n_rows, max_total, weighted_total = _combine_sums(
        *(s[1] for s in summaries)
    )
    sums = Bunch(
        n_samples=int(n_samples),
        n_rows=int(n_rows),
        max_total=float(max_total),
        weighted_total=float(weighted_total),
    )
    if sum(s[0] for s in summaries) <= max_local_rows:
        merged = _tree_reduce(list(parts), _merge_chunk_tables, family)
        table = dask.compute(merged)[0][0]
    else:
        table = DaskCountTable(parts, summaries, family, max_local_rows)
    return table, sums


def _chunk_log_resp(block, family, weights, params, whom):
    """Per-row log-likelihood and log responsibilities of one validated chunk."""
    block = np.asarray(_check_block(block, whom), dtype=np.float64)
    rows = RowBlock(block, np.ones(len(block)))
    log_norm, log_resp = estimate_log_resp(
        rows,
        family,
        safe_log(weights)[None],
        {name: value[None] for name, value in params.items()},
    )
    return log_norm[:, 0] + family.row_constants(rows), log_resp[:, 0]


def _chunk_score_samples(block, family, weights, params, whom):
    return _chunk_log_resp(block, family, weights, params, whom)[0]


def _chunk_predict_proba(block, family, weights, params, whom):
    return np.exp(_chunk_log_resp(block, family, weights, params, whom)[1])


def _chunk_predict(block, family, weights, params, whom):
    return _chunk_log_resp(block, family, weights, params, whom)[1].argmax(axis=1)


def dask_row_map(X, family, weights, params, method, whom):
    """Lazy per-row ``score_samples``, ``predict_proba`` or ``predict`` of X."""
    X = _as_dask_array(X)
    args = (family, weights, params, whom)
    if method == "predict_proba":
        return X.map_blocks(
            _chunk_predict_proba,
            *args,
            chunks=(X.chunks[0], (len(weights),)),
            dtype=np.float64,
        )
    func, dtype = {
        "score_samples": (_chunk_score_samples, np.float64),
        "predict": (_chunk_predict, np.intp),
    }[method]
    return X.map_blocks(func, *args, drop_axis=1, dtype=dtype)


def dask_weighted_mean(values, sample_weight):
    """Weighted mean of a 1-D dask array, computed on the workers.

    The weights are checked like in memory (shape, NaN, infinity, negative
    values, all zero) on the workers; only scalars reach the client. As in
    memory, rows of zero weight are left out (a row scoring ``-inf`` does not
    make the mean NaN) and the weights are divided by their largest, so that
    neither 1e308 nor subnormal weights overflow or lose digits.
    """
    dask, da = _import_dask()
    if sample_weight is None:
        return float(values.mean().compute())
    values = _known_row_chunks(values)
    sample_weight = _aligned_weights(sample_weight, values.chunks[0])
    largest, smallest, has_nan, has_inf = dask.compute(
        sample_weight.max(),
        sample_weight.min(),
        da.isnan(sample_weight).any(),
        da.isinf(sample_weight).any(),
    )
    if has_nan:
        raise ValueError("Input sample_weight contains NaN.")
    if has_inf:
        raise ValueError(
            "Input sample_weight contains infinity or a value too large for "
            "dtype('float64')."
        )
    if smallest < 0:
        raise ValueError("Negative values in data passed to `sample_weight`.")
    if not largest > 0:
        raise ValueError("Sample weights must contain at least one non-zero number.")
    relative = sample_weight / largest
    terms = da.where(relative > 0, values * relative, 0.0)
    total, norm = dask.compute(terms.sum(), relative.sum())
    return float(total / norm)


def dask_outcome_labels(y, labels_of):
    """``labels_of`` applied to the distinct values of a 1-D dask y."""
    dask, da = _import_dask()
    return labels_of(np.asarray(da.unique(y).compute()))


def _design_chunk_table(X_block, y_block, sample_weight, family, rows, rows_args):
    """Validate and compress one chunk of covariates and outcomes.

    ``rows(X_block, y_block, *rows_args)`` returns the chunk's validated
    counts and design, the in-memory checks and messages; the result is the
    ``(RowTable, sums)`` of :func:`_chunk_table`.
    """
    counts, design = rows(X_block, y_block, *rows_args)
    n_rows = counts.shape[0]
    if sample_weight is not None:
        sample_weight = _check_chunk_weight(sample_weight, counts.shape[0])
        n_rows = np.count_nonzero(sample_weight)
    table = RowTable.compress(family, counts, sample_weight, design)
    totals = table.X.sum(axis=1)
    weighted_total = table.weights @ totals
    sums = np.array([counts.shape[0], n_rows, totals.max(initial=0.0), weighted_total])
    return table, sums


def dask_design_table(
    X, y, sample_weight, *, family, rows, rows_args=(), max_local_rows=MAX_LOCAL_ROWS
):
    """Validate and compress dask covariates and outcomes on the workers.

    The table of distinct (counts, design) rows, as ``RowTable.compress``
    makes in memory, for families with covariates. y (in memory or dask,
    1-D or 2-D) is split along the row chunks of X.

    Parameters
    ----------
    X : dask array or dask dataframe of shape (n_samples, n_features)
        Covariates.
    y : array-like or dask array of shape (n_samples,) or (n_samples, q)
        Outcomes.
    sample_weight : array-like or dask array of shape (n_samples,) or None
        Row weights.
    family : ComponentFamily
        The component densities (for the per-row constants).
    rows : callable
        ``rows(X_block, y_block, *rows_args) -> (counts, design)``, which
        validates one chunk; picklable.
    rows_args : tuple, default=()
        Its further arguments.
    max_local_rows : int, default=MAX_LOCAL_ROWS
        Distinct rows up to which the merged table is brought to the client.

    Returns
    -------
    table : RowTable or DaskCountTable
    sums : Bunch
        As :func:`dask_count_table`'s.
    """
    dask, da = _import_dask()
    X = _known_row_chunks(_as_dask_array(X))
    expected = int(sum(X.chunks[0]))
    if not isinstance(y, da.Array):
        y = np.asarray(y)
    if isinstance(y, da.Array):
        y = _known_row_chunks(y)
    if y.ndim not in (1, 2) or y.shape[0] != expected:
        raise ValueError(
            "Found input variables with inconsistent numbers of samples: "
            f"[{expected}, {y.shape[0] if y.ndim else 0}]"
        )
    chunks = (X.chunks[0],) if y.ndim == 1 else (X.chunks[0], (y.shape[1],))
    if isinstance(y, da.Array):
        y = y.rechunk(chunks)
    else:
        y = da.from_array(y, chunks=chunks)
    parts = [
        dask.delayed(_design_chunk_table, pure=True)(
            X_block, y_block, weight, family, rows, rows_args
        )
        for X_block, y_block, weight in zip(
            X.to_delayed().ravel(),
            y.to_delayed().ravel(),
            _weight_blocks(sample_weight, X),
        )
    ]
    return _reduce_chunk_tables(parts, family, max_local_rows)
