"""Whole-model performance (app/performance.py, ``tritforge perf``): every BitLinear counted with
the cycle model, the time split adds up, the link and compute limits hold, resident weights
only when they fit, the host's parts named; the command's outputs and one-line errors."""

import json
import math

import pytest
from click.testing import CliRunner

from tritforge.app.cli import cli
from tritforge.app.performance import (HostModel, host_work, layer_cost, link_width, model_performance,
                                       model_spec, weight_tiles)
from tritforge.golden import PRESETS, config_to_json
from tritforge.sim.perf_model import model_layer
from tritforge.spec.errors import ParameterError
from tritforge.spec.params import AcceleratorParams

PARAMS = AcceleratorParams(rows=8, cols=32, max_k=4096, weight_depth=64, act_depth=256, max_tokens=32,
                           stream_width=64)
#: Holds every tile of the tiny model: resident weights fit.
BIG = AcceleratorParams(rows=8, cols=32, max_k=4096, weight_depth=512, act_depth=256, max_tokens=32,
                        stream_width=64)


def test_every_bitlinear_is_counted_with_the_cycle_model():
    spec = model_spec("tiny")
    result = model_performance(PARAMS, spec, clock_mhz=50.0, prompt_tokens=5, placement="streamed")
    for phase, tokens in (("prefill", 5), ("decode", 1)):
        data = result[phase]
        expected = sum(model_layer(PARAMS, tokens, k, n).total for _, n, k in spec.shape.linear_shapes())
        assert data["cycles_cycles"] == expected
        assert data["macs"] == tokens * spec.weights
        assert data["compute_cycles"] + data["link_cycles"] + data["overhead_cycles"] == expected
        assert data["exact"]
        total = data["energy_uj_per_token"]
        assert total["total"] == pytest.approx(sum(v for c, v in total.items() if c != "total"))
        assert data["tokens_per_s"] == pytest.approx(tokens / data["total_s"])
        assert sum(data["seconds"].values()) == pytest.approx(data["total_s"])
        assert data["accelerator_tokens_per_s"] == pytest.approx(tokens * 50e6 / expected)


@pytest.mark.parametrize("params", [PARAMS, AcceleratorParams(rows=4, cols=16, stream_width=32,
                                                              weight_format="base3")])
def test_streamed_decode_respects_the_link_and_compute_limits(params):
    result = model_performance(params, model_spec("2b4t"), placement="streamed", prompt_tokens=4)
    decode, limits = result["decode"]["accelerator_tokens_per_s"], result["limits"]
    # Every weight crosses the link at its stored bits: no faster than the link allows.
    assert decode <= limits["decode_tokens_per_s_at_format_bits"]
    assert limits["decode_tokens_per_s_at_format_bits"] <= limits["decode_tokens_per_s_at_1.58_bits"]
    assert decode <= limits["compute_tokens_per_s"]
    assert limits["decode_tokens_per_s_at_1.58_bits"] == pytest.approx(
        params.stream_width * 100e6 / (2_084_044_800 * math.log2(3)))


def test_resident_weights_only_where_they_fit():
    spec = model_spec("tiny")
    assert weight_tiles(PARAMS, spec.shape.linear_shapes()) > 2 * PARAMS.weight_depth
    with pytest.raises(ParameterError, match=r"^the weights of tiny need 368 tiles \(0.0236 MB\), the weight memory holds 128 "
                       r"\(2 x weight_depth\): raise weight_depth to 184 or stream the weights$"):
        model_performance(PARAMS, spec, placement="resident")
    assert model_performance(PARAMS, spec)["placement"] == "streamed"
    streamed = model_performance(BIG, spec, placement="streamed", prompt_tokens=4)
    resident = model_performance(BIG, spec, prompt_tokens=4)
    assert resident["placement"] == "resident"
    for phase in ("prefill", "decode"):
        assert resident[phase]["cycles_cycles"] < streamed[phase]["cycles_cycles"]
        assert resident[phase]["compute_cycles"] == streamed[phase]["compute_cycles"]
        assert not resident[phase]["exact"]
        # No weights over the link: the off-chip energy is the activations' and results' only.
        saved = streamed[phase]["energy_uj_per_token"]["offchip"] - resident[phase]["energy_uj_per_token"]["offchip"]
        bits = weight_tiles(BIG, spec.shape.linear_shapes()) * BIG.tile_bits  # each tile loaded once
        assert saved == pytest.approx(bits / 64 * (1300 + 2600) / 2 / 1e6 / resident[phase]["tokens"])
    assert resident["limits"]["decode_tokens_per_s_at_1.58_bits"] is None


