"""The package's dependency rule: golden (torch) and hdl (amaranth) know nothing of each
other, flows uses hdl but not golden. Checked in a fresh interpreter per subpackage."""

import subprocess
import sys

import pytest

FORBIDDEN = {
    "tritforge.golden": ["amaranth", "tritforge.hdl", "tritforge.sim", "tritforge.flows"],
    "tritforge.hdl": ["torch", "tritforge.golden", "tritforge.sim", "tritforge.flows"],
    "tritforge.flows.synth": ["torch", "tritforge.golden", "tritforge.sim"],
    "tritforge.flows.energy": ["torch", "tritforge.golden", "tritforge.sim"],
    "tritforge.flows.generate": ["torch", "tritforge.golden", "tritforge.sim"],
}


@pytest.mark.parametrize("package", list(FORBIDDEN))
def test_imports_stay_in_their_layer(package):
    probe = (f"import sys, {package}; "
             f"print(' '.join(m for m in {FORBIDDEN[package]!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "", f"{package} imports {done.stdout.strip()}"
