"""The 22-centre beta-blocker trial (Yusuf et al. 1985), as shipped by flexmix."""

import numpy as np
from sklearn.utils import Bunch

_DESCR = """\
.. _betablocker_dataset:

Beta-blocker trial (22 centres x 2 arms)
----------------------------------------

A 22-centre clinical trial of beta-blockers for reducing mortality after
myocardial infarction. Each of the 44 rows is one arm (control or treated)
of one centre: the numbers of deaths and survivors among its patients.

The data are R's ``data("betablocker", package = "flexmix")`` (flexmix
2.3-18), which cites McLachlan & Peel (2000); the row order is flexmix's
(22 control arms, then 22 treated arms, centres 1 to 22 in each).

References: S. Yusuf, R. Peto, J. Lewis, R. Collins and P. Sleight (1985).
Beta blockade during and after myocardial infarction: an overview of the
randomized trials. Progress in Cardiovascular Diseases 27, 335-371.
M. Aitkin (1999). Meta-analysis by random effect modelling in generalized
linear models. Statistics in Medicine 18, 2343-2351.
G. McLachlan and D. Peel (2000). Finite Mixture Models. Wiley.
"""

_DEATHS = [
    3, 14, 11, 127, 27, 6, 152, 48, 37, 188, 52, 47, 16, 45, 31, 38, 12, 6, 3, 40,
    43, 39, 3, 7, 5, 102, 28, 4, 98, 60, 25, 138, 64, 45, 9, 57, 25, 33, 28, 8, 6,
    32, 27, 22,
]  # fmt: skip
_TOTAL = [
    39, 116, 93, 1520, 365, 52, 939, 471, 282, 1921, 583, 266, 293, 883, 147, 213,
    122, 154, 134, 218, 364, 674, 38, 114, 69, 1533, 355, 59, 945, 632, 278, 1916,
    873, 263, 291, 858, 154, 207, 251, 151, 174, 209, 391, 680,
]  # fmt: skip


def load_betablocker(*, return_X_y=False, as_frame=False):
    """Load the 44 arms of the 22-centre beta-blocker trial.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    as_frame : bool, default=False
        If True, ``data`` is a pandas DataFrame with the column "treated",
        ``target`` a DataFrame with "deaths" and "survivors", and ``frame``
        holds all of them with "center" (requires pandas).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes

        - data : ndarray of shape (44, 1), 1 for a treated arm, 0 for control;
        - target : ndarray of shape (44, 2), the deaths and survivors;
        - groups : ndarray of shape (44,), the centre (1 to 22);
        - feature_names : list, ``["treated"]``;
        - target_names : list, ``["deaths", "survivors"]``;
        - frame : DataFrame or None;
        - DESCR : str, the description of the data set.

    (data, target) : tuple if ``return_X_y`` is True
        The treatment indicator of shape (44, 1) and the counts of shape
        (44, 2).

    Examples
    --------
    >>> from sklearn_coinem.datasets import load_betablocker
    >>> betablocker = load_betablocker()
    >>> betablocker.target.sum(axis=0)
    array([ 1811, 18479])
    """
    deaths, total = np.array(_DEATHS), np.array(_TOTAL)
    data = np.repeat([[0], [1]], 22, axis=0)
    target = np.column_stack([deaths, total - deaths])
    groups = np.tile(np.arange(1, 23), 2)
    feature_names, target_names = ["treated"], ["deaths", "survivors"]
    frame = None
    if as_frame:
        import pandas as pd

        frame = pd.DataFrame(
            np.column_stack([data, target, groups]),
            columns=feature_names + target_names + ["center"],
        )
        data, target = frame[feature_names], frame[target_names]
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        groups=groups,
        feature_names=feature_names,
        target_names=target_names,
        frame=frame,
        DESCR=_DESCR,
    )
