"""``tritforge infer``: text from a checkpoint folder with its tokenizer, the golden model's
speed, and the accelerator's cycles and energy for the same products; one-line errors.
``--rtl``: the same decoding with every BitLinear on the RTL simulation, equal to the golden
run, its cycles equal to the cycle model's; too large a model refused before anything runs."""

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from tritforge.app import infer
from tritforge.app.cli import cli
from tritforge.app.demo import DEMO_PARAMS
from tritforge.app.infer import accelerator_prediction, planned_products, run_inference
from tritforge.flows import energy
from tritforge.golden import generate_greedy, load_checkpoint
from tritforge.sim.perf_model import model_layer
from tritforge.sim.tb_accelerator import first_difference
from tritforge.spec.params import AcceleratorParams

from golden_fixtures import bitnet_folder, byte_tokenizer, paper_config, paper_folder, tiny_config

PROMPT = "Ternary weights "
#: A model the RTL runs in seconds on Icarus: one layer, hidden size 32, two heads.
SMALL = dict(num_hidden_layers=1, hidden_size=32, intermediate_size=64, num_attention_heads=2,
             num_key_value_heads=2)
#: The 4 x 16 unit on the demo's buffers: Icarus simulates it ~8 times faster than 8 x 32.
UNIT_4X16 = ["--rows", "4", "--cols", "16"]


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


def test_planned_products_are_the_recorded_ones(folder):
    """``--rtl`` prices the products before decoding: they must be those decoding records."""
    result = run_inference(folder, PROMPT, 4)
    assert planned_products(result["config"], result["prompt_tokens"], 4) == result["matmuls"]


def infer_run(folder, out, prompt, *options):
    result = CliRunner().invoke(cli, ["infer", "--checkpoint", str(folder), "--prompt", prompt, "-o", str(out),
                                      *options])
    report = json.loads((out / "infer.json").read_text()) if result.exit_code in (0, 1) else None
    return result, report


def check_rtl_run(result, report, golden, params, prompt):
    """An RTL run equal to the golden-only ``golden`` report, its counters the cycle model's."""
    assert result.exit_code == 0, result.output
    rtl = report["rtl"]
    assert rtl["logits_equal"] and rtl["first_difference"] is None
    assert rtl["text"] == golden["text"] and rtl["text_equal"]
    assert len(rtl["ids"]) == golden["golden"]["new_tokens"] == rtl["steps"]
    assert result.output.startswith(prompt + rtl["text"])
    assert f"yes, bit for bit ({rtl['steps']} steps)" in result.output
    config = load_checkpoint(report["checkpoint"]).config
    products = planned_products(config, golden["golden"]["prompt_tokens"], rtl["steps"])
    assert rtl["matmuls"] == rtl["products_exact"] == len(products)
    model = [model_layer(params, t, k, n).counters["cycles"] for _, t, k, n in products]
    per_step = len(config.linear_shapes())
    assert rtl["cycles"] == rtl["model_cycles"] == {"prompt": sum(model[:per_step]),
                                                    "decode": sum(model[per_step:]), "total": sum(model)}
    assert rtl["counters"] == rtl["model_counters"] and rtl["sim_cycles"] > rtl["cycles"]["total"]


@pytest.mark.rtl
def test_infer_rtl_equals_golden_on_icarus(tmp_path):
    """The default suite's RTL run: a one-layer model, a 3-token prompt, 3 new tokens, on Icarus."""
    folder, _ = bitnet_folder(tmp_path / "model", tiny_config(**SMALL))
    byte_tokenizer(folder)
    _, golden = infer_run(folder, tmp_path / "golden", "Ter", "--max-new-tokens", "3", *UNIT_4X16)
    result, report = infer_run(folder, tmp_path / "rtl", "Ter", "--max-new-tokens", "3", *UNIT_4X16,
                               "--rtl", "--simulator", "icarus")
    params = dataclasses.replace(DEMO_PARAMS, rows=4, cols=16)
    check_rtl_run(result, report, golden, params, "Ter")
    assert report["rtl"]["build_dir"] == str(tmp_path / "rtl" / f"rtl_{params.name}_icarus")


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize("family", ["2b4t", "1bitllm"])
def test_infer_rtl_equals_golden_on_verilator(tmp_path, family):
    """Two layers of the tiny preset's width, an 8-token prompt, 8 new tokens (the KV cache's
    one-token steps), on the demo's 8 x 32 accelerator and Verilator; both families."""
    if family == "2b4t":
        folder, _ = bitnet_folder(tmp_path / "model", tiny_config(num_hidden_layers=2))
    else:
        folder, _ = paper_folder(tmp_path / "model", paper_config(num_hidden_layers=2))
    byte_tokenizer(folder)
    _, golden = infer_run(folder, tmp_path / "golden", PROMPT[:8], "--max-new-tokens", "8")
    result, report = infer_run(folder, tmp_path / "rtl", PROMPT[:8], "--max-new-tokens", "8", "--rtl")
    check_rtl_run(result, report, golden, DEMO_PARAMS, PROMPT[:8])
    assert report["rtl"]["simulator"] == "verilator"


