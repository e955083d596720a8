"""The package's layers, checked statically over every module (including imports inside
functions, which a run-time check misses).

Bottom up: ``spec`` (pure Python and numpy); ``golden`` (torch) and ``hdl`` (Amaranth), which
know nothing of each other; ``sim`` on both; ``flows`` on ``hdl``; ``app`` on everything.
:data:`ALLOWED` is the one table of the rule. Inside the package, subpackages import each
other relatively (``from ..spec import formats``), so that editors and static tools resolve
the import from the file tree.
"""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Subpackage -> the subpackages and heavy third-party packages it may import.
ALLOWED = {
    "spec": {"numpy"},
    "golden": {"spec", "numpy", "torch", "safetensors"},
    "hdl": {"spec", "amaranth"},
    "sim": {"spec", "golden", "hdl", "numpy", "torch", "amaranth", "cocotb", "cocotb_tools",
            "cocotbext", "serial"},
    "flows": {"spec", "hdl", "numpy", "amaranth", "amaranth_boards"},
    "app": {"spec", "golden", "hdl", "sim", "flows", "numpy", "torch", "amaranth", "amaranth_boards",
            "click", "rich", "serial", "pandas", "matplotlib", "distributed", "dask"},
}
SUBPACKAGES = set(ALLOWED)
#: Third-party packages whose use the table controls; any other import (the standard library,
#: small helpers such as ``tomllib``) is free.
CONTROLLED = {"numpy", "torch", "safetensors", "amaranth", "amaranth_boards", "cocotb", "cocotb_tools",
              "cocotbext", "click", "rich", "serial", "pandas", "matplotlib", "distributed", "dask"}


def modules():
    return sorted(path.relative_to(ROOT) for package in ALLOWED for path in (ROOT / package).glob("*.py"))


def imports_of(path):
    """``(line, target, relative)`` of every import in the module at ``path``; ``target`` is
    the subpackage or top-level package imported."""
    tree = ast.parse((ROOT / path).read_text(), str(path))
    package = path.parts[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, False) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                found.append((node.lineno, node.module, False))
            elif node.level == 1:
                found.append((node.lineno, f"tritforge.{package}", True))
            else:  # from .. import x / from ..x import y
                module = node.module or node.names[0].name
                found.append((node.lineno, f"tritforge.{module}", True))
    return found


def layer_of(target):
    """The subpackage (``tritforge.hdl.x`` -> ``hdl``) or top-level package of an import."""
    parts = target.split(".")
    if parts[0] == "tritforge":
        return parts[1] if len(parts) > 1 else "tritforge"
    return parts[0]


def test_every_subpackage_is_checked():
    folders = {path.parent.name for path in ROOT.glob("*/__init__.py")} - {"tests", "benchmarks"}
    assert folders == SUBPACKAGES
    assert len(modules()) > 40


@pytest.mark.parametrize("path", modules(), ids=str)
def test_imports_stay_in_their_layer(path):
    package = path.parts[0]
    for line, target, relative in imports_of(path):
        layer = layer_of(target)
        where = f"{path}:{line} imports {target}"
        if target.startswith("tritforge"):
            assert relative, f"{where}: import another subpackage relatively (from ..{layer} import ...)"
            assert layer == package or layer in ALLOWED[package], f"{where}: {package} may not use {layer}"
        elif layer in CONTROLLED:
            assert layer in ALLOWED[package], f"{where}: {package} may not use {layer}"


def test_checker_sees_lazy_and_relative_imports(tmp_path, monkeypatch):
    source = ("import numpy\nfrom ..hdl import units\n\n\ndef f():\n    import torch\n"
              "    from ..sim.driver import Driver\n    from . import io\n")
    (tmp_path / "spec").mkdir()
    (tmp_path / "spec" / "x.py").write_text(source)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    found = {(target, relative) for _, target, relative in imports_of(Path("spec/x.py"))}
    assert found == {("numpy", False), ("tritforge.hdl", True), ("torch", False),
                     ("tritforge.sim.driver", True), ("tritforge.spec", True)}
    with pytest.raises(AssertionError, match="spec may not use hdl"):
        test_imports_stay_in_their_layer(Path("spec/x.py"))


def test_tests_do_not_import_other_tests():
    """Shared test code lives in the package or in a helper module (``tests/rtl_runs.py``),
    never in a test module that another one imports."""
    for path in sorted((ROOT / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or alias.name for alias in node.names]
            else:
                continue
            for name in names:
                assert not name.split(".")[-1].startswith("test_"), (
                    f"tests/{path.name}:{node.lineno} imports the test module {name}")
