"""Choosing the number of components: a scan over K scored by AIC, BIC or ICL."""

import warnings
from numbers import Integral

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import Bunch, check_array, check_random_state
from sklearn.utils.validation import (
    _check_sample_weight,
    _num_samples,
    check_non_negative,
)

from sklearn_coinem._binomial_mixture import BinomialMixture, IdentifiabilityWarning
from sklearn_coinem._count_table import _compress_counts
from sklearn_coinem._em import CountTable
from sklearn_coinem._inference import as_table, information_criteria, n_parameters

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
)


def _check_range(n_components_range):
    """Sorted distinct positive ints of the requested range."""
    values = np.unique(np.asarray(list(n_components_range)))
    if values.size == 0 or not all(
        isinstance(k, Integral) and k >= 1 for k in values.tolist()
    ):
        raise ValueError(
            "n_components_range must be a non-empty collection of positive "
            f"integers, got {n_components_range!r}."
        )
    return [int(k) for k in values]


def _fit_one(X, sample_weight, n_components, seed, n_init, params):
    """Fit one K; return the estimator and the warnings it raised."""
    estimator = BinomialMixture(
        n_components, n_init=n_init, random_state=seed, **params
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator.fit(X, sample_weight=sample_weight)
    for w in caught:
        if not issubclass(w.category, (IdentifiabilityWarning, ConvergenceWarning)):
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
    **params,
):
    """Fit a mixture for each number of components and pick one by a criterion.

    The counterpart of flexmix's ``stepFlexmix``: for every ``K`` in
    ``n_components_range``, fit :class:`BinomialMixture` with ``n_init``
    restarts, and report the log-likelihood, AIC, BIC, ICL, convergence and
    iteration count in one table. The selected model minimises ``criterion``
    among the values of ``K`` that the data can identify.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Non-negative outcome counts.

    n_components_range : iterable of int
        Numbers of components to try, e.g. ``range(1, 7)``.

    criterion : {"bic", "aic", "icl"}, default="bic"
        Criterion to minimise.

    sample_weight : array-like of shape (n_samples,), default=None
        Row weights, passed to ``fit`` and the criteria.

    n_init : int, default=5
        Restarts per ``K``.

    random_state : int, RandomState instance or None, default=None
        Seeds the restarts; an int makes the whole scan reproducible.

    **params : dict
        Other :class:`BinomialMixture` parameters (``tol``, ``init_params``,
        ``update_weights``, ...), the same for every ``K``.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        - table : one row per ``K`` with columns ``n_components``,
          ``log_likelihood``, ``n_parameters``, ``aic``, ``bic``, ``icl``,
          ``converged``, ``n_iter`` and ``identifiable``; a pandas DataFrame
          when pandas is installed, else a numpy record array;
        - best_estimator : the fitted mixture with the smallest criterion;
        - best_n_components : its number of components;
        - estimators : dict mapping each fitted ``K`` to its mixture;
        - criterion : the criterion used.

    Warns
    -----
    IdentifiabilityWarning
        Once, listing the values of ``K`` the data cannot identify: rows with
        fewer than ``2K - 1`` trials (Teicher 1961) or fewer rows than
        components. They are marked ``identifiable=False`` (their fits are
        kept, criteria reported) and not selected unless no value is
        identifiable; ``K`` larger than the number of rows is not fitted
        (NaN row).
    ConvergenceWarning
        Once, listing the values of ``K`` whose best run did not converge.

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
    counts = check_array(X, dtype="numeric", ensure_min_features=2)
    check_non_negative(counts, "select_n_components")
    if sample_weight is not None:
        sample_weight = _check_sample_weight(
            sample_weight, counts, dtype=np.float64, ensure_non_negative=True
        )
    table = CountTable.from_rows(*_compress_counts(counts, sample_weight))
    rng = check_random_state(random_state)
    columns = {name: [] for name in _TABLE_COLUMNS}
    estimators = {}
    for k in values:
        seed = rng.randint(np.iinfo(np.int32).max)
        row, estimator = _scan_row(X, sample_weight, table, k, seed, n_init, params)
        if estimator is not None:
            estimators[k] = estimator
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


def _scan_row(X, sample_weight, table, n_components, seed, n_init, params):
    """Fit one K; return its table row and the estimator (None if not fitted).

    ``X`` is the caller's input, not its validated array, so that the fitted
    estimators record the column names of a DataFrame as ``fit`` does.
    """
    n_samples, n_features = _num_samples(X), table.X.shape[1]
    max_trials = float(table.X.sum(axis=1).max())
    row = dict.fromkeys(_TABLE_COLUMNS, np.nan)
    row.update(
        n_components=n_components,
        n_parameters=n_parameters(
            n_components, n_features, params.get("update_weights", True)
        ),
        converged=False,
        n_iter=0,
        identifiable=max_trials >= 2 * n_components - 1 and n_components <= n_samples,
    )
    if n_components > n_samples:
        return row, None
    estimator = _fit_one(X, sample_weight, n_components, seed, n_init, params)
    criteria = information_criteria(
        table, estimator.weights_, estimator.probs_, estimator.update_weights
    )
    row.update(
        log_likelihood=criteria.log_likelihood,
        **{name: criteria[name] for name in _CRITERIA},
        converged=estimator.converged_,
        n_iter=estimator.n_iter_,
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
            "(rows need at least 2 * n_components - 1 trials, Teicher 1961, and "
            "there must be at least n_components rows); they are marked "
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
