# amaranth: UnusedElaboratable=no
"""flows.flow: the step registry, reports on disk and the cache."""

import json
import re
import time
from pathlib import Path

import pytest

from tritforge.flows import flow
from tritforge.flows.flow import STEPS, FlowConfig, derived_area, run_flow
from tritforge.spec.params import AcceleratorParams, UnitParams


class TestRegistry:
    def test_steps_are_named_and_documented(self):
        for name, step in STEPS.items():
            assert step.__name__ == f"step_{name}"
            assert "Needs:" in step.__doc__ and "Adds" in step.__doc__, name
        assert {"synth_generic", "synth_ice40", "synth_ecp5", "timing_ice40", "timing_ecp5",
                "energy", "activity"} <= set(STEPS)

    def test_unknown_step(self):
        with pytest.raises(ValueError, match=r"^unknown flow step 'route'; known: rtl, "):
            FlowConfig(UnitParams(), steps=("route",))

    def test_design_wrong(self):
        with pytest.raises(TypeError, match=r"^design must be a UnitParams or an AcceleratorParams, not \{'rows': 2\}$"):
            FlowConfig({"rows": 2})


def test_flow_scripts_cover_their_imports():
    # A step's report changes when any flow module behind it changes: each listed script's
    # own flows imports (e.g. synth.py's blocks.py) must be listed too.
    folder = Path(flow.__file__).parent
    for step, scripts in flow.FLOW_SCRIPTS.items():
        for script in scripts:
            source = (folder / script).read_text()
            imported = re.findall(r"^from \.(\w+) import", source, re.MULTILINE)
            assert {f"{name}.py" for name in imported} <= set(scripts), (step, script)


def test_derived_area():
    report = {"target": "ice40", "logic_luts": 320, "ff": 64, "dsp": 0, "transistors": None}
    derived = derived_area(report, UnitParams(rows=2, cols=8))
    assert derived == {"lanes": 16, "dsp": 0, "logic_luts_per_lane": 20.0,
                       "logic_luts_per_lane_bit": 2.5, "ff_per_lane": 4.0, "ff_per_lane_bit": 0.5}


def test_energy_and_rtl_steps_write_reports(tmp_path):
    cfg = FlowConfig(UnitParams(rows=2, cols=4), steps=("rtl", "energy"), out_dir=tmp_path,
                     cache_dir=tmp_path / "cache", workload="64x64xT2")
    state = run_flow(cfg)
    energy = json.loads((tmp_path / "energy.json").read_text())
    assert energy == json.loads(json.dumps(state.reports["energy"], sort_keys=True))
    assert energy["macs"] == 2 * 64 * 64 and energy["tokens"] == 2
    assert set(energy["pj_per_mac"]) == {"arithmetic", "registers", "onchip_memory", "offchip", "total"}
    assert (tmp_path / "ternary_r2_c4_a8_k4096_p1.il").read_text().startswith("attribute")
    assert json.loads((tmp_path / "flow.json").read_text())["steps"] == ["rtl", "energy"]


def test_activity_step_wrong_kind(tmp_path):
    cfg = FlowConfig(AcceleratorParams(), steps=("activity",), out_dir=tmp_path,
                     cache_dir=tmp_path / "cache")
    with pytest.raises(ValueError, match=r"^the activity step runs on a matrix unit \(kind ternary, lookup "
                                         r"or int\), not on the accelerator$"):
        run_flow(cfg)


@pytest.mark.synth
class TestCache:
    def _cfg(self, tmp_path, **overrides):
        fields = dict(design=UnitParams(rows=2, cols=4), steps=("synth_ice40",),
                      out_dir=tmp_path / "out", cache_dir=tmp_path / "cache")
        return FlowConfig(**{**fields, **overrides})

    def test_second_call_answers_from_cache(self, tmp_path, monkeypatch):
        first = run_flow(self._cfg(tmp_path)).reports["synth_ice40"]
        # A cache hit must not even elaborate the design (that takes seconds for big units).
        monkeypatch.setattr(flow, "build", lambda design: pytest.fail("design elaborated"))
        start = time.perf_counter()
        second = run_flow(self._cfg(tmp_path)).reports["synth_ice40"]
        assert time.perf_counter() - start < 1
        assert (first["cached"], second["cached"]) == (False, True)
        assert {**first, "cached": None} == {**second, "cached": None}
        assert json.loads((tmp_path / "out" / "synth_ice40.json").read_text())["cached"] is True

    def test_no_cache_and_other_design_run_again(self, tmp_path):
        run_flow(self._cfg(tmp_path))
        assert run_flow(self._cfg(tmp_path, no_cache=True)).reports["synth_ice40"]["cached"] is False
        other = self._cfg(tmp_path, design=UnitParams(rows=1, cols=4))
        assert run_flow(other).reports["synth_ice40"]["cached"] is False

    def test_key_covers_the_flow_script(self, tmp_path, monkeypatch):
        run_flow(self._cfg(tmp_path))
        monkeypatch.setattr(flow, "_FLOW_SCRIPTS_DIGESTS",
                            {name: digest + "x" for name, digest in flow._FLOW_SCRIPTS_DIGESTS.items()})
        assert run_flow(self._cfg(tmp_path)).reports["synth_ice40"]["cached"] is False

    def test_progress_callback(self, tmp_path):
        calls = []
        run_flow(self._cfg(tmp_path, steps=("rtl", "synth_ice40")),
                 on_step=lambda name, index, count, report: calls.append((name, index, count, report is None)))
        assert calls == [("rtl", 0, 2, True), ("rtl", 0, 2, False),
                         ("synth_ice40", 1, 2, True), ("synth_ice40", 1, 2, False)]

    def test_cached_only_answers_from_the_cache_and_runs_no_tool(self, tmp_path):
        with pytest.raises(flow.NotCached, match=r"^synth_ice40 of ternary_r2_c4_a8_k4096_p1: not in the cache"):
            run_flow(self._cfg(tmp_path, cached_only=True))
        run_flow(self._cfg(tmp_path))
        assert run_flow(self._cfg(tmp_path, cached_only=True)).reports["synth_ice40"]["cached"] is True

    def test_key_ignores_source_locations(self, tmp_path, monkeypatch):
        # Moving a line of hdl/ or cloning elsewhere changes only the RTLIL's `src` attributes.
        run_flow(self._cfg(tmp_path))
        real = flow.FlowState.rtlil
        monkeypatch.setattr(flow.FlowState, "rtlil", lambda state: re.sub(
            r'attribute \\src "[^"]*"', r'attribute \\src "elsewhere.py:1"', real(state)))
        monkeypatch.setattr(flow, "_RTL_SOURCES_DIGEST", "moved")   # no memo of the RTLIL's hash
        assert run_flow(self._cfg(tmp_path, cached_only=True)).reports["synth_ice40"]["cached"] is True


def test_source_digests_are_those_of_the_loaded_code(tmp_path, monkeypatch):
    # Read as the modules are imported: an edit during a long run keys nothing with the old code.
    rtl, scripts = flow._RTL_SOURCES_DIGEST, flow._FLOW_SCRIPTS_DIGESTS
    assert (rtl, scripts) == flow._loaded_sources()
    monkeypatch.setattr(flow, "_sources_digest", lambda folder, names=None: pytest.fail("sources read again"))
    cfg = FlowConfig(UnitParams(rows=2, cols=4), steps=("rtl",), out_dir=tmp_path, cache_dir=tmp_path / "cache")
    flow._rtl_digest(flow.FlowState(cfg.design), flow.Cache(tmp_path / "cache"), False)
