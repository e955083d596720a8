# amaranth: UnusedElaboratable=no
"""flows.activity: the switching-activity estimate end to end (RTL simulation, synthesis,
gate-level replay on Icarus Verilog, energy) and its calibration."""

import dataclasses
import subprocess
import sys

import pytest

from tritforge.flows import activity
from tritforge.flows.activity import adder_energy, estimate_activity
from tritforge.flows.energy import load_table
from tritforge.flows.flow import FlowConfig, run_flow
from tritforge.hdl.units import build_unit
from tritforge.spec.params import UnitParams

#: Every key of an estimate_activity report (the flow step and `tritforge energy --activity`
#: read them).
REPORT_KEYS = {"pj_per_mac", "pj_per_mac_by_part", "logic_pj", "ff_pj", "clock_pj", "total_pj",
               "logic_toggles", "ff_toggles", "cycles", "transistors", "transistors_from_cells",
               "flip_flops", "cells", "macs", "zero_share", "seed", "rtl_toggles_per_cycle",
               "input_toggles_per_cycle", "model"}


def _estimate(kind, rows, cols, workdir, **options):
    unit = build_unit(UnitParams(kind=kind, rows=rows, cols=cols))
    return estimate_activity(unit, kind, f"{kind}_{rows}x{cols}", workdir=workdir, **options)


def _flow_report(folder, zero_share, cycles):
    """The activity step of a flow on the 2 x 4 ternary unit (with a cache of its own)."""
    cfg = FlowConfig(UnitParams(rows=2, cols=4), steps=("activity",), out_dir=folder / "out",
                     cache_dir=folder / "cache", zero_share=zero_share, activity_cycles=cycles)
    return run_flow(cfg).reports["activity"]


@pytest.fixture(scope="module")
def ternary_sweep(tmp_path_factory):
    """A 2 x 4 ternary unit at 0, 0.5 and 0.9 zero weights, 60 cycles: {share: (report, workdir)}.

    The 0.9 point runs through the flow's activity step, which must call estimate_activity
    the same way (one synthesis fewer than a separate flow test).
    """
    sweep = {}
    for share in (0.0, 0.5):
        folder = tmp_path_factory.mktemp(f"zeros{share}")
        sweep[share] = _estimate("ternary", 2, 4, folder, zero_share=share, cycles=60), folder
    folder = tmp_path_factory.mktemp("zeros0.9")
    sweep[0.9] = _flow_report(folder, 0.9, 60), folder / "out" / "work" / "activity"
    return sweep


@pytest.mark.synth
@pytest.mark.rtl
class TestActivity:
    def test_report_and_transistors_match_yosys(self, ternary_sweep):
        report, folder = ternary_sweep[0.5]
        assert set(report) == REPORT_KEYS
        assert report["transistors_from_cells"] == report["transistors"] > 0
        # 60 chunks, then the pipeline drains: the 2 x 4 unit's latency is 2 cycles.
        assert report["cycles"] == 60 + 2 and report["macs"] == 60 * 8 and report["pj_per_mac"] > 0
        assert sum(report["pj_per_mac_by_part"].values()) == pytest.approx(report["pj_per_mac"])
        assert report["input_toggles_per_cycle"] < report["rtl_toggles_per_cycle"]
        assert (folder / "rtl.vcd").exists() and (folder / "netlist" / "gates.vcd").exists()

    def test_energy_per_mac_falls_with_zero_weights(self, ternary_sweep):
        energy = [ternary_sweep[share][0]["pj_per_mac"] for share in (0.0, 0.5, 0.9)]
        assert energy[0] > energy[1] > energy[2]
        # The clock does not care about the weights.
        assert len({ternary_sweep[share][0]["clock_pj"] for share in ternary_sweep}) == 1

    def test_replay_mismatch_is_caught(self, tmp_path, monkeypatch):
        real = activity.read_vcd

        def corrupted(path, **kwargs):
            trace = real(path, **kwargs)
            samples = dict(trace.samples, o__payload=[v ^ 1 for v in trace.samples["o__payload"]])
            return dataclasses.replace(trace, samples=samples)
        monkeypatch.setattr(activity, "read_vcd", corrupted)
        with pytest.raises(RuntimeError, match=r"^gate netlist disagrees with the RTL simulation on "
                                               r"o__payload at cycle 0: 0x0 != 0x1$"):
            _estimate("ternary", 1, 2, tmp_path, cycles=8)

    def test_ternary_below_int(self, ternary_sweep, tmp_path):
        integer = _estimate("int", 2, 4, tmp_path, zero_share=0.5, cycles=60)
        assert integer["pj_per_mac"] > 2 * ternary_sweep[0.5][0]["pj_per_mac"]

    def test_flow_step(self, ternary_sweep):
        report, folder = ternary_sweep[0.9]
        assert REPORT_KEYS <= set(report) and report["cached"] is False
        assert report["zero_share"] == 0.9 and report["macs"] == 60 * 8
        assert (folder / "netlist" / "gates.vcd").exists()


