"""BinomialRegressionMixture: mixtures of logistic regressions for count data."""

import warnings
from functools import partial

import numpy as np
from scipy.special import expit
from scipy.stats import norm
from sklearn.base import _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._tags import ClassifierTags
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from sklearn_coinem._base import (
    BaseCountMixture,
    _batch,
    _kept_on_error,
)
from sklearn_coinem._dask import _is_dask_collection
from sklearn_coinem._estep import estimate_log_resp
from sklearn_coinem._families._binomial_regression import (
    BinomialRegressionFamily,
    observed_derivatives,
)
from sklearn_coinem._groups import GroupedFamily, GroupedTable
from sklearn_coinem._inference import information_criteria, standard_errors
from sklearn_coinem._newton import QuadraticModel
from sklearn_coinem._numerics import safe_log
from sklearn_coinem._solver import (
    _QUASI_MAX_DECREMENT,
    decrement_limit,
    newton_gain_left,
    quasi_certifies,
    run_em,
    single_blas_thread,
)
from sklearn_coinem._table import RowBlock, RowTable, merge_tables
from sklearn_coinem._validation import check_n_samples

# The failure and success values of a 1-D y of 0/1 (or boolean) outcomes.
BERNOULLI_LABELS = np.array([0, 1])


def outcome_labels(y):
    """The (failure, success) values of a 1-D y of binary outcomes.

    Values within {0, 1} (or booleans) are failures and successes even when
    only one occurs; any other two values are labels, the larger the
    success (``LogisticRegression``'s ``classes_[1]``).
    """
    target = type_of_target(y, input_name="y", raise_unknown=True)
    values = np.unique(y)
    if target == "binary" and np.isin(values, BERNOULLI_LABELS).all():
        return BERNOULLI_LABELS
    if target == "binary" and len(values) == 2:
        return values
    if target == "binary":
        raise ValueError(
            f"y holds one class, {values[0]!r}, which is not 0 or 1: it is not "
            "known whether it is the success or the failure. Pass 0/1 outcomes "
            "or (successes, failures) counts."
        )
    raise ValueError(
        "A 1-D y must hold binary outcomes (0/1, booleans or two labels, the "
        f"larger the success); got a {target} target. Pass counts as a "
        "two-column y of (successes, failures), as R's cbind(s, f)."
    )


def outcome_counts(y, labels):
    """The (successes, failures) counts of a y of outcomes or of counts.

    Parameters
    ----------
    y : ndarray of shape (n_samples,) or (n_samples, 2)
        Binary outcomes valued in ``labels``, or non-negative integer counts.
    labels : ndarray of shape (2,)
        The failure and success values of a 1-D y.

    Returns
    -------
    counts : ndarray of shape (n_samples, 2)
        Float64 successes and failures.
    """
    if y.ndim == 1:
        known = np.isin(y, labels)
        if not known.all():
            raise ValueError(
                f"y has values {np.unique(y[~known])[:5]!r} that were not seen "
                f"in fit, whose outcomes were {labels!r} (failure, success)."
            )
        success = (y == labels[1]).astype(np.float64)
        return np.column_stack([success, 1.0 - success])
    if y.ndim != 2 or y.shape[1] != 2 or y.dtype.kind not in "biuf":
        raise ValueError(
            "y must be 1-D binary outcomes or two columns, the successes and "
            f"failures of each row (as R's cbind(s, f)); got shape {y.shape}."
        )
    counts = y.astype(np.float64)
    if (counts < 0).any():
        raise ValueError("y must hold non-negative counts.")
    # Integer and boolean counts are whole by their type.
    if y.dtype.kind == "f" and (counts != np.round(counts)).any():
        raise ValueError(
            "y must hold integer counts of successes and failures; for "
            "proportions, pass the counts (proportion times trials)."
        )
    return counts


def regression_rows(X, y, fit_intercept, labels):
    """Validated counts (n, 2) and design (n, p + fit_intercept) of one chunk."""
    X = check_array(X, dtype=np.float64, ensure_min_samples=0, input_name="X")
    y = check_array(
        y, ensure_2d=False, dtype=None, ensure_min_samples=0, input_name="y"
    )
    check_consistent_length(X, y)
    counts = outcome_counts(y, labels)
    return counts, design_matrix(X, fit_intercept)


def design_matrix(X, fit_intercept):
    """The covariates, after a column of ones when ``fit_intercept``."""
    return np.column_stack([np.ones(len(X)), X]) if fit_intercept else X


