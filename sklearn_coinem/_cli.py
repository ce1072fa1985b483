"""Command line: the two-coins demo and ``fit COUNTS.csv`` for CSV users."""

import argparse
import csv
import dataclasses
import io
import json
import math
import operator
import os
import sys
import warnings

import numpy as np
from scipy.special import gammaln
from sklearn.exceptions import ConvergenceWarning

from sklearn_coinem import (
    BetaBinomialMixture,
    BinomialMixture,
    FitMonitor,
    IdentifiabilityWarning,
    __version__,
    monitor_fits,
    select_n_components,
)
from sklearn_coinem._counts import _first_invalid, check_trials_columns
from sklearn_coinem.datasets import load_coins

_DELIMITERS = ",;\t"

# The component families of ``--family``, by the name the reports print.
FAMILIES = {"binomial": BinomialMixture, "beta-binomial": BetaBinomialMixture}

# The file name ``-`` means standard input (``fit -``) or output (``-o -``).
STDIO = "-"
_STDIN_NAME = "<stdin>"

# Exit statuses: bad usage or input, and interrupted (128 + SIGINT).
_STATUS_ERROR = 2
_STATUS_INTERRUPTED = 130


class InputError(Exception):
    """A problem with a user's file, reported as one line and exit status 2."""

    def __init__(self, path, message, row=None, column=None):
        where = [f"row {row}"] if row is not None else []
        where += [f"column {column}"] if column is not None else []
        location = f"{', '.join(where)}: " if where else ""
        super().__init__(f"{path}: {location}{message}")


class UsageError(Exception):
    """A bad command line, reported as one line and exit status 2."""


class OutputError(Exception):
    """Standard output cannot be written (closed, full or a broken pipe)."""


# ------------------------------------------------------------------- streams
def _silence(stream):
    """Point the file descriptor of a failed stream at the null device.

    What it still buffers then goes nowhere at exit, instead of a second
    error (and exit status 120) when Python flushes it.
    """
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    except (AttributeError, OSError, ValueError):
        pass  # not a real file (a test's capture), or already unusable


def _write_stdout(text):
    """Write and flush ``text`` on standard output, or raise OutputError."""
    if sys.stdout is None:
        raise OutputError("standard output is closed")
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as exc:
        _silence(sys.stdout)
        reason = "a broken pipe" if isinstance(exc, BrokenPipeError) else exc.strerror
        raise OutputError(f"cannot write to standard output ({reason})") from None


class _Stderr:
    """Standard error that gives up quietly once it is closed or broken.

    Progress and messages are extras: losing them must not stop the fit or
    the report on standard output.
    """

    def __init__(self):
        self.alive = sys.stderr is not None

    def write_line(self, text):
        if not self.alive:
            return
        try:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            self.alive = False
            _silence(sys.stderr)


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


def _read_text(path):
    """The text of a file, or of standard input for ``-``."""
    name = _STDIN_NAME if path == STDIO else path
    try:
        if path != STDIO:
            with open(path, "rb") as file:
                data = file.read()
        elif sys.stdin is None:
            raise InputError(name, "standard input is closed")
        else:
            data = getattr(sys.stdin, "buffer", sys.stdin).read()
        if isinstance(data, str):  # a text-only stream (no bytes buffer)
            return data.removeprefix("\ufeff")
        return data.decode("utf-8-sig")
    except FileNotFoundError:
        raise InputError(name, "no such file") from None
    except IsADirectoryError:
        raise InputError(name, "is a directory, not a CSV file") from None
    except UnicodeDecodeError:
        raise InputError(name, "not a text (UTF-8) CSV file") from None
    except OSError as exc:
        raise InputError(name, exc.strerror or str(exc)) from None


def _blank_comments(text):
    """``text`` with its comment lines (first non-blank character ``#``) blanked.

    Blanking, rather than removing, keeps the row numbers of the file.
    """
    return "".join(
        "\n" if line.lstrip().startswith("#") else line
        for line in io.StringIO(text, newline="")
    )


