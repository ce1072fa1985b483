"""Reference fits of R's flexmix 2.3-18 and mixtools 2.0.0 on betablocker.

Computed once (R 4.2.2, Debian bookworm packages r-cran-flexmix and
r-cran-mixtools, 2026-12-02) with the scripts ``FLEXMIX_SCRIPT`` and
``MIXTOOLS_SCRIPT`` below; the numbers are copied from their output.

``stepFlexmix`` keeps the best of ``nrep = 50`` random starts per K, each run
to a relative log-likelihood change of 1e-10, with ``minprior = 0`` so that no
component is dropped. The log-likelihoods include the binomial coefficients;
flexmix's BIC uses the 44 rows as the number of observations, also for the
grouped models. ``df`` counts the mixing weights, the intercepts and the
shared Treatment effect.

Components are listed by ascending intercept (the death rate of the control
arm); ``weights`` and ``intercept`` follow that order, ``treatment`` is the
shared log-odds ratio of the treated arm (or, for the "varying" model, one
per component).

A direct maximiser (scipy BFGS from 100-300 random starts of the full
likelihood) reached the same optima to 1e-8 in the log-likelihood for every
entry of ``GROUPED_TREATMENT`` and ``GROUPED_PLAIN``, for
``UNGROUPED_TREATMENT`` with K <= 3, and for ``UNGROUPED_PLAIN`` with K = 3
and 4. For the plain ungrouped mixture with K = 2 flexmix's best of 50 starts
is a local optimum: the maximum is ``UNGROUPED_PLAIN_K2_MAXIMUM``, 6.68 above.
"""

FLEXMIX_SCRIPT = """
library(flexmix)
data("betablocker", package = "flexmix")
set.seed(20261202)
ctrl <- list(tolerance = 1e-10, iter.max = 5000, minprior = 0)
bb <- betablocker
bb$y <- cbind(bb$Deaths, bb$Total - bb$Deaths)
grouped_treatment <- stepFlexmix(y ~ 1 | Center, data = bb, k = 1:4, nrep = 50,
  model = FLXMRglmfix(family = "binomial", fixed = ~ Treatment), control = ctrl)
ungrouped_treatment <- stepFlexmix(y ~ 1, data = bb, k = 1:4, nrep = 50,
  model = FLXMRglmfix(family = "binomial", fixed = ~ Treatment), control = ctrl)
ungrouped_plain <- stepFlexmix(y ~ 1, data = bb, k = 1:4, nrep = 50,
  model = FLXMRglm(family = "binomial"), control = ctrl)
grouped_plain <- stepFlexmix(y ~ 1 | Center, data = bb, k = 1:4, nrep = 50,
  model = FLXMRglm(family = "binomial"), control = ctrl)
# per K: f <- getModel(fits, which = as.character(K));
# logLik(f), BIC(f), prior(f), parameters(f)
set.seed(1)
varying <- stepFlexmix(y ~ Treatment, data = bb, k = 2:3, nrep = 50,
  model = FLXMRglm(family = "binomial"), control = ctrl)
"""

MIXTOOLS_SCRIPT = """
library(mixtools)
data("betablocker", package = "flexmix")
x <- as.numeric(betablocker$Treatment == "Treated")
set.seed(1)
# best loglik of 50 calls per K:
logisregmixEM(betablocker$Deaths, x, N = betablocker$Total, k = K,
              epsilon = 1e-10, maxit = 20000)
"""

#: ``y ~ 1 | Center`` with ``FLXMRglmfix(fixed = ~ Treatment)``: the issue's
#: model; both arms of a centre share one component.
GROUPED_TREATMENT = {
    1: {
        "loglik": -261.5956282854,
        "bic": 530.7596358386,
        "df": 2,
        "weights": [1.0],
        "intercept": [-2.19711176781],
        "treatment": -0.257373116688,
    },
    2: {
        "loglik": -181.3308234352,
        "bic": 377.7984054061,
        "df": 4,
        "weights": [0.698722655598, 0.301277344402],
        "intercept": [-2.39332020774, -1.64944615442],
        "treatment": -0.255340118431,
    },
    3: {
        "loglik": -159.3605196771,
        "bic": 341.4261771576,
        "df": 6,
        "weights": [0.239212090805, 0.511744802929, 0.249043106267],
        "intercept": [-2.83369047767, -2.25016289224, -1.6097102476],
        "treatment": -0.258176538549,
    },
    4: {
        "loglik": -155.7539041333,
        "bic": 341.7813253380,
        "df": 8,
        "weights": [0.239647054148, 0.481277790945, 0.0994226113376, 0.17965254357],
        "intercept": [-2.83338607384, -2.25789268504, -1.7870376223, -1.43961042862],
        "treatment": -0.258376156998,
    },
}

