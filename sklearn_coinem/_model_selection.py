"""Choosing the number of components: a scan over K scored by AIC, BIC or ICL."""

import warnings
from numbers import Integral

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import Bunch, check_random_state
from sklearn.utils.validation import _num_samples

from sklearn_coinem._base import (
    BaseCountMixture,
    CollapsedComponentsWarning,
    IdentifiabilityWarning,
)
from sklearn_coinem._binomial_mixture import BinomialMixture
from sklearn_coinem._inference import (
    as_table,
    collapsed_components,
    information_criteria,
    n_parameters,
)

_CRITERIA = ("aic", "bic", "icl")
_TABLE_COLUMNS = (
    "n_components",
    "log_likelihood",
    "n_parameters",
    "aic",
    "bic",
    "icl",
    "converged",
    "n_iter",
    "identifiable",
    "note",
)

# Warnings summarised once per scan (and in the table) instead of once per K.
_SUMMARISED = (IdentifiabilityWarning, ConvergenceWarning, CollapsedComponentsWarning)


def _check_range(n_components_range):
    """Sorted distinct positive ints of the requested range (an int K is 1..K)."""
    if isinstance(n_components_range, Integral) and n_components_range >= 1:
        n_components_range = range(1, int(n_components_range) + 1)
    try:
        values = np.unique(np.asarray(list(n_components_range)))
    except TypeError:
        values = np.array([])
    if values.size == 0 or not all(
        isinstance(k, Integral) and k >= 1 for k in values.tolist()
    ):
        raise ValueError(
            "n_components_range must be a non-empty collection of positive "
            f"integers, got {n_components_range!r}."
        )
    return [int(k) for k in values]


