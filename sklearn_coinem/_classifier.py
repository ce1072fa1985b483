"""BinomialMixtureClassifier: semi-supervised EM on partially labelled count rows."""

import warnings
from numbers import Integral, Real

import numpy as np
from scipy import sparse
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_consistent_length,
    check_is_fitted,
    check_non_negative,
    column_or_1d,
    validate_data,
)

from sklearn_coinem._base import _kept_on_error, run_starts
from sklearn_coinem._estep import estimate_log_resp
from sklearn_coinem._families import MultinomialFamily
from sklearn_coinem._families._base import take_runs
from sklearn_coinem._inference import information_criteria
from sklearn_coinem._initialization import initial_parameters
from sklearn_coinem._numerics import safe_log
from sklearn_coinem._table import RowBlock, RowTable
from sklearn_coinem._validation import (
    check_counts,
    check_positive_weight,
    check_row_totals,
    check_weighted_totals,
    warn_if_trials,
)

# Data-driven ways to split the rows of a class among its components; the
# mixture's "random" (parameters drawn without the data) would ignore labels.
CLASS_INIT_METHODS = ("k-means++", "kmeans", "random_resp", "random_from_data")

# Pseudo-row per class in the class shares of the naive Bayes start.
_SHARE_SMOOTHING = 0.5


def unlabelled_rows(y, marker):
    """Which entries of ``y`` mark an unlabelled row.

    An entry is the marker itself, or (among string labels) its string form,
    so that the default -1 also matches the "-1" that numpy stores for -1 in
    a string array. ``marker=None`` marks no row.
    """
    if marker is None:
        return np.zeros(len(y), dtype=bool)
    if y.dtype.kind in "US":
        return y == str(marker)
    if y.dtype.kind == "O":
        return np.fromiter(
            (v == str(marker) if isinstance(v, str) else v == marker for v in y),
            dtype=bool,
            count=len(y),
        )
    if isinstance(marker, str):
        return np.zeros(len(y), dtype=bool)
    return y == marker


def encode_labels(y, unlabelled, marker):
    """Classes of the labelled rows and the class index of every row (-1 if none)."""
    labelled = y[~unlabelled]
    if len(labelled) == 0:
        raise ValueError(
            f"y has no labelled rows: every label equals unlabeled_label={marker!r}. "
            "At least one labelled row per class is needed."
        )
    if labelled.dtype.kind == "O" and any(v is None for v in labelled):
        raise ValueError(
            f"y contains None. Mark unlabelled rows with unlabeled_label={marker!r}."
        )
    check_classification_targets(labelled)
    classes, codes = np.unique(labelled, return_inverse=True)
    row_codes = np.full(len(y), -1, dtype=np.intp)
    row_codes[~unlabelled] = codes.ravel()
    return classes, row_codes


def check_class_weights(classes, codes, sample_weight):
    """Raise unless every class has labelled rows of positive total weight."""
    labelled = codes >= 0
    class_weight = np.bincount(
        codes[labelled], weights=sample_weight[labelled], minlength=len(classes)
    )
    empty = np.flatnonzero(~(class_weight > 0))
    if empty.size:
        raise ValueError(
            "Every class needs a labelled row of positive sample_weight: class "
            f"{classes[empty[0]].tolist()!r} has none."
        )


def class_membership(table, family, n_classes):
    """Posterior class of every row under naive Bayes on the labelled rows.

    One smoothed M-step per class on its labelled rows, then an E-step: a
    labelled row keeps its class, an unlabelled row gets its posterior.

    Returns
    -------
    membership : ndarray of shape (n_distinct, n_classes)
    """
    labelled = table.labels >= 0
    codes, weights = table.labels[labelled], table.weights[labelled]
    resp = np.zeros((len(codes), n_classes))
    resp[np.arange(len(codes)), codes] = weights
    params = family.init_params(RowBlock(table.X[labelled], weights), resp)
    shares = resp.sum(axis=0) + _SHARE_SMOOTHING
    _, log_resp = estimate_log_resp(
        table,
        family,
        safe_log(shares / shares.sum())[None],
        {name: value[None] for name, value in params.items()},
        component_labels=np.arange(n_classes),
    )
    return np.exp(log_resp[:, 0])


