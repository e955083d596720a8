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
# # BitNet b1.58 2B4T on an accelerator
#
# What does the 2B4T model (30 layers, 2.08 G ternary weights) run at on a tritforge
# accelerator, what bounds it, and how does that compare with the published systems?
#
# Every BitLinear of the model is priced with the cycle model (`sim/perf_model.py`, exact against
# the RTL on random configurations); attention, softmax, norms, the embedding and `lm_head` run on
# the host (`app/performance.py` names and prices each). Energy comes from the operation-count
# model (`flows/energy.py`, 7 nm table). Nothing here runs a tool: the whole notebook takes seconds.

# %%
import dataclasses

import matplotlib.pyplot as plt
import pandas as pd

from tritforge.app.notebooks import save_figure, settings
from tritforge.app.performance import PUBLISHED, model_performance, model_spec
from tritforge.spec.params import AcceleratorParams

config = settings("bitnet_2b4t")
MODEL = model_spec("2b4t")
PROMPT = 16 if config.small else 128
# A 16 x 64 ternary unit (1,024 lanes) at 100 MHz with a 256-bit link: 3.2 GB/s each way.
BASE = AcceleratorParams(rows=16, cols=64, max_k=4096, weight_depth=256, act_depth=512, max_tokens=64,
                         stream_width=256)
CLOCK = 100.0
base = model_performance(BASE, MODEL, clock_mhz=CLOCK, prompt_tokens=PROMPT)
print(f"decode {base['decode']['tokens_per_s']:.2f} tokens/s, prefill {base['prefill']['tokens_per_s']:.1f} tokens/s, "
      f"weights {base['placement']}")

# %% [markdown]
# ## Where the time of one token goes
# Decode (`T = 1`) and prefill (per prompt token): compute (a chunk enters the unit), link (the unit
# waits for weights and activations, or for results to leave), overhead (start and drain of each
# run) and the host's share.

# %%
split = pd.DataFrame({phase: {part: seconds / base[phase]["tokens"] * 1e3
                              for part, seconds in base[phase]["seconds"].items()}
                      for phase in ("prefill", "decode")}).T
axes = split.plot.barh(stacked=True, figsize=(7, 2.6))
axes.set_xlabel("ms per token")
axes.set_title(f"2B4T on 16 x 64 lanes, 256-bit link, {CLOCK:g} MHz")
save_figure(axes.figure, config.figures / "2b4t_time_split.png")
split.round(2)

# %% [markdown]
# ## Roofline of one transformer layer
# For each BitLinear: the fewest cycles compute, the input link and the output link need, and the
# cycles the cycle model gives. Decoding one token streams every weight once, so the input link
# bounds every layer; a long prompt makes the unit the bound.

# %%
rows = [dict(phase=phase, **layer) for phase in ("prefill", "decode") for layer in base[phase]["layers"]]
layers = pd.DataFrame(rows)
layers["ops"] = 2 * layers["macs"]
layers["intensity"] = layers["ops"] / (layers["link_in_beats"] * BASE.bytes_per_beat)
layers["achieved_gops"] = layers["ops"] / (layers["cycles"] / (CLOCK * 1e6)) / 1e9
peak = 2 * BASE.lanes * CLOCK * 1e6 / 1e9
link_gbs = BASE.bytes_per_beat * CLOCK * 1e6 / 1e9
figure, axes = plt.subplots(figsize=(6.5, 4.2))
x = [0.5, peak / link_gbs, 2000]  # the knee: where the link feeds the unit exactly
axes.plot(x, [min(peak, link_gbs * v) for v in x], "k-", label=f"roof: {peak:.0f} GOPS, {link_gbs:.1f} GB/s in")
for phase, marker in (("decode", "o"), ("prefill", "s")):
    part = layers[layers["phase"] == phase]
    axes.scatter(part["intensity"], part["achieved_gops"], marker=marker, label=f"{phase} (T = {part['tokens'].iloc[0]})")
