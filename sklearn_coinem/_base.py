"""The shared scikit-learn face of every mixture estimator (no numerics here)."""

import warnings
from numbers import Integral, Real

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
    validate_data,
)

from sklearn_coinem._dask import _is_dask_collection
from sklearn_coinem._estep import estimate_log_resp
from sklearn_coinem._families._base import take_runs
from sklearn_coinem._inference import (
    collapsed_components,
    information_criteria,
    n_parameters,
    standard_errors,
)
from sklearn_coinem._initialization import INIT_METHODS, initial_parameters
from sklearn_coinem._monitor import active_monitor
from sklearn_coinem._numerics import row_sums, safe_log
from sklearn_coinem._solver import EMResult, run_em
from sklearn_coinem._table import RowBlock, RowTable, merge_tables
from sklearn_coinem._validation import (
    check_distribution,
    check_rows,
    check_weighted_totals,
    count_table,
)
from sklearn_coinem.datasets._generators import _check_n_trials

# Largest pseudo_count: a prior worth 1e100 rows leaves the data no say, and
# below it the M-step's sums (K or C terms of pseudo_count) and the prior term
# (pseudo_count times sums of K * C logs, each above -750) stay far inside the
# float64 range; 1e308 overflowed them into NaN weights.
MAX_PSEUDO_COUNT = 1e100

# Free parameters beyond which the observed information (P x P, inverted in
# O(P^3)) is refused: 5000 parameters are 190 MiB and tens of seconds.
_MAX_FREE_PARAMETERS = 5000


class IdentifiabilityWarning(UserWarning):
    """Warning raised when the data cannot identify the requested mixture."""


class CollapsedComponentsWarning(UserWarning):
    """Warning raised when fitted components coincide or have no weight."""


