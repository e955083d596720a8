"""``tritforge infer``: run a published BitNet b1.58 checkpoint on the golden model and predict
what an accelerator would take for the same matrix products.

The folder holds ``config.json``, ``model.safetensors`` (or shards with
``model.safetensors.index.json``) and ``tokenizer.json`` (read with the ``tokenizers``
library). The prompt is decoded greedily with the KV cache; every BitLinear product the
golden model computes is recorded ``(name, T, K, N)``, and for the accelerator given by the
design options the cycle model (:func:`~tritforge.sim.perf_model.model_layer`) and the
operation-count energy model (:func:`~tritforge.flows.energy.workload_energy`) price those
same products. ``lm_head`` and attention stay on the host (float) and are not priced.

With ``--rtl`` the same greedy decoding runs again inside the RTL simulation of that
accelerator (cocotb test ``checkpoint_model`` of :mod:`tritforge.sim.tb_accelerator`): every
BitLinear product on the RTL, the rest in the golden code, each step's logits compared with
the pure golden model's bit for bit, each product's status counters with the cycle model's.
A model too large to simulate is refused before anything runs (:func:`check_rtl_size`).
"""

import json
import time
from pathlib import Path

import click
import torch
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..flows import energy
from ..golden import load_checkpoint
from ..golden.hf_config import CheckpointError
from ..golden.quant import exact_product
from ..golden.train import generate_greedy
from ..sim.build import ACCELERATOR_TESTBENCH, run_accelerator
from ..sim.simulators import SIMULATORS, find_simulator
from ..spec.errors import ParameterError, TritforgeError
from ..spec.io import check_writable_folder, write_json
from ..spec.params import AcceleratorParams
from ..spec.protocol import COUNTERS
from .commands import design_options
from .demo import DEMO_PARAMS
from .performance import accelerator_design, layer_timing

__all__ = ["TOKENIZER_FILE", "RTL_SECONDS", "load_tokenizer", "load_prompt", "run_inference",
           "accelerator_prediction", "planned_products", "rtl_speed", "check_rtl_size", "run_rtl",
           "RtlRunError", "infer_command"]

TOKENIZER_FILE = "tokenizer.json"
#: Simulation time ``--rtl`` accepts by default (``--max-rtl-cycles`` overrides it).
RTL_SECONDS = 300


def load_tokenizer(folder):
    """The ``tokenizers.Tokenizer`` of ``folder/tokenizer.json``."""
    from tokenizers import Tokenizer  # only this command needs it
    path = Path(folder) / TOKENIZER_FILE
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: tritforge infer needs the checkpoint's tokenizer")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as error:  # the library raises a bare Exception for a bad file
        raise CheckpointError(f"{path} is not a readable tokenizer.json: {error}") from error


def load_prompt(folder, prompt, max_new_tokens):
    """The checkpoint's model and tokenizer and the prompt's token ids, checked; returns a
    dict: ``model``, ``tokenizer``, ``ids`` (list), ``load_s``."""
    start = time.perf_counter()
    model = load_checkpoint(folder)
    loaded = time.perf_counter()
    tokenizer = load_tokenizer(folder)
    ids = tokenizer.encode(prompt).ids
    if not ids:
        raise ParameterError("prompt must give at least one token")
    if max(ids) >= model.config.vocab_size:
        raise CheckpointError(f"tokenizer.json gives token id {max(ids)}, beyond the model's vocab_size "
                              f"{model.config.vocab_size}")
    limit = model.config.max_position_embeddings
    if len(ids) + max_new_tokens > limit:
        raise ParameterError(f"prompt ({len(ids)} tokens) plus max_new_tokens ({max_new_tokens}) must fit "
                             f"max_position_embeddings ({limit})")
    return {"model": model, "tokenizer": tokenizer, "ids": ids, "load_s": loaded - start}