def _read_rows(name, text, delimiter):
    """Non-blank, non-comment records of CSV text as (row number, cells) pairs."""
    text = _blank_comments(text)
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
        raise InputError(name, str(exc), row=reader.line_num) from None
    return records


def _split_header(name, records, header):
    """(header cells or None, data records), by ``header`` (None: detect).

    Detection takes the first record as a header when none of its cells is a
    number; it warns when an all-number first record reads 1, 2, ..., C
    (C >= 3: dice faces named by number), which it keeps as data.
    """
    first_row, first = records[0]
    if header is None:
        header = all(_parse_number(cell) is None for cell in first)
        values = [_parse_number(cell) for cell in first]
        if len(first) >= 3 and values == list(range(1, len(first) + 1)):
            warnings.warn(
                f"{name}: row {first_row} ({','.join(first)}) is read as data, "
                "but looks like a header naming the columns by number; pass "
                "--header if it is one (--no-header reads it as data without "
                "this warning)",
                UserWarning,
                stacklevel=2,
            )
    if not header:
        return None, records
    if len(records) == 1:
        raise InputError(name, "no data rows after the header")
    return first, records[1:]


def _column_index(name, header, n_columns, token, option):
    """The 0-based index of the column ``token`` names (a header name or 1..)."""
    token = token.strip()
    if header is not None and token in header:
        return header.index(token)
    if header is None and token.isdigit() and 1 <= int(token) <= n_columns:
        return int(token) - 1
    known = (
        ", ".join(header)
        if header is not None
        else f"numbers 1 to {n_columns} (the file has no header)"
    )
    raise InputError(name, f"{option}: no column {token!r}; use {known}")


def _column_indices(name, header, n_columns, tokens, option):
    """Indices of the columns named by ``tokens``, each at most once."""
    indices = []
    for token in tokens:
        indices.append(_column_index(name, header, n_columns, token, option))
        if indices.count(indices[-1]) > 1:
            raise InputError(name, f"{option}: column {token.strip()!r} is given twice")
    return indices


def _select_columns(name, header, n_columns, columns, successes, trials, ids):
    """Indices of the count columns and of the identifier columns.

    The counts are ``successes, trials``, else ``columns``, else all columns
    but ``ids``; the identifiers are ``ids``, else all other columns.
    """
    id_indices = _column_indices(name, header, n_columns, ids or [], "--id")
    if successes is not None:
        tokens, option = [successes, trials], "--successes/--trials"
        indices = _column_indices(name, header, n_columns, tokens, option)
    elif columns is not None:
        tokens = columns.split(",")
        indices = _column_indices(name, header, n_columns, tokens, "--columns")
    else:
        indices = [j for j in range(n_columns) if j not in id_indices]
    if len(indices) < 2:
        raise InputError(
            name,
            f"need at least 2 count columns (e.g. heads,tails), got {len(indices)}",
        )
    if ids is None:
        id_indices = [j for j in range(n_columns) if j not in indices]
    return indices, id_indices


def _parse_cell(name, row, column, text, hint):
    """A validated non-negative finite count; ``hint`` follows a non-number."""
    if not text:
        raise InputError(name, "empty cell", row, column)
    value = _parse_number(text)
    if value is None:
        if _parse_number(text.replace(",", ".")) is not None:
            hint = " (write decimals with a point)"
        raise InputError(name, f"{text!r} is not a number{hint}", row, column)
    if not math.isfinite(value):
        raise InputError(name, f"{text!r} is not a finite number", row, column)
    if value < 0:
        raise InputError(name, f"negative count {text}", row, column)
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


