"""Tests of the command line (``python -m sklearn_coinem``).

Behaviour is tested in-process through ``main([...])``; only the entry point,
a real Ctrl-C and real unwritable streams start a fresh interpreter.
"""

import csv
import errno
import io
import json
import re
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.special import logsumexp
from scipy.stats import betabinom, binom

from sklearn_coinem import BinomialMixture, _cli
from sklearn_coinem._cli import main, read_counts
from tests._references import OROBANCHE_N, OROBANCHE_Y, VGAM_OROBANCHE

COINS = [[5, 5], [9, 1], [8, 2], [4, 6], [7, 3]]
COINS_CSV = "\n".join(f"{h},{t}" for h, t in COINS) + "\n"


def _popen(*args, **kwargs):
    """Start the command line in a fresh interpreter."""
    return subprocess.Popen([sys.executable, "-m", "sklearn_coinem", *args], **kwargs)


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def _cli_run(capsys, *args):
    """Run ``main`` in this process; return (status, stdout, stderr)."""
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


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


def _mixture_loglik(X, weights, probs):
    """Binomial mixture log-likelihood by scipy (independent reference)."""
    log_joint = binom.logpmf(X[:, :1], X.sum(axis=1, keepdims=True), probs[:, 0])
    return logsumexp(log_joint + np.log(weights), axis=1).sum()


def _posteriors(X, weights, probs):
    """Bayes-rule posterior probabilities by scipy (independent reference)."""
    log_joint = np.log(weights) + binom.logpmf(
        X[:, :1], X.sum(axis=1, keepdims=True), probs[:, 0]
    )
    return np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))


class _FailingStream(io.StringIO):
    """A text stream whose writes fail like a full disk or a closed pipe."""

    def __init__(self, error):
        super().__init__()
        self.error = error

    def write(self, text):
        raise self.error