def run_inference(folder, prompt, max_new_tokens, loaded=None):
    """Greedy decoding of ``prompt`` on the golden model; returns a dict.

    ``loaded``: what :func:`load_prompt` returned for the same arguments (loaded here when
    not given). Keys: ``text`` (the continuation), ``prompt_tokens``, ``new_tokens``,
    ``load_s``, ``prefill_s``, ``decode_s``, ``tokens_per_s`` (decoded tokens per second of
    decoding), ``matmuls`` (``(name, T, K, N)`` of every BitLinear product, in order),
    ``ignored`` (the config fields without effect).
    """
    loaded = loaded or load_prompt(folder, prompt, max_new_tokens)
    model, tokenizer, ids = loaded["model"], loaded["tokenizer"], loaded["ids"]
    matmuls = []

    def recording(name, x_q, w_t):
        matmuls.append((name, x_q.reshape(-1, x_q.shape[-1]).shape[0], w_t.shape[1], w_t.shape[0]))
        return exact_product(x_q, w_t)

    input_ids = torch.tensor([ids], dtype=torch.int64)
    steps = [time.perf_counter()]
    with model.matmul_hook(recording):
        out = generate_greedy(model, input_ids, max_new_tokens, on_token=lambda: steps.append(time.perf_counter()))
    new = out[0, len(ids):].tolist()
    decoded = len(steps) - 2  # the first step is the prompt's (prefill)
    return {"text": tokenizer.decode(new), "prompt_tokens": len(ids), "new_tokens": len(new),
            "load_s": loaded["load_s"], "prefill_s": steps[1] - steps[0] if len(steps) > 1 else 0.0,
            "decode_s": steps[-1] - steps[1] if decoded > 0 else 0.0,
            "tokens_per_s": decoded / (steps[-1] - steps[1]) if decoded > 0 else None,
            "matmuls": matmuls, "ignored": list(model.ignored_config_fields), "config": model.config}


def _layer_cycles(params, tokens, k, n):
    return layer_timing(params, tokens, k, n).total


