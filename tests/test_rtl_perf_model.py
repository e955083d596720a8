"""The cycle model (sim/perf_model.py) against the RTL's own counters, cycle for cycle.

The testbench runs whole layers through the driver with a full command stream and no
backpressure (the model's assumptions) and reads the status counters; the model must give
exactly the same cycles, busy, compute and stall counts.
"""

import pytest

from tritforge.sim.perf_model import model_layer

from rtl_runs import GEOMETRIES, run_accelerator_tb

#: Shapes: one tile; a layer in one run; several runs over N; K split (partial sums);
#: tokens split; few chunks per block with many tokens (the output link limits).
SHAPES = [[1, 16, 4], [8, 40, 24], [3, 100, 70], [2, 300, 9], [12, 20, 8], [8, 16, 60]]
SLOW_SHAPES = SHAPES + [[16, 512, 64], [1, 512, 128], [5, 33, 200], [16, 64, 120]]


def check_model(params, measured):
    assert len(measured) > 0
    for layer in measured:
        model = model_layer(params, *layer["shape"])
        assert model.counters == layer["counters"], layer["shape"]


@pytest.mark.rtl
def test_model_matches_rtl(waves):
    params = GEOMETRIES["2bit"]
    summary = run_accelerator_tb("icarus", "perf_model", params, waves,
                                 testcase="perf_layers", perf_shapes=SHAPES)
    check_model(params, summary["perf_layers"]["layers"])


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize("geometry", ["base3", "wide"])
def test_model_matches_rtl_full(geometry, waves):
    params = GEOMETRIES[geometry]
    summary = run_accelerator_tb("verilator", f"perf_model_{geometry}", params, waves,
                                 testcase="perf_layers", perf_shapes=SLOW_SHAPES)
    check_model(params, summary["perf_layers"]["layers"])
