"""The BinomialMixture estimator: mixtures of binomials and multinomials by EM."""

import warnings
from numbers import Integral, Real
from time import time

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    check_non_negative,
    validate_data,
)

from sklearn_coinem._count_table import _compress_counts
from sklearn_coinem._em import (
    CountTable,
    _estimate_log_resp,
    _log_coefficients,
    _safe_log,
)
from sklearn_coinem._initialization import INIT_METHODS, initial_parameters
from sklearn_coinem._solver import run_em


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

    tol : float, default=1e-6
        Convergence threshold. EM stops when the per-sample objective (mean
        log-likelihood plus the pseudo-count prior term) improves by less
        than ``tol`` between iterations (between SQUAREM cycles when
        ``algorithm="squarem"``).

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

    warm_start : bool, default=False
        If True, ``fit`` continues from the previous solution (``n_init`` is
        then ignored).

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
        by the total weight) of the best run at its last iteration.

    lower_bounds_ : ndarray of shape (n_recorded,)
        Objective at each iteration of the best run (at each SQUAREM cycle
        start for ``algorithm="squarem"``); it never decreases.

    n_features_in_ : int
        Number of outcome columns seen during fit.

    feature_names_in_ : ndarray of shape (n_features_in_,)
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

    A mixture of K binomials is identifiable only if rows have at least
    2K - 1 trials (Teicher 1961); ``fit`` warns otherwise.

    References
    ----------
    .. [1] Dempster, Laird & Rubin (1977). Maximum likelihood from incomplete
       data via the EM algorithm. JRSS B 39(1).
    .. [2] Do & Batzoglou (2008). What is the expectation maximization
       algorithm? Nature Biotechnology 26(8).
    .. [3] Teicher (1961). Identifiability of mixtures. Ann. Math. Statist.
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
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_components=1,
        *,
        tol=1e-6,
        max_iter=1000,
        n_init=1,
        init_params="k-means++",
        weights_init=None,
        probs_init=None,
        update_weights=True,
        pseudo_count=1e-6,
        algorithm="squarem",
        random_state=None,
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
            repeating rows; zero weight removes a row.

        Returns
        -------
        self : object
            The fitted mixture.
        """
        X = self._validate_counts(X, reset=True, whom="BinomialMixture.fit")
        n_samples, n_features = X.shape
        if n_samples < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components but got "
                f"n_components = {self.n_components}, n_samples = {n_samples}"
            )
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
            if not sample_weight.sum() > 0:
                raise ValueError("sample_weight must have a positive sum.")
        weights_init, probs_init = self._check_initial_parameters(n_features)
        table = CountTable.from_rows(*_compress_counts(X, sample_weight))
        _check_identifiable(table.X, self.n_components)

        result, best = self._run(table, weights_init, probs_init)
        weights, probs = result.weights[best], result.probs[best]
        if probs_init is None:
            order = _canonical_order(weights, probs)
            weights, probs = weights[order], probs[order]
        self.weights_, self.probs_ = weights, probs
        self.converged_ = bool(result.converged[best])
        self.n_iter_ = int(result.n_iter[best])
        self.lower_bound_ = float(result.lower_bound[best])
        self.lower_bounds_ = result.lower_bounds[best]
        if not self.converged_ and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different "
                "init parameters, or increase max_iter, tol, or check for "
                "degenerate data.",
                ConvergenceWarning,
                stacklevel=3,
            )
        return self

    def _starting_points(self, table, weights_init, probs_init):
        """Starting (weights, probs, lower_bound) of every run."""
        K = self.n_components
        if self.warm_start and hasattr(self, "converged_"):
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

    def _run(self, table, weights_init, probs_init):
        """Run every initialisation; return the result and the best run."""
        weights, probs, lower_bound = self._starting_points(
            table, weights_init, probs_init
        )
        callback = self._verbose_callback() if self.verbose else None
        runs = range(len(probs)) if self.verbose else [slice(None)]
        results = []
        for run in runs:
            if self.verbose:
                print(f"Initialization {run}")
                self._init_prev_time = self._iter_prev_time = time()
            result = run_em(
                table,
                weights[run].reshape(-1, self.n_components),
                probs[run].reshape(-1, self.n_components, table.X.shape[1]),
                pseudo_count=self.pseudo_count,
                update_weights=self.update_weights,
                tol=self.tol,
                max_iter=self.max_iter,
                algorithm=self.algorithm,
                lower_bound=None if lower_bound is None else lower_bound[run],
                callback=callback,
            )
            if self.verbose:
                self._print_init_end(result)
            results.append(result)
        result = _concatenate_results(results)
        return result, int(np.argmax(result.lower_bound))

    # ----------------------------------------------------------------- verbose
    def _verbose_callback(self):
        def callback(run, n_iter, objective, change):
            if n_iter % self.verbose_interval:
                return
            if self.verbose == 1:
                print(f"  Iteration {n_iter}")
            else:
                now = time()
                print(
                    f"  Iteration {n_iter}\t time lapse "
                    f"{now - self._iter_prev_time:.5f}s\t ll change {change:.5f}"
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
    def _log_resp(self, X, whom):
        """Validated X, per-row log-likelihood and log responsibilities."""
        check_is_fitted(self)
        X = self._validate_counts(X, reset=False, whom=whom)
        X = np.asarray(X, dtype=np.float64)
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
            including the multinomial coefficient.
        """
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
            Row weights of the average.

        Returns
        -------
        log_likelihood : float
            Weighted mean of :meth:`score_samples`.
        """
        log_prob = self.score_samples(X)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, log_prob[:, None])
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
            the mixing weights.
        """
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
            Component indices.
        """
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
