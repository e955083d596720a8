# amaranth: UnusedElaboratable=no
"""flows.netlist: what drives each net of a generic netlist, and its replay on Icarus Verilog."""

import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from tritforge.flows.netlist import (GateNetlist, check_outputs, replay, synthesize_netlist,
                                     toggles_by_cell)
from tritforge.flows.synth import SynthesisError
from tritforge.flows.vcdtrace import VcdTrace


def _json():
    """q <= a ^ q (a toggle flip-flop) and y = ~q, in Yosys' JSON netlist format."""
    return {"modules": {"t": {
        "ports": {"clk": {"direction": "input", "bits": [2]}, "a": {"direction": "input", "bits": [3]},
                  "y": {"direction": "output", "bits": [6]}},
        "cells": {
            "x": {"type": "$_XOR_", "connections": {"A": [3], "B": [4], "Y": [5]}},
            "f": {"type": "$_DFF_P_", "connections": {"C": [2], "D": [5], "Q": [4]}},
            "n": {"type": "$_NOT_", "connections": {"A": [4], "Y": [6]}},
        },
        "netnames": {"a": {"bits": [3]}, "clk": {"bits": [2]}, "d": {"bits": [5]},
                     "q": {"bits": [4], "attributes": {"init": "1"}}, "y": {"bits": [6]},
                     "y_alias": {"bits": [6]}},
    }}}


class TestGateNetlist:
    def test_names_one_bit_per_cell_output(self):
        netlist = GateNetlist.from_json(_json(), "t")
        assert netlist.drivers == {("d", 0): "$_XOR_", ("q", 0): "$_DFF_P_", ("y", 0): "$_NOT_"}
        assert netlist.ports == {"clk": ("input", 1), "a": ("input", 1), "y": ("output", 1)}
        assert netlist.port_names("input") == ["clk", "a"]
        assert netlist.transistors() == 12 + 16 + 2 and netlist.flip_flops == 1

    def test_unknown_cell(self):
        netlist = _json()
        netlist["modules"]["t"]["cells"]["x"]["type"] = "$_DLATCH_P_"
        with pytest.raises(ValueError, match=r"^netlist cell types must be Yosys generic gates or "
                                             r"\$_DFF_P_, not \$_DLATCH_P_$"):
            GateNetlist.from_json(netlist, "t")

    def test_unnamed_cell_output(self):
        netlist = _json()
        del netlist["modules"]["t"]["netnames"]["d"]
        with pytest.raises(ValueError, match=r"^netlist must name every cell output, bit 5 has no name$"):
            GateNetlist.from_json(netlist, "t")

    def test_toggles_by_cell(self):
        netlist = GateNetlist.from_json(_json(), "t")
        gates = VcdTrace(cycles=3, samples={}, widths={},
                         toggles={"d": [2], "q": [1], "y": [1], "y_alias": [1], "a": [2], "clk": [4]})
        assert toggles_by_cell(netlist, gates) == {"$_XOR_": 2, "$_DFF_P_": 1, "$_NOT_": 1}


class _Toggle(wiring.Component):
    """q <= q ^ a, q starting at 1; y = ~q."""
    a: In(1)
    y: Out(1)

    def elaborate(self, platform):
        m = Module()
        q = Signal(init=1)
        m.d.sync += q.eq(q ^ self.a)
        m.d.comb += self.y.eq(~q)
        return m


@pytest.mark.synth
@pytest.mark.rtl
def test_replay_runs_the_gates_cycle_by_cycle(tmp_path):
    netlist, transistors = synthesize_netlist(_Toggle(), "toggle", tmp_path)
    assert transistors == netlist.transistors() and netlist.flip_flops == 1
    gates = replay(netlist, tmp_path / "netlist.v", {"a": [1, 0, 1, 1, 0], "rst": [0] * 5}, tmp_path)
    # q: 1, 0, 0, 1, 0 before the five edges; y is its complement.
    assert gates.cycles == 5 and gates.samples == {"y": [0, 1, 1, 0, 1]}
    # Three transitions of q (and y) between the five sampled cycles.
    assert toggles_by_cell(netlist, gates)["$_DFF_P_"] == 3
    assert (tmp_path / "gates.vcd").exists() and (tmp_path / "replay.v").exists()


class TestReplayRefuses:
    def test_missing_input(self, tmp_path):
        netlist = GateNetlist.from_json(_json(), "t")
        with pytest.raises(ValueError, match=r"^inputs must give every input port of the netlist, "
                                             r"missing a$"):
            replay(netlist, tmp_path / "t.v", {"b": [1]}, tmp_path)

    def test_unequal_cycles(self, tmp_path):
        netlist = GateNetlist.from_json(_json(), "t")
        with pytest.raises(ValueError, match=r"^inputs must give each port the same number \(> 0\) "
                                             r"of cycles, not \[0\]$"):
            replay(netlist, tmp_path / "t.v", {"a": []}, tmp_path)

    def test_no_clock(self, tmp_path):
        netlist = GateNetlist.from_json(_json(), "t")
        with pytest.raises(ValueError, match=r"^netlist t has no clock input 'clock'$"):
            replay(netlist, tmp_path / "t.v", {"a": [1]}, tmp_path, clock="clock")

    @pytest.mark.rtl
    def test_icarus_failure_quotes_its_log(self, tmp_path):
        (tmp_path / "t.v").write_text("module t(input clk, input a, output y);\n  oops\nendmodule\n")
        netlist = GateNetlist.from_json(_json(), "t")
        with pytest.raises(SynthesisError, match=r"(?s)^iverilog exited with code \d+; last lines "
                                                 r"of .*iverilog\.log:\n.*syntax error"):
            replay(netlist, tmp_path / "t.v", {"a": [1, 0]}, tmp_path)

    def test_icarus_missing(self, tmp_path, monkeypatch):
        monkeypatch.setattr("shutil.which", lambda name: None)
        netlist = GateNetlist.from_json(_json(), "t")
        with pytest.raises(SynthesisError, match=r"^iverilog not found .*apt-get install iverilog"):
            replay(netlist, tmp_path / "t.v", {"a": [1]}, tmp_path)


class TestCheckOutputs:
    def _trace(self, values, cycles=3):
        return VcdTrace(cycles=cycles, samples={"y": values}, widths={"y": 4}, toggles={})

    def test_equal(self):
        check_outputs(self._trace([1, 2, 3]), self._trace([1, 2, 3]))

    def test_mismatch(self):
        with pytest.raises(RuntimeError, match=r"^gate netlist disagrees with the RTL simulation on y "
                                               r"at cycle 2: 0x4 != 0x3$"):
            check_outputs(self._trace([1, 2, 3]), self._trace([1, 2, 4]))

    def test_cycle_count(self):
        with pytest.raises(RuntimeError, match=r"^gate netlist ran 2 cycles, the RTL simulation 3$"):
            check_outputs(self._trace([1, 2, 3]), self._trace([1, 2], cycles=2))
