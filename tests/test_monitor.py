"""Progress monitors: what a fit reports, and to whom."""

import numpy as np
from numpy.testing import assert_allclose

from sklearn_coinem import (
    BinomialMixture,
    FitMonitor,
    monitor_fits,
    select_n_components,
)
from sklearn_coinem.datasets import make_binomial_mixture


class _Recorder(FitMonitor):
    def __init__(self):
        self.started, self.iterations, self.finished = [], [], []

    def fit_started(self, estimator, n_runs, total_weight):
        self.started.append((estimator.n_components, n_runs, total_weight))

    def iteration(self, run, n_iter, objective, change):
        self.iterations.append((run, n_iter, objective))

    def run_finished(self, run, n_iter, objective, converged):
        self.finished.append((run, n_iter, objective, converged))


def _data():
    X, _ = make_binomial_mixture(300, probs=[0.8, 0.3], random_state=0)
    return X


def test_monitor_receives_every_run_of_a_batch():
    """Batched restarts report each run once, with the fit's own numbers."""
    X = _data()
    recorder = _Recorder()
    with monitor_fits(recorder):
        bm = BinomialMixture(2, n_init=4, random_state=0).fit(X)
    assert recorder.started == [(2, 4, 300.0)]
    assert sorted(run for run, *_ in recorder.finished) == [0, 1, 2, 3]
    best = max(recorder.finished, key=lambda entry: entry[2])
    assert_allclose(best[2], bm.lower_bound_, rtol=1e-15)
    assert best[1] == bm.n_iter_ and best[3] == bm.converged_
    for run in range(4):
        steps = [objective for r, _, objective in recorder.iterations if r == run]
        assert len(steps) > 0
        assert np.all(np.diff(steps) >= -1e-12)


def test_monitor_replaces_verbose_printing(capsys):
    """An active monitor silences the estimator's own verbose output."""
    recorder = _Recorder()
    with monitor_fits(recorder):
        BinomialMixture(2, verbose=2, random_state=0).fit(_data())
    assert capsys.readouterr().out == ""
    assert len(recorder.finished) == 1


def test_monitor_follows_a_scan_and_ends_with_the_block():
    """A K scan reports one fit per K; outside the block nothing is reported."""
    X = _data()
    recorder = _Recorder()
    with monitor_fits(recorder):
        select_n_components(X, range(1, 4), n_init=2, random_state=0)
    assert [k for k, *_ in recorder.started] == [1, 2, 3]
    BinomialMixture(2, random_state=0).fit(X)
    assert len(recorder.started) == 3
