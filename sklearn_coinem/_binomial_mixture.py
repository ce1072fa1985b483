"""The BinomialMixture estimator: mixtures of binomials and multinomials by EM."""

import warnings
from numbers import Integral, Real
from time import time

import numpy as np
from joblib import effective_n_jobs
from sklearn.base import BaseEstimator, DensityMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    check_non_negative,
    validate_data,
)

from sklearn_coinem._count_table import _compress_counts, _merge_tables
from sklearn_coinem._dask import _is_dask_collection
from sklearn_coinem._em import (
    CountTable,
    _estimate_log_resp,
    _log_coefficients,
    _safe_log,
)
from sklearn_coinem._inference import information_criteria, standard_errors
from sklearn_coinem._initialization import INIT_METHODS, initial_parameters
from sklearn_coinem._solver import run_em
from sklearn_coinem.datasets._generators import _sample_mixture


class IdentifiabilityWarning(UserWarning):
    """Warning raised when the data cannot identify the requested mixture."""


def _check_identifiable(X, n_components):
    """Warn when no row has the 2K-1 trials that identify K components."""
    max_trials = float(X.sum(axis=1).max()) if X.shape[0] else 0.0
    needed = 2 * n_components - 1
    if max_trials < needed:
        warnings.warn(
            f"A mixture of {n_components} binomial/multinomial components is not "
            f"identifiable from these data: it needs rows with at least "
            f"2 * n_components - 1 = {needed} trials (Teicher 1961), but the "
            f"largest row has {max_trials:g}. Several parameter values fit equally "
            "well; use fewer components or rows with more trials.",
            IdentifiabilityWarning,
            stacklevel=4,
        )


def _canonical_order(weights, probs):
    """Component order by descending probs[:, 0], then the other columns."""
    keys = [-weights] + [-probs[:, c] for c in range(probs.shape[1] - 1, -1, -1)]
    return np.lexsort(keys)


