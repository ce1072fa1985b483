"""Sparse against dense counts on a synthetic corpus, in one run.

Run from the repository root::

    python benchmarks/bench_sparse.py           # 10**4 documents x 2 * 10**4 words
    python benchmarks/bench_sparse.py --quick   # 10x smaller

The corpus: ``K = 20`` topics, each a Dirichlet(0.05) distribution over the
vocabulary, documents of about 100 tokens from one topic each. The same
``BinomialMixture`` (one start, the same seed and ``max_iter``) is fitted on
the scipy.sparse CSR matrix and on the dense array; time and peak traced
memory are printed as ratios. scikit-learn's ``MultinomialNB`` fitted on the
sparse matrix with the true topics as labels is the floor: one pass of
counting, what a fit could cost if the components were known. Nothing is
asserted.
"""

import argparse
import time
import tracemalloc
import warnings

import numpy as np
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.naive_bayes import MultinomialNB

from sklearn_coinem import BinomialMixture


def make_corpus(n_documents, n_words, n_topics, rng):
    """Sparse CSR counts of ``n_documents`` documents and their topics."""
    topics = rng.dirichlet(np.full(n_words, 0.05), size=n_topics)
    labels = rng.integers(n_topics, size=n_documents)
    lengths = rng.poisson(100, size=n_documents)
    rows, cols = [], []
    for doc, (topic, length) in enumerate(zip(labels, lengths)):
        words = rng.choice(n_words, size=length, p=topics[topic])
        rows.append(np.full(length, doc))
        cols.append(words)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    X = sparse.csr_matrix(
        (np.ones(len(rows)), (rows, cols)), shape=(n_documents, n_words)
    )
    X.sum_duplicates()
    return X, labels


def measure(func):
    """Seconds and peak traced bytes of one call, and its result."""
    tracemalloc.start()
    start = time.perf_counter()
    result = func()
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    n_documents, n_words, n_topics = 10_000 // scale, 20_000 // scale, 20
    rng = np.random.default_rng(0)
    X, labels = make_corpus(n_documents, n_words, n_topics, rng)
    print(
        f"corpus: {n_documents} documents x {n_words} words, {X.nnz} non-zeros, "
        f"K={n_topics}"
    )
    params = {"n_init": 1, "random_state": 0, "max_iter": 100}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t_sparse, m_sparse, fit_sparse = measure(
            lambda: BinomialMixture(n_topics, **params).fit(X)
        )
        dense = X.toarray()
        t_dense, m_dense, fit_dense = measure(
            lambda: BinomialMixture(n_topics, **params).fit(dense)
        )
    t_nb, m_nb, _ = measure(lambda: MultinomialNB().fit(X, labels))
    for name, seconds, peak, fit in (
        ("sparse", t_sparse, m_sparse, fit_sparse),
        ("dense", t_dense, m_dense, fit_dense),
    ):
        ari = adjusted_rand_score(labels, fit.predict(X if name == "sparse" else dense))
        print(
            f"  {name:6s} fit {seconds:8.2f} s  peak {peak / 2**20:9.1f} MiB  "
            f"n_iter={fit.n_iter_:3d}  mean loglik={fit.lower_bound_:.6f}  "
            f"ARI={ari:.3f}"
        )
    print(f"  MultinomialNB (labelled) fit {t_nb:.3f} s  peak {m_nb / 2**20:.1f} MiB")
    print(
        f"  => sparse is {t_dense / t_sparse:.1f}x faster and uses "
        f"{m_dense / m_sparse:.1f}x less memory than dense (target: >= 10x both);"
        f" {t_sparse / t_nb:.0f}x the MultinomialNB floor"
    )
    print(
        "  dense input itself: "
        f"{dense.nbytes / 2**20:.0f} MiB (not counted in the dense peak)"
    )


if __name__ == "__main__":
    main()
