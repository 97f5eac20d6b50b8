"""Layering rules, checked by reading the source (ast) and by importing in a fresh process.

* ``landsim.kernels`` imports only numpy, numba, math, ``__future__`` and itself, so the
  kernels stay pure numeric code that the oracle tests can pin down.
* ``landsim/cli/main.py`` imports nothing heavy at module level (numba, rasterio, xarray,
  numpy), so ``landsim --help`` stays fast.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "landsim"
KERNEL_ALLOWED = ("numpy", "numba", "math", "__future__", "landsim.kernels")
CLI_HEAVY = ("numba", "rasterio", "xarray", "numpy")


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, top_level_only: bool = False) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import; relative imports are resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
    return found


def _within(name: str, allowed: tuple[str, ...]) -> bool:
    return any(name == a or name.startswith(a + ".") for a in allowed)


KERNEL_FILES = sorted((SRC / "kernels").rglob("*.py"))


def test_there_are_kernel_modules() -> None:
    names = {p.name for p in KERNEL_FILES}
    assert {"__init__.py", "allocate.py", "neighborhood.py", "potential.py"} <= names


@pytest.mark.parametrize("path", KERNEL_FILES, ids=[p.name for p in KERNEL_FILES])
def test_kernels_import_only_numeric_code(path: Path) -> None:
    bad = [
        f"{path.relative_to(SRC)}:{line} imports {name}"
        for line, name in _imports(path)
        if not _within(name, KERNEL_ALLOWED)
    ]
    assert not bad, "; ".join(bad)


def test_import_checker_catches_lookalikes(tmp_path: Path) -> None:
    """`numpyx` is not numpy, and a relative import resolves to its package."""
    assert not _within("numpyx", KERNEL_ALLOWED)
    assert not _within("mathutils", KERNEL_ALLOWED)
    assert _within("numpy.linalg", KERNEL_ALLOWED)
    kernels_init = SRC / "kernels" / "__init__.py"
    assert all(_within(n, KERNEL_ALLOWED) for _, n in _imports(kernels_init))


def test_cli_module_has_no_heavy_top_level_imports() -> None:
    path = SRC / "cli" / "main.py"
    bad = [
        f"cli/main.py:{line} imports {name} at module level"
        for line, name in _imports(path, top_level_only=True)
        if _within(name, CLI_HEAVY)
    ]
    assert not bad, "; ".join(bad)


def test_cli_import_loads_nothing_heavy() -> None:
    """Transitively too: importing the CLI (what `landsim --help` does) loads no heavy module."""
    code = (
        "import sys, landsim.cli.main\n"
        f"heavy = {CLI_HEAVY!r}\n"
        "print(','.join(sorted({m.split('.')[0] for m in sys.modules} & set(heavy))))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert proc.stdout.strip() == "", f"importing landsim.cli.main loads {proc.stdout.strip()}"


LOWER_LAYERS = ("model", "demand", "suitability", "constraints", "io", "scenario", "kernels")


@pytest.mark.parametrize("sub", LOWER_LAYERS)
def test_lower_layers_do_not_import_upper_ones(sub: str) -> None:
    """The layers under api.py never import api or cli (docs/design.md, Layers)."""
    for path in sorted((SRC / sub).rglob("*.py")):
        for line, name in _imports(path):
            assert not _within(name, ("landsim.api", "landsim.cli")), (
                f"{sub}/{path.name}:{line} imports {name}"
            )
