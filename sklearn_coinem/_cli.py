"""Command line: the two-coins demo and ``fit COUNTS.csv`` for CSV users."""

import argparse
import contextlib
import csv
import io
import json
import math
import operator
import os
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklearn_coinem import (
    BinomialMixture,
    IdentifiabilityWarning,
    __version__,
    select_n_components,
)
from sklearn_coinem.datasets import load_coins

# Progress is only worth printing for fits that take a noticeable time.
_PROGRESS_DELAY = 1.0

_DELIMITERS = ",;\t"


class InputError(Exception):
    """A problem with a user's file, reported as one line and exit status 2."""

    def __init__(self, path, message, row=None, column=None):
        where = [f"row {row}"] if row is not None else []
        where += [f"column {column}"] if column is not None else []
        location = f"{', '.join(where)}: " if where else ""
        super().__init__(f"{path}: {location}{message}")


# --------------------------------------------------------------------- reading
def _parse_number(text):
    """Float value of a cell, or None when it is not a number."""
    try:
        return float(text)
    except ValueError:
        return None


def _guess_delimiter(text):
    """The most frequent of comma, semicolon and tab in the first non-blank line.

    Spreadsheets in many locales save "CSV" with semicolons; a comma wins ties.
    """
    first = next((line for line in text.splitlines() if line.strip()), "")
    return max(_DELIMITERS, key=first.count)


