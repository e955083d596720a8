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
# # The design space: a sweep and its Pareto fronts
#
# `tritforge explore SPACE.toml` measures every point of a design space - synthesis (LUT4, FF,
# BRAM, DSP), place and route (Fmax), the cycle model on a workload (cycles, tokens/s) and the
# energy model (energy per token) - and keeps the points no other point beats. Here the same sweep
# runs from Python: `run_sweep` on local processes (`scheduler="tcp://host:8786"` sends it to a
# Dask cluster instead), `results_table` and `plot_fronts` for the fronts.

# %%
from tritforge.app.explore import load_space, plot_fronts, results_table, run_sweep
from tritforge.app.notebooks import settings

config = settings("design_space")
if config.small:
    SPACE = """
[design]
max_k = 64
[sweep]
kind = ["ternary", "int"]
rows = [1, 2]
cols = [4, 8]
clock_mhz = [50.0]
workload = ["64x256xT1"]
[measure]
fmax = false
"""
else:
    SPACE = """
# The accelerator on an iCE40 UP5K: the unit's shape and the link, priced on the tiny BitNet model.
[design]
kind = "accelerator"
max_k = 512
weight_depth = 64
act_depth = 64
max_tokens = 16
[sweep]
rows = [2, 4, 8]
cols = [8, 16, 32]
stream_width = [32, 64]
clock_mhz = [24.0]
target = ["ice40"]
workload = ["tiny"]
[measure]
fmax = true
"""
space_file = config.build / "space.toml"
space_file.write_text(SPACE)
space = load_space(space_file)
print(f"{sum(1 for _ in space.points())} points")

# %%
records = run_sweep(space, config.build / "sweep", jobs=2)
frame = results_table(records)
columns = ["design", "lut4", "ff", "bram", "dsp", "fmax_mhz", "cycles", "tokens_per_s", "energy_uj_per_token",
           "status", "reason"]
frame[columns]

# %% [markdown]
# A failing point (a design that does not fit the device, timing not met) is a row with its reason,
# not the end of the sweep. Running the sweep again reads every finished point back:

# %%
import time

start = time.perf_counter()
again = run_sweep(space, config.build / "sweep")
print(f"second run: {time.perf_counter() - start:.3f} s for {len(again)} points")

# %% [markdown]
# ## Pareto fronts
# Tokens/s against LUT4 (more speed for the area), and energy per token against area.

# %%
paths = plot_fronts(frame, config.figures)
front = frame[frame["pareto_tokens_per_s_vs_lut4"]].sort_values("lut4")
front[["design", "lut4", "tokens_per_s", "energy_uj_per_token", "fmax_mhz"]]

# %%
from IPython.display import Image, display

for path in paths:
    display(Image(filename=str(path)))
