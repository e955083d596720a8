"""``tritforge explore SPACE.toml``: design-space sweeps, on local processes or a Dask cluster.

A space file names fixed design fields, the fields to sweep (their cartesian product is the
set of points) and what to measure::

    [design]                    # fixed: any field of UnitParams / AcceleratorParams
    kind = "accelerator"        # or "ternary" / "lookup" / "int": a matrix unit alone
    max_k = 4096

    [sweep]                     # lists; every combination is a point
    rows = [4, 8]
    cols = [16, 32]
    stream_width = [32, 64]
    clock_mhz = [50.0, 100.0]   # not a design field: the clock constraint and tokens/s
    target = ["ice40"]          # ice40 or ecp5: synthesis (and place and route) target
    workload = ["2b4t"]         # a model preset or OUTxIN, optionally xT<tokens>

    [measure]
    fmax = true                 # place and route for Fmax (timing not met is a failure)
    transistors = false         # generic synthesis for a CMOS transistor estimate (slow)
    table = "bitnet_7nm"        # energy table

Each point (:func:`evaluate_point`, a pure function of the point, run where the scheduler
puts it) synthesizes its design through the cached flow (:mod:`tritforge.flows.flow`: a
cached point answers in well under a second) and prices its workload: the accelerator with
the cycle model (:func:`~tritforge.app.performance.layer_timing`, exact against the RTL), a
matrix unit alone fed one chunk per cycle; energy per token from the operation-count model.
Its record - LUT4, FF, BRAM, DSP, Fmax, transistors, cycles, tokens/s, energy per token, or
the reason it failed (a parameter the design refuses, a tool error, a design that does not
fit, timing not met) - is written to ``<out>/points/<id>.json`` as soon as it arrives, so an
interrupted sweep resumes where it stopped: finished points are read back, not run again
(``--retry-failed`` runs the failed ones again).

Points run on local worker processes (``--jobs``, with a progress bar) or on a Dask
distributed cluster (``--scheduler tcp://host:8786``): the same function, submitted with
``Client.submit`` and collected with ``as_completed``. The table (``explore.parquet``,
``explore.csv``) has one row per point; the Pareto fronts - tokens/s against LUT4, energy per
token against area (transistors when measured, else LUT4) - are marked in it and plotted
(``pareto_*.png``).
"""

import concurrent.futures
import dataclasses
import hashlib
import itertools
import json
import math
import os
import socket
import time
import tomllib
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..flows import energy
from ..flows.flow import FlowConfig, check_flow, run_flow
from ..flows.timing import DEVICES, MAX_SEED
from ..spec.errors import ParameterError, TritforgeError, check_integer
from ..spec.io import atomic_path, check_writable_folder, write_json
from ..spec.params import AcceleratorParams, design_from_dict
from .commands import print_table
from .compare import error_summary
from .notebooks import save_figure
from .performance import layer_timing

__all__ = ["POINT_FIELDS", "MAX_POINTS", "Measure", "Space", "load_space", "check_space_tools", "point_id",
           "evaluate_point", "run_sweep", "results_table", "pareto_front", "plot_fronts", "explore_command"]

#: Sweepable fields that are not design parameters, with their defaults.
POINT_FIELDS = {"clock_mhz": 100.0, "target": "ice40", "workload": "2b4t"}
#: Most points of one space: each synthesizes (seconds to minutes), so a bigger product of the
#: swept lists is a mistake that would run for months, refused before it starts.
MAX_POINTS = 10_000
#: Statuses of a point record; only ``ok`` points are on a Pareto front.
STATUSES = ("ok", "invalid", "failed", "timing_not_met")
#: The figures of a point, in table order.
METRICS = ("lut4", "ff", "bram", "dsp", "fmax_mhz", "transistors", "cycles", "tokens_per_s",
           "energy_uj_per_token")
#: The two fronts: ``(name, benefit column (maximized) or None, cost columns (minimized))``.
FRONTS = {"tokens_per_s_vs_lut4": ("tokens_per_s", "lut4"),
          "energy_vs_area": ("energy_uj_per_token", "area")}


