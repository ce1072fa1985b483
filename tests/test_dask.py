"""BinomialMixture on dask arrays, on a real distributed LocalCluster."""

import faulthandler

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import multinomial

from sklearn_coinem import BinomialMixture

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")


# Seconds after which a hung cluster start, test or shutdown aborts the run
# with every thread's traceback: CI has no pytest-timeout, and a lost worker
# could otherwise block a gather forever. Each test takes a few seconds.
_WATCHDOG_SECONDS = 180


@pytest.fixture(scope="module")
def client():
    """A 2-process LocalCluster on the loopback interface, closed afterwards."""
    faulthandler.dump_traceback_later(_WATCHDOG_SECONDS, exit=True)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        distributed.Client(cluster, timeout=60) as client,
    ):
        faulthandler.cancel_dump_traceback_later()
        yield client
        faulthandler.dump_traceback_later(_WATCHDOG_SECONDS, exit=True)
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture(autouse=True)
def watchdog():
    """Abort the run, with tracebacks, if one test hangs."""
    faulthandler.dump_traceback_later(_WATCHDOG_SECONDS, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def received(monkeypatch):
    """Record the size in bytes of every result the client gathers."""
    from dask.sizeof import sizeof

    sizes = []
    gather = distributed.Client._gather

    async def recording_gather(self, futures, *args, **kwargs):
        result = await gather(self, futures, *args, **kwargs)
        sizes.append(sizeof(result))
        return result

    monkeypatch.setattr(distributed.Client, "_gather", recording_gather)
    return sizes


def _coins(n_samples, seed, max_trials=20):
    """Two-coin data with varying trials (some rows have no trials)."""
    rng = np.random.default_rng(seed)
    trials = rng.integers(0, max_trials + 1, n_samples)
    heads = rng.binomial(trials, np.where(rng.random(n_samples) < 0.3, 0.8, 0.3))
    return np.column_stack([heads, trials - heads])


def _assert_same_fit(result, expected):
    """Fitted parameters and diagnostics agree to 1e-8."""
    assert_allclose(result.weights_, expected.weights_, rtol=0, atol=1e-8)
    assert_allclose(result.probs_, expected.probs_, rtol=0, atol=1e-8)
    assert_allclose(result.lower_bound_, expected.lower_bound_, rtol=1e-10)
    assert result.n_iter_ == expected.n_iter_
    assert result.n_features_in_ == expected.n_features_in_


@pytest.mark.parametrize("weighted", [False, True])
def test_fit_dask_equals_in_memory(client, weighted):
    """A dask array fits the same mixture as the in-memory array."""
    X = _coins(3000, seed=0)
    sample_weight = None
    if weighted:
        # The whole first chunk has zero weight, which only the total must not.
        sample_weight = np.random.default_rng(1).uniform(0, 2, len(X))
        sample_weight[:700] = 0
    dask_weight = None if sample_weight is None else da.from_array(sample_weight, 500)
    params = {"n_components": 2, "n_init": 3, "random_state": 0, "tol": 1e-10}
    expected = BinomialMixture(**params).fit(X, sample_weight=sample_weight)
    result = BinomialMixture(**params).fit(
        da.from_array(X, chunks=(700, 1)), sample_weight=dask_weight
    )
    _assert_same_fit(result, expected)


def test_fit_dask_non_integer_multinomial_equals_in_memory(client):
    """Non-integer three-column counts (the sort-based compression) agree too."""
    rng = np.random.default_rng(2)
    X = rng.integers(0, 4, size=(2000, 3)) * 0.5
    params = {"n_components": 2, "random_state": 0, "init_params": "random"}
    expected = BinomialMixture(**params).fit(X)
    result = BinomialMixture(**params).fit(da.from_array(X, chunks=(300, 3)))
    _assert_same_fit(result, expected)


def test_fit_dask_distributed_estep_equals_in_memory(client, monkeypatch):
    """Above MAX_LOCAL_ROWS the E-step runs on the workers, with the same result."""
    from sklearn_coinem import _dask

    monkeypatch.setattr(_dask, "MAX_LOCAL_ROWS", 50)
    X = _coins(3000, seed=3)
    start = {"weights_init": [0.5, 0.5], "probs_init": [[0.6, 0.4], [0.2, 0.8]]}
    expected = BinomialMixture(2, **start).fit(X)
    result = BinomialMixture(2, **start).fit(da.from_array(X, chunks=(500, 2)))
    _assert_same_fit(result, expected)


def test_dask_count_table_statistics_match_brute_force(client):
    """The distributed E-step statistics equal a scipy brute force."""
    from sklearn_coinem._dask import DaskCountTable, dask_count_table
    from sklearn_coinem._estep import sufficient_statistics
    from sklearn_coinem._families import MultinomialFamily

    X = _coins(400, seed=4, max_trials=6)
    family = MultinomialFamily()
    table, sums = dask_count_table(
        da.from_array(X, chunks=(100, 2)),
        None,
        family=family,
        whom="test",
        max_local_rows=5,
    )
    assert isinstance(table, DaskCountTable)
    assert sums.n_samples == sums.n_rows == len(X)
    assert sums.max_total == X.sum(axis=1).max()
    assert sums.weighted_total == X.sum()
    weights = np.array([0.4, 0.6])
    probs = np.array([[0.7, 0.3], [0.25, 0.75]])
    nk, stats, loglik = table.map_reduce(
        sufficient_statistics, family, np.log(weights)[None], {"probs": probs[None]}
    )
    counts = stats["counts"]
    joint = np.column_stack(
        [multinomial.pmf(X, X.sum(axis=1), p) * w for w, p in zip(weights, probs)]
    )
    resp = joint / joint.sum(axis=1, keepdims=True)
    assert_allclose(nk[0], resp.sum(axis=0), rtol=1e-10)
    assert_allclose(counts[0], resp.T @ X, rtol=1e-10)
    assert_allclose(
        loglik[0] + table.constant_sum, np.log(joint.sum(axis=1)).sum(), rtol=1e-10
    )


def test_fit_dask_client_receives_no_chunk(client, received):
    """Fitting gathers only reduced statistics, never a chunk of the data."""
    X = _coins(40_000, seed=5)
    chunk_bytes = X[:10_000].nbytes
    BinomialMixture(2, random_state=0).fit(da.from_array(X, chunks=(10_000, 2)))
    assert received, "the fit should have gathered its reduced table"
    assert max(received) < chunk_bytes / 20


def test_predict_methods_dask_lazy_and_equal(client, received):
    """Prediction methods return lazy dask arrays equal to the in-memory ones."""
    X = _coins(2000, seed=6)
    bm = BinomialMixture(2, random_state=0).fit(X)
    dX = da.from_array(X, chunks=(300, 2))
    lazy = {
        "score_samples": bm.score_samples(dX),
        "predict_proba": bm.predict_proba(dX),
        "predict": bm.predict(dX),
    }
    assert received == []
    for method, result in lazy.items():
        assert isinstance(result, da.Array)
        assert_allclose(result.compute(), getattr(bm, method)(X), rtol=1e-12)
    assert_array_equal(lazy["predict"].compute(), bm.predict(X))
    weight = np.random.default_rng(7).uniform(size=len(X))
    assert_allclose(
        bm.score(dX, sample_weight=weight), bm.score(X, sample_weight=weight)
    )
    assert_allclose(bm.score(dX), bm.score(X))
    with pytest.raises(ValueError, match="Negative values in data passed to"):
        bm.score(dX, sample_weight=-weight)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_fit_dask_negative_count_in_chunk_raises(client, method):
    """A negative count in one chunk raises the in-memory ValueError."""
    X = _coins(1000, seed=8)
    X[777, 1] = -1
    message = f"Negative values in data passed to BinomialMixture.{method}"
    with pytest.raises(ValueError, match=message):
        getattr(BinomialMixture(2), method)(X)
    with pytest.raises(ValueError, match=message):
        getattr(BinomialMixture(2), method)(da.from_array(X, chunks=(200, 2)))


def test_fit_dask_overflowing_counts_raise_like_in_memory(client):
    """Row totals beyond float64 raise the in-memory error, not a NaN fit."""
    X = _coins(400, seed=10).astype(float)
    X[123] = [1e308, 1e308]
    message = "overflows float64"
    with pytest.raises(ValueError, match=message):
        BinomialMixture(2).fit(X)
    with pytest.raises(ValueError, match=message):
        BinomialMixture(2).fit(da.from_array(X, chunks=(100, 2)))


def test_fit_dask_nan_in_chunk_raises(client):
    """A NaN in one chunk raises sklearn's missing-value error."""
    X = _coins(500, seed=9).astype(float)
    X[321, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        BinomialMixture(2).fit(da.from_array(X, chunks=(100, 2)))


def test_predict_dask_negative_count_raises_on_compute(client):
    """Invalid rows in a lazily predicted chunk raise when computed."""
    X = _coins(500, seed=10)
    bm = BinomialMixture(2, random_state=0).fit(X)
    X[12, 0] = -3
    labels = bm.predict(da.from_array(X, chunks=(100, 2)))
    with pytest.raises(ValueError, match="passed to BinomialMixture.predict"):
        labels.compute()


def test_dask_wrong_n_features_raises_eagerly(client):
    """A feature-count mismatch is reported before anything is computed."""
    bm = BinomialMixture(2, random_state=0).fit(_coins(200, seed=11))
    X3 = da.ones((100, 3), chunks=(50, 3))
    with pytest.raises(ValueError, match="X has 3 features, but BinomialMixture"):
        bm.predict_proba(X3)
    with pytest.raises(ValueError, match="a minimum of 2 is required"):
        BinomialMixture().fit(da.ones((100, 1), chunks=(50, 1)))


def test_fit_dask_sample_weight_errors(client):
    """Bad sample weights for dask input give sklearn's messages."""
    dX = da.from_array(_coins(300, seed=12), chunks=(100, 2))
    with pytest.raises(ValueError, match=r"sample_weight.shape == \(5,\)"):
        BinomialMixture(2).fit(dX, sample_weight=np.ones(5))
    with pytest.raises(ValueError, match="at least one non-zero"):
        BinomialMixture(2).fit(dX, sample_weight=da.zeros(300, chunks=100))
    negative = -np.ones(300)
    with pytest.raises(ValueError, match="Negative values"):
        BinomialMixture(2).fit(dX, sample_weight=negative)


def test_joblib_dask_backend_spreads_restarts(client):
    """Restarts spread over the cluster give the same fit as one process."""
    X = _coins(1000, seed=13)
    params = {"n_components": 2, "n_init": 4, "random_state": 0}
    expected = BinomialMixture(**params).fit(X)
    with joblib.parallel_backend("dask"):
        assert joblib.effective_n_jobs(None) > 1
        result = BinomialMixture(**params).fit(X)
    _assert_same_fit(result, expected)


def test_joblib_dask_backend_grid_search(client):
    """GridSearchCV over the dask backend scores like the local search."""
    from sklearn.model_selection import GridSearchCV

    X = _coins(600, seed=14)
    grid = {"n_components": [1, 2, 3]}
    expected = GridSearchCV(BinomialMixture(random_state=0), grid, cv=3).fit(X)
    with joblib.parallel_backend("dask"):
        result = GridSearchCV(BinomialMixture(random_state=0), grid, cv=3, n_jobs=-1)
        result.fit(X)
    assert_allclose(
        result.cv_results_["mean_test_score"],
        expected.cv_results_["mean_test_score"],
        rtol=1e-10,
    )
    assert result.best_params_ == expected.best_params_


def test_partial_fit_dask_ml_incremental(client):
    """dask-ml's Incremental streams the blocks through partial_fit exactly."""
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X = _coins(4000, seed=15)
    model = wrappers.Incremental(
        BinomialMixture(2, random_state=0), shuffle_blocks=False
    ).fit(da.from_array(X, chunks=(1000, 2)))
    expected = BinomialMixture(2, random_state=0)
    for start in range(0, len(X), 1000):
        expected.partial_fit(X[start : start + 1000])
    _assert_same_fit(model.estimator_, expected)


def test_partial_fit_dask_chunk_merges_on_client(client):
    """partial_fit on a dask array adds its whole table to the stream."""
    X = _coins(3000, seed=16)
    result = BinomialMixture(2, random_state=0)
    expected = BinomialMixture(2, random_state=0)
    for start in (0, 1000):
        result.partial_fit(da.from_array(X[start : start + 1000], chunks=(300, 2)))
        expected.partial_fit(X[start : start + 1000])
    _assert_same_fit(result, expected)


def test_fit_dask_dataframe_equals_in_memory(client):
    """A dask dataframe is fitted through its dask array."""
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X = _coins(1000, seed=17)
    frame = dd.from_pandas(pd.DataFrame(X, columns=["heads", "tails"]), npartitions=3)
    expected = BinomialMixture(2, random_state=0).fit(X)
    result = BinomialMixture(2, random_state=0).fit(frame)
    _assert_same_fit(result, expected)
    assert_allclose(result.score_samples(frame).compute(), expected.score_samples(X))


def test_fit_dask_unknown_chunk_sizes_with_sample_weight(client):
    """Row chunks of unknown size (a dataframe's to_dask_array()) take weights."""
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X = _coins(900, seed=18)
    sample_weight = np.random.default_rng(18).uniform(0.5, 2.0, len(X))
    frame = dd.from_pandas(pd.DataFrame(X, columns=["heads", "tails"]), npartitions=3)
    dX = frame.to_dask_array()
    assert np.isnan(dX.chunks[0]).all()
    expected = BinomialMixture(2, random_state=0).fit(X, sample_weight=sample_weight)
    for weight in (sample_weight, da.from_array(sample_weight, chunks=250)):
        result = BinomialMixture(2, random_state=0).fit(dX, sample_weight=weight)
        _assert_same_fit(result, expected)
        assert_allclose(
            expected.score(dX, sample_weight=weight),
            expected.score(X, sample_weight=sample_weight),
            rtol=1e-12,
        )


def test_score_dask_sample_weight_errors(client):
    """Bad weights of a dask score raise the in-memory messages, never NaN."""
    X = _coins(300, seed=19)
    bm = BinomialMixture(2, random_state=0).fit(X)
    dX = da.from_array(X, chunks=(100, 2))
    with pytest.raises(ValueError, match=r"sample_weight.shape == \(299,\)"):
        bm.score(dX, sample_weight=da.ones(299, chunks=100))
    with pytest.raises(ValueError, match=r"sample_weight.shape == \(299,\)"):
        bm.score(dX, sample_weight=np.ones(299))
    nan_weight = np.ones(300)
    nan_weight[150] = np.nan
    with pytest.raises(ValueError, match="Input sample_weight contains NaN"):
        bm.score(dX, sample_weight=da.from_array(nan_weight, chunks=100))
    with pytest.raises(ValueError, match="at least one non-zero"):
        bm.score(dX, sample_weight=da.zeros(300, chunks=100))


def test_dask_one_dimensional_input_raises(client):
    """A 1-D dask array is rejected with sklearn's 2D message."""
    X = _coins(200, seed=20)
    bm = BinomialMixture(2, random_state=0).fit(X)
    column = da.from_array(X[:, 0], chunks=50)
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        BinomialMixture(2).fit(column)
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        bm.predict(column)


def test_criteria_and_standard_errors_dask_equal_in_memory(client, monkeypatch):
    """AIC, BIC, ICL and SEs of a distributed table equal the in-memory ones."""
    from sklearn_coinem import _dask

    monkeypatch.setattr(_dask, "MAX_LOCAL_ROWS", 50)
    X = _coins(3000, seed=21)
    sample_weight = np.random.default_rng(21).uniform(0.5, 2.0, len(X))
    bm = BinomialMixture(2, random_state=0).fit(X, sample_weight=sample_weight)
    dX = da.from_array(X, chunks=(500, 2))
    dweight = da.from_array(sample_weight, chunks=400)
    for name in ("aic", "bic", "icl"):
        assert_allclose(
            getattr(bm, name)(dX, sample_weight=dweight),
            getattr(bm, name)(X, sample_weight=sample_weight),
            rtol=1e-10,
        )
    expected = bm.standard_errors(X, sample_weight=sample_weight)
    result = bm.standard_errors(dX, sample_weight=dweight)
    assert_allclose(result.weights, expected.weights, rtol=1e-8)
    assert_allclose(result.probs, expected.probs, rtol=1e-8)
    assert result.newton_decrement < 1e-3


def test_dask_dataframe_keeps_and_validates_feature_names(client):
    """Item 2: a dask dataframe records its column names and checks them later."""
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X = _coins(600, seed=30)
    names = ["heads", "tails"]
    frame = dd.from_pandas(pd.DataFrame(X, columns=names), npartitions=3)
    bm = BinomialMixture(2, random_state=0).fit(frame)
    assert_array_equal(bm.feature_names_in_, names)
    expected = BinomialMixture(2, random_state=0).fit(pd.DataFrame(X, columns=names))
    assert_array_equal(bm.predict(frame).compute(), expected.predict(X))
    with pytest.raises(ValueError, match="feature names should match"):
        bm.predict(frame[["tails", "heads"]])
    with pytest.raises(ValueError, match="feature names should match"):
        expected.predict(frame[["tails", "heads"]])
    with pytest.warns(UserWarning, match="was fitted without feature names"):
        BinomialMixture(2, random_state=0).fit(X).predict(frame)


def test_dask_empty_row_chunk_equals_in_memory(client):
    """Item 3: a chunk emptied by boolean filtering changes nothing."""
    X = _coins(900, seed=31)
    keep = np.ones(len(X), dtype=bool)
    keep[300:600] = False
    dX = da.from_array(X, chunks=(300, 2))[da.from_array(keep, chunks=300)]
    dX = dX.compute_chunk_sizes()
    assert 0 in dX.chunks[0]
    weights = np.random.default_rng(31).uniform(0.5, 2, keep.sum())
    for sample_weight in (None, weights):
        params = {"n_components": 2, "random_state": 0}
        expected = BinomialMixture(**params).fit(X[keep], sample_weight=sample_weight)
        result = BinomialMixture(**params).fit(dX, sample_weight=sample_weight)
        _assert_same_fit(result, expected)
        assert_array_equal(result.predict(dX).compute(), expected.predict(X[keep]))
        assert_allclose(
            result.score(dX, sample_weight=sample_weight),
            expected.score(X[keep], sample_weight=sample_weight),
            rtol=1e-12,
        )


@pytest.mark.parametrize("scale", [1e308, 1e-320])
def test_score_dask_extreme_sample_weight_equals_in_memory(client, scale):
    """Item 4: huge and subnormal weights give the in-memory weighted mean."""
    X = _coins(600, seed=32)
    bm = BinomialMixture(2, random_state=0).fit(X)
    sample_weight = np.random.default_rng(32).integers(1, 4, len(X)) / 3 * scale
    dX = da.from_array(X, chunks=(200, 2))
    expected = np.average(bm.score_samples(X), weights=sample_weight / scale)
    assert_allclose(bm.score(X, sample_weight=sample_weight), expected, rtol=1e-12)
    assert_allclose(bm.score(dX, sample_weight=sample_weight), expected, rtol=1e-12)


def test_score_dask_zero_weight_impossible_row(client):
    """Item 5: on dask too, a zero-weight row scoring -inf is left out."""
    X = np.array([[10, 0], [9, 0], [8, 0], [10, 0]])
    bm = BinomialMixture(1, pseudo_count=0).fit(X)
    X_new = np.array([[7, 0], [0, 5], [6, 0], [5, 0]])
    sample_weight = np.array([2.0, 0.0, 1.0, 1.0])
    expected = bm.score(X_new, sample_weight=sample_weight)
    assert np.isfinite(expected)
    result = bm.score(da.from_array(X_new, chunks=(2, 2)), sample_weight=sample_weight)
    assert_allclose(result, expected, rtol=1e-12)


@pytest.mark.parametrize("distributed", [False, True])
def test_dask_overflowing_totals_raise_like_in_memory(client, monkeypatch, distributed):
    """Items 6, 7: a local or distributed dask table runs the in-memory checks."""
    from sklearn_coinem import _dask

    if distributed:
        monkeypatch.setattr(_dask, "MAX_LOCAL_ROWS", 5)
    X = _coins(200, seed=33)
    huge = np.vstack([X, [[3e305, 1.0]]])
    with pytest.raises(ValueError, match="total count of 3e\\+305") as error:
        BinomialMixture(2).fit(da.from_array(huge, chunks=(50, 2)))
    assert "sample_weight" not in str(error.value)
    # Rows fine alone whose total count over the table overflows.
    wide = np.tile([2e305, 0.0], (1000, 1))
    with pytest.raises(ValueError, match="total count of X.*counts are too large"):
        BinomialMixture(1).fit(da.from_array(wide, chunks=(250, 2)))
    with pytest.raises(ValueError, match="rescale sample_weight"):
        BinomialMixture(2).fit(
            da.from_array(X, chunks=(50, 2)), sample_weight=np.full(len(X), 1e306)
        )
    with pytest.raises(ValueError, match="smallest normal"):
        BinomialMixture(2).fit(
            da.from_array(X, chunks=(50, 2)), sample_weight=np.full(len(X), 1e-320)
        )


def test_dask_huge_trials_warn_like_in_memory(client, monkeypatch):
    """Items 7, 12: the lost-digits warning of a distributed table."""
    from sklearn_coinem import _dask

    monkeypatch.setattr(_dask, "MAX_LOCAL_ROWS", 5)
    n = 1e18
    heads = n * np.linspace(0.2, 0.4, 40)
    X = np.column_stack([heads, n - heads])
    with pytest.warns(UserWarning, match="loses digits"):
        BinomialMixture(1).fit(da.from_array(X, chunks=(10, 2)))


def test_dask_predict_overflowing_totals_raise_on_compute(client):
    """Item 6: lazy predictions of overflowing rows raise, never return NaN."""
    X = _coins(200, seed=34)
    bm = BinomialMixture(2, random_state=0).fit(X)
    huge = da.from_array(np.vstack([X, [[1e308, 1e308]]]), chunks=(50, 2))
    with pytest.raises(ValueError, match="total count overflows"):
        bm.score_samples(huge).compute()


def _regression_rows(n_samples, seed):
    """Two logistic components with two covariates and varying trials."""
    from scipy.special import expit

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 2))
    component = rng.integers(2, size=n_samples)
    trials = rng.integers(1, 20, size=n_samples)
    eta = np.array([-1.0, 1.0])[component] + X @ np.array([0.5, -0.3])
    successes = rng.binomial(trials, expit(eta))
    return X, np.column_stack([successes, trials - successes])


