"""Benchmarks: ``make bench`` (``python -m benchmarks``) runs every module's ``main`` (a click command).

Each benchmark writes machine-readable results under ``build/bench/`` and prints a table;
the figures recorded in ``docs/`` come from here, with the machine and tool versions.
"""

import json
import os
import platform

from tritforge.flows.tools import package_versions


def machine_environment(packages):
    """The machine and the versions of ``packages``, stored beside every measurement."""
    return {"python": platform.python_version(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "versions": package_versions(packages)}


def write_result(out, filename, result):
    """Write ``result`` as JSON to ``out/filename`` (the folder created) and say where."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / filename
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}")
    return path