@dataclasses.dataclass(frozen=True)
class Measure:
    """What each point measures: Fmax (place and route), transistors (generic synthesis), the
    energy table and the placer seed."""
    fmax: bool = True
    transistors: bool = False
    table: str = "bitnet_7nm"
    seed: int = 1

    def __post_init__(self):
        for name in ("fmax", "transistors"):
            if not isinstance(getattr(self, name), bool):
                raise ParameterError(f"[measure] {name} must be true or false, not {getattr(self, name)!r}")
        if not isinstance(self.table, str):
            raise ParameterError(f"[measure] table must be a string, not {self.table!r}")
        energy.load_table(self.table)
        check_integer("[measure] seed", self.seed, 0, MAX_SEED)


@dataclasses.dataclass(frozen=True)
class Space:
    """A design space: fixed fields, swept fields (name -> list of values), what to measure."""
    design: dict
    sweep: dict
    measure: Measure

    def points(self):
        """Every point: a dict of the design's fields plus :data:`POINT_FIELDS`, in the order
        of the cartesian product (last field fastest).

        A swept ``group`` applies to the lookup unit only: a point of another unit drops it,
        and comes once, not once per group."""
        names = list(self.sweep)
        seen = set()
        for values in itertools.product(*(self.sweep[name] for name in names)):
            point = {**POINT_FIELDS, **self.design, **dict(zip(names, values))}
            if "group" in self.sweep and not _uses_group(point):
                del point["group"]
                key = json.dumps(point, sort_keys=True, default=str)
                if key in seen:
                    continue
                seen.add(key)
            yield point


def _uses_group(point):
    """The point's design holds a lookup unit (the one that has a ``group``)."""
    kind = point.get("kind", "ternary")
    return kind == "lookup" or (kind == "accelerator" and point.get("unit_kind") == "lookup")


def _known_fields():
    from ..spec.params import UnitParams
    return ({field.name for cls in (UnitParams, AcceleratorParams) for field in dataclasses.fields(cls)}
            | {"kind"} | set(POINT_FIELDS))