def _read_rows(path, delimiter):
    """Non-blank records of a CSV file as (row number, cells) pairs."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            text = file.read()
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, not a CSV file") from None
    except UnicodeDecodeError:
        raise InputError(path, "not a text (UTF-8) CSV file") from None
    except OSError as exc:
        raise InputError(path, exc.strerror or str(exc)) from None
    if delimiter is None:
        delimiter = _guess_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records = []
    try:
        for cells in reader:
            cells = list(map(str.strip, cells))
            if any(cells):
                records.append((reader.line_num, cells))
    except csv.Error as exc:
        raise InputError(path, str(exc), row=reader.line_num) from None
    return records


def _select_columns(path, header, n_columns, columns):
    """Indices (0-based) of the requested count columns.

    Names refer to the header; without a header, columns are numbered from 1.
    """
    if columns is None:
        return list(range(n_columns))
    indices = []
    for token in (token.strip() for token in columns.split(",")):
        if header is not None and token in header:
            indices.append(header.index(token))
        elif header is None and token.isdigit() and 1 <= int(token) <= n_columns:
            indices.append(int(token) - 1)
        else:
            known = (
                ", ".join(header)
                if header is not None
                else f"numbers 1 to {n_columns} (the file has no header)"
            )
            raise InputError(path, f"--columns: no column {token!r}; use {known}")
        if indices.count(indices[-1]) > 1:
            raise InputError(path, f"--columns: column {token!r} is given twice")
    return indices


def _parse_cell(path, row, column, text, first=False):
    """A validated non-negative finite count (``first``: in the first record)."""
    if not text:
        raise InputError(path, "empty cell", row, column)
    value = _parse_number(text)
    if value is None:
        if _parse_number(text.replace(",", ".")) is not None:
            hint = " (write decimals with a point)"
        elif first:
            hint = " (a header row must have no numeric cell)"
        else:
            hint = ""
        raise InputError(path, f"{text!r} is not a number{hint}", row, column)
    if not math.isfinite(value):
        raise InputError(path, f"{text!r} is not a finite number", row, column)
    if value < 0:
        raise InputError(path, f"negative count {text}", row, column)
    return value


def _convert_all(records, n_columns, indices):
    """The counts in one vectorised conversion; None if any row or cell is bad.

    The cell-by-cell checks then find and name the first bad cell.
    """
    if any(len(cells) != n_columns for _, cells in records):
        return None
    pick = operator.itemgetter(*indices)
    try:
        X = np.array([pick(cells) for _, cells in records], float)
    except ValueError:
        return None
    return X if np.isfinite(X).all() and (X >= 0).all() else None


def _convert_each(path, records, n_columns, indices):
    """The counts cell by cell, raising at the first bad row or cell."""
    X = np.empty((len(records), len(indices)))
    for i, (row, cells) in enumerate(records):
        if len(cells) != n_columns:
            column = min(len(cells), n_columns) + 1
            raise InputError(
                path, f"expected {n_columns} columns, got {len(cells)}", row, column
            )
        for j, index in enumerate(indices):
            X[i, j] = _parse_cell(path, row, index + 1, cells[index], i == 0)
    return X


def read_counts(path, *, columns=None, delimiter=None):
    """Read a count table from a CSV file, with or without a header row.

    The first non-blank record is a header when none of its cells is a
    number. Blank lines are skipped.

    Parameters
    ----------
    path : str
        The CSV file.

    columns : str, default=None
        Comma-separated names (or 1-based numbers, without a header) of the
        count columns; all columns when None.

    delimiter : str, default=None
        The field separator; None takes the most frequent of comma,
        semicolon and tab in the first non-blank line.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        The counts.

    names : list of str
        The names of the selected columns.

    rows : ndarray of shape (n_samples,)
        The 1-based row number of each data record in the file.

    Raises
    ------
    InputError
        With the file, row and column of the first problem.
    """
    records = _read_rows(path, delimiter)
    if not records:
        raise InputError(path, "the file is empty")
    header = None
    if all(_parse_number(cell) is None for cell in records[0][1]):
        header, records = records[0][1], records[1:]
    if not records:
        raise InputError(path, "no data rows after the header")
    n_columns = len(header) if header is not None else len(records[0][1])
    indices = _select_columns(path, header, n_columns, columns)
    if len(indices) < 2:
        raise InputError(
            path,
            f"need at least 2 count columns (e.g. heads,tails), got {len(indices)}",
        )
    X = _convert_all(records, n_columns, indices)
    if X is None:
        X = _convert_each(path, records, n_columns, indices)
    with np.errstate(over="ignore"):
        overflow = np.flatnonzero(~np.isfinite(X.sum(axis=1)))
    if overflow.size:
        row = records[overflow[0]][0]
        raise InputError(path, "the counts are too large to add up", row)
    if header is not None:
        names = [header[index] for index in indices]
    else:
        names = [f"column {index + 1}" for index in indices]
    return X, names, np.array([row for row, _ in records])


# -------------------------------------------------------------------- progress
class _DelayedStream:
    """Text stream that starts forwarding once ``delay`` seconds have passed.

    Lines written before then are held back and shown together as soon as the
    fit turns out to be long, so short fits stay silent.
    """

    def __init__(self, stream, delay):
        self.stream = stream
        self.deadline = time.monotonic() + delay
        self.pending = []

    def write(self, text):
        if self.pending is not None and time.monotonic() < self.deadline:
            self.pending.append(text)
            return len(text)
        if self.pending:
            self.stream.write("".join(self.pending))
        self.pending = None
        self.stream.write(text)
        self.stream.flush()
        return len(text)

    def flush(self):
        self.stream.flush()


# ------------------------------------------------------------------------- fit
def _fit(X, args):
    """Fit one K, or scan a range of K; progress goes to stderr.

    Returns the fitted model, the scan table (None without ``--k-range``)
    and the messages of the identifiability and convergence warnings.
    """
    params = {
        "max_iter": args.max_iter,
        "verbose": 0 if args.quiet else 2,
        "verbose_interval": 10,
    }
    delay = 0.0 if args.verbose else _PROGRESS_DELAY
    scan = None
    with (
        warnings.catch_warnings(record=True) as caught,
        contextlib.redirect_stdout(_DelayedStream(sys.stderr, delay)),
    ):
        warnings.simplefilter("always")
        if not args.quiet:
            ks = args.k_range or [args.n_components]
            print(
                f"fitting n_components={', '.join(map(str, ks))}, each with "
                f"{args.n_init} initialization{'s' * (args.n_init != 1)} "
                "(numbered from 0)"
            )
        if args.k_range is None:
            model = BinomialMixture(
                args.n_components,
                n_init=args.n_init,
                random_state=args.random_state,
                **params,
            ).fit(X)
        else:
            result = select_n_components(
                X,
                args.k_range,
                criterion=args.criterion,
                n_init=args.n_init,
                random_state=args.random_state,
                **params,
            )
            model, scan = result.best_estimator, result
    kinds = (IdentifiabilityWarning, ConvergenceWarning)
    messages = [str(w.message) for w in caught if issubclass(w.category, kinds)]
    return model, scan, messages


def _scan_report(result):
    """The table of a K scan as JSON-serialisable dictionaries."""
    columns = ["n_components", "log_likelihood", "aic", "bic", "icl"]
    columns += ["converged", "identifiable"]
    values = (np.asarray(result.table[name]).tolist() for name in columns)
    rows = [dict(zip(columns, row)) for row in zip(*values)]
    for row in rows:
        if math.isnan(row["log_likelihood"]):  # K > n_samples: not fitted
            row.update(log_likelihood=None, aic=None, bic=None, icl=None)
    return {
        "criterion": result.criterion,
        "selected": result.best_n_components,
        "rows": rows,
    }


def _fit_report(path, X, names, model, random_state, messages):
    """The fitted model as a JSON-serialisable dictionary."""
    return {
        "file": str(path),
        "n_samples": X.shape[0],
        "columns": names,
        "n_components": model.n_components,
        "n_init": model.n_init,
        "random_state": random_state,
        "weights": model.weights_.tolist(),
        "probs": model.probs_.tolist(),
        "log_likelihood": model.score(X) * X.shape[0],
        "aic": model.aic(X),
        "bic": model.bic(X),
        "icl": model.icl(X),
        "converged": model.converged_,
        "n_iter": model.n_iter_,
        "warnings": messages,
    }


def _format_scan(scan):
    """Human-readable table of a K scan, the selected K marked."""
    lines = [
        f"Number of components by {scan['criterion'].upper()} "
        "(smaller is better; * selected)",
        "    K  log-likelihood           AIC           BIC           ICL  note",
    ]
    for row in scan["rows"]:
        notes = [] if row["identifiable"] else ["not identifiable"]
        if row["log_likelihood"] is None:
            notes.append("not fitted: more components than rows")
        elif not row["converged"]:
            notes.append("not converged")
        values = "".join(
            f"{row[name]:>14.4f}" if row[name] is not None else f"{'-':>14}"
            for name in ("log_likelihood", "aic", "bic", "icl")
        )
        mark = "*" if row["n_components"] == scan["selected"] else " "
        line = f"{mark}{row['n_components']:>4}{values}  {', '.join(notes)}"
        lines.append(line.rstrip())
    return "\n".join(lines) + "\n"


def _format_report(report):
    """Human-readable text of a fit report."""
    names = report["columns"]
    lines = [
        f"BinomialMixture fit of {report['file']}",
        f"  {report['n_samples']} rows, count columns: {', '.join(names)}",
        f"  n_components={report['n_components']}, n_init={report['n_init']}, "
        f"random_state={report['random_state']}",
        "",
        "component  weight   " + "  ".join(f"P({name})" for name in names),
    ]
    for k, (weight, probs) in enumerate(zip(report["weights"], report["probs"])):
        cells = "  ".join(f"{p:>{len(name) + 3}.4f}" for p, name in zip(probs, names))
        lines.append(f"{k:>9}  {weight:.4f}   {cells}")
    status = "yes" if report["converged"] else "NO"
    n_iter = report["n_iter"]
    lines += [
        "",
        f"log-likelihood  {report['log_likelihood']:.4f}",
        f"AIC             {report['aic']:.4f}",
        f"BIC             {report['bic']:.4f}",
        f"ICL             {report['icl']:.4f}",
        f"converged       {status} ({n_iter} iteration{'s' * (n_iter != 1)})",
    ]
    lines += [f"warning: {message}" for message in report["warnings"]]
    return "\n".join(lines)


def _write_assignments(output, rows, model, X):
    """Write per-row posterior probabilities and the predicted component."""
    resp = model.predict_proba(X)
    header = ["row", *(f"posterior_{k}" for k in range(resp.shape[1])), "component"]
    table = np.column_stack([rows, resp, resp.argmax(axis=1)])
    try:
        with open(output, "w", newline="", encoding="utf-8") as file:
            np.savetxt(
                file,
                table,
                fmt=["%d", *["%.6g"] * resp.shape[1], "%d"],
                delimiter=",",
                header=",".join(header),
                comments="",
            )
    except OSError as exc:
        raise InputError(output, exc.strerror or str(exc)) from None


def _run_fit(args):
    """The ``fit`` sub-command."""
    X, names, rows = read_counts(
        args.counts, columns=args.columns, delimiter=args.delimiter
    )
    try:
        model, scan, messages = _fit(X, args)
    except ValueError as exc:
        raise InputError(args.counts, str(exc)) from None
    except MemoryError:
        raise InputError(
            args.counts, "not enough memory; try fewer components or --n-init"
        ) from None
    report = _fit_report(args.counts, X, names, model, args.random_state, messages)
    if scan is not None:
        report["scan"] = _scan_report(scan)
    if args.output is not None:
        _write_assignments(args.output, rows, model, X)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    if scan is not None:
        print(_format_scan(report["scan"]))
    print(_format_report(report))
    if args.output is not None:
        print(f"posterior probabilities written to {args.output}")
    return 0


# ------------------------------------------------------------------------ demo
def _demo(n_steps=10):
    """Print the textbook EM trajectory and the converged two-coins fit."""
    X = load_coins().data
    print("Two coins (Do & Batzoglou 2008): heads/tails of five experiments")
    print("  " + "  ".join(f"{h}/{t}" for h, t in X))
    print("\nEM from theta_A=0.6, theta_B=0.5, weights held at 1/2:")
    print(f"{'iter':>4}  {'theta_A':>8}  {'theta_B':>8}  {'log-lik':>10}")
    # One EM step per call: warm_start continues from the previous fit.
    model = BinomialMixture(
        2,
        probs_init=[[0.6, 0.4], [0.5, 0.5]],
        update_weights=False,
        algorithm="em",
        max_iter=1,
        tol=0,
        warm_start=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for n_iter in range(1, n_steps + 1):
            theta = model.fit(X).probs_[:, 0]
            loglik = model.score(X) * len(X)
            print(f"{n_iter:>4}  {theta[0]:>8.4f}  {theta[1]:>8.4f}  {loglik:>10.4f}")
    model = BinomialMixture(2, n_init=10, random_state=0).fit(X)
    print("\nConverged fit with free mixing weights (n_init=10):")
    print(f"  theta   = {np.round(model.probs_[:, 0], 4)}")
    print(f"  weights = {np.round(model.weights_, 4)}")
    print(f"  log-likelihood = {model.score(X) * len(X):.4f}")
    print(f"  converged = {model.converged_}, iterations = {model.n_iter_}")
    print(f"  P(coin A | row) = {np.round(model.predict_proba(X)[:, 0], 3)}")
    print("\nFit your own counts: python -m sklearn_coinem fit COUNTS.csv -k 2")
    return 0


# ---------------------------------------------------------------------- parser
def _int_in(text, low, high, expected):
    """``int(text)`` if within [low, high], else an argparse error."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def _positive_int(text):
    return _int_in(text, 1, math.inf, "a positive integer")