@pytest.mark.parametrize("tokens,k,n", [(1, 2560, 6912), (1, 6912, 2560), (64, 2560, 640), (16, 100, 70)])
def test_roofline_floor_never_beaten(tokens, k, n):
    for resident in (False, True):
        cost = layer_cost(PARAMS, tokens, k, n, resident)
        assert cost["floor_cycles"] <= cost["cycles"]
        assert cost["compute"] == tokens * PARAMS.chunks(k) * PARAMS.row_blocks(n)
    # One token against a 2560 x 6912 weight matrix: the weights on the link bound it.
    assert layer_cost(PARAMS, 1, 2560, 6912, False)["bound"] == "link in"
    assert layer_cost(PARAMS, 1, 2560, 6912, True)["bound"] == "compute"


def test_offchip_bits_follow_the_runs():
    """Weights reload for every group of tokens a run holds (max_tokens 32 here)."""
    one = layer_cost(PARAMS, 32, 256, 64, False)
    two = layer_cost(PARAMS, 64, 256, 64, False)
    weights = 256 * 64 * 2
    acts, results = 32 * 256 * 8, 32 * 64 * 32
    assert one["offchip_bits"] == weights + acts + results
    assert two["offchip_bits"] == 2 * (weights + acts + results)
    assert layer_cost(PARAMS, 64, 256, 64, True)["offchip_bits"] == 2 * (acts + results)


def test_host_work_is_named_and_priced():
    spec = model_spec("2b4t")
    parts = host_work(spec, 1, 127, HostModel(gflops=100.0, gbps=10.0))
    assert set(parts) >= {"embedding lookup", "attention scores (QK^T)", "softmax", "attention sum (AV)",
                          "final norm and lm_head", "activation quantization", "RMS norms (4 per layer)"}
    lm_head = parts["final norm and lm_head"]
    assert lm_head["flops"] == 4 * 2560 + 2 * 128256 * 2560
    assert lm_head["seconds"] == pytest.approx(128256 * 2560 * 4 / 10e9)
    # One token attends to its 127 predecessors and itself, in each of 30 layers.
    assert parts["attention scores (QK^T)"]["flops"] == 30 * 2 * 2560 * 128
    longer = host_work(spec, 1, 1023)
    assert longer["softmax"]["flops"] == 8 * parts["softmax"]["flops"]
    with pytest.raises(ParameterError, match=r"^host gbps must be a positive number, not 0$"):
        HostModel(gbps=0)


def test_link_width_rounds_down():
    assert link_width(100.0, 0.8) == 64
    assert link_width(100.0, 1.0) == 64
    assert link_width(250.0, 4.0) == 128
    with pytest.raises(ParameterError, match=r"^a 0.1 GB/s link at 100 MHz carries 8.0 bits per cycle"):
        link_width(100.0, 0.1)


def test_model_spec_of_presets_and_config_files(tmp_path):
    assert model_spec("2b4t").vocab_size == 128256
    (tmp_path / "config.json").write_text(json.dumps(config_to_json(PRESETS["2b4t"])))
    spec = model_spec(str(tmp_path))
    assert spec.shape == PRESETS["2b4t"].shape and spec.vocab_size == 128256
    with pytest.raises(ParameterError, match=r"^model must be a preset \(2b4t, .*\) or a config.json"):
        model_spec(str(tmp_path / "missing"))


def test_perf_command(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["perf", "tiny", "--rows", "4", "--cols", "16", "--link-gbps", "0.8",
                                      "--clock-mhz", "50", "--prompt-tokens", "8", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "decode (T = 1, context 8)" in result.output
    assert "roofline of one transformer layer" in result.output and "link in" in result.output
    folder = out / "tiny_" f"{AcceleratorParams(rows=4, cols=16, max_k=4096, weight_depth=64, act_depth=256, max_tokens=32, stream_width=128).name}"
    report = json.loads((folder / "perf.json").read_text())
    assert report["params"]["stream_width"] == 128
    assert report["prefill"]["tokens"] == 8
    lines = (folder / "layers.csv").read_text().splitlines()
    assert lines[0].startswith("phase,layer,T,K,N,cycles")
    assert len(lines) == 1 + 2 * 7


@pytest.mark.parametrize("arguments,message", [
    (["nonsense"], "error: model must be a preset"),
    (["tiny", "--link-gbps", "1", "--stream-width", "64"], "error: give --link-gbps or --stream-width, not both"),
    (["tiny", "--weights", "resident"], "error: the weights of tiny need"),
    (["tiny", "--max-tokens", "999"], "error: max_tokens must be at most act_depth"),
])
def test_perf_command_errors(arguments, message, tmp_path):
    result = CliRunner().invoke(cli, ["perf", *arguments, "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.startswith(message), result.output
    assert not list(tmp_path.iterdir())