def _convert_each(name, records, n_columns, indices, header_hint):
    """The counts cell by cell, raising at the first bad row or cell.

    ``header_hint``: whether the first record may be a header that detection
    read as data (then its bad cell suggests ``--header``).
    """
    X = np.empty((len(records), len(indices)))
    for i, (row, cells) in enumerate(records):
        if len(cells) != n_columns:
            column = min(len(cells), n_columns) + 1
            raise InputError(
                name, f"expected {n_columns} columns, got {len(cells)}", row, column
            )
        hint = (
            " (a header row must have no numeric cell; or pass --header)"
            if header_hint and i == 0
            else ""
        )
        for j, index in enumerate(indices):
            X[i, j] = _parse_cell(name, row, index + 1, cells[index], hint)
    return X


def _check_magnitudes(name, X, rows):
    """Raise, naming the counts, when the likelihood of X overflows float64.

    A row total or its log-factorial beyond float64 makes the row's
    multinomial coefficient NaN; so do overflowing sums over the rows of the
    totals or of the log-coefficients.
    """
    with np.errstate(over="ignore"):
        totals = X.sum(axis=1)
        log_factorials = gammaln(totals + 1)
        for values, message in [
            (totals, "the counts are too large to add up"),
            (
                log_factorials,
                "the counts are too large: the log-factorial of the row total "
                "(in the multinomial coefficient) overflows float64",
            ),
        ]:
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                raise InputError(name, message, rows[bad[0]])
        if not np.isfinite(totals.sum()):
            raise InputError(
                name,
                "the counts are too large: their sum over all rows overflows float64",
            )
        # A coefficient lies between 0 and the log-factorial of the total, so
        # the exact sum is needed only when the log-factorials overflow.
        if not np.isfinite(log_factorials.sum()):
            log_coefs = log_factorials - gammaln(X + 1).sum(axis=1)
            if not np.isfinite(log_coefs.sum()):
                raise InputError(
                    name,
                    "the counts are too large: the sum of the rows' log "
                    "multinomial coefficients overflows float64",
                )


def _trials_counts(name, X, rows, columns):
    """[successes, failures] of the (successes, trials) columns of X."""
    invalid = _first_invalid(X[:, 0], X[:, 1])
    if invalid is not None:
        i, message = invalid
        column = columns[1] if message.startswith("trials") else columns[0]
        raise InputError(name, message, rows[i], column)
    successes, trials = np.rint(X[:, 0]), np.rint(X[:, 1])
    return np.column_stack([successes, trials - successes])


@dataclasses.dataclass
class CountTable:
    """The counts of a CSV file and what identifies its rows.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features)
        The counts.
    names : list of str
        The names of the count columns.
    rows : ndarray of shape (n_samples,)
        The 1-based row number of each data record in the file.
    id_names : list of str
        The names of the identifier columns (the input's other columns).
    ids : list of list of str
        The identifier cells of each data record.
    """

    X: np.ndarray
    names: list
    rows: np.ndarray
    id_names: list
    ids: list


