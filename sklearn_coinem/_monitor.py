"""Progress of a fit: monitor objects instead of prints on the estimator."""

import contextlib
import contextvars
from time import time

_ACTIVE = contextvars.ContextVar("sklearn_coinem_monitor", default=None)


class FitMonitor:
    """Receiver of the progress of fits; this base class ignores it.

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

    See Also
    --------
    monitor_fits : Activate a monitor for a block of code.

    Examples
    --------
    >>> from sklearn_coinem import BinomialMixture, FitMonitor, monitor_fits
    >>> from sklearn_coinem.datasets import load_coins
    >>> class Report(FitMonitor):
    ...     def run_finished(self, run, n_iter, objective, converged):
    ...         print(f"restart {run}: converged={converged}")
    >>> with monitor_fits(Report()):
    ...     _ = BinomialMixture(2, n_init=2, random_state=0).fit(load_coins().data)
    restart 0: converged=True
    restart 1: converged=True
    """

    sequential = False

    def fit_started(self, estimator, n_runs, total_weight):
        """Receive the start of a fit.

        Parameters
        ----------
        estimator : estimator instance
            The mixture being fitted.
        n_runs : int
            Number of starting points (restarts).
        total_weight : float
            Number of rows (the sum of the sample weights): the per-sample
            objectives times it are total log-likelihoods (plus the prior
            term).
        """

    def iteration(self, run, n_iter, objective, change):
        """Receive one recorded step of a run.

        Parameters
        ----------
        run : int
            Index of the run, from 0.
        n_iter : int
            EM iterations of the run so far.
        objective : float
            Per-sample objective (mean log-likelihood plus the prior term).
        change : float
            Change of the objective since the previous record.
        """

    def run_finished(self, run, n_iter, objective, converged):
        """Receive the end of a run.

        Parameters
        ----------
        run : int
            Index of the run, from 0.
        n_iter : int
            EM iterations of the run.
        objective : float
            Its last per-sample objective (the ``lower_bound_`` it reports).
        converged : bool
            Whether it met the stopping rule before ``max_iter``.
        """


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

    It takes precedence over the estimators' ``verbose`` printing, and
    reaches fits made indirectly (a :func:`select_n_components` scan, a grid
    search run with ``n_jobs=None``).

    Parameters
    ----------
    monitor : FitMonitor
        The receiver.

    Yields
    ------
    monitor : FitMonitor
        The same receiver.

    Examples
    --------
    >>> from sklearn_coinem import BinomialMixture, FitMonitor, monitor_fits
    >>> from sklearn_coinem.datasets import load_coins
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