#: ``y ~ 1`` with ``FLXMRglmfix(fixed = ~ Treatment)``: arms independent.
UNGROUPED_TREATMENT = {
    1: GROUPED_TREATMENT[1],
    2: {
        "loglik": -188.4561699641,
        "bic": 392.0490984639,
        "df": 4,
        "weights": [0.645075141108, 0.354924858892],
        "intercept": [-2.41189956366, -1.68373899624],
        "treatment": -0.271891560143,
    },
    3: {
        "loglik": -168.7287226130,
        "bic": 360.1625830295,
        "df": 6,
        "weights": [0.202019386026, 0.490964818652, 0.307015795322],
        "intercept": [-2.93597194431, -2.24885953994, -1.619260739],
        "treatment": -0.318384786902,
    },
    4: {
        "loglik": -165.9746114567,
        "bic": 362.2227399846,
        "df": 8,
        "weights": [0.201879871564, 0.434197922008, 0.133499109864, 0.230423096564],
        "intercept": [-2.957547713, -2.300700999, -1.95353572445, -1.53981170437],
        "treatment": -0.252570254646,
    },
}

#: ``y ~ 1`` with ``FLXMRglm(family = "binomial")``: the plain binomial mixture.
UNGROUPED_PLAIN = {
    1: {
        "loglik": -275.2116669636,
        "bic": 554.2075235610,
        "df": 1,
        "weights": [1.0],
        "intercept": [-2.32275577329],
    },
    2: {
        "loglik": -200.0338932783,
        "bic": 411.4203554583,
        "df": 3,
        "weights": [0.545196701242, 0.454803298758],
        "intercept": [-2.63313744768, -1.93823010145],
    },
    3: {
        "loglik": -174.4104604980,
        "bic": 367.7418691657,
        "df": 5,
        "weights": [0.421826051291, 0.334647245295, 0.243526703414],
        "intercept": [-2.7242571812, -2.25143056369, -1.62413921644],
    },
    4: {
        "loglik": -168.2830205901,
        "bic": 363.0553686176,
        "df": 7,
        "weights": [0.0989053720872, 0.340147665888, 0.317942566525, 0.2430043955],
        "intercept": [-3.35079949845, -2.63203002585, -2.24239570493, -1.6236436199],
    },
}

#: ``y ~ 1 | Center`` with ``FLXMRglm(family = "binomial")``.
GROUPED_PLAIN = {
    1: UNGROUPED_PLAIN[1],
    2: {
        "loglik": -194.4160349562,
        "bic": 400.1846388141,
        "df": 3,
        "weights": [0.717866165045, 0.282133834955],
        "intercept": [-2.51347033236, -1.76136261018],
    },
    3: {
        "loglik": -172.8171150063,
        "bic": 364.5551781822,
        "df": 5,
        "weights": [0.238791637592, 0.517185595043, 0.244022767365],
        "intercept": [-2.9559190597, -2.37735930614, -1.72978927113],
    },
    4: {
        "loglik": -169.2180904157,
        "bic": 364.9255082687,
        "df": 7,
        "weights": [0.239162953119, 0.492825545976, 0.0882734572609, 0.179738043644],
        "intercept": [-2.95574260258, -2.38375743623, -1.90486756138, -1.56229397387],
    },
}

#: ``y ~ Treatment`` with ``FLXMRglm(family = "binomial")``: a Treatment effect
#: per component (flexmix prints 7 significant digits). mixtools'
#: ``logisregmixEM`` (best of 50) reaches the same log-likelihood: -187.8983974407
#: (K = 2) and -167.8565243414 (K = 3).
UNGROUPED_VARYING = {
    2: {
        "loglik": -187.8983974428,
        "bic": 394.7177430552,
        "df": 5,
        "weights": [0.6451894, 0.3548106],
        "intercept": [-2.4266535, -1.6457195],
        "treatment": [-0.2392109, -0.3516919],
    },
    3: {
        "loglik": -167.8565243425,
        "bic": 365.9865657563,
        "df": 8,
        "weights": [0.2008895, 0.5589407, 0.2401698],
        "intercept": [-2.9011301, -2.2585604, -1.59834504],
        "treatment": [-0.4462776, -0.2244684, -0.07675891],
    },
}

#: The maximum for ``UNGROUPED_PLAIN`` with K = 2, by scipy BFGS from 100
#: random starts (``scipy.optimize.minimize`` of the negative log-likelihood in
#: the intercepts and the log-odds of the weights; 6 digits).
UNGROUPED_PLAIN_K2_MAXIMUM = {
    "loglik": -193.35056264503,
    "weights": [0.719069, 0.280931],
    "intercept": [-2.503836, -1.663493],
}

#: ``summary(refit(m))`` of the grouped K = 3 fit (flexmix's standard errors
#: from the Hessian of the full likelihood, by ``optim``):
#:
#: .. code-block:: R
#:
#:     set.seed(20261202)
#:     m <- stepFlexmix(y ~ 1 | Center, data = bb, k = 3, nrep = 20,
#:       model = FLXMRglmfix(family = "binomial", fixed = ~ Treatment),
#:       control = ctrl)
#:     r <- refit(m); sqrt(diag(r@vcov))
#:
#: Intercept standard errors by ascending intercept, as ``GROUPED_TREATMENT``.
GROUPED_TREATMENT_K3_REFIT = {
    "intercept_se": [0.07507902901, 0.04052856532, 0.05573413981],
    "treatment_se": 0.04990105198,
    "treatment_z": -5.1738,
}