def class_starts(table, family, n_classes, n_per_class, n_runs, method, rng):
    """Starting points of ``n_runs`` runs: each class split into its components.

    Each class's rows, weighted by their :func:`class_membership` (1 for its
    labelled rows), go to the mixture's initialisation ``method`` with
    ``n_per_class`` components. The restarts differ only in this split and,
    through it, in where the unlabelled rows start.

    Returns
    -------
    weights : ndarray of shape (n_runs, n_classes * n_per_class)
    params : dict
        Each array with leading axes (n_runs, n_classes * n_per_class).
    """
    membership = class_membership(table, family, n_classes)
    row_weights = membership * table.weights[:, None]
    shares = row_weights.sum(axis=0) / row_weights.sum()
    weights, params = [], []
    for c in range(n_classes):
        rows = row_weights[:, c] > 0
        rows_of_class = RowTable(table.X[rows], row_weights[rows, c])
        w, p = initial_parameters(
            rows_of_class, family, n_per_class, n_runs, method, rng
        )
        weights.append(shares[c] * w)
        params.append(p)
    return np.concatenate(weights, axis=1), {
        name: np.concatenate([p[name] for p in params], axis=1)
        for name in family.param_names
    }


def order_within_classes(family, weights, params, n_per_class):
    """Component order that sorts each class's components canonically."""
    order = []
    for start in range(0, len(weights), n_per_class):
        idx = np.arange(start, start + n_per_class)
        local = family.canonical_order(weights[idx], take_runs(params, idx))
        order.extend(idx[local])
    return np.asarray(order)


