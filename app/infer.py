"""``tritforge infer``: run a published BitNet b1.58 checkpoint on the golden model and predict
what an accelerator would take for the same matrix products.

The folder holds ``config.json``, ``model.safetensors`` (or shards with
``model.safetensors.index.json``) and ``tokenizer.json`` (read with the ``tokenizers``
library). The prompt is decoded greedily with the KV cache; every BitLinear product the
golden model computes is recorded ``(name, T, K, N)``, and for the accelerator given by the
design options the cycle model (:func:`~tritforge.sim.perf_model.model_layer`) and the
operation-count energy model (:func:`~tritforge.flows.energy.workload_energy`) price those
same products. ``lm_head`` and attention stay on the host (float) and are not priced.
"""

import functools
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
from ..sim.perf_model import model_layer
from ..spec.errors import ParameterError
from ..spec.io import write_json
from ..spec.params import AcceleratorParams, design_from_dict, load_design
from .commands import design_options
from .demo import DEMO_PARAMS

__all__ = ["TOKENIZER_FILE", "load_tokenizer", "run_inference", "accelerator_prediction", "infer_command"]

TOKENIZER_FILE = "tokenizer.json"


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


def run_inference(folder, prompt, max_new_tokens):
    """Greedy decoding of ``prompt`` on the golden model; returns a dict.

    Keys: ``text`` (the continuation), ``prompt_tokens``, ``new_tokens``, ``load_s``,
    ``prefill_s``, ``decode_s``, ``tokens_per_s`` (decoded tokens per second of decoding),
    ``matmuls`` (``(name, T, K, N)`` of every BitLinear product, in order), ``ignored`` (the
    config fields without effect).
    """
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
    matmuls = []

    def recording(name, x_q, w_t):
        matmuls.append((name, x_q.reshape(-1, x_q.shape[-1]).shape[0], w_t.shape[1], w_t.shape[0]))
        return exact_product(x_q, w_t)

    input_ids = torch.tensor([ids], dtype=torch.int64)
    limit = model.config.max_position_embeddings
    if len(ids) + max_new_tokens > limit:
        raise ParameterError(f"prompt ({len(ids)} tokens) plus max_new_tokens ({max_new_tokens}) must fit "
                             f"max_position_embeddings ({limit})")
    steps = [time.perf_counter()]
    with model.matmul_hook(recording):
        out = generate_greedy(model, input_ids, max_new_tokens, on_token=lambda: steps.append(time.perf_counter()))
    new = out[0, len(ids):].tolist()
    decoded = len(steps) - 2  # the first step is the prompt's (prefill)
    return {"text": tokenizer.decode(new), "prompt_tokens": len(ids), "new_tokens": len(new),
            "load_s": loaded - start, "prefill_s": steps[1] - steps[0] if len(steps) > 1 else 0.0,
            "decode_s": steps[-1] - steps[1] if decoded > 0 else 0.0,
            "tokens_per_s": decoded / (steps[-1] - steps[1]) if decoded > 0 else None,
            "matmuls": matmuls, "ignored": list(model.ignored_config_fields), "config": model.config}


@functools.lru_cache(maxsize=None)
def _layer_cycles(params, tokens, k, n):
    return model_layer(params, tokens, k, n).total


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


def _design(config_path, options):
    """The accelerator of ``--config`` (or the demo's) updated by the inline options."""
    fields = load_design(config_path).to_dict() if config_path is not None else DEMO_PARAMS.to_dict()
    fields.update({name: value for name, value in options.items() if value is not None})
    design = design_from_dict({**fields, "kind": "accelerator"})
    if not isinstance(design, AcceleratorParams):
        raise ParameterError(f"tritforge infer prices an accelerator, not kind {design.kind!r}")
    return design


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
              show_default=True, help="Output folder (infer.json).")
@design_options((AcceleratorParams,))
def infer_command(checkpoint, prompt, max_new_tokens, energy_table, clock_mhz, out_dir, config_path, **options):
    """Generate text with a BitNet b1.58 checkpoint on the golden model; predict cycles, tokens/s
    and energy per token of its BitLinear products on an accelerator (the demo's by default)."""
    params = _design(config_path, options)
    result = run_inference(Path(checkpoint), prompt, max_new_tokens)
    prediction = accelerator_prediction(params, result["matmuls"], result["prompt_tokens"], energy_table,
                                        clock_mhz)
    console = Console() if Console().is_terminal else Console(width=160)
    console.print(Text(prompt, style="bold") + Text(result["text"]))
    view = Table(title=f"tritforge infer: {Path(checkpoint).name} ({result['config'].family} family)")
    for column in ("", "quantity", "value"):
        view.add_column(column)
    for row in infer_rows(result, prediction):
        view.add_row(*row)
    console.print(view)
    report = {"checkpoint": str(checkpoint), "prompt": prompt, "text": result["text"],
              "golden": {key: result[key] for key in ("prompt_tokens", "new_tokens", "load_s", "prefill_s",
                                                      "decode_s", "tokens_per_s", "ignored")},
              "config": result["config"].to_dict(), "accelerator": prediction}
    click.echo(write_json(Path(out_dir) / "infer.json", report))
