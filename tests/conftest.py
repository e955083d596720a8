"""Suite-wide options: ``--runslow`` for the full RTL sweeps, ``--waves`` (or the environment
variable ``TRITFORGE_WAVES=1``) for waveforms."""

import os

import pytest


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run tests marked slow (the full RTL and synthesis sweeps)")
    parser.addoption("--waves", action="store_true", default=False,
                     help="dump waveforms from RTL simulations (FST/VCD under build/)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow (make test-full)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture
def waves(request):
    """True when the user asked for waveforms (``--waves`` or ``TRITFORGE_WAVES=1``)."""
    return request.config.getoption("--waves") or os.environ.get("TRITFORGE_WAVES", "") not in ("", "0")
