"""Whole-model performance of a BitNet b1.58 model on an accelerator: ``tritforge perf``.

For a model (a preset of :data:`~tritforge.spec.formats.MODEL_SHAPES` or a checkpoint's
``config.json``) on an accelerator (:class:`~tritforge.spec.params.AcceleratorParams`, whose
``stream_width`` is the host/memory link in bits per cycle) at a clock:

* every BitLinear of the model is priced with the cycle model
  (:func:`~tritforge.sim.perf_model.model_layer`, exact against the RTL), for the prompt
  (prefill: ``T`` = prompt tokens) and for one decoded token (``T = 1``); each layer's time is
  split into compute (a chunk enters the unit), link (the unit waits for the input link, or
  for results to leave) and overhead (start and drain of each run);
* the parts the accelerator does not run - embedding lookup, RMS norms, activation
  quantization and output scaling, rotary embedding, attention scores, softmax and the
  attention-weighted sum over the KV cache, the gated FFN activation, residual adds, the
  final norm and ``lm_head`` - are named and priced as host work: floating-point operations
  and bytes, at a host's GFLOP/s and GB/s (:class:`HostModel`), whichever takes longer;
* weight placement: ``streamed`` (every run loads its weights over the link, as the driver
  does) or ``resident`` (the model's weights held on chip, which needs a weight memory of
  ``2 * weight_depth`` tiles that holds every layer's tiles). The accelerator as built
  always loads a run's weights, so the resident figures are an estimate (not checked against
  the RTL): the streamed cycles less the weight beats, never below the cycles of the runs
  themselves;
* a roofline per layer: the cycles the compute, the input link and the output link need at
  least, which of them bounds the layer, and what the cycle model achieves;
* energy per token from the operation-count energy model
  (:func:`~tritforge.flows.energy.workload_energy`, with the cycle model's chunk steps), its
  off-chip traffic the bits the runs move (weights reloaded for each group of tokens a run
  holds; none for resident weights).

Nothing here needs torch: a ``config.json`` is read through the golden layer only when one is
given. :func:`layer_timing` is the cached cycle model that ``tritforge infer`` shares.
"""

import dataclasses
import functools
import math
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ..flows import energy
from ..sim.driver import plan_matmul
from ..sim.perf_model import model_layer
from ..spec.errors import ParameterError, check_integer
from ..spec.formats import MODEL_SHAPES, MODEL_VOCAB_SIZES, bits_per_weight, model_shape
from ..spec.io import check_writable_folder, write_json
from ..spec.params import AcceleratorParams, design_from_dict, load_design
from ..spec.protocol import WORD_BITS
from .commands import design_options, print_table, write_csv

__all__ = ["PLACEMENTS", "MAX_TOKENS", "TERNARY_BITS", "PUBLISHED", "ModelSpec", "HostModel", "HOST", "layer_timing",
           "link_width", "accelerator_design", "model_spec", "weight_tiles", "layer_cost", "host_work",
           "model_performance", "performance_rows", "perf_command"]

#: Weight placements: every run loads its weights, or the weights stay on chip.
PLACEMENTS = ("streamed", "resident", "auto")
#: Most prompt or context tokens: a million, far beyond any BitNet model's context window (4,096
#: for 2B4T); the cycle model's time grows with the tokens (~8 s at a million), so a typo such as
#: ``--prompt-tokens 99999999999`` would run for days.
MAX_TOKENS = 2**20
#: Information in one ternary weight: the link cannot carry a weight in fewer bits.
TERNARY_BITS = math.log2(3)