def read_counts(
    path,
    *,
    columns=None,
    delimiter=None,
    header=None,
    successes=None,
    trials=None,
    ids=None,
):
    """Read a count table from a CSV file, with or without a header row.

    Blank lines and comment lines (starting with ``#``) are skipped.

    Parameters
    ----------
    path : str
        The CSV file; ``-`` reads standard input.
    columns : str, default=None
        Comma-separated names (or 1-based numbers, without a header) of the
        count columns; all columns but ``ids`` when None.
    delimiter : str, default=None
        The field separator; None takes the most frequent of comma,
        semicolon and tab in the first non-blank line.
    header : bool, default=None
        Whether the first record is a header; None detects it: a header has
        no numeric cell.
    successes, trials : str, default=None
        Columns of successes and of trials, instead of ``columns``: the counts
        are then successes and failures (trials minus successes).
    ids : list of str, default=None
        The identifier columns; all other columns when None.

    Returns
    -------
    table : CountTable
        The counts, their names, row numbers and identifiers.

    Raises
    ------
    InputError
        With the file, row and column of the first problem.
    """
    name = _STDIN_NAME if path == STDIO else path
    records = _read_rows(name, _read_text(path), delimiter)
    if not records:
        raise InputError(name, "the file is empty")
    header_cells, records = _split_header(name, records, header)
    n_columns = len(header_cells or records[0][1])
    indices, id_indices = _select_columns(
        name, header_cells, n_columns, columns, successes, trials, ids
    )
    X = _convert_all(records, n_columns, indices)
    if X is None:
        hint = header is None and header_cells is None
        X = _convert_each(name, records, n_columns, indices, hint)
    rows = np.array([row for row, _ in records])
    labels = header_cells or [f"column {j + 1}" for j in range(n_columns)]
    names = [labels[j] for j in indices]
    if successes is not None:
        X = _trials_counts(name, X, rows, [j + 1 for j in indices])
        names = [names[0], f"{names[1]} - {names[0]}"]
    _check_magnitudes(name, X, rows)
    id_cells = [[cells[j] for j in id_indices] for _, cells in records]
    return CountTable(X, names, rows, [labels[j] for j in id_indices], id_cells)


# -------------------------------------------------------------------- progress
class _Progress(FitMonitor):
    """One line per fitted K and restart on standard error.

    The total log-likelihood is the per-sample objective times the number of
    rows: comparable between values of K, whatever the machine's speed.
    """

    def __init__(self, stderr, name_family=False):
        self.stderr = stderr
        self.name_family = name_family

    def fit_started(self, estimator, n_runs, total_weight):
        self._n_components = estimator.n_components
        self._n_runs = n_runs
        self._total_weight = total_weight
        self._prefix = f"{_family_name(estimator)} " if self.name_family else ""
        # Beta-binomial restarts at the same binomial maximum run once.
        n_init = getattr(estimator, "n_init", n_runs)
        self._merged = (
            f" ({n_init} restarts at {n_runs} distinct binomial maxima)"
            if n_runs < n_init
            else ""
        )

    def run_finished(self, run, n_iter, objective, converged):
        status = "converged" if converged else "not converged"
        self.stderr.write_line(
            f"{self._prefix}K={self._n_components} restart {run + 1}/{self._n_runs}: "
            f"log-likelihood {objective * self._total_weight:.2f} "
            f"({status}, {n_iter} iteration{'s' * (n_iter != 1)}){self._merged}"
        )


# ------------------------------------------------------------------------- fit
def _k_text(ks):
    """``2`` or ``1 to 6``: the values of K to fit."""
    return f"{ks[0]}" if len(ks) == 1 else f"{ks[0]} to {ks[-1]}"


def _bound_k_range(name, X, k_range):
    """``k_range`` cut to the number of distinct rows, and why (or None).

    With as many components as distinct rows every row has its own: more
    cannot raise the likelihood.
    """
    n_distinct = len(np.unique(X, axis=0)) if k_range[-1] > 1 else 1
    if k_range[0] > n_distinct:
        raise InputError(
            name,
            f"--k-range {k_range[0]}:{k_range[-1]}: K cannot exceed the number "
            f"of distinct rows ({n_distinct})",
        )
    if k_range[-1] <= n_distinct:
        return k_range, None
    message = (
        f"--k-range {k_range[0]}:{k_range[-1]} is cut to {k_range[0]}:{n_distinct}: "
        f"K cannot exceed the number of distinct rows ({n_distinct})"
    )
    return range(k_range[0], n_distinct + 1), message


def _family_name(estimator):
    """The ``--family`` name of a fitted or prototype estimator."""
    return next(name for name, cls in FAMILIES.items() if type(estimator) is cls)


