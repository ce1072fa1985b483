"""
==============================================
Clustering variant allele frequencies by depth
==============================================

In tumour sequencing, each somatic mutation is covered by some reads that
carry the alternative allele and some that carry the reference allele. The
fraction of alternative reads, the variant allele frequency (VAF), is about
0.5 for a clonal heterozygous mutation and lower for mutations present in a
subclone only. Clustering the mutations by VAF reveals the clones.

The depth (the number of reads) varies a lot between sites, so a fraction
from 6 reads is much noisier than one from 200. A mixture of binomials on the
(alternative, reference) counts uses each site with its own depth. Clustering
the fractions themselves, for example with a Gaussian mixture, cannot.
"""

# %%
# Simulated mutations
# -------------------
# Three clones with VAFs of 0.5 (clonal), 0.3 and 0.12 and sizes 50%, 30% and
# 20%. Half of the sites come from a deep targeted panel (80 to 250 reads),
# half from low-coverage sequencing (5 to 12 reads).
import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import binom
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

from sklearn_coinem import BinomialMixture

rng = np.random.default_rng(0)
true_vaf = np.array([0.5, 0.3, 0.12])
true_weights = np.array([0.5, 0.3, 0.2])
n_sites = 1500
clone = rng.choice(3, size=n_sites, p=true_weights)
shallow = rng.random(n_sites) < 0.5
depth = np.where(shallow, rng.integers(5, 13, n_sites), rng.integers(80, 251, n_sites))
alt = rng.binomial(depth, true_vaf[clone])
X = np.column_stack([alt, depth - alt])
vaf = alt / depth
print(X[:5])

# %%
# A mixture of three binomials
# ----------------------------
binomial = BinomialMixture(n_components=3, n_init=10, random_state=0).fit(X)
print("VAF of the components:", binomial.probs_[:, 0].round(3))
print("weights:              ", binomial.weights_.round(3))

# %%
# The fitted mixture predicts the whole histogram of the observed fractions,
# depth by depth: the expected number of sites in each bin is the sum, over
# sites, of the binomial probabilities of the fractions that fall in the bin.
bins = np.linspace(0, 1, 41)


def expected_histogram(weights, thetas, depth, bins):
    """Expected counts per VAF bin of a binomial mixture at the given depths."""
    expected = np.zeros(len(bins) - 1)
    for n, n_sites_at_n in zip(*np.unique(depth, return_counts=True)):
        k = np.arange(n + 1)
        pmf = weights @ binom.pmf(k[None, :], n, thetas[:, None])
        index = np.clip(np.digitize(k / n, bins) - 1, 0, len(bins) - 2)
        expected += n_sites_at_n * np.bincount(index, pmf, minlength=len(bins) - 1)
    return expected


expected = expected_histogram(binomial.weights_, binomial.probs_[:, 0], depth, bins)

fig, ax = plt.subplots(figsize=(8, 4))
ax.hist(vaf, bins=bins, color="0.8", edgecolor="white", label="observed sites")
centers = (bins[:-1] + bins[1:]) / 2
ax.plot(centers, expected, "k.-", label="binomial mixture, expected")
for k, theta in enumerate(binomial.probs_[:, 0]):
    ax.axvline(theta, color=f"C{k}", linestyle="--")
    ax.text(theta, ax.get_ylim()[1] * 0.95, f" {theta:.2f}", color=f"C{k}")
ax.set(
    xlabel="variant allele frequency  alt / (alt + ref)",
    ylabel="number of sites",
    title="Fitted binomial mixture over the VAF histogram",
)
ax.legend(loc="upper right")
fig.tight_layout()