class BaseCountMixture(DensityMixin, BaseEstimator):
    """Base class of the count mixtures: fit, predict, score, inference.

    A subclass names its component family (:meth:`_make_family`), its extra
    parameters and the starting component parameters a user may pass
    (:meth:`_user_params`); everything else is shared. The fitted component
    parameters are the family's ``param_names`` with a trailing underscore.
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions(set(INIT_METHODS))],
        "weights_init": ["array-like", None],
        "update_weights": ["boolean"],
        "pseudo_count": [Interval(Real, 0.0, MAX_PSEUDO_COUNT, closed="both")],
        "algorithm": [StrOptions({"em", "squarem"})],
        "random_state": ["random_state"],
        "n_jobs": [
            Interval(Integral, 1, None, closed="left"),
            Interval(Integral, None, -1, closed="right"),
            None,
        ],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
    }

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.input_tags.sparse = self._make_family().supports_sparse
        return tags

    # ------------------------------------------------------- subclass hooks
    def _make_family(self):
        """The component family of this estimator, from its parameters."""
        raise NotImplementedError

    def _user_params(self, n_features):
        """Validated starting component parameters given by the user, or None."""
        return None

    # ------------------------------------------------------------ helpers
    def _whom(self, method):
        return f"{type(self).__name__}.{method}"

    def _fitted_params(self):
        """The fitted component parameters, as the family names them."""
        return {name: getattr(self, f"{name}_") for name in self._family.param_names}

    def _table(self, X, sample_weight, *, reset, method, distributed=True):
        family = self._make_family() if reset else self._family
        return count_table(
            self,
            family,
            X,
            sample_weight,
            reset=reset,
            whom=self._whom(method),
            distributed=distributed,
        )

    def _check_weights_init(self):
        if self.weights_init is None:
            return None
        shape = (self.n_components,)
        return check_distribution(self.weights_init, shape, "weights_init")

    def _check_identifiable(self, family, table):
        problem = family.identifiability_problem(table, self.n_components)
        if problem is not None:
            warnings.warn(problem, IdentifiabilityWarning, stacklevel=4)

    # --------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Estimate the mixture parameters by EM.

        Runs ``n_init`` initialisations and keeps the one with the largest
        objective. Warns with :class:`~sklearn.exceptions.ConvergenceWarning`
        when the best run stopped at ``max_iter`` before converging, and
        with :class:`CollapsedComponentsWarning` when fitted components
        coincide (parameters equal to 1e-2 relative) or one has a weight
        below 1e-6 or less than one expected row: the data support fewer
        components. A fit that raises leaves the previous fitted state as
        it was.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
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
        with _kept_on_error(self):
            table, n_rows = self._table(X, sample_weight, reset=True, method="fit")
            family = self._make_family()
            user = self._check_weights_init(), self._user_params(self.n_features_in_)
            self._check_identifiable(family, table)
            start = self._starting_points(table, family, *user)
            result, best = self._run(table, family, *start)
            self._store_result(family, table, result, best, reorder=user[1] is None)
            # A new fit starts a new stream for partial_fit.
            self._stream = None
        self._warn_fit(n_rows)
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
        distinct rows, not with the length of the stream. A call after
        ``set_params`` changed ``n_components`` or the family's parameters
        warns and starts a new stream.

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
        stream = self._continued_stream()
        with _kept_on_error(self):
            table, n_rows = self._table(
                X,
                sample_weight,
                reset=stream is None,
                method="partial_fit",
                distributed=False,
            )
            if stream is None:
                family = self._make_family()
                user = (
                    self._check_weights_init(),
                    self._user_params(self.n_features_in_),
                )
                start = self._starting_points(table, family, *user)
                reorder = user[1] is None
            else:
                family = self._make_family()
                table = merge_tables(family, [stream, table])
                n_rows += self._stream_rows
                check_weighted_totals(table, weighted=sample_weight is not None)
                start = self._continued_start()
                reorder = False
            self._check_identifiable(family, table)
            result, best = self._run(table, family, *start)
            self._store_result(family, table, result, best, reorder=reorder)
            self._stream, self._stream_rows = table, n_rows
        self._warn_collapsed(n_rows)
        return self

    def _continued_start(self):
        """The fitted parameters as a start, renormalised as fit renormalises
        ``weights_init`` and ``probs_init``: partial_fit then continues from
        the start, to the bit, that fit from the fitted parameters takes."""
        params = self._fitted_params()
        if "probs" in params:
            params["probs"] = params["probs"] / params["probs"].sum(
                axis=-1, keepdims=True
            )
        weights = self.weights_ / self.weights_.sum()
        return weights[None], _batch(params), None

    def _warn_fit(self, n_rows):
        """Warn about collapsed components and a best run cut by max_iter."""
        self._warn_collapsed(n_rows, stacklevel=5)
        if not self.converged_ and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different "
                "init parameters, or increase max_iter, tol, or check for "
                "degenerate data.",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _warn_collapsed(self, n_rows, stacklevel=4):
        """Warn when fitted components coincide or have (almost) no weight."""
        note = collapsed_components(self.weights_, self._fitted_params(), n_rows)
        if note:
            warnings.warn(
                f"{type(self).__name__}: {note}. The data support fewer "
                "components than n_components; consider a smaller n_components.",
                CollapsedComponentsWarning,
                stacklevel=stacklevel,
            )

    def _continued_stream(self):
        """The table of the stream to continue, or None to start a new one."""
        stream = getattr(self, "_stream", None)
        if stream is None:
            return None
        if len(self.weights_) != self.n_components:
            warnings.warn(
                f"{type(self).__name__}.partial_fit: n_components changed from "
                f"{len(self.weights_)} to {self.n_components} since the stream "
                "started; starting a new stream from this chunk.",
                UserWarning,
                stacklevel=3,
            )
            return None
        return stream

    def _store_result(self, family, table, result, best, *, reorder):
        """Set the fitted attributes from the best run of ``result``."""
        weights = result.weights[best]
        params = {name: value[best] for name, value in result.params.items()}
        if reorder:
            order = family.canonical_order(weights, params)
            weights = weights[order]
            params = {name: value[order] for name, value in params.items()}
        self.weights_ = weights
        for name, value in params.items():
            setattr(self, f"{name}_", value)
        self.converged_ = bool(result.converged[best])
        self.n_iter_ = int(result.n_iter[best])
        self.lower_bound_ = float(result.lower_bound[best])
        self.lower_bounds_ = result.lower_bounds[best]
        self._family = family
        self._fitted_update_weights = self.update_weights
        self._n_features_fitted = self.n_features_in_
        self._trials = _trials_summary(table)

    def _starting_points(self, table, family, weights_init, params_init):
        """Starting (weights, params, lower_bound) of every run."""
        K = self.n_components
        # A previous solution of another shape (n_components or the number of
        # columns changed since) cannot be continued: initialise afresh.
        if self.warm_start and self._can_continue(K):
            weights, params = self.weights_[None], _batch(self._fitted_params())
            return weights, params, np.array([self.lower_bound_])
        if params_init is not None:
            n_runs, params = 1, _batch(params_init)
            weights = np.full((1, K), 1.0 / K)
        else:
            n_runs = self.n_init
            rng = check_random_state(self.random_state)
            weights, params = initial_parameters(
                table, family, K, n_runs, self.init_params, rng
            )
        if weights_init is not None:
            weights = np.broadcast_to(weights_init, (n_runs, K))
        elif not self.update_weights:
            weights = np.full((n_runs, K), 1.0 / K)
        return weights, params, None

    def _can_continue(self, n_components):
        """Whether a previous fit of this shape and family can be continued."""
        return (
            hasattr(self, "weights_")
            and len(self.weights_) == n_components
            and getattr(self, "_n_features_fitted", None) == self.n_features_in_
        )

    def _run(self, table, family, weights, params, lower_bound, certified=None):
        """Run EM from every starting point; return the result and the best run.

        ``certified`` is ``run_starts``' (runs that arrive certified), if any.
        """
        options = {
            "pseudo_count": self.pseudo_count,
            "update_weights": self.update_weights,
            "tol": self.tol,
            "max_iter": self.max_iter,
            "algorithm": self.algorithm,
        }
        result = run_starts(
            self,
            table,
            family,
            weights,
            params,
            lower_bound,
            options,
            self.n_jobs,
            certified=certified,
        )
        return result, int(np.argmax(result.lower_bound))

    # ------------------------------------------------------------ predict
    def _dask_rows(self, X, method):
        """Lazy dask array of ``method`` applied to each chunk of X."""
        from sklearn_coinem._dask import check_2d, dask_row_map, feature_names_view

        check_is_fitted(self)
        check_2d(X)
        validate_data(self, feature_names_view(X), reset=False, skip_check_array=True)
        return dask_row_map(
            X,
            self._family,
            self.weights_,
            self._fitted_params(),
            method,
            self._whom(method),
        )

    def _log_resp(self, X, method):
        """Per-row log-likelihood and log responsibilities of validated X."""
        check_is_fitted(self)
        X = check_rows(self, self._family, X, self._whom(method))
        block = RowBlock(X, np.ones(X.shape[0]))
        log_norm, log_resp = estimate_log_resp(
            block,
            self._family,
            safe_log(self.weights_)[None],
            _batch(self._fitted_params()),
        )
        return log_norm[:, 0] + self._family.row_constants(block), log_resp[:, 0]

    def score_samples(self, X):
        """Log-likelihood of each row under the fitted mixture.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Non-negative outcome counts.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            ``log sum_k weights_[k] * f_k(X[i])``, the full log density
            including the multinomial coefficient. A lazy dask array when X
            is a dask array.
        """
        if _is_dask_collection(X):
            return self._dask_rows(X, "score_samples")
        return self._log_resp(X, "score_samples")[0]

    def score(self, X, y=None, sample_weight=None):
        """Weighted mean log-likelihood of the rows of X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
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
            if not sample_weight.any():
                raise ValueError(
                    "Sample weights must contain at least one non-zero number."
                )
            # A zero-weight row is removed, as in fit: its score may be -inf.
            keep = sample_weight > 0
            log_prob = log_prob[keep]
            # The mean is scale-free: relative weights neither overflow (1e308)
            # nor lose digits as subnormal numbers (1e-320).
            sample_weight = sample_weight[keep] / sample_weight.max()
        return float(np.average(log_prob, weights=sample_weight))

    def predict_proba(self, X):
        """Posterior probability of each component for each row.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Non-negative outcome counts.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Responsibilities; each row sums to 1. A row with no trials gets
            the mixing weights. A lazy dask array when X is a dask array.
        """
        if _is_dask_collection(X):
            return self._dask_rows(X, "predict_proba")
        return np.exp(self._log_resp(X, "predict_proba")[1])

    def predict(self, X):
        """Most probable component of each row.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Non-negative outcome counts.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component indices. A lazy dask array when X is a dask array.
        """
        if _is_dask_collection(X):
            return self._dask_rows(X, "predict")
        return self._log_resp(X, "predict")[1].argmax(axis=1)

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit the mixture on X and return the most probable component of each row.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
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

    # ---------------------------------------------------------- inference
    def _criteria(self, X, sample_weight, method):
        """AIC, BIC, ICL and their ingredients on X at the fitted parameters."""
        check_is_fitted(self)
        table, _ = self._table(X, sample_weight, reset=False, method=method)
        return information_criteria(
            table,
            self._family,
            self.weights_,
            self._fitted_params(),
            self._fitted_update_weights,
        )

    def aic(self, X, sample_weight=None):
        """Akaike information criterion of the fitted mixture on X.

        ``-2 * log_likelihood + 2 * n_parameters`` with the full
        log-likelihood (including the multinomial coefficient) and
        ``n_parameters`` the free parameters: ``n_components - 1`` weights
        (none when the fit held them fixed) plus the components' (for
        multinomial components ``n_components * (n_features - 1)``), the
        convention of R's flexmix. Smaller is better.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Non-negative outcome counts, usually the training data.

        sample_weight : array-like of shape (n_samples,), default=None
            Row weights of the log-likelihood.

        Returns
        -------
        aic : float
            The lower the better.
        """
        return self._criteria(X, sample_weight, "aic").aic

    def bic(self, X, sample_weight=None):
        """Bayesian information criterion of the fitted mixture on X.

        ``-2 * log_likelihood + log(n) * n_parameters``, with ``n`` the number
        of rows (the sum of ``sample_weight`` when given) and the parameter
        count and log-likelihood of :meth:`aic` (flexmix's convention).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
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
        return self._criteria(X, sample_weight, "bic").bic

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
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Non-negative outcome counts, usually the training data.

        sample_weight : array-like of shape (n_samples,), default=None
            Row weights.

        Returns
        -------
        icl : float
            The lower the better.
        """
        return self._criteria(X, sample_weight, "icl").icl

    def _standard_errors(self, X, sample_weight, confidence, interval):
        """The shared body of ``standard_errors`` (documented per subclass)."""
        if (
            not isinstance(confidence, Real)
            or isinstance(confidence, bool)
            or not 0 < confidence < 1
        ):
            raise ValueError(f"confidence must be in (0, 1), got {confidence!r}.")
        if interval not in ("logit", "wald", "profile"):
            raise ValueError(
                f"interval must be 'logit', 'wald' or 'profile', got {interval!r}."
            )
        check_is_fitted(self)
        n_free = n_parameters(
            self._family,
            len(self.weights_),
            self.n_features_in_,
            self._fitted_update_weights,
        )
        if n_free > _MAX_FREE_PARAMETERS:
            raise ValueError(
                f"standard_errors needs the {n_free} x {n_free} observed "
                f"information of the {n_free} free parameters "
                f"({n_free**2 * 8 / 2**30:.1f} GiB, and a cubic-time inverse); "
                f"it is limited to {_MAX_FREE_PARAMETERS} parameters. Fit fewer "
                "components or merge rare outcome columns."
            )
        table, n_rows = self._table(
            X, sample_weight, reset=False, method="standard_errors"
        )
        return standard_errors(
            table,
            self._family,
            self.weights_,
            self._fitted_params(),
            update_weights=self._fitted_update_weights,
            confidence=confidence,
            interval=interval,
            feature_names=getattr(self, "feature_names_in_", None),
            row_weight=table.total_weight / n_rows,
        )

    def _sample(self, n_samples, n_trials, random_state):
        """Draw trials, then components, then counts (documented per subclass)."""
        check_is_fitted(self)
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples}. The sampling "
                "requires at least one sample."
            )
        rng = check_random_state(
            self.random_state if random_state is None else random_state
        )
        if n_trials is None:
            values, weights = self._trials
            n_trials = rng.choice(values, size=n_samples, p=weights / weights.sum())
        trials = _check_n_trials(n_trials, n_samples, rng)
        labels = rng.choice(len(self.weights_), size=n_samples, p=self.weights_)
        X = self._family.sample(self._fitted_params(), labels, trials, rng)
        return X, labels


