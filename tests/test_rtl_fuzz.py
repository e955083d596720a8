"""The accelerator top under random command streams (cocotb testbench ``tb_fuzz``): valid and
invalid opcodes, sizes, short, cut and overlong packets, resets in the middle of a packet,
CLEAR; every response checked against the protocol model, a watchdog on every response.

``TRITFORGE_FUZZ_SEED`` sets the seed (a failure prints the one to replay)."""

import os

import pytest

from tritforge.sim.simulators import SIMULATORS

from rtl_runs import GEOMETRIES, run_accelerator_tb

FUZZ_TB = "tritforge.sim.tb_fuzz"
IDLE = [0, 0.3, 0, 0.6]
BACKPRESSURE = [0, 0, 0.6, 0.3]


def fuzz(simulator, geometry, waves, seed, episodes, commands):
    summary = run_accelerator_tb(simulator, f"fuzz_{geometry}", GEOMETRIES[geometry], waves,
                                 test_module=FUZZ_TB, seed=seed, episodes=episodes, commands=commands,
                                 idle=IDLE, backpressure=BACKPRESSURE)["fuzz_commands"]
    assert summary["layers"] == episodes
    assert summary["commands"] >= episodes * commands
    return summary


def seed(default):
    return int(os.environ.get("TRITFORGE_FUZZ_SEED", default))


@pytest.mark.rtl
def test_fuzz_commands(waves):
    summary = fuzz("verilator", "2bit", waves, seed(1), episodes=12, commands=60)
    assert summary["refused"] > 30 and summary["checked_results"] > 0


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize("geometry", ["2bit", "base3", "wide"])
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_fuzz_commands_full(simulator, geometry, waves):
    summary = fuzz(simulator, geometry, waves, seed(11), episodes=60, commands=80)
    assert summary["refused"] > 1000
