"""
================================
Dice: a mixture of multinomials
================================

With more than two columns, :class:`~sklearn_coinem.BinomialMixture` fits a
mixture of multinomials. Here a gambler's sessions at a table with three dice:
a fair one, one loaded towards six and one loaded towards one. Each row
counts how often each face came up during one session with one die; sessions
have from 10 to 60 rolls. Which die was used in which session, and how are
the dice loaded?
"""

# %%
# The sessions
# ------------
import matplotlib.pyplot as plt
import numpy as np

from sklearn_coinem import BinomialMixture, align_components
from sklearn_coinem.datasets import make_binomial_mixture

true_probs = np.array(
    [
        [1, 1, 1, 1, 1, 1],  # fair
        [1, 1, 1, 1, 1, 5],  # loaded towards six
        [4, 1, 1, 1, 1, 2],  # loaded towards one
    ]
)
true_probs = true_probs / true_probs.sum(axis=1, keepdims=True)
true_weights = [0.5, 0.3, 0.2]
X, die = make_binomial_mixture(
    300, weights=true_weights, probs=true_probs, n_trials=(10, 60), random_state=0
)
faces = [str(face) for face in range(1, 7)]
print("first sessions (counts of faces 1 to 6):")
print(X[:5])

# %%
# Fitting three dice
# ------------------
# The model is the same as for coins, with six outcome columns. The fitted
# components come in an arbitrary order (sorted by the probability of the
# first face); :func:`~sklearn_coinem.align_components` finds the order that
# best matches the true dice.
model = BinomialMixture(n_components=3, n_init=10, random_state=0).fit(X)
labels = model.predict(X)
match = align_components(true_probs, model)
fitted_probs = model.probs_[match]
print("weights (fair, six, one):", model.weights_[match].round(3))
print("P(face) of each die:")
print(fitted_probs.round(3))
print(f"sessions assigned to their die: {np.mean(np.take(match, die) == labels):.1%}")

# %%
# The face probabilities of each die, true and estimated. The loading is
# recovered within a few hundredths from 300 sessions whose die was never
# recorded.
names = ["fair die", "loaded towards six", "loaded towards one"]
fig, axes = plt.subplots(1, 3, figsize=(11, 3.5), sharey=True)
positions = np.arange(6)
for ax, name, truth, fitted in zip(axes, names, true_probs, fitted_probs):
    ax.bar(positions - 0.2, truth, 0.4, label="true", color="0.6")
    ax.bar(positions + 0.2, fitted, 0.4, label="estimated", color="C0")
    ax.set(xticks=positions, xticklabels=faces, xlabel="face", title=name)
axes[0].set_ylabel("probability")
axes[0].legend()
fig.tight_layout()

# %%
# Each session by its share of ones and sixes, coloured by the most probable
# die. Short sessions (small dots) sit at the borders between the dice: with
# ten rolls a loaded die can look fair. Pale dots are sessions whose
# assignment is uncertain (posterior probability of their die well below 1).
share = X / X.sum(axis=1, keepdims=True)
confidence = model.predict_proba(X).max(axis=1)
fig, ax = plt.subplots(figsize=(7, 5))
inverse = np.argsort(match)  # fitted component -> true die index
for k, name in enumerate(names):
    chosen = inverse[labels] == k
    ax.scatter(
        share[chosen, 0],
        share[chosen, 5],
        s=X[chosen].sum(axis=1) * 1.5,
        alpha=np.clip(confidence[chosen], 0.2, 1.0),
        color=f"C{k}",
        label=name,
    )
ax.set(
    xlabel="share of ones",
    ylabel="share of sixes",
    title="Sessions by most probable die\n(size: number of rolls; pale: uncertain)",
)
ax.legend()
fig.tight_layout()
plt.show()