def accelerator_prediction(params, matmuls, prompt_tokens, table_name, clock_mhz):
    """Cycles, tokens/s and energy per token of ``matmuls`` on the accelerator ``params``.

    The products with ``T == 1`` are the decoded tokens' (the others the prompt's); each token
    is priced on its own, as a decoder runs them. Returns a dict with ``cycles_prompt``,
    ``cycles_per_token`` (mean over decoded tokens), ``tokens_per_s`` at ``clock_mhz``,
    ``energy_uj_per_token`` (split by category) and ``macs_per_token``.
    """
    decode = [m for m in matmuls if m[1] == 1]
    prompt = [m for m in matmuls if m[1] != 1]
    per_token = len({m[0] for m in matmuls}) or 1
    tokens = max(len(decode) // per_token, 1)
    cycles_decode = sum(_layer_cycles(params, t, k, n) for _, t, k, n in decode)
    layers = [(name, n, k) for name, _, k, n in matmuls[:per_token]]
    table = energy.load_table(table_name)
    estimate = energy.workload_energy(energy.hardware_model(params), layers, table, tokens=1)
    cycles_per_token = cycles_decode / tokens if decode else \
        sum(_layer_cycles(params, 1, k, n) for _, _, k, n in matmuls[:per_token])
    return {"params": params.to_dict(), "clock_mhz": clock_mhz, "table": table_name,
            "cycles_prompt": sum(_layer_cycles(params, t, k, n) for _, t, k, n in prompt),
            "prompt_tokens": prompt_tokens, "cycles_per_token": cycles_per_token,
            "tokens_per_s": clock_mhz * 1e6 / cycles_per_token,
            "macs_per_token": estimate["macs"],
            "energy_uj_per_token": {key: value / 1e6 for key, value in estimate["pj_per_token"].items()}}


def planned_products(config, prompt_tokens, max_new_tokens):
    """``(name, T, K, N)`` of every BitLinear product of greedy decoding with the KV cache:
    the prompt's, then one token's for each further new token (what :func:`run_inference`
    records)."""
    tokens = [prompt_tokens] + [1] * (max_new_tokens - 1)
    return [(name, t, k, n) for t in tokens for name, n, k in config.linear_shapes()]


def rtl_speed(simulator, params):
    """Cycles per second of a model's RTL simulation (``checkpoint_model``) as measured on this
    project's machine (docs/golden.md): Verilator ~15,000 whatever the unit (the drivers'
    Python is the limit); Icarus ~450 at 64 lanes, falling as ``lanes ** -1.5`` (~55 at 8 x 32)."""
    if simulator == "verilator":
        return 15_000.0
    return 450.0 * (64 / params.lanes) ** 1.5


def check_rtl_size(params, products, simulator, max_cycles=None):
    """The cycle model's cycles (status ``cycles`` counter) of ``products`` on ``params``.

    Raises ``ParameterError`` when they exceed ``max_cycles``, by default what ``simulator``
    runs in :data:`RTL_SECONDS` at :func:`rtl_speed`.
    """
    cycles = sum(layer_timing(params, t, k, n).counters["cycles"] for _, t, k, n in products)
    speed = rtl_speed(simulator, params)
    limit = round(RTL_SECONDS * speed) if max_cycles is None else max_cycles
    if cycles > limit:
        raise ParameterError(
            f"--rtl: this model, prompt and max_new_tokens make {len(products)} BitLinear products of "
            f"{cycles:,} accelerator cycles (cycle model), about {_duration(cycles / speed)} of {simulator} "
            f"simulation at ~{speed:,.0f} cycles/s, over the limit of {limit:,} cycles (--max-rtl-cycles): "
            f"use a smaller model, a shorter prompt or fewer new tokens")
    return cycles


def _duration(seconds):
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


class RtlRunError(TritforgeError):
    """The RTL simulation failed before it could compare anything (its log says why)."""


def run_rtl(folder, ids, max_new_tokens, params, simulator, build_dir):
    """Greedy decoding of the prompt ``ids`` with every BitLinear on the RTL of ``params``
    (cocotb test ``checkpoint_model``, built into ``build_dir``); returns its summary plus
    ``wall_s`` (build included).

    Logits that differ from the golden model's are reported in the summary
    (``logits_equal``, ``first_difference``); any other failure raises :class:`RtlRunError`.
    """
    build_dir = Path(build_dir)
    summary_path = build_dir / "summary.json"
    summary_path.unlink(missing_ok=True)
    run = {"checkpoint": str(Path(folder).resolve()), "ids": list(ids), "max_new_tokens": max_new_tokens}
    start = time.perf_counter()
    try:
        run_accelerator(simulator, params, build_dir, ACCELERATOR_TESTBENCH, testcase="checkpoint_model", quiet=True,
                        config={"summary": str(summary_path.resolve()), "checkpoint_model": run})
    except AssertionError as error:
        if not summary_path.exists():
            raise RtlRunError(f"RTL simulation failed: {error}; see {build_dir / 'sim.log'}") from error
    summary = json.loads(summary_path.read_text())["checkpoint_model"]
    return {**summary, "wall_s": time.perf_counter() - start}


def rtl_report(params, rtl, golden_text, text, simulator, per_step, estimated_cycles):
    """The ``rtl`` section of infer.json: the RTL run of :func:`run_rtl` against the golden
    run and the cycle model (counters of each product; ``per_step`` products per step, the
    first step's being the prompt's)."""
    got = [m["counters"] for m in rtl["matmuls"]]
    model = [layer_timing(params, *m["shape"]).counters for m in rtl["matmuls"]]

    def split(counters):
        cycles = [c["cycles"] for c in counters]
        return {"prompt": sum(cycles[:per_step]), "decode": sum(cycles[per_step:]), "total": sum(cycles)}
    return {"simulator": simulator, "text": text, "ids": rtl["ids"], "text_equal": text == golden_text,
            "logits_equal": rtl["logits_equal"], "first_difference": rtl["first_difference"],
            "steps": rtl["steps"], "matmuls": len(got), "cycles": split(got), "model_cycles": split(model),
            "counters": rtl["counters"],
            "model_counters": {name: sum(c[name] for c in model) for name in COUNTERS},
            "products_exact": sum(g == m for g, m in zip(got, model)), "sim_cycles": rtl["sim_cycles"],
            "sim_s": rtl["sim_s"], "estimated_s": estimated_cycles / rtl_speed(simulator, params),
            "wall_s": rtl["wall_s"]}


def rtl_rows(rtl):
    """``(section, quantity, value)`` rows of the RTL run."""
    equal = f"yes, bit for bit ({rtl['steps']} steps)" if rtl["logits_equal"] else f"NO: {rtl['first_difference']}"
    cycles, model = rtl["cycles"], rtl["model_cycles"]
    return [
        ("RTL", "simulator", rtl["simulator"]),
        ("RTL", "logits == golden model", equal),
        ("RTL", "text == golden-only run", "yes" if rtl["text_equal"] else "NO"),
        ("RTL", "BitLinear products", f"{rtl['matmuls']}"),
        ("RTL", "status cycles, prompt", f"{cycles['prompt']:,}  (cycle model {model['prompt']:,})"),
        ("RTL", "status cycles, decoding", f"{cycles['decode']:,}  (cycle model {model['decode']:,})"),
        ("RTL", "cycle model exact", f"{rtl['products_exact']} of {rtl['matmuls']} products, every counter"),
        ("RTL", "simulation", f"{rtl['sim_s']:.1f} s for {rtl['sim_cycles']:,} cycles (estimated "
                              f"{rtl['estimated_s']:.1f} s); {rtl['wall_s']:.1f} s with the build"),
    ]


def infer_rows(result, prediction):
    """``(section, quantity, value)`` rows of the human table."""
    golden = [
        ("golden", "prompt / new tokens", f"{result['prompt_tokens']} / {result['new_tokens']}"),
        ("golden", "load", f"{result['load_s']:.2f} s"),
        ("golden", "prompt (prefill)", f"{result['prefill_s']:.3f} s"),
        ("golden", "decode", "-" if result["tokens_per_s"] is None else f"{result['tokens_per_s']:.2f} tokens/s"),
        ("golden", "BitLinear products", f"{len(result['matmuls'])}"),
    ]
    energy_rows = [("accelerator", f"  {category}", f"{value:.3f} uJ/token")
                   for category, value in prediction["energy_uj_per_token"].items() if category != "total"]
    return golden + [
        ("accelerator", "design", f"{prediction['params']['rows']} x {prediction['params']['cols']}, "
                                  f"{prediction['params']['weight_format']}, stream {prediction['params']['stream_width']} bit"),
        ("accelerator", "cycles, prompt", f"{prediction['cycles_prompt']:,}"),
        ("accelerator", "cycles per token", f"{prediction['cycles_per_token']:,.0f}"),
        ("accelerator", "tokens/s", f"{prediction['tokens_per_s']:.3g} at {prediction['clock_mhz']:g} MHz"),
        ("accelerator", "energy per token", f"{prediction['energy_uj_per_token']['total']:.3f} uJ "
                                            f"({prediction['table']})"),
        *energy_rows,
    ]


@click.command("infer")
@click.option("--checkpoint", "checkpoint", required=True, type=click.Path(file_okay=False),
              help="Model folder: config.json, model.safetensors (or shards), tokenizer.json.")
@click.option("--prompt", required=True, help="Text to continue.")
@click.option("--max-new-tokens", type=click.IntRange(1), default=16, show_default=True,
              help="Tokens to generate (greedy).")
@click.option("--table", "energy_table", type=click.Choice(energy.TABLES), default="bitnet_7nm",
              show_default=True, help="Energy table.")
@click.option("--clock-mhz", type=click.FloatRange(min=0, min_open=True), default=100.0, show_default=True,
              help="Accelerator clock for tokens/s.")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default="build/infer",
              show_default=True, help="Output folder (infer.json; the --rtl build in rtl_<design>_<simulator>).")