class _NotProvided:
    """A method of the count mixtures that this estimator does not have.

    ``hasattr`` is False: these methods take X alone, and a regression's
    density needs y too (``fit_predict`` would break sklearn's rule
    ``fit_predict(X, y) == fit(X, y).predict(X)``, since ``predict`` is the
    success probability here).
    """

    def __init__(self, instead):
        self.instead = instead

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, instance, owner=None):
        raise AttributeError(
            f"BinomialRegressionMixture has no {self.name}: its densities "
            f"are of y given X; use {self.instead}."
        )


# Tables of at least SUBSAMPLE_FACTOR * SUBSAMPLE_ROWS distinct rows seed
# their starts on about SUBSAMPLE_ROWS evenly spaced rows of them and move
# each start to a maximum there: SUBSAMPLE_EM_ITER EM iterations, then
# Newton steps on the subsample (an EM iteration there costs mostly its
# fixed overhead; the 17-20 iterations EM alone took are about a quarter of
# the benchmark's fit), then, if those fail, EM for at most
# SUBSAMPLE_MAX_ITER iterations. Continuous covariates make every row
# distinct, and a start's first iterations on all rows only move it most of
# the way to a point that a subsample locates as well, for a fraction of
# one iteration on all rows (docs/performance.rst).
SUBSAMPLE_ROWS = 1 << 11
SUBSAMPLE_FACTOR = 16
SUBSAMPLE_MAX_ITER = 200
SUBSAMPLE_EM_ITER = 9


