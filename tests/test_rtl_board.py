"""The board top on Verilator through its UART pins (cocotb testbench ``tb_board``): a
BitLinear of the trained tiny model with its weights resident, the link's faults, and
(slow) the whole model decoding a prompt with every weight resident."""

import json
from pathlib import Path

import pytest

from tritforge.sim.build import run_board_top
from tritforge.sim.link_model import model_token_time, product_link
from tritforge.spec.formats import MODEL_SHAPES
from tritforge.spec.link import LinkParams
from tritforge.spec.params import AcceleratorParams

BUILD = Path(__file__).resolve().parents[1] / "build" / "rtl"
PROMPT = "A ternary accelerator "
#: The default accelerator behind a fast UART (4 cycles per bit).
PARAMS = AcceleratorParams()
LINK = LinkParams(baud_divider=4, timeout_bytes=16)


def run(name, waves, testcase, **config):
    build = BUILD / name
    summary = build / "summary.json"
    summary.unlink(missing_ok=True)
    run_board_top("verilator", PARAMS, LINK, build, waves=waves, testcase=testcase,
                  config={"summary": str(summary), "model": "tiny", "prompt": PROMPT, **config})
    return json.loads(summary.read_text())


@pytest.mark.rtl
def test_resident_layer_and_link_faults(waves):
    """The down projection (K = 172, N = 64: several parts), one token: exact; then a flipped
    bit, a truncated frame (each refused and sent again) and a reset mid-product (noticed,
    recovered from the store)."""
    summary = run("board_layer", waves, ["resident_layer", "link_faults"], layer=6, reset_cycles=3000)
    layer = summary["resident_layer"]
    assert layer["name"] == "model.layers.0.mlp.down_proj" and layer["shape"] == [1, 172, 64]
    assert layer["macs"] == 172 * 64
    # Per token only activations, store records and results cross the link: far fewer
    # bytes than the layer's weights (loaded once).
    assert layer["product"]["bytes_out"] < layer["load"]["bytes_out"] / 5
    # The link model: the same traffic, and the board's cycles within its bounds.
    model = product_link(PARAMS, LINK, 1, 172, 64)
    product = layer["product"]
    status_frame = 1        # the product's figures include a READ_STATUS (check) frame
    assert model.frames == product["frames"] - status_frame
    clock, baud = 1.0, 1 / LINK.baud_divider
    assert model.lower_s(clock, baud) <= layer["cycles"] <= model.upper_s(clock, baud)
    faults = summary["link_faults"]["faults"]
    assert faults["flipped_bit"]["nak_crc"] == 1 and faults["truncated"]["nak_truncated"] == 1
    assert summary["link_faults"]["recoveries"] == 1


@pytest.mark.rtl
@pytest.mark.slow
def test_resident_model(waves):
    """Every BitLinear of the trained tiny model resident on the board top: the prompt and
    four decoded tokens, logits equal to the golden model's at every step."""
    summary = run("board_model", waves, "resident_model", new_tokens=4)
    model = summary["resident_model"]
    assert [step["products"] for step in model["steps"]] == [14] * 5
    assert model["store_words"] <= LINK.store_depth
    # Each step's cycles within the link model's bounds (cycles: a 1 Hz clock, 1/divider baud).
    shapes = MODEL_SHAPES["tiny"].linear_shapes()
    for step in model["steps"]:
        lower, upper = model_token_time(PARAMS, LINK, shapes, 1.0, 1 / LINK.baud_divider, tokens=step["tokens"])
        assert lower <= step["cycles"] <= upper