def run_starts(
    estimator,
    table,
    family,
    weights,
    params,
    lower_bound,
    options,
    n_jobs=None,
    component_labels=None,
    certified=None,
):
    """Run EM from every starting point of ``estimator``; return the EMResult.

    A monitor that needs ordered output (``verbose``) gets the runs one
    after the other. Otherwise they are split into at most ``n_jobs``
    joblib tasks, each a batch of runs; runs are independent, so the
    result does not depend on the split. A table kept on dask workers
    already spreads every E-step, so its runs stay in one task.
    ``options`` are the keyword arguments of ``run_em``; ``certified``, if
    given, is ``(n_iter, converged)`` of runs that arrive certified (its
    ``n_iter`` and ``converged``), with ``lower_bound`` their objectives.
    """
    n_runs = len(weights)
    monitor = active_monitor(estimator.verbose, estimator.verbose_interval)
    monitor.fit_started(estimator, n_runs, table.total_weight)
    n_tasks = min(effective_n_jobs(n_jobs), n_runs)
    if monitor.sequential:
        tasks = [np.array([run]) for run in range(n_runs)]
    elif not isinstance(table, RowTable):
        tasks = [np.arange(n_runs)]
    else:
        tasks = np.array_split(np.arange(n_runs), n_tasks)

    def arguments(idx):
        """Positional and keyword arguments of ``run_em`` for runs ``idx``."""
        callback = None
        if len(tasks) == 1 or monitor.sequential:
            offset = idx[0]

            def callback(run, n_iter, objective, change):
                monitor.iteration(offset + run, n_iter, objective, change)

        args = table, family, weights[idx], take_runs(params, idx)
        start = None if lower_bound is None else lower_bound[idx]
        kwargs = {"lower_bound": start, "callback": callback, **options}
        if certified is not None:
            kwargs["n_iter"], kwargs["converged"] = (value[idx] for value in certified)
        return args, {**kwargs, "component_labels": component_labels}

    if monitor.sequential:
        results = []
        for idx in tasks:
            args, kwargs = arguments(idx)
            results.append(_finished(run_em(*args, **kwargs), idx, monitor))
    else:
        results = Parallel(n_jobs=1 if len(tasks) == 1 else n_jobs)(
            delayed(run_em)(*args, **kwargs) for args, kwargs in map(arguments, tasks)
        )
        for result, idx in zip(results, tasks):
            _finished(result, idx, monitor)
    return EMResult.concatenate(results)


