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