def _fit(X, args, k_range, stderr):
    """Fit one K, or scan K and the families; progress goes to stderr.

    Returns the fitted model, the scan (None for ``-k`` with one family) and
    the messages of the identifiability and convergence warnings.
    """
    families = args.family
    progress = FitMonitor() if args.quiet else _Progress(stderr, len(families) > 1)
    ks = k_range or [args.n_components]
    if not args.quiet:
        stderr.write_line(
            f"fitting {' and '.join(families)} mixtures with "
            f"n_components={_k_text(ks)}, each with {args.n_init} "
            f"restart{'s' * (args.n_init != 1)}"
        )
    params = {"max_iter": args.max_iter, "n_init": args.n_init}
    params["random_state"] = args.random_state
    kinds = (IdentifiabilityWarning, ConvergenceWarning)
    scans, messages = {}, []
    for family in families:
        with warnings.catch_warnings(record=True) as caught, monitor_fits(progress):
            warnings.simplefilter("always")
            if k_range is None and len(families) == 1:
                model = FAMILIES[family](args.n_components, **params).fit(X)
            else:
                scans[family] = select_n_components(
                    X,
                    ks,
                    criterion=args.criterion,
                    estimator=FAMILIES[family](),
                    **params,
                )
        prefix = f"{family}: " if len(families) > 1 else ""
        messages += [
            prefix + str(w.message) for w in caught if issubclass(w.category, kinds)
        ]
    if not scans:
        return model, None, messages
    scan = _scan_report(scans, args.criterion)
    model = scans[scan["selected_family"]].estimators[scan["selected"]]
    return model, scan, messages


def _scan_report(scans, criterion):
    """The table of a scan over K and families, and its choice, for the report.

    The choice minimises ``criterion`` over the rows of every family, rows
    that the data can identify first, as within one family.
    """
    columns = ["n_components", "log_likelihood", "aic", "bic", "icl"]
    columns += ["converged", "identifiable"]
    rows = []
    for family, result in scans.items():
        values = (np.asarray(result.table[name]).tolist() for name in columns)
        rows += [{"family": family, **dict(zip(columns, row))} for row in zip(*values)]
    scores = np.array([row[criterion] for row in rows], dtype=float)
    candidates = np.isfinite(scores) & [row["identifiable"] for row in rows]
    if not candidates.any():
        candidates = np.isfinite(scores)
    best = rows[np.flatnonzero(candidates)[np.argmin(scores[candidates])]]
    return {
        "criterion": criterion,
        "selected": best["n_components"],
        "selected_family": best["family"],
        "rows": rows,
    }


def _fit_report(name, table, model, random_state, messages):
    """The fitted model as a JSON-serialisable dictionary."""
    X = table.X
    report = {
        "file": str(name),
        "family": _family_name(model),
        "n_samples": X.shape[0],
        "columns": table.names,
        "n_components": model.n_components,
        "n_init": model.n_init,
        "random_state": random_state,
        "weights": model.weights_.tolist(),
        "probs": model.probs_.tolist(),
    }
    if hasattr(model, "precision_"):
        report["precision"] = model.precision_.tolist()
        report["icc"] = (1 / (1 + model.precision_)).tolist()
    return report | {
        "log_likelihood": model.score(X) * X.shape[0],
        "aic": model.aic(X),
        "bic": model.bic(X),
        "icl": model.icl(X),
        "converged": model.converged_,
        "n_iter": model.n_iter_,
        "warnings": messages,
    }


def _format_scan(scan):
    """Human-readable table of a scan, the selected family and K marked."""
    width = max(len("family"), *(len(row["family"]) for row in scan["rows"]))
    lines = [
        f"Number of components by {scan['criterion'].upper()} "
        "(smaller is better; * selected)",
        f"  {'family':<{width}}     K  log-likelihood           AIC           BIC"
        "           ICL  note",
    ]
    for row in scan["rows"]:
        notes = [] if row["identifiable"] else ["not identifiable"]
        notes += [] if row["converged"] else ["not converged"]
        values = "".join(
            f"{row[name]:>14.4f}" for name in ("log_likelihood", "aic", "bic", "icl")
        )
        selected = (row["family"], row["n_components"]) == (
            scan["selected_family"],
            scan["selected"],
        )
        mark = "*" if selected else " "
        line = (
            f"{mark} {row['family']:<{width}}  {row['n_components']:>4}{values}  "
            f"{', '.join(notes)}"
        )
        lines.append(line.rstrip())
    return "\n".join(lines) + "\n"