class BinomialMixtureClassifier(ClassifierMixin, BaseEstimator):
    """Semi-supervised classifier of count rows: a multinomial mixture fitted by EM.

    Each class is one or more multinomial (binomial for two columns)
    components of a mixture. Labelled rows can come only from the components
    of their class; unlabelled rows, marked by ``unlabeled_label`` in ``y``,
    can come from any component, and EM estimates which (Nigam et al. 2000).
    With every row labelled and one component per class this is multinomial
    naive Bayes; the unlabelled rows refine the components where labels are
    few.

    Read more in the :ref:`User Guide <semi_supervised>`.

    Parameters
    ----------
    n_components_per_class : int, default=1
        Number of mixture components of each class. Several components let a
        class be a mixture itself (several ways of writing a digit, several
        topics of one label).

    unlabeled_weight : float, default=1.0
        Weight ``lambda`` in [0, 1] of the unlabelled rows: it multiplies
        their sample weights, and so their share of the expected statistics
        (Nigam et al.'s EM-lambda). 0 ignores them (the supervised fit), 1
        counts them as much as labelled rows.

    unlabeled_label : int, str or None, default=-1
        The label of ``y`` that marks an unlabelled row, -1 as in
        :mod:`sklearn.semi_supervised`. Among string labels its string form
        marks unlabelled rows too: with the default, the integer -1 or the
        string "-1" in an object array, and "-1" in a string array (where
        numpy stores -1 as "-1"). None, NaN and other values are not markers
        (None and NaN raise). Set it to None when -1 is a class (labels -1
        and 1): every row is then labelled.

    pseudo_count : float, default=1.0
        Pseudo-count added to every expected outcome count and every expected
        component size in the M-step: maximum a posteriori EM under symmetric
        Dirichlet(1 + pseudo_count) priors. It is naive Bayes' ``alpha``
        (Laplace smoothing at the default 1.0, as in Nigam et al.); 0 gives
        maximum likelihood, under which an outcome never seen in a class has
        probability 0 there.

    tol : float, default=1e-8
        First convergence filter on the change of the per-sample objective
        (the weighted mean log-likelihood of the rows given their labels,
        plus the prior term) between iterations (between SQUAREM cycles). A
        run then converges only once an Aitken estimate of the total
        objective's gain left is below 1e-3 nats (labelled runs take no
        Newton steps); see :class:`BinomialMixture`.

    max_iter : int, default=1000
        Maximum number of EM iterations; ``max_iter=0`` only initialises.

    n_init : int, default=1
        Number of initialisations; the run with the largest objective is
        kept. With one component per class every start is the same, except
        for ``init_params="random_from_data"``.

    init_params : {"k-means++", "kmeans", "random_resp", "random_from_data"}, \
            default="k-means++"
        How each class's rows are split among its components at the start
        (see :class:`BinomialMixture`), applied within the rows of the class:
        its labelled rows, and the unlabelled rows weighted by their class
        posterior under naive Bayes on the labelled rows.

    algorithm : {"squarem", "em"}, default="squarem"
        Plain EM, or the SQUAREM acceleration (Varadhan & Roland 2008).

    random_state : int, RandomState instance or None, default=None
        Controls the initialisations.

    verbose : int, default=0
        Print progress: 1 per initialisation, 2 also per iteration.

    verbose_interval : int, default=10
        Number of iterations between two progress messages.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (the labels of ``y`` other than ``unlabeled_label``).

    weights_ : ndarray of shape (n_classes * n_components_per_class,)
        Mixing weights of the components; a class's prior probability is the
        sum of its components' weights.

    probs_ : ndarray of shape (n_classes * n_components_per_class, n_features)
        Outcome probabilities of each component; component ``k`` belongs to
        class ``classes_[k // n_components_per_class]``.

    converged_ : bool
        Whether the best run converged.

    n_iter_ : int
        Number of EM iterations of the best run.

    lower_bound_ : float
        Per-sample objective of the best run at its last recorded step.

    lower_bounds_ : ndarray of shape (n_recorded,)
        Objective at each recorded step of the best run; never decreasing.

    n_features_in_ : int
        Number of outcome columns seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the columns seen during fit, when ``X`` has string column
        names.

    See Also
    --------
    BinomialMixture : The same mixture without labels.
    sklearn.naive_bayes.MultinomialNB : The fully labelled, one component per
        class case.

    Notes
    -----
    The objective is the log-likelihood of the labelled rows' counts and
    labels plus ``unlabeled_weight`` times that of the unlabelled rows'
    counts. In the E-step a labelled row's responsibilities are those of the
    components of its class, renormalised; zero elsewhere.

    Fully labelled with one component per class, the fit is
    :class:`~sklearn.naive_bayes.MultinomialNB` with ``alpha=pseudo_count``:
    the same ``feature_log_prob_``. The class prior differs: here the
    weights are smoothed like the probabilities, ``(n_c + a) / (n + K a)``
    for ``n_c`` rows of class c among ``n`` (Nigam et al.'s class prior),
    while MultinomialNB uses the class frequencies ``n_c / n``.

    :meth:`score` is the accuracy over the rows whose label is not
    ``unlabeled_label``, so that cross-validation and grid searches run on
    partially labelled data.

    References
    ----------
    .. [1] Nigam, McCallum, Thrun & Mitchell (2000). Text classification from
       labeled and unlabeled documents using EM. Machine Learning 39, 103-134.
    .. [2] Dempster, Laird & Rubin (1977). Maximum likelihood from incomplete
       data via the EM algorithm. JRSS B 39(1).
    .. [3] Varadhan & Roland (2008). Simple and globally convergent methods
       for accelerating the convergence of any EM algorithm. Scand. J. Stat.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coinem import BinomialMixtureClassifier
    >>> from sklearn_coinem.datasets import load_coins
    >>> X = load_coins().data
    >>> y = np.array(["B", "A", "A", "B", "A"])
    >>> clf = BinomialMixtureClassifier(pseudo_count=0).fit(X, y)
    >>> clf.probs_[:, 0].round(2)
    array([0.8 , 0.45])
    >>> clf.predict([[10, 0], [2, 8]]).tolist()
    ['A', 'B']

    Two labels, three unlabelled rows (-1):

    >>> y_partial = np.array(["B", "A", -1, -1, -1], dtype=object)
    >>> clf.fit(X, y_partial).predict(X).tolist()
    ['B', 'A', 'A', 'B', 'A']
    """

    _parameter_constraints: dict = {
        "n_components_per_class": [Interval(Integral, 1, None, closed="left")],
        "unlabeled_weight": [Interval(Real, 0.0, 1.0, closed="both")],
        "unlabeled_label": [Integral, str, None],
        "pseudo_count": [Interval(Real, 0.0, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions(set(CLASS_INIT_METHODS))],
        "algorithm": [StrOptions({"em", "squarem"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        *,
        n_components_per_class=1,
        unlabeled_weight=1.0,
        unlabeled_label=-1,
        pseudo_count=1.0,
        tol=1e-8,
        max_iter=1000,
        n_init=1,
        init_params="k-means++",
        algorithm="squarem",
        random_state=None,
        verbose=0,
        verbose_interval=10,
    ):
        self.n_components_per_class = n_components_per_class
        self.unlabeled_weight = unlabeled_weight
        self.unlabeled_label = unlabeled_label
        self.pseudo_count = pseudo_count
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.algorithm = algorithm
        self.random_state = random_state
        self.verbose = verbose
        self.verbose_interval = verbose_interval

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.input_tags.sparse = True
        # As for MultinomialNB: a row enters only through its proportions, so
        # two-column data are one number per row and the check suite's
        # training-accuracy bound on Gaussian blobs does not apply.
        tags.classifier_tags.poor_score = True
        return tags

    def _whom(self, method):
        return f"{type(self).__name__}.{method}"

    # --------------------------------------------------------------- fit
    def _labelled_table(self, X, y, sample_weight):
        """Validate the data; the row table with labels and lambda-scaled weights."""
        X, y = validate_data(
            self,
            X,
            y,
            dtype="numeric",
            accept_sparse=["csr", "csc", "coo"],
            ensure_min_features=2,
        )
        check_non_negative(X, self._whom("fit"))
        if sparse.issparse(X):
            X = sparse.csr_matrix(X, dtype=np.float64)
        # Levels up to the caller of fit: this, fit, sklearn's wrapper, the caller.
        warn_if_trials(X, getattr(self, "feature_names_in_", None), 4)
        unlabelled = unlabelled_rows(y, self.unlabeled_label)
        classes, codes = encode_labels(y, unlabelled, self.unlabeled_label)
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        check_class_weights(classes, codes, sample_weight)
        sample_weight = np.where(
            unlabelled, sample_weight * self.unlabeled_weight, sample_weight
        )
        check_positive_weight(sample_weight.sum())
        family = MultinomialFamily(pseudo_count=self.pseudo_count)
        table = RowTable.compress(family, X, sample_weight, labels=codes)
        check_row_totals(table.X)
        check_weighted_totals(table)
        return classes, family, table

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the components of every class by EM on labelled and unlabelled rows.

        The labelled rows seed the start (naive Bayes on them, each class
        split into its components by ``init_params``); ``n_init`` starts
        are run and the best kept. Warns with
        :class:`~sklearn.exceptions.ConvergenceWarning` when the best run
        stopped at ``max_iter`` before converging.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Non-negative outcome counts, one row per experiment.

        y : array-like of shape (n_samples,)
            Class labels (integers or strings), ``unlabeled_label`` (-1) for
            the unlabelled rows. Every class of ``classes_`` is a label of
            some row; it needs labelled rows of positive weight.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights; integer weights are equivalent to
            repeating rows. Unlabelled rows' weights are further multiplied
            by ``unlabeled_weight``.

        Returns
        -------
        self : object
            The fitted classifier.
        """
        with _kept_on_error(self):
            classes, family, table = self._labelled_table(X, y, sample_weight)
            result = self._fit_table(classes, family, table)
        self._store_result(classes, family, result)
        if not self.converged_ and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different "
                "init parameters, or increase max_iter, tol, or check for "
                "degenerate data.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _fit_table(self, classes, family, table):
        """Run EM from ``n_init`` labelled starts on the row table."""
        n_per_class = self.n_components_per_class
        weights, params = class_starts(
            table,
            family,
            len(classes),
            n_per_class,
            self.n_init,
            self.init_params,
            check_random_state(self.random_state),
        )
        component_labels = np.repeat(np.arange(len(classes)), n_per_class)
        return self._run(table, family, weights, params, component_labels)

    def _store_result(self, classes, family, result):
        """Set the fitted attributes from the best run, classes in order."""
        best = int(np.argmax(result.lower_bound))
        weights = result.weights[best]
        params = take_runs(result.params, best)
        order = order_within_classes(
            family, weights, params, self.n_components_per_class
        )
        self.classes_ = classes
        self.weights_ = weights[order]
        self.probs_ = params["probs"][order]
        self.converged_ = bool(result.converged[best])
        self.n_iter_ = int(result.n_iter[best])
        self.lower_bound_ = float(result.lower_bound[best])
        self.lower_bounds_ = result.lower_bounds[best]
        self._family = family

    def _run(self, table, family, weights, params, component_labels):
        """Run EM from every start, as one batch unless the monitor needs order."""
        options = {
            "pseudo_count": self.pseudo_count,
            "update_weights": True,
            "tol": self.tol,
            "max_iter": self.max_iter,
            "algorithm": self.algorithm,
        }
        return run_starts(
            self,
            table,
            family,
            weights,
            params,
            None,
            options,
            component_labels=component_labels,
        )

    # ------------------------------------------------------------ predict
    def _check_rows(self, X, method):
        """Validated float64 rows, dense or sparse CSR."""
        X = check_counts(
            self, X, reset=False, whom=self._whom(method), accept_sparse=True
        )
        if not sparse.issparse(X):
            X = np.asarray(X, dtype=np.float64)
        check_row_totals(X)
        return X

    def _log_resp(self, X, method):
        """Per-row log-likelihood and log responsibilities of the components."""
        check_is_fitted(self)
        X = self._check_rows(X, method)
        block = RowBlock(X, np.ones(X.shape[0]))
        log_norm, log_resp = estimate_log_resp(
            block,
            self._family,
            safe_log(self.weights_)[None],
            {"probs": self.probs_[None]},
        )
        return log_norm[:, 0] + self._family.row_constants(block), log_resp[:, 0]

    def predict_log_proba(self, X):
        """Log posterior probability of each class for each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Non-negative outcome counts.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            ``log sum_k p(k | x)`` over the components ``k`` of each class,
            columns in the order of ``classes_``.
        """
        log_resp = self._log_resp(X, "predict_log_proba")[1]
        by_class = log_resp.reshape(len(log_resp), len(self.classes_), -1)
        return logsumexp(by_class, axis=2)

    def predict_proba(self, X):
        """Posterior probability of each class for each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Non-negative outcome counts.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Sums of the components' responsibilities over each class; rows
            sum to 1. A row with no trials gets the class priors.
        """
        return np.exp(self.predict_log_proba(X))

    def predict(self, X):
        """Most probable class of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Non-negative outcome counts.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        best = self.predict_log_proba(X).argmax(axis=1)
        return self.classes_[best]

    def score(self, X, y, sample_weight=None):
        """Accuracy on the labelled rows of X; unlabelled rows are ignored.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Non-negative outcome counts.

        y : array-like of shape (n_samples,)
            True labels, ``unlabeled_label`` for rows to leave out.

        sample_weight : array-like of shape (n_samples,), default=None
            Row weights of the accuracy.

        Returns
        -------
        score : float
            Weighted fraction of the labelled rows predicted correctly.
        """
        y = column_or_1d(np.asarray(y), warn=True)
        labelled = ~unlabelled_rows(y, self.unlabeled_label)
        if not labelled.any():
            raise ValueError(
                "score needs labelled rows: every label of y equals "
                f"unlabeled_label={self.unlabeled_label!r}."
            )
        y_pred = self.predict(X)
        check_consistent_length(y_pred, y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, y_pred[:, None])
            sample_weight = sample_weight[labelled]
        return float(
            accuracy_score(y[labelled], y_pred[labelled], sample_weight=sample_weight)
        )

    def score_samples(self, X):
        """Log-likelihood of each row under the fitted mixture (labels unknown).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Non-negative outcome counts.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            ``log sum_k weights_[k] * f_k(X[i])`` over all components,
            including the multinomial coefficient.
        """
        return self._log_resp(X, "score_samples")[0]

    # ---------------------------------------------------------- inference
    def _criteria(self, X, sample_weight, method):
        check_is_fitted(self)
        X = self._check_rows(X, method)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
            check_positive_weight(sample_weight.sum())
        table = RowTable.compress(self._family, X, sample_weight)
        check_weighted_totals(table)
        return information_criteria(
            table, self._family, self.weights_, {"probs": self.probs_}
        )

    def aic(self, X, sample_weight=None):
        """Akaike information criterion of the fitted mixture on X (labels unknown).

        ``-2 * log_likelihood + 2 * n_parameters`` with the log-likelihood of
        :meth:`score_samples` and ``n_parameters = K - 1 + K * (n_features -
        1)`` for the ``K = n_classes * n_components_per_class`` components,
        as :meth:`BinomialMixture.aic`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Non-negative outcome counts.

        sample_weight : array-like of shape (n_samples,), default=None
            Row weights of the log-likelihood.

        Returns
        -------
        aic : float
            The lower the better.
        """
        return self._criteria(X, sample_weight, "aic").aic

    def bic(self, X, sample_weight=None):
        """Bayesian information criterion of the fitted mixture on X (labels unknown).

        ``-2 * log_likelihood + log(n) * n_parameters``, with ``n`` the number
        of rows (the sum of ``sample_weight`` when given) and the terms of
        :meth:`aic`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Non-negative outcome counts.

        sample_weight : array-like of shape (n_samples,), default=None
            Row weights; they also set ``n``.

        Returns
        -------
        bic : float
            The lower the better.
        """
        return self._criteria(X, sample_weight, "bic").bic
