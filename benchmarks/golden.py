"""Golden-model benchmark: load and decode a BitNet b1.58 2B4T-shaped checkpoint.

    python -m benchmarks.golden                  # the real shapes: 30 layers, ~1.2 GB on disk
    python -m benchmarks.golden --layers 2       # a quick look

Writes a checkpoint folder of random weights with the real shapes and file format (config.json
as the published one: AutoBitLinear, offline, packed uint8 weights, bfloat16 scales, norms and
tied embeddings) into a temporary folder, then, in a fresh process, loads it with
:func:`tritforge.golden.load_checkpoint` and decodes greedily with the KV cache. Records the
load time, the resident memory after loading and at its peak (``VmHWM``), and seconds per
decoded token. Writes ``build/bench/golden.json`` (``--out``) and prints a Markdown table for
``docs/golden.md``.
"""

import dataclasses
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import click
import torch
from safetensors.torch import save_file

from benchmarks import machine_environment, write_result
from tritforge.golden import PRESETS, checkpoint_layout
from tritforge.golden.packing import WEIGHTS_PER_BYTE

#: The published config.json of microsoft/bitnet-b1.58-2B-4T, field for field.
CONFIG_2B4T = {
    "architectures": ["BitNetForCausalLM"], "model_type": "bitnet", "attention_bias": False,
    "attention_dropout": 0.0, "bos_token_id": 128000, "eos_token_id": 128001, "hidden_act": "relu2",
    "hidden_size": 2560, "initializer_range": 0.02, "intermediate_size": 6912, "max_position_embeddings": 4096,
    "num_attention_heads": 20, "num_hidden_layers": 30, "num_key_value_heads": 5, "rms_norm_eps": 1e-05,
    "rope_theta": 500000.0, "tie_word_embeddings": True, "torch_dtype": "bfloat16", "use_cache": True,
    "vocab_size": 128256,
    "quantization_config": {"quant_method": "bitnet", "linear_class": "autobitlinear",
                            "quantization_mode": "offline"},
}

#: What the child process runs: load, prefill, decode; report times and memory.
_MEASURE = r"""
import ctypes, json, sys, time, torch
from tritforge.golden import load_checkpoint

def rss_mb(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024

folder, prompt_tokens, new_tokens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
base = rss_mb("VmRSS")
start = time.perf_counter()
model = load_checkpoint(folder)
load_s = time.perf_counter() - start
loaded = rss_mb("VmRSS")
tensors = {t.untyped_storage().data_ptr(): t for t in [*model.parameters(), *model.buffers()]}.values()
model_mb = {kind: sum(t.numel() * t.element_size() for t in tensors if (t.dtype == torch.uint8) == (kind == "packed"))
            / 2 ** 20 for kind in ("packed", "float")}
ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand back the heap the loader freed, to see what stays
trimmed = rss_mb("VmRSS")
load_peak = rss_mb("VmHWM")
ids = torch.randint(0, model.config.vocab_size, (1, prompt_tokens), generator=torch.Generator().manual_seed(0))
cache = model.new_cache()
with torch.no_grad():
    start = time.perf_counter()
    token = model(ids, cache=cache, last_only=True)[:, -1].argmax(-1, keepdim=True)
    prefill_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(new_tokens):
        token = model(token, cache=cache, last_only=True)[:, -1].argmax(-1, keepdim=True)
    decode_s = time.perf_counter() - start
print(json.dumps({"load_s": load_s, "rss_base_mb": base, "rss_loaded_mb": loaded, "rss_trimmed_mb": trimmed,
                  "model_mb": model_mb, "rss_load_peak_mb": load_peak, "rss_peak_mb": rss_mb("VmHWM"),
                  "prefill_s": prefill_s, "s_per_token": decode_s / new_tokens, "threads": torch.get_num_threads()}))
"""


