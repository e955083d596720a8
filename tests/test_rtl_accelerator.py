"""The accelerator top on Icarus Verilog and Verilator: cocotb testbench ``tb_accelerator``.

One build per (simulator, configuration), the accelerator inside the batch harness
(``sim/harness.py``); each build runs every cocotb test of the module (random layers with
gaps and backpressure through the cocotbext-axi drivers and, many more, in batches through
the harness; status counters, each bad command, reset in the middle of a run). ``--runslow``
runs the full sweep: on Verilator the batches run in a cocotb-free build
(``sim/native.py``) at over ten times the speed.
"""

import random

import pytest

from tritforge.sim.native import native_random_layers
from tritforge.sim.simulators import SIMULATORS
from tritforge.sim.tb_accelerator import bad_command_cases
from tritforge.spec.protocol import ErrorCode

from rtl_runs import BUILD, GEOMETRIES, run_accelerator_tb

#: The protocol and robustness tests of tb_accelerator (the others need their own config;
#: cocotb takes each name as a pattern: "random_layers" also selects "bulk_random_layers").
PROTOCOL_TESTS = ["random_layers", "bulk_random_layers", "status_counters", "bad_commands", "reset_mid_run"]
#: Random layers through the harness in the default suite (the simulation's speed differs).
BULK_LAYERS = {"icarus": 24, "verilator": 400}
#: Link pauses, taken in turn by the layers and bad commands of a run: none, some, many.
IDLE = [0, 0.2, 0, 0.6]
BACKPRESSURE = [0, 0, 0.6, 0.2]
PROMPT = "A ternary accelerator "


@pytest.mark.rtl
@pytest.mark.parametrize("geometry", ["2bit", "base3",
                                      # ~35 s on Icarus, ~165 s on Verilator (build and 400 layers)
                                      pytest.param("lookup_base3", marks=pytest.mark.slow)])
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_accelerator(simulator, geometry, waves):
    summary = run_accelerator_tb(simulator, f"accelerator_{geometry}", GEOMETRIES[geometry], waves,
                                 testcase=PROTOCOL_TESTS, harness=True, seed=1, layers=4,
                                 bulk_layers=BULK_LAYERS[simulator], batch_layers=6, resets=1,
                                 idle=IDLE, backpressure=BACKPRESSURE)
    assert summary["random_layers"]["layers"] == 4
    assert summary["bulk_random_layers"]["layers"] == BULK_LAYERS[simulator]
    assert summary["bulk_random_layers"]["batches"] >= len(IDLE)
    assert summary["random_layers"]["results"] > 0
    assert len(summary["bad_commands"]["cases"]) >= 25
    assert summary["reset_mid_run"]["layers"] == 1


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize("geometry", ["2bit", "base3", "wide", "lookup", "lookup_base3"])
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_accelerator_full(simulator, geometry, waves):
    """The full run of the cocotb tests: 100 layers through the cocotbext-axi drivers and
    100 through the harness (Icarus simulates the design itself at ~1,000 cycles/s: the
    harness gains little there; Verilator's many batches: :func:`test_accelerator_native`);
    8 resets, every bad command, 0 mismatches."""
    summary = run_accelerator_tb(simulator, f"accelerator_full_{geometry}", GEOMETRIES[geometry], waves,
                                 testcase=PROTOCOL_TESTS, harness=True, seed=7, layers=100,
                                 bulk_layers=100, resets=8, idle=IDLE, backpressure=BACKPRESSURE)
    assert summary["random_layers"]["layers"] == 100
    assert summary["bulk_random_layers"]["layers"] == 100


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize("geometry", ["2bit", "base3", "wide", "lookup", "lookup_base3"])
def test_accelerator_native(geometry):
    """20,000 random layers per geometry in batches on the cocotb-free Verilator build of the
    harness, random gaps and backpressure, every result checked."""
    summary = native_random_layers(GEOMETRIES[geometry], BUILD / f"native_{geometry}",
                                   {"seed": 7, "layers": 20_000, "batch_layers": 256,
                                    "idle": IDLE, "backpressure": BACKPRESSURE})
    assert summary["layers"] == 20_000 and summary["batches"] > len(IDLE)


@pytest.mark.rtl
def test_bitnet_layer(waves):
    """One BitLinear of the trained tiny model (its down projection, K = 172) on the RTL."""
    summary = run_accelerator_tb("verilator", "bitnet_layer", GEOMETRIES["2bit"], waves,
                                 testcase="bitnet_layer",
                                 bitnet_layer={"model": "tiny", "prompt": PROMPT, "layer": 6})
    layer = summary["bitnet_layer"]
    assert layer["match"] and layer["name"] == "model.layers.0.mlp.down_proj"
    assert layer["shape"] == [len(PROMPT), 172, 64] and layer["runs"] > 1


@pytest.mark.rtl
@pytest.mark.slow
def test_bitnet_model(waves):
    """Every BitLinear of the trained tiny model on the RTL: logits equal, bit for bit."""
    summary = run_accelerator_tb("verilator", "bitnet_model", GEOMETRIES["wide"], waves,
                                 testcase="bitnet_model",
                                 bitnet_model={"model": "tiny", "prompt": PROMPT})
    assert summary["bitnet_model"]["matmuls"] == 14


def test_bad_command_cases_cover_every_error_code():
    """Every documented error code has a bad-command case (INVALID_WEIGHT its own test),
    in every geometry the RTL tests use."""
    for params in GEOMETRIES.values():
        cases = bad_command_cases(params, random.Random(0))
        covered = {error for _, error, _ in cases.values()} | {ErrorCode.INVALID_WEIGHT}
        assert covered == set(ErrorCode) - {ErrorCode.NONE}