def evenly_spaced_rows(table, family):
    """The table of about ``SUBSAMPLE_ROWS`` evenly spaced rows, or None.

    None unless ``table`` is a plain row table of at least
    ``SUBSAMPLE_FACTOR * SUBSAMPLE_ROWS`` distinct rows (groups and dask
    tables have no evenly spaced rows to take).
    """
    if type(table) is not RowTable:
        return None
    if table.n_distinct < SUBSAMPLE_FACTOR * SUBSAMPLE_ROWS:
        return None
    rows = slice(None, None, table.n_distinct // SUBSAMPLE_ROWS)
    return RowTable.from_rows(
        family, table.X[rows], table.weights[rows], table.design[rows]
    )


def refine_on_subsample(table, subsample, family, weights, params, **options):
    """Starts moved to maxima on ``subsample``, then by Newton steps on ``table``.

    The Newton steps on all rows (:func:`newton_on_all_rows`) may certify a
    start. ``subsample`` is :func:`evenly_spaced_rows`' table; ``options``
    are those of :func:`~sklearn_coinem._solver.run_em` except ``max_iter``.

    Returns
    -------
    weights : ndarray of shape (R, K)
    params : dict
    lower_bound : ndarray of shape (R,)
        Objective (per sample, as the engine's) of each returned start,
        ``-inf`` where it was not evaluated.
    n_iter : ndarray of shape (R,) of int
        Passes over all rows each start's Newton steps took.
    certified : ndarray of shape (R,) of bool
        The starts whose Newton decrement certifies them at the maximum on
        all rows (the engine's Newton certificate).
    """
    n_runs = len(weights)
    lower_bound = np.full(n_runs, -np.inf)
    n_iter = np.zeros(n_runs, dtype=int)
    certified = np.zeros(n_runs, dtype=bool)
    weights, params = _subsample_maxima(subsample, family, weights, params, options)
    with single_blas_thread(table.n_distinct * table.X.shape[1] * weights.size):
        for run in range(n_runs):
            (
                weights[run],
                params["coef"][run],
                objective,
                n_iter[run],
                certified[run],
            ) = newton_on_all_rows(
                table,
                family,
                weights[run],
                params["coef"][run],
                **_newton_options(options),
            )
            lower_bound[run] = (objective + table.constant_sum) / table.total_weight
    return weights, params, lower_bound, n_iter, certified


def _newton_options(options):
    """The keyword arguments of :func:`newton_on_all_rows` among ``run_em``'s."""
    return {name: options[name] for name in ("pseudo_count", "update_weights", "tol")}


def _subsample_maxima(subsample, family, weights, params, options):
    """Starts moved to the maxima of the subsample's objective.

    ``SUBSAMPLE_EM_ITER`` EM iterations, then Newton steps on the subsample
    (cheap there: each is one pass over its rows); a start they do not
    certify goes on by EM, at most ``SUBSAMPLE_MAX_ITER`` iterations.
    """
    result = run_em(
        subsample, family, weights, params, max_iter=SUBSAMPLE_EM_ITER, **options
    )
    weights, params = result.weights.copy(), {"coef": result.params["coef"].copy()}
    done = result.converged.copy()
    for run in np.flatnonzero(~done):
        moved = newton_on_all_rows(
            subsample,
            family,
            weights[run],
            params["coef"][run],
            **_newton_options(options),
        )
        weights[run], params["coef"][run], done[run] = moved[0], moved[1], moved[4]
    if not done.all():
        rest = np.flatnonzero(~done)
        result = run_em(
            subsample,
            family,
            weights[rest],
            {"coef": params["coef"][rest]},
            max_iter=SUBSAMPLE_MAX_ITER,
            **options,
        )
        weights[rest], params["coef"][rest] = result.weights, result.params["coef"]
    return weights, params


# Newton steps on the observed log-likelihood of all rows that a start
# refined on a subsample takes at most. Each step's point is evaluated by
# the pass that computes the derivatives there (a step that lowers the
# objective is not taken), and the last point's decrement certifies the
# start as the engine's Newton cycles certify a run
# (:func:`~sklearn_coinem._solver.newton_gain_left` below
# :func:`~sklearn_coinem._solver.decrement_limit`, 1e-3 nats). A start
# within a few standard errors of the maximum on all rows converges
# quadratically: from the subsample's maximum of the benchmark (about 300
# nats below the maximum on 10^5 rows) the decrements are about 200, 0.4
# and 2e-6 nats, so three passes certify it and the engine has nothing
# left to do (docs/performance.rst).
START_NEWTON_STEPS = 4

# A fit runs BLAS on one thread throughout, not only in EM
# (``single_blas_thread`` of infinite work): its products are tall and
# skinny, and one threaded call (the rank check's SVD, the table's dot
# products) leaves OpenBLAS's second thread spinning on the other core. On
# the benchmark's 10^5 rows the fit took about 1.5 times as long with it
# (docs/performance.rst).
WHOLE_FIT = np.inf

# Smallest eigenvalue of the information (scaled to unit diagonal) that
# counts as definite, the standard errors' test.
DEFINITE_RCOND = 1e-10


def newton_on_all_rows(
    table, family, weights, coef, *, pseudo_count, update_weights, tol
):
    """One start moved by Newton steps on the total MAP objective, and whether
    they certify it.

    A start that EM has fitted to a subsample lies within a few standard
    errors of the maximum on all rows, where Newton's method converges
    quadratically while EM gains a fixed fraction per iteration. Each step
    needs one pass over the rows (:func:`observed_derivatives`), which also
    evaluates the objective: a step is kept only if it raised the
    objective, and none is taken where the Hessian is not negative
    definite. The start is certified when the decrement at the last point
    passes the engine's Newton certificate; otherwise the engine goes on
    from the last point (``tol=0``, which asks for ``max_iter`` iterations,
    certifies nothing here).

    Parameters
    ----------
    table : RowTable
        The weighted distinct rows, with a design.
    family : BinomialRegressionFamily
        The component family (its ``shared`` columns are tied).
    weights : ndarray of shape (K,)
        Mixing weights of the start.
    coef : ndarray of shape (K, p)
        Coefficients of the start.
    pseudo_count : float
        Dirichlet pseudo-count of the weights (part of the objective).
    update_weights : bool
        Whether the weights move.
    tol : float
        The engine's ``tol`` (see :func:`~sklearn_coinem._solver.decrement_limit`).

    Returns
    -------
    weights : ndarray of shape (K,)
    coef : ndarray of shape (K, p)
    objective : float
        Total MAP objective without the row constants at the returned
        point, ``-inf`` if no pass was made.
    n_passes : int
        Passes over the rows.
    certified : bool
    """
    if not np.all(weights > 0):
        return weights, coef, -np.inf, 0, False
    n_components, n_cols = coef.shape
    reference = int(np.argmax(weights))
    free_weights = np.flatnonzero(np.arange(n_components) != reference)
    if not update_weights:
        free_weights = free_weights[:0]
    tie = _tied_coordinates(family._shared_mask(n_cols), n_components, free_weights)
    derivatives = partial(
        _map_derivatives,
        table,
        free_weights=free_weights,
        pseudo_count=pseudo_count,
    )
    objective, grad, hess = derivatives(weights, coef)
    n_passes, previous, gained = 1, np.inf, 0.0
    for n_steps in range(START_NEWTON_STEPS + 1):
        step, model = _newton_solve(tie.T @ -hess @ tie, tie.T @ grad)
        if step is None:
            break
        decrement = model.decrement
        limit = decrement_limit(objective + table.constant_sum, tol, table.total_weight)
        if tol > 0 and newton_gain_left(decrement, previous, gained) < limit:
            return weights, coef, objective, n_passes, True
        if n_steps == START_NEWTON_STEPS:
            break
        new_weights, new_coef = _moved(weights, coef, tie @ step, free_weights)
        if not np.all(new_weights > 0):
            break
        if tol > 0 and decrement <= _QUASI_MAX_DECREMENT:
            # The quasi-Newton certificate: the score at the new point in
            # the Hessian here, from a pass without the Hessian.
            new_objective, new_grad, _ = derivatives(
                new_weights, new_coef, hessian=False
            )
            n_passes += 1
            if not new_objective >= objective:
                break
            limit = decrement_limit(
                new_objective + table.constant_sum, tol, table.total_weight
            )
            quasi = model.decrement_of(tie.T @ new_grad)
            if quasi_certifies(quasi, decrement, limit):
                return new_weights, new_coef, new_objective, n_passes, True
        new_objective, new_grad, new_hess = derivatives(new_weights, new_coef)
        n_passes += 1
        if not new_objective >= objective:
            break
        previous, gained = decrement, new_objective - objective
        weights, coef, objective = new_weights, new_coef, new_objective
        grad, hess = new_grad, new_hess
    return weights, coef, objective, n_passes, False


def _moved(weights, coef, step, free_weights):
    """Weights and coefficients moved by ``step`` (logits first, then coef)."""
    logits = np.log(weights)
    logits[free_weights] += step[: len(free_weights)]
    weights = np.exp(logits - logits.max())
    weights /= weights.sum()
    return weights, coef + step[len(free_weights) :].reshape(coef.shape)


def _map_derivatives(table, weights, coef, free_weights, pseudo_count, hessian=True):
    """:func:`observed_derivatives` plus the Dirichlet prior of the weights.

    ``c sum_k log w_k`` has, in the logit ``a_j``, the derivative
    ``c (1 - K w_j)`` and the second derivatives ``-c K (diag w - w w')``.
    """
    loglik, grad, hess = observed_derivatives(
        table, weights, coef, free_weights, hessian
    )
    if pseudo_count > 0 and len(free_weights):
        n_components = len(weights)
        loglik += pseudo_count * np.log(weights).sum()
        w = weights[free_weights]
        grad[: len(w)] += pseudo_count * (1 - n_components * w)
        if hessian:
            hess[: len(w), : len(w)] -= (
                pseudo_count * n_components * (np.diag(w) - np.outer(w, w))
            )
    return loglik, grad, hess


def _tied_coordinates(shared, n_components, free_weights):
    """Map (n_full, n_free) from the free coordinates to logits and ``coef``.

    Free: the logits, the unshared coefficients of every component, then
    each shared coefficient once.
    """
    n_cols = len(shared)
    n_logits = len(free_weights)
    n_free = n_logits + n_components * int((~shared).sum()) + int(shared.sum())
    tie = np.zeros((n_logits + n_components * n_cols, n_free))
    tie[np.arange(n_logits), np.arange(n_logits)] = 1.0
    index = np.full((n_components, n_cols), -1)
    n_unshared = n_components * int((~shared).sum())
    index[:, ~shared] = n_logits + np.arange(n_unshared).reshape(n_components, -1)
    index[:, shared] = n_logits + n_unshared + np.arange(int(shared.sum()))
    tie[n_logits + np.arange(n_components * n_cols), index.ravel()] = 1.0
    return tie


def _newton_solve(information, score):
    """Newton step ``information^-1 score`` and its quadratic model, or (None, None).

    None unless the information is definite (scaled to unit diagonal, its
    smallest eigenvalue above ``DEFINITE_RCOND``). The model's
    ``decrement`` is the step's; its ``decrement_of`` gives the decrement
    of another score in the same information.
    """
    diag = np.diag(information)
    if not (np.all(np.isfinite(information)) and np.all(diag > 0)):
        return None, None
    scale = 1.0 / np.sqrt(diag)
    eigenvalues, vectors = np.linalg.eigh(information * np.outer(scale, scale))
    if not eigenvalues[0] > DEFINITE_RCOND:
        return None, None
    step = scale * (vectors @ ((vectors.T @ (scale * score)) / eigenvalues))
    model = QuadraticModel(None, scale, eigenvalues, vectors, float(score @ step) / 2)
    return step, model


class BinomialRegressionMixture(BaseCountMixture):
    """Finite mixture of binomial logistic regressions fitted by EM.

    Row ``i`` has covariates ``X[i]`` and counts ``y[i] = (successes,
    failures)``, as R's ``cbind(s, f)``. It comes from component ``k`` with
    probability ``weights_[k]``, and then its successes are binomial with
    success probability ``expit(intercept_[k] + X[i] @ coef_[k])``. The
    columns ``shared`` have one coefficient common to all components
    (flexmix's ``FLXMRglmfix(fixed = ...)``). With ``groups`` in :meth:`fit`,
    all rows of a group come from one component (flexmix's ``y ~ x | g``).

    ``y`` is either non-negative integer counts of shape (n, 2), or a 1-D
    vector of binary outcomes, rows of one trial, as ``LogisticRegression``
    takes them: 0/1 or booleans, or two labels of which the larger is the
    success (``outcome_labels_``). Proportions, other values and negative
    or non-integer counts raise. ``predict(X)`` is the mixture's success
    probability; methods that need the outcomes take ``(X, y)``.

    Each EM iteration takes one Newton (IRLS) step on the coefficients when
    the Jaakkola-Jordan bound of the logistic log-likelihood certifies that
    it cannot lower the objective, and the bound's minorise-maximise step
    otherwise, so the log-likelihood never decreases and SQUAREM
    accelerates it; see
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
        First convergence filter on the change of the mean log-likelihood.
        A run then converges only once an Aitken estimate of the total
        log-likelihood's gain left is below 1e-3 nats; see
        :class:`BinomialMixture`. On a table of at least 32768 distinct
        rows each start is first seeded and fitted on 2048 evenly spaced
        rows, then takes Newton steps on all rows; a run whose Newton
        decrement shows less than 1e-3 nats left is converged there, with
        no EM iteration on all rows (``tol=0`` turns this off).

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
        EM iterations on all rows of the best run, each Newton step's pass
        over them counted as one (see ``tol``).

    lower_bound_ : float
        Mean log-likelihood of the best run.

    lower_bounds_ : ndarray of shape (n_recorded,)
        Its value after each recorded step.

    outcome_labels_ : ndarray of shape (2,)
        The failure and success values of a 1-D ``y``; ``[0, 1]`` when
        fitted on counts.

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
        return design_matrix(X, self.fit_intercept)

    def _check_data(self, X, y, *, reset):
        """Validated covariates (n, p) and counts (n, 2), both float64."""
        X, y = validate_data(
            self, X, y, reset=reset, multi_output=True, dtype=None, y_numeric=False
        )
        X = check_array(X, dtype=np.float64, input_name="X")
        y = np.asarray(y)
        if reset:
            self.outcome_labels_ = (
                outcome_labels(y) if y.ndim == 1 else BERNOULLI_LABELS
            )
        return X, outcome_counts(y, self.outcome_labels_)

    def _table(self, X, y, sample_weight, groups, *, reset, distributed=True):
        """The row table, or with ``groups`` the table of groups and its family."""
        if _is_dask_collection(X) or _is_dask_collection(y):
            if groups is not None:
                raise ValueError("groups are not supported with dask input.")
            return self._dask_table(X, y, sample_weight, reset, distributed)
        X, counts = self._check_data(X, y, reset=reset)
        family = self._make_family() if reset else self._family
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
        design = self._design(X)
        if groups is None:
            return RowTable.compress(family, counts, sample_weight, design), family
        groups = column_or_1d(groups)
        check_consistent_length(X, groups)
        family = GroupedFamily(family)
        table = GroupedTable.from_groups(family, counts, groups, sample_weight, design)
        return table, family

    def _dask_table(self, X, y, sample_weight, reset, distributed):
        """The row table of dask X and y, validated and compressed on the workers."""
        from sklearn_coinem._dask import (
            MAX_LOCAL_ROWS,
            check_2d,
            dask_design_table,
            dask_outcome_labels,
            feature_names_view,
        )

        check_2d(X)
        validate_data(self, feature_names_view(X), reset=reset, skip_check_array=True)
        if reset:
            self.outcome_labels_ = (
                dask_outcome_labels(y, outcome_labels)
                if y.ndim == 1
                else BERNOULLI_LABELS
            )
        family = self._make_family() if reset else self._family
        table, sums = dask_design_table(
            X,
            y,
            sample_weight,
            family=family,
            rows=regression_rows,
            rows_args=(self.fit_intercept, self.outcome_labels_),
            max_local_rows=MAX_LOCAL_ROWS if distributed else np.inf,
        )
        if reset:
            check_n_samples(sums.n_samples, self.n_components)
        if sample_weight is not None and not table.total_weight > 0:
            raise ValueError(
                "Sample weights must contain at least one non-zero number."
            )
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
        """The base class's starts, seeded and refined on a large table's
        evenly spaced rows (:func:`refine_on_subsample`).

        Returns the base class's ``(weights, params, lower_bound)`` plus
        ``certified``: None, or ``(n_iter, converged)`` of the starts that
        Newton steps on all rows took to the maximum (certified by their
        decrement, as the engine certifies a run), which the engine then
        returns as they are.
        """
        subsample = evenly_spaced_rows(table, family)
        weights, params, lower_bound = super()._starting_points(
            table if subsample is None else subsample,
            family,
            weights_init,
            params_init,
        )
        # A warm start (lower_bound known) continues as it is.
        if lower_bound is not None or subsample is None:
            return weights, params, lower_bound, None
        weights, params, lower_bound, n_iter, certified = refine_on_subsample(
            table,
            subsample,
            family,
            weights,
            params,
            pseudo_count=self.pseudo_count,
            update_weights=self.update_weights,
            tol=self.tol,
            algorithm=self.algorithm,
        )
        # Newton passes count as iterations (as the engine's informations
        # do); a start certified in more than max_iter of them is not.
        certified &= n_iter <= self.max_iter
        # An uncertified start begins EM afresh: its objective is recomputed.
        lower_bound = np.where(certified, lower_bound, -np.inf)
        n_iter = np.where(certified, n_iter, 0)
        return weights, params, lower_bound, (n_iter, certified)

    # ---------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, groups=None):
        """Estimate the weights and coefficients by EM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Covariates.

        y : array-like of shape (n_samples,) or (n_samples, 2)
            Binary outcomes (0/1, booleans, or two labels whose larger is
            the success), or the successes and failures of each row as
            non-negative integer counts (R's ``cbind(s, f)``).

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
        with _kept_on_error(self), single_blas_thread(WHOLE_FIT):
            table, family = self._table(X, y, sample_weight, groups, reset=True)
            self._check_identifiable(family, table)
            start = self._starting_points(
                table, family, self._check_weights_init(), None
            )
            result, best = self._run(table, family, *start)
            self._store_coef(family, table, result, best, reorder=True)
            # A new fit starts a new stream for partial_fit.
            self._stream = None
        self._warn_fit(table.total_weight)
        return self

    def _store_coef(self, family, table, result, best, *, reorder):
        """Store the best run, with the intercept split off the design's coef."""
        self._store_result(family, table, result, best, reorder=reorder)
        # Row-level methods use the family of rows.
        self._family = getattr(family, "family", family)
        coef = self.coef_
        self.intercept_ = coef[:, 0] if self.fit_intercept else np.zeros(len(coef))
        self.coef_ = coef[:, 1:] if self.fit_intercept else coef

    def _stream_key(self):
        """What a stream's table and family depend on besides the data."""
        shared = None if self.shared is None else np.asarray(self.shared).tolist()
        return self.n_components, self.fit_intercept, shared

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the mixture with a chunk of rows (exact streaming EM).

        As :meth:`BinomialMixture.partial_fit`: the rows of all chunks seen
        so far are kept as their table of distinct (covariates, counts)
        rows with total weights. The first call (or the first after ``fit``)
        initialises like ``fit`` on the chunk; every later call merges the
        chunk into the table and continues EM from the current parameters
        for at most ``max_iter`` iterations, keeping the component order.
        After any sequence of chunks the model is therefore ``fit`` on their
        concatenation started from the parameters before the last call. A
        call after ``set_params`` changed ``n_components``, ``fit_intercept``
        or ``shared`` warns and starts a new stream. ``groups`` are not
        supported: a group could span chunks.

        Parameters
        ----------
        X : array-like or dask array of shape (n_samples, n_features)
            Covariates.

        y : array-like of shape (n_samples,) or (n_samples, 2)
            Binary outcomes, or successes and failures, as in :meth:`fit`;
            1-D outcomes must take the values of the first chunk's.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights.

        Returns
        -------
        self : object
            The updated mixture.
        """
        stream = getattr(self, "_stream", None)
        if stream is not None and self._stream_params != self._stream_key():
            warnings.warn(
                f"{type(self).__name__}.partial_fit: n_components, fit_intercept "
                "or shared changed since the stream started; starting a new "
                "stream from this chunk.",
                UserWarning,
                stacklevel=2,
            )
            stream = None
        with _kept_on_error(self), single_blas_thread(WHOLE_FIT):
            table, family = self._table(
                X, y, sample_weight, None, reset=stream is None, distributed=False
            )
            if stream is None:
                start = self._starting_points(
                    table, family, self._check_weights_init(), None
                )
            else:
                table = merge_tables(family, [stream, table])
                start = self._continued_start()
            self._check_identifiable(family, table)
            result, best = self._run(table, family, *start)
            self._store_coef(family, table, result, best, reorder=stream is None)
            self._stream, self._stream_params = table, self._stream_key()
        return self

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

    def posterior_proba(self, X, y):
        """Posterior probability of each component given covariates and outcomes.

        flexmix's ``posterior()``. It needs y, so it is not sklearn's
        ``predict_proba(X)``, which this estimator does not have.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Covariates.

        y : array-like of shape (n_samples,) or (n_samples, 2)
            Binary outcomes or (successes, failures) counts, as in :meth:`fit`.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Rows sum to 1.
        """
        return np.exp(self._log_resp(X, y)[1])

    def log_likelihood_samples(self, X, y):
        """Full log-likelihood of each row (with the binomial coefficient).

        It needs y, so it is not sklearn's ``score_samples(X)``, which this
        estimator does not have.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Covariates.

        y : array-like of shape (n_samples,) or (n_samples, 2)
            Binary outcomes or (successes, failures) counts, as in :meth:`fit`.

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

        y : array-like of shape (n_samples,) or (n_samples, 2)
            Binary outcomes or (successes, failures) counts, as in :meth:`fit`.

        sample_weight : array-like of shape (n_samples,), default=None
            Row weights of the mean.

        groups : array-like of shape (n_samples,), default=None
            Group labels, as in :meth:`fit`: the log-likelihood of the groups,
            still divided by the (weighted) number of rows.

        Returns
        -------
        log_likelihood : float
            Weighted mean of :meth:`log_likelihood_samples` (or of the groups'
            log-likelihoods per row).
        """
        if groups is None:
            return float(
                np.average(self.log_likelihood_samples(X, y), weights=sample_weight)
            )
        criteria = self._criteria(X, y, sample_weight, groups)
        return criteria.log_likelihood / criteria.n_obs

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

        y : array-like of shape (n_samples,) or (n_samples, 2)
            Binary outcomes or (successes, failures) counts, as in :meth:`fit`.

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

        y : array-like of shape (n_samples,) or (n_samples, 2)
            Binary outcomes or (successes, failures) counts, as in :meth:`fit`.

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

        y : array-like of shape (n_samples,) or (n_samples, 2)
            Binary outcomes or (successes, failures) counts, as in :meth:`fit`.

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

        y : array-like of shape (n_samples,) or (n_samples, 2)
            Binary outcomes or (successes, failures) counts, as in :meth:`fit`.

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

    # The count mixtures' X-only densities; here they need y.
    predict_proba = _NotProvided("posterior_proba(X, y)")
    score_samples = _NotProvided("log_likelihood_samples(X, y)")
    fit_predict = _NotProvided("fit(X, y).posterior_proba(X, y).argmax(axis=1)")

    def __sklearn_tags__(self):
        # The base class asks its family, which needs the fitted width.
        tags = super(BaseCountMixture, self).__sklearn_tags__()
        tags.input_tags.positive_only = False
        tags.input_tags.sparse = False
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        # A 1-D y must be binary, which is what these tags say (sklearn's
        # checks then pass two-valued targets); the estimator is no
        # classifier: predict returns the success probability.
        tags.classifier_tags = ClassifierTags(multi_class=False)
        return tags