def _assert_same_regression(result, expected, atol):
    assert_allclose(result.weights_, expected.weights_, rtol=0, atol=atol)
    assert_allclose(result.coef_, expected.coef_, rtol=0, atol=atol)
    assert_allclose(result.intercept_, expected.intercept_, rtol=0, atol=atol)
    assert_allclose(result.lower_bound_, expected.lower_bound_, rtol=1e-10)


@pytest.mark.parametrize("weighted", [False, True])
def test_regression_fit_dask_equals_in_memory(client, weighted):
    """Dask covariates, counts and weights fit the in-memory regression mixture."""
    from sklearn_coinem import BinomialRegressionMixture

    X, y = _regression_rows(3000, seed=10)
    sample_weight = None
    if weighted:
        sample_weight = np.random.default_rng(11).uniform(0, 2, len(X))
        sample_weight[:700] = 0
    dask_weight = None if sample_weight is None else da.from_array(sample_weight, 600)
    params = {"n_components": 2, "n_init": 3, "random_state": 0, "tol": 1e-10}
    expected = BinomialRegressionMixture(**params).fit(
        X, y, sample_weight=sample_weight
    )
    result = BinomialRegressionMixture(**params).fit(
        da.from_array(X, chunks=(700, 2)),
        da.from_array(y, chunks=(500, 2)),
        sample_weight=dask_weight,
    )
    _assert_same_regression(result, expected, atol=1e-8)
    assert result.n_iter_ == expected.n_iter_


