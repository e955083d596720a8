"""BitNet b1.58 2B4T, whole model: this machine's PyTorch run of the golden model, the accelerator's
cycle model on a few configurations, the physical link limit and the published systems.

    python -m benchmarks.model_perf                  # golden model with 4 real-shape layers (~1 min)
    python -m benchmarks.model_perf --model-only     # the accelerator rows alone (seconds)

The golden model: a 2B4T-shaped checkpoint of random weights (the published file format,
packed ternary weights: :func:`benchmarks.golden.write_checkpoint`) with ``L`` layers, loaded with
:func:`tritforge.golden.load_checkpoint` in a fresh process; a prompt of ``P`` tokens, ``W``
decoded tokens to warm up (the first calls of each product are several times slower), then ``D``
timed decoded tokens. Forward hooks time each decoder layer (and its BitLinears, and ``lm_head``);
the rest of a token (embedding, final norm, ``lm_head``, sampling) is its time less its layers';
the 30-layer model is ``rest + 30 * layer``. Writes ``build/bench/model_perf.json`` and prints the Markdown table of
``docs/performance.md``.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import click

from benchmarks import machine_environment, write_result
from benchmarks.golden import write_checkpoint
from tritforge.app.performance import PUBLISHED, link_width, model_performance, model_spec
from tritforge.spec.params import AcceleratorParams

#: The accelerator rows: name, clock (MHz), link (GB/s each way), unit rows x cols.
CONFIGURATIONS = (
    ("8 x 32, 0.8 GB/s link", 100.0, 0.8, (8, 32)),
    ("16 x 64, 3.2 GB/s link", 100.0, 3.2, (16, 64)),
    ("32 x 128, 19.2 GB/s (KV260's DDR4)", 250.0, 19.2, (32, 128)),
    ("64 x 128, 25.6 GB/s (DDR4-3200 x 64)", 200.0, 25.6, (64, 128)),
)
CONTEXT = 128

_MEASURE = r"""
import json, sys, time, torch
from tritforge.golden import load_checkpoint
folder, prompt, warmup, timed = sys.argv[1], *map(int, sys.argv[2:5])
model = load_checkpoint(folder)
spent = {"layers": 0.0, "bitlinears": 0.0, "lm_head": 0.0}
def clock(module, kind):
    started = []
    module.register_forward_pre_hook(lambda *_: started.append(time.perf_counter()))
    module.register_forward_hook(lambda *_: spent.__setitem__(kind, spent[kind] + time.perf_counter() - started.pop()))
for layer in model.model.layers:
    clock(layer, "layers")
for _, linear in model.bitlinears():
    clock(linear, "bitlinears")
clock(model.lm_head, "lm_head")
ids = torch.randint(0, model.config.vocab_size, (1, prompt), generator=torch.Generator().manual_seed(0))
cache = model.new_cache()
with torch.no_grad():
    start = time.perf_counter()
    token = model(ids, cache=cache, last_only=True)[:, -1].argmax(-1, keepdim=True)
    prefill = time.perf_counter() - start
    for _ in range(warmup):
        token = model(token, cache=cache, last_only=True)[:, -1].argmax(-1, keepdim=True)
    spent.update(dict.fromkeys(spent, 0.0))
    start = time.perf_counter()
    for _ in range(timed):
        token = model(token, cache=cache, last_only=True)[:, -1].argmax(-1, keepdim=True)
    decode = (time.perf_counter() - start) / timed
layers = model.config.num_hidden_layers
print(json.dumps({"prefill_s": prefill, "s_per_token": decode, "threads": torch.get_num_threads(),
                  "s_per_layer": spent["layers"] / timed / layers, "s_bitlinears": spent["bitlinears"] / timed / layers,
                  "s_lm_head": spent["lm_head"] / timed}))
