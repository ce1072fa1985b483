"""The two-coins data of Do & Batzoglou (2008)."""

import numpy as np
from sklearn.utils import Bunch

_DESCR = """\
.. _coins_dataset:

Two coins (Do & Batzoglou 2008)
-------------------------------

Five experiments; in each, one of two coins (A or B) was chosen and flipped
ten times. The columns are the numbers of heads and tails.

=========  =====  =====  =====
experiment heads  tails  coin
=========  =====  =====  =====
0          5      5      B
1          9      1      A
2          8      2      A
3          4      6      B
4          7      3      A
=========  =====  =====  =====

With the coin identities known, the maximum-likelihood estimates are
theta_A = 24/30 = 0.80 and theta_B = 9/20 = 0.45. EM without them, started at
theta_A = 0.6 and theta_B = 0.5 with equal mixing weights held fixed, gives
about 0.71 / 0.58 after one iteration and 0.80 / 0.52 after ten.

Reference: C. B. Do and S. Batzoglou (2008). What is the expectation
maximization algorithm? Nature Biotechnology 26(8), 897-899.
"""


def load_coins(*, return_X_y=False, as_frame=False):
    """Load the five two-coins experiments of Do & Batzoglou (2008).

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    as_frame : bool, default=False
        If True, ``data`` is a pandas DataFrame with columns "heads" and
        "tails" and ``target`` a Series (requires pandas).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes

        - data : ndarray of shape (5, 2), heads and tails counts;
        - target : ndarray of shape (5,), the true coin, 0 for A and 1 for B;
        - target_names : ndarray, ``["A", "B"]``;
        - feature_names : list, ``["heads", "tails"]``;
        - frame : DataFrame or None;
        - DESCR : str, the description of the data set.

    (data, target) : tuple if ``return_X_y`` is True
        The counts of shape (5, 2) and the true coin of each experiment.

    Examples
    --------
    >>> from sklearn_coinem.datasets import load_coins
    >>> coins = load_coins()
    >>> coins.data.sum(axis=1)
    array([10, 10, 10, 10, 10])
    """
    data = np.array([[5, 5], [9, 1], [8, 2], [4, 6], [7, 3]])
    target = np.array([1, 0, 0, 1, 0])
    feature_names = ["heads", "tails"]
    frame = None
    if as_frame:
        import pandas as pd

        frame = pd.DataFrame(data, columns=feature_names)
        frame["coin"] = target
        data, target = frame[feature_names], frame["coin"]
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        target_names=np.array(["A", "B"]),
        feature_names=feature_names,
        frame=frame,
        DESCR=_DESCR,
    )
