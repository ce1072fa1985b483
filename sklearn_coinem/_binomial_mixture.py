"""The BinomialMixture estimator: mixtures of binomials and multinomials by EM."""

from sklearn_coinem._base import BaseCountMixture
from sklearn_coinem._families import MultinomialFamily
from sklearn_coinem._validation import check_distribution


class BinomialMixture(BaseCountMixture):
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
        First convergence filter: a run becomes a candidate when the
        per-sample objective (mean log-likelihood plus the pseudo-count
        prior term) changes by less than ``tol`` between iterations (between
        SQUAREM cycles). It then converges only once the estimated gain of
        the *total* objective left to the maximum is below 1e-3 nats: the
        Newton decrement from the observed information, after Newton steps
        that polish the fit (Louis 1982), or, where the information is
        costly, first an Aitken estimate from a few plain EM steps. Near a
        maximum that gain is half the squared distance to it in standard
        errors, so a converged fit is within about 0.045 standard errors of
        the maximum whatever the number of rows; a run that is not certified
        goes on with a tenfold smaller ``tol``. Newton steps may start
        earlier, once the change is below 1e-5 (where the information is
        cheap, or where EM's gains shrink too slowly to finish sooner); a
        Newton decrement then certifies only if it is also below ``tol``
        per sample. ``tol=0`` runs ``max_iter`` iterations. On flat
        likelihoods (heavily overlapping components) this can take many
        iterations: raise ``max_iter`` if the ``ConvergenceWarning`` says
        so. Measured
        distances and costs are in :ref:`performance`.

    max_iter : int, default=1000
        Maximum number of EM iterations, each one E-step and one M-step. A
        SQUAREM cycle costs three, an observed information for a Newton
        step one. ``max_iter=0`` only initialises.

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
        impossible under every component scores ``-inf``. At most 1e100
        (larger values overflow the M-step).

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
        processors; 0 is not allowed. On one machine ``n_jobs > 1`` makes
        fits slower, not faster: the restarts already advance together as
        one batched array computation, and joblib's worker processes add
        their start-up and the copying of the data. It is meant for the
        ``"dask"`` backend.

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
        Whether the best run met the stopping rule of ``tol`` (within about
        0.045 standard errors of a maximum) before ``max_iter``.

    n_iter_ : int
        Number of EM iterations of the best run.

    lower_bound_ : float
        Per-sample objective (mean log-likelihood plus the prior term divided
        by the total weight) of the best run, evaluated, as in
        GaussianMixture, at the parameters before its last EM iteration (its
        last SQUAREM cycle); with ``max_iter=0``, ``-inf`` (the previous
        fit's value when ``warm_start`` continues it).

    lower_bounds_ : ndarray of shape (n_recorded,)
        Objective at each iteration of the best run (at each SQUAREM cycle
        start for ``algorithm="squarem"``); it never decreases, and its last
        entry is ``lower_bound_``. Empty when no iteration ran
        (``max_iter=0``), as in GaussianMixture.

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

    Wide sparse counts (bag-of-words documents) may be passed as any
    scipy.sparse matrix or array: they stay sparse (CSR) through the table,
    the E-step, the initialisation and the log coefficient, and give the
    same fit as their dense equivalent. :meth:`standard_errors` refuses
    models with more than 5000 free parameters.

    A mixture of K binomials is identifiable only if rows have at least
    2K - 1 trials (Teicher 1963); ``fit`` warns otherwise.

    In float64 the log-likelihood of a row with very many trials loses
    digits to cancellation between the log coefficient and the probability
    terms, as ``scipy.stats.binom.logpmf`` does: about ``eps * log(n!)``
    for ``n`` trials, 4e-6 at 10^9 trials, 6e-3 at 10^12 and whole units at
    10^15. Above about 1.4e14 trials per row, where it exceeds one nat,
    ``fit``, the scores and the criteria warn (UserWarning). Row totals
    whose log-factorial overflows (above about 2.56e305) are refused with a
    ValueError. The responsibilities, and so the fitted parameters, depend
    only on differences between components and are not affected.

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
        **BaseCountMixture._parameter_constraints,
        "probs_init": ["array-like", None],
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

    def _make_family(self):
        return MultinomialFamily(pseudo_count=self.pseudo_count)

    def _user_params(self, n_features):
        if self.probs_init is None:
            return None
        shape = (self.n_components, n_features)
        return {"probs": check_distribution(self.probs_init, shape, "probs_init")}

    def standard_errors(self, X, sample_weight=None, confidence=0.95, interval="logit"):
        """Standard errors and confidence intervals of the fitted parameters.

        The observed information of the free parameters (``n_components - 1``
        weights and ``n_features - 1`` probabilities per component) comes
        from Louis' (1982) formula: the expected complete-data information
        minus the conditional covariance of the complete-data scores, both in
        closed form for this model. Its inverse, carried to every weight and
        probability by the delta method, gives the standard errors (on the
        natural scale). The intervals are by default Wald intervals on the
        logit scale, carried back: they stay inside (0, 1) and cover better
        than natural-scale Wald intervals when a weight or probability is
        small. ``interval="profile"`` gives likelihood-ratio intervals,
        which also cover when a small component overlaps a large one, at
        the cost of maximising the likelihood along each parameter's
        profile (measured coverage and cost in :ref:`performance`).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The data the model was fitted on.

        sample_weight : array-like of shape (n_samples,), default=None
            The sample weights used in ``fit``.

        confidence : float, default=0.95
            Coverage of the intervals, in (0, 1).

        interval : {"logit", "wald", "profile"}, default="logit"
            "logit": ``expit(logit(p) -/+ z * se / (p (1 - p)))`` for every
            weight and, with two columns, every probability ``p`` (with
            more columns the probabilities keep Wald intervals, which cover
            at the nominal rate there); "wald": ``p -/+ z * se`` clipped to
            [0, 1] for all; "profile": the values ``v`` of each weight or
            probability at which twice the drop of the log-likelihood,
            maximised over all other parameters with this one held at
            ``v``, stays below the chi-square(1) quantile of
            ``confidence``. The profile keeps the components in their
            fitted order; an interval reaches 0 or 1 when the data cannot
            exclude the edge (for a weight, when a model with one component
            fewer fits about as well). Entries without a standard error
            (boundary, empty, singular) keep NaN intervals.

        Returns
        -------
        result : :class:`~sklearn.utils.Bunch`
            - weights : ndarray of shape (n_components,), standard errors of
              ``weights_`` (0 when the weights are fixed);
            - probs : ndarray of shape (n_components, n_features), standard
              errors of ``probs_``;
            - weights_ci : ndarray of shape (n_components, 2), the
              intervals (see ``interval``);
            - probs_ci : ndarray of shape (n_components, n_features, 2), the
              same for ``probs_``;
            - weights_status, probs_status : str arrays, "estimated",
              "fixed", "near boundary" (a finite standard error, but the
              natural-scale Wald interval would cross 0 or 1: the estimate
              is a few standard errors from the edge), "boundary" (fewer
              than 1e-3 expected rows or outcomes, counted in rows of the
              mean sample weight, so that the test does not depend on the
              scale of ``sample_weight``), "empty component" or "singular
              information";
            - interval : the scale of the intervals;
            - table : one row per parameter with columns ``parameter``,
              ``component``, ``outcome``, ``estimate``, ``std_error``,
              ``ci_low``, ``ci_high``, ``status``; a pandas DataFrame when
              pandas is installed, else a numpy record array;
            - information, covariance : the observed information of the free
              parameters and its inverse;
            - newton_decrement : ``sqrt(g' I^-1 g)`` with ``g`` the gradient
              of the log-likelihood of X, the distance in standard errors
              from the parameters to the maximum: below about 0.05 after a
              converged fit on X (see ``tol``); larger after a fit stopped
              by ``max_iter`` or on other data;
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
        see :func:`align_components`. The profile intervals (Venzon &
        Moolgavkar 1988) follow each profile from the maximum by Newton's
        method on Louis' information, a few dozen likelihood and
        information evaluations per parameter.

        References
        ----------
        .. [1] Louis, T. A. (1982). Finding the observed information matrix
           when using the EM algorithm. JRSS B 44(2), 226-233.
        .. [2] Venzon, D. J. and Moolgavkar, S. H. (1988). A method for
           computing profile-likelihood-based confidence intervals. Applied
           Statistics 37(1), 87-94.

        Examples
        --------
        >>> from sklearn_coinem import BinomialMixture
        >>> from sklearn_coinem.datasets import make_binomial_mixture
        >>> X, _ = make_binomial_mixture(500, probs=[0.8, 0.3], random_state=0)
        >>> bm = BinomialMixture(2, random_state=0).fit(X)
        >>> se = bm.standard_errors(X)
        >>> se.probs.shape, bool((se.probs[:, 0] < 0.01).all())
        ((2, 2), True)
        >>> profile = bm.standard_errors(X, interval="profile")
        >>> low, high = profile.weights_ci[0]
        >>> bool(low < bm.weights_[0] < high)
        True
        """
        return self._standard_errors(X, sample_weight, confidence, interval)

    def sample(self, n_samples=1, *, n_trials=None, random_state=None):
        """Draw rows of counts from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows to draw.

        n_trials : int, tuple (low, high), array-like of shape (n_samples,) \
                or None, default=None
            Trials of every row, drawn uniformly from the integers
            ``low..high`` (inclusive) for each row, or given per row (whole
            numbers, of any numeric type). None draws each row's trials from
            those of the training rows, in proportion to their weights.

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
        return self._sample(n_samples, n_trials, random_state)
