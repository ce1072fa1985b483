"""
=================================================
scikit-learn integration: pipelines, grid search
=================================================

:class:`~sklearn_coinem.BinomialMixture` is a scikit-learn estimator, so it
fits in a :class:`~sklearn.pipeline.Pipeline`, its parameters can be tuned by
:class:`~sklearn.model_selection.GridSearchCV` (which scores a density model
by its held-out mean log-likelihood), and a fitted model predicts which coin
generated new rows.
"""

# %%
# Experiments in a data frame
# ---------------------------
# The experiments arrive as a table with an identifier and the two counts.
# A :class:`~sklearn.compose.ColumnTransformer` picks the count columns, so
# the pipeline takes the data frame as it is.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline

from sklearn_coinem import BinomialMixture
from sklearn_coinem.datasets import make_binomial_mixture

X, coin = make_binomial_mixture(
    400,
    weights=[0.6, 0.4],
    probs=[0.7, 0.4],
    n_trials=(2, 30),
    random_state=0,
)
experiments = pd.DataFrame(
    {"experiment": [f"e{i:03d}" for i in range(len(X))], "heads": X[:, 0]}
)
experiments["tails"] = X[:, 1]
print(experiments.head())

pipeline = Pipeline(
    [
        ("counts", ColumnTransformer([("counts", "passthrough", ["heads", "tails"])])),
        ("mixture", BinomialMixture(n_components=2, random_state=0)),
    ]
)
pipeline.fit(experiments)
mixture = pipeline.named_steps["mixture"]
print("P(heads):", mixture.probs_[:, 0].round(3), "weights:", mixture.weights_.round(3))

# %%
# Grid search over the initialisation
# -----------------------------------
# ``GridSearchCV`` compares initialisation strategies (``init_params``) and
# numbers of restarts (``n_init``) by the mean log-likelihood of held-out
# rows, the estimator's ``score``. For these two coins every setting reaches
# the same fit on every fold: the eight scores below are equal.
param_grid = {
    "mixture__init_params": ["random", "random_from_data", "k-means++", "kmeans"],
    "mixture__n_init": [1, 10],
}
cv = KFold(5, shuffle=True, random_state=0)
search = GridSearchCV(pipeline, param_grid, cv=cv).fit(experiments)
print("held-out log-likelihood per row of each setting:")
print(np.round(search.cv_results_["mean_test_score"], 4))

# %%
# Five dice with six faces, rolled only 3 to 12 times per row, are harder:
# the likelihood has several local maxima and a single start sometimes ends
# in a worse one. Here the estimator is tuned directly (no pipeline needed
# for a plain array), and ``return_train_score=True`` also records the
# log-likelihood each setting reached on its training folds.
rng = np.random.default_rng(1)
dice_probs = rng.dirichlet(np.ones(6), size=5)
X_dice, _ = make_binomial_mixture(
    400, probs=dice_probs, n_trials=(3, 12), random_state=0
)
grid = {
    "init_params": ["random", "random_from_data", "k-means++", "kmeans"],
    "n_init": [1, 5],
}
dice_search = GridSearchCV(
    BinomialMixture(n_components=5, random_state=0),
    grid,
    cv=cv,
    return_train_score=True,
).fit(X_dice)
dice_results = pd.DataFrame(dice_search.cv_results_)
print("best by held-out log-likelihood:", dice_search.best_params_)

# %%
# For each training fold, how far the fit of each setting falls short of the
# best fit any setting found on that fold (0: it found the best maximum).
# With five restarts every strategy ends at (or within a hair of) the best
# maximum on every fold; a single start often stops at a worse one, whatever
# the strategy. The
# held-out scores differ much less, and do not always favour the best
# training fit: with few rolls per row, the fits are noisy.
train_scores = dice_results[[f"split{i}_train_score" for i in range(5)]]
shortfall = train_scores.to_numpy() - train_scores.to_numpy().max(axis=0)
fig, ax = plt.subplots(figsize=(8, 3.5))
inits = grid["init_params"]
for j, n_init in enumerate(grid["n_init"]):
    for i, init in enumerate(inits):
        row = np.flatnonzero(
            (dice_results["param_init_params"] == init)
            & (dice_results["param_n_init"] == n_init)
        )[0]
        ax.plot(
            np.full(5, i + (j - 0.5) * 0.25),
            shortfall[row],
            "o",
            color=f"C{j}",
            alpha=0.6,
            label=f"n_init={n_init}" if i == 0 else None,
        )
ax.set(
    xticks=np.arange(len(inits)),
    xticklabels=inits,
    ylabel="training log-lik. per row\nminus the fold's best",
    title="GridSearchCV over init_params and n_init (5 dice, one dot per fold)",
)
ax.legend(loc="lower right")
fig.tight_layout()

# %%
# Which coin generated a new row?
# -------------------------------
# ``predict_proba`` of the fitted pipeline gives the posterior probability of
# each coin for new experiments. It depends on the number of flips: 60% heads
# in 5 flips is weak evidence, in 100 flips strong evidence for the coin with
# the higher probability of heads.
best = search.best_estimator_
theta = best.named_steps["mixture"].probs_[:, 0]
fig, ax = plt.subplots(figsize=(7, 4))
for n_flips in (5, 20, 100):
    heads = np.arange(n_flips + 1)
    new_rows = pd.DataFrame(
        {"experiment": "new", "heads": heads, "tails": n_flips - heads}
    )
    posterior = best.predict_proba(new_rows)[:, 0]
    ax.plot(heads / n_flips, posterior, "o-", markersize=3, label=f"{n_flips} flips")
for k, value in enumerate(theta):
    label = "fitted P(heads) of the coins" if k == 0 else None
    ax.axvline(value, color="0.6", linestyle=":", label=label)
ax.set(
    xlabel="proportion of heads in the new experiment",
    ylabel=f"P(coin with P(heads)={theta[0]:.2f})",
    title="Posterior of the coin for new rows",
)
ax.legend()
fig.tight_layout()

# %%
# The predicted coin of a few new experiments:
new = pd.DataFrame(
    {"experiment": ["n1", "n2", "n3"], "heads": [3, 14, 45], "tails": [2, 6, 55]}
)
new["predicted coin"] = best.predict(new)
new["P(coin 0)"] = best.predict_proba(new)[:, 0].round(3)
print(new)
plt.show()