def load_space(path):
    """The :class:`Space` of a TOML file (module docstring).

    Raises
    ------
    ParameterError
        A file that does not parse, an unknown table or field, a swept field that is not a
        non-empty list.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ParameterError(f"{path}: {error}") from None
    unknown = sorted(set(data) - {"design", "sweep", "measure"})
    if unknown:
        raise ParameterError(f"{path}: unknown table {', '.join(map(repr, unknown))}; "
                             f"known: design, sweep, measure")
    for table, fields in data.items():
        if not isinstance(fields, dict):
            raise ParameterError(f"{path}: {table} must be a table ([{table}]), not {fields!r}")
    design, sweep = data.get("design", {}), data.get("sweep", {})
    known = _known_fields()
    for table, fields in (("design", design), ("sweep", sweep)):
        wrong = sorted(set(fields) - known)
        if wrong:
            raise ParameterError(f"{path}: unknown field {', '.join(map(repr, wrong))} in [{table}]; "
                                 f"known: {', '.join(sorted(known))}")
    for name, values in sweep.items():
        if not isinstance(values, list) or not values:
            raise ParameterError(f"{path}: [sweep] {name} must be a non-empty list, not {values!r}")
    points = math.prod(len(values) for values in sweep.values())
    if points > MAX_POINTS:
        raise ParameterError(f"{path}: [sweep] makes {points:,} points; the most accepted is {MAX_POINTS:,}")
    try:
        measure = Measure(**data.get("measure", {}))
    except TritforgeError as error:
        raise ParameterError(f"{path}: {error}") from None
    except TypeError as error:  # an unknown field
        raise ParameterError(f"{path}: [measure]: {error}") from None
    return Space(design, sweep, measure)


def check_space_tools(space, cache_dir=None):
    """Check, before any point runs, the tools every point's flow steps need and the cache
    folder (:func:`~tritforge.flows.flow.check_flow`); a point that fails for these
    reasons would otherwise be recorded as failed, one by one."""
    targets = {point["target"] for point in space.points()} & set(DEVICES)
    steps = ["synth_generic"] * space.measure.transistors
    for target in sorted(targets):
        steps += [f"synth_{target}"] + [f"timing_{target}"] * space.measure.fmax
    check_flow(FlowConfig(AcceleratorParams(), steps=tuple(steps), cache_dir=cache_dir))


def point_id(point, measure):
    """A short stable name of a point and what it measures (its record's file name)."""
    text = json.dumps({"point": point, "measure": dataclasses.asdict(measure)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _design(point):
    fields = {name: value for name, value in point.items() if name not in POINT_FIELDS}
    return design_from_dict(fields)


def _workload_cycles(design, layers, tokens):
    """Cycles of ``layers`` (``(name, out, in)``) for ``tokens`` tokens: the cycle model for
    the accelerator; a unit alone takes one chunk per cycle plus its latency per layer."""
    if isinstance(design, AcceleratorParams):
        timings = [layer_timing(design, tokens, k, n) for _, n, k in layers]
        return sum(t.total for t in timings), sum(t.compute for t in timings)
    latency = energy.UnitStructure.from_params(design).latency
    steps = [tokens * -(-k // design.cols) * -(-n // design.rows) for _, n, k in layers]
    return sum(steps) + latency * len(layers), sum(steps)


def _figures(reports, point):
    """The synthesis and timing figures of the flow reports so far (None where not run)."""
    synth = reports.get(f"synth_{point['target']}", {})
    timing = reports.get(f"timing_{point['target']}", {})
    return {"lut4": synth.get("logic_luts"), "ff": synth.get("ff"), "bram": synth.get("bram"),
            "dsp": synth.get("dsp"), "fmax_mhz": timing.get("fmax_mhz"),
            "transistors": reports.get("synth_generic", {}).get("transistors")}


def evaluate_point(point, measure, out_dir, cache_dir=None):
    """Measure one point; returns its record (a JSON-ready dict, module docstring).

    Runs wherever the scheduler puts it (a local process, a Dask worker): it needs the
    point, the measure and folders only. A bug raises; everything a user or a tool can cause
    is recorded as the point's ``status`` and ``reason``.
    """
    start = time.perf_counter()
    record = {"id": point_id(point, measure), **point, **dict.fromkeys(METRICS), "status": "ok",
              "reason": None, "design": None}
    try:
        design = _design(point)
        record["design"] = design.name
        if point["target"] not in DEVICES:
            raise ParameterError(f"target must be one of {', '.join(DEVICES)}, not {point['target']!r}")
        if not isinstance(point["clock_mhz"], (int, float)) or not point["clock_mhz"] > 0:
            raise ParameterError(f"clock_mhz must be a positive number, not {point['clock_mhz']!r}")
        layers, tokens = energy.parse_workload(point["workload"])
    except TritforgeError as error:
        return dict(record, status="invalid", reason=str(error), seconds=time.perf_counter() - start)
    cycles, compute = _workload_cycles(design, layers, tokens)
    macs = tokens * sum(n * k for _, n, k in layers)
    estimate = energy.workload_energy(energy.hardware_model(design), layers, energy.load_table(measure.table),
                                      tokens=tokens, counters={"compute": compute, "macs": macs})
    record.update(cycles=cycles, tokens_per_s=tokens * point["clock_mhz"] * 1e6 / cycles,
                  energy_uj_per_token=estimate["pj_per_token"]["total"] / 1e6)
    steps = [f"synth_{point['target']}"] + ["synth_generic"] * measure.transistors \
        + [f"timing_{point['target']}"] * measure.fmax
    reports = {}
    # One step at a time: a place and route that fails keeps the synthesis figures.
    for step in steps:
        cfg = FlowConfig(design, steps=(step,), out_dir=Path(out_dir) / "points" / record["id"],
                         cache_dir=cache_dir, clock_mhz=float(point["clock_mhz"]), seed=measure.seed)
        try:
            reports.update(run_flow(cfg).reports)
        except TritforgeError as error:
            return dict(record, **_figures(reports, point), status="failed", reason=error_summary(str(error)),
                        seconds=time.perf_counter() - start)
    record.update(_figures(reports, point))
    if record["fmax_mhz"] is not None and record["fmax_mhz"] < point["clock_mhz"]:
        record.update(status="timing_not_met",
                      reason=f"Fmax {record['fmax_mhz']:.1f} MHz is below the clock {point['clock_mhz']:g} MHz")
    return dict(record, seconds=time.perf_counter() - start)


def _record_path(out_dir, ident):
    return Path(out_dir) / "points" / f"{ident}.json"


def _finished(out_dir, ident, retry_failed):
    """The stored record of a point, or None when it must run (again)."""
    try:
        record = json.loads(_record_path(out_dir, ident).read_text())
    except (OSError, ValueError):
        return None
    if retry_failed and record["status"] != "ok":
        return None
    return record


def _local_results(tasks, jobs, out_dir, cache_dir):
    """Yield the records of ``tasks`` (``(point, measure)``) as local processes finish them."""
    if jobs == 1:
        for point, measure in tasks:
            yield evaluate_point(point, measure, out_dir, cache_dir)
        return
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(evaluate_point, point, measure, out_dir, cache_dir) for point, measure in tasks]
        try:
            for future in concurrent.futures.as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def _check_reachable(address):
    """Fail at once on a ``tcp://host:port`` nobody listens on (the client would retry until its
    timeout); other protocols are left to the client."""
    scheme, _, location = address.partition("://")
    if scheme != "tcp":
        return
    host, _, port = location.rpartition(":")
    if not port.isdigit():
        raise ParameterError(f"scheduler address must be tcp://host:port, not {address!r}")
    socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()


def _dask_results(tasks, scheduler, out_dir, cache_dir):
    """Yield the records of ``tasks`` as the workers of the Dask cluster at ``scheduler``
    finish them."""
    try:
        from distributed import Client, as_completed
    except ImportError as error:
        raise ParameterError(f"--scheduler needs the distributed package: run `make setup` "
                             f"(pip install 'tritforge[explore]'): {error}") from None
    try:
        _check_reachable(scheduler)
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as error:
        raise ParameterError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
    with client:
        futures = [client.submit(evaluate_point, point, measure, str(out_dir), cache_dir,
                                 key=f"tritforge-point-{point_id(point, measure)}", pure=False)
                   for point, measure in tasks]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            client.cancel(futures)


def run_sweep(space, out_dir, *, jobs=1, scheduler=None, cache_dir=None, retry_failed=False, on_record=None):
    """Measure every point of ``space``; returns the records in the space's order.

    Finished points (their record under ``<out_dir>/points``) are read back; the others run
    on ``jobs`` local processes or, with ``scheduler`` (an address such as
    ``tcp://host:8786``), on that Dask cluster. Each new record is written as it arrives.
    ``on_record(record, cached)`` is called for every point (a progress bar hooks in here).
    """
    out_dir = Path(out_dir)
    cache_dir = None if cache_dir is None else str(cache_dir)
    points = list(space.points())
    records, tasks = {}, []
    for point in points:
        ident = point_id(point, space.measure)
        if ident in records:
            continue
        done = _finished(out_dir, ident, retry_failed)
        if done is None:
            records[ident] = None
            tasks.append((point, space.measure))
        else:
            records[ident] = done
            if on_record:
                on_record(done, True)
    if tasks:
        results = (_dask_results(tasks, scheduler, out_dir, cache_dir) if scheduler
                   else _local_results(tasks, jobs, out_dir, cache_dir))
        for record in results:
            write_json(_record_path(out_dir, record["id"]), record, sort_keys=True)
            records[record["id"]] = record
            if on_record:
                on_record(record, False)
    return [records[point_id(point, space.measure)] for point in points]


def pareto_front(frame, benefit, cost, maximize=True):
    """Boolean Series: the rows of ``frame`` (status ``ok``, both figures known) that no other
    such row beats on ``benefit`` (maximized, or minimized with ``maximize`` false) without
    costing more ``cost``."""
    import pandas as pd
    usable = frame[(frame["status"] == "ok") & frame[benefit].notna() & frame[cost].notna()]
    sign = -1 if maximize else 1
    ordered = usable.assign(_key=sign * usable[benefit].astype(float)).sort_values([cost, "_key"])
    front, best = set(), None
    for index, row in ordered.iterrows():
        if best is None or row["_key"] < best:
            front.add(index)
            best = row["_key"]
    return pd.Series(frame.index.isin(front), index=frame.index)


def results_table(records):
    """The records as a pandas DataFrame with an ``area`` column (transistors where measured,
    else LUT4) and one boolean column per Pareto front (:data:`FRONTS`)."""
    import pandas as pd
    frame = pd.DataFrame(records)
    frame["area"] = frame["transistors"].where(frame["transistors"].notna(), frame["lut4"])
    for name, (benefit, cost) in FRONTS.items():
        frame[f"pareto_{name}"] = pareto_front(frame, benefit, cost, maximize=benefit == "tokens_per_s")
    return frame


def plot_fronts(frame, out_dir):
    """One PNG per front: every ``ok`` point, the front as a line; returns the paths."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    paths = []
    usable = frame[frame["status"] == "ok"]
    for name, (benefit, cost) in FRONTS.items():
        figure, axes = plt.subplots(figsize=(6, 4.2))
        axes.scatter(usable[cost], usable[benefit], s=18, color="0.6", label="points")
        front = usable[usable[f"pareto_{name}"]].sort_values(cost)
        axes.plot(front[cost], front[benefit], "o-", color="C3", label="Pareto front")
        axes.set_xlabel("area (transistors)" if cost == "area" and frame["transistors"].notna().any()
                        else "LUT4")
        axes.set_ylabel({"tokens_per_s": "tokens/s", "energy_uj_per_token": "energy per token (uJ)"}[benefit])
        for axis in ("x", "y"):
            values = usable[cost if axis == "x" else benefit].dropna()
            if len(values) > 1 and values.max() > 10 * values.min() > 0:
                getattr(axes, f"set_{axis}scale")("log")
        axes.grid(True, alpha=0.3)
        axes.legend()
        axes.set_title(name.replace("_", " "))
        figure.tight_layout()
        paths.append(save_figure(figure, Path(out_dir) / f"pareto_{name}.png"))
        plt.close(figure)
    return paths


def write_table(frame, out_dir):
    """``explore.parquet`` and ``explore.csv`` under ``out_dir`` (each written then renamed)."""
    paths = []
    for suffix, write in (("parquet", frame.to_parquet), ("csv", lambda path: frame.to_csv(path, index=False))):
        path = Path(out_dir) / f"explore.{suffix}"
        with atomic_path(path) as temporary:
            write(temporary)
        paths.append(path)
    return paths


def _summary_rows(frame):
    columns = ["design", "clock_mhz", "target", "workload", *METRICS, "status"]
    marked = frame[frame[[f"pareto_{name}" for name in FRONTS]].any(axis=1) | (frame["status"] != "ok")]
    import pandas as pd
    return [{column: None if pd.isna(row[column]) else row[column] for column in [*columns, "reason"]}
            for _, row in marked.iterrows()]


@click.command("explore")
@click.argument("space_file", type=click.Path(dir_okay=False))
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default="build/explore",
              show_default=True, help="Output folder (table, plots, one record per point).")
@click.option("-j", "--jobs", type=click.IntRange(1), default=os.cpu_count() or 1, show_default=True,
              help="Local worker processes (without --scheduler).")
@click.option("--scheduler", default=None, help="Dask distributed scheduler address, e.g. tcp://host:8786.")
@click.option("--retry-failed", is_flag=True, help="Run the points that failed before again.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Flow cache folder [default: $TRITFORGE_CACHE or ~/.cache/tritforge/flows].")
def explore_command(space_file, out_dir, jobs, scheduler, retry_failed, cache_dir):
    """Sweep a design space (SPACE_FILE, TOML): area, Fmax, transistors, cycles, tokens/s and energy
    per token of every point, its table (Parquet, CSV) and Pareto fronts with plots."""
    space = load_space(space_file)
    try:
        import pandas  # noqa: F401  (fail before running anything)
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise ParameterError(f"tritforge explore needs pandas and matplotlib: run `make setup`: {error}") from None
    check_writable_folder(out_dir)
    check_space_tools(space, cache_dir)
    total = sum(1 for _ in space.points())
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
        task = progress.add_task("explore", total=total, failed=0)
        failures = 0

        def on_record(record, cached):
            nonlocal failures
            failures += record["status"] != "ok"
            progress.update(task, advance=1, failed=failures,
                            description=f"{'cached ' if cached else ''}{record['design'] or record['id']}")
        records = run_sweep(space, out_dir, jobs=jobs, scheduler=scheduler, cache_dir=cache_dir,
                            retry_failed=retry_failed, on_record=on_record)
    frame = results_table(records)
    paths = write_table(frame, out_dir) + plot_fronts(frame, out_dir)
    print_table(f"{space_file}: {len(frame)} points, {int((frame['status'] == 'ok').sum())} ok; "
                 f"Pareto points and failures", _summary_rows(frame))
    for path in paths:
        click.echo(path)
