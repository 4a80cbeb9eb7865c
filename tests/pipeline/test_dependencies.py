"""Every third-party module the installed packages import is a declared dependency, and every declared
dependency is used: `pip install .` (no extras) must be enough to run every command."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest itself depends on tomli before 3.11
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("pipeline", "formats", "corpus", "graph", "pretrain")  # [tool.setuptools.packages.find] include
# Imported only where an optional extra is installed (checked with importlib.util.find_spec first).
OPTIONAL = {"ray": "ray"}
# Declared for a module the code loads by other means: torch.utils.tensorboard imports tensorboard.
INDIRECT = {"tensorboard"}
# Declared but used outside the installed packages' imports, with the reason.
NOT_IMPORTED = {
    # tests/corpus/test_wikitext_reference.py and bench/wikitext.py compare the scanner against it
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