def _finished(result, runs, monitor):
    """Tell ``monitor`` that the batch of ``runs`` ended; return ``result``."""
    for run, global_run in enumerate(runs):
        monitor.run_finished(
            int(global_run),
            int(result.n_iter[run]),
            float(result.lower_bound[run]),
            bool(result.converged[run]),
        )
    return result


def _batch(params):
    """Parameters without a run axis as a batch of one run."""
    return {name: np.asarray(value)[None] for name, value in params.items()}


def _trials_summary(table):
    """Distinct trials of the training rows and their total weights.

    ``sample`` draws trials from it when none are given. A table kept on
    dask workers gives its local sample's.
    """
    trials = row_sums(table.X)
    top = trials.max(initial=0)
    # Whole trials of a small range count by value (np.unique sorts, which
    # costs as much as an EM iteration on large tables): the same sums.
    if top < max(trials.size, 1024) and np.array_equal(trials, np.floor(trials)):
        index = trials.astype(np.intp)
        present = np.flatnonzero(np.bincount(index, minlength=int(top) + 1))
        totals = np.bincount(index, weights=table.weights, minlength=int(top) + 1)
        return present.astype(trials.dtype), totals[present]
    values, inverse = np.unique(trials, return_inverse=True)
    return values, np.bincount(inverse, weights=table.weights)


class _kept_on_error:
    """Context that restores an estimator's fitted state if the block raises.

    Validation (``validate_data(reset=True)``) sets ``n_features_in_`` before
    anything can fail, so without it a failed refit would leave a model half
    of the new data and half of the old fit.
    """

    def __init__(self, estimator):
        self.estimator = estimator

    def __enter__(self):
        self.state = dict(vars(self.estimator))

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            vars(self.estimator).clear()
            vars(self.estimator).update(self.state)
        return False
