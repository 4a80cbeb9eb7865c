"""The floors of the code and what imports what, read from the source.

Reads every module of the packages, the benchmarks and these scripts with `ast` (nothing is imported).
Imports at module level and inside functions count alike (a deferred import is still a dependency);
those under `if TYPE_CHECKING:` (annotations only, never run) do not.

The floors, lowest first; a module may import its own floor's modules and lower floors' only:

    foundation                 errors, atomic writes, paths, config machinery, executors, stage lifecycle
    formats                    the on-disk contracts between stages, and of the run and export folders
    corpus | graph | pretrain  the stages, side by side: none imports another
    pipeline                   command line, configuration tree, corpus build, ablations, summary
    bench | scripts            benchmarks and tools

Inside corpus/ and pretrain/ the rooms (sub-packages) have floors of their own, in ROOMS.

    python scripts/import_graph.py            # floor -> floors it imports, then any circle or wrong way
    python scripts/import_graph.py --modules  # module -> project modules it imports
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("foundation", "formats", "corpus", "graph", "pretrain", "pipeline")
TOOLS = ("bench", "scripts")  # folders of scripts: each file is a module named `bench.name`
# Floor of each top-level name, lowest first; names on one floor are siblings that never import each other.
FLOORS: list[tuple[str, ...]] = [
    ("foundation",),
    ("formats",),
    ("corpus", "graph", "pretrain"),
    ("pipeline",),
    TOOLS,
]


# The rooms of a stage, lowest first; a room may import its own floor's rooms and lower ones only.
ROOMS: dict[str, list[tuple[str, ...]]] = {
    "corpus": [
        ("corpus.site",),  # namespaces, titles, languages, site data
        ("corpus.wikitext",),  # wikitext -> text and links
        ("corpus.readers",),  # input formats
        ("corpus.config",),
        ("corpus.extract", "corpus.segments", "corpus.inspect"),  # the stages and the corpus inspector
    ],
    "pretrain": [
        ("pretrain.counter_rng",),  # counter-based random numbers of every draw
        ("pretrain.relations",),
        ("pretrain.config",),
        ("pretrain.data", "pretrain.modeling"),
        ("pretrain.evaluation",),
        ("pretrain.training", "pretrain.export"),
    ],
}


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
    for folder in TOOLS:
        for path in sorted((ROOT / folder).glob("*.py")):
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
    """The top-level name a module belongs to (`corpus`, `pretrain`, `bench`, ...)."""
    return module.split(".")[0]


def floor_of(module: str) -> int:
    unit = unit_of(module)
    for rank, names in enumerate(FLOORS):
        if unit in names:
            return rank
    raise ValueError(f"{module} is on no floor: add {unit!r} to FLOORS in scripts/import_graph.py")


def room_of(module: str) -> tuple[str, int] | None:
    """The room of a corpus or pretrain module and its floor inside the stage (None elsewhere)."""
    for rank, rooms in enumerate(ROOMS.get(unit_of(module), [])):
        for room in rooms:
            if module == room or module.startswith(room + "."):
                return room, rank
    if unit_of(module) in ROOMS and module != unit_of(module):
        raise ValueError(f"{module} is in no room: add it to ROOMS in scripts/import_graph.py")
    return None


def wrong_way(imports: dict[str, set[str]]) -> list[str]:
    """Imports of a higher floor, or of a sibling on the same floor; inside a stage, of a higher room."""
    found = []
    for module, imported in sorted(imports.items()):
        for target in sorted(imported):
            if unit_of(target) != unit_of(module):
                if floor_of(target) >= floor_of(module):
                    found.append(
                        f"{module} imports {target} ({unit_of(target)} is not below {unit_of(module)})"
                    )
                continue
            here, there = room_of(module), room_of(target)
            if here and there and here[0] != there[0] and there[1] >= here[1]:
                found.append(f"{module} imports {target} ({there[0]} is not below {here[0]})")
    return found


def circles(imports: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import each other, directly or round a circle (Tarjan's components of
    more than one module, or a module importing itself), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def connect(start: str) -> None:
        nonlocal counter
        # Iterative depth-first search: the graph has hundreds of modules, recursion would do too.
        work = [(start, iter(sorted(imports.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(imports.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1 or node in imports.get(node, ()):
                    found.append(sorted(group))

    for module in sorted(imports):
        if module not in index:
            connect(module)
    return sorted(found)


def unit_imports(imports: dict[str, set[str]]) -> dict[str, set[str]]:
    picture: dict[str, set[str]] = defaultdict(set)
    for module, imported in imports.items():
        picture[unit_of(module)].update(unit_of(m) for m in imported if unit_of(m) != unit_of(module))
        picture.setdefault(unit_of(module), set())
    return dict(picture)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", action="store_true", help="one line per module instead of per floor")
    args = parser.parse_args(argv)
    imports = module_imports()
    picture = imports if args.modules else unit_imports(imports)
    width = max(len(k) for k in picture)
    for unit in sorted(picture, key=lambda u: (floor_of(u), u)):
        print(f"{unit:<{width}}  -> {', '.join(sorted(picture[unit])) or '(none)'}")
    wrong, loops = wrong_way(imports), circles(imports)
    print(f"\n{len(imports)} modules, {len(wrong)} wrong-way imports, {len(loops)} circles")
    for line in wrong:
        print(f"wrong way: {line}")
    for group in loops:
        print(f"circle: {' <-> '.join(group)}")
    return 1 if wrong or loops else 0


if __name__ == "__main__":
    sys.exit(main())
