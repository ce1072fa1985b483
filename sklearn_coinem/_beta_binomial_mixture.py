"""The BetaBinomialMixture estimator: overdispersed count mixtures by EM."""

import numpy as np

from sklearn_coinem._base import BaseCountMixture
from sklearn_coinem._estep import em_step
from sklearn_coinem._families._dirichlet_multinomial import (
    MAX_PRECISION,
    MIN_PRECISION,
    DirichletMultinomialFamily,
    profile_precision,
)
from sklearn_coinem._families._multinomial import MultinomialFamily
from sklearn_coinem._solver import _MAX_REMAINING_GAIN, run_em
from sklearn_coinem._validation import check_distribution

# Budget of the binomial fit that each drawn start runs first: it converges
# in about 20 iterations on count data (docs/performance.rst), at a fraction
# of the cost of a beta-binomial iteration.
_BINOMIAL_MAX_ITER = 100
_BINOMIAL_TOL = 1e-6

# Largest difference of a weight or probability between two certified
# binomial fits taken for the same maximum. A certified fit is within 0.045
# standard errors of its maximum; two maxima this close in every parameter
# and in objective lead the beta-binomial fit to the same place.
_SAME_MAXIMUM = 1e-3


def binomial_starts(table, family, weights, params, *, update_weights):
    """Starts moved to the binomial (multinomial) mixture fit of their probs.

    The batched binomial EM places the component means at a fraction of
    the cost of beta-binomial iterations; each component's precision then
    comes from :func:`profile_precision` under the fitted weights. Starts
    whose binomial fits reached the same maximum are kept once
    (:func:`distinct_maxima`): from the same point the beta-binomial runs
    would repeat each other.
    """
    binomial = MultinomialFamily(pseudo_count=family.pseudo_count)
    result = run_em(
        table,
        binomial,
        weights,
        {"probs": params["probs"]},
        pseudo_count=family.pseudo_count,
        update_weights=update_weights,
        tol=_BINOMIAL_TOL,
        max_iter=_BINOMIAL_MAX_ITER,
    )
    # The recorded objectives lag the final parameters by the last EM step
    # (up to 3e-3 nats on 10**6 rows, more than the runs' certified gap),
    # so the runs are compared at their final parameters, one E-step.
    _, _, objective = em_step(
        table,
        binomial,
        result.weights,
        {"probs": result.params["probs"]},
        pseudo_count=family.pseudo_count,
        update_weights=update_weights,
    )
    keep = distinct_maxima(binomial, result, objective * table.total_weight)
    weights, probs = result.weights[keep], result.params["probs"][keep]
    precision = np.array(
        [
            profile_precision(table.X, table.weights, w, p, a)
            for w, p, a in zip(weights, probs, params["precision"][keep])
        ]
    )
    return weights, {"probs": probs, "precision": precision}


def distinct_maxima(family, result, objective):
    """Indices of the runs of ``result`` that are not a repeat of an earlier one.

    ``objective`` (R,) is the total objective of each run at its final
    parameters. A converged run repeats another converged run when their
    objectives differ by at most twice the gain a certified run may leave
    (:data:`~sklearn_coinem._solver._MAX_REMAINING_GAIN`) and, components in
    the family's canonical order, no weight or probability differs by more
    than ``_SAME_MAXIMUM``. Runs that did not converge are all kept.
    """
    keep = []
    for run in range(len(result.weights)):
        if result.converged[run] and any(
            result.converged[other]
            and _same_maximum(family, result, run, other, objective)
            for other in keep
        ):
            continue
        keep.append(run)
    return np.array(keep)


def _same_maximum(family, result, run, other, objective):
    gap = abs(objective[run] - objective[other])
    if not gap <= 2 * _MAX_REMAINING_GAIN:
        return False
    points = []
    for idx in (run, other):
        weights = result.weights[idx]
        params = {name: value[idx] for name, value in result.params.items()}
        order = family.canonical_order(weights, params)
        points.append(np.concatenate([weights[order], params["probs"][order].ravel()]))
    return bool(np.max(np.abs(points[0] - points[1])) <= _SAME_MAXIMUM)