# ------------------------------------------------------------------ end to end
def test_console_script_runs_fit(tmp_path):
    """The installed ``sklearn-coinem`` command is the same program."""
    command = shutil.which("sklearn-coinem")
    if command is None:
        pytest.skip("the package is not installed with its console script")
    path = _write(tmp_path / "coins.csv", COINS_CSV)
    proc = subprocess.run(
        [command, "fit", path, "-k", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    # One coin: the MLE is the overall proportion of heads, 33 / 50.
    assert_allclose(json.loads(proc.stdout)["probs"][0][0], 33 / 50, atol=1e-6)


def test_cli_ctrl_c_during_fit_exits_130(tmp_path):
    """SIGINT during a long fit gives one `error:` line, status 130, no traceback."""
    rng = np.random.default_rng(0)
    X = rng.multinomial(40, np.full(6, 1 / 6), size=1000)
    path = _write(tmp_path / "dice.csv", "\n".join(",".join(map(str, x)) for x in X))
    # Minutes of work if not interrupted; the signal comes once it has begun.
    # A shell's background job (``pytest ... &``) ignores SIGINT, and its
    # children inherit that: give the command line the default disposition.
    proc = _popen(
        "fit",
        path,
        "--k-range",
        "1:60",
        "--n-init",
        "20",
        "--max-iter",
        "100000",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stderr.readline().startswith(
            "fitting binomial mixtures with n_components=1 to 60"
        )
        # The first restart line: the fit has begun (the restarts run batched).
        assert proc.stderr.readline().startswith("K=1 restart 1/20: ")
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert stdout == ""
    assert "Traceback" not in stderr
    assert stderr.splitlines()[-1] == "error: interrupted"


def test_cli_full_stdout_is_one_line_error(tmp_path):
    """A report into /dev/full fails with one `error:` line and status 2."""
    path = _write(tmp_path / "coins.csv", COINS_CSV)
    with open("/dev/full", "w") as full:
        proc = _popen("fit", path, "-k", "1", "-q", stdout=full, stderr=subprocess.PIPE)
        _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert stderr.decode() == (
        "error: cannot write to standard output (No space left on device)\n"
    )


def test_cli_closed_stderr_keeps_the_report(tmp_path):
    """With standard error's reader gone, progress is dropped, the report is not."""
    path = _write(tmp_path / "coins.csv", COINS_CSV)
    proc = _popen(
        "fit", path, "-k", "2", stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stderr.close()  # the reader is gone before the first progress line
    stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0
    assert "converged       yes" in stdout.decode()


# ------------------------------------------------------------------------ demo
def test_demo_prints_textbook_trajectory(capsys):
    """Without arguments the demo prints the EM steps of Do & Batzoglou (2008)."""
    status, out, err = _cli_run(capsys)
    assert status == 0 and err == ""
    rows = re.findall(r"^\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+(-[\d.]+)$", out, re.M)
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
    assert "Converged fit" in out


# ------------------------------------------------------------------------- fit
def test_fit_json_report_recovers_mixture(tmp_path, capsys):
    """`fit --json` prints parameters close to the generating ones."""
    path, X = _two_coins_csv(tmp_path / "counts.csv")
    status, out, _ = _cli_run(capsys, "fit", path, "--n-components", "2", "--json")
    assert status == 0
    report = json.loads(out)
    assert report["n_samples"] == len(X)
    assert report["columns"] == ["heads", "tails"]
    assert report["converged"] is True
    assert report["warnings"] == []
    assert_allclose(np.array(report["probs"])[:, 0], [0.85, 0.25], atol=0.03)
    assert_allclose(report["weights"], [0.6, 0.4], atol=0.08)
    weights, probs = np.array(report["weights"]), np.array(report["probs"])
    loglik = _mixture_loglik(X, weights, probs)
    assert_allclose(report["log_likelihood"], loglik, rtol=1e-9)
    n_params = 3  # two probabilities and one free weight
    assert_allclose(report["aic"], 2 * n_params - 2 * loglik, rtol=1e-9)
    assert_allclose(report["bic"], n_params * np.log(len(X)) - 2 * loglik, rtol=1e-9)


def test_fit_default_random_state_repeats_the_report(tmp_path, capsys):
    """Without `--random-state` (default 0) two runs print the same report."""
    path, _ = _two_coins_csv(tmp_path / "counts.csv")
    _, first, _ = _cli_run(capsys, "fit", path, "-k", "3", "--n-init", "2", "--json")
    _, second, _ = _cli_run(capsys, "fit", path, "-k", "3", "--n-init", "2", "--json")
    assert first == second
    assert json.loads(first)["random_state"] == 0
    _, other, _ = _cli_run(
        capsys, "fit", path, "-k", "3", "--n-init", "2", "--random-state", "7", "--json"
    )
    assert json.loads(other)["random_state"] == 7


def test_fit_writes_posterior_assignments(tmp_path, capsys):
    """`--output` holds the row index, Bayes-rule posteriors and their argmax."""
    path, X = _two_coins_csv(tmp_path / "counts.csv")
    output = tmp_path / "assignments.csv"
    status, out, _ = _cli_run(capsys, "fit", path, "-k", "2", "-o", str(output))
    assert status == 0
    assert "log-likelihood" in out and "BIC" in out
    assert f"written to {output}" in out
    weights = re.findall(r"^\s+[01]\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", out, re.M)
    weights, theta = np.array(weights, dtype=float)[:, :2].T
    with open(output, newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["index", "posterior_0", "posterior_1", "component", "family"]
    assert {row[4] for row in rows[1:]} == {"binomial"}
    table = np.array([row[:4] for row in rows[1:]], dtype=float)
    assert_allclose(table[:, 0], np.arange(len(X)))
    posterior = _posteriors(X, weights, np.column_stack([theta, 1 - theta]))
    # The report rounds the parameters to 4 decimals.
    assert_allclose(table[:, 1:3], posterior, atol=2e-3)
    assert_allclose(table[:, 3], table[:, 1:3].argmax(axis=1))


def test_fit_assignments_carry_the_id_columns(tmp_path, capsys):
    """The other columns of the input (or `--id`) identify each assignment."""
    text = 'name,heads,tails,site\n"a, 1",5,5,x\nb,9,1,y\nc,8,2,x\nd,4,6,y\n'
    path = _write(tmp_path / "c.csv", text)
    output = tmp_path / "out.csv"
    args = ["fit", path, "-k", "1", "-q", "-o", str(output)]
    assert main([*args, "--columns", "heads,tails"]) == 0
    with open(output, newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["name", "site", "posterior_0", "component", "family"]
    assert [row[:2] for row in rows[1:]] == [["a, 1", "x"], ["b", "y"]] + [
        ["c", "x"],
        ["d", "y"],
    ]
    assert [row[2:] for row in rows[1:]] == [["1", "0", "binomial"]] * 4
    assert main([*args, "--id", "name", "--id", "site"]) == 0
    with open(output, newline="") as file:
        assert list(csv.reader(file)) == rows
    assert main([*args, "--id", "site", "--columns", "heads,tails"]) == 0
    with open(output, newline="") as file:
        header = next(csv.reader(file))
        assert header == ["site", "posterior_0", "component", "family"]
    capsys.readouterr()


def test_fit_bad_id_column_is_one_line_error(tmp_path, capsys):
    """An unknown `--id` column is named in a one-line error."""
    path = _write(tmp_path / "c.csv", "heads,tails\n5,5\n")
    status, _, err = _cli_run(capsys, "fit", path, "-k", "1", "--id", "name")
    assert status == 2
    assert err == f"error: {path}: --id: no column 'name'; use heads, tails\n"


def test_fit_header_is_optional(tmp_path):
    """The same counts with and without a header give the same fit."""
    with_header, _ = _two_coins_csv(tmp_path / "a.csv", header=True)
    without_header, _ = _two_coins_csv(tmp_path / "b.csv", header=False)
    a, b = read_counts(with_header), read_counts(without_header)
    assert_allclose(a.X, b.X)
    assert a.names == ["heads", "tails"] and b.names == ["column 1", "column 2"]
    assert_allclose(a.rows, b.rows + 1)


def test_read_counts_selects_columns_and_skips_blank_lines(tmp_path):
    """`--columns` picks count columns by name, ignoring text columns."""
    path = _write(tmp_path / "c.csv", "id,tails,heads\nx,1,9\n\ny,5,5\n")
    table = read_counts(path, columns="heads,tails")
    assert_allclose(table.X, [[9, 1], [5, 5]])
    assert table.names == ["heads", "tails"]
    assert_allclose(table.rows, [2, 4])
    assert table.id_names == ["id"] and table.ids == [["x"], ["y"]]
    path = _write(tmp_path / "d.csv", "x;1;9\ny;5;5\n")
    table = read_counts(path, columns="3,2", delimiter=";")
    assert_allclose(table.X, [[9, 1], [5, 5]])
    assert table.names == ["column 3", "column 2"]


def test_read_counts_skips_comment_lines(tmp_path):
    """Lines starting with `#` (a leading one too) are skipped; rows keep numbers."""
    text = '# exported 2026-01-01, "quoted\nheads,tails\n5,5\n  # note\n9,1\n'
    table = read_counts(_write(tmp_path / "c.csv", text))
    assert table.names == ["heads", "tails"]
    assert_allclose(table.X, [[5, 5], [9, 1]])
    assert_allclose(table.rows, [3, 5])


def test_fit_numbered_header_warns_and_header_option_reads_it(tmp_path, capsys):
    """A first row 1..C is data with a warning; `--header` makes it the header."""
    rng = np.random.default_rng(0)
    X = rng.multinomial(12, np.full(6, 1 / 6), size=20)
    text = "1,2,3,4,5,6\n" + "\n".join(",".join(map(str, x)) for x in X) + "\n"
    path = _write(tmp_path / "dice.csv", text)
    status, out, _ = _cli_run(capsys, "fit", path, "-k", "1", "-q", "--json")
    report = json.loads(out)
    assert status == 0 and report["n_samples"] == 21
    assert len(report["warnings"]) == 1
    assert re.match(
        re.escape(f"{path}: row 1 (1,2,3,4,5,6) is read as data, but looks like")
        + ".*pass --header",
        report["warnings"][0],
    )
    status, out, _ = _cli_run(capsys, "fit", path, "-k", "1", "-q", "--header")
    assert status == 0
    assert "20 rows, count columns: 1, 2, 3, 4, 5, 6" in out
    assert "warning" not in out
    status, out, _ = _cli_run(capsys, "fit", path, "-k", "1", "-q", "--no-header")
    assert status == 0
    assert "21 rows" in out and "warning" not in out


def test_fit_no_header_option_reads_first_row_as_data(tmp_path, capsys):
    """`--no-header` on a file with a header names the bad cell, without a hint."""
    path = _write(tmp_path / "c.csv", "heads,tails\n5,5\n")
    status, _, err = _cli_run(capsys, "fit", path, "-k", "1", "--no-header")
    assert status == 2
    assert err == f"error: {path}: row 1, column 1: 'heads' is not a number\n"


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
    assert main(["fit", path, "-k", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert_allclose(report["probs"], [[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]], atol=0.04)


def test_fit_warns_when_not_identifiable(tmp_path, capsys):
    """Single-trial rows cannot identify two coins: the report says so."""
    path = _write(tmp_path / "bernoulli.csv", "1,0\n0,1\n1,0\n1,0\n0,1\n1,0\n")
    assert main(["fit", path, "-k", "2"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^warning: .*not identifiable", out, re.M)


@pytest.mark.parametrize(
    "text, message",
    [
        ("h,t\n5,5\n9,x1\n", r"row 3, column 2: 'x1' is not a number$"),
        ("h,t\nx1,5\n9,1\n", r"row 2, column 1: 'x1' is not a number$"),
        ("5,5\n9,1\n8,-2\n", r"row 3, column 2: negative count -2$"),
        ("5,5\n9,1\n8\n", r"row 3, column 2: expected 2 columns, got 1$"),
        ("5,5\n9,1,3\n", r"row 2, column 3: expected 2 columns, got 3$"),
        ("5,5\n,1\n", r"row 2, column 1: empty cell$"),
        ("5,5\n9,inf\n", r"row 2, column 2: 'inf' is not a finite number$"),
        ("", r"the file is empty$"),
        ("# only a comment\n", r"the file is empty$"),
        ("heads,tails\n", r"no data rows after the header$"),
        ("5\n9\n", r"need at least 2 count columns"),
        ("5,5\n", r"Expected n_samples >= n_components"),
        ("id,1,2\nx,5,5\n", r"row 1, column 1: 'id' is not a number \(a header .*--h"),
        ("a;b\n5,5;4,5\n", r"row 2, column 1: '5,5' is not a number \(write dec"),
        ("1e308,1e308\n5,5\n", r"row 1: the counts are too large to add up$"),
        (
            "5,5\n3e305,3e305\n",
            r"row 2: the counts are too large: the log-factorial of the row total",
        ),
        ("2e305,0\n" * 1000, r"the counts are too large: their sum over all rows"),
        (("4e304," * 5 + "4e304\n") * 500, r"the counts are too large: the sum of t"),
    ],
)
def test_fit_bad_file_is_one_line_error(tmp_path, capsys, text, message):
    """A bad file gives exit status 2 and one line naming file, row and column."""
    path = _write(tmp_path / "bad.csv", text)
    status, out, err = _cli_run(capsys, "fit", path, "-k", "2", "-q")
    assert status == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1
    assert re.match(re.escape(f"error: {path}: ") + message, lines[0]), lines[0]


def test_fit_huge_counts_do_not_blame_sample_weight(tmp_path, capsys):
    """Counts of 3e305 are named as the problem, not a sample_weight never passed."""
    path = _write(tmp_path / "big.csv", "heads,tails\n3e305,3e305\n1,2\n4,5\n")
    status, _, err = _cli_run(capsys, "fit", path, "-k", "2")
    assert status == 2
    assert "the counts are too large" in err and "sample_weight" not in err


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


def test_fit_missing_ragged_or_unwritable_files(tmp_path, capsys):
    """Missing and ragged inputs and an unwritable output exit with 2."""
    missing = str(tmp_path / "missing.csv")
    ragged = _write(tmp_path / "ragged.csv", "heads,tails\n5,5\n9,1,0\n")
    output = tmp_path / "nodir" / "out.csv"
    good = _write(tmp_path / "good.csv", COINS_CSV)
    for args, expected in [
        ((missing,), f"error: {missing}: no such file\n"),
        ((ragged,), f"error: {ragged}: row 3, column 3: expected 2 columns, got 3\n"),
        ((good, "-o", str(output)), f"error: {output}: No such file or directory\n"),
    ]:
        status, out, err = _cli_run(capsys, "fit", *args, "-k", "2", "-q")
        assert status == 2
        assert err == expected
        assert out == ""


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
    table = read_counts(str(path))
    assert_allclose(table.X, COINS)
    assert table.names == ["heads", "tails"]
    assert_allclose(table.rows, np.arange(2, 7))


def test_fit_semicolon_file_reaches_the_known_optimum(tmp_path, capsys):
    """A semicolon file with a BOM and CRLF fits to the known two-coins optimum."""
    path = tmp_path / "coins.csv"
    lines = ["heads;tails", *(f"{h};{t}" for h, t in COINS)]
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    status, out, _ = _cli_run(capsys, "fit", str(path), "-k", "2", "--json")
    assert status == 0
    report = json.loads(out)
    # Do & Batzoglou's five rows: maximum log-likelihood -9.7954 (issue 2).
    assert_allclose(report["log_likelihood"], -9.7954, atol=1e-4)
    assert_allclose(np.array(report["probs"])[:, 0], [0.7934, 0.5139], atol=1e-3)


def test_fit_json_report_is_complete(tmp_path, capsys):
    """`--json` holds every field of the text report, ICL included."""
    path = _write(tmp_path / "coins.csv", COINS_CSV)
    status, out, _ = _cli_run(capsys, "fit", path, "-k", "2", "--json")
    assert status == 0
    report = json.loads(out)
    expected = {"file", "family", "n_samples", "columns", "n_components", "n_init"}
    expected |= {"random_state", "weights", "probs", "log_likelihood", "aic"}
    expected |= {"bic", "icl", "converged", "n_iter", "warnings"}
    assert set(report) == expected
    weights, probs = np.array(report["weights"]), np.array(report["probs"])
    resp = _posteriors(np.array(COINS), weights, probs)
    # ICL = BIC + 2 * classification entropy of the hard assignment.
    icl = report["bic"] - 2 * np.log(resp.max(axis=1)).sum()
    assert_allclose(report["icl"], icl, rtol=1e-6)


def test_read_counts_tab_delimiter_by_name(tmp_path):
    """`--delimiter tab` (or a typed backslash-t) overrides the detected one."""
    # The header has more semicolons than tabs, so detection would pick ";".
    path = _write(tmp_path / "t.csv", "a\tb;c;d\n1\t2\n")
    for name in ("tab", "\\t"):
        args = _cli._build_parser().parse_args(
            ["fit", path, "-k", "1", "--delimiter", name]
        )
        table = read_counts(path, delimiter=args.delimiter)
        assert table.names == ["a", "b;c;d"]
        assert_allclose(table.X, [[1, 2]])


def test_read_counts_names_a_bad_cell_deep_in_the_file(tmp_path):
    """The fast conversion of good files still leaves exact errors for bad ones."""
    rng = np.random.default_rng(0)
    lines = [f" {h} ,{t} " for h, t in rng.integers(0, 20, size=(2000, 2))]
    path = _write(tmp_path / "c.csv", "\n".join(lines))
    table = read_counts(path)
    assert_allclose(table.X, [[int(c) for c in line.split(",")] for line in lines])
    lines[1500] = "3,-1e-3"
    _write(tmp_path / "c.csv", "\n".join(lines))
    with pytest.raises(_cli.InputError, match=r"row 1501, column 2: negative count"):
        read_counts(path)


# ------------------------------------------------------- successes and trials
def test_fit_successes_and_trials_columns(tmp_path, capsys):
    """`--successes/--trials` fit successes and failures, not successes and trials."""
    rng = np.random.default_rng(4)
    trials = rng.integers(5, 60, size=200)
    deaths = rng.binomial(trials, np.where(rng.random(200) < 0.5, 0.1, 0.6))
    text = "study,deaths,total\n" + "".join(
        f"s{i},{d},{n}\n" for i, (d, n) in enumerate(zip(deaths, trials))
    )
    path = _write(tmp_path / "trials.csv", text)
    args = ["fit", path, "-k", "2", "-q", "--json"]
    status, out, _ = _cli_run(
        capsys, *args, "--successes", "deaths", "--trials", "total"
    )
    assert status == 0
    report = json.loads(out)
    assert report["columns"] == ["deaths", "total - deaths"]
    assert report["warnings"] == []
    X = np.column_stack([deaths, trials - deaths])
    loglik = _mixture_loglik(X, np.array(report["weights"]), np.array(report["probs"]))
    assert_allclose(report["log_likelihood"], loglik, rtol=1e-9)
    assert_allclose(sorted(np.array(report["probs"])[:, 0]), [0.1, 0.6], atol=0.05)


def test_fit_trials_as_counts_warns(tmp_path, capsys):
    """`--columns deaths,total` fits with a warning naming trials and the fix."""
    text = "deaths,total\n3,39\n14,116\n11,93\n127,1520\n27,365\n"
    path = _write(tmp_path / "beta.csv", text)
    status, out, _ = _cli_run(
        capsys, "fit", path, "-k", "1", "--columns", "deaths,total"
    )
    assert status == 0
    warning = [line for line in out.splitlines() if line.startswith("warning: ")]
    assert len(warning) == 1
    assert "Column 'total' looks like a number of trials" in warning[0]
    assert "failures" in warning[0] and "--successes COLUMN --trials" in warning[0]


@pytest.mark.parametrize(
    "text, message",
    [
        ("d,n\n3,10\n12,10\n", r"row 3, column 1: successes 12 exceed trials 10$"),
        ("d,n\n3,10\n0.3,10\n", r"row 3, column 1: successes 0.3 is not a whole n"),
        ("d,n\n3,10.5\n", r"row 2, column 2: trials 10.5 is not a whole number$"),
        ("d,n\n3,10\n-1,10\n", r"row 3, column 1: negative count -1$"),
    ],
)
def test_fit_bad_successes_or_trials_is_one_line_error(tmp_path, capsys, text, message):
    """Invalid (successes, trials) rows are named by row and column."""
    path = _write(tmp_path / "bad.csv", text)
    status, _, err = _cli_run(
        capsys, "fit", path, "-k", "1", "--successes", "d", "--trials", "n"
    )
    assert status == 2
    assert re.match(re.escape(f"error: {path}: ") + message, err.rstrip("\n")), err


@pytest.mark.parametrize(
    "options, message",
    [
        (["--successes", "d"], "--successes and --trials go together"),
        (["--trials", "n"], "--successes and --trials go together"),
        (
            ["--successes", "d", "--trials", "n", "--columns", "d,n"],
            "--columns cannot be combined with --successes/--trials",
        ),
    ],
)
def test_fit_successes_trials_options_are_checked(capsys, options, message):
    """Half a pair, or a pair with `--columns`, is a one-line usage error."""
    status, out, err = _cli_run(capsys, "fit", "x.csv", "-k", "1", *options)
    assert status == 2 and out == ""
    assert err.startswith(f"error: {message}") and len(err.splitlines()) == 1


# ------------------------------------------------------------ --family
def _overdispersed_csv(path, n_samples=600, seed=0):
    """Variant-allele-like rows from three beta-binomial clusters (precision 60)."""
    rng = np.random.default_rng(seed)
    means, precision = np.array([0.1, 0.25, 0.45]), 60.0
    labels = rng.integers(3, size=n_samples)
    depth = rng.integers(60, 121, size=n_samples)
    p = rng.beta(means[labels] * precision, (1 - means[labels]) * precision)
    alt = rng.binomial(depth, p)
    X = np.column_stack([alt, depth - alt])
    text = "alt,ref\n" + "\n".join(f"{a},{r}" for a, r in X) + "\n"
    return _write(path, text), X


def _betabinom_loglik(X, weights, probs, precision):
    """Beta-binomial mixture log-likelihood by scipy (independent reference)."""
    a, b = precision * probs[:, 0], precision * probs[:, 1]
    log_joint = betabinom.logpmf(X[:, :1], X.sum(axis=1, keepdims=True), a, b)
    return logsumexp(log_joint + np.log(weights), axis=1)


def test_fit_beta_binomial_reports_precision_and_icc(tmp_path, capsys):
    """`--family beta-binomial -k 1` on Crowder's seeds gives VGAM's mu and rho."""
    text = "y,n\n" + "\n".join(f"{y},{n}" for y, n in zip(OROBANCHE_Y, OROBANCHE_N))
    path = _write(tmp_path / "orobanche.csv", text + "\n")
    args = ["fit", path, "-k", "1", "--successes", "y", "--trials", "n", "-q"]
    status, out, _ = _cli_run(capsys, *args, "--family", "beta-binomial", "--json")
    assert status == 0
    report = json.loads(out)
    assert report["family"] == "beta-binomial"
    mu, rho, loglik = VGAM_OROBANCHE
    assert_allclose(report["probs"][0][0], mu, rtol=1e-5)
    assert_allclose(report["icc"][0], rho, rtol=1e-4)
    assert_allclose(report["icc"][0], 1 / (1 + report["precision"][0]), rtol=1e-12)
    X = np.column_stack([OROBANCHE_Y, OROBANCHE_N - OROBANCHE_Y])
    weights, probs = np.array(report["weights"]), np.array(report["probs"])
    expected = _betabinom_loglik(X, weights, probs, np.array(report["precision"]))
    assert_allclose(report["log_likelihood"], expected.sum(), rtol=1e-9)
    assert_allclose(report["log_likelihood"], loglik, atol=1e-6)
    # Two free parameters: the mean and the precision.
    assert_allclose(report["bic"], 2 * np.log(21) - 2 * expected.sum(), rtol=1e-9)
    status, out, _ = _cli_run(capsys, *args, "--family", "beta-binomial")
    assert out.startswith(f"BetaBinomialMixture fit of {path}\n")
    header = re.search(r"^component +weight .* precision +ICC$", out, re.M)
    row = re.search(r"^ +0 +1\.0000 +([\d.]+) +[\d.]+ +([\d.]+) +([\d.]+)$", out, re.M)
    assert header and row
    assert_allclose(float(row[1]), mu, atol=1e-4)
    assert_allclose(float(row[2]), 1 / rho - 1, rtol=1e-3)
    assert_allclose(float(row[3]), rho, rtol=1e-3)


def test_fit_beta_binomial_assignments_are_bayes_posteriors(tmp_path, capsys):
    """`-o` under the beta-binomial holds Bayes-rule posteriors and the family."""
    path, X = _overdispersed_csv(tmp_path / "vaf.csv", n_samples=200)
    output = tmp_path / "assignments.csv"
    args = ["fit", path, "-k", "2", "-q", "--family", "beta-binomial", "--json"]
    status, out, _ = _cli_run(capsys, *args, "-o", str(output))
    assert status == 0
    report = json.loads(out)
    with open(output, newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["index", "posterior_0", "posterior_1", "component", "family"]
    assert {row[4] for row in rows[1:]} == {"beta-binomial"}
    table = np.array([row[:4] for row in rows[1:]], dtype=float)
    log_joint = np.column_stack(
        [
            np.log(w) + betabinom.logpmf(X[:, 0], X.sum(axis=1), a * p[0], a * p[1])
            for w, p, a in zip(report["weights"], report["probs"], report["precision"])
        ]
    )
    posterior = np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))
    assert_allclose(table[:, 1:3], posterior, atol=1e-5)


def test_fit_family_all_compares_families_in_one_table(tmp_path, capsys):
    """`--family all --k-range` scans both families; BIC picks the beta-binomial."""
    path, X = _overdispersed_csv(tmp_path / "vaf.csv")
    args = ["fit", path, "--k-range", "1:4", "--n-init", "3", "--family", "all"]
    status, out, err = _cli_run(capsys, *args, "--json")
    assert status == 0
    report = json.loads(out)
    scan = report["scan"]
    families = [(row["family"], row["n_components"]) for row in scan["rows"]]
    assert families == [
        (f, k) for f in ("binomial", "beta-binomial") for k in range(1, 5)
    ]
    for row in scan["rows"]:
        k = row["n_components"]
        n_params = 2 * k - 1 if row["family"] == "binomial" else 3 * k - 1
        expected = n_params * np.log(len(X)) - 2 * row["log_likelihood"]
        assert_allclose(row["bic"], expected, rtol=1e-9)
    best = min(scan["rows"], key=lambda row: row["bic"])
    assert best["family"] == "beta-binomial"
    k = best["n_components"]
    assert (scan["selected_family"], scan["selected"]) == ("beta-binomial", k)
    assert (report["family"], report["n_components"]) == ("beta-binomial", k)
    weights, probs = np.array(report["weights"]), np.array(report["probs"])
    loglik = _betabinom_loglik(X, weights, probs, np.array(report["precision"]))
    assert_allclose(report["log_likelihood"], loglik.sum(), rtol=1e-9)
    assert err.splitlines()[0] == (
        "fitting binomial and beta-binomial mixtures with n_components=1 to 4, "
        "each with 3 restarts"
    )
    # Restarts whose binomial fits reach the same maximum run once.
    merged = re.search(
        r"^beta-binomial K=3 restart (\d)/(\d): log-likelihood \S+ \([^)]*\)"
        r"( \(3 restarts at (\d) distinct binomial maxima\))?$",
        err,
        re.M,
    )
    assert merged
    n_runs = int(merged.group(2))
    assert (merged.group(3) is not None) == (n_runs < 3)
    assert merged.group(4) in (None, str(n_runs))
    status, out, _ = _cli_run(capsys, *args, "-q")
    assert re.search(rf"^\* beta-binomial +{k} +-[\d.]+", out, re.M)
    assert len(re.findall(r"^  binomial +[1-4] +-[\d.]+", out, re.M)) == 4
    assert out.count("\n* ") == 1


def test_fit_several_families_at_one_k(tmp_path, capsys):
    """`-k` with two families fits each at that K and keeps the better by AIC."""
    path, _ = _overdispersed_csv(tmp_path / "vaf.csv", n_samples=200)
    args = ["fit", path, "-k", "2", "-q", "--criterion", "aic", "--json"]
    status, out, _ = _cli_run(capsys, *args, "--family", "beta-binomial,binomial")
    assert status == 0
    scan = json.loads(out)["scan"]
    assert [row["family"] for row in scan["rows"]] == ["beta-binomial", "binomial"]
    best = min(scan["rows"], key=lambda row: row["aic"])
    assert scan["selected_family"] == best["family"]
    assert json.loads(out)["family"] == best["family"]


@pytest.mark.parametrize("family", ["poisson", "binomial,", "beta_binomial", "ALL"])
def test_fit_bad_family_is_usage_error(capsys, family):
    """An unknown family is a one-line usage error listing the known ones."""
    status, out, err = _cli_run(capsys, "fit", "x.csv", "-k", "1", "--family", family)
    assert status == 2 and out == ""
    assert err.startswith("error: argument --family: expected binomial, beta-binomial")
    assert len(err.splitlines()) == 1


# ------------------------------------------------------------- K and progress
def test_fit_k_range_selects_generating_k(tmp_path, capsys):
    """`--k-range` scans K, reports the criteria and selects the true K by BIC."""
    rng = np.random.default_rng(3)
    labels = rng.choice(3, size=300, p=[0.4, 0.3, 0.3])
    heads = rng.binomial(20, np.array([0.9, 0.5, 0.1])[labels])
    text = "\n".join(f"{h},{20 - h}" for h in heads)
    path = _write(tmp_path / "three.csv", text)
    status, out, _ = _cli_run(capsys, "fit", path, "--k-range", "1:5", "--json")
    assert status == 0
    report = json.loads(out)
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


def test_fit_k_range_marks_unidentifiable_k(tmp_path, capsys):
    """Rows of 2 trials identify one coin: larger K are marked and not selected."""
    path = _write(tmp_path / "two.csv", "2,0\n1,1\n0,2\n2,0\n1,1\n2,0\n")
    status, out, _ = _cli_run(capsys, "fit", path, "--k-range", "1:3", "-q")
    assert status == 0
    assert re.search(r"^\* binomial +1 +-[\d.]+ .*\d$", out, re.M)
    unidentifiable = r"^  binomial +[23] .*  not identifiable$"
    assert len(re.findall(unidentifiable, out, re.M)) == 2
    assert "warning: n_components in [2, 3] cannot be identified" in out


def test_fit_k_range_is_bounded_by_distinct_rows(tmp_path, capsys):
    """A K range beyond the distinct rows is cut to them, with a warning."""
    path = _write(tmp_path / "coins.csv", COINS_CSV + "5,5\n9,1\n")
    args = ["fit", path, "--n-init", "2"]
    status, out, err = _cli_run(capsys, *args, "--k-range", "1:200000", "--json")
    assert status == 0
    report = json.loads(out)
    assert [row["n_components"] for row in report["scan"]["rows"]] == [1, 2, 3, 4, 5]
    assert report["warnings"][0] == (
        "--k-range 1:200000 is cut to 1:5: K cannot exceed the number of "
        "distinct rows (5)"
    )
    assert err.splitlines()[0] == (
        "fitting binomial mixtures with n_components=1 to 5, each with 2 restarts"
    )
    status, _, err = _cli_run(capsys, *args, "--k-range", "6:9")
    assert status == 2
    assert err == (
        f"error: {path}: --k-range 6:9: K cannot exceed the number of distinct "
        "rows (5)\n"
    )


def test_progress_line_per_restart_with_total_log_likelihood(capsys):
    """A finished restart is one labelled line: K, i/n, objective times weight."""
    progress = _cli._Progress(_cli._Stderr())
    progress.fit_started(BinomialMixture(3), n_runs=5, total_weight=300.0)
    progress.iteration(2, 10, -4.2, 1e-3)
    progress.run_finished(2, 17, -4.1152, True)
    progress.run_finished(4, 1, -5.0, False)
    assert capsys.readouterr().err == (
        "K=3 restart 3/5: log-likelihood -1234.56 (converged, 17 iterations)\n"
        "K=3 restart 5/5: log-likelihood -1500.00 (not converged, 1 iteration)\n"
    )


def test_fit_progress_one_line_per_k_and_restart(tmp_path, capsys):
    """Progress is one line per K and restart, the best matching the scan table."""
    path, _ = _two_coins_csv(tmp_path / "counts.csv")
    args = ["fit", path, "--k-range", "1:3", "--n-init", "4", "--json"]
    status, out, err = _cli_run(capsys, *args)
    assert status == 0
    lines = err.splitlines()
    assert lines[0] == (
        "fitting binomial mixtures with n_components=1 to 3, each with 4 restarts"
    )
    pattern = (
        r"K=(\d) restart (\d)/4: log-likelihood (-\d+\.\d\d) "
        r"\((converged|not converged), (\d+) iterations?\)"
    )
    matches = [re.fullmatch(pattern, line) for line in lines[1:]]
    assert all(matches) and len(matches) == 12
    runs = sorted((int(m[1]), int(m[2])) for m in matches)
    assert runs == [(k, run) for k in (1, 2, 3) for run in (1, 2, 3, 4)]
    for row in json.loads(out)["scan"]["rows"]:
        best = max(float(m[3]) for m in matches if int(m[1]) == row["n_components"])
        # Rounded to 2 decimals; the prior term of pseudo_count is far smaller.
        assert_allclose(best, row["log_likelihood"], atol=0.006)
    # Lines, not timings: a rerun prints the same progress.
    assert _cli_run(capsys, *args)[2] == err


def test_fit_quiet_prints_nothing_on_stderr(tmp_path, capsys):
    """`--quiet` leaves standard error empty and the report on standard output."""
    path = _write(tmp_path / "coins.csv", COINS_CSV)
    status, out, err = _cli_run(capsys, "fit", path, "-k", "2", "-q")
    assert status == 0 and err == ""
    assert "converged       yes" in out


# ------------------------------------------------------------ standard streams
def test_fit_reads_standard_input(tmp_path, capsys, monkeypatch):
    """`fit -` reads the counts from standard input (bytes, with a BOM)."""
    data = b"\xef\xbb\xbfheads,tails\r\n" + COINS_CSV.encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    status, out, _ = _cli_run(capsys, "fit", "-", "-k", "2", "--json")
    assert status == 0
    report = json.loads(out)
    assert report["file"] == "<stdin>" and report["n_samples"] == 5
    assert_allclose(report["log_likelihood"], -9.7954, atol=1e-4)


def test_fit_reads_text_only_standard_input(capsys, monkeypatch):
    """A standard input without a bytes buffer (an IDE's) is read as text."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("\ufeffheads,tails\n" + COINS_CSV))
    status, out, _ = _cli_run(capsys, "fit", "-", "-k", "1", "-q", "--json")
    assert status == 0
    assert json.loads(out)["columns"] == ["heads", "tails"]


def test_fit_bad_standard_input_names_stdin(capsys, monkeypatch):
    """Errors in standard input, or a closed one, name `<stdin>`."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"5,5\n9,x\n")))
    status, _, err = _cli_run(capsys, "fit", "-", "-k", "1")
    assert status == 2
    assert err == "error: <stdin>: row 2, column 2: 'x' is not a number\n"
    monkeypatch.setattr(sys, "stdin", None)
    status, _, err = _cli_run(capsys, "fit", "-", "-k", "1")
    assert status == 2
    assert err == "error: <stdin>: standard input is closed\n"


def test_fit_output_dash_writes_assignments_to_stdout(tmp_path, capsys):
    """`-o -` makes the assignments the standard output; the report moves aside."""
    path = _write(tmp_path / "coins.csv", COINS_CSV)
    status, out, err = _cli_run(capsys, "fit", path, "-k", "2", "-q", "-o", "-")
    assert status == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["index", "posterior_0", "posterior_1", "component", "family"]
    assert [row[0] for row in rows[1:]] == ["0", "1", "2", "3", "4"]
    assert err.startswith(f"BinomialMixture fit of {path}\n")
    assert "written to" not in err


@pytest.mark.parametrize(
    "stream, message",
    [
        (None, "standard output is closed"),
        (
            _FailingStream(OSError(errno.ENOSPC, "No space left on device")),
            "cannot write to standard output (No space left on device)",
        ),
        (
            _FailingStream(BrokenPipeError(errno.EPIPE, "Broken pipe")),
            "cannot write to standard output (a broken pipe)",
        ),
    ],
    ids=["closed", "full", "broken-pipe"],
)
def test_cli_unwritable_stdout_is_one_line_error(
    tmp_path, capsys, monkeypatch, stream, message
):
    """A closed, full or broken standard output gives one `error:` line and 2."""
    path = _write(tmp_path / "coins.csv", COINS_CSV)
    monkeypatch.setattr(sys, "stdout", stream)
    for args in (["fit", path, "-k", "1", "-q"], ["demo"]):
        assert main(args) == 2
        assert capsys.readouterr().err == f"error: {message}\n"


@pytest.mark.parametrize(
    "stream",
    [None, _FailingStream(BrokenPipeError(errno.EPIPE, "Broken pipe"))],
    ids=["closed", "broken-pipe"],
)
def test_cli_unwritable_stderr_keeps_report_and_status(
    tmp_path, capsys, monkeypatch, stream
):
    """Progress and errors are dropped on a dead stderr; report and status are not."""
    path = _write(tmp_path / "coins.csv", COINS_CSV)
    monkeypatch.setattr(sys, "stderr", stream)
    assert main(["fit", path, "-k", "2"]) == 0
    assert "converged       yes" in capsys.readouterr().out
    assert main(["fit", path, "-k", "9"]) == 2
    assert main(["fit", path]) == 2


def test_cli_keyboard_interrupt_exits_130(tmp_path, capsys, monkeypatch):
    """Ctrl-C during the fit gives `error: interrupted` and status 130."""

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(_cli, "_fit", interrupted)
    path = _write(tmp_path / "coins.csv", COINS_CSV)
    assert _cli_run(capsys, "fit", path, "-k", "2") == (130, "", "error: interrupted\n")


# ------------------------------------------------------------------ usage
def test_cli_usage_error_is_one_line(capsys):
    """A missing required option is one `error:` line and status 2, no usage."""
    status, out, err = _cli_run(capsys, "fit", "counts.csv")
    assert status == 2 and out == ""
    assert err == (
        "error: one of the arguments -k/--n-components --k-range is required "
        "(see sklearn-coinem fit --help)\n"
    )
    status, _, err = _cli_run(capsys, "--bogus")
    assert status == 2
    assert err == "error: unrecognized arguments: --bogus (see sklearn-coinem --help)\n"


@pytest.mark.parametrize("k_range", ["3:1", "0:2", "1-4", "a:b"])
def test_fit_bad_k_range_is_usage_error(capsys, k_range):
    """A malformed `--k-range` is rejected by the parser with status 2."""
    status, _, err = _cli_run(capsys, "fit", "counts.csv", "--k-range", k_range)
    assert status == 2
    assert err.startswith("error: argument --k-range: expected MIN:MAX")
    assert len(err.splitlines()) == 1


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
    status, _, err = _cli_run(capsys, "fit", "counts.csv", "-k", "2", *option)
    assert status == 2
    assert re.match(r"error: argument [-\w/]+: " + message, err)
    assert len(err.splitlines()) == 1