"""


def measure_golden(layers, prompt, warmup, timed):
    with tempfile.TemporaryDirectory(prefix="tritforge-2b4t-") as folder:
        write_checkpoint(Path(folder), layers)
        done = subprocess.run([sys.executable, "-c", _MEASURE, folder, str(prompt), str(warmup), str(timed)],
                              capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def golden_estimate(run, layers):
    """The 30-layer model's decode seconds per token from a run of ``layers`` layers: each
    decoder layer timed on its own (forward hooks), the rest (embedding, final norm,
    ``lm_head``, sampling) is the token's time less its layers'."""
    rest = run["s_per_token"] - layers * run["s_per_layer"]
    return {"s_per_layer": run["s_per_layer"], "s_bitlinears_per_layer": run["s_bitlinears"],
            "s_lm_head": run["s_lm_head"], "s_rest": rest, "s_per_token_30": rest + 30 * run["s_per_layer"]}


def accelerator_rows():
    spec = model_spec("2b4t")
    rows = []
    for name, clock, gbps, (unit_rows, cols) in CONFIGURATIONS:
        params = AcceleratorParams(rows=unit_rows, cols=cols, max_k=4096, weight_depth=256, act_depth=512,
                                   max_tokens=64, stream_width=link_width(clock, gbps))
        result = model_performance(params, spec, clock_mhz=clock, prompt_tokens=CONTEXT, context=CONTEXT)
        decode = result["decode"]
        rows.append({"name": name, "clock_mhz": clock, "link_gb_s": result["limits"]["link_gb_per_s"],
                     "lanes": params.lanes, "decode_tokens_s": decode["tokens_per_s"],
                     "accelerator_tokens_s": decode["accelerator_tokens_per_s"],
                     "link_limit_tokens_s": result["limits"]["decode_tokens_per_s_at_1.58_bits"],
                     "host_ms": decode["seconds"]["host"] * 1e3,
                     "link_share": decode["seconds"]["link"] / decode["total_s"],
                     "energy_mj": decode["energy_uj_per_token"]["total"] / 1e3,
                     "offchip_share": decode["energy_uj_per_token"]["offchip"] / decode["energy_uj_per_token"]["total"],
                     "prefill_tokens_s": result["prefill"]["tokens_per_s"]})
    return rows


def table(result):
    lines = ["| system | platform | decode tokens/s | energy per token | terms |", "|---|---|---:|---:|---|"]
    golden = result.get("golden")
    if golden:
        lines.append(f"| tritforge golden model (PyTorch {golden['threads']} threads, fp32, packed weights) | this "
                     f"machine's 2 cores | {1 / golden['s_per_token_30']:.3g} | - | measured: {golden['layers']} "
                     f"real-shape layers, {golden['s_per_layer'] * 1e3:.1f} ms per layer (BitLinears "
                     f"{golden['s_bitlinears_per_layer'] * 1e3:.1f}) + {golden['s_rest'] * 1e3:.0f} ms rest (lm_head "
                     f"{golden['s_lm_head'] * 1e3:.0f}), extrapolated to 30 layers |")
    for entry in PUBLISHED:
        energy = f"{entry['watts'] / entry['tokens_per_s'] * 1e3:.3g} mJ" if entry["watts"] else "-"
        lines.append(f"| {entry['system']} | {entry['platform']} | {entry['tokens_per_s']:,.3g} | {energy} | "
                     f"published: {entry['model']}; {entry['note']} |")
    for row in result["accelerator"]:
        lines.append(f"| tritforge {row['name']}, {row['clock_mhz']:g} MHz | cycle model + this machine's host model "
                     f"| {row['decode_tokens_s']:.3g} (accelerator alone {row['accelerator_tokens_s']:.3g}) | "
                     f"{row['energy_mj']:.3g} mJ ({row['offchip_share']:.0%} off-chip) | link limit at 1.58 "
                     f"bits/weight {row['link_limit_tokens_s']:.3g} tokens/s; host {row['host_ms']:.0f} ms/token |")
    return "\n".join(lines)


@click.command()
@click.option("--model-only", is_flag=True, help="Skip the golden model's run.")
@click.option("--layers", type=click.IntRange(1, 30), default=4, show_default=True,
              help="Real-shape decoder layers of the golden model's run.")
@click.option("--prompt-tokens", type=click.IntRange(1), default=16, show_default=True)
@click.option("--warmup", type=click.IntRange(0), default=4, show_default=True)
@click.option("--timed", type=click.IntRange(1), default=8, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("build/bench"),
              show_default=True)
def main(model_only, layers, prompt_tokens, warmup, timed, out):
    """2B4T decode: golden model on this CPU, accelerator configurations, published systems."""
    result = {"accelerator": accelerator_rows(), "context": CONTEXT,
              "environment": machine_environment(("torch", "numpy"))}
    if not model_only:
        run = measure_golden(layers, prompt_tokens, warmup, timed)
        result["golden"] = {"layers": layers, "run": run, "prompt_tokens": prompt_tokens, "warmup": warmup,
                            "timed": timed, "threads": run["threads"], **golden_estimate(run, layers)}
    print(table(result))
    write_result(out, "model_perf.json", result)


if __name__ == "__main__":
    main()