def _seed(text):
    return _int_in(text, 0, 2**32 - 1, "an integer from 0 to 2**32 - 1")


def _delimiter(text):
    value = {"\\t": "\t", "tab": "\t"}.get(text, text)
    if len(value) != 1 or value in '"\r\n':
        raise argparse.ArgumentTypeError(
            f"expected one character (or \\t or tab), got {text!r}"
        )
    return value


def _k_range(text):
    low, sep, high = text.partition(":")
    try:
        low, high = int(low), int(high)
    except ValueError:
        low = high = 0
    if not sep or not 1 <= low <= high:
        raise argparse.ArgumentTypeError(
            f"expected MIN:MAX with 1 <= MIN <= MAX, e.g. 1:6; got {text!r}"
        )
    return range(low, high + 1)


def _build_parser():
    parser = argparse.ArgumentParser(
        prog="sklearn-coinem",
        description="EM for mixtures of binomials and multinomials. Without "
        "arguments, runs the two-coins demo.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("demo", help="the two-coins demo (the default)")
    fit = commands.add_parser(
        "fit",
        help="fit a mixture to the counts of a CSV file",
        description="Fit a mixture to a CSV of counts, one row per experiment "
        "and one column per outcome (heads, tails; or the faces of a die). "
        "A header row is optional. Prints a report and optionally writes the "
        "posterior probabilities of each row.",
    )
    fit.add_argument("counts", metavar="COUNTS.csv", help="the count table")
    n_components = fit.add_mutually_exclusive_group(required=True)
    n_components.add_argument(
        "-k",
        "--n-components",
        type=_positive_int,
        help="number of mixture components (coins)",
    )
    n_components.add_argument(
        "--k-range",
        type=_k_range,
        metavar="MIN:MAX",
        help="fit every number of components from MIN to MAX and keep the "
        "best by --criterion",
    )
    fit.add_argument(
        "--criterion",
        choices=["bic", "aic", "icl"],
        default="bic",
        help="criterion of --k-range (default bic)",
    )
    fit.add_argument(
        "--n-init", type=_positive_int, default=10, help="restarts (default 10)"
    )
    fit.add_argument(
        "--max-iter", type=_positive_int, default=1000, help="default 1000"
    )
    fit.add_argument(
        "--columns",
        help="comma-separated count columns: header names, or numbers from 1 "
        "when the file has no header (default: all columns)",
    )
    fit.add_argument(
        "--delimiter",
        type=_delimiter,
        help="field separator (default: comma, semicolon or tab, whichever "
        "is most frequent in the first line)",
    )
    fit.add_argument("--random-state", type=_seed, help="seed")
    fit.add_argument(
        "-o",
        "--output",
        metavar="ASSIGNMENTS.csv",
        help="write per-row posterior probabilities and predicted component",
    )
    fit.add_argument("--json", action="store_true", help="print the report as JSON")
    progress = fit.add_mutually_exclusive_group()
    progress.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show progress on stderr from the start (default: only for "
        f"fits longer than {_PROGRESS_DELAY:g} s)",
    )
    progress.add_argument(
        "-q", "--quiet", action="store_true", help="never show progress"
    )
    return parser


def main(argv=None):
    """Entry point of ``python -m sklearn_coinem`` and ``sklearn-coinem``.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments; ``sys.argv[1:]`` when None.

    Returns
    -------
    status : int
        0 on success, 2 on bad usage or a bad input file.
    """
    args = _build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        status = _demo() if args.command in (None, "demo") else _run_fit(args)
        # Flushed here so that a closed pipe is caught below, not at exit.
        sys.stdout.flush()
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader (``| head``) left early: drop the rest of the output, as
        # the Python documentation advises, instead of a traceback at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return status
