"""The contract between the EM engine and a family of component densities."""

import numpy as np


class ComponentFamily:
    """Numerics of one family of mixture-component densities.

    The EM engine (``sklearn_coinem._estep`` and ``sklearn_coinem._solver``)
    never knows which family it runs: everything that depends on the form of
    the component density lives in a subclass. A family object is small and
    picklable (its attributes are hyperparameters such as ``pseudo_count``)
    so that it can travel to dask workers and joblib processes.

    Parameters are a dict of arrays, one entry per name in ``param_names``.
    Inside the engine every array carries two leading axes
    ``(n_runs, n_components)`` (R, K), so that restarts advance together in
    one array computation; outside (fitted attributes, initialisation,
    sampling) the leading run axis is absent. The estimator stores
    ``params[name]`` of the best run as the fitted attribute ``name + "_"``.

    Rows reach the family as a table block: an object with attributes ``X``
    (counts, shape (n, C)), ``weights`` (n,) and ``design`` (covariates, shape
    (n, p), or None). A family that needs covariates reads ``block.design``.

    Subclasses implement every method below that raises
    ``NotImplementedError``; the Louis hooks at the end are needed only for
    :meth:`standard_errors`.
    """

    #: Names of the component parameters, e.g. ``("probs",)``.
    param_names = ()

    #: Range of each parameter's entries, ``name -> (low, high)``: Wald
    #: intervals are clipped to it and flagged when they cross it.
    param_bounds = {}

    #: Whether the family accepts scipy.sparse count matrices.
    supports_sparse = False

    # ------------------------------------------------------------- densities
    def row_constants(self, block):
        """Per-row log-density term that does not depend on the parameters.

        For count families this is the log multinomial coefficient
        ``log(n! / prod_c x_c!)``. It is summed once per table, never per
        iteration.

        Returns
        -------
        constants : ndarray of shape (n,)
        """
        raise NotImplementedError

    def log_prob(self, block, params):
        """Log density of each row under each component, without the constant.

        Returns
        -------
        log_prob : ndarray of shape (R, K, n)
            ``log f_k(x_i) - row_constants(x_i)``; ``-inf`` where a row is
            impossible under a component (the engine handles rows impossible
            under every component).
        """
        raise NotImplementedError

    def log_prob_state(self, block, params):
        """:meth:`log_prob` and what :meth:`accumulate` may reuse of it.

        The E-step calls this, then ``accumulate(block, resp, params,
        state)`` when the state is not None. A family whose densities and
        statistics share costly intermediates (the binomial regression's
        linear predictor and its exponential) returns them here; the default
        returns None.

        Returns
        -------
        log_prob : ndarray of shape (R, K, n)
        state : object or None
        """
        return self.log_prob(block, params), None

    # --------------------------------------------------------------- M-step
    def accumulate(self, block, resp, params):
        """Additive sufficient statistics of one block.

        Parameters
        ----------
        block : table block
            The rows.
        resp : ndarray of shape (R, K, n)
            Responsibilities times the row weights.
        params : dict
            Parameters at which the E-step was run (MM families use them).

        Returns
        -------
        stats : dict of ndarray
            Statistics whose sum over the blocks of a table equals the
            statistics of the whole table.
        """
        raise NotImplementedError

    def m_step(self, stats, nk, params):
        """New component parameters from the statistics of the whole table.

        A closed-form maximiser where one exists, otherwise one monotone MM
        step: the engine relies on the objective never decreasing.

        Parameters
        ----------
        stats : dict of ndarray
            Sum of :meth:`accumulate` over every block.
        nk : ndarray of shape (R, K)
            Expected weight of each component.
        params : dict
            The parameters of the E-step.
        """
        raise NotImplementedError

    def log_prior(self, params):
        """Log prior density (up to a constant) of the component parameters.

        Returns
        -------
        log_prior : ndarray of shape (R,)
            The term MAP-EM adds to the log-likelihood (0 for pure MLE).
        """
        raise NotImplementedError

    # --------------------------------------------------------- initialising
    def seeding_features(self, block):
        """Features and seeding weights for the data-driven starts.

        Returns
        -------
        features : ndarray of shape (n, d)
            Points that k-means and k-means++ cluster (for counts, the row
            proportions ``x / n``).
        reliability : ndarray of shape (n,)
            How much each row's features are worth (for counts, the trials);
            multiplied by the row weights to pick seeds.
        """
        raise NotImplementedError

    def init_params(self, block, weighted_resp):
        """Component parameters of a (smoothed) M-step from responsibilities.

        Parameters
        ----------
        weighted_resp : ndarray of shape (n, K)
            Non-negative responsibilities times row weights (not necessarily
            normalised: one row may seed several components).

        Returns
        -------
        params : dict
            Parameters without the run axis, strictly inside the parameter
            space so that every starting log-likelihood is finite.
        """
        raise NotImplementedError

    def random_params(self, n_components, block, rng):
        """Random component parameters (no run axis) for ``init_params="random"``."""
        raise NotImplementedError

    # --------------------------------------------------------------- SQUAREM
    def flatten(self, params):
        """Stack each run's parameters into one vector, shape (R, P).

        SQUAREM extrapolates in this space, so a good parametrisation is one
        in which EM moves along nearly straight lines.
        """
        raise NotImplementedError

    def unflatten(self, theta, params):
        """Inverse of :meth:`flatten`; ``params`` gives the shapes.

        The result is projected back onto the constraints that hold up to
        rounding (for example renormalised onto the simplex).
        """
        raise NotImplementedError

    def feasible(self, theta):
        """Which rows of ``theta`` (R, P) lie in the parameter space, shape (R,)."""
        raise NotImplementedError

    # ------------------------------------------------------------ the model
    def n_parameters(self, n_components, n_features):
        """Number of free component parameters (the mixing weights excluded)."""
        raise NotImplementedError

    def canonical_order(self, weights, params):
        """Order of the components (no run axis) that makes fits comparable."""
        raise NotImplementedError

    def identifiability_problem(self, block, n_components):
        """Why these rows cannot identify ``n_components`` components, or None."""
        raise NotImplementedError

    def sample(self, params, components, n_trials, rng, design=None):
        """Counts drawn from ``components`` (n,) with ``n_trials`` (n,) trials each.

        ``design`` holds the covariates of the rows to draw, for families
        whose density depends on them.

        Returns
        -------
        X : ndarray of shape (n, C), integer counts.
        """
        raise NotImplementedError

    def interval_scales(self, params):
        """Scale of each parameter's default confidence interval.

        ``"logit"`` means a Wald interval on the scale that maps the
        parameter's ``param_bounds`` onto the real line (logit for (0, 1),
        log for (0, inf)), carried back; ``"wald"`` a natural-scale one. The
        default is the transformed scale for every parameter.
        """
        return dict.fromkeys(self.param_names, "logit")

    # ------------------------------------------ Louis' observed information
    def free_basis(self, params, nk, stats):
        """The free component parameters and the estimates on the boundary.

        ``params`` has no run axis; ``nk`` (K,) and ``stats`` are the
        expected statistics at ``params``. Returns an object that the other
        Louis hooks understand, with attributes ``n_free`` (int),
        ``boundary`` (dict name -> bool array shaped like the parameter) and
        ``empty`` (K,) bool, the components without data.
        """
        raise NotImplementedError

    def complete_scores(self, block, params, basis):
        """Score of ``log f_k(x_i)`` in the free basis, shape (n, K, n_free)."""
        raise NotImplementedError

    def component_scores(self, block, params, basis):
        """:meth:`complete_scores` of families whose coordinates each move one density.

        Optional. Where every free coordinate belongs to one component (no
        shared parameters), the scores of ``log f_k`` vanish outside that
        component's coordinates, and the engine computes the observed
        information from these ``K`` times smaller scores, in a
        rows-last layout, without the dense (n, K, n_free) array.

        Returns
        -------
        scores : ndarray of shape (n_free, n)
            Row ``j``: the derivative of ``log f_k(x_i)``, ``k = owner[j]``,
            in free coordinate ``j``.
        owner : ndarray of shape (n_free,)
            The component whose density coordinate ``j`` moves.

            None (the default): the engine uses :meth:`complete_scores`.
        """
        return None

    def complete_information(self, params, nk, stats, basis):
        """``sum_i sum_k r_ik (-d^2 log f_k(x_i))`` in the free basis."""
        raise NotImplementedError

    def complete_score(self, params, nk, stats, basis):
        """``sum_i sum_k r_ik d log f_k(x_i)`` in the free basis, from the statistics.

        Optional, for families whose scores are linear in their expected
        statistics (the multinomial's counts). By Fisher's identity it is
        the observed score of the family's parameters, at the point of the
        E-step that gave ``nk`` and ``stats``: with it the engine certifies
        a Newton step's end point by a quasi-Newton decrement, one E-step
        instead of an observed information.

        Returns
        -------
        score : ndarray of shape (n_free,)
            None (the default): the engine certifies by the information.
        """
        return None

    def delta_jacobians(self, params, basis):
        """Derivatives of every natural parameter in the free basis.

        Returns
        -------
        jacobians : dict
            ``name -> ndarray of shape params[name].shape + (n_free,)``.
        """
        raise NotImplementedError

    def prior_derivatives(self, params, basis):
        """Gradient and minus Hessian of :meth:`log_prior` in the free basis.

        Optional: with it (and the Louis hooks) the engine polishes fits
        with Newton steps and certifies them by the Newton decrement; a
        family that does not override it stops by the Aitken rule alone.
        ``params`` has no run axis; ``basis`` comes from :meth:`free_basis`.

        Returns
        -------
        score : ndarray of shape (n_free,)
        information : ndarray of shape (n_free, n_free)
            None (the default): no Newton steps for this family.
        """
        return None


def take_runs(params, idx):
    """The runs ``idx`` of batched parameters."""
    return {name: value[idx] for name, value in params.items()}


def where_runs(mask, first, second):
    """Per run, ``first`` where ``mask`` (R,) holds, else ``second``."""
    return {
        name: np.where(
            mask.reshape(mask.shape + (1,) * (value.ndim - 1)), value, second[name]
        )
        for name, value in first.items()
    }


def dense_scores(scores, owner, n_components):
    """:meth:`ComponentFamily.complete_scores` from the component scores.

    ``scores`` (n_free, n) and ``owner`` (n_free,) as returned by
    :meth:`ComponentFamily.component_scores`; the result is (n, K, n_free),
    zero where a component's density does not depend on a coordinate.
    """
    n_free, n_rows = scores.shape
    dense = np.zeros((n_rows, n_components, n_free))
    dense[:, owner, np.arange(n_free)] = scores.T
    return dense