def test_regression_fit_dask_distributed_estep_equals_in_memory(client, monkeypatch):
    """Above MAX_LOCAL_ROWS the regression's E-step runs on the workers."""
    from sklearn_coinem import BinomialRegressionMixture, _dask

    monkeypatch.setattr(_dask, "MAX_LOCAL_ROWS", 50)
    X, y = _regression_rows(2000, seed=12)
    # Both continue from one start (warm_start): dask's own starts would be
    # drawn from its local sample of rows, not from all rows.
    params = {"n_components": 2, "tol": 1e-10, "warm_start": True, "random_state": 0}
    result = BinomialRegressionMixture(**params).fit(X[:100], y[:100])
    expected = BinomialRegressionMixture(**params).fit(X[:100], y[:100])
    result.fit(da.from_array(X, chunks=(300, 2)), y)
    expected.fit(X, y)
    _assert_same_regression(result, expected, atol=1e-7)


def test_regression_fit_dask_binary_labels_and_bad_chunk(client):
    """A 1-D dask y of two labels is read as in memory; a bad chunk raises."""
    from sklearn_coinem import BinomialRegressionMixture

    X, y = _regression_rows(1000, seed=13)
    outcomes = np.where(y[:, 0] > y[:, 1], 5, 2)
    params = {"n_components": 1, "tol": 1e-12}
    expected = BinomialRegressionMixture(**params).fit(X, outcomes)
    result = BinomialRegressionMixture(**params).fit(
        da.from_array(X, chunks=(300, 2)), da.from_array(outcomes, chunks=300)
    )
    assert_array_equal(result.outcome_labels_, [2, 5])
    _assert_same_regression(result, expected, atol=1e-10)
    bad = y.copy()
    bad[900, 0] = -1
    with pytest.raises(ValueError, match="non-negative counts"):
        BinomialRegressionMixture().fit(da.from_array(X, chunks=(300, 2)), bad)
