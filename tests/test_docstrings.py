"""Docstrings of the public API: numpydoc validation, doctests, API page."""

import doctest
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import sklearn_coinem
import sklearn_coinem.datasets

numpydoc_validate = pytest.importorskip("numpydoc.validate")

DOCS = Path(__file__).resolve().parents[1] / "docs"
PUBLIC_MODULES = [sklearn_coinem, sklearn_coinem.datasets]

# Checks left out, as in scikit-learn: extended summaries and See Also are
# optional, and "name : type" return lines (RT02) are the house style.
IGNORED = {"ES01", "SA01", "RT02"}
# Methods are shown by the class example; warnings need none.
IGNORED_METHOD = IGNORED | {"EX01"}
IGNORED_WARNING = IGNORED | {"EX01"}

DOCTEST_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _public_names():
    """(import path, ignored checks) of every public name and public method."""
    paths = []
    for module in PUBLIC_MODULES:
        for name in module.__all__:
            if name.startswith("__"):
                continue
            obj, path = getattr(module, name), f"{module.__name__}.{name}"
            if inspect.isclass(obj) and issubclass(obj, Warning):
                paths.append((path, IGNORED_WARNING))
                continue
            paths.append((path, IGNORED))
            if inspect.isclass(obj):
                paths += [
                    (f"{path}.{method}", IGNORED_METHOD)
                    for method, value in vars(obj).items()
                    if callable(value)
                    and not method.startswith("_")
                    and not re.fullmatch(r"set_\w+_request", method)
                ]
    return paths


@pytest.mark.parametrize(
    "path, ignored", _public_names(), ids=[path for path, _ in _public_names()]
)
def test_docstring_numpydoc_valid(path, ignored):
    """Every public docstring passes numpydoc's validation."""
    result = numpydoc_validate.validate(path)
    errors = [
        f"{code}: {message}"
        for code, message in result["errors"]
        if code not in ignored
    ]
    assert not errors, f"{path}:\n" + "\n".join(errors)


def _package_modules():
    prefix = sklearn_coinem.__name__ + "."
    return sorted(
        name
        for _, name, _ in pkgutil.walk_packages(sklearn_coinem.__path__, prefix)
        if not name.endswith("__main__")
    )


@pytest.mark.parametrize("module_name", _package_modules())
def test_docstring_examples_run(module_name):
    """The doctest examples of every module give their documented output."""
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=DOCTEST_FLAGS, report=True)
    assert result.failed == 0, f"{result.failed} doctest failures in {module_name}"


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("page", ["index.rst", "user_guide.rst", "semi_supervised.rst"])
def test_docs_page_examples_run(page):
    """The ``>>>`` examples of the documentation pages give their output."""
    result = doctest.testfile(
        str(DOCS / page), module_relative=False, optionflags=DOCTEST_FLAGS
    )
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} doctest failures in {page}"


def test_docs_api_page_lists_every_public_name():
    """docs/api.rst has an autosummary entry for every name of ``__all__``."""
    text = (DOCS / "api.rst").read_text(encoding="utf-8")
    listed = set(re.findall(r"^   (\w+)$", text, flags=re.M))
    for module in PUBLIC_MODULES:
        public = {name for name in module.__all__ if not name.startswith("__")}
        assert public <= listed, f"missing from docs/api.rst: {public - listed}"