@click.option("--rtl", is_flag=True, help="Run the BitLinears through the RTL simulation of the accelerator "
                                          "too (small models only).")
@click.option("--simulator", type=click.Choice(SIMULATORS), default="verilator", show_default=True,
              help="HDL simulator for --rtl.")
@click.option("--max-rtl-cycles", type=click.IntRange(1), default=None,
              help=f"Refuse --rtl above this many accelerator cycles (cycle model) [default: what the simulator "
                   f"runs in {RTL_SECONDS} s, e.g. {round(RTL_SECONDS * rtl_speed('verilator', DEMO_PARAMS)):,} "
                   f"on Verilator].")
@design_options((AcceleratorParams,))
def infer_command(checkpoint, prompt, max_new_tokens, energy_table, clock_mhz, out_dir, rtl, simulator,
                  max_rtl_cycles, config_path, **options):
    """Generate text with a BitNet b1.58 checkpoint on the golden model; predict cycles, tokens/s
    and energy per token of its BitLinear products on an accelerator (the demo's by default);
    with --rtl, run them through the accelerator's RTL simulation as well."""
    params = accelerator_design(config_path, options, DEMO_PARAMS)
    context = click.get_current_context()
    rtl_only = [f"--{name.replace('_', '-')}" for name in ("simulator", "max_rtl_cycles")
                if context.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT]
    if rtl_only and not rtl:
        raise ParameterError(f"{' and '.join(rtl_only)} apply to --rtl runs only; add --rtl")
    if rtl:
        find_simulator(simulator)
    check_writable_folder(out_dir)
    loaded = load_prompt(Path(checkpoint), prompt, max_new_tokens)
    if rtl:
        products = planned_products(loaded["model"].config, len(loaded["ids"]), max_new_tokens)
        estimated_cycles = check_rtl_size(params, products, simulator, max_rtl_cycles)
    result = run_inference(Path(checkpoint), prompt, max_new_tokens, loaded)
    prediction = accelerator_prediction(params, result["matmuls"], result["prompt_tokens"], energy_table,
                                        clock_mhz)
    report = {"checkpoint": str(checkpoint), "prompt": prompt, "text": result["text"],
              "golden": {key: result[key] for key in ("prompt_tokens", "new_tokens", "load_s", "prefill_s",
                                                      "decode_s", "tokens_per_s", "ignored")},
              "config": result["config"].to_dict(), "accelerator": prediction}
    rows = infer_rows(result, prediction)
    if rtl:
        build_dir = Path(out_dir) / f"rtl_{params.name}_{simulator}"
        with Console(stderr=True).status(f"RTL simulation on {simulator} (builds {build_dir} first)"):
            run = run_rtl(checkpoint, loaded["ids"], max_new_tokens, params, simulator, build_dir)
        text = loaded["tokenizer"].decode(run["ids"])
        report["rtl"] = {**rtl_report(params, run, result["text"], text, simulator,
                                      len(result["config"].linear_shapes()), estimated_cycles),
                         "build_dir": str(build_dir)}
        rows += rtl_rows(report["rtl"])
    console = Console() if Console().is_terminal else Console(width=160)
    console.print(Text(prompt, style="bold") + Text(report["rtl"]["text"] if rtl else result["text"]))
    view = Table(title=f"tritforge infer: {Path(checkpoint).name} ({result['config'].family} family)")
    for column in ("", "quantity", "value"):
        view.add_column(column)
    for row in rows:
        view.add_row(*row)
    console.print(view)
    click.echo(write_json(Path(out_dir) / "infer.json", report))
    if rtl and not report["rtl"]["logits_equal"]:
        raise click.exceptions.Exit(1)