def _format_components(report):
    """The lines of the component table: weight, probabilities, precision."""
    names = report["columns"]
    header = "component  weight   " + "  ".join(f"P({name})" for name in names)
    precision = report.get("precision")
    if precision is not None:
        header += "   precision         ICC"
    lines = [header]
    for k, (weight, probs) in enumerate(zip(report["weights"], report["probs"])):
        cells = "  ".join(f"{p:>{len(name) + 3}.4f}" for p, name in zip(probs, names))
        line = f"{k:>9}  {weight:.4f}   {cells}"
        if precision is not None:
            line += f"  {precision[k]:>10.4g}  {report['icc'][k]:>10.4g}"
        lines.append(line)
    return lines


def _format_report(report):
    """Human-readable text of a fit report."""
    lines = [
        f"{FAMILIES[report['family']].__name__} fit of {report['file']}",
        f"  {report['n_samples']} rows, count columns: {', '.join(report['columns'])}",
        f"  n_components={report['n_components']}, n_init={report['n_init']}, "
        f"random_state={report['random_state']}",
        "",
        *_format_components(report),
    ]
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
    return "\n".join(lines) + "\n"


def _report_text(report, as_json):
    """The report as JSON or as text (the scan table first)."""
    if as_json:
        return json.dumps(report, indent=2) + "\n"
    text = _format_scan(report["scan"]) + "\n" if "scan" in report else ""
    return text + _format_report(report)


def _assignments_text(table, model):
    """The assignments CSV: identifiers, posteriors, component and family.

    The identifiers are the input's other columns, or else the 0-based index
    of each data row, so that the file joins back to the data. The family
    column names the fitted family on every row, so that files of several
    runs stay apart when concatenated.
    """
    resp = model.predict_proba(table.X)
    posteriors = [f"posterior_{k}" for k in range(resp.shape[1])]
    numbers = io.StringIO()
    np.savetxt(numbers, resp, fmt="%.6g", delimiter=",")
    id_names, ids = table.id_names, table.ids
    if not id_names:
        id_names, ids = ["index"], ([str(i)] for i in range(len(resp)))
    family = _family_name(model)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*id_names, *posteriors, "component", "family"])
    writer.writerows(
        [*row_ids, *line.split(","), k, family]
        for row_ids, line, k in zip(
            ids, numbers.getvalue().splitlines(), resp.argmax(axis=1)
        )
    )
    return out.getvalue()


def _write_file(path, text):
    """Write ``text`` to the file ``path``, or raise InputError."""
    try:
        with open(path, "w", newline="", encoding="utf-8") as file:
            file.write(text)
    except OSError as exc:
        raise InputError(path, exc.strerror or str(exc)) from None


