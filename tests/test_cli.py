"""Tests of the command line (``python -m sklearn_coinem``)."""

import csv
import io
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.special import logsumexp
from scipy.stats import binom

from sklearn_coinem import _cli
from sklearn_coinem._cli import main, read_counts

COINS = [[5, 5], [9, 1], [8, 2], [4, 6], [7, 3]]


def _run(*args):
    """Run the command line in a fresh interpreter; return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "sklearn_coinem", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def _two_coins_csv(path, *, header=True, seed=0):
    """Rows from coins 0.85 (weight 0.6) and 0.25, with 5 to 40 trials each."""
    rng = np.random.default_rng(seed)
    n_samples = 300
    labels = (rng.random(n_samples) > 0.6).astype(int)
    trials = rng.integers(5, 41, size=n_samples)
    heads = rng.binomial(trials, np.array([0.85, 0.25])[labels])
    X = np.column_stack([heads, trials - heads])
    lines = ["heads,tails"] if header else []
    lines += [f"{h},{t}" for h, t in X]
    return _write(path, "\n".join(lines) + "\n"), X


def test_demo_prints_textbook_trajectory():
    """Without arguments the demo prints the EM steps of Do & Batzoglou (2008)."""
    proc = _run()
    assert proc.returncode == 0, proc.stderr
    rows = re.findall(
        r"^\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+(-[\d.]+)$", proc.stdout, re.M
    )
    assert len(rows) == 10
    # Independent reference: EM with equal fixed weights, by hand.
    X = np.array(COINS)
    theta = np.array([0.6, 0.5])
    for n_iter, theta_a, theta_b, loglik in rows:
        log_joint = binom.logpmf(X[:, :1], 10, theta) + np.log(0.5)
        resp = np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))
        theta = resp.T @ X[:, 0] / (resp.T @ X.sum(axis=1))
        log_joint = binom.logpmf(X[:, :1], 10, theta) + np.log(0.5)
        assert_allclose([float(theta_a), float(theta_b)], theta, atol=6e-5)
        assert_allclose(float(loglik), logsumexp(log_joint, axis=1).sum(), atol=6e-5)
    assert "Converged fit" in proc.stdout


def test_fit_json_report_recovers_mixture(tmp_path):
    """`fit --json` prints parameters close to the generating ones."""
    path, X = _two_coins_csv(tmp_path / "counts.csv")
    proc = _run("fit", path, "--n-components", "2", "--random-state", "0", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["n_samples"] == len(X)
    assert report["columns"] == ["heads", "tails"]
    assert report["converged"] is True
    assert report["warnings"] == []
    assert_allclose(np.array(report["probs"])[:, 0], [0.85, 0.25], atol=0.03)
    assert_allclose(report["weights"], [0.6, 0.4], atol=0.08)
    weights, probs = np.array(report["weights"]), np.array(report["probs"])
    log_joint = binom.logpmf(X[:, :1], X.sum(axis=1, keepdims=True), probs[:, 0])
    loglik = logsumexp(log_joint + np.log(weights), axis=1).sum()
    assert_allclose(report["log_likelihood"], loglik, rtol=1e-9)
    n_params = 3  # two probabilities and one free weight
    assert_allclose(report["aic"], 2 * n_params - 2 * loglik, rtol=1e-9)
    assert_allclose(report["bic"], n_params * np.log(len(X)) - 2 * loglik, rtol=1e-9)


def test_fit_writes_posterior_assignments(tmp_path):
    """`--output` holds Bayes-rule posteriors and their argmax, one line per row."""
    path, X = _two_coins_csv(tmp_path / "counts.csv")
    output = tmp_path / "assignments.csv"
    proc = _run("fit", path, "-k", "2", "--random-state", "1", "-o", str(output))
    assert proc.returncode == 0, proc.stderr
    assert "log-likelihood" in proc.stdout and "BIC" in proc.stdout
    assert f"written to {output}" in proc.stdout
    weights = re.findall(
        r"^\s+[01]\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", proc.stdout, re.M
    )
    weights, theta = np.array(weights, dtype=float)[:, :2].T
    with open(output, newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["row", "posterior_0", "posterior_1", "component"]
    table = np.array(rows[1:], dtype=float)
    assert_allclose(table[:, 0], np.arange(2, len(X) + 2))
    log_joint = np.log(weights) + binom.logpmf(
        X[:, :1], X.sum(axis=1, keepdims=True), theta
    )
    posterior = np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))
    # The report rounds the parameters to 4 decimals.
    assert_allclose(table[:, 1:3], posterior, atol=2e-3)
    assert_allclose(table[:, 3], table[:, 1:3].argmax(axis=1))


def test_fit_header_is_optional(tmp_path):
    """The same counts with and without a header give the same fit."""
    with_header, _ = _two_coins_csv(tmp_path / "a.csv", header=True)
    without_header, _ = _two_coins_csv(tmp_path / "b.csv", header=False)
    X_a, names_a, rows_a = read_counts(with_header)
    X_b, names_b, rows_b = read_counts(without_header)
    assert_allclose(X_a, X_b)
    assert names_a == ["heads", "tails"] and names_b == ["column 1", "column 2"]
    assert_allclose(rows_a, rows_b + 1)


def test_read_counts_selects_columns_and_skips_blank_lines(tmp_path):
    """`--columns` picks count columns by name, ignoring text columns."""
    path = _write(tmp_path / "c.csv", "id,tails,heads\nx,1,9\n\ny,5,5\n")
    X, names, rows = read_counts(path, columns="heads,tails")
    assert_allclose(X, [[9, 1], [5, 5]])
    assert names == ["heads", "tails"]
    assert_allclose(rows, [2, 4])
    path = _write(tmp_path / "d.csv", "x;1;9\ny;5;5\n")
    X, names, _ = read_counts(path, columns="3,2", delimiter=";")
    assert_allclose(X, [[9, 1], [5, 5]])
    assert names == ["column 3", "column 2"]


def test_fit_reports_dice_columns(tmp_path, capsys):
    """A three-column table fits a multinomial mixture with one P per column."""
    rng = np.random.default_rng(0)
    X = np.vstack(
        [
            rng.multinomial(30, [0.7, 0.2, 0.1], size=60),
            rng.multinomial(30, [0.1, 0.2, 0.7], size=40),
        ]
    )
    text = "one,two,three\n" + "\n".join(",".join(map(str, x)) for x in X)
    path = _write(tmp_path / "dice.csv", text)
    assert main(["fit", path, "-k", "2", "--random-state", "0", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert_allclose(report["probs"], [[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]], atol=0.04)


def test_fit_warns_when_not_identifiable(tmp_path, capsys):
    """Single-trial rows cannot identify two coins: the report says so."""
    path = _write(tmp_path / "bernoulli.csv", "1,0\n0,1\n1,0\n1,0\n0,1\n1,0\n")
    assert main(["fit", path, "-k", "2", "--random-state", "0"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^warning: .*not identifiable", out, re.M)


@pytest.mark.parametrize(
    "text, message",
    [
        ("h,t\n5,5\n9,x1\n", r"row 3, column 2: 'x1' is not a number$"),
        ("5,5\n9,1\n8,-2\n", r"row 3, column 2: negative count -2$"),
        ("5,5\n9,1\n8\n", r"row 3, column 2: expected 2 columns, got 1$"),
        ("5,5\n9,1,3\n", r"row 2, column 3: expected 2 columns, got 3$"),
        ("5,5\n,1\n", r"row 2, column 1: empty cell$"),
        ("5,5\n9,inf\n", r"row 2, column 2: 'inf' is not a finite number$"),
        ("", r"the file is empty$"),
        ("heads,tails\n", r"no data rows after the header$"),
        ("5\n9\n", r"need at least 2 count columns"),
        ("5,5\n", r"Expected n_samples >= n_components"),
        ("id,1,2\nx,5,5\n", r"row 1, column 1: 'id' is not a number \(a header"),
        ("a;b\n5,5;4,5\n", r"row 2, column 1: '5,5' is not a number \(write dec"),
        ("1e308,1e308\n5,5\n", r"row 1: the counts are too large to add up$"),
    ],
)
def test_fit_bad_file_is_one_line_error(tmp_path, capsys, text, message):
    """A bad file gives exit status 2 and one line naming file, row and column."""
    path = _write(tmp_path / "bad.csv", text)
    assert main(["fit", path, "-k", "2"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert re.match(re.escape(f"error: {path}: ") + message, lines[0]), lines[0]


@pytest.mark.parametrize(
    "columns, message",
    [
        ("heads,tail", "no column 'tail'; use heads, tails"),
        ("heads,heads", "column 'heads' is given twice"),
    ],
)
def test_fit_bad_columns_option_is_one_line_error(tmp_path, capsys, columns, message):
    """An unknown or repeated `--columns` name gives a one-line error."""
    path = _write(tmp_path / "c.csv", "heads,tails\n5,5\n")
    assert main(["fit", path, "-k", "1", "--columns", columns]) == 2
    assert capsys.readouterr().err == f"error: {path}: --columns: {message}\n"


def test_fit_bad_files_end_to_end(tmp_path):
    """In a fresh process, missing and ragged files exit with 2, no traceback."""
    missing = str(tmp_path / "missing.csv")
    ragged = _write(tmp_path / "ragged.csv", "heads,tails\n5,5\n9,1,0\n")
    output = tmp_path / "nodir" / "out.csv"
    good = _write(tmp_path / "good.csv", "\n".join(f"{h},{t}" for h, t in COINS))
    for args, expected in [
        ((missing,), f"error: {missing}: no such file\n"),
        ((ragged,), f"error: {ragged}: row 3, column 3: expected 2 columns, got 3\n"),
        ((good, "-o", str(output)), f"error: {output}: No such file or directory\n"),
    ]:
        proc = _run("fit", *args, "-k", "2")
        assert proc.returncode == 2
        assert proc.stderr == expected
        assert proc.stdout == ""


def test_fit_verbose_progress_goes_to_stderr(tmp_path):
    """`--verbose` shows restart progress on stderr and keeps stdout JSON."""
    path, _ = _two_coins_csv(tmp_path / "counts.csv")
    proc = _run("fit", path, "-k", "2", "--n-init", "3", "--json", "--verbose")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["n_init"] == 3
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("fitting n_components=2, each with 3 initializations")
    assert [line for line in lines if line.startswith("Initialization ")][::2] == [
        "Initialization 0",
        "Initialization 1",
        "Initialization 2",
    ]
    assert re.search(r"lower bound -\d+\.\d+", proc.stderr)


def test_fit_short_fit_is_silent_on_stderr(tmp_path, capsys):
    """A fit quicker than the progress delay prints nothing on stderr."""
    path = _write(tmp_path / "coins.csv", "\n".join(f"{h},{t}" for h, t in COINS))
    assert main(["fit", path, "-k", "2", "--random-state", "0"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "converged       yes" in captured.out


def test_cli_usage_error_exits_2():
    """A missing required option is an argparse usage error with status 2."""
    with pytest.raises(SystemExit) as exc_info:
        main(["fit", "counts.csv"])
    assert exc_info.value.code == 2


def test_fit_k_range_selects_generating_k(tmp_path):
    """`--k-range` scans K, reports the criteria and selects the true K by BIC."""
    rng = np.random.default_rng(3)
    labels = rng.choice(3, size=300, p=[0.4, 0.3, 0.3])
    heads = rng.binomial(20, np.array([0.9, 0.5, 0.1])[labels])
    text = "\n".join(f"{h},{20 - h}" for h in heads)
    path = _write(tmp_path / "three.csv", text)
    proc = _run("fit", path, "--k-range", "1:5", "--random-state", "0", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    scan = report["scan"]
    assert scan["criterion"] == "bic" and scan["selected"] == 3
    assert report["n_components"] == 3
    assert [row["n_components"] for row in scan["rows"]] == [1, 2, 3, 4, 5]
    for row in scan["rows"]:
        n_params = 2 * row["n_components"] - 1
        assert_allclose(row["aic"], 2 * n_params - 2 * row["log_likelihood"])
        assert_allclose(row["bic"], n_params * np.log(300) - 2 * row["log_likelihood"])
        assert row["icl"] >= row["bic"] - 1e-9
    bics = [row["bic"] for row in scan["rows"]]
    assert int(np.argmin(bics)) + 1 == 3


def test_fit_k_range_marks_unfittable_k(tmp_path, capsys):
    """K above the number of rows is listed as not fitted and never selected."""
    path = _write(tmp_path / "coins.csv", "\n".join(f"{h},{t}" for h, t in COINS))
    assert main(["fit", path, "--k-range", "1:6", "--random-state", "0"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^ +6 +- +- +- +-  not identifiable, not fitted", out, re.M)
    assert re.search(r"^\*", out, re.M).group() == "*"
    assert "warning: n_components in [6] cannot be identified" in out


@pytest.mark.parametrize("k_range", ["3:1", "0:2", "1-4", "a:b"])
def test_fit_bad_k_range_is_usage_error(tmp_path, capsys, k_range):
    """A malformed `--k-range` is rejected by the parser with status 2."""
    with pytest.raises(SystemExit) as exc_info:
        main(["fit", "counts.csv", "--k-range", k_range])
    assert exc_info.value.code == 2
    assert "expected MIN:MAX" in capsys.readouterr().err


def test_console_script_runs_fit(tmp_path):
    """The installed ``sklearn-coinem`` command is the same program."""
    command = shutil.which("sklearn-coinem")
    if command is None:
        pytest.skip("the package is not installed with its console script")
    path = _write(tmp_path / "coins.csv", "\n".join(f"{h},{t}" for h, t in COINS))
    proc = subprocess.run(
        [command, "fit", path, "-k", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    # One coin: the MLE is the overall proportion of heads, 33 / 50.
    assert_allclose(json.loads(proc.stdout)["probs"][0][0], 33 / 50, atol=1e-6)


def test_progress_stream_holds_lines_until_delay(monkeypatch):
    """Progress appears only once the delay has passed, then with the backlog."""
    clock = [0.0]
    monkeypatch.setattr(_cli.time, "monotonic", lambda: clock[0])
    out = io.StringIO()
    stream = _cli._DelayedStream(out, delay=1.0)
    stream.write("Initialization 0\n")
    clock[0] = 0.5
    stream.write("  Iteration 10\n")
    assert out.getvalue() == ""
    clock[0] = 1.5
    stream.write("  Iteration 20\n")
    assert out.getvalue() == "Initialization 0\n  Iteration 10\n  Iteration 20\n"
    stream.write("Initialization converged.\n")
    assert out.getvalue().endswith("  Iteration 20\nInitialization converged.\n")


def test_fit_binary_file_or_directory_is_one_line_error(tmp_path, capsys):
    """A non-text file and a directory are refused with one line and status 2."""
    binary = tmp_path / "counts.xlsx"
    binary.write_bytes(b"PK\x03\x04\xff\xfe\x00\x81")
    for path, message in [
        (binary, "not a text (UTF-8) CSV file"),
        (tmp_path, "is a directory, not a CSV file"),
    ]:
        assert main(["fit", str(path), "-k", "2"]) == 2
        assert capsys.readouterr().err == f"error: {path}: {message}\n"


@pytest.mark.parametrize(
    "raw",
    [
        b"\xef\xbb\xbfheads,tails\r\n5,5\r\n9,1\r\n8,2\r\n4,6\r\n7,3\r\n",
        b"heads;tails\n5;5\n9;1\n8;2\n4;6\n7;3\n",
        b"heads\ttails\n5\t5\n9\t1\n8\t2\n4\t6\n7\t3\n",
        b'"heads","tails"\n"5","5"\n"9","1"\n"8","2"\n"4","6"\n"7","3"\n\n\n',
        b"heads,tails\n5.0,5.0\n9,1\n8,2\n4,6\n7,3\n",
    ],
    ids=["bom-crlf", "semicolon", "tab", "quoted-trailing-blank", "float"],
)
def test_read_counts_accepts_spreadsheet_dialects(tmp_path, raw):
    """BOM, CRLF, semicolons, tabs, quotes and trailing blank lines all parse."""
    path = tmp_path / "coins.csv"
    path.write_bytes(raw)
    X, names, rows = read_counts(str(path))
    assert_allclose(X, COINS)
    assert names == ["heads", "tails"]
    assert_allclose(rows, np.arange(2, 7))


def test_fit_semicolon_file_end_to_end(tmp_path):
    """A semicolon file with a BOM and CRLF fits to the known two-coins optimum."""
    path = tmp_path / "coins.csv"
    lines = ["heads;tails", *(f"{h};{t}" for h, t in COINS)]
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    proc = _run("fit", str(path), "-k", "2", "--random-state", "0", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    # Do & Batzoglou's five rows: maximum log-likelihood -9.7954 (issue 2).
    assert_allclose(report["log_likelihood"], -9.7954, atol=1e-4)
    assert_allclose(np.array(report["probs"])[:, 0], [0.7934, 0.5139], atol=1e-3)


def test_fit_json_report_is_complete(tmp_path):
    """`--json` holds every field of the text report, ICL included."""
    path = _write(tmp_path / "coins.csv", "\n".join(f"{h},{t}" for h, t in COINS))
    proc = _run("fit", path, "-k", "2", "--random-state", "0", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    expected = {"file", "n_samples", "columns", "n_components", "n_init"}
    expected |= {"random_state", "weights", "probs", "log_likelihood", "aic"}
    expected |= {"bic", "icl", "converged", "n_iter", "warnings"}
    assert set(report) == expected
    weights, probs = np.array(report["weights"]), np.array(report["probs"])
    X = np.array(COINS)
    log_joint = np.log(weights) + binom.logpmf(X[:, :1], 10, probs[:, 0])
    resp = np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))
    # ICL = BIC + 2 * classification entropy of the hard assignment.
    icl = report["bic"] - 2 * np.log(resp.max(axis=1)).sum()
    assert_allclose(report["icl"], icl, rtol=1e-6)


@pytest.mark.parametrize(
    "option, message",
    [
        (["--delimiter", ""], "expected one character"),
        (["--delimiter", ";;"], "expected one character"),
        (["--random-state", "-1"], r"expected an integer from 0 to 2\*\*32 - 1"),
        (["--n-init", "ten"], "expected a positive integer, got 'ten'"),
        (["--max-iter", "0"], "expected a positive integer, got '0'"),
    ],
)
def test_fit_bad_option_is_usage_error(capsys, option, message):
    """Bad option values are refused by the parser with a readable message."""
    with pytest.raises(SystemExit) as exc_info:
        main(["fit", "counts.csv", "-k", "2", *option])
    assert exc_info.value.code == 2
    assert re.search(message, capsys.readouterr().err)


def test_read_counts_tab_delimiter_by_name(tmp_path):
    """`--delimiter tab` (or a typed backslash-t) overrides the detected one."""
    # The header has more semicolons than tabs, so detection would pick ";".
    path = _write(tmp_path / "t.csv", "a\tb;c;d\n1\t2\n")
    for name in ("tab", "\\t"):
        args = _cli._build_parser().parse_args(
            ["fit", path, "-k", "1", "--delimiter", name]
        )
        X, names, _ = read_counts(path, delimiter=args.delimiter)
        assert names == ["a", "b;c;d"]
        assert_allclose(X, [[1, 2]])


def test_cli_closed_pipe_exits_quietly():
    """Output into a reader that stops early (``| head -1``) gives no traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sklearn_coinem"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # the reader is gone before the first line is written
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert b"Traceback" not in stderr and stderr == b""


def test_read_counts_names_a_bad_cell_deep_in_the_file(tmp_path):
    """The fast conversion of good files still leaves exact errors for bad ones."""
    rng = np.random.default_rng(0)
    lines = [f" {h} ,{t} " for h, t in rng.integers(0, 20, size=(2000, 2))]
    path = _write(tmp_path / "c.csv", "\n".join(lines))
    X, _, _ = read_counts(path)
    assert_allclose(X, [[int(c) for c in line.split(",")] for line in lines])
    lines[1500] = "3,-1e-3"
    _write(tmp_path / "c.csv", "\n".join(lines))
    with pytest.raises(_cli.InputError, match=r"row 1501, column 2: negative count"):
        read_counts(path)
