"""The cycle model (sim/perf_model.py) against the RTL's own counters, cycle for cycle.

The testbench runs whole layers through the driver with a full command stream and no
backpressure (the model's assumptions) and reads the status counters; the model must give
exactly the same cycles, busy, compute and stall counts, on the test geometries and on
configurations drawn at random (every unit shape, pipeline depth, weight format, stream
width and bank size the parameters allow). With idle cycles on the command stream and
backpressure on the responses the model is a lower bound, and says so.
"""

import random

import pytest

from tritforge.sim.perf_model import model_layer
from tritforge.spec.formats import WEIGHT_FORMATS
from tritforge.spec.params import AcceleratorParams

from rtl_runs import GEOMETRIES, run_accelerator_tb

#: Shapes: one tile; a layer in one run; several runs over N; K split (partial sums);
#: tokens split; few chunks per block with many tokens (the output link limits).
SHAPES = [[1, 16, 4], [8, 40, 24], [3, 100, 70], [2, 300, 9], [12, 20, 8], [8, 16, 60]]
SLOW_SHAPES = SHAPES + [[16, 512, 64], [1, 512, 128], [5, 33, 200], [16, 64, 120]]

#: The shapes ``tritforge perf`` prices for BitNet b1.58 2B4T - k_proj, q_proj and down_proj of a
#: decoded token, gate_proj of a 4-token prompt - on the demo's 8 x 32 unit with a 64-bit link,
#: which splits each into tens to hundreds of runs (slow: about 1.4 M cycles on Verilator).
BITNET_PARAMS = AcceleratorParams(rows=8, cols=32, max_k=4096, weight_depth=64, act_depth=256, max_tokens=32,
                                  stream_width=64)
BITNET_SHAPES = [[1, 2560, 640], [1, 2560, 2560], [1, 6912, 2560], [4, 2560, 6912]]

#: Random configurations: a few in the default suite, many more in the full run.
RANDOM_CONFIGURATIONS, RANDOM_CONFIGURATIONS_FULL = 3, 24


def random_configuration(rng):
    """Accelerator parameters drawn from the whole valid space (kept small enough that a
    build and a few layers take seconds on Icarus)."""
    act_depth = rng.randint(1, 24)
    return AcceleratorParams(
        rows=rng.randint(1, 6), cols=rng.randint(1, 20), act_bits=rng.randint(2, 8),
        max_k=rng.randint(1, 120), pipeline=rng.randint(0, 3),
        weight_format=rng.choice(sorted(WEIGHT_FORMATS)), weight_depth=rng.randint(1, 16),
        act_depth=act_depth, max_tokens=rng.randint(1, act_depth),
        stream_width=32 * rng.choice([1, 2, 3, 4, 8]), counter_bits=rng.choice([24, 32, 48, 64]),
        **_random_unit(rng))


def _random_unit(rng):
    """The matrix unit, drawn after the rest (the configurations drawn before the lookup
    unit existed stay the same but for it)."""
    if rng.random() < 0.5:
        return {}
    return {"unit_kind": "lookup", "group": rng.randint(1, 5)}


def random_shapes(rng, params, count):
    """``count`` layer shapes up to twice what one run of ``params`` holds."""
    return [[rng.randint(1, 2 * params.max_tokens), rng.randint(1, 2 * params.max_k),
             rng.randint(1, 2 * params.rows * params.weight_depth)] for _ in range(count)]


def check_model(params, measured):
    assert len(measured) > 0
    for layer in measured:
        model = model_layer(params, *layer["shape"])
        assert model.exact
        assert model.counters == layer["counters"], (params, layer["shape"])


@pytest.mark.rtl
@pytest.mark.parametrize("geometry", ["2bit", "lookup_base3"])
def test_model_matches_rtl(geometry, waves):
    params = GEOMETRIES[geometry]
    # The lookup unit differs in its latency only: three shapes (several runs, K split) do.
    shapes = SHAPES if geometry == "2bit" else SHAPES[:3]
    summary = run_accelerator_tb("icarus", f"perf_model_{geometry}", params, waves,
                                 testcase="perf_layers", perf_shapes=shapes)
    check_model(params, summary["perf_layers"]["layers"])


def run_random_configuration(index, waves):
    rng = random.Random(f"perf-model-{index}")
    params = random_configuration(rng)
    summary = run_accelerator_tb("icarus", f"perf_random{index}", params, waves,
                                 testcase="perf_layers", perf_shapes=random_shapes(rng, params, 4),
                                 seed=index)
    check_model(params, summary["perf_layers"]["layers"])


@pytest.mark.rtl
@pytest.mark.parametrize("index", range(RANDOM_CONFIGURATIONS))
def test_model_matches_rtl_random_configuration(index, waves):
    run_random_configuration(index, waves)


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize("index", range(RANDOM_CONFIGURATIONS, RANDOM_CONFIGURATIONS_FULL))
def test_model_matches_rtl_random_configuration_full(index, waves):
    run_random_configuration(index, waves)


@pytest.mark.rtl
def test_model_is_lower_bound_under_stalls(waves):
    """Idle cycles on the command stream and backpressure on the responses only add cycles:
    the model, told about them, reports itself as a lower bound, and it is one."""
    params = GEOMETRIES["2bit"]
    summary = run_accelerator_tb("icarus", "perf_model_stalls", params, waves,
                                 testcase="perf_layers", perf_shapes=SHAPES[:4],
                                 idle=[0.3], backpressure=[0.5])
    for layer in summary["perf_layers"]["layers"]:
        model = model_layer(params, *layer["shape"], link_stalls=True)
        measured = layer["counters"]
        assert not model.exact
        assert {name: measured[name] for name in ("compute", "macs")} == \
            {name: model.counters[name] for name in ("compute", "macs")}
        for name in ("cycles", "busy", "stall_out"):
            assert measured[name] >= model.counters[name], (name, layer["shape"])
        assert measured["cycles"] > model.counters["cycles"]


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize("geometry", ["base3", "wide"])
def test_model_matches_rtl_full(geometry, waves):
    params = GEOMETRIES[geometry]
    summary = run_accelerator_tb("verilator", f"perf_model_{geometry}", params, waves,
                                 testcase="perf_layers", perf_shapes=SLOW_SHAPES)
    check_model(params, summary["perf_layers"]["layers"])


@pytest.mark.rtl
@pytest.mark.slow
def test_model_matches_rtl_bitnet_shapes(waves):
    summary = run_accelerator_tb("verilator", "perf_model_2b4t", BITNET_PARAMS, waves,
                                 testcase="perf_layers", perf_shapes=BITNET_SHAPES)
    check_model(BITNET_PARAMS, summary["perf_layers"]["layers"])
