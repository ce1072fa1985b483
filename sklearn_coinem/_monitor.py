"""Progress of a fit: monitor objects instead of prints on the estimator."""

import contextlib
import contextvars
from time import time

_ACTIVE = contextvars.ContextVar("sklearn_coinem_monitor", default=None)


class FitMonitor:
    """Receives the progress of every fit; this base class ignores it.

    Subclass it and activate an instance with :func:`monitor_fits` to follow
    fits made anywhere inside a block of code (a K scan, a grid search). The
    estimator calls, in this order: :meth:`fit_started` once, then per run
    :meth:`iteration` after each recorded step and :meth:`run_finished`.

    Attributes
    ----------
    sequential : bool
        Whether the runs must go one after the other (so that per-iteration
        output comes out in order). When False, the restarts advance
        together as one batch, and :meth:`iteration` reports the runs
        interleaved.
    """

    sequential = False

    def fit_started(self, estimator, n_runs, total_weight):
        """A fit of ``estimator`` with ``n_runs`` starts begins.

        ``total_weight`` is the number of rows (the sum of the sample
        weights): the per-sample objectives times it are total
        log-likelihoods (plus the prior term).
        """

    def iteration(self, run, n_iter, objective, change):
        """Run ``run`` recorded ``objective`` after ``n_iter`` iterations."""

    def run_finished(self, run, n_iter, objective, converged):
        """Run ``run`` stopped after ``n_iter`` iterations at ``objective``."""


class VerboseMonitor(FitMonitor):
    """The ``verbose`` printing of the estimators, in GaussianMixture's format.

    Parameters
    ----------
    verbose : int
        1 prints a line per initialisation, 2 also the time and objective
        change every ``verbose_interval`` iterations.
    verbose_interval : int
        Iterations between two progress lines. SQUAREM records the objective
        only every third iteration, so a line follows the first record at or
        past each multiple of the interval.
    """

    sequential = True

    def __init__(self, verbose, verbose_interval):
        self.verbose = verbose
        self.verbose_interval = verbose_interval

    def fit_started(self, estimator, n_runs, total_weight):
        self._next_run = 0

    def _start_run(self, run):
        print(f"Initialization {run}")
        self._init_time = self._iter_time = time()
        self._last_printed = 0
        self._next_run = run + 1

    def iteration(self, run, n_iter, objective, change):
        if run >= self._next_run:
            self._start_run(run)
        interval = self.verbose_interval
        if n_iter // interval == self._last_printed // interval:
            return
        self._last_printed = n_iter
        if self.verbose == 1:
            print(f"  Iteration {n_iter}")
            return
        now = time()
        print(
            f"  Iteration {n_iter}\t time lapse {now - self._iter_time:.5f}s\t "
            f"ll change {change:.3e}\t lower bound {objective:.5f}"
        )
        self._iter_time = now

    def run_finished(self, run, n_iter, objective, converged):
        if run >= self._next_run:
            self._start_run(run)
        status = "converged" if converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {status}.")
            return
        print(
            f"Initialization {status}. time lapse {time() - self._init_time:.5f}s\t "
            f"lower bound {objective:.5f}."
        )


@contextlib.contextmanager
def monitor_fits(monitor):
    """Send the progress of every fit inside the block to ``monitor``.

    It takes precedence over the estimators' ``verbose`` printing.

    Parameters
    ----------
    monitor : FitMonitor
        The receiver.

    Examples
    --------
    >>> from sklearn_coinem import BinomialMixture
    >>> from sklearn_coinem.datasets import load_coins
    >>> from sklearn_coinem._monitor import FitMonitor, monitor_fits
    >>> class Count(FitMonitor):
    ...     runs = 0
    ...     def run_finished(self, run, n_iter, objective, converged):
    ...         self.runs += 1
    >>> count = Count()
    >>> with monitor_fits(count):
    ...     _ = BinomialMixture(2, n_init=3, random_state=0).fit(load_coins().data)
    >>> count.runs
    3
    """
    token = _ACTIVE.set(monitor)
    try:
        yield monitor
    finally:
        _ACTIVE.reset(token)


def active_monitor(verbose, verbose_interval):
    """The monitor of a fit: the one of :func:`monitor_fits`, else ``verbose``'s."""
    monitor = _ACTIVE.get()
    if monitor is not None:
        return monitor
    if verbose:
        return VerboseMonitor(verbose, verbose_interval)
    return FitMonitor()
