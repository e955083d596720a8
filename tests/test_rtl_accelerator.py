"""The accelerator top on Icarus Verilog and Verilator: cocotb testbench ``tb_accelerator``.

One build per (simulator, configuration); each build runs every cocotb test of the module
(random layers with gaps and backpressure, status counters, each bad command, reset in the
middle of a run). The default subset keeps the layers few and small; ``--runslow`` runs the
full sweep (>= 10,000 random transactions, every one checked).
"""

import json
from pathlib import Path

import pytest

from tritforge.hdl.protocol import AcceleratorParams
from tritforge.sim.build import run_accelerator
from tritforge.sim.simulators import SIMULATORS

BUILD = Path(__file__).resolve().parents[1] / "build" / "rtl"
TB_MODULE = "tritforge.sim.tb_accelerator"

#: Test geometries: small buffers so that layers get split; the two formats also differ in
#: stream width and in a tile shape that is not a power of two.
GEOMETRIES = {
    "2bit": dict(rows=4, cols=16, weight_format="2bit", max_k=256, weight_depth=16, act_depth=32,
                 max_tokens=8, stream_width=32),
    "base3": dict(rows=3, cols=10, weight_format="base3", max_k=100, weight_depth=12, act_depth=24,
                  max_tokens=6, stream_width=64),
}
#: Wide-stream geometry of the full run: a result group or a tile in one beat.
#: The protocol and robustness tests of tb_accelerator (the others need their own config).
PROTOCOL_TESTS = ["random_layers", "status_counters", "bad_commands", "reset_mid_run"]
WIDE = dict(rows=4, cols=16, weight_format="2bit", max_k=512, weight_depth=32, act_depth=64,
            max_tokens=16, stream_width=128)


def run_accelerator_tb(simulator, name, geometry, waves, testcase=None, **config):
    """Build ``geometry`` into ``build/rtl/<name>_<simulator>``, run the cocotb tests (all,
    or ``testcase``), return the testbench's summary."""
    build = BUILD / f"{name}_{simulator}"
    summary = build / "summary.json"
    summary.unlink(missing_ok=True)
    run_accelerator(simulator, AcceleratorParams(**geometry), build, TB_MODULE, waves=waves,
                    testcase=testcase, config={"params": geometry, "summary": str(summary), **config})
    return json.loads(summary.read_text())


@pytest.mark.rtl
@pytest.mark.parametrize("weight_format", list(GEOMETRIES))
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_accelerator(simulator, weight_format, waves):
    summary = run_accelerator_tb(simulator, f"accelerator_{weight_format}", GEOMETRIES[weight_format],
                                 waves, testcase=PROTOCOL_TESTS, seed=1, layers=4, resets=1)
    assert summary["random_layers"]["layers"] == 4
    assert summary["random_layers"]["results"] > 0
    assert len(summary["bad_commands"]["cases"]) >= 25
    assert summary["reset_mid_run"]["layers"] == 1


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize("geometry", ["2bit", "base3", "wide"])
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_accelerator_full(simulator, geometry, waves):
    """The full run: >= 10,000 random transactions (command packets) per simulator overall,
    0 mismatches."""
    params = WIDE if geometry == "wide" else GEOMETRIES[geometry]
    summary = run_accelerator_tb(simulator, f"accelerator_full_{geometry}", params, waves,
                                 testcase=PROTOCOL_TESTS, seed=7, layers=1000, resets=8)
    assert summary["random_layers"]["commands"] >= 3400


PROMPT = "A ternary accelerator "


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
    summary = run_accelerator_tb("verilator", "bitnet_model", WIDE, waves, testcase="bitnet_model",
                                 bitnet_model={"model": "tiny", "prompt": PROMPT})
    assert summary["bitnet_model"]["matmuls"] == 14