def test_infer_rtl_refuses_a_model_too_large(tmp_path):
    """A one-layer model of hidden size 1024: 6.6 M cycles for a 16-token prompt and 16 new
    tokens, 7 minutes of Verilator; refused before decoding, nothing built or written."""
    config = tiny_config(num_hidden_layers=1, hidden_size=1024, intermediate_size=2752, num_attention_heads=8,
                         num_key_value_heads=8)
    folder, _ = bitnet_folder(tmp_path / "model", config)
    byte_tokenizer(folder)
    result, _ = infer_run(folder, tmp_path / "out", PROMPT, "--max-new-tokens", "16", "--rtl")
    products = [(t, k, n) for t in [len(PROMPT)] + [1] * 15 for _, n, k in config.linear_shapes()]
    cycles = sum(model_layer(DEMO_PARAMS, *shape).counters["cycles"] for shape in products)
    assert cycles > 4_500_000
    assert result.exit_code == 2
    assert result.output == (
        f"error: --rtl: this model, prompt and max_new_tokens make 112 BitLinear products of {cycles:,} "
        f"accelerator cycles (cycle model), about {cycles / 15_000 / 60:.1f} min of verilator simulation at "
        f"~15,000 cycles/s, over the limit of 4,500,000 cycles (--max-rtl-cycles): use a smaller model, a "
        f"shorter prompt or fewer new tokens\n")
    assert not (tmp_path / "out").exists()


def test_infer_rtl_limit_option(folder, tmp_path):
    """``--max-rtl-cycles`` overrides the limit (here below what the tiny model needs)."""
    result, _ = infer_run(folder, tmp_path / "out", "Ter", "--max-new-tokens", "2", "--rtl", "--simulator",
                          "icarus", "--max-rtl-cycles", "1000")
    assert result.exit_code == 2 and len(result.output.splitlines()) == 1
    assert result.output.startswith("error: --rtl: this model, prompt and max_new_tokens make 14 BitLinear "
                                    "products of ")
    assert "of icarus simulation at ~56 cycles/s, over the limit of 1,000 cycles (--max-rtl-cycles)" in result.output
    assert not (tmp_path / "out").exists()


def test_infer_rtl_options_need_rtl(folder, tmp_path):
    result, _ = infer_run(folder, tmp_path / "out", "Ter", "--simulator", "icarus", "--max-rtl-cycles", "10")
    assert result.exit_code == 2
    assert result.output == "error: --simulator and --max-rtl-cycles apply to --rtl runs only; add --rtl\n"
    assert not (tmp_path / "out").exists()


def failed_simulation(summary):
    """A stand-in for ``run_accelerator`` whose cocotb test failed, as ``run_cocotb`` reports it,
    after writing ``summary`` (None: before writing any)."""
    def run(simulator, params, build_dir, test_module, *, config, **options):
        if summary is not None:
            Path(build_dir).mkdir(parents=True)
            Path(config["summary"]).write_text(json.dumps({"checkpoint_model": summary}))
        raise AssertionError(f"1 of 1 cocotb tests failed on {simulator}; log and results in {build_dir}")
    return run


def test_infer_rtl_reports_differing_logits(folder, tmp_path, monkeypatch):
    """RTL logits that differ: the first differing element printed and written, exit status 1."""
    golden = torch.zeros(1, 3, 256)
    got = golden.clone()
    got[0, 2, 7] = 0.5
    got[0, 2, 9] = 0.25
    difference = first_difference(got, golden)
    assert difference == "sequence 0, position 2, token id 7: RTL 0.5, golden 0.0 (2 of 768 logits differ)"
    monkeypatch.setattr(infer, "run_accelerator", failed_simulation(
        {"ids": [], "logits_equal": False, "first_difference": difference, "steps": 1, "matmuls": [],
         "counters": {}, "sim_cycles": 0, "sim_s": 0.0}))
    result, report = infer_run(folder, tmp_path / "out", "Ter", "--max-new-tokens", "2", "--rtl")
    assert result.exit_code == 1
    assert f"NO: {difference}" in " ".join(result.output.split())
    assert report["rtl"]["logits_equal"] is False and report["rtl"]["first_difference"] == difference


def test_infer_rtl_failed_simulation_is_one_line(folder, tmp_path, monkeypatch):
    monkeypatch.setattr(infer, "run_accelerator", failed_simulation(None))
    result, _ = infer_run(folder, tmp_path / "out", "Ter", "--max-new-tokens", "2", "--rtl")
    build = tmp_path / "out" / f"rtl_{DEMO_PARAMS.name}_verilator"
    assert result.exit_code == 2
    assert result.output == (f"error: RTL simulation failed: 1 of 1 cocotb tests failed on verilator; log and "
                             f"results in {build}; see {build / 'sim.log'}\n")
    assert not (tmp_path / "out" / "infer.json").exists()
