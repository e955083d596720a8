# amaranth: UnusedElaboratable=no
"""flows.activity: the switching-activity estimate end to end and its calibration."""

import dataclasses

import pytest

from tritforge.flows.activity import adder_energy, estimate_activity
from tritforge.flows.energy import load_table
from tritforge.flows.flow import DesignConfig


@pytest.mark.synth
@pytest.mark.rtl
class TestActivity:
    def test_replay_matches_rtl_and_transistors_match_yosys(self, tmp_path):
        report = estimate_activity(DesignConfig(rows=2, cols=4), workdir=tmp_path, cycles=40)
        assert report["transistors_from_cells"] == report["transistors"] > 0
        assert report["macs"] == 40 * 8 and report["pj_per_mac"] > 0
        parts = report["pj_per_mac_by_part"]
        assert sum(parts.values()) == pytest.approx(report["pj_per_mac"])
        assert (tmp_path / "rtl.vcd").exists() and (tmp_path / "netlist" / "netlist.json").exists()

    def test_replay_mismatch_is_caught(self, tmp_path, monkeypatch):
        from tritforge.flows import activity
        real = activity.read_vcd

        def corrupted(path, **kwargs):
            trace = real(path, **kwargs)
            samples = dict(trace.samples, o__payload=[v ^ 1 for v in trace.samples["o__payload"]])
            return dataclasses.replace(trace, samples=samples)
        monkeypatch.setattr(activity, "read_vcd", corrupted)
        with pytest.raises(RuntimeError, match=r"^gate netlist disagrees with the RTL simulation on "
                                               r"o__payload at cycle 0: "):
            estimate_activity(DesignConfig(rows=1, cols=2), workdir=tmp_path, cycles=8)

    def test_energy_per_mac_falls_with_zero_weights(self, tmp_path):
        design = DesignConfig(rows=2, cols=8)
        energy = [estimate_activity(design, workdir=tmp_path / str(share), zero_share=share,
                                    cycles=150)["pj_per_mac"] for share in (0.0, 0.5, 0.9)]
        assert energy[0] > energy[1] > energy[2]

    def test_ternary_below_int(self, tmp_path):
        ternary, integer = (estimate_activity(DesignConfig(kind=kind, rows=2, cols=4),
                                              workdir=tmp_path / kind, cycles=100)["pj_per_mac"]
                            for kind in ("ternary", "int"))
        assert integer > 2 * ternary

    def test_calibration_reproduces_horowitz_add(self, tmp_path):
        # SWITCHING_45NM's capacitance is fitted on this measurement (seed 1, 2000 cycles);
        # another seed must land within a few percent of the table's 8-bit add.
        energy = adder_energy(tmp_path, cycles=1000, seed=5)
        assert energy == pytest.approx(load_table("horowitz_45nm").add(8), rel=0.05)

