# amaranth: UnusedElaboratable=no
"""flows.vcdtrace: sampling ports at clock edges and counting toggles in a VCD (pyvcd)."""

import pytest

from tritforge.flows.activity import RTL_SCOPE, simulate_rtl
from tritforge.hdl.units import build_unit
from tritforge.spec.params import UnitParams
from tritforge.flows.vcdtrace import VcdTrace, read_vcd

# Three rising edges (5, 15, 25). At 0 the initial state (two blocks, an x read as 0); at 5
# v changes twice (only the last value counts); what happens at and after the last edge
# (25) belongs to no sampled cycle. "v.lo" is a field view of v, "outside" not in the scope.
_VCD = """$timescale 1ns $end
$scope module bench $end
$scope module top $end
$var wire 1 ! clk $end
$var wire 4 " v $end
$var wire 2 # \\v.lo $end
$scope module sub $end
$var wire 1 $ w $end
$upscope $end
$upscope $end
$var wire 1 % outside $end
$upscope $end
$enddefinitions $end
#0
$dumpvars
0!
bx011 "
b11 #
0$
1%
$end
#0
b1 "
#5
1!
b11 "
b10 "
1$
#10
0!
0%
#15
1!
b110 "
#20
0!
#25
1!
b1111 "
0$
#30
0!
"""


def test_samples_before_each_edge_and_counts_settled_toggles(tmp_path):
    path = tmp_path / "t.vcd"
    path.write_text(_VCD)
    trace = read_vcd(path, scope=("bench", "top"))
    assert trace.cycles == 3
    assert trace.samples == {"clk": [0, 0, 0], "v": [1, 2, 6]}
    assert trace.widths == {"clk": 1, "v": 4}
    # v: 1 -> 2 -> 6 (bits 0, 1, then 2); clk: four edges before the last rising one.
    assert trace.toggles == {"clk": [4], "v": [1, 1, 1, 0], "sub.w": [1]}
    assert trace.total_toggles() == 8 and trace.total_toggles(["v"]) == 3


def test_samples_only_what_is_asked(tmp_path):
    path = tmp_path / "t.vcd"
    path.write_text(_VCD)
    assert read_vcd(path, scope=("bench", "top"), sample=["v"]).samples == {"v": [1, 2, 6]}


def test_amaranth_vcd_samples_ports_and_counts_toggles(tmp_path):
    unit = build_unit(UnitParams(kind="ternary", rows=1, cols=2, act_bits=8, max_k=8, pipeline=0))
    chunks = [{"act": [a, -a], "weights": [[1, 0]], "first": True, "last": True} for a in (1, 2, 3, 4)]
    simulate_rtl(unit, "ternary", chunks, tmp_path / "x.vcd")
    trace = read_vcd(tmp_path / "x.vcd", scope=RTL_SCOPE)
    # Four chunks, then one cycle for the last result (latency 1).
    assert trace.cycles == 5
    # act[0] is bits 0..7 of the payload, sampled before each edge.
    assert [value & 0xff for value in trace.samples["i__payload"][:4]] == [1, 2, 3, 4]
    # One-cycle latency: the result of chunk t is on o__payload while chunk t+1 is offered.
    assert [value & 0x3ff for value in trace.samples["o__payload"][1:]] == [1, 2, 3, 4]
    assert trace.total_toggles(["i__payload"]) > 0 and trace.widths["i__valid"] == 1
    # Amaranth's field views ("\\i__payload.act", "\\act[0]") repeat their signal's bits.
    assert "act" in trace.toggles and not {"act[0]", "i__payload.act"} & set(trace.toggles)


def test_without_clock(tmp_path):
    path = tmp_path / "empty.vcd"
    path.write_text("$scope module bench $end\n$scope module top $end\n$var wire 1 ! a $end\n"
                    "$upscope $end\n$upscope $end\n$enddefinitions $end\n#0\n0!\n")
    with pytest.raises(ValueError, match=r"^VCD .*empty\.vcd has no clock 'clk' in scope bench\.top$"):
        read_vcd(path, scope=("bench", "top"))


def test_without_sampled_signal(tmp_path):
    path = tmp_path / "t.vcd"
    path.write_text(_VCD)
    with pytest.raises(ValueError, match=r"^VCD .*t\.vcd has no signal 'o', 'outside' in scope "
                                         r"bench\.top$"):
        read_vcd(path, scope=("bench", "top"), sample=["v", "o", "outside"])


def test_total_toggles_of_a_trace():
    trace = VcdTrace(cycles=2, samples={}, widths={}, toggles={"a": [1, 2], "b": [3]})
    assert trace.total_toggles() == 6 and trace.total_toggles(["a"]) == 3
