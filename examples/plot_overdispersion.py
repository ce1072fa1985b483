"""
=======================================================
Overdispersed counts: beta-binomial against binomial
=======================================================

A binomial component says that every row of a cluster has the same success
probability. Real counts rarely oblige: the allele fraction of mutations of
one clone varies with copy number and with biases of capture and mapping,
so the rows of one cluster vary more than a binomial allows
(overdispersion). A :class:`~sklearn_coinem.BinomialMixture` then buys the
extra variance with extra components, and BIC, which is right to prefer a
better fit, keeps adding them.

A :class:`~sklearn_coinem.BetaBinomialMixture` gives each component a beta
distribution of probabilities around its mean ``probs_[k]``, of precision
``precision_[k]``: the intra-class correlation ``1 / (1 + precision_)``
measures the overdispersion, and a component without any has its precision
at the cap (the binomial limit). This example scans the number of
components of both families on the same rows.
"""

# %%
# Simulated variant-allele counts
# -------------------------------
# 2000 sites from three clusters of equal size with mean allele fractions
# 0.1, 0.25 and 0.45. The fraction of each site is drawn from a beta
# distribution of precision 60 around its cluster's mean (an intra-class
# correlation of 1 / 61), and its depth from a negative binomial of mean
# about 90 reads.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import betabinom, binom
from sklearn.exceptions import ConvergenceWarning

from sklearn_coinem import (
    BetaBinomialMixture,
    BinomialMixture,
    CollapsedComponentsWarning,
    select_n_components,
)

rng = np.random.default_rng(0)
true_means, true_precision = np.array([0.1, 0.25, 0.45]), 60.0
n_sites = 2000
cluster = rng.integers(3, size=n_sites)
depth = rng.negative_binomial(20, 20 / 110, size=n_sites) + 1
fraction = rng.beta(
    true_precision * true_means[cluster], true_precision * (1 - true_means[cluster])
)
alt = rng.binomial(depth, fraction)
X = np.column_stack([alt, depth - alt])
print(
    f"{n_sites} sites, depth {depth.min()} to {depth.max()} (mean {depth.mean():.1f})"
)

# %%
# BIC over the number of components, for both families
# ----------------------------------------------------
# :func:`~sklearn_coinem.select_n_components` fits every K with a few
# restarts and reports BIC (smaller is better). A large K of either family
# may stop at ``max_iter`` or leave coinciding components; the scan notes
# them in its table, and their warnings are silenced here.
# The beta-binomial scan, slower per fit, stops at K=6.
ranges = {"binomial": range(1, 9), "beta-binomial": range(1, 7)}
scans = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    warnings.simplefilter("ignore", CollapsedComponentsWarning)
    for name, estimator in [
        ("binomial", BinomialMixture()),
        ("beta-binomial", BetaBinomialMixture()),
    ]:
        scans[name] = select_n_components(
            X, ranges[name], estimator=estimator, n_init=2, random_state=0
        )
for name, scan in scans.items():
    bic = np.asarray(scan.table["bic"])
    print(f"{name:>13}: BIC picks K={scan.best_n_components}, BIC {bic.min():.1f}")
gap = np.min(scans["binomial"].table["bic"]) - np.min(
    scans["beta-binomial"].table["bic"]
)
print(
    f"The best beta-binomial mixture has a BIC {gap:.1f} lower than the best binomial"
)

fig, ax = plt.subplots(figsize=(7, 4))
for name, scan in scans.items():
    bic = np.asarray(scan.table["bic"])
    ks = list(ranges[name])
    (line,) = ax.plot(ks, bic, "o-", label=f"{name} (picks K={scan.best_n_components})")
    best = scan.best_n_components
    ax.plot(best, bic[ks.index(best)], "*", ms=16, color=line.get_color())
ax.set(xlabel="number of components K", ylabel="BIC (smaller is better)")
# The binomial's first values of K lie far above, off the chart.
lowest = min(np.min(scan.table["bic"]) for scan in scans.values())
ax.set_ylim(lowest - 30, lowest + 300)
ax.legend()
ax.set_title("The binomial family needs extra components for the extra variance")
fig.tight_layout()

# %%
# The beta-binomial mixture recovers the three clusters, their overdispersion
# included:
bb = scans["beta-binomial"].best_estimator
order = np.argsort(bb.probs_[:, 0])
print("mean fraction:", bb.probs_[order, 0].round(3), "(true 0.1, 0.25, 0.45)")
print("weights:      ", bb.weights_[order].round(3), "(true 1/3 each)")
print("precision:    ", bb.precision_[order].round(1), "(true 60)")
print(
    "ICC:          ",
    (1 / (1 + bb.precision_[order])).round(4),
    f"(true {1 / (1 + true_precision):.4f})",
)
binomial = scans["binomial"].best_estimator
print(
    f"binomial K={binomial.n_components}: fractions",
    np.sort(binomial.probs_[:, 0]).round(3),
)

# %%
# Fitted densities over the observed fractions
# --------------------------------------------
# The expected number of sites per bin of the fraction ``alt / depth`` is
# the sum over sites of the probabilities of the counts that fall in the bin,
# at each site's own depth. Both fits follow the histogram: the binomial one
# by splitting each cluster into narrower binomials, the beta-binomial one
# with three components, each as wide as its cluster.
bins = np.linspace(0, 0.8, 41)
centers = (bins[:-1] + bins[1:]) / 2


def expected_histogram(pmf, depth, bins):
    """Expected sites per bin of alt / depth; ``pmf(k, n)`` has shape (K, n + 1)."""
    expected = np.zeros((len(pmf(np.arange(1), 0)), len(bins) - 1))
    for n, count in zip(*np.unique(depth, return_counts=True)):
        k = np.arange(n + 1)
        index = np.clip(np.digitize(k / n, bins) - 1, 0, len(bins) - 2)
        for j, row in enumerate(pmf(k, n)):
            expected[j] += count * np.bincount(index, row, minlength=len(bins) - 1)
    return expected


def binomial_pmf(k, n):
    return binomial.weights_[:, None] * binom.pmf(k, n, binomial.probs_[:, :1])


def beta_binomial_pmf(k, n):
    a = bb.precision_[:, None] * bb.probs_
    return bb.weights_[:, None] * betabinom.pmf(k, n, a[:, :1], a[:, 1:])


fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
for ax, model, pmf, name in [
    (axes[0], binomial, binomial_pmf, "binomial"),
    (axes[1], bb, beta_binomial_pmf, "beta-binomial"),
]:
    expected = expected_histogram(pmf, depth, bins)
    ax.hist(alt / depth, bins=bins, color="0.85", edgecolor="white", label="sites")
    for j in np.argsort(model.probs_[:, 0]):
        ax.plot(centers, expected[j], "--", lw=1)
    ax.plot(centers, expected.sum(axis=0), "k-", lw=2, label="mixture, expected")
    ax.set(
        title=f"{name} mixture, K={model.n_components} (BIC's choice)",
        xlabel="allele fraction  alt / depth",
    )
axes[0].set_ylabel("number of sites")
axes[0].legend()
fig.tight_layout()
plt.show()

# %%
# The same comparison from the command line, one table for both families::
#
#     sklearn-coinem fit vaf.csv --k-range 1:7 --family all
#
# In a scikit-learn grid search, list both estimators in the grid and let
# the held-out log-likelihood choose (see the user guide).
