"""
=======================================================================
Beta-blockers in 22 centres: a mixture of binomial logistic regressions
=======================================================================

A 22-centre trial of beta-blockers after myocardial infarction: in each centre
a control and a treated arm, with their deaths and survivors (flexmix's
``betablocker``). Centres differ in their baseline death rate far more than a
binomial allows; a mixture of logistic regressions lets the centres fall into
a few latent classes of baseline risk, with one Treatment effect (log-odds
ratio) shared by all classes, and both arms of a centre in the same class.
This is flexmix's
``flexmix(cbind(Deaths, Total - Deaths) ~ 1 | Center,
model = FLXMRglmfix(family = "binomial", fixed = ~ Treatment))``
(Grün & Leisch 2008).
"""

# %%
# The data
# --------
# ``data`` holds the treatment indicator, ``target`` the deaths and survivors,
# ``groups`` the centre of each arm.
import matplotlib.pyplot as plt
import numpy as np
from scipy.special import expit
from scipy.stats import binom

from sklearn_coinem import BinomialRegressionMixture
from sklearn_coinem.datasets import load_betablocker

data = load_betablocker()
X, y, centre = data.data, data.target, data.groups
rate = y[:, 0] / y.sum(axis=1)
print(f"{len(X)} arms, death rates {rate.min():.3f} to {rate.max():.3f}")

# %%
# Choosing the number of classes
# ------------------------------
# ``shared=[True]`` ties the Treatment coefficient across components;
# ``groups=centre`` makes both arms of a centre share one component. BIC (with
# ``n`` the 44 arms, as flexmix) picks three classes.
bics = {}
for k in range(1, 5):
    model = BinomialRegressionMixture(k, shared=[True], n_init=30, random_state=0)
    model.fit(X, y, groups=centre)
    bics[k] = model.bic(X, y, groups=centre)
    log_lik = model.score(X, y, groups=centre) * len(X)
    print(f"K={k}: log-likelihood {log_lik:9.3f}  BIC {bics[k]:8.3f}")
best_k = min(bics, key=bics.get)

# %%
# The coefficient table
# ---------------------
# Standard errors from the observed information (Louis 1982), with Wald z and
# p-values, like flexmix's ``summary(refit(...))``. The Treatment effect is
# the same in every class: about -0.26 on the log-odds scale, an odds ratio of
# about 0.77.
model = BinomialRegressionMixture(best_k, shared=[True], n_init=30, random_state=0)
model.fit(X, y, groups=centre)
result = model.standard_errors(X, y, groups=centre)
for k in range(best_k):
    for j, term in enumerate(["(Intercept)", "Treated"]):
        estimate = model.intercept_[k] if j == 0 else model.coef_[k, 0]
        print(
            f"class {k} (weight {model.weights_[k]:.2f}) {term:12s} "
            f"{estimate:7.3f}  se {result['coef'][k, j]:.3f}  "
            f"z {result.z[k, j]:7.2f}  p {result.p_value[k, j]:.2g}"
        )
print(f"odds ratio of treatment: {np.exp(model.coef_[0, 0]):.3f}")

# %%
# Fitted and observed death rates
# -------------------------------
# Each centre is drawn at its observed control (left) and treated (right)
# death rate, coloured by its most probable class; the lines are the fitted
# rates of each class in both arms.
# A centre's class posterior multiplies its two arms' likelihoods.
probs = expit(model.intercept_[:, None] + model.coef_[:, :1] @ X.T)
log_pmf = binom.logpmf(y[:, 0], y.sum(axis=1), probs)
centre_log_joint = np.stack(
    [log_pmf[:, centre == c].sum(axis=1) for c in range(1, 23)]
) + np.log(model.weights_)
centre_class = centre_log_joint.argmax(axis=1)
fig, ax = plt.subplots(figsize=(6, 4))
colours = plt.cm.viridis(np.linspace(0, 0.9, best_k))
control, treated = rate[:22], rate[22:]
for c in range(22):
    ax.plot([0, 1], [control[c], treated[c]], color=colours[centre_class[c]], alpha=0.4)
for k in range(best_k):
    fitted = expit(model.intercept_[k] + model.coef_[k, 0] * np.array([0, 1]))
    ax.plot([0, 1], fitted, color=colours[k], lw=3, label=f"class {k}")
ax.set_xticks([0, 1], ["control", "treated"])
ax.set_ylabel("death rate")
ax.legend()
ax.set_title("Betablocker: observed arms and fitted class rates")
plt.show()