def _read_input(args):
    """The count table and the warnings about it, as report lines."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        table = read_counts(
            args.counts,
            columns=args.columns,
            delimiter=args.delimiter,
            header=args.header,
            successes=args.successes,
            trials=args.trials,
            ids=args.id,
        )
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    if args.successes is None:
        # Without a header the names ("column 1") match no rule of their own.
        trials_message = check_trials_columns(table.X, table.names)
        if trials_message is not None:
            messages.append(trials_message)
    return table, messages


def _run_fit(args, stderr):
    """The ``fit`` sub-command."""
    name = _STDIN_NAME if args.counts == STDIO else args.counts
    if sys.stdout is None:
        raise OutputError("standard output is closed")
    table, messages = _read_input(args)
    k_range = args.k_range
    if k_range is not None:
        k_range, cut = _bound_k_range(name, table.X, k_range)
        messages += [cut] if cut else []
    try:
        model, scan, fit_messages = _fit(table.X, args, k_range, stderr)
    except ValueError as exc:
        raise InputError(name, str(exc)) from None
    except MemoryError:
        raise InputError(
            name, "not enough memory; try fewer components or --n-init"
        ) from None
    report = _fit_report(name, table, model, args.random_state, messages + fit_messages)
    if scan is not None:
        report["scan"] = scan
    text = _report_text(report, args.json)
    if args.output == STDIO:
        # The assignments are the standard output; the report moves aside.
        _write_stdout(_assignments_text(table, model))
        for line in text.splitlines():
            stderr.write_line(line)
        return 0
    if args.output is not None:
        _write_file(args.output, _assignments_text(table, model))
        if not args.json:
            text += f"posterior probabilities written to {args.output}\n"
    _write_stdout(text)
    return 0


# ------------------------------------------------------------------------ demo
def _demo(n_steps=10):
    """The textbook EM trajectory and the converged two-coins fit, as text."""
    X = load_coins().data
    lines = [
        "Two coins (Do & Batzoglou 2008): heads/tails of five experiments",
        "  " + "  ".join(f"{h}/{t}" for h, t in X),
        "\nEM from theta_A=0.6, theta_B=0.5, weights held at 1/2:",
        f"{'iter':>4}  {'theta_A':>8}  {'theta_B':>8}  {'log-lik':>10}",
    ]
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
            lines.append(
                f"{n_iter:>4}  {theta[0]:>8.4f}  {theta[1]:>8.4f}  {loglik:>10.4f}"
            )
    model = BinomialMixture(2, n_init=10, random_state=0).fit(X)
    lines += [
        "\nConverged fit with free mixing weights (n_init=10):",
        f"  theta   = {np.round(model.probs_[:, 0], 4)}",
        f"  weights = {np.round(model.weights_, 4)}",
        f"  log-likelihood = {model.score(X) * len(X):.4f}",
        f"  converged = {model.converged_}, iterations = {model.n_iter_}",
        f"  P(coin A | row) = {np.round(model.predict_proba(X)[:, 0], 3)}",
        "\nFit your own counts: python -m sklearn_coinem fit COUNTS.csv -k 2",
    ]
    _write_stdout("\n".join(lines) + "\n")
    return 0


# ---------------------------------------------------------------------- parser
class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (UsageError), not usage."""

    def error(self, message):
        raise UsageError(f"{message} (see {self.prog} --help)")


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


def _families(text):
    """The distinct family names of a comma-separated list, or of ``all``."""
    names = [name.strip() for name in text.split(",")]
    if names == ["all"]:
        return list(FAMILIES)
    if not all(name in FAMILIES for name in names):
        raise argparse.ArgumentTypeError(
            f"expected {', '.join(FAMILIES)}, a comma-separated list of them or "
            f"all; got {text!r}"
        )
    return list(dict.fromkeys(names))


def _add_input_options(fit):
    """The options that say how to read the CSV file."""
    fit.add_argument(
        "counts", metavar="COUNTS.csv", help="the count table; - reads standard input"
    )
    fit.add_argument(
        "--columns",
        help="comma-separated count columns: header names, or numbers from 1 "
        "when the file has no header (default: all columns but --id)",
    )
    fit.add_argument(
        "--successes",
        metavar="COLUMN",
        help="column of successes, with --trials: the counts are the "
        "successes and the failures (trials - successes)",
    )
    fit.add_argument(
        "--trials", metavar="COLUMN", help="column of trials, with --successes"
    )
    fit.add_argument(
        "--id",
        action="append",
        metavar="COLUMN",
        help="identifier column copied to --output (repeatable; default: the "
        "columns that are not counts, else the 0-based row index)",
    )
    fit.add_argument(
        "--header",
        action=argparse.BooleanOptionalAction,
        help="whether the first row is a header (default: it is when none "
        "of its cells is a number)",
    )
    fit.add_argument(
        "--delimiter",
        type=_delimiter,
        help="field separator (default: comma, semicolon or tab, whichever "
        "is most frequent in the first line)",
    )