def random_packed(shape, generator):
    """Random packed weights: bytes whose four 2-bit codes are all valid (0, 1 or 2)."""
    codes = torch.arange(3 ** WEIGHTS_PER_BYTE)
    valid = sum((codes // 3 ** i % 3) << (2 * i) for i in range(WEIGHTS_PER_BYTE)).to(torch.uint8)
    return valid[torch.randint(0, len(valid), shape, generator=generator)]


def write_checkpoint(folder, layers):
    """A 2B4T-shaped checkpoint with random weights; returns its size in bytes by kind."""
    config_json = {**CONFIG_2B4T, "num_hidden_layers": layers}
    config = dataclasses.replace(PRESETS["2b4t"], num_hidden_layers=layers, linear_class="autobitlinear")
    generator = torch.Generator().manual_seed(0)
    tensors, sizes = {}, {"packed": 0, "float": 0}
    for name, (kind, shape) in checkpoint_layout(config).items():
        if kind == "packed":
            tensors[name] = random_packed(shape, generator)
        elif kind == "scale":
            tensors[name] = torch.full(shape, 0.02, dtype=torch.bfloat16)
        else:
            tensors[name] = (torch.randn(shape, generator=generator) * (0.02 if len(shape) == 2 else 1) + (
                0 if len(shape) == 2 else 1)).to(torch.bfloat16)
        sizes["packed" if kind == "packed" else "float"] += tensors[name].numel() * tensors[name].element_size()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config_json, indent=2))
    save_file(tensors, folder / "model.safetensors")
    return sizes, config.ternary_weight_count()


def measure(folder, prompt_tokens, new_tokens):
    done = subprocess.run([sys.executable, "-c", _MEASURE, str(folder), str(prompt_tokens), str(new_tokens)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(result):
    mb = 1024 ** 2
    sizes = result["checkpoint_bytes"]
    return "\n".join([
        "| quantity | value |", "|---|---:|",
        f"| layers / ternary weights | {result['layers']} / {result['ternary_weights'] / 1e9:.2f} G |",
        f"| checkpoint: packed weights / bfloat16 tensors | {sizes['packed'] / mb:,.0f} MiB / "
        f"{sizes['float'] / mb:,.0f} MiB |",
        f"| load time | {result['load_s']:.1f} s |",
        f"| model tensors: packed weights / float32 | {result['model_mb']['packed']:,.0f} / "
        f"{result['model_mb']['float']:,.0f} MiB |",
        f"| resident memory: before loading / after / after malloc_trim | {result['rss_base_mb']:,.0f} / "
        f"{result['rss_loaded_mb']:,.0f} / {result['rss_trimmed_mb']:,.0f} MiB |",
        f"| peak resident memory: loading / decoding | {result['rss_load_peak_mb']:,.0f} / "
        f"{result['rss_peak_mb']:,.0f} MiB |",
        f"| prompt of {result['prompt_tokens']} tokens (prefill) | {result['prefill_s']:.2f} s |",
        f"| decoding | {result['s_per_token']:.2f} s per token ({result['threads']} threads) |",
    ])


@click.command()
@click.option("--layers", type=click.IntRange(1, 30), default=30, show_default=True,
              help="Decoder layers (30 is the real model).")
@click.option("--prompt-tokens", type=click.IntRange(1), default=16, show_default=True)
@click.option("--new-tokens", type=click.IntRange(1), default=4, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("build/bench"),
              show_default=True)
def main(layers, prompt_tokens, new_tokens, out):
    """Load time, memory and seconds per token of a 2B4T-shaped checkpoint on the golden model."""
    with tempfile.TemporaryDirectory(prefix="tritforge-2b4t-") as folder:
        sizes, weights = write_checkpoint(Path(folder), layers)
        measured = measure(folder, prompt_tokens, new_tokens)
    result = {"layers": layers, "ternary_weights": weights, "checkpoint_bytes": sizes,
              "prompt_tokens": prompt_tokens, "new_tokens": new_tokens, **measured,
              "environment": machine_environment(("torch", "safetensors", "numpy"))}
    print(table(result))
    write_result(out, "golden.json", result)


if __name__ == "__main__":
    main()
