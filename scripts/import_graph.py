"""Which of the project's packages each package imports: the layering of the code, from its source.

Reads every module with `ast` (nothing is imported). Counts imports at module level and inside
functions alike (a lazy import is still a dependency), except those under `if TYPE_CHECKING:`
(annotations only, never run) and those in a module's `__getattr__` (PEP 562: names kept importable
from their old home after a move, forwarded on first use, never used by the module itself).
`pipeline` is split: its foundation (errors, atomic writes, config machinery, paths, executor, stage
lifecycle), which every stage may use; its orchestration (command line, corpus build, summary,
ablation), which uses every stage; and the config tree (`pipeline.tree`: every stage's section side by
side), which sits in pretraining's layer: a run records the whole tree, and the tree holds
pretraining's sections.

    python scripts/import_graph.py            # unit -> units it imports
    python scripts/import_graph.py --modules  # module -> project modules it imports
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("formats", "pipeline", "corpus", "graph", "pretrain")
# Modules of `pipeline` that run the stages (everything else in it is the foundation).
ORCHESTRATION = ("pipeline.cli", "pipeline.build", "pipeline.summary", "pipeline.ablation")
CONFIG_TREE = ("pipeline.tree",)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_names(path: Path, module: str) -> set[str]:
    """Absolute names of every module `path` imports (relative imports resolved), TYPE_CHECKING aside."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__" and node in tree.body:
            return
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def module_imports() -> dict[str, set[str]]:
    """module -> the project modules it imports."""
    modules = project_modules()
    return {
        module: {n for n in imported_names(path, module) if n in modules and n != module}
        for module, path in modules.items()
    }


def unit_of(module: str) -> str:
    package = module.split(".")[0]
    if package == "pipeline":
        if module in ORCHESTRATION:
            return "pipeline (orchestration)"
        return "pretrain, pipeline.tree" if module in CONFIG_TREE else "pipeline (foundation)"
    if package == "pretrain":
        return "pretrain, pipeline.tree"
    return package


def unit_imports() -> dict[str, set[str]]:
    picture: dict[str, set[str]] = defaultdict(set)
    for module, imported in module_imports().items():
        picture[unit_of(module)].update(unit_of(m) for m in imported if unit_of(m) != unit_of(module))
        picture.setdefault(unit_of(module), set())
    return dict(picture)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", action="store_true", help="one line per module instead of per unit")
    args = parser.parse_args(argv)
    picture = module_imports() if args.modules else unit_imports()
    width = max(len(k) for k in picture)
    for unit in sorted(picture):
        print(f"{unit:<{width}}  -> {', '.join(sorted(picture[unit])) or '(none)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
