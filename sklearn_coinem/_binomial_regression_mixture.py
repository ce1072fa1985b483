"""BinomialRegressionMixture: mixtures of logistic regressions for count data."""

import numpy as np
from scipy.special import expit
from scipy.stats import norm
from sklearn.base import _fit_context
from sklearn.utils import check_random_state
from sklearn.utils.validation import (
    _check_sample_weight,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from sklearn_coinem._base import BaseCountMixture, _batch, _kept_on_error
from sklearn_coinem._estep import estimate_log_resp
from sklearn_coinem._families._binomial_regression import BinomialRegressionFamily
from sklearn_coinem._groups import GroupedFamily, GroupedTable
from sklearn_coinem._inference import information_criteria, standard_errors
from sklearn_coinem._numerics import safe_log
from sklearn_coinem._solver import run_em
from sklearn_coinem._table import RowBlock, RowTable

# Tables of at least SUBSAMPLE_FACTOR * SUBSAMPLE_ROWS distinct rows first
# run EM from each start on about SUBSAMPLE_ROWS evenly spaced rows of them
# (at most SUBSAMPLE_MAX_ITER iterations). Continuous covariates make every
# row distinct, and a start's first iterations on all rows only move it
# most of the way to a point that a subsample locates as well: on the
# benchmark's 10^5 rows this cuts the iterations on all rows from 17 to 11
# for the price of about 0.4 of one (docs/performance.rst).
SUBSAMPLE_ROWS = 1 << 11
SUBSAMPLE_FACTOR = 16
SUBSAMPLE_MAX_ITER = 200


def refine_on_subsample(table, family, weights, params, **options):
    """Starts moved by EM on evenly spaced rows of a large table, or unchanged.

    ``options`` are those of :func:`~sklearn_coinem._solver.run_em` except
    ``max_iter``.
    """
    if table.n_distinct < SUBSAMPLE_FACTOR * SUBSAMPLE_ROWS:
        return weights, params
    rows = slice(None, None, table.n_distinct // SUBSAMPLE_ROWS)
    subsample = RowTable.from_rows(
        family, table.X[rows], table.weights[rows], table.design[rows]
    )
    result = run_em(
        subsample, family, weights, params, max_iter=SUBSAMPLE_MAX_ITER, **options
    )
    return result.weights, result.params


class BinomialRegressionMixture(BaseCountMixture):
    """Finite mixture of binomial logistic regressions fitted by EM.

    Row ``i`` has covariates ``X[i]`` and counts ``y[i] = (successes,
    failures)``, as R's ``cbind(s, f)``. It comes from component ``k`` with
    probability ``weights_[k]``, and then its successes are binomial with
    success probability ``expit(intercept_[k] + X[i] @ coef_[k])``. The
    columns ``shared`` have one coefficient common to all components
    (flexmix's ``FLXMRglmfix(fixed = ...)``). With ``groups`` in :meth:`fit`,
    all rows of a group come from one component (flexmix's ``y ~ x | g``).

    Each EM iteration takes one minorise-maximise step on the coefficients
    (the Jaakkola-Jordan bound of the logistic log-likelihood), so the
    log-likelihood never decreases and SQUAREM accelerates it; see
    :class:`~sklearn_coinem._families._binomial_regression.BinomialRegressionFamily`.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.

    fit_intercept : bool, default=True
        Whether each component has an intercept (a column of ones is added
        to the design).

    shared : array-like of bool of shape (n_features,) or of int, default=None
        Columns of X (a mask, or their indices) whose coefficient is common
        to all components. The intercept is never shared.

    tol : float, default=1e-8
        Convergence threshold on the change of the mean log-likelihood.

    max_iter : int, default=1000
        Maximum number of EM iterations.

    n_init : int, default=1
        Number of initialisations; the best final log-likelihood is kept.

    init_params : {"k-means++", "kmeans", "random", "random_resp", \
            "random_from_data"}, default="k-means++"
        How the starting responsibilities are drawn (seeding on the row
        proportions ``s / n``, weighted by the trials); the starting
        coefficients are then weighted logistic fits to them.

    weights_init : array-like of shape (n_components,), default=None
        Starting mixing weights.

    update_weights : bool, default=True
        If False the mixing weights stay at ``weights_init`` (uniform when
        None).

    pseudo_count : float, default=0.0
        Dirichlet pseudo-count of the mixing weights (0 is maximum
        likelihood, flexmix's estimate).

    algorithm : {"em", "squarem"}, default="squarem"
        Plain EM or SQUAREM (Varadhan & Roland 2008).

    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation.

    n_jobs : int, default=None
        Number of joblib workers over the restarts.

    warm_start : bool, default=False
        If True, ``fit`` continues from the previous solution.

    verbose : int, default=0
        Progress output.

    verbose_interval : int, default=10
        Iterations between progress lines.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Mixing weights.

    intercept_ : ndarray of shape (n_components,)
        Intercept of each component (zeros without ``fit_intercept``).

    coef_ : ndarray of shape (n_components, n_features)
        Coefficients of each component; shared columns are equal in all rows.

    converged_ : bool
        Whether the best run converged.

    n_iter_ : int
        EM iterations of the best run.

    lower_bound_ : float
        Mean log-likelihood of the best run.

    lower_bounds_ : ndarray of shape (n_recorded,)
        Its value after each recorded step.

    n_features_in_ : int
        Number of covariates seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the covariates, when X has string column names.

    See Also
    --------
    BinomialMixture : The same without covariates.

    References
    ----------
    B. Grün and F. Leisch (2008). FlexMix version 2: finite mixtures with
    concomitant variables and varying and constant parameters. Journal of
    Statistical Software 28(4).

    D. Böhning and B. G. Lindsay (1988). Monotonicity of quadratic-approximation
    algorithms. Annals of the Institute of Statistical Mathematics 40, 641-663.

    Examples
    --------
    >>> from sklearn_coinem import BinomialRegressionMixture
    >>> from sklearn_coinem.datasets import load_betablocker
    >>> data = load_betablocker()
    >>> model = BinomialRegressionMixture(3, shared=[True], n_init=30,
    ...                                   random_state=0)
    >>> model = model.fit(data.data, data.target)
    >>> round(float(model.coef_[0, 0]), 3)
    -0.318
    """

    _parameter_constraints: dict = {
        **BaseCountMixture._parameter_constraints,
        "fit_intercept": ["boolean"],
        "shared": ["array-like", None],
    }

    def __init__(
        self,
        n_components=1,
        *,
        fit_intercept=True,
        shared=None,
        tol=1e-8,
        max_iter=1000,
        n_init=1,
        init_params="k-means++",
        weights_init=None,
        update_weights=True,
        pseudo_count=0.0,
        algorithm="squarem",
        random_state=None,
        n_jobs=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
    ):
        self.n_components = n_components
        self.fit_intercept = fit_intercept
        self.shared = shared
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.update_weights = update_weights
        self.pseudo_count = pseudo_count
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval

    # ------------------------------------------------------------ helpers
    def _shared_columns(self, n_features):
        """Boolean mask of the shared columns of X."""
        mask = np.zeros(n_features, dtype=bool)
        if self.shared is None:
            return mask
        shared = np.asarray(self.shared)
        if shared.dtype == bool:
            if shared.shape != (n_features,):
                raise ValueError(
                    f"shared must have one entry per feature ({n_features}), got "
                    f"shape {shared.shape}."
                )
            return shared
        mask[shared.astype(int)] = True
        return mask

    def _make_family(self):
        shared = self._shared_columns(self.n_features_in_)
        if self.fit_intercept:
            shared = np.r_[False, shared]
        return BinomialRegressionFamily(shared=shared)

    def _design(self, X):
        return np.column_stack([np.ones(len(X)), X]) if self.fit_intercept else X

    def _check_data(self, X, y, *, reset):
        """Validated covariates (n, p) and counts (n, 2), both float64."""
        X, y = validate_data(
            self, X, y, reset=reset, multi_output=True, dtype=np.float64
        )
        y = np.asarray(y, dtype=np.float64)
        if y.ndim != 2 or y.shape[1] != 2:
            raise ValueError(
                "y must have two columns, the successes and failures of each "
                f"row (as R's cbind(s, f)); got shape {y.shape}."
            )
        if (y < 0).any():
            raise ValueError("y must hold non-negative counts.")
        return X, y

    def _table(self, X, y, sample_weight, groups, *, reset):
        """The row table, or with ``groups`` the table of groups and its family."""
        X, counts = self._check_data(X, y, reset=reset)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
        family = self._make_family() if reset else self._family
        design = self._design(X)
        if groups is None:
            return RowTable.compress(family, counts, sample_weight, design), family
        groups = column_or_1d(groups)
        check_consistent_length(X, groups)
        family = GroupedFamily(family)
        table = GroupedTable.from_groups(family, counts, groups, sample_weight, design)
        return table, family

    def _fitted_params(self):
        coef = self.coef_
        if self.fit_intercept:
            coef = np.column_stack([self.intercept_, coef])
        return {"coef": coef}

    def _block(self, X, y):
        check_is_fitted(self)
        X, counts = self._check_data(X, y, reset=False)
        return RowBlock(counts, np.ones(len(X)), self._design(X))

    def _log_resp(self, X, y):
        block = self._block(X, y)
        log_norm, log_resp = estimate_log_resp(
            block,
            self._family,
            safe_log(self.weights_)[None],
            _batch(self._fitted_params()),
        )
        return log_norm[:, 0] + self._family.row_constants(block), log_resp[:, 0]

    def _starting_points(self, table, family, weights_init, params_init):
        """The base class's starts, refined on a subsample of a large table."""
        weights, params, lower_bound = super()._starting_points(
            table, family, weights_init, params_init
        )
        # A warm start (lower_bound known) continues as it is; groups and
        # dask tables have no evenly spaced rows to take.
        if lower_bound is None and type(table) is RowTable:
            weights, params = refine_on_subsample(
                table,
                family,
                weights,
                params,
                pseudo_count=self.pseudo_count,
                update_weights=self.update_weights,
                tol=self.tol,
                algorithm=self.algorithm,
            )
        return weights, params, lower_bound

    # ---------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, groups=None):
        """Estimate the weights and coefficients by EM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Covariates.

        y : array-like of shape (n_samples, 2)
            Successes and failures of each row.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights (integer weights repeat rows).

        groups : array-like of shape (n_samples,), default=None
            Group label of each row: the rows of a group share one latent
            component (flexmix's ``y ~ x | group``), and a group's likelihood
            is the product of its rows'. ``sample_weight`` must then be
            constant within a group (it weighs the group).

        Returns
        -------
        self : object
            The fitted mixture.
        """
        with _kept_on_error(self):
            table, family = self._table(X, y, sample_weight, groups, reset=True)
            self._check_identifiable(family, table)
            start = self._starting_points(
                table, family, self._check_weights_init(), None
            )
            result, best = self._run(table, family, *start)
            self._store_result(family, table, result, best, reorder=True)
            # Row-level methods use the family of rows.
            self._family = getattr(family, "family", family)
            coef = self.coef_
            self.intercept_ = coef[:, 0] if self.fit_intercept else np.zeros(len(coef))
            self.coef_ = coef[:, 1:] if self.fit_intercept else coef
        return self

    def partial_fit(self, X, y, sample_weight=None):
        """Not supported yet for regressions: raises NotImplementedError.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Covariates.

        y : array-like of shape (n_samples, 2)
            Successes and failures.

        sample_weight : array-like of shape (n_samples,), default=None
            Row weights.

        Returns
        -------
        self : object
            Never returned.
        """
        raise NotImplementedError("partial_fit is not available for regressions yet.")

    # ------------------------------------------------------------ predict
    def predict(self, X):
        """Success probability of each row under the mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Covariates.

        Returns
        -------
        probability : ndarray of shape (n_samples,)
            ``sum_k weights_[k] * expit(intercept_[k] + X @ coef_[k])``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        eta = self._design(X) @ self._fitted_params()["coef"].T
        return expit(eta) @ self.weights_

    def predict_proba(self, X, y):
        """Posterior probability of each component given covariates and counts.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Covariates.

        y : array-like of shape (n_samples, 2)
            Successes and failures.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Rows sum to 1.
        """
        return np.exp(self._log_resp(X, y)[1])

    def score_samples(self, X, y):
        """Full log-likelihood of each row (with the binomial coefficient).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Covariates.

        y : array-like of shape (n_samples, 2)
            Successes and failures.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            ``log sum_k weights_[k] Binomial(y[i] | expit(eta_ik))``.
        """
        return self._log_resp(X, y)[0]

    def score(self, X, y, sample_weight=None, groups=None):
        """Weighted mean log-likelihood of the rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Covariates.

        y : array-like of shape (n_samples, 2)
            Successes and failures.

        sample_weight : array-like of shape (n_samples,), default=None
            Row weights of the mean.

        groups : array-like of shape (n_samples,), default=None
            Group labels, as in :meth:`fit`: the log-likelihood of the groups,
            still divided by the (weighted) number of rows.

        Returns
        -------
        log_likelihood : float
            Weighted mean of :meth:`score_samples` (or of the groups'
            log-likelihoods per row).
        """
        if groups is None:
            return float(np.average(self.score_samples(X, y), weights=sample_weight))
        criteria = self._criteria(X, y, sample_weight, groups)
        return criteria.log_likelihood / criteria.n_obs

    def fit_predict(self, X, y, sample_weight=None):
        """Fit, then return the most probable component of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Covariates.

        y : array-like of shape (n_samples, 2)
            Successes and failures.

        sample_weight : array-like of shape (n_samples,), default=None
            Row weights.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Most probable component of each row given its covariates and
            counts.
        """
        return self.fit(X, y, sample_weight).predict_proba(X, y).argmax(axis=1)

    # ---------------------------------------------------------- inference
    def _criteria(self, X, y, sample_weight, groups):
        """Criteria with ``n`` the number of rows (flexmix's), also for groups."""
        check_is_fitted(self)
        table, family = self._table(X, y, sample_weight, groups, reset=False)
        criteria = information_criteria(
            table,
            family,
            self.weights_,
            self._fitted_params(),
            self._fitted_update_weights,
        )
        if groups is not None:
            n_rows = len(X) if sample_weight is None else float(np.sum(sample_weight))
            shift = criteria.n_parameters * (np.log(n_rows) - np.log(criteria.n_obs))
            criteria.bic += shift
            criteria.icl += shift
            criteria.n_obs = n_rows
        return criteria

    def aic(self, X, y, sample_weight=None, groups=None):
        """Akaike information criterion (flexmix's convention).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Covariates.

        y : array-like of shape (n_samples, 2)
            Successes and failures.

        sample_weight : array-like of shape (n_samples,), default=None
            Row weights.

        groups : array-like of shape (n_samples,), default=None
            Group labels, as in :meth:`fit`.

        Returns
        -------
        aic : float
            The lower the better.
        """
        return self._criteria(X, y, sample_weight, groups).aic

    def bic(self, X, y, sample_weight=None, groups=None):
        """Bayesian information criterion, ``n`` the rows (flexmix's convention).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Covariates.

        y : array-like of shape (n_samples, 2)
            Successes and failures.

        sample_weight : array-like of shape (n_samples,), default=None
            Row weights; they also set ``n``.

        groups : array-like of shape (n_samples,), default=None
            Group labels, as in :meth:`fit`; ``n`` stays the number of rows.

        Returns
        -------
        bic : float
            The lower the better.
        """
        return self._criteria(X, y, sample_weight, groups).bic

    def icl(self, X, y, sample_weight=None, groups=None):
        """Integrated completed likelihood (flexmix's ``ICL``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Covariates.

        y : array-like of shape (n_samples, 2)
            Successes and failures.

        sample_weight : array-like of shape (n_samples,), default=None
            Row weights.

        groups : array-like of shape (n_samples,), default=None
            Group labels, as in :meth:`fit` (the entropy is then the groups').

        Returns
        -------
        icl : float
            The lower the better.
        """
        return self._criteria(X, y, sample_weight, groups).icl

    def standard_errors(self, X, y, sample_weight=None, groups=None, confidence=0.95):
        """Standard errors from the observed information (Louis 1982).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Covariates, usually the training data.

        y : array-like of shape (n_samples, 2)
            Successes and failures.

        sample_weight : array-like of shape (n_samples,), default=None
            Row weights.

        groups : array-like of shape (n_samples,), default=None
            Group labels, as in :meth:`fit`.

        confidence : float, default=0.95
            Coverage of the Wald intervals.

        Returns
        -------
        result : :class:`~sklearn.utils.Bunch`
            ``weights``, ``coef`` (on the design: the intercept first when
            ``fit_intercept``) and their ``_ci`` and ``_status``, plus
            ``z`` and ``p_value`` of every coefficient (two-sided Wald test of
            0), as flexmix's ``summary(refit(...))``.
        """
        check_is_fitted(self)
        table, family = self._table(X, y, sample_weight, groups, reset=False)
        params = self._fitted_params()
        result = standard_errors(
            table,
            family,
            self.weights_,
            params,
            update_weights=self._fitted_update_weights,
            confidence=confidence,
            interval="wald",
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            result.z = params["coef"] / result["coef"]
        result.p_value = 2 * norm.sf(np.abs(result.z))
        return result

    def sample(self, X, n_trials, *, random_state=None):
        """Draw counts at the covariates X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Covariates of the rows to draw.

        n_trials : int or array-like of shape (n_samples,)
            Trials of each row.

        random_state : int, RandomState instance or None, default=None
            Seed; the estimator's ``random_state`` when None.

        Returns
        -------
        y : ndarray of shape (n_samples, 2)
            Successes and failures.

        labels : ndarray of shape (n_samples,)
            The component of each row.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        rng = check_random_state(
            self.random_state if random_state is None else random_state
        )
        trials = np.broadcast_to(np.asarray(n_trials, dtype=np.int64), (len(X),))
        labels = rng.choice(len(self.weights_), size=len(X), p=self.weights_)
        y = self._family.sample(
            self._fitted_params(), labels, trials, rng, design=self._design(X)
        )
        return y, labels

    def __sklearn_tags__(self):
        # The base class asks its family, which needs the fitted width.
        tags = super(BaseCountMixture, self).__sklearn_tags__()
        tags.input_tags.positive_only = False
        tags.input_tags.sparse = False
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        return tags
