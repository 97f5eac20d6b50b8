"""The layering rules that matter most, checked by reading the imports (ast)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "landsim"


def _imports(path: Path, top_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_kernels_are_pure() -> None:
    """kernels/ imports only numpy, numba, the stdlib basics and itself."""
    allowed = ("numpy", "numba", "math", "__future__", "landsim.kernels")
    for path in (SRC / "kernels").glob("*.py"):
        for name in _imports(path):
            assert name.startswith(allowed), f"{path.name} imports {name}"


def test_cli_top_level_is_light() -> None:
    """The CLI module imports nothing heavy at its top level, so --help is instant."""
    heavy = ("numpy", "numba", "rasterio", "xarray", "pydantic", "landsim.api", "landsim.kernels")
    for name in _imports(SRC / "cli" / "main.py", top_level_only=True):
        assert not name.startswith(heavy), f"cli/main.py imports {name} at module level"


def test_lower_layers_do_not_import_upper_ones() -> None:
    """model/, demand/, suitability/, constraints/, io/ and scenario/ never import api or cli."""
    for sub in ("model", "demand", "suitability", "constraints", "io", "scenario", "kernels"):
        for path in (SRC / sub).glob("*.py"):
            for name in _imports(path):
                assert not name.startswith(("landsim.api", "landsim.cli")), (
                    f"{sub}/{path.name} imports {name}"
                )