@pytest.mark.synth
@pytest.mark.rtl
class TestCalibration:
    def test_fit_reproduces_horowitz_add(self, tmp_path):
        # SWITCHING_45NM's capacitance is fitted on exactly this run: it must not drift.
        assert adder_energy(tmp_path) == pytest.approx(load_table("horowitz_45nm").add(8), rel=0.005)

    def test_other_seed_lands_near_horowitz_add(self, tmp_path):
        energy = adder_energy(tmp_path, cycles=500, seed=5)
        assert energy == pytest.approx(load_table("horowitz_45nm").add(8), rel=0.05)


class TestBadInput:
    def test_kind(self, tmp_path):
        with pytest.raises(ValueError, match=r"^kind must be one of ternary, lookup, int, not 'fp16'$"):
            estimate_activity(build_unit(UnitParams(kind="ternary", rows=1, cols=2, act_bits=8, max_k=8, pipeline=0)), "fp16", "t", workdir=tmp_path)

    def test_unit_of_another_kind(self, tmp_path):
        with pytest.raises(ValueError, match=r"^unit must be a TernaryMatrixUnit for kind 'ternary', "
                                             r"not IntMatrixUnit$"):
            estimate_activity(build_unit(UnitParams(kind="int", rows=1, cols=2, act_bits=8, max_k=8, pipeline=0)), "ternary", "t", workdir=tmp_path)

    def test_name(self, tmp_path):
        with pytest.raises(ValueError, match=r"^name must be a Verilog identifier \(letters, digits, "
                                             r"_\), not 'my unit'$"):
            estimate_activity(build_unit(UnitParams(kind="ternary", rows=1, cols=2, act_bits=8, max_k=8, pipeline=0)), "ternary", "my unit",
                              workdir=tmp_path)

    def test_zero_share(self, tmp_path):
        with pytest.raises(ValueError, match=r"^zero_share must be a number in 0\.\.1, not -0\.1$"):
            estimate_activity(build_unit(UnitParams(kind="ternary", rows=1, cols=2, act_bits=8, max_k=8, pipeline=0)), "ternary", "t", workdir=tmp_path,
                              zero_share=-0.1)

    def test_adder_cycles(self, tmp_path):
        with pytest.raises(ValueError, match=r"^cycles must be an integer of at least 2, not 1$"):
            adder_energy(tmp_path, cycles=1)

    def test_adder_bits(self, tmp_path):
        with pytest.raises(ValueError, match=r"^bits must be a positive integer, not 0$"):
            adder_energy(tmp_path, bits=0)


def test_activity_modules_stay_in_the_flows_layer():
    modules = ["tritforge.flows.activity", "tritforge.flows.netlist", "tritforge.flows.stimulus",
               "tritforge.flows.switching", "tritforge.flows.vcdtrace"]
    forbidden = ["torch", "tritforge.golden", "tritforge.sim"]
    probe = (f"import sys, {', '.join(modules)}; "
             f"print(' '.join(m for m in {forbidden!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_rtl_simulation_takes_signals_wider_than_pythons_decimal_limit(tmp_path):
    # Amaranth's simulator prints a signal's mask in decimal: 20,000 bits are 6,021 digits,
    # past Python's default 4,300 (a g = 5 lookup unit's tables at 64 columns are that wide).
    from amaranth.hdl import Elaboratable, Module, Signal

    class Wide(Elaboratable):
        def elaborate(self, platform):
            m = Module()
            wide = Signal(20_000, name="wide")
            m.d.sync += wide.eq(~wide)
            return m

    async def bench(ctx):
        await ctx.tick().repeat(2)

    activity._simulate(Wide(), bench, tmp_path / "wide.vcd")
    assert "wide" in (tmp_path / "wide.vcd").read_text()[:2000]
    assert sys.get_int_max_str_digits() == 4300            # the limit is restored after it