# %%
# The histogram is jagged because of the shallow sites: a fraction from 8
# reads can only be 0, 1/8, 2/8, ..., 1, and many shallow sites of the small
# clone have no alternative read at all (the bar at 0). The binomial mixture
# predicts this shape bin by bin, because it knows the depth of every site.
#
# Clustering the fractions instead
# --------------------------------
# A Gaussian mixture on the fractions treats every fraction as equally
# precise. The fractions of the shallow sites are spread widely around their
# clone's VAF, so the Gaussian components must widen to cover them.
gaussian = GaussianMixture(n_components=3, n_init=10, random_state=0)
gaussian.fit(vaf[:, None])
# Number the clusters by decreasing VAF, as the binomial mixture and the clones.
order = np.argsort(gaussian.means_.ravel())[::-1]
gaussian_labels = np.argsort(order)[gaussian.predict(vaf[:, None])]
binomial_labels = binomial.predict(X)
print("Gaussian means:  ", gaussian.means_.ravel()[order].round(3))
print("Gaussian sd:     ", np.sqrt(gaussian.covariances_.ravel()[order]).round(3))
print("Gaussian weights:", gaussian.weights_[order].round(3))
for name, labels in (("binomial", binomial_labels), ("Gaussian", gaussian_labels)):
    deep = adjusted_rand_score(clone[~shallow], labels[~shallow])
    low = adjusted_rand_score(clone[shallow], labels[shallow])
    print(f"ARI {name:8}: deep sites {deep:.3f}, shallow sites {low:.3f}")

# %%
# Which sites end up where: depth against fraction, coloured by cluster
# (numbered by decreasing VAF in both panels), with the true clone VAFs
# dotted. The adjusted Rand index (ARI) compares the
# clusters with the true clones (1 is perfect). The shallow sites cannot be
# assigned reliably by any method: 3 alternative reads out of 8 fit all three
# clones. But the deep sites are easy, and the binomial mixture gets them
# right. The Gaussian components have one width each, whatever the depth of a
# site: here the clonal component is wide (it covers shallow sites of every
# clone) and the clone-2 component narrow, so deep clone-2 sites a little
# away from 0.3 go to the neighbouring clusters.
fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
for ax, labels, name in zip(
    axes, (binomial_labels, gaussian_labels), ("binomial mixture", "Gaussian on VAF")
):
    deep = adjusted_rand_score(clone[~shallow], labels[~shallow])
    low = adjusted_rand_score(clone[shallow], labels[shallow])
    jitter = rng.uniform(-0.3, 0.3, n_sites) * shallow
    for k in range(3):
        ax.scatter(
            (depth + jitter)[labels == k],
            vaf[labels == k],
            color=f"C{k}",
            s=6,
            alpha=0.6,
            label=f"cluster {k + 1}",
        )
    for theta in true_vaf:
        ax.axhline(theta, color="black", linewidth=0.8, linestyle=":")
    ax.set(
        xscale="log",
        xlabel="depth (reads)",
        title=f"{name}\nARI {deep:.2f} on deep sites, {low:.2f} on shallow ones",
    )
axes[0].set_ylabel("variant allele frequency")
axes[1].legend(loc="upper right", markerscale=2, title="by decreasing VAF")
fig.tight_layout()

# %%
# The estimates of the clones: VAF and size of each cluster, sorted by VAF.
# The binomial mixture recovers both; the Gaussian mixture misjudges the
# sizes of the clones, because its widest component absorbs shallow sites of
# every clone.
fig, (ax_vaf, ax_size) = plt.subplots(1, 2, figsize=(10, 3.5))
width = 0.27
positions = np.arange(3)
estimates = {
    "true": (true_vaf, true_weights),
    "binomial mixture": (binomial.probs_[:, 0], binomial.weights_),
    "Gaussian on VAF": (gaussian.means_.ravel(), gaussian.weights_),
}
for i, (name, (centers, sizes)) in enumerate(estimates.items()):
    by_vaf = np.argsort(centers)[::-1]
    offset = (i - 1) * width
    ax_vaf.bar(positions + offset, centers[by_vaf], width, label=name)
    ax_size.bar(positions + offset, sizes[by_vaf], width, label=name)
for ax, ylabel in ((ax_vaf, "VAF of the cluster"), (ax_size, "fraction of sites")):
    ax.set(xticks=positions, xticklabels=["clonal", "clone 2", "clone 3"])
    ax.set_ylabel(ylabel)
ax_vaf.set_title("Cluster VAFs")
ax_size.set_title("Cluster sizes")
ax_size.legend()
fig.tight_layout()
plt.show()
