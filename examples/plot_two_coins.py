"""
=====================================
The two coins: EM one step at a time
=====================================

Five experiments, ten flips each, with one of two coins whose identity was not
recorded (Do & Batzoglou 2008). EM alternates between guessing which coin each
experiment used (E-step) and re-estimating the coins from these guesses
(M-step). This example follows the estimates of the two coins over the
iterations, from the textbook's starting point, and shows the posterior
probability of each experiment's coin at the end.
"""

# %%
# The data
# --------
# Each row holds the heads and tails of one experiment.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklearn_coinem import BinomialMixture
from sklearn_coinem.datasets import load_coins

coins = load_coins()
X, true_coin = coins.data, coins.target
print(X)

# %%
# With the coins known, each coin's probability of heads would simply be its
# proportion of heads.
theta_known = [X[true_coin == k, 0].sum() / X[true_coin == k].sum() for k in (0, 1)]
print(f"theta_A = {theta_known[0]:.2f}, theta_B = {theta_known[1]:.2f}")

# %%
# EM, one iteration per call
# --------------------------
# The textbook starts from theta_A = 0.6 and theta_B = 0.5 and keeps the two
# coins equally likely (``update_weights=False``). With ``warm_start=True``
# and ``max_iter=1``, every call to ``fit`` performs exactly one EM iteration
# from where the previous call stopped, so we can record the trajectory. Each
# call warns that one iteration is not convergence, which is expected here.
model = BinomialMixture(
    n_components=2,
    probs_init=[[0.6, 0.4], [0.5, 0.5]],
    update_weights=False,
    algorithm="em",
    max_iter=1,
    tol=0,
    warm_start=True,
)
trajectory = [[0.6, 0.5]]
log_likelihood = []
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    for _ in range(15):
        model.fit(X)
        trajectory.append(model.probs_[:, 0])
        log_likelihood.append(model.score(X) * len(X))
trajectory = np.array(trajectory)
print("after 1 iteration:  ", trajectory[1].round(2))
print("after 10 iterations:", trajectory[10].round(2))

# %%
# After one iteration the estimates are 0.71 and 0.58, after ten 0.80 and
# 0.52: the numbers of the textbook figure. EM does not end at the
# known-coin estimates (0.80 and 0.45): without the labels, the 5/5
# experiment could have come from either coin, and the maximum likelihood
# estimate accounts for that.
#
# The posterior of each experiment
# --------------------------------
# The E-step of the final model gives, for every experiment, the probability
# that coin A was used.
posterior_a = model.predict_proba(X)[:, 0]

fig, (ax_path, ax_post) = plt.subplots(1, 2, figsize=(10, 4))
iterations = np.arange(len(trajectory))
ax_path.plot(iterations, trajectory[:, 0], "o-", label=r"$\theta_A$ (EM)")
ax_path.plot(iterations, trajectory[:, 1], "s-", label=r"$\theta_B$ (EM)")
for value, style in zip(theta_known, ("C0", "C1")):
    ax_path.axhline(value, color=style, linestyle=":", linewidth=1)
ax_path.text(15, theta_known[0], "coins known", va="bottom", ha="right", fontsize=8)
ax_path.text(15, theta_known[1], "coins known", va="top", ha="right", fontsize=8)
ax_path.set(
    xlabel="EM iteration",
    ylabel="probability of heads",
    title="EM trajectory from (0.6, 0.5)",
    ylim=(0.42, 0.83),
)
ax_path.legend(loc="center right")

labels = [f"{h}H/{t}T\n(coin {'AB'[c]})" for (h, t), c in zip(X, true_coin)]
ax_post.bar(labels, posterior_a, color="C0", label="coin A")
ax_post.bar(labels, 1 - posterior_a, bottom=posterior_a, color="C1", label="coin B")
# P(coin A) written in its bar, or just above it when the bar is too short.
for x, p in enumerate(posterior_a):
    inside = p > 0.12
    ax_post.text(
        x,
        p / 2 if inside else p + 0.02,
        f"{p:.2f}",
        ha="center",
        va="center" if inside else "bottom",
        color="white" if inside else "black",
    )
ax_post.set(
    ylabel="posterior probability",
    title="Which coin? (after 15 iterations)",
    ylim=(0, 1.15),
    yticks=np.linspace(0, 1, 6),
)
ax_post.legend(loc="upper center", ncols=2, frameon=False)
fig.tight_layout()

# %%
# The log-likelihood increases at every iteration, as EM guarantees
# (Dempster, Laird & Rubin 1977), and flattens once the estimates stop moving.
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(np.arange(1, len(log_likelihood) + 1), log_likelihood, "o-")
ax.set(xlabel="EM iteration", ylabel="log-likelihood", title="EM never goes down")
fig.tight_layout()
plt.show()
