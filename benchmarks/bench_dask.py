"""Benchmark: fit 10^8 coin rows held as a dask array on a 2-worker LocalCluster.

The rows are generated chunk by chunk on the workers (``da.map_blocks``), so
the data never exists in memory at once. The script reports the wall time of
``BinomialMixture.fit`` and the client's peak resident memory, against two
baselines measured in the same run: the cheapest possible linear pass over
the same array (a column sum: generation plus one reduction) and the size of
the array itself.

Run ``python benchmarks/bench_dask.py`` (``--n-rows 1e6`` for a quick check).
"""

import argparse
import resource
import threading
import time

import numpy as np
import psutil

_TRUE_WEIGHTS = np.array([0.35, 0.65])
_TRUE_HEADS = np.array([0.8, 0.3])


def _coin_block(seed, block_info=None):
    """Rows of one chunk: 10 to 30 flips of one of two coins, as int32 counts."""
    info = block_info[None]
    (start, stop), _ = info["array-location"]
    rng = np.random.default_rng([seed, info["chunk-location"][0]])
    n_rows = stop - start
    trials = rng.integers(10, 31, n_rows)
    coin = rng.random(n_rows) < _TRUE_WEIGHTS[0]
    heads = rng.binomial(trials, np.where(coin, *_TRUE_HEADS))
    return np.column_stack([heads, trials - heads]).astype(np.int32)


def coin_array(n_rows, chunk_rows, seed=0):
    """A lazy (n_rows, 2) dask array of coin counts generated per chunk."""
    import dask.array as da

    chunks = [chunk_rows] * (n_rows // chunk_rows)
    if n_rows % chunk_rows:
        chunks.append(n_rows % chunk_rows)
    return da.map_blocks(
        _coin_block, seed, dtype=np.int32, chunks=(tuple(chunks), (2,))
    )


class PeakMemory:
    """Sample the resident memory of this process in a background thread."""

    def __init__(self, interval=0.02):
        self.interval = interval
        self.process = psutil.Process()
        self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-rows", type=float, default=1e8)
    parser.add_argument("--chunk-rows", type=float, default=5e6)
    parser.add_argument("--n-workers", type=int, default=2)
    args = parser.parse_args()
    n_rows, chunk_rows = int(args.n_rows), int(args.chunk_rows)

    from distributed import Client, LocalCluster

    from sklearn_coinem import BinomialMixture

    cluster = LocalCluster(
        n_workers=args.n_workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    )
    client = Client(cluster)
    try:
        X = coin_array(n_rows, chunk_rows)
        print(f"{n_rows:.3g} rows in {X.numblocks[0]} chunks of {chunk_rows:.3g}")
        print(f"array size if materialised: {X.nbytes / 2**30:.2f} GiB")
        X[:1].compute()  # start the workers' imports outside the timings
        baseline_rss = psutil.Process().memory_info().rss

        start = time.perf_counter()
        X.sum(axis=0).compute()
        pass_time = time.perf_counter() - start

        bm = BinomialMixture(2, random_state=0)
        with PeakMemory() as memory:
            start = time.perf_counter()
            bm.fit(X)
            fit_time = time.perf_counter() - start
    finally:
        client.close()
        cluster.close()

    order = np.argsort(-bm.probs_[:, 0])
    print(f"fitted weights {np.round(bm.weights_[order], 4)} (true {_TRUE_WEIGHTS})")
    print(f"fitted heads   {np.round(bm.probs_[order, 0], 4)} (true {_TRUE_HEADS})")
    print(f"EM iterations {bm.n_iter_}, converged {bm.converged_}")
    print(f"one linear pass (X.sum): {pass_time:8.2f} s")
    print(
        f"fit wall time:           {fit_time:8.2f} s  "
        f"({fit_time / pass_time:.2f} x the linear pass)"
    )
    print(
        f"client peak RSS during fit: {memory.peak / 2**20:8.1f} MiB "
        f"(+{(memory.peak - baseline_rss) / 2**20:.1f} MiB over the "
        f"{baseline_rss / 2**20:.1f} MiB before; "
        f"{memory.peak / X.nbytes:.4f} x the array)"
    )
    # ru_maxrss is in KiB on Linux: the client's peak over the whole run.
    whole_run = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    print(f"client peak RSS over the whole run: {whole_run:.1f} MiB")


if __name__ == "__main__":
    main()
