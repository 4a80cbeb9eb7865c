"""Every third-party module the installed packages import is a declared dependency, and every declared
dependency is used: `pip install .` (no extras) must be enough to run every command."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest itself depends on tomli before 3.11
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
PACKAGES = (
    "foundation",
    "pipeline",
    "formats",
    "corpus",
    "graph",
    "pretrain",
)  # [tool.setuptools.packages.find] include
# Imported only where an optional extra is installed (checked with importlib.util.find_spec first).
OPTIONAL = {"ray": "ray"}
# Declared for a module the code loads by other means: torch.utils.tensorboard imports tensorboard.
INDIRECT = {"tensorboard"}
# Declared but used outside the installed packages' imports, with the reason.
NOT_IMPORTED = {
    # tests/corpus/wikitext/test_wikitext_reference.py and bench/wikitext.py compare the scanner against it
    "mwparserfromhell",
}


def imported_modules() -> set[str]:
    found = set()
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    found.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return found - set(PACKAGES) - set(sys.stdlib_module_names) - {"__future__"}


def declared(section: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[ ;]", req, maxsplit=1)[0].lower() for req in section}


def test_every_runtime_import_is_a_declared_dependency_and_none_is_unused():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = declared(project["dependencies"])
    dists = packages_distributions()
    modules = imported_modules()
    needed = {}
    for module in modules - set(OPTIONAL):
        names = {d.lower() for d in dists.get(module, [])}
        assert names, f"{module} is imported but not installed"
        needed[module] = names
    missing = {m: n for m, n in needed.items() if not n & deps}
    assert not missing, f"imported at run time but not in [project] dependencies: {missing}"
    used = set().union(*needed.values()) | INDIRECT | NOT_IMPORTED
    assert deps - used == set(), f"declared but never imported: {deps - used}"
    for module, extra in OPTIONAL.items():
        assert module in modules and extra in project["optional-dependencies"]


def test_each_dependency_is_listed_once():
    """One list without repeats: a package named twice (with two ranges) leaves the reader to guess."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for section in [project["dependencies"], *project["optional-dependencies"].values()]:
        names = [re.split(r"[<>=!~\[ ;]", spec, maxsplit=1)[0].lower() for spec in section]
        assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_every_test_has_a_time_limit(pytestconfig):
    """pytest-timeout is configured: a default for every test, a longer one for slow-marked tests."""
    from tests.conftest import SLOW_TIMEOUT_S

    options = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert int(options["timeout"]) > 0 and float(pytestconfig.getini("timeout")) == options["timeout"]
    assert int(options["timeout"]) < SLOW_TIMEOUT_S


def test_a_test_that_is_not_slow_keeps_the_default_limit(request):
    marker = request.node.get_closest_marker("timeout")
    assert marker is None  # this test is not slow: the default applies


@pytest.mark.slow
def test_a_slow_test_gets_the_longer_limit(request):
    from tests.conftest import SLOW_TIMEOUT_S

    assert request.node.get_closest_marker("timeout").args == (SLOW_TIMEOUT_S,)
