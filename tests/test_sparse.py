"""Sparse counts: the same fits, scores and tables as the dense counts."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse

from sklearn_coinem import BinomialMixture, select_n_components
from sklearn_coinem._count_table import _compress_counts
from sklearn_coinem._table import compress_sparse


def _documents(seed, n_rows=300, n_features=40, n_components=3):
    """Bag-of-words-like counts: few non-zero words per row."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(n_features, 0.2), size=n_components)
    labels = rng.integers(n_components, size=n_rows)
    lengths = rng.integers(5, 30, size=n_rows)
    return np.array([rng.multinomial(n, probs[k]) for n, k in zip(lengths, labels)])


@given(
    seed=st.integers(0, 2**32 - 1),
    n_rows=st.integers(1, 30),
    n_features=st.integers(1, 6),
    weighted=st.booleans(),
)
@settings(max_examples=60, deadline=None)
def test_compress_sparse_matches_dense_compression(seed, n_rows, n_features, weighted):
    """Sparse compression gives the dense path's rows, order and weights."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 3, size=(n_rows, n_features))
    X = X * (rng.uniform(size=X.shape) < 0.5)
    X = X[rng.integers(0, n_rows, size=3 * n_rows)]
    weights = rng.uniform(0, 2, size=len(X)) if weighted else None
    rows, totals = _compress_counts(X, weights)
    sparse_rows, sparse_totals = compress_sparse(sparse.csr_matrix(X), weights)
    assert_array_equal(sparse_rows.toarray(), rows)
    assert_allclose(sparse_totals, totals, rtol=1e-12)


@pytest.mark.parametrize(
    "init_params", ["k-means++", "kmeans", "random", "random_resp", "random_from_data"]
)
@pytest.mark.parametrize("container", [sparse.csr_matrix, sparse.csc_array])
def test_fit_sparse_equals_dense(init_params, container):
    """Every initialisation fits sparse counts exactly as the dense ones."""
    X = _documents(0)
    params = {"n_init": 3, "random_state": 0, "init_params": init_params}
    dense = BinomialMixture(3, **params).fit(X)
    fitted = BinomialMixture(3, **params).fit(container(X))
    assert_allclose(fitted.weights_, dense.weights_, rtol=1e-8)
    assert_allclose(fitted.probs_, dense.probs_, rtol=1e-8, atol=1e-12)
    assert fitted.n_iter_ == dense.n_iter_
    X_sparse = container(X)
    assert_allclose(fitted.score_samples(X_sparse), dense.score_samples(X), rtol=1e-10)
    assert_allclose(fitted.predict_proba(X_sparse), dense.predict_proba(X), atol=1e-7)
    assert_array_equal(fitted.predict(X_sparse), dense.predict(X))
    for criterion in ("aic", "bic", "icl"):
        assert_allclose(
            getattr(fitted, criterion)(X_sparse),
            getattr(dense, criterion)(X),
            rtol=1e-10,
        )


def test_fit_sparse_sample_weight_and_partial_fit_equal_dense():
    """Weights, and streams of sparse chunks, match the dense fits."""
    X = _documents(1)
    weight = np.random.default_rng(1).uniform(0.2, 3.0, size=len(X))
    dense = BinomialMixture(3, random_state=0).fit(X, sample_weight=weight)
    fitted = BinomialMixture(3, random_state=0).fit(
        sparse.csr_matrix(X), sample_weight=weight
    )
    assert_allclose(fitted.probs_, dense.probs_, rtol=1e-8, atol=1e-12)
    streams = []
    for convert in (np.asarray, sparse.csr_matrix):
        bm = BinomialMixture(3, random_state=0, max_iter=20)
        for chunk in np.array_split(X, 3):
            bm.partial_fit(convert(chunk))
        streams.append(bm)
    assert_allclose(streams[1].probs_, streams[0].probs_, rtol=1e-8, atol=1e-12)
    assert streams[1]._stream.n_distinct == streams[0]._stream.n_distinct


def test_standard_errors_and_scan_on_sparse_counts():
    """Standard errors and the K scan take sparse counts."""
    X = _documents(2, n_features=8)
    dense = BinomialMixture(2, random_state=0).fit(X)
    fitted = BinomialMixture(2, random_state=0).fit(sparse.csr_matrix(X))
    with pytest.warns(UserWarning, match="Standard errors"):
        expected = dense.standard_errors(X)
    with pytest.warns(UserWarning, match="Standard errors"):
        result = fitted.standard_errors(sparse.csr_matrix(X))
    assert_allclose(result.probs, expected.probs, rtol=1e-8, equal_nan=True)
    scan = select_n_components(sparse.csr_matrix(X), range(1, 4), random_state=0)
    dense_scan = select_n_components(X, range(1, 4), random_state=0)
    assert_allclose(scan.table["bic"], dense_scan.table["bic"], rtol=1e-10)


def test_standard_errors_refuse_too_many_parameters():
    """K*V parameters beyond the limit raise a clear error, not a memory blow-up."""
    rng = np.random.default_rng(3)
    X = sparse.random(200, 6000, density=0.002, random_state=rng, format="csr")
    X.data = np.ceil(10 * X.data)
    bm = BinomialMixture(2, max_iter=5, random_state=0).fit(X)
    with pytest.raises(ValueError, match="observed information of the 11999"):
        bm.standard_errors(X)


def test_sparse_input_is_not_mutated():
    """Fitting and scoring leave the caller's sparse matrix as it was."""
    X = sparse.csr_matrix(_documents(4))
    X.data[:5] = 0  # explicit zeros, which the table drops from its copy
    before = (X.data.copy(), X.indices.copy(), X.indptr.copy())
    bm = BinomialMixture(2, random_state=0).fit(X)
    bm.score(X)
    for array, saved in zip((X.data, X.indices, X.indptr), before):
        assert_array_equal(array, saved)


def test_sparse_negative_count_is_rejected():
    """A negative entry of a sparse matrix gets the dense error message."""
    X = sparse.csr_matrix(_documents(5))
    X.data[0] = -1
    with pytest.raises(ValueError, match="Negative values in data passed to"):
        BinomialMixture(2).fit(X)