def _fit_one(prototype, X, sample_weight, n_components, seed):
    """Fit one K; return the estimator and the warnings it raised."""
    estimator = clone(prototype).set_params(
        n_components=n_components, random_state=seed
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator.fit(X, sample_weight=sample_weight)
    for w in caught:
        if not issubclass(w.category, _SUMMARISED):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return estimator


def select_n_components(
    X,
    n_components_range,
    *,
    criterion="bic",
    sample_weight=None,
    n_init=5,
    random_state=None,
    estimator=None,
    **params,
):
    """Fit a mixture for each number of components and pick one by a criterion.

    The counterpart of flexmix's ``stepFlexmix``: for every ``K`` in
    ``n_components_range``, fit a clone of ``estimator`` (a
    :class:`BinomialMixture` by default) with ``n_init`` restarts, and
    report the log-likelihood, AIC, BIC, ICL, convergence and iteration
    count in one table. The selected model minimises ``criterion``
    among the values of ``K`` that the data can identify.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Non-negative outcome counts.

    n_components_range : iterable of int or int
        Numbers of components to try, e.g. ``range(1, 7)``; an int ``K``
        means ``1..K``.

    criterion : {"bic", "aic", "icl"}, default="bic"
        Criterion to minimise.

    sample_weight : array-like of shape (n_samples,), default=None
        Row weights, passed to ``fit`` and the criteria.

    n_init : int, default=5
        Restarts per ``K``.

    random_state : int, RandomState instance or None, default=None
        Seeds the restarts; an int makes the whole scan reproducible.

    estimator : mixture estimator of this package, default=None
        The model to scan (cloned, never fitted itself), so that a scan can
        compare families (``BetaBinomialMixture()``) or fixed settings.
        None means ``BinomialMixture()``. Its ``n_components`` and
        ``random_state`` are set per ``K``.

    **params : dict
        Other parameters of the estimator (``tol``, ``init_params``,
        ``update_weights``, ...), set on the clone, the same for every ``K``.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        - table : one row per ``K`` with columns ``n_components``,
          ``log_likelihood``, ``n_parameters``, ``aic``, ``bic``, ``icl``,
          ``converged``, ``n_iter``, ``identifiable`` and ``note`` (which
          fitted components coincide or have almost no weight, as
          :class:`CollapsedComponentsWarning` says after ``fit``; "" when
          none); a pandas DataFrame when pandas is installed, else a numpy
          record array;
        - best_estimator : the fitted mixture with the smallest criterion;
        - best_n_components : its number of components;
        - estimators : dict mapping each fitted ``K`` to its mixture;
        - criterion : the criterion used.

    Warns
    -----
    IdentifiabilityWarning
        Once, listing the values of ``K`` the data cannot identify (for
        binomial components, rows with fewer than ``2K - 1`` trials, Teicher
        1963) or fewer rows than components. They are marked
        ``identifiable=False`` (their fits are kept, criteria reported) and
        not selected unless no value is identifiable; ``K`` larger than the number
        of rows is not fitted
        (NaN row).
    ConvergenceWarning
        Once, listing the values of ``K`` whose best run did not converge.
    CollapsedComponentsWarning
        Once, listing the values of ``K`` with a non-empty ``note``.

    See Also
    --------
    BinomialMixture.bic : The criterion of one fitted model.
    sklearn.model_selection.GridSearchCV : Cross-validated log-likelihood
        over ``n_components``, the other way of choosing ``K``.

    Examples
    --------
    >>> from sklearn_coinem import select_n_components
    >>> from sklearn_coinem.datasets import make_binomial_mixture
    >>> X, _ = make_binomial_mixture(
    ...     200, probs=[0.9, 0.5, 0.1], n_trials=20, random_state=0
    ... )
    >>> result = select_n_components(X, range(1, 5), random_state=0)
    >>> result.best_n_components
    3
    """
    if criterion not in _CRITERIA:
        raise ValueError(f"criterion must be one of {_CRITERIA}, got {criterion!r}.")
    values = _check_range(n_components_range)
    if estimator is None:
        estimator = BinomialMixture()
    if not isinstance(estimator, BaseCountMixture):
        raise TypeError(
            "estimator must be a mixture estimator of sklearn_coinem (such as "
            f"BinomialMixture()), got {type(estimator).__name__}."
        )
    prototype = clone(estimator).set_params(n_components=1, n_init=n_init, **params)
    # The validation path and table of the estimators themselves, built once.
    table, n_rows = clone(prototype)._table(X, sample_weight, reset=True, method="fit")
    rng = check_random_state(random_state)
    columns = {name: [] for name in _TABLE_COLUMNS}
    estimators = {}
    for k in values:
        seed = rng.randint(np.iinfo(np.int32).max)
        row, fitted = _scan_row(prototype, X, sample_weight, (table, n_rows), k, seed)
        if fitted is not None:
            estimators[k] = fitted
        for name in _TABLE_COLUMNS:
            columns[name].append(row[name])
    _warn_scan(columns)
    best = _best_index(columns, criterion)
    best_k = columns["n_components"][best]
    return Bunch(
        table=as_table({name: np.asarray(col) for name, col in columns.items()}),
        best_estimator=estimators[best_k],
        best_n_components=best_k,
        estimators=estimators,
        criterion=criterion,
    )


def _scan_row(prototype, X, sample_weight, table, n_components, seed):
    """Fit one K; return its table row and the estimator (None if not fitted).

    ``X`` is the caller's input, not its validated array, so that the fitted
    estimators record the column names of a DataFrame as ``fit`` does.
    """
    table, n_rows = table
    n_samples, n_features = _num_samples(X), table.X.shape[1]
    family = prototype._make_family()
    problem = family.identifiability_problem(table, n_components)
    row = dict.fromkeys(_TABLE_COLUMNS, np.nan)
    row.update(
        n_components=n_components,
        n_parameters=n_parameters(
            family, n_components, n_features, prototype.update_weights
        ),
        converged=False,
        n_iter=0,
        identifiable=problem is None and n_components <= n_samples,
        note="",
    )
    if n_components > n_samples:
        return row, None
    estimator = _fit_one(prototype, X, sample_weight, n_components, seed)
    criteria = information_criteria(
        table,
        estimator._family,
        estimator.weights_,
        estimator._fitted_params(),
        estimator._fitted_update_weights,
    )
    row.update(
        log_likelihood=criteria.log_likelihood,
        **{name: criteria[name] for name in _CRITERIA},
        converged=estimator.converged_,
        n_iter=estimator.n_iter_,
        note=collapsed_components(
            estimator.weights_, estimator._fitted_params(), n_rows
        ),
    )
    return row, estimator


def _best_index(columns, criterion):
    """Row with the smallest finite criterion, identifiable rows first."""
    scores = np.asarray(columns[criterion], dtype=float)
    fitted = np.isfinite(scores)
    candidates = fitted & np.asarray(columns["identifiable"])
    if not candidates.any():
        candidates = fitted
    if not candidates.any():
        raise ValueError(
            f"No value of n_components gave a finite {criterion.upper()}; "
            "check the data (rows impossible under every fit with "
            "pseudo_count=0?)."
        )
    return int(np.flatnonzero(candidates)[np.argmin(scores[candidates])])


def _format_values(values, max_listed=8):
    """List short arrays in full; elide the middle of long ones for messages."""
    values = values.tolist()
    if len(values) <= max_listed:
        return str(values)
    return f"[{values[0]}, {values[1]}, ..., {values[-1]}] ({len(values)} values)"


def _warn_scan(columns):
    """One warning for all unidentifiable values of K, one for non-convergence."""
    ks = np.asarray(columns["n_components"])
    bad = ks[~np.asarray(columns["identifiable"])]
    if bad.size:
        warnings.warn(
            f"n_components in {_format_values(bad)} cannot be identified from "
            "these data "
            "(binomial components need rows with at least 2 * n_components - 1 "
            "trials, Teicher 1963, beta-binomial ones 3 * n_components - 1, "
            "and there must be at least n_components rows); they are marked "
            "identifiable=False in the table and are not selected.",
            IdentifiabilityWarning,
            stacklevel=3,
        )
    fitted = np.isfinite(np.asarray(columns["bic"], dtype=float))
    slow = ks[fitted & ~np.asarray(columns["converged"])]
    if slow.size:
        warnings.warn(
            "The best run did not converge for n_components in "
            f"{_format_values(slow)}; "
            "increase max_iter or n_init.",
            ConvergenceWarning,
            stacklevel=3,
        )
    collapsed = ks[np.asarray(columns["note"]) != ""]
    if collapsed.size:
        warnings.warn(
            f"For n_components in {_format_values(collapsed)} some fitted "
            "components coincide or have (almost) no weight (see the table's "
            "note column): the data support fewer components.",
            CollapsedComponentsWarning,
            stacklevel=3,
        )
