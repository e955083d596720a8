# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Quickstart: one BitNet layer, from float weights to the RTL and back
#
# 1. take a BitLinear of a small BitNet b1.58 model trained on the CPU (`golden.tiny_model`, trained
#    once, then cached) and quantize it: absmean ternary weights, absmax int8 activations;
# 2. run the layer on the accelerator's RTL (Icarus Verilog, cocotb) and compare every output with
#    the golden model, bit for bit;
# 3. look at the waveform of one chunk going through the matrix unit (Amaranth's simulator).

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from tritforge.app.demo import run_layer_demo
from tritforge.app.notebooks import save_figure, settings
from tritforge.flows.activity import RTL_SCOPE, simulate_rtl
from tritforge.flows.vcdtrace import read_vcd
from tritforge.golden import quantize_activations, quantize_weights, ternary_matmul, tiny_model
from tritforge.hdl.units import build_unit
from tritforge.sim.perf_model import model_layer
from tritforge.spec.params import AcceleratorParams

config = settings("quickstart")
# A 4 x 16 unit (64 lanes) with buffers that hold the layer; a 64-bit host link.
PARAMS = AcceleratorParams(rows=4, cols=16, max_k=256, weight_depth=64, act_depth=64, max_tokens=32,
                           stream_width=64)
PROMPT = "Ternary weights " if config.small else "A ternary accelerator adds, it never multiplies. "
LAYER = 6  # model.layers.0.mlp.down_proj: K = 172, N = 64

# %% [markdown]
# ## 1. Quantize a layer
# The reference recipe: weights scaled by `1 / mean|W|`, rounded and clipped to {-1, 0, +1};
# activations per token scaled by `127 / max|x|` and rounded to int8.

# %%
model = tiny_model()
name, linear = model.bitlinears()[LAYER]
seen = []
handle = linear.register_forward_hook(lambda module, args, output: seen.append(args[0]))
with torch.no_grad():
    model(torch.tensor([list(PROMPT.encode())]))
handle.remove()
x = seen[0].reshape(-1, linear.in_features)
w_t, s_w = linear.quantized_weights()
x_q, s_x = quantize_activations(x)
y_int = ternary_matmul(x_q, w_t)  # the int32 product: the hardware's job
print(f"{name}: T = {x.shape[0]}, K = {linear.in_features}, N = {linear.out_features}")
share = {value: float((w_t == value).float().mean()) for value in (-1, 0, 1)}
print("weights -1 / 0 / +1:", {k: f"{v:.1%}" for k, v in share.items()})

figure, (left, right) = plt.subplots(1, 2, figsize=(8, 2.8))
left.bar(["-1", "0", "+1"], list(share.values()), color=["C0", "0.6", "C3"])
left.set_title("ternary weights")
right.hist(x_q.flatten().numpy(), bins=64, color="C2")
right.set_title("int8 activations")
figure.tight_layout()
save_figure(figure, config.figures / "quickstart_quantization.png")
plt.show()

# %% [markdown]
# ## 2. The same layer on the RTL
# The cocotb test `bitnet_layer` drives the accelerator with the host driver, runs the layer on the
# RTL and checks the integer product and the float output against the golden BitLinear. The
# matrix unit's compute cycles are the cycle model's.

# %%
rtl = run_layer_demo("icarus", PARAMS, layer=LAYER, prompt=PROMPT, build_dir=config.build / "rtl", quiet=True)
tokens, k, n = rtl["shape"]
model_timing = model_layer(PARAMS, tokens, k, n)
print(f"RTL == golden model: {rtl['match']}  ({rtl['layer']}, T={tokens}, K={k}, N={n})")
print(f"cycles {rtl['cycles']:,}, unit busy computing {rtl['utilisation']:.0%}; "
      f"compute cycles RTL {rtl['compute']:,} = cycle model {model_timing.compute:,}")
assert rtl["match"] and rtl["compute"] == model_timing.compute

# %% [markdown]
# ## 3. One chunk through the matrix unit
# The first 16 activations of the first token against the first 4 weight rows: the chunk enters
# when `i.valid` and `i.ready` are high, walks through the pipeline stages, and the row sums leave
# with `o.valid`. Each sum equals the golden dot product of that chunk.

# %%
cols, rows = PARAMS.cols, PARAMS.rows
chunk = {"act": x_q[0, :cols].tolist(), "weights": w_t[:rows, :cols].tolist(), "first": True, "last": True}
unit = build_unit(PARAMS.unit)
vcd = config.build / "chunk.vcd"
driver = simulate_rtl(unit, "ternary", [chunk], vcd)
expected = (x_q[0, :cols].to(torch.int64) @ w_t[:rows, :cols].to(torch.int64).T).tolist()
print("unit:", driver.results[0].acc, " golden:", expected)
assert driver.results[0].acc == expected

trace = read_vcd(vcd, scope=RTL_SCOPE)
stages = sorted(name for name in trace.samples if name.startswith("stage") and name.endswith("_valid"))
signals = ["i__valid", "i__ready", *stages, "o__valid"]
figure, axes = plt.subplots(figsize=(7, 0.45 * len(signals) + 0.8))
for row, signal in enumerate(reversed(signals)):
    values = np.array(trace.samples[signal])
    axes.step(np.arange(len(values) + 1), row + 0.8 * np.append(values, values[-1]), where="post")
axes.set_yticks(np.arange(len(signals)) + 0.4)
axes.set_yticklabels(list(reversed(signals)))
axes.set_xlabel("cycle")
axes.set_title(f"one chunk: result {driver.results[0].acc} in cycle {driver.results[0].cycle}")
axes.grid(True, axis="x", alpha=0.3)
save_figure(figure, config.figures / "quickstart_chunk_waveform.png")
plt.show()
