"""
===================================
Choosing the number of components
===================================

How many coins produced these data? Two complementary answers:

* information criteria (BIC, ICL, AIC) computed on the training data for a
  range of ``K``, with :func:`~sklearn_coinem.select_n_components`, the
  counterpart of R flexmix's ``stepFlexmix``;
* the log-likelihood of held-out rows, cross-validated with scikit-learn's
  :class:`~sklearn.model_selection.GridSearchCV`, since
  :meth:`BinomialMixture.score <sklearn_coinem.BinomialMixture.score>` is the
  mean log-likelihood.
"""

# %%
# Simulated data
# --------------
# 300 experiments from three coins with probabilities of heads 0.9, 0.5 and
# 0.15; each experiment has between 10 and 30 flips.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV

from sklearn_coinem import BinomialMixture, select_n_components
from sklearn_coinem.datasets import make_binomial_mixture

X, y = make_binomial_mixture(
    300,
    weights=[0.3, 0.45, 0.25],
    probs=[0.9, 0.5, 0.15],
    n_trials=(10, 30),
    random_state=0,
)
print(X[:5])

# %%
# A scan over K with information criteria
# ---------------------------------------
# For every ``K`` from 1 to 6 the scan fits a mixture with five restarts and
# reports the log-likelihood and the criteria (smaller is better). BIC
# penalises each of the ``2K - 1`` free parameters by ``log(n)``; ICL adds
# twice the entropy of the classification, so it prefers components that
# are also well separated.
scan = select_n_components(X, range(1, 7), criterion="bic", random_state=0)
print(scan.table.round(1).to_string(index=False))
print("selected K:", scan.best_n_components)
print("estimated heads probabilities:", scan.best_estimator.probs_[:, 0].round(3))

# %%
k_values = scan.table["n_components"]
fig, ax = plt.subplots(figsize=(6, 4))
for name, marker in [("bic", "o"), ("icl", "s"), ("aic", "^")]:
    values = scan.table[name]
    ax.plot(k_values, values - values.min(), marker=marker, label=name.upper())
ax.axvline(scan.best_n_components, color="grey", linestyle=":", label="selected K")
# K = 1 is over a thousand units worse: a log scale keeps the minimum visible.
ax.set_yscale("symlog", linthresh=10)
ax.set_ylim(bottom=0)
ax.set_xlabel("number of components K")
ax.set_ylabel("criterion minus its minimum over K")
ax.set_title("BIC, ICL and AIC against K (smaller is better)")
ax.legend()
fig.tight_layout()

# %%
# All three criteria drop steeply up to the true ``K = 3`` and rise after it:
# extra components no longer improve the fit enough to pay for their
# parameters.
#
# Cross-validated log-likelihood
# ------------------------------
# The same question, answered the scikit-learn way: ``GridSearchCV`` fits
# each ``K`` on four fifths of the rows and scores the held-out fifth by its
# mean log-likelihood (larger is better). Past the true ``K`` the held-out
# score is flat up to noise, so its maximum may land on any ``K`` of the
# plateau. The "one standard error" rule, passed as ``refit``, picks the
# smallest ``K`` whose score is within one standard error of the best.
n_folds = 5


def smallest_k_within_one_se(cv_results):
    """Index of the smallest K scoring within one standard error of the best."""
    mean = cv_results["mean_test_score"]
    best = np.argmax(mean)
    threshold = mean[best] - cv_results["std_test_score"][best] / np.sqrt(n_folds)
    return int(np.flatnonzero(mean >= threshold)[0])


k_grid = list(range(1, 7))
search = GridSearchCV(
    BinomialMixture(n_init=3, random_state=0),
    {"n_components": k_grid},
    cv=n_folds,
    refit=smallest_k_within_one_se,
)
search.fit(X)
mean = search.cv_results_["mean_test_score"]
std = search.cv_results_["std_test_score"]
print("largest held-out score at K =", k_grid[int(np.argmax(mean))])
print("one-standard-error rule selects K =", search.best_params_["n_components"])

selected = search.best_params_["n_components"]
fig, (ax_all, ax_zoom) = plt.subplots(1, 2, figsize=(10, 4))
for ax, ks in [(ax_all, k_grid), (ax_zoom, k_grid[2:])]:
    idx = [k - 1 for k in ks]
    ax.errorbar(ks, mean[idx], yerr=std[idx] / np.sqrt(n_folds), marker="o", capsize=4)
    ax.axvline(selected, color="grey", linestyle=":", label="selected K")
    ax.set_xticks(ks)
    ax.set_xlabel("number of components K")
ax_all.set_ylabel("held-out mean log-likelihood per row")
ax_all.set_title("5-fold cross-validated log-likelihood")
ax_zoom.set_title("zoom on K >= 3 (bars: one standard error)")
ax_all.legend()
fig.tight_layout()

# %%
# The held-out log-likelihood stops improving at ``K = 3``; the error bars
# (one standard error over the folds) show that the later differences are
# noise. Information criteria need one fit per ``K``; cross-validation needs
# five but makes no asymptotic assumption.
plt.show()