#: Published decode figures of ternary LLM systems (``/work/shared`` reference list, from the
#: papers and reports named): ``system``, ``model``, ``platform``, ``tokens_per_s``, ``watts``
#: (None where not reported), ``note``. Not all run 2B4T: the model column says which.
PUBLISHED = (
    {"system": "bitnet.cpp", "model": "BitNet b1.58 2B4T", "platform": "CPU",
     "tokens_per_s": 1 / 0.029, "watts": None,
     "note": "decode ~29 ms/token (BitNet b1.58 2B4T technical report)"},
    {"system": "TeLLMe v2", "model": "BitNet b1.58 (1.58-bit weights, 8-bit activations)",
     "platform": "AMD KV260 FPGA", "tokens_per_s": 25.0, "watts": 5.0,
     "note": "up to 25 tokens/s decode at about 5 W"},
    {"system": "TerEffic", "model": "MatMul-free LM 370M (1.6-bit weights), fully on chip",
     "platform": "FPGA", "tokens_per_s": 16300.0, "watts": 16300.0 / 455.0,
     "note": "16,300 tokens/s at 455 tokens/s/W; a smaller model than 2B4T"},
)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What the performance model needs of a BitNet model: its BitLinear shapes, its vocabulary
    (``lm_head`` and the embedding stay on the host) and a name for reports."""
    name: str
    shape: object
    vocab_size: int

    @property
    def weights(self):
        """Ternary weights of the whole model."""
        return self.shape.ternary_weight_count()


def model_spec(model):
    """The :class:`ModelSpec` of a preset name (``2b4t``...) or of a ``config.json`` path
    (a file, or a checkpoint folder holding one)."""
    if model in MODEL_SHAPES:
        return ModelSpec(model, model_shape(model), MODEL_VOCAB_SIZES[model])
    path = Path(model)
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise ParameterError(f"model must be a preset ({', '.join(MODEL_SHAPES)}) or a config.json "
                             f"(or a folder holding one), not {model!r}")
    from ..golden.hf_config import read_config_file  # torch: only for a checkpoint's config
    config = read_config_file(path).config
    return ModelSpec(path.parent.name or str(path), config.shape, config.vocab_size)


@dataclasses.dataclass(frozen=True)
class HostModel:
    """The host that runs what the accelerator does not: a float throughput and a memory
    bandwidth (a step takes the longer of its operations and its bytes).

    The defaults are this project's machine measured with PyTorch 2.13 on one core
    (``docs/performance.md``), rounded down: a float32 matrix-vector product the size of
    2B4T's ``lm_head`` ran at 15.8 GB/s (memory bound), a 1024 x 1024 float32 matrix product
    at 159 GFLOP/s (compute bound).
    """
    gflops: float = 150.0
    gbps: float = 15.0
    #: Bytes per element of the float tensors the host reads (lm_head, KV cache).
    float_bytes: int = 4

    def __post_init__(self):
        for name in ("gflops", "gbps"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise ParameterError(f"host {name} must be a positive number, not {value!r}")

    def seconds(self, flops, nbytes):
        return max(flops / (self.gflops * 1e9), nbytes / (self.gbps * 1e9))


HOST = HostModel()


#: The cycle model, cached: a model repeats the same few shapes.
layer_timing = functools.lru_cache(maxsize=None)(model_layer)


def link_width(clock_mhz, link_gbps):
    """``stream_width`` (a multiple of 32 bits) of a link of ``link_gbps`` GB/s at ``clock_mhz``:
    rounded down, so the modelled link is never faster than the one given."""
    bits = link_gbps * 8e9 / (clock_mhz * 1e6)
    width = int(bits // WORD_BITS) * WORD_BITS
    if width < WORD_BITS:
        raise ParameterError(f"a {link_gbps:g} GB/s link at {clock_mhz:g} MHz carries {bits:.1f} bits per "
                             f"cycle, less than one {WORD_BITS}-bit word: raise the link or lower the clock")
    return width


def accelerator_design(config_path, options, default):
    """The accelerator of ``--config`` (or ``default``) updated by the inline options."""
    fields = load_design(config_path).to_dict() if config_path is not None else default.to_dict()
    fields.update({name: value for name, value in options.items() if value is not None})
    design = design_from_dict({**fields, "kind": "accelerator"})
    if not isinstance(design, AcceleratorParams):
        raise ParameterError(f"this command prices an accelerator, not kind {design.kind!r}")
    return design


def weight_tiles(params, shapes):
    """Weight tiles ``shapes`` (``(name, out, in)``) occupy in the weight memory."""
    return sum(params.chunks(k) * params.row_blocks(n) for _, n, k in shapes)


def _link_traffic(params, tokens, k, n):
    """Beats and payload bits of the layer's weights, activations (the input link) and results
    (the output link), run by run as the driver plans it (weights reload for each group of
    tokens that a run holds)."""
    beats, bits = dict.fromkeys(("weights", "acts", "results"), 0), dict.fromkeys(("weights", "acts", "results"), 0)
    for part in plan_matmul(params, tokens, k, n):
        t, part_k, part_n = part.shape
        chunks, blocks = params.chunks(part_k), params.row_blocks(part_n)
        beats["weights"] += chunks * blocks * params.tile_beats
        bits["weights"] += chunks * blocks * params.tile_bits
        if part.load_acts:
            beats["acts"] += t * chunks * params.chunk_beats
            bits["acts"] += t * chunks * params.chunk_bits
        beats["results"] += t * blocks * params.group_beats
        bits["results"] += t * blocks * params.rows * WORD_BITS
    return beats, bits


def layer_cost(params, tokens, k, n, resident):
    """Cycles of ``Y[tokens x n] = X . W^T`` split into compute, link and overhead, its
    roofline and its off-chip bits: a dict. ``resident``: the weights are on chip (an
    estimate, module docstring)."""
    timing = layer_timing(params, tokens, k, n)
    beats, bits = _link_traffic(params, tokens, k, n)
    busy = timing.compute + timing.overhead + timing.wait_out
    total = max(timing.total - beats["weights"], busy) if resident else timing.total
    link_in = beats["acts"] + (0 if resident else beats["weights"])
    bounds = {"compute": timing.compute, "link in": link_in, "link out": beats["results"]}
    return {"tokens": tokens, "k": k, "n": n, "cycles": total, "compute": timing.compute,
            "link": total - timing.compute - timing.overhead, "overhead": timing.overhead,
            "exact": timing.exact and not resident, "macs": tokens * k * n,
            "link_in_beats": link_in, "link_out_beats": beats["results"],
            "offchip_bits": bits["acts"] + bits["results"] + (0 if resident else bits["weights"]),
            "bound": max(bounds, key=bounds.get), "floor_cycles": max(bounds.values())}


def host_work(spec, tokens, context, host=HOST):
    """Host work of ``tokens`` new tokens after ``context`` cached ones: ``{part: {"flops",
    "bytes", "seconds"}}``. Counts per element: RMS norm 4 (square, sum, scale, weight),
    quantization 3 (absmax, scale, round), output scaling 2, rotary 3, softmax 5, gated
    activation 3; attention 2 per multiply-accumulate over the cached keys and values
    (causal within the new tokens); ``lm_head`` for the last token only, as the golden model."""
    shape = spec.shape
    h, kv, ffn, layers = shape.hidden_size, shape.kv_size, shape.intermediate_size, shape.num_hidden_layers
    heads = shape.num_attention_heads
    # Positions each new token attends to, summed: context + 1, context + 2, ...
    positions = tokens * context + tokens * (tokens + 1) // 2
    fb = host.float_bytes
    parts = {
        "embedding lookup": (0, tokens * h * fb),
        "RMS norms (4 per layer)": (layers * tokens * 4 * (3 * h + ffn), 0),
        "activation quantization": (layers * tokens * 3 * (3 * h + ffn), 0),
        "output scaling": (layers * tokens * 2 * (2 * h + 2 * kv + 2 * ffn + h), 0),
        "rotary embedding": (layers * tokens * 3 * (h + kv), 0),
        "attention scores (QK^T)": (layers * 2 * h * positions, layers * kv * positions * fb),
        "softmax": (layers * 5 * heads * positions, 0),
        "attention sum (AV)": (layers * 2 * h * positions, layers * kv * positions * fb),
        "gated FFN activation": (layers * tokens * 3 * ffn, 0),
        "residual adds": (layers * tokens * 2 * h, 0),
        "final norm and lm_head": (4 * h + 2 * spec.vocab_size * h, spec.vocab_size * h * fb),
    }
    return {name: {"flops": flops, "bytes": nbytes, "seconds": host.seconds(flops, nbytes)}
            for name, (flops, nbytes) in parts.items()}


def _placement(params, spec, placement):
    """``"streamed"`` or ``"resident"`` for ``placement``, checked against the weight memory."""
    if placement not in PLACEMENTS:
        raise ParameterError(f"weights must be one of {', '.join(PLACEMENTS)}, not {placement!r}")
    needed, held = weight_tiles(params, spec.shape.linear_shapes()), 2 * params.weight_depth
    if placement == "auto":
        return "resident" if needed <= held else "streamed"
    if placement == "resident" and needed > held:
        raise ParameterError(
            f"the weights of {spec.name} need {needed:,} tiles ({needed * params.tile_bits / 8e6:.3g} MB), "
            f"the weight memory holds {held:,} (2 x weight_depth): raise weight_depth to "
            f"{-(-needed // 2):,} or stream the weights")
    return placement


def _phase(params, spec, tokens, context, clock_mhz, resident, host):
    """Cycles, time split and layer rows of one forward pass of ``tokens`` tokens."""
    per_layer = [dict(layer_cost(params, tokens, k, n, resident), name=name)
                 for name, n, k in spec.shape.layer_linear_shapes()]
    layers = spec.shape.num_hidden_layers
    cycles = {key: layers * sum(row[key] for row in per_layer)
              for key in ("cycles", "compute", "link", "overhead", "macs", "offchip_bits")}
    hosted = host_work(spec, tokens, context, host)
    seconds = {key: cycles[key] / (clock_mhz * 1e6) for key in ("compute", "link", "overhead")}
    seconds["host"] = sum(part["seconds"] for part in hosted.values())
    total = sum(seconds.values())
    return {"tokens": tokens, "context": context,
            **{key if key in ("macs", "offchip_bits") else f"{key}_cycles": value for key, value in cycles.items()},
            "seconds": seconds, "total_s": total, "tokens_per_s": tokens / total,
            "accelerator_tokens_per_s": tokens * clock_mhz * 1e6 / cycles["cycles"],
            "exact": all(row["exact"] for row in per_layer), "layers": per_layer, "host": hosted}


def _energy(params, spec, phase, table, dram):
    """Energy per token of the BitLinears of ``phase`` (uJ by category): the operation-count
    model with the cycle model's chunk steps, its off-chip traffic replaced by the bits the runs
    move (weights reloaded per group of tokens, none when resident)."""
    estimate = energy.workload_energy(energy.hardware_model(params), spec.shape.linear_shapes(), table,
                                      tokens=phase["tokens"], dram=dram,
                                      counters={"compute": phase["compute_cycles"], "macs": phase["macs"]})
    per_token = dict(estimate["pj_per_token"])
    per_token["offchip"] = table.dram_bits(phase["offchip_bits"], dram) / phase["tokens"]
    per_token["total"] = sum(value for category, value in per_token.items() if category != "total")
    return {category: value / 1e6 for category, value in per_token.items()}


def model_performance(params, spec, *, clock_mhz=100.0, prompt_tokens=128, context=None,
                      placement="auto", table="bitnet_7nm", dram="mid", host=HOST):
    """Prefill and decode performance of ``spec`` on ``params``; a JSON-ready dict.

    Parameters
    ----------
    params : AcceleratorParams
        ``stream_width`` is the link, in bits per cycle each way.
    spec : ModelSpec
    clock_mhz : float
    prompt_tokens : int
        Tokens of the prompt (one prefill pass with ``T = prompt_tokens``).
    context : int or None
        Tokens in the KV cache when a token is decoded (default: ``prompt_tokens``).
    placement : str
        One of :data:`PLACEMENTS` (``auto``: resident when the weights fit the weight memory).
    table, dram
        Energy table (:func:`~tritforge.flows.energy.load_table`) and DRAM figure.
    host : HostModel

    Returns
    -------
    dict
        ``model``, ``params``, ``clock_mhz``, ``placement``, ``weights`` (count, bytes as
        stored, tiles needed and held), ``prefill`` and ``decode`` (cycles by part, seconds by
        compute / link / overhead / host, ``tokens_per_s``, per-layer rows with the roofline,
        host parts, ``energy_uj_per_token``), ``limits`` (tokens/s the link allows at
        1.58 bits per weight, and at the weight format's bits, when streamed; the compute
        peak).
    """
    if not isinstance(clock_mhz, (int, float)) or isinstance(clock_mhz, bool) or not clock_mhz > 0:
        raise ParameterError(f"clock_mhz must be a positive number, not {clock_mhz!r}")
    check_integer("prompt_tokens", prompt_tokens, 1, MAX_TOKENS)
    context = prompt_tokens if context is None else context
    check_integer("context", context, 0, MAX_TOKENS)
    placed = _placement(params, spec, placement)
    resident = placed == "resident"
    energy_table = energy.load_table(table)
    phases = {"prefill": _phase(params, spec, prompt_tokens, 0, clock_mhz, resident, host),
              "decode": _phase(params, spec, 1, context, clock_mhz, resident, host)}
    for phase in phases.values():
        phase["energy_uj_per_token"] = _energy(params, spec, phase, energy_table, dram)
    link_bits_per_s = params.stream_width * clock_mhz * 1e6
    weights = spec.weights
    return {
        "model": spec.name, "params": params.to_dict(), "clock_mhz": clock_mhz, "placement": placed,
        "table": table, "host": dataclasses.asdict(host),
        "weights": {"count": weights, "stored_mb": weights * bits_per_weight(params.weight_format) / 8e6,
                    "tiles_needed": weight_tiles(params, spec.shape.linear_shapes()),
                    "tiles_held": 2 * params.weight_depth},
        **phases,
        "limits": {
            "link_gb_per_s": link_bits_per_s / 8e9,
            "decode_tokens_per_s_at_1.58_bits": None if resident else link_bits_per_s / (weights * TERNARY_BITS),
            "decode_tokens_per_s_at_format_bits":
                None if resident else link_bits_per_s / (weights * bits_per_weight(params.weight_format)),
            "compute_tokens_per_s": params.lanes * clock_mhz * 1e6 / weights,
        },
    }


def performance_rows(result):
    """``(section, quantity, value)`` rows of the human table."""
    p = result["params"]
    rows = [("design", "accelerator", f"{p['rows']} x {p['cols']} lanes, {p['weight_format']}, link "
                                      f"{p['stream_width']} bit/cycle ({result['limits']['link_gb_per_s']:.3g} GB/s) "
                                      f"at {result['clock_mhz']:g} MHz"),
            ("design", "weights", f"{result['weights']['count'] / 1e6:,.1f} M ternary, "
                                  f"{result['weights']['stored_mb']:,.1f} MB stored, {result['placement']}")]
    for phase in ("prefill", "decode"):
        data = result[phase]
        seconds = data["seconds"]
        label = f"{phase} (T = {data['tokens']}, context {data['context']})"
        rows += [(label, "tokens/s", f"{data['tokens_per_s']:.4g}  (accelerator alone "
                                     f"{data['accelerator_tokens_per_s']:.4g})"),
                 (label, "time per token", f"{data['total_s'] / data['tokens'] * 1e3:.4g} ms"),
                 *[(label, f"  {part}", f"{value / data['tokens'] * 1e3:.4g} ms ({value / data['total_s']:.0%})")
                   for part, value in seconds.items()],
                 (label, "energy per token", f"{data['energy_uj_per_token']['total']:.4g} uJ ({result['table']}, "
                                             f"BitLinears only)")]
    limits = result["limits"]
    if limits["decode_tokens_per_s_at_1.58_bits"] is not None:
        rows.append(("limits", "decode over the link at 1.58 bits/weight",
                     f"{limits['decode_tokens_per_s_at_1.58_bits']:.4g} tokens/s"))
    rows.append(("limits", "decode at full compute (lanes x clock)", f"{limits['compute_tokens_per_s']:.4g} tokens/s"))
    return rows


def _layer_rows(result):
    return [{"phase": phase, "layer": row["name"], "T": row["tokens"], "K": row["k"], "N": row["n"],
             "cycles": row["cycles"], "compute": row["compute"], "link": row["link"],
             "overhead": row["overhead"], "bound": row["bound"], "floor_cycles": row["floor_cycles"],
             "efficiency": row["floor_cycles"] / row["cycles"], "exact": row["exact"]}
            for phase in ("prefill", "decode") for row in result[phase]["layers"]]


@click.command("perf")
@click.argument("model")
@click.option("--clock-mhz", type=click.FloatRange(min=0, min_open=True), default=100.0, show_default=True,
              help="Accelerator clock.")
@click.option("--link-gbps", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Host/memory link in GB/s each way (sets --stream-width, rounded down to 32 bits).")
@click.option("--weights", "placement", type=click.Choice(PLACEMENTS), default="auto", show_default=True,
              help="Weights streamed over the link for every run, or resident on chip (auto: where they fit).")
@click.option("--prompt-tokens", type=click.IntRange(1, MAX_TOKENS), default=128, show_default=True,
              help="Prompt length (prefill).")
@click.option("--context", type=click.IntRange(0, MAX_TOKENS), default=None,
              help="Tokens in the KV cache when decoding [default: the prompt's].")
@click.option("--table", "energy_table", type=click.Choice(energy.TABLES), default="bitnet_7nm",
              show_default=True, help="Energy table.")
@click.option("--host-gflops", type=click.FloatRange(min=0, min_open=True), default=HOST.gflops,
              show_default=True, help="Host float throughput for the work the accelerator does not run.")
@click.option("--host-gbps", type=click.FloatRange(min=0, min_open=True), default=HOST.gbps,
              show_default=True, help="Host memory bandwidth (lm_head, KV cache).")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default="build/perf",
              show_default=True, help="Output folder (perf.json, layers.csv).")
@design_options((AcceleratorParams,))
def perf_command(model, clock_mhz, link_gbps, placement, prompt_tokens, context, energy_table, host_gflops,
                 host_gbps, out_dir, config_path, **options):
    """Prefill and decode tokens/s, time per token (compute / link / overhead / host), roofline per
    layer and energy per token of a BitNet model (preset or config.json) on an accelerator."""
    from .demo import DEMO_PARAMS
    if link_gbps is not None:
        if options.get("stream_width") is not None:
            raise ParameterError("give --link-gbps or --stream-width, not both")
        options["stream_width"] = link_width(clock_mhz, link_gbps)
    params = accelerator_design(config_path, options, DEMO_PARAMS)
    spec = model_spec(model)
    check_writable_folder(out_dir)
    result = model_performance(params, spec, clock_mhz=clock_mhz, prompt_tokens=prompt_tokens, context=context,
                               placement=placement, table=energy_table,
                               host=HostModel(gflops=host_gflops, gbps=host_gbps))
    console = Console() if Console().is_terminal else Console(width=160)
    view = Table(title=f"tritforge perf: {spec.name} on {params.name}")
    for column in ("", "quantity", "value"):
        view.add_column(column)
    for row in performance_rows(result):
        view.add_row(*row)
    console.print(view)
    print_table("roofline of one transformer layer (cycles; bound: what needs the most cycles at least)",
                [{key: row[key] for key in ("phase", "layer", "T", "K", "N", "cycles", "compute", "link", "overhead",
                                            "bound", "efficiency")} for row in _layer_rows(result)])
    out = Path(out_dir) / f"{spec.name}_{params.name}"
    click.echo(write_json(out / "perf.json", result))
    click.echo(write_csv(out / "layers.csv", _layer_rows(result)))