class BinomialMixture(DensityMixin, BaseEstimator):
    """Finite mixture of binomial (or multinomial) distributions fitted by EM.

    Each row of ``X`` holds the outcome counts of one experiment: with two
    columns, heads (successes) and tails (failures) of a coin flipped
    ``X[i].sum()`` times; with ``C > 2`` columns, the faces of a die. Rows come
    from one of ``n_components`` coins (dice) with unknown mixing weights and
    outcome probabilities, which expectation-maximization (EM) estimates.

    Read more in the :ref:`User Guide <user_guide>`.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components (coins).

    tol : float, default=1e-8
        Convergence threshold. EM stops when the per-sample objective (mean
        log-likelihood plus the pseudo-count prior term) improves by less
        than ``tol`` between iterations (between SQUAREM cycles when
        ``algorithm="squarem"``). The default is stricter than
        GaussianMixture's 1e-3: a per-sample threshold lets the total
        log-likelihood still move by ``tol * n_samples`` per iteration, which
        on large overlapping data stops visibly short of the maximum (a
        sizeable fraction of a standard error at 10^6 rows with ``tol=1e-6``),
        while SQUAREM makes the extra iterations cheap. Even at 1e-8, a fit
        on 10^6 rows of strongly overlapping coins (0.6 vs 0.45, ten flips)
        stopped about one standard error short of the maximum; ``tol=1e-10``
        brought it within 0.1 and ``tol=1e-12`` within 0.01 standard errors,
        in under 0.1 s. On such data lower ``tol`` (and raise ``max_iter``
        if needed). :meth:`standard_errors` reports the distance to the
        maximum (``newton_decrement``) and warns when it exceeds 0.2
        standard errors.

    max_iter : int, default=1000
        Maximum number of EM iterations, each one E-step and one M-step. A
        SQUAREM cycle costs three. ``max_iter=0`` only initialises.

    n_init : int, default=1
        Number of initialisations. The run with the largest final objective
        is kept. The restarts advance together as one batched computation.

    init_params : {"k-means++", "kmeans", "random", "random_resp", \
            "random_from_data"}, default="k-means++"
        How starting parameters are drawn when not given explicitly:

        - "k-means++": spread seeding on the row proportions ``x / n``, rows
          assigned to their nearest seed, then one M-step;
        - "kmeans": weighted k-means on the row proportions, then one M-step;
        - "random": outcome probabilities uniform on the simplex, equal
          weights;
        - "random_resp": random responsibilities, then one M-step;
        - "random_from_data": the proportions of randomly chosen rows.

        "k-means++", "kmeans" and "random_from_data" weight each row by its
        trials (times its sample weight), as its proportions are the more
        reliable the more trials it has; rows without trials are never seeds.

    weights_init : array-like of shape (n_components,), default=None
        Starting mixing weights (non-negative, summing to 1). Overrides the
        weights of ``init_params``.

    probs_init : array-like of shape (n_components, n_features), default=None
        Starting outcome probabilities, rows non-negative and summing to 1.
        Overrides ``init_params``; the fitted components keep this order.

    update_weights : bool, default=True
        If False the mixing weights stay at ``weights_init`` (uniform when
        ``weights_init`` is None), as in the textbook two-coins example.

    pseudo_count : float, default=1e-6
        Pseudo-count added to every expected outcome count and every expected
        component size in the M-step: maximum a posteriori EM under a
        symmetric Dirichlet(1 + pseudo_count) prior. It keeps probabilities
        of degenerate components away from exactly 0 and 1, so scores stay
        finite; at the default, well-posed fits agree with the maximum
        likelihood estimate to about ``pseudo_count / n_samples``. With
        ``pseudo_count=0`` the fit is the exact MLE and a row that is
        impossible under every component scores ``-inf``.

    algorithm : {"squarem", "em"}, default="squarem"
        "em" is the plain EM iteration. "squarem" is the SQUAREM acceleration
        of Varadhan & Roland (2008): two EM steps, an extrapolation, and a
        stabilising EM step, with a safeguard that keeps the objective
        non-decreasing. Both converge to the same fixed points.

    random_state : int, RandomState instance or None, default=None
        Controls the random initialisations.

    n_jobs : int, default=None
        Number of joblib tasks the ``n_init`` restarts are split into; the
        result does not depend on it (up to rounding). ``None`` means 1
        unless in a :func:`joblib.parallel_backend` context (for instance
        ``"dask"``, to spread the restarts over a cluster); ``-1`` means all
        processors.

    warm_start : bool, default=False
        If True, ``fit`` continues from the previous solution (``n_init`` is
        then ignored), and so does the first call of ``partial_fit``.

    verbose : int, default=0
        Print progress: 1 per initialisation, 2 also per iteration with the
        time and the objective change.

    verbose_interval : int, default=10
        Number of iterations between two progress messages.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Mixing weights.

    probs_ : ndarray of shape (n_components, n_features)
        Outcome probabilities of each component; rows sum to 1. For coins,
        ``probs_[:, 0]`` is the probability of heads.

    converged_ : bool
        Whether the best run converged.

    n_iter_ : int
        Number of EM iterations of the best run.

    lower_bound_ : float
        Per-sample objective (mean log-likelihood plus the prior term divided
        by the total weight) of the best run, evaluated, as in
        GaussianMixture, at the parameters before its last EM iteration (its
        last SQUAREM cycle); ``-inf`` when ``max_iter=0``.

    lower_bounds_ : ndarray of shape (n_recorded,)
        Objective at each iteration of the best run (at each SQUAREM cycle
        start for ``algorithm="squarem"``); it never decreases, and its last
        entry is ``lower_bound_``.

    n_features_in_ : int
        Number of outcome columns seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the columns seen during fit, when ``X`` has string column
        names.

    See Also
    --------
    sklearn.mixture.GaussianMixture : The Gaussian analogue for continuous data.

    Notes
    -----
    The log-likelihood is the full one, including the log multinomial
    coefficient, so ``score_samples`` equals
    ``logsumexp(log(weights_) + scipy.stats.binom.logpmf(...))``. Rows with
    identical counts enter EM once with their total weight, so fitting is
    exact and fast on large repetitive data.

    The same table makes :meth:`partial_fit` exact streaming EM, and lets
    ``fit`` and the prediction methods take dask arrays, computed on the
    workers of a dask cluster (see :ref:`scaling`).

    A mixture of K binomials is identifiable only if rows have at least
    2K - 1 trials (Teicher 1961, 1963); ``fit`` warns otherwise.

    In float64 the log-likelihood of a row with very many trials loses
    digits to cancellation between the log coefficient and the probability
    terms, as ``scipy.stats.binom.logpmf`` does: about 1e-6 at 10^9 trials,
    1e-3 at 10^12 and whole units at 10^15. The responsibilities, and so
    the fitted parameters, depend only on differences between components
    and are not affected.

    References
    ----------
    .. [1] Dempster, Laird & Rubin (1977). Maximum likelihood from incomplete
       data via the EM algorithm. JRSS B 39(1).
    .. [2] Do & Batzoglou (2008). What is the expectation maximization
       algorithm? Nature Biotechnology 26(8).
    .. [3] Teicher (1961). Identifiability of mixtures. Ann. Math. Statist.
       32(1); Teicher (1963). Identifiability of finite mixtures. Ann. Math.
       Statist. 34(4), where the binomial 2K - 1 condition is proved.
    .. [4] Varadhan & Roland (2008). Simple and globally convergent methods
       for accelerating the convergence of any EM algorithm. Scand. J. Stat.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coinem import BinomialMixture
    >>> X = np.array([[5, 5], [9, 1], [8, 2], [4, 6], [7, 3]])
    >>> bm = BinomialMixture(2, random_state=0).fit(X)
    >>> bm.probs_[:, 0].round(2)
    array([0.79, 0.51])
    >>> bm.predict([[10, 0], [2, 8]])
    array([0, 1])
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions(set(INIT_METHODS))],
        "weights_init": ["array-like", None],
        "probs_init": ["array-like", None],
        "update_weights": ["boolean"],
        "pseudo_count": [Interval(Real, 0.0, None, closed="left")],
        "algorithm": [StrOptions({"em", "squarem"})],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_components=1,
        *,
        tol=1e-8,
        max_iter=1000,
        n_init=1,
        init_params="k-means++",
        weights_init=None,
        probs_init=None,
        update_weights=True,
        pseudo_count=1e-6,
        algorithm="squarem",
        random_state=None,
        n_jobs=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
    ):
        self.n_components = n_components
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.probs_init = probs_init
        self.update_weights = update_weights
        self.pseudo_count = pseudo_count
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        return tags

    # ------------------------------------------------------------------ checks
    def _validate_counts(self, X, *, reset, whom):
        """Validate a count matrix; sklearn's wording for the check suite."""
        X = validate_data(
            self,
            X,
            reset=reset,
            dtype="numeric",
            ensure_min_features=2 if reset else 1,
        )
        check_non_negative(X, whom)
        return X

    def _check_initial_parameters(self, n_features):
        """Validate ``weights_init`` and ``probs_init``; return float arrays."""
        weights = probs = None
        if self.weights_init is not None:
            weights = np.array(self.weights_init, dtype=float)
            _check_distribution(weights, (self.n_components,), "weights_init")
            weights /= weights.sum()
        if self.probs_init is not None:
            probs = np.array(self.probs_init, dtype=float)
            shape = (self.n_components, n_features)
            _check_distribution(probs, shape, "probs_init")
            probs /= probs.sum(axis=1, keepdims=True)
        return weights, probs

    # --------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Estimate the mixture parameters by EM.

        Runs ``n_init`` initialisations and keeps the one with the largest
        objective. Warns with :class:`~sklearn.exceptions.ConvergenceWarning`
        when the best run stopped at ``max_iter`` before converging.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Non-negative outcome counts, one row per experiment.

        y : Ignored
            Not used, present for API consistency by convention.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights. Integer weights are equivalent to
            repeating rows; zero weight removes a row. They count rows, so
            their scale sets how strongly the data outweigh the
            ``pseudo_count`` prior.

        Returns
        -------
        self : object
            The fitted mixture.
        """
        table = self._build_count_table(
            X, sample_weight, reset=True, whom="BinomialMixture.fit"
        )
        # A new fit starts a new stream for partial_fit.
        self._count_table = None
        weights_init, probs_init = self._check_initial_parameters(self.n_features_in_)
        _check_identifiable(table.X, self.n_components)

        result, best = self._run(
            table, *self._starting_points(table, weights_init, probs_init)
        )
        self._store_result(result, best, reorder=probs_init is None)
        if not self.converged_ and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different "
                "init parameters, or increase max_iter, tol, or check for "
                "degenerate data.",
                ConvergenceWarning,
                stacklevel=3,
            )
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the mixture with a chunk of rows (exact streaming EM).

        The rows of all chunks seen so far are kept as their table of distinct
        rows with total weights, the sufficient statistic of the stream. The
        first call (or the first after ``fit``) initialises like ``fit`` on
        the chunk. Every later call merges the chunk into the table and
        continues EM from the current parameters for at most ``max_iter``
        iterations, keeping the component order. After any sequence of chunks
        the model is therefore ``fit`` on their concatenation started from
        the parameters before the last call. Memory grows with the number of
        distinct rows, not with the length of the stream.

        Parameters
        ----------
        X : array-like or dask array of shape (n_samples, n_features)
            Non-negative outcome counts, one row per experiment.

        y : Ignored
            Not used, present for API consistency by convention.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights.

        Returns
        -------
        self : object
            The updated mixture.
        """
        stream = getattr(self, "_count_table", None)
        whom = "BinomialMixture.partial_fit"
        table = self._build_count_table(
            X, sample_weight, reset=stream is None, whom=whom, distributed=False
        )
        if stream is None:
            weights_init, probs_init = self._check_initial_parameters(
                self.n_features_in_
            )
            start = self._starting_points(table, weights_init, probs_init)
            reorder = probs_init is None
        else:
            table = CountTable.from_rows(
                *_merge_tables([(stream.X, stream.weights), (table.X, table.weights)])
            )
            _check_weighted_totals(table)
            start, reorder = (self.weights_[None], self.probs_[None], None), False
        _check_identifiable(table.X, self.n_components)
        result, best = self._run(table, *start)
        self._store_result(result, best, reorder=reorder)
        self._count_table = table
        return self

    def _build_count_table(self, X, sample_weight, *, reset, whom, distributed=True):
        """Validate X and sample_weight; return the count table of the rows."""
        if _is_dask_collection(X):
            return self._dask_count_table(
                X, sample_weight, reset=reset, whom=whom, distributed=distributed
            )
        X = self._validate_counts(X, reset=reset, whom=whom)
        if reset:
            _check_n_samples(X.shape[0], self.n_components)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
            _check_positive_weight(sample_weight.sum())
        table = CountTable.from_rows(*_compress_counts(X, sample_weight))
        _check_row_totals(table.X)
        _check_weighted_totals(table)
        return table

    def _dask_count_table(self, X, sample_weight, *, reset, whom, distributed):
        """Validate and compress a dask collection chunk by chunk on the workers.

        With ``distributed=False`` the table is always merged on the client;
        otherwise tables above ``MAX_LOCAL_ROWS`` distinct rows stay on the
        workers and each EM iteration reduces the E-step statistics there.
        """
        from sklearn_coinem._dask import MAX_LOCAL_ROWS, check_2d, dask_count_table

        check_2d(X)
        validate_data(self, X, reset=reset, skip_check_array=True)
        if reset and self.n_features_in_ < 2:
            raise ValueError(
                f"Found array with {self.n_features_in_} feature(s) "
                f"(shape={X.shape}) while a minimum of 2 is required by "
                f"{type(self).__name__}."
            )
        table, n_samples = dask_count_table(
            X,
            sample_weight,
            whom=whom,
            max_local_rows=MAX_LOCAL_ROWS if distributed else np.inf,
        )
        if reset:
            _check_n_samples(n_samples, self.n_components)
        if sample_weight is not None and not table.total_weight > 0:
            # The message of sklearn's check of the in-memory weights.
            raise ValueError(
                "Sample weights must contain at least one non-zero number."
            )
        if isinstance(table, CountTable):
            # The in-memory checks, on the merged table; a table left on the
            # workers is checked there only for sign and finiteness.
            _check_row_totals(table.X)
            _check_weighted_totals(table)
        return table

    def _store_result(self, result, best, *, reorder):
        """Set the fitted attributes from the best run of ``result``."""
        weights, probs = result.weights[best], result.probs[best]
        if reorder:
            order = _canonical_order(weights, probs)
            weights, probs = weights[order], probs[order]
        self.weights_, self.probs_ = weights, probs
        self.converged_ = bool(result.converged[best])
        self.n_iter_ = int(result.n_iter[best])
        self.lower_bound_ = float(result.lower_bound[best])
        self.lower_bounds_ = result.lower_bounds[best]

    def _starting_points(self, table, weights_init, probs_init):
        """Starting (weights, probs, lower_bound) of every run."""
        K = self.n_components
        # A previous solution of another shape (n_components or the number of
        # columns changed since) cannot be continued: initialise afresh.
        previous = getattr(self, "probs_", None)
        if self.warm_start and getattr(previous, "shape", None) == (
            K,
            self.n_features_in_,
        ):
            return self.weights_[None], self.probs_[None], np.array([self.lower_bound_])
        if probs_init is not None:
            n_runs, probs = 1, probs_init[None]
            weights = np.full((1, K), 1.0 / K)
        else:
            n_runs = self.n_init
            rng = check_random_state(self.random_state)
            weights, probs = initial_parameters(
                table.X, table.weights, K, n_runs, self.init_params, rng
            )
        if weights_init is not None:
            weights = np.broadcast_to(weights_init, (n_runs, K))
        elif not self.update_weights:
            weights = np.full((n_runs, K), 1.0 / K)
        return weights, probs, None

    def _run(self, table, weights, probs, lower_bound):
        """Run EM from every starting point; return the result and the best run.

        With ``verbose`` the runs go one after the other, so that progress
        prints in order. Otherwise they are split into at most ``n_jobs``
        joblib tasks, each a batch of runs; runs are independent, so the
        result does not depend on the split. A table kept on dask workers
        already spreads every E-step, so its runs stay in one task.
        """
        options = {
            "pseudo_count": self.pseudo_count,
            "update_weights": self.update_weights,
            "tol": self.tol,
            "max_iter": self.max_iter,
            "algorithm": self.algorithm,
        }
        if self.verbose:
            results = []
            for run in range(len(probs)):
                print(f"Initialization {run}")
                self._init_prev_time = self._iter_prev_time = time()
                result = run_em(
                    table,
                    weights[[run]],
                    probs[[run]],
                    lower_bound=None if lower_bound is None else lower_bound[[run]],
                    callback=self._verbose_callback(),
                    **options,
                )
                self._print_init_end(result)
                results.append(result)
        else:
            n_tasks = min(effective_n_jobs(self.n_jobs), len(probs))
            if not isinstance(table, CountTable):
                n_tasks = 1
            tasks = np.array_split(np.arange(len(probs)), n_tasks)
            results = Parallel(n_jobs=self.n_jobs if n_tasks > 1 else 1)(
                delayed(run_em)(
                    table,
                    weights[idx],
                    probs[idx],
                    lower_bound=None if lower_bound is None else lower_bound[idx],
                    **options,
                )
                for idx in tasks
            )
        result = _concatenate_results(results)
        return result, int(np.argmax(result.lower_bound))

    # ----------------------------------------------------------------- verbose
    def _verbose_callback(self):
        """Progress printer of one run: a line per ``verbose_interval`` iterations.

        SQUAREM records the objective only every third iteration, so a line
        follows the first record at or past each multiple of the interval.
        """
        last_printed = [0]

        def callback(run, n_iter, objective, change):
            interval = self.verbose_interval
            if n_iter // interval == last_printed[0] // interval:
                return
            last_printed[0] = n_iter
            if self.verbose == 1:
                print(f"  Iteration {n_iter}")
            else:
                now = time()
                print(
                    f"  Iteration {n_iter}\t time lapse "
                    f"{now - self._iter_prev_time:.5f}s\t ll change {change:.3e}\t "
                    f"lower bound {objective:.5f}"
                )
                self._iter_prev_time = now

        return callback

    def _print_init_end(self, result):
        status = "converged" if result.converged[0] else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {status}.")
        else:
            elapsed = time() - self._init_prev_time
            print(
                f"Initialization {status}. time lapse {elapsed:.5f}s\t "
                f"lower bound {result.lower_bound[0]:.5f}."
            )

    # ----------------------------------------------------------------- predict
    def _dask_rows(self, X, method):
        """Lazy dask array of ``method`` applied to each chunk of X."""
        from sklearn_coinem._dask import check_2d, dask_row_map

        check_is_fitted(self)
        check_2d(X)
        validate_data(self, X, reset=False, skip_check_array=True)
        whom = f"BinomialMixture.{method}"
        return dask_row_map(X, self.weights_, self.probs_, method, whom)

    def _log_resp(self, X, whom):
        """Validated X, per-row log-likelihood and log responsibilities."""
        check_is_fitted(self)
        X = self._validate_counts(X, reset=False, whom=whom)
        X = np.asarray(X, dtype=np.float64)
        _check_row_totals(X)
        log_norm, log_resp = _estimate_log_resp(
            X, _safe_log(self.weights_)[None], _safe_log(self.probs_)[None]
        )
        return log_norm[:, 0] + _log_coefficients(X), log_resp[:, 0]

    def score_samples(self, X):
        """Log-likelihood of each row under the fitted mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Non-negative outcome counts.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            ``log sum_k weights_[k] * Multinomial(X[i] | probs_[k])``,
            including the multinomial coefficient. A lazy dask array when
            X is a dask array.
        """
        if _is_dask_collection(X):
            return self._dask_rows(X, "score_samples")
        return self._log_resp(X, "BinomialMixture.score_samples")[0]

    def score(self, X, y=None, sample_weight=None):
        """Weighted mean log-likelihood of the rows of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Non-negative outcome counts.

        y : Ignored
            Not used, present for API consistency by convention.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights of the average.

        Returns
        -------
        log_likelihood : float
            Weighted mean of :meth:`score_samples`.
        """
        log_prob = self.score_samples(X)
        if _is_dask_collection(log_prob):
            from sklearn_coinem._dask import dask_weighted_mean

            return dask_weighted_mean(log_prob, sample_weight)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, log_prob[:, None], ensure_non_negative=True
            )
            # The mean is scale-free: relative weights neither overflow (1e308)
            # nor lose digits as subnormal numbers (1e-320).
            sample_weight = sample_weight / sample_weight.max()
        return float(np.average(log_prob, weights=sample_weight))

    def predict_proba(self, X):
        """Posterior probability of each component for each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Non-negative outcome counts.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Responsibilities; each row sums to 1. A row with no trials gets
            the mixing weights. A lazy dask array when X is a dask array.
        """
        if _is_dask_collection(X):
            return self._dask_rows(X, "predict_proba")
        return np.exp(self._log_resp(X, "BinomialMixture.predict_proba")[1])

    def predict(self, X):
        """Most probable component of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Non-negative outcome counts.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component indices. A lazy dask array when X is a dask array.
        """
        if _is_dask_collection(X):
            return self._dask_rows(X, "predict")
        return self._log_resp(X, "BinomialMixture.predict")[1].argmax(axis=1)

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit the mixture on X and return the most probable component of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Non-negative outcome counts.

        y : Ignored
            Not used, present for API consistency by convention.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component indices, equal to ``fit(X).predict(X)``.
        """
        return self.fit(X, sample_weight=sample_weight).predict(X)

    # ---------------------------------------------------------------- inference
    def _criteria(self, X, sample_weight, whom):
        """AIC, BIC, ICL and their ingredients on X at the fitted parameters."""
        check_is_fitted(self)
        table = self._build_count_table(X, sample_weight, reset=False, whom=whom)
        return information_criteria(
            table, self.weights_, self.probs_, self.update_weights
        )

    def aic(self, X, sample_weight=None):
        """Akaike information criterion of the fitted mixture on X.

        ``-2 * log_likelihood + 2 * n_parameters`` with the full
        log-likelihood (including the multinomial coefficient) and
        ``n_parameters = (n_components - 1) + n_components * (n_features - 1)``
        (no weight parameters when ``update_weights=False``), the convention
        of R's flexmix. Smaller is better.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Non-negative outcome counts, usually the training data.

        sample_weight : array-like of shape (n_samples,), default=None
            Row weights of the log-likelihood.

        Returns
        -------
        aic : float
            The lower the better.
        """
        return self._criteria(X, sample_weight, "BinomialMixture.aic").aic

    def bic(self, X, sample_weight=None):
        """Bayesian information criterion of the fitted mixture on X.

        ``-2 * log_likelihood + log(n) * n_parameters``, with ``n`` the number
        of rows (the sum of ``sample_weight`` when given) and the parameter
        count and log-likelihood of :meth:`aic` (flexmix's convention).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Non-negative outcome counts, usually the training data.

        sample_weight : array-like of shape (n_samples,), default=None
            Row weights; they also set ``n``.

        Returns
        -------
        bic : float
            The lower the better.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_coinem import BinomialMixture
        >>> from sklearn_coinem.datasets import make_binomial_mixture
        >>> X, _ = make_binomial_mixture(300, probs=[0.9, 0.2], random_state=0)
        >>> bics = [BinomialMixture(k, random_state=0).fit(X).bic(X) for k in (1, 2, 3)]
        >>> int(np.argmin(bics)) + 1
        2
        """
        return self._criteria(X, sample_weight, "BinomialMixture.bic").bic

    def icl(self, X, sample_weight=None):
        """Integrated completed likelihood criterion of the fitted mixture on X.

        ``bic(X) + 2 * sum_i w_i (-log max_k r_ik)``: BIC penalised by the
        entropy of the maximum a posteriori classification, which favours
        well-separated components (Biernacki, Celeux & Govaert 2000). It
        equals ``-2 * complete log-likelihood + log(n) * n_parameters`` as
        flexmix's ``ICL`` and mclust's ``icl`` compute it (mclust reports it
        with the opposite sign).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Non-negative outcome counts, usually the training data.

        sample_weight : array-like of shape (n_samples,), default=None
            Row weights.

        Returns
        -------
        icl : float
            The lower the better.
        """
        return self._criteria(X, sample_weight, "BinomialMixture.icl").icl

    def standard_errors(self, X, sample_weight=None, confidence=0.95):
        """Standard errors and Wald confidence intervals of the fitted parameters.

        The observed information of the free parameters (``n_components - 1``
        weights and ``n_features - 1`` probabilities per component) comes
        from Louis' (1982) formula: the expected complete-data information
        minus the conditional covariance of the complete-data scores, both in
        closed form for this model. Its inverse, carried to every weight and
        probability by the delta method, gives the standard errors.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data the model was fitted on.

        sample_weight : array-like of shape (n_samples,), default=None
            The sample weights used in ``fit``.

        confidence : float, default=0.95
            Coverage of the intervals, in (0, 1).

        Returns
        -------
        result : :class:`~sklearn.utils.Bunch`
            - weights : ndarray of shape (n_components,), standard errors of
              ``weights_`` (0 when the weights are fixed);
            - probs : ndarray of shape (n_components, n_features), standard
              errors of ``probs_``;
            - weights_ci : ndarray of shape (n_components, 2), Wald
              intervals ``estimate -/+ z * std_error`` clipped to [0, 1];
            - probs_ci : ndarray of shape (n_components, n_features, 2), the
              same for ``probs_``;
            - weights_status, probs_status : str arrays, "estimated",
              "fixed", "near boundary" (a finite standard error, but the
              interval crosses 0 or 1 and is clipped), "boundary",
              "empty component" or "singular information";
            - table : one row per parameter with columns ``parameter``,
              ``component``, ``outcome``, ``estimate``, ``std_error``,
              ``ci_low``, ``ci_high``, ``status``; a pandas DataFrame when
              pandas is installed, else a numpy record array;
            - information, covariance : the observed information of the free
              parameters and its inverse;
            - newton_decrement : ``sqrt(g' I^-1 g)`` with ``g`` the gradient
              of the log-likelihood of X, the distance in standard errors
              from the parameters to the maximum: about 0 after a fit on X
              run to a tight enough ``tol``. The per-sample default stops
              short on large data with overlapping components (0.57
              standard errors at 10^6 rows of coins 0.6 and 0.45, 0.08 with
              ``tol=1e-10``); refit with a smaller ``tol`` when the warning
              below says so;
            - message : why some standard errors are NaN or unreliable ("" if
              none).

        Warns
        -----
        UserWarning
            When an estimate lies on the boundary (a probability at 0 or 1, a
            weight at 0; its standard error is NaN and the rest are computed
            with it fixed), when an interval crosses 0 or 1 (a weight or
            probability near the edge, e.g. a component of a few rows:
            the Wald interval is then unreliable), when the information
            matrix is singular (all NaN), or when the parameters are more
            than 0.2 standard errors from the maximum of the likelihood of X
            (a fit stopped early by a loose ``tol``, or X is not the
            training data).

        Notes
        -----
        The intervals are asymptotic and assume the maximum likelihood
        estimate: with the default ``pseudo_count=1e-6`` the fit differs
        from it by about ``pseudo_count / n_samples``, far below the
        standard errors. Components are labelled as fitted; to compare runs
        see :func:`align_components`.

        References
        ----------
        .. [1] Louis, T. A. (1982). Finding the observed information matrix
           when using the EM algorithm. JRSS B 44(2), 226-233.

        Examples
        --------
        >>> from sklearn_coinem import BinomialMixture
        >>> from sklearn_coinem.datasets import make_binomial_mixture
        >>> X, _ = make_binomial_mixture(500, probs=[0.8, 0.3], random_state=0)
        >>> bm = BinomialMixture(2, random_state=0).fit(X)
        >>> se = bm.standard_errors(X)
        >>> se.probs.shape, bool((se.probs[:, 0] < 0.01).all())
        ((2, 2), True)
        """
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {confidence!r}.")
        check_is_fitted(self)
        whom = "BinomialMixture.standard_errors"
        table = self._build_count_table(X, sample_weight, reset=False, whom=whom)
        return standard_errors(
            table,
            self.weights_,
            self.probs_,
            update_weights=self.update_weights,
            confidence=confidence,
            feature_names=getattr(self, "feature_names_in_", None),
        )

    def sample(self, n_samples=1, *, n_trials, random_state=None):
        """Draw rows of counts from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows to draw.

        n_trials : int, tuple (low, high) or array-like of shape (n_samples,)
            Trials of every row, drawn uniformly from the integers
            ``low..high`` (inclusive) for each row, or given per row.

        random_state : int, RandomState instance or None, default=None
            Determines the draws; None uses the estimator's
            ``random_state``. The same int gives the same draws.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Integer outcome counts, rows in draw order (unlike
            :meth:`sklearn.mixture.GaussianMixture.sample`, not grouped by
            component).

        y : ndarray of shape (n_samples,)
            Component of each row.

        Examples
        --------
        >>> from sklearn_coinem import BinomialMixture
        >>> from sklearn_coinem.datasets import load_coins
        >>> bm = BinomialMixture(2, random_state=0).fit(load_coins().data)
        >>> X, y = bm.sample(4, n_trials=10, random_state=0)
        >>> X.sum(axis=1)
        array([10, 10, 10, 10])
        """
        check_is_fitted(self)
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples}. The sampling "
                "requires at least one sample."
            )
        rng = check_random_state(
            self.random_state if random_state is None else random_state
        )
        return _sample_mixture(self.weights_, self.probs_, n_samples, n_trials, rng)


def _check_n_samples(n_samples, n_components):
    """Raise if there are fewer rows than components."""
    if n_samples < n_components:
        raise ValueError(
            "Expected n_samples >= n_components but got "
            f"n_components = {n_components}, n_samples = {n_samples}"
        )


def _check_positive_weight(total_weight):
    """Raise unless the sample weights have a positive sum."""
    if not total_weight > 0:
        raise ValueError("sample_weight must have a positive sum.")


def _check_row_totals(X):
    """Raise if a row's total count overflows float64: its likelihood is undefined."""
    if not np.isfinite(X.sum(axis=1)).all():
        raise ValueError(
            "Input X has a row whose total count overflows float64; the counts "
            "are too large."
        )


def _check_weighted_totals(table):
    """Raise unless the weighted sums that EM accumulates are representable.

    An overflowing total makes the statistics NaN; a total weight below the
    smallest normal float64 makes the per-sample objective (the prior term
    divided by the total weight) overflow.
    """
    weighted_total = table.weights @ table.X.sum(axis=1)
    if not (np.isfinite(weighted_total) and np.isfinite(table.log_coef_sum)):
        raise ValueError(
            "The weighted total count of X (sample_weight times the row totals) "
            "overflows float64; rescale sample_weight."
        )
    tiny = np.finfo(np.float64).tiny
    if table.total_weight < tiny:
        raise ValueError(
            f"The total sample_weight is below {tiny:.3g}, the smallest normal "
            "float64; rescale sample_weight."
        )


def _check_distribution(values, shape, name):
    """Check that ``values`` has ``shape`` and its last axis is a distribution."""
    if values.shape != shape:
        raise ValueError(
            f"The parameter '{name}' should have the shape {shape}, "
            f"but got {values.shape}."
        )
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"The parameter '{name}' must be finite and non-negative.")
    sums = values.sum(axis=-1)
    if not np.allclose(sums, 1.0, rtol=0, atol=1e-6):
        raise ValueError(
            f"The parameter '{name}' should be normalized along its last axis, "
            f"but got sums {np.round(sums, 6)}."
        )


def _concatenate_results(results):
    """Join the EMResult of several sequential runs into one batch."""
    if len(results) == 1:
        return results[0]
    first = results[0]
    return type(first)(
        *(
            np.concatenate([getattr(r, name) for r in results])
            for name in ("weights", "probs", "lower_bound", "n_iter", "converged")
        ),
        [h for r in results for h in r.lower_bounds],
    )
