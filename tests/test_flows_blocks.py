# amaranth: UnusedElaboratable=no
"""flows.blocks: which block each cell of a flat netlist belongs to."""

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Cat, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from tritforge.flows.blocks import (INPUT_PORT_ATTRIBUTE, TOP_ATTRIBUTE, block_names, cell_blocks,
                                    common_scope, rtlil_scopes)
from tritforge.flows.synth import TARGETS, synthesize

from small_designs import Adder


class _Counter(wiring.Component):
    """4-bit counter with enable; its sub-block ``inner`` registers bit 0 as ``delayed``."""
    en: In(1)
    count: Out(4)
    delayed: Out(1)

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = inner = _Delay()
        with m.If(self.en):
            m.d.sync += self.count.eq(self.count + 1)
        m.d.comb += [inner.i.eq(self.count[0]), self.delayed.eq(inner.o)]
        return m


class _Delay(wiring.Component):
    i: In(1)
    o: Out(1)

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.o.eq(self.i)
        return m


class _TwoBlocks(wiring.Component):
    """``left`` (a counter with a sub-block), ``right`` (an 8-bit adder) and the top's own
    output register: flip-flops 4 + 1, 9 and 9."""
    en: In(1)
    a: In(8)
    b: In(8)
    y: Out(9)

    def elaborate(self, platform):
        m = Module()
        m.submodules.left = left = _Counter()
        m.submodules.right = right = Adder()
        m.d.comb += [left.en.eq(self.en), right.a.eq(self.a), right.b.eq(self.b)]
        m.d.sync += self.y.eq(right.y ^ Cat(left.count, left.delayed))
        return m


def test_rtlil_scopes():
    text = rtlil.convert(_TwoBlocks(), name="two")
    assert rtlil_scopes(text, "two") == {(), ("left",), ("left", "inner"), ("right",)}


def test_common_scope():
    assert common_scope([("unit", "row0"), ("unit", "row1")]) == ("unit",)
    assert common_scope([("unit", "row0"), ("unit", "row0", "tree")]) == ("unit", "row0")
    assert common_scope([("decoder",), ("unit",)]) == ()


def test_block_names_drop_amaranth_suffix_where_unique():
    names = block_names({(), ("counters$120",), ("unit",), ("unit", "row0"), ("a",), ("a$3",)})
    assert names == {(): "", ("counters$120",): "counters", ("unit",): "unit",
                     ("unit", "row0"): "unit.row0", ("a",): "a", ("a$3",): "a$3"}


def _cell(cell_type, inputs, outputs, **attributes):
    ports = {**{port: "input" for port in inputs}, **{port: "output" for port in outputs}}
    return {"type": cell_type, "attributes": attributes, "port_directions": ports,
            "connections": {**inputs, **outputs}}


def _net(bits, **attributes):
    return {"bits": bits, "attributes": attributes}


# A flat netlist with one cell for each rule; bit 2 is the top input, bit 10 the top output.
_NETLIST = {
    "ports": {"a": {"direction": "input", "bits": [2]}, "y": {"direction": "output", "bits": [10]}},
    "cells": {
        # Rule 1: own attribute.
        "left_ff": _cell("TRELLIS_FF", {"DI": [3]}, {"Q": [4]}, scopename="left"),
        # Rule 2: the Amaranth name it drives (not the input port of "right" on that net).
        "named_lut": _cell("LUT4", {"A": [4]}, {"Z": [5]}),
        # Rule 3: a memory and a flip-flop named after their block.
        "right.mem.0.0": _cell("DP16KD", {"DIA": [5]}, {"DOA": [6]}),
        "right.buf_TRELLIS_FF_Q": _cell("TRELLIS_FF", {"DI": [8]}, {"Q": [7]}),
        # Rule 4: reads left and right, feeds right: right's next-state logic.
        "next_lut": _cell("LUT4", {"A": [4], "B": [7]}, {"Z": [8]}),
        # Rule 4: reads only left, feeds right (through an undecided LUT): left's output logic.
        "mux_lut": _cell("LUT4", {"A": [4]}, {"Z": [9]}),
        "chain_lut": _cell("LUT4", {"A": [9]}, {"Z": [3]}),
        # Rule 4: reads left, feeds the top's output: inside the top, so left.
        "out_lut": _cell("LUT4", {"A": [4]}, {"Z": [10]}),
        # Rule 5: reads only the top input, feeds nothing.
        "lone_lut": _cell("LUT4", {"A": [2]}, {"Z": [11]}),
        # Rule 1: the top's own cell.
        "top_ff": _cell("TRELLIS_FF", {"DI": [11]}, {"Q": [12]}, **{TOP_ATTRIBUTE: "1"}),
    },
    "netnames": {
        "left.result": _net([5], hdlname="left result"),
        "right.operand": _net([5], hdlname="right operand", **{INPUT_PORT_ATTRIBUTE: "1"}),
    },
}


def test_cell_blocks_rules():
    blocks = cell_blocks(_NETLIST, {(), ("left",), ("right",)}, TARGETS["ecp5"].is_state)
    assert blocks == {
        "left_ff": ("left",), "named_lut": ("left",), "right.mem.0.0": ("right",),
        "right.buf_TRELLIS_FF_Q": ("right",), "next_lut": ("right",),
        # chain_lut feeds left_ff and reads mux_lut, which reads left: left's.
        "mux_lut": ("left",), "chain_lut": ("left",), "out_lut": ("left",),
        "lone_lut": (), "top_ff": (),
    }


@pytest.mark.synth
@pytest.mark.parametrize("target", ["ice40", "ecp5"])
def test_block_area_of_a_synthesized_design(target):
    report = synthesize(_TwoBlocks(), target, top_name="two")
    blocks = report["blocks"]
    assert set(blocks) == {"", "left", "left.inner", "right"}
    # The whole design's total is the flat netlist's figures.
    figures = ("lut4", "logic_luts", "carry", "ff", "dsp", "bram", "lutram")
    assert blocks[""]["total"] == {name: report[name] for name in figures}
    # Each block's flip-flops are the registers written in it.
    assert (blocks["left"]["own"]["ff"], blocks["left.inner"]["own"]["ff"]) == (4, 1)
    assert blocks["left"]["total"]["ff"] == 5
    assert (blocks["right"]["total"]["ff"], blocks[""]["own"]["ff"]) == (9, 9)
    # The adder's carry chain is the right block's.
    assert blocks["right"]["total"]["carry"] >= 4 and blocks["right"]["total"]["logic_luts"] >= 8
    # own adds up to total.
    for name in figures:
        assert sum(block["own"][name] for block in blocks.values()) == report[name]


@pytest.mark.synth
def test_generic_target_has_no_blocks():
    assert synthesize(Adder(), "generic", top_name="adder")["blocks"] is None
