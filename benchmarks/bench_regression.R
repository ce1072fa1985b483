# Time one flexmix start of a mixture of binomial (logistic) regressions.
#
# Usage: Rscript bench_regression.R DATA.csv K [TOLERANCE] [SEED]
#
# DATA.csv has the columns s, f (successes, failures) and x1, x2, ... (the
# covariates); the benchmark in Python writes it, runs this script and reads
# the one line it prints:
#   flexmix seconds=<elapsed> loglik=<log-likelihood> iter=<EM iterations> k=<kept>
# The log-likelihood includes the binomial coefficients, as in
# sklearn_coinem's score. minprior = 0 keeps every component.
suppressPackageStartupMessages(library(flexmix))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
k <- as.integer(args[2])
tolerance <- if (length(args) >= 3) as.numeric(args[3]) else 1e-8
seed <- if (length(args) >= 4) as.integer(args[4]) else 0L
covariates <- grep("^x", names(data), value = TRUE)
formula <- as.formula(paste("cbind(s, f) ~", paste(covariates, collapse = " + ")))
set.seed(seed)
elapsed <- system.time(
  fit <- flexmix(formula, data = data, k = k,
                 model = FLXMRglm(family = "binomial"),
                 control = list(tolerance = tolerance, iter.max = 5000, minprior = 0))
)[["elapsed"]]
cat(sprintf("flexmix seconds=%.4f loglik=%.10f iter=%d k=%d\n",
            elapsed, as.numeric(logLik(fit)), fit@iter, fit@k))