def _add_model_options(fit):
    """The options of the mixture and its fit."""
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
        help="fit every number of components from MIN to MAX (at most the "
        "number of distinct rows) and keep the best by --criterion",
    )
    fit.add_argument(
        "--family",
        type=_families,
        default=["binomial"],
        metavar="FAMILY[,FAMILY]",
        help="component family: binomial (multinomial for more than two "
        "columns), beta-binomial (overdispersed; Dirichlet-multinomial for "
        "more than two columns), a comma-separated list or all to compare "
        "them in one table by --criterion (default binomial)",
    )
    fit.add_argument(
        "--criterion",
        choices=["bic", "aic", "icl"],
        default="bic",
        help="criterion of --k-range and of several families (default bic)",
    )
    fit.add_argument(
        "--n-init", type=_positive_int, default=10, help="restarts (default 10)"
    )
    fit.add_argument(
        "--max-iter", type=_positive_int, default=1000, help="default 1000"
    )
    fit.add_argument(
        "--random-state",
        type=_seed,
        default=0,
        help="seed of the restarts (default 0: reruns print the same report)",
    )


def _build_parser():
    parser = _Parser(
        prog="sklearn-coinem",
        description="EM for mixtures of binomials and multinomials, or of "
        "their overdispersed kin (beta-binomial, Dirichlet-multinomial). Without "
        "arguments, runs the two-coins demo.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("demo", help="the two-coins demo (the default)")
    fit = commands.add_parser(
        "fit",
        help="fit a mixture to the counts of a CSV file",
        description="Fit a mixture to a CSV of counts, one row per experiment "
        "and one column per outcome (heads, tails; or the faces of a die), "
        "or columns of successes and trials. A header row is optional. Prints "
        "a report and optionally writes the posterior probabilities of each row.",
    )
    _add_input_options(fit)
    _add_model_options(fit)
    fit.add_argument(
        "-o",
        "--output",
        metavar="ASSIGNMENTS.csv",
        help="write per-row identifiers, posterior probabilities and predicted "
        "component; - writes them to standard output (the report then goes "
        "to standard error)",
    )
    fit.add_argument("--json", action="store_true", help="print the report as JSON")
    fit.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress (default: one line per K and restart on standard error)",
    )
    return parser


def _parse_args(argv):
    """The parsed command line, or UsageError."""
    args = _build_parser().parse_args(argv)
    if args.command == "fit" and (args.successes is None) != (args.trials is None):
        raise UsageError("--successes and --trials go together (see --help)")
    if args.command == "fit" and args.successes is not None and args.columns:
        raise UsageError("--columns cannot be combined with --successes/--trials")
    return args


def main(argv=None):
    """Entry point of ``python -m sklearn_coinem`` and ``sklearn-coinem``.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments; ``sys.argv[1:]`` when None.

    Returns
    -------
    status : int
        0 on success; 2 on bad usage, a bad input file or an output that
        cannot be written (one ``error:`` line on standard error); 130 when
        interrupted (Ctrl-C).
    """
    stderr = _Stderr()
    try:
        args = _parse_args(sys.argv[1:] if argv is None else argv)
        if args.command in (None, "demo"):
            return _demo()
        return _run_fit(args, stderr)
    except (InputError, UsageError, OutputError) as exc:
        stderr.write_line(f"error: {exc}")
        return _STATUS_ERROR
    except KeyboardInterrupt:
        stderr.write_line("error: interrupted")
        return _STATUS_INTERRUPTED
