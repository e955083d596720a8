"""Benchmarks: ``make bench`` (``python -m benchmarks``) runs every module's ``main`` (a click command).

Each benchmark writes machine-readable results under ``build/bench/`` and prints a table;
the figures recorded in ``docs/`` come from here, with the machine and tool versions.
"""

import os
import platform

from tritforge.flows.tools import package_versions


def machine_environment(packages):
    """The machine and the versions of ``packages``, stored beside every measurement."""
    return {"python": platform.python_version(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "versions": package_versions(packages)}
