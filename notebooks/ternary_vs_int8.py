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
# # Ternary vs INT8: what the multiplier-free unit saves
#
# The same `rows x cols` matrix unit built twice - ternary (adder trees on 2-bit weight codes) and
# INT8 (a multiplier per lane) - through the same flows: Yosys synthesis for iCE40 (without DSPs,
# so both are counted in LUT4s) and ECP5, a CMOS transistor estimate, nextpnr place and route for
# Fmax, and both energy estimators. `app/compare.py` runs the flows (cached: a repeat is instant);
# this notebook only plots. `docs/comparison.md` has the full tables.

# %%
import matplotlib.pyplot as plt
import pandas as pd

from tritforge.app.compare import DEFAULT_STEPS, compare, comparison_rows
from tritforge.app.notebooks import save_figure, settings

config = settings("ternary_vs_int8")
if config.small:
    SHAPES, STEPS = [(2, 8)], ("synth_ice40_nodsp", "synth_ecp5", "energy")
else:
    SHAPES, STEPS = [(4, 16), (8, 32)], DEFAULT_STEPS
results = {f"{rows} x {cols}": compare(rows, cols, steps=STEPS, out_dir=config.build / "flows")
           for rows, cols in SHAPES}
failures = {shape: result["errors"] for shape, result in results.items() if any(result["errors"].values())}
print("failed steps:", failures or "none")

# %% [markdown]
# ## The figures side by side
# `ratio` is INT8 / ternary: how many times more the baseline needs.

# %%
table = pd.DataFrame([dict(shape=shape, **row) for shape, result in results.items()
                      for row in comparison_rows(result)])
table = table.dropna(subset=["ternary", "int"])
table.pivot(index="metric", columns="shape", values="ratio").round(2)

# %% [markdown]
# ## The ratio per metric
# Area and energy per MAC are several times lower for the ternary unit. On ECP5 the INT8 unit's
# multipliers go to `MULT18X18D` blocks, so its LUT4 count alone flatters it (the DSPs are in the
# table above); on iCE40 without DSPs both are LUT logic.

# %%
ratios = table.pivot(index="metric", columns="shape", values="ratio")
ratios = ratios.loc[[metric for metric in ratios.index if "per lane" in metric or "MHz" in metric
                     or "pJ/MAC" in metric]]
axes = ratios.plot.barh(figsize=(7, 0.45 * len(ratios) + 1.2))
axes.axvline(1.0, color="k", linewidth=0.8)
axes.set_xlabel("INT8 / ternary")
axes.set_title("the INT8 baseline against the ternary unit")
save_figure(axes.figure, config.figures / "ternary_vs_int8_ratios.png")
plt.show()

# %% [markdown]
# ## Area per lane as the array grows

# %%
lane_rows = table[table["metric"].isin(["iCE40 LUT4 per lane, no DSP", "ECP5 LUT4 per lane",
                                       "transistors per lane"])]
figure, axes_list = plt.subplots(1, lane_rows["metric"].nunique(), figsize=(9, 3), squeeze=False)
for axes, (metric, part) in zip(axes_list[0], lane_rows.groupby("metric")):
    part.plot.bar(x="shape", y=["ternary", "int"], ax=axes, rot=0, legend=axes is axes_list[0][0])
    axes.set_title(metric, fontsize=9)
figure.tight_layout()
save_figure(figure, config.figures / "ternary_vs_int8_area_per_lane.png")
plt.show()
