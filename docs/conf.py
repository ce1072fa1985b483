"""Sphinx configuration of the sklearn_coinem documentation.

Build (warnings are errors, examples executed), from the repository root::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

import contextlib
import io
import os
import sys
from pathlib import Path

import sklearn_coinem
from sklearn_coinem._cli import main

sys.path.insert(0, str(Path(__file__).parent / "sphinxext"))

project = "sklearn_coinem"
author = "sklearn_coinem developers"
copyright = "2026, sklearn_coinem developers"
version = release = sklearn_coinem.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
default_role = "literal"

# API reference: one page per public name, members listed by numpydoc.
autosummary_generate = True
autodoc_default_options = {"members": True}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

html_theme = "pydata_sphinx_theme"
html_title = f"sklearn_coinem {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path = []

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    # Every example runs at build time; a failing one fails the build.
    "plot_gallery": "True",
    "within_subsection_order": "gallery_order.ExampleOrder",
    "backreferences_dir": "generated/backreferences",
    "doc_module": ("sklearn_coinem",),
    "reference_url": {"sklearn_coinem": None},
    "download_all_examples": False,
    "remove_config_comments": True,
}


def _run_cli(*args):
    """Run the command line in this process; return what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            main(list(args))
        except SystemExit:  # argparse exits after printing --help
            pass
    return out.getvalue()


def _write_cli_outputs(directory):
    """Write what the command line prints, for the CLI page to include.

    The page is thus always what the installed command prints.
    """
    directory.mkdir(parents=True, exist_ok=True)
    counts = directory / "coins.csv"
    rows = ["heads,tails", "5,5", "9,1", "8,2", "4,6", "7,3"]
    counts.write_text("\n".join(rows) + "\n", encoding="utf-8")
    bad = directory / "bad.csv"
    bad.write_text("heads,tails\n5,5\n9,one\n", encoding="utf-8")
    previous = Path.cwd()
    os.chdir(directory)  # so the outputs show "coins.csv", not a full path
    try:
        outputs = {
            "help.txt": _run_cli("--help"),
            "fit_help.txt": _run_cli("fit", "--help"),
            "demo.txt": _run_cli(),
            "fit.txt": _run_cli("fit", "coins.csv", "-k", "2", "--random-state", "0"),
            "bad.txt": _run_cli("fit", "bad.csv", "-k", "2"),
        }
    finally:
        os.chdir(previous)
    for name, text in outputs.items():
        (directory / name).write_text(text, encoding="utf-8")


_write_cli_outputs(Path(__file__).parent / "generated" / "cli")


def _skip_metadata_requests(app, what, name, obj, skip, options):
    """Leave out the ``set_*_request`` methods sklearn generates on every class."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return skip


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)