class BetaBinomialMixture(BaseCountMixture):
    """Finite mixture of beta-binomial (Dirichlet-multinomial) distributions.

    Each row of ``X`` holds the outcome counts of one experiment, as for
    :class:`BinomialMixture`, but the outcome probabilities of a row are
    themselves drawn from a beta (Dirichlet) distribution around its
    component's mean ``probs_``: the rows of a component vary more than a
    binomial allows (overdispersion). With two columns the components are
    beta-binomial, with ``C > 2`` Dirichlet-multinomial. A binomial mixture
    fitted to such data buys the extra variance with extra components.

    Component ``k`` has mean outcome probabilities ``probs_[k]`` and a
    ``precision_[k]`` ``A``: the row's probabilities follow
    ``Dirichlet(A * probs_[k])``. The intra-class correlation of the
    outcomes of one row is ``rho = 1 / (1 + A)`` (what R's VGAM reports as
    ``rho``), and the variance of a count is the binomial one times
    ``(n + A) / (1 + A) = 1 + (n - 1) rho``.

    Read more in the :ref:`User Guide <user_guide>`.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.

    tol : float, default=1e-8
        First convergence filter on the per-sample objective (mean
        log-likelihood plus the prior term), between iterations (between
        SQUAREM cycles when ``algorithm="squarem"``). A run then converges
        only once the estimated gain of the total objective left is below
        1e-3 nats (the Newton decrement after Newton polishing steps, or an
        Aitken estimate where the information is unavailable, e.g. rows of
        more than 4096 trials). Newton steps may start once the change is
        below 1e-5 where EM is slow; see :class:`BinomialMixture`.

    max_iter : int, default=1000
        Maximum number of EM iterations, each one E-step and one M-step. A
        SQUAREM cycle costs three. ``max_iter=0`` only initialises.

    n_init : int, default=1
        Number of initialisations; the run with the largest final objective
        is kept. The restarts advance together as one batched computation.

    init_params : {"k-means++", "kmeans", "random", "random_resp", \
            "random_from_data"}, default="k-means++"
        How starting parameters are drawn when not given explicitly, as for
        :class:`BinomialMixture`. Each drawn start is then moved to the
        binomial mixture fit from it (batched EM, at most 100 iterations,
        not counted in ``n_iter_``), and its precisions are the moment
        estimates (clipped to [1, 1e4]; "random" draws them log-uniformly
        from that range) or a common precision on a grid over that range,
        whichever gives the larger likelihood. Drawn starts whose binomial
        fits reach the same maximum (every weight and probability within
        1e-3, objectives within 2e-3 nats) continue as one beta-binomial
        run: from the same point the runs would repeat each other (a
        ``verbose`` fit or the CLI reports the runs actually made). Starts
        given by ``probs_init`` or ``warm_start`` are used as they are.

    weights_init : array-like of shape (n_components,), default=None
        Starting mixing weights (non-negative, summing to 1).

    probs_init : array-like of shape (n_components, n_features), default=None
        Starting mean outcome probabilities, rows non-negative and summing
        to 1. Overrides ``init_params``; the fitted components keep this
        order.

    precision_init : array-like of shape (n_components,), default=None
        Starting precisions (positive), used with ``probs_init``; None
        starts every component at precision 100.

    update_weights : bool, default=True
        If False the mixing weights stay at ``weights_init`` (uniform when
        ``weights_init`` is None).

    pseudo_count : float, default=1e-6
        Pseudo-count of the symmetric Dirichlet(1 + pseudo_count) priors of
        the mixing weights and of the mean probabilities (MAP EM), as for
        :class:`BinomialMixture`. The precision has no prior.

    algorithm : {"squarem", "em"}, default="squarem"
        Plain EM, or its SQUAREM acceleration (Varadhan & Roland 2008) with
        a safeguard that keeps the objective non-decreasing.

    random_state : int, RandomState instance or None, default=None
        Controls the random initialisations.

    n_jobs : int, default=None
        Number of joblib tasks the ``n_init`` restarts are split into; see
        :class:`BinomialMixture`.

    warm_start : bool, default=False
        If True, ``fit`` continues from the previous solution.

    verbose : int, default=0
        Print progress: 1 per initialisation, 2 also per iteration.

    verbose_interval : int, default=10
        Number of iterations between two progress messages.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Mixing weights.

    probs_ : ndarray of shape (n_components, n_features)
        Mean outcome probabilities of each component; rows sum to 1.

    precision_ : ndarray of shape (n_components,)
        Precision ``A`` of each component (the Dirichlet total, ``alpha =
        precision_ * probs_``); the intra-class correlation is
        ``1 / (1 + precision_)``. A component without overdispersion has
        its precision at the cap 1e12 (the binomial limit).

    converged_ : bool
        Whether the best run converged.

    n_iter_ : int
        Number of EM iterations of the best run.

    lower_bound_ : float
        Per-sample objective of the best run (see :class:`BinomialMixture`).

    lower_bounds_ : ndarray of shape (n_recorded,)
        Objective at each iteration of the best run; it never decreases.

    n_features_in_ : int
        Number of outcome columns seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the columns seen during fit, when ``X`` has string column
        names.

    See Also
    --------
    BinomialMixture : Mixtures of binomials (the limit of no overdispersion).

    Notes
    -----
    ``score_samples`` is the full log-likelihood: it equals
    ``logsumexp(log(weights_) + scipy.stats.betabinom.logpmf(...))`` with
    ``a = precision_ * probs_[:, 0]``, ``b = precision_ * probs_[:, 1]``
    (``scipy.stats.dirichlet_multinomial`` for ``C > 2``).

    The M-step has no closed form. For whole counts the expected
    complete-data log-likelihood is a function of tail histograms of the
    outcomes (additive over blocks of rows, so the table of distinct rows,
    batched restarts, partial_fit, dask and SQUAREM all carry over); it is
    maximised by Newton steps safeguarded by the MM step of Zhou & Lange
    (2010), so the objective never decreases. Outcomes beyond the 4096th
    of a row, and rows of non-integral counts (accepted, though not a
    distribution), enter through that MM minorisation alone, which
    converges slowly.

    A component without overdispersion has precision -> infinity (the
    binomial limit). The precision is kept in [1e-8, 1e12]; at the cap the
    log-pmf of a row with ``n`` trials is the binomial one to within about
    ``n / 1e12``. On binomial data the likelihood is flat in the precision,
    and fits stop at some large precision with the binomial log-likelihood.

    The counts of a row with ``n`` trials depend on the components only
    through the moments of order up to ``n`` of their beta (Dirichlet)
    mixture, so K beta-binomial components need rows with at least
    ``3K - 1`` trials (one component: 2); ``fit`` warns otherwise.

    References
    ----------
    .. [1] Zhou, H. & Lange, K. (2010). MM algorithms for some discrete
       multivariate distributions. J. Comput. Graph. Statist. 19(3).
    .. [2] Minka, T. (2000). Estimating a Dirichlet distribution.
    .. [3] Crowder, M. J. (1978). Beta-binomial anova for proportions.
       Applied Statistics 27(1), 34-37.
    .. [4] Varadhan & Roland (2008). Simple and globally convergent methods
       for accelerating the convergence of any EM algorithm. Scand. J. Stat.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coinem import BetaBinomialMixture
    >>> rng = np.random.default_rng(0)
    >>> p = rng.beta(3.0, 7.0, size=300)
    >>> heads = rng.binomial(40, p)
    >>> X = np.column_stack([heads, 40 - heads])
    >>> bb = BetaBinomialMixture(random_state=0).fit(X)
    >>> bb.probs_[:, 0].round(2), (1 / (1 + bb.precision_)).round(2)
    (array([0.31]), array([0.09]))
    """

    _parameter_constraints: dict = {
        **BaseCountMixture._parameter_constraints,
        "probs_init": ["array-like", None],
        "precision_init": ["array-like", None],
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
        precision_init=None,
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
        self.precision_init = precision_init
        self.update_weights = update_weights
        self.pseudo_count = pseudo_count
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval

    def _make_family(self):
        return DirichletMultinomialFamily(pseudo_count=self.pseudo_count)

    def _starting_points(self, table, family, weights_init, params_init):
        """Drawn starts go through a binomial fit first; given ones do not.

        The precisions of drawn starts are profiled after the binomial fit
        (:func:`binomial_starts`), so drawing them keeps the moment ones.
        """
        fitting = params_init is None and self.max_iter > 0
        drawing = DirichletMultinomialFamily(
            pseudo_count=family.pseudo_count, profile_init=not fitting
        )
        weights, params, lower_bound = super()._starting_points(
            table, drawing, weights_init, params_init
        )
        if lower_bound is not None or not fitting:
            return weights, params, lower_bound
        weights, params = binomial_starts(
            table,
            family,
            weights,
            params,
            update_weights=self.update_weights,
        )
        return weights, params, lower_bound

    def _user_params(self, n_features):
        if self.probs_init is None:
            if self.precision_init is not None:
                raise ValueError("precision_init needs probs_init.")
            return None
        shape = (self.n_components, n_features)
        probs = check_distribution(self.probs_init, shape, "probs_init")
        if self.precision_init is None:
            return {"probs": probs, "precision": np.full(self.n_components, 100.0)}
        precision = np.array(self.precision_init, dtype=float)
        if precision.shape != (self.n_components,):
            raise ValueError(
                f"The parameter 'precision_init' should have the shape "
                f"({self.n_components},), but got {precision.shape}."
            )
        if not np.all(np.isfinite(precision)) or np.any(precision <= 0):
            raise ValueError("The parameter 'precision_init' must be finite and > 0.")
        return {
            "probs": probs,
            "precision": np.clip(precision, MIN_PRECISION, MAX_PRECISION),
        }

    def standard_errors(self, X, sample_weight=None, confidence=0.95, interval="logit"):
        """Standard errors and confidence intervals of the fitted parameters.

        Louis' (1982) observed information of the free parameters
        (``n_components - 1`` weights, ``n_features - 1`` mean
        probabilities and one precision per component), from the tail
        histograms of the counts, carried to every parameter by the delta
        method. A precision at its cap (the binomial limit) is a boundary
        value: held fixed, with a NaN standard error. Needs whole counts
        and at most 4096 trials per row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data the model was fitted on.

        sample_weight : array-like of shape (n_samples,), default=None
            The sample weights used in ``fit``.

        confidence : float, default=0.95
            Coverage of the intervals, in (0, 1).

        interval : {"logit", "wald", "profile"}, default="logit"
            "logit": Wald intervals on the logit scale for the weights and,
            with two columns, the probabilities, and on the log scale for
            the precisions, carried back; "wald": natural-scale intervals
            clipped to the parameter ranges; "profile": profile-likelihood
            intervals (the other parameters maximised at each value), which
            follow a skewed likelihood, at a cost of a few dozen
            informations (see :meth:`BinomialMixture.standard_errors`).

        Returns
        -------
        result : :class:`~sklearn.utils.Bunch`
            As for :meth:`BinomialMixture.standard_errors`, with
            ``precision`` and ``precision_ci`` (and ``precision_status``)
            for ``precision_``.

        References
        ----------
        .. [1] Louis, T. A. (1982). Finding the observed information matrix
           when using the EM algorithm. JRSS B 44(2), 226-233.
        """
        return self._standard_errors(X, sample_weight, confidence, interval)

    def sample(self, n_samples=1, *, n_trials=None, random_state=None):
        """Draw rows of counts from the fitted mixture.

        Each row draws its component, then its outcome probabilities from
        the component's beta (Dirichlet) distribution, then its counts.

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows to draw.

        n_trials : int, tuple (low, high), array-like of shape (n_samples,) \
                or None, default=None
            Trials of every row, as for :meth:`BinomialMixture.sample`.

        random_state : int, RandomState instance or None, default=None
            Determines the draws; None uses the estimator's
            ``random_state``.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Integer outcome counts, rows in draw order.

        y : ndarray of shape (n_samples,)
            Component of each row.
        """
        return self._sample(n_samples, n_trials, random_state)
