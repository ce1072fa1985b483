"""Restarts split into joblib tasks with n_jobs."""

import numpy as np
import pytest
from joblib import parallel_backend

from sklearn_coinem import BinomialMixture
from sklearn_coinem._solver import _MAX_REMAINING_GAIN


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_n_jobs_restarts_equal_one_task(backend):
    """Splitting the restarts over workers leaves the fit unchanged.

    Batched and split restarts round their products differently, so the
    fits are compared at the precision of the stopping rule: total
    log-likelihoods within its remaining gain, parameters within
    ``2 sqrt(2 gain)`` standard errors.
    """
    rng = np.random.default_rng(0)
    trials = rng.integers(5, 20, 800)
    heads = rng.binomial(trials, np.where(rng.random(800) < 0.5, 0.75, 0.35))
    X = np.column_stack([heads, trials - heads])
    params = {"n_components": 2, "n_init": 5, "random_state": 0}
    expected = BinomialMixture(**params).fit(X)
    with parallel_backend(backend):
        result = BinomialMixture(**params, n_jobs=2).fit(X)
    gap = abs(result.lower_bound_ - expected.lower_bound_) * len(X)
    assert result.converged_ and expected.converged_
    assert gap <= _MAX_REMAINING_GAIN
    std_errors = expected.standard_errors(X)
    bound = 2 * np.sqrt(2 * _MAX_REMAINING_GAIN)
    assert np.all(
        np.abs(result.weights_ - expected.weights_) <= bound * std_errors.weights
    )
    assert np.all(np.abs(result.probs_ - expected.probs_) <= bound * std_errors.probs)


def test_n_jobs_invalid_raises():
    """A non-integer n_jobs is rejected by parameter validation."""
    with pytest.raises(ValueError, match="The 'n_jobs' parameter"):
        BinomialMixture(n_jobs="two").fit(np.array([[1, 2], [3, 4]]))
