"""No module imports from a layer above its own (docs/architecture.md, "Layers").

Imports inside functions count; imports under `if TYPE_CHECKING:` (annotations only) do not.
"""

from __future__ import annotations

import ast
from pathlib import Path

import thresher

ROOT = Path(thresher.__file__).parent
LAYERS = [
    ("ground", ["errors", "progress", "_version", "_startup"]),
    ("core", ["budget", "params", "steps", "io", "engine", "choosers"]),
    ("result", ["selection"]),
    ("data", ["data"]),
    ("features", ["features"]),
    ("reports", ["report"]),
    ("steps", ["select", "filter"]),
    ("training", ["train"]),
    ("proof", ["evaluate"]),
    ("command line", ["cli"]),
]
LEVEL = {part: level for level, (_, parts) in enumerate(LAYERS) for part in parts}


def _level(module: str) -> int | None:
    """The layer of `thresher.<part>...`; None for the package itself."""
    parts = module.split(".")
    if parts[0] != "thresher" or len(parts) == 1:
        return None
    return LEVEL[parts[1]]


def _imports(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, node.lineno


def test_every_module_is_in_a_layer():
    for path in ROOT.iterdir():
        name = path.stem
        if name.startswith("__") or name == "py" or (path.is_file() and path.suffix != ".py"):
            continue
        assert name in LEVEL, f"{path.name} is in no layer of docs/architecture.md; add it to both"


def test_no_module_imports_from_a_layer_above_its_own():
    upward = []
    for path in sorted(ROOT.rglob("*.py")):
        module = "thresher." + ".".join(path.relative_to(ROOT).with_suffix("").parts)
        own = _level(module.removesuffix(".__init__"))
        if own is None:
            continue
        for imported, line in _imports(path):
            other = _level(imported)
            if other is not None and other > own:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {imported} "
                              f"({LAYERS[own][0]} -> {LAYERS[other][0]})")
    assert not upward, "imports from a layer above:\n" + "\n".join(upward)