axes.set_xscale("log")
axes.set_yscale("log")
axes.set_xlabel("operations per input-link byte")
axes.set_ylabel("GOPS achieved (cycle model)")
axes.legend(fontsize=8)
axes.grid(True, which="both", alpha=0.3)
save_figure(figure, config.figures / "2b4t_roofline.png")
layers[["phase", "name", "tokens", "k", "n", "cycles", "compute", "link", "overhead", "bound"]]

# %% [markdown]
# ## Tokens/s against link bandwidth and array size
# Decode is link bound until the link is wide enough to feed the unit; beyond that only more lanes
# help. The dashed line is the physical limit of streaming: 1.58 bits per weight per token.

# %%
widths = [32, 64, 128, 256, 512, 1024] if not config.small else [32, 256, 1024]
arrays = [(8, 32), (16, 64), (32, 128)] if not config.small else [(8, 32), (32, 128)]
sweep = []
for rows_, cols in arrays:
    for width in widths:
        params = dataclasses.replace(BASE, rows=rows_, cols=cols, stream_width=width)
        result = model_performance(params, MODEL, clock_mhz=CLOCK, prompt_tokens=PROMPT, placement="streamed")
        sweep.append({"array": f"{rows_} x {cols}", "link_gb_s": result["limits"]["link_gb_per_s"],
                      "decode_tokens_s": result["decode"]["accelerator_tokens_per_s"],
                      "limit_tokens_s": result["limits"]["decode_tokens_per_s_at_1.58_bits"]})
sweep = pd.DataFrame(sweep)
figure, axes = plt.subplots(figsize=(6.5, 4.2))
for array, part in sweep.groupby("array", sort=False):
    axes.plot(part["link_gb_s"], part["decode_tokens_s"], "o-", label=f"{array} lanes")
limit = sweep.drop_duplicates("link_gb_s")
axes.plot(limit["link_gb_s"], limit["limit_tokens_s"], "k--", label="link limit, 1.58 bits/weight")
for entry in PUBLISHED[:2]:
    axes.axhline(entry["tokens_per_s"], color="0.5", linestyle=":", linewidth=1)
    axes.annotate(entry["system"], (limit["link_gb_s"].iloc[0], entry["tokens_per_s"]), fontsize=8,
                  xytext=(0, 3), textcoords="offset points")
axes.set_xscale("log")
axes.set_yscale("log")
axes.set_xlabel(f"link GB/s (at {CLOCK:g} MHz)")
axes.set_ylabel("decode tokens/s (accelerator only)")
axes.legend(fontsize=8)
axes.grid(True, which="both", alpha=0.3)
save_figure(figure, config.figures / "2b4t_tokens_vs_link.png")
sweep.pivot(index="link_gb_s", columns="array", values="decode_tokens_s").round(2)

# %% [markdown]
# ## Energy per decoded token
# Streaming 2B4T's weights from DRAM for every token costs far more than the arithmetic: the
# off-chip share is what resident weights (or batching several sequences per weight load) remove.

# %%
energy_rows = {phase: {k: v for k, v in base[phase]["energy_uj_per_token"].items() if k != "total"}
               for phase in ("prefill", "decode")}
frame = pd.DataFrame(energy_rows).T / 1e3
axes = frame.plot.barh(stacked=True, figsize=(7, 2.6))
axes.set_xlabel("mJ per token (BitLinears, 7 nm arithmetic, 45 nm memories)")
save_figure(axes.figure, config.figures / "2b4t_energy.png")
frame.round(3)

# %% [markdown]
# ## Next to the published systems
# Published figures as reported (not all for 2B4T: the model column says which); this machine's
# PyTorch run of the golden model is in `docs/performance.md`.

# %%
ours = {"system": "tritforge 16 x 64, 256-bit link", "model": "BitNet b1.58 2B4T", "platform": f"{CLOCK:g} MHz (model)",
        "tokens_per_s": base["decode"]["tokens_per_s"], "watts": None, "note": "cycle model + host model"}
pd.DataFrame([*PUBLISHED, ours])[["system", "model", "platform", "tokens_per_s", "watts"]]
