"""The RTL demo: one BitLinear of the trained tiny BitNet model through the accelerator.

:func:`run_layer_demo` builds the accelerator, runs the cocotb test ``bitnet_layer`` of
:mod:`tritforge.sim.tb_accelerator` on it (the layer's integer product on the RTL, the
float scaling in the golden code) and returns what ``tritforge demo`` prints.
"""

import dataclasses
import json
import time
from pathlib import Path

from tritforge.hdl.protocol import AcceleratorParams, check_params

from .build import run_accelerator

__all__ = ["DEMO_PARAMS", "DEMO_PROMPT", "run_layer_demo"]

#: An 8 x 32 unit with buffers that hold every layer of the tiny model in one run.
DEMO_PARAMS = AcceleratorParams(rows=8, cols=32, max_k=4096, weight_depth=64, act_depth=256,
                                max_tokens=32, stream_width=64)
DEMO_PROMPT = "A ternary accelerator "
_TB_MODULE = "tritforge.sim.tb_accelerator"


def run_layer_demo(simulator="verilator", params=DEMO_PARAMS, layer=6, prompt=DEMO_PROMPT,
                   build_dir="build/demo", waves=False, quiet=False):
    """Run BitLinear number ``layer`` of the trained tiny model on the RTL; return a dict.

    Keys: ``layer`` (projection name), ``shape`` ``[T, K, N]``, ``match`` (the layer's
    output equals the golden BitLinear's, bit for bit), ``cycles`` (from ``CLEAR`` to the
    status read after the results), ``compute`` (cycles the matrix unit took a chunk),
    ``utilisation`` (``compute / cycles``), ``mac_utilisation`` (real MACs over
    ``cycles * rows * cols``), ``runs``, ``simulator``, ``params``, ``wall_s``.

    ``quiet`` sends the simulator's output to log files in the build folder. Raises
    ``AssertionError`` when the RTL's result differs from the golden model's, and
    ``SimulatorNotFound`` when ``simulator`` is not installed.
    """
    check_params(params)
    build_dir = Path(build_dir) / simulator
    summary_path = build_dir / "summary.json"
    summary_path.unlink(missing_ok=True)
    start = time.perf_counter()
    run_accelerator(simulator, params, build_dir, _TB_MODULE, testcase="bitnet_layer", waves=waves,
                    quiet=quiet, config={"params": dataclasses.asdict(params), "summary": str(summary_path.resolve()),
                            "bitnet_layer": {"model": "tiny", "prompt": prompt, "layer": layer}})
    result = json.loads(summary_path.read_text())["bitnet_layer"]
    return {"layer": result.pop("name"), **result, "simulator": simulator,
            "params": dataclasses.asdict(params), "wall_s": round(time.perf_counter() - start, 1)}
