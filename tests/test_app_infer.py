"""``tritforge infer``: text from a checkpoint folder with its tokenizer, the golden model's
speed, and the accelerator's cycles and energy for the same products; one-line errors."""

import json

import pytest
import torch
from click.testing import CliRunner

from tritforge.app.cli import cli
from tritforge.app.infer import accelerator_prediction, run_inference
from tritforge.flows import energy
from tritforge.golden import generate_greedy, load_checkpoint
from tritforge.sim.perf_model import model_layer
from tritforge.spec.params import AcceleratorParams

from golden_fixtures import bitnet_folder, byte_tokenizer, paper_config, paper_folder, tiny_config

PROMPT = "Ternary weights "


@pytest.fixture
def folder(tmp_path):
    folder, _ = bitnet_folder(tmp_path / "model", tiny_config(num_hidden_layers=1))
    byte_tokenizer(folder)
    return folder


def test_infer_prints_text_speed_and_prediction(folder, tmp_path):
    result = CliRunner().invoke(cli, ["infer", "--checkpoint", str(folder), "--prompt", PROMPT,
                                      "--max-new-tokens", "5", "--rows", "8", "--cols", "32",
                                      "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "infer.json").read_text())
    tokenizer = byte_tokenizer(tmp_path)
    ids = torch.tensor([tokenizer.encode(PROMPT).ids])
    expected = generate_greedy(load_checkpoint(folder), ids, 5)[0, ids.shape[1]:].tolist()
    assert report["text"] == tokenizer.decode(expected)
    assert result.output.startswith(PROMPT + report["text"])
    assert "tokens/s" in result.output and "cycles per token" in result.output
    assert report["golden"]["new_tokens"] == 5 and report["golden"]["tokens_per_s"] > 0
    assert report["accelerator"]["params"]["rows"] == 8


def test_prediction_prices_the_recorded_products(folder):
    result = run_inference(folder, PROMPT, 3)
    config = result["config"]
    shapes = config.linear_shapes()
    prompt = len(PROMPT.encode())
    assert result["matmuls"] == [(name, t, k, n) for t in (prompt, 1, 1) for name, n, k in shapes]
    params = AcceleratorParams(rows=4, cols=16, max_k=256, weight_depth=64, act_depth=64, max_tokens=16)
    prediction = accelerator_prediction(params, result["matmuls"], prompt, "horowitz_45nm", 50.0)
    per_token = sum(model_layer(params, 1, k, n).total for _, n, k in shapes)
    assert prediction["cycles_per_token"] == per_token
    assert prediction["cycles_prompt"] == sum(model_layer(params, prompt, k, n).total for _, n, k in shapes)
    assert prediction["tokens_per_s"] == pytest.approx(50e6 / per_token)
    expected = energy.workload_energy(energy.hardware_model(params), shapes, energy.load_table("horowitz_45nm"))
    assert prediction["energy_uj_per_token"]["total"] == pytest.approx(expected["pj_per_token"]["total"] / 1e6)


def test_infer_runs_a_1bitllm_checkpoint(tmp_path):
    folder, _ = paper_folder(tmp_path, paper_config(num_hidden_layers=1))
    byte_tokenizer(folder)
    result = run_inference(folder, PROMPT, 2)
    assert result["new_tokens"] == 2 and result["config"].family == "1bitllm"


@pytest.mark.parametrize("break_it, message", [
    (lambda f: (f / "tokenizer.json").unlink(), "error: {f}/tokenizer.json is missing: tritforge infer needs the "
                                                "checkpoint's tokenizer"),
    (lambda f: (f / "config.json").write_text('{"model_type": "gpt2"}'),
     'error: {f}/config.json: model_type "gpt2" with architectures [] is not supported; supported: model_type '
     '"bitnet" (the BitNet b1.58 2B4T layout) or architectures ["BitnetForCausalLM"] (the 1bitLLM '
     'bitnet_b1_58 models)'),
    (lambda f: (f / "model.safetensors").write_bytes(b"garbage"),
     "error: {f}/model.safetensors is not a readable safetensors file: "),
])
def test_infer_errors_are_one_line(folder, tmp_path, break_it, message):
    break_it(folder)
    result = CliRunner().invoke(cli, ["infer", "--checkpoint", str(folder), "--prompt", PROMPT,
                                      "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert len(result.output.splitlines()) == 1 and result.output.startswith(message.format(f=folder))
    assert not (tmp_path / "out").exists()


def test_infer_missing_folder_and_bad_design(tmp_path, folder):
    result = CliRunner().invoke(cli, ["infer", "--checkpoint", str(tmp_path / "none"), "--prompt", "x"])
    assert result.exit_code == 2
    assert result.output == f"error: {tmp_path / 'none'} does not exist (expected a model folder or a " \
                            f".safetensors file)\n"
    result = CliRunner().invoke(cli, ["infer", "--checkpoint", str(folder), "--prompt", "x", "--rows", "0"])
    assert result.exit_code == 2 and result.output == "error: rows must be an integer >= 1, not 0\n"


def test_infer_prompt_too_long(folder):
    result = CliRunner().invoke(cli, ["infer", "--checkpoint", str(folder), "--prompt", "x" * 250,
                                      "--max-new-tokens", "10"])
    assert result.exit_code == 2
    assert result.output == ("error: prompt (250 tokens) plus max_new_tokens (10) must fit "
                             "max_position_embeddings (256)\n")
