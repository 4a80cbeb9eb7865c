"""Function-local imports of the packages, each with the comment above it (they must defer something).

python scripts/local_imports.py     # one line per import: file:line module  | comment
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("foundation", "formats", "corpus", "graph", "pretrain", "pipeline")


def local_imports() -> list[tuple[str, int, str, str]]:
    """(file, line, imported module, the comment on the lines just above or on the line)."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            lines = text.splitlines()
            tree = ast.parse(text)
            seen: set[int] = set()
            for fn in ast.walk(tree):
                if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(fn):
                    if not isinstance(node, ast.Import | ast.ImportFrom) or node.lineno in seen:
                        continue
                    seen.add(node.lineno)
                    module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                    # The comment: on the import's line, or the comment lines right above the block of
                    # imports it belongs to.
                    comment = lines[node.lineno - 1].partition("#")[2].strip()
                    i = node.lineno - 2
                    while (
                        not comment
                        and i >= 0
                        and (lines[i].strip().startswith(("from ", "import ", "#")) or not lines[i].strip())
                    ):
                        if lines[i].strip().startswith("#"):
                            comment = lines[i].strip().lstrip("# ")
                        i -= 1
                    found.append((str(path.relative_to(ROOT)), node.lineno, module or "", comment))
    return found


def main() -> int:
    rows = local_imports()
    for file, line, module, comment in rows:
        print(f"{file}:{line} {module}  | {comment or '(no comment)'}")
    print(f"{len(rows)} function-local imports, {sum(1 for r in rows if not r[3])} without a comment")
    return 0


if __name__ == "__main__":
    sys.exit(main())
