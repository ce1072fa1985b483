"""Restarts split into joblib tasks with n_jobs."""

import numpy as np
import pytest
from joblib import parallel_backend
from numpy.testing import assert_allclose

from sklearn_coinem import BinomialMixture


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_n_jobs_restarts_equal_one_task(backend):
    """Splitting the restarts over workers leaves the fit unchanged."""
    rng = np.random.default_rng(0)
    trials = rng.integers(5, 20, 800)
    heads = rng.binomial(trials, np.where(rng.random(800) < 0.5, 0.75, 0.35))
    X = np.column_stack([heads, trials - heads])
    params = {"n_components": 2, "n_init": 5, "random_state": 0}
    expected = BinomialMixture(**params).fit(X)
    with parallel_backend(backend):
        result = BinomialMixture(**params, n_jobs=2).fit(X)
    assert_allclose(result.weights_, expected.weights_, rtol=0, atol=1e-12)
    assert_allclose(result.probs_, expected.probs_, rtol=0, atol=1e-12)
    assert result.lower_bound_ == pytest.approx(expected.lower_bound_, rel=1e-12)
    assert result.n_iter_ == expected.n_iter_


def test_n_jobs_invalid_raises():
    """A non-integer n_jobs is rejected by parameter validation."""
    with pytest.raises(ValueError, match="The 'n_jobs' parameter"):
        BinomialMixture(n_jobs="two").fit(np.array([[1, 2], [3, 4]]))
