"""Bounded hypothesis strategies shared by the property tests."""

import numpy as np
from hypothesis import strategies as st

MAX_ROWS = 40
MAX_TRIALS = 50

seeds = st.integers(min_value=0, max_value=2**32 - 1)
n_components = st.integers(min_value=1, max_value=3)
init_params = st.sampled_from(
    ["k-means++", "kmeans", "random", "random_resp", "random_from_data"]
)
algorithms = st.sampled_from(["em", "squarem"])


@st.composite
def count_matrices(
    draw,
    min_rows=3,
    max_rows=MAX_ROWS,
    min_cols=2,
    max_cols=4,
    max_trials=MAX_TRIALS,
    real=st.just(False),
):
    """Count matrices drawn from a random mixture of multinomials.

    Hypothesis draws the shape, the trial bound and a seed; the counts come
    from ``np.random.default_rng(seed)``. Rows may have zero trials, and the
    sources may sit on the boundary of the simplex (a zero outcome
    probability), so degenerate data are part of the search space. With
    ``real`` drawing True, the counts are scaled by random positive factors
    into non-integer values.
    """
    n_rows = draw(st.integers(min_rows, max_rows))
    n_cols = draw(st.integers(min_cols, max_cols))
    trials_bound = draw(st.integers(0, max_trials))
    n_sources = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(seeds))
    probs = rng.dirichlet(np.full(n_cols, 0.7), size=n_sources)
    if draw(st.booleans()):
        probs[0] = np.eye(n_cols)[0]
    labels = rng.integers(n_sources, size=n_rows)
    trials = rng.integers(0, trials_bound + 1, size=n_rows)
    X = np.array([rng.multinomial(n, probs[k]) for n, k in zip(trials, labels)])
    if draw(real):
        return X * rng.uniform(0.1, 2.0, size=X.shape)
    return X


@st.composite
def overdispersed_count_matrices(
    draw,
    min_rows=3,
    max_rows=MAX_ROWS,
    min_cols=2,
    max_cols=4,
    max_trials=MAX_TRIALS,
):
    """Count matrices drawn from a random mixture of Dirichlet-multinomials.

    Hypothesis draws the shape, the trial bound and a seed; the counts come
    from ``np.random.default_rng(seed)``. Each source has a precision drawn
    log-uniformly from [0.5, 1e4], or none (multinomial rows, the binomial
    limit) when hypothesis draws it so; rows may have zero trials.
    """
    n_rows = draw(st.integers(min_rows, max_rows))
    n_cols = draw(st.integers(min_cols, max_cols))
    trials_bound = draw(st.integers(0, max_trials))
    n_sources = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(seeds))
    means = rng.dirichlet(np.full(n_cols, 2.0), size=n_sources)
    precision = np.exp(rng.uniform(np.log(0.5), np.log(1e4), size=n_sources))
    multinomial = draw(st.booleans())
    labels = rng.integers(n_sources, size=n_rows)
    trials = rng.integers(0, trials_bound + 1, size=n_rows)
    probs = [
        means[k] if multinomial else rng.dirichlet(precision[k] * means[k])
        for k in labels
    ]
    return np.array([rng.multinomial(n, p) for n, p in zip(trials, probs)])
