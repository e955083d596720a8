# amaranth: UnusedElaboratable=no
"""Accelerator top in Amaranth's simulator: AXI-Stream port names, parameter checks, and one
layer through the whole command protocol (the cocotb suite does the thorough checking)."""

import re

import numpy as np
import pytest
import torch
from amaranth.back import verilog

from tritforge.flows.synth import synthesize
from tritforge.golden.quant import ternary_matmul
from tritforge.hdl.accelerator import Accelerator
from tritforge.spec.params import AcceleratorParams
from tritforge.spec.protocol import ErrorCode
from tritforge.sim import protocol
from tritforge.sim.top_sim import exchange

AXIS = ["s_axis_tdata", "s_axis_tvalid", "s_axis_tready", "s_axis_tlast",
        "m_axis_tdata", "m_axis_tvalid", "m_axis_tready", "m_axis_tlast"]


def test_verilog_ports_are_axi_stream_names():
    text = verilog.convert(Accelerator(AcceleratorParams(rows=2, cols=8, stream_width=64)), name="top",
                           emit_src=False)
    header = text[text.index("module top("):text.index(");")]
    ports = set(re.findall(r"\w+", header)) - {"module", "top"}
    assert ports == set(AXIS) | {"clk", "rst", "busy", "error"}
    assert re.search(r"input \[63:0\] s_axis_tdata;", text)
    assert re.search(r"output \[63:0\] m_axis_tdata;", text)


def test_takes_its_parameter_object():
    with pytest.raises(TypeError, match=r"^params must be an AcceleratorParams, not \{'rows': 2\}$"):
        Accelerator({"rows": 2})
    params = AcceleratorParams(rows=2, cols=8)
    top = Accelerator(params)
    top._MustUse__silence = True
    assert top.params is params


@pytest.mark.parametrize("weight_format, unit", [
    ("2bit", {}), ("base3", {}), ("2bit", {"unit_kind": "lookup", "group": 3}),
    ("base3", {"unit_kind": "lookup", "group": 5}), ("base3", {"unit_kind": "lookup", "group": 2})])
def test_one_layer(weight_format, unit):
    params = AcceleratorParams(rows=2, cols=8, weight_format=weight_format, weight_depth=8,
                               act_depth=8, max_tokens=4, max_k=64, **unit)
    gen = torch.Generator().manual_seed(2)
    x = torch.randint(-128, 128, (3, 13), generator=gen, dtype=torch.int16)
    w = torch.randint(-1, 2, (5, 13), generator=gen, dtype=torch.int8)
    packets = [protocol.load_weights(params, 1, protocol.pack_tiles(params, w)),
               protocol.load_acts(params, 0, protocol.pack_chunks(params, x)),
               protocol.run(params, 3, 13, 5, weight_bank=1, act_bank=0),
               protocol.read_results(params), protocol.read_status(params)]
    assert Accelerator(params).params == params
    results, status = exchange(params, packets, 2).responses
    assert np.array_equal(protocol.decode_results(params, results, 3, 5), ternary_matmul(x, w).numpy())
    status = protocol.decode_status(params, status)
    assert status.error == ErrorCode.NONE
    assert status.counters["macs"] == 3 * 13 * 5 and status.counters["compute"] == 3 * 2 * 3


@pytest.mark.synth
@pytest.mark.parametrize("target", ["ice40", "ecp5"])
@pytest.mark.parametrize("shape", [{}, {"rows": 3, "cols": 10}], ids=["default", "3x10"])
def test_top_has_no_multiplier(target, shape):
    """A ternary accelerator needs no multiplier and no divider anywhere: not in the unit,
    nor in the decoder's tiling and capacity checks or the sequencer's MAC count (rows 3 and
    cols 10 have no power-of-two shortcut: a ``//`` or ``*`` there would show as a cell)."""
    report = synthesize(Accelerator(AcceleratorParams(**shape)), target)
    assert (report["dsp"], report["mul_cells"], report["div_cells"]) == (0, 0, 0)
