"""The boards: PLL searches, stores, and what is refused."""

import pytest

from tritforge.flows.boards import BOARDS, BoardDesign, board_link, board_store, ecp5_pll, ice40_pll
from tritforge.hdl.weight_store import SPRAMWeightStore, WeightStore
from tritforge.spec.errors import ParameterError
from tritforge.spec.params import AcceleratorParams


def test_ice40_pll_48mhz_is_the_measured_one():
    pll = ice40_pll(12, 48)
    assert pll.output_mhz == 48
    assert pll.dividers == {"DIVR": 0, "DIVF": 63, "DIVQ": 4, "FILTER_RANGE": 1}


@pytest.mark.parametrize("mhz", [24, 30, 36, 42])
def test_ice40_pll_rules(mhz):
    d = ice40_pll(12, mhz).dividers
    pfd = 12 / (d["DIVR"] + 1)
    assert 10 <= pfd <= 133 and 533 <= pfd * (d["DIVF"] + 1) <= 1066
    assert pfd * (d["DIVF"] + 1) / 2 ** d["DIVQ"] == pytest.approx(mhz, rel=0.02)


@pytest.mark.parametrize("mhz", [25, 50, 62.5, 100])
def test_ecp5_pll_rules(mhz):
    pll = ecp5_pll(25, mhz)
    d = pll.dividers
    assert 25 / d["CLKI_DIV"] * d["CLKFB_DIV"] == pytest.approx(pll.output_mhz)
    assert 400 <= pll.output_mhz * d["CLKOP_DIV"] <= 800
    assert pll.output_mhz == pytest.approx(mhz, rel=0.02)


def test_pll_wrong():
    with pytest.raises(ParameterError, match=r"^the SB_PLL40_PAD cannot make 500 MHz from 12 MHz"):
        ice40_pll(12, 500)


def test_stores_and_links():
    params = AcceleratorParams(stream_width=32)
    ice = board_store(BOARDS["icebreaker"], params)
    assert isinstance(ice, SPRAMWeightStore) and ice.depth == 32768
    assert isinstance(board_store(BOARDS["ulx3s-85f"], params), WeightStore)
    assert board_link(BOARDS["icebreaker"], params, 30, 3_000_000).baud_divider == 10
    with pytest.raises(ParameterError, match=r"^width of an SPRAM weight store must be 16, 32 or 64"):
        board_store(BOARDS["icebreaker"], AcceleratorParams(stream_width=128))


def test_board_design_defaults_and_link():
    """The board top to generate: the board's clock (the PLL's output) and store, or portable."""
    small = AcceleratorParams(rows=2, cols=8, max_k=64)
    board = BoardDesign(small, board="icebreaker", clock_mhz=31)
    assert board.frequency_mhz == ice40_pll(12, 31).output_mhz
    assert board.link.baud_divider == round(board.frequency_mhz * 1e6 / 115_200)
    assert isinstance(board.store(), SPRAMWeightStore) and board.name.startswith("board_icebreaker_accelerator_")
    portable = BoardDesign(small, store_depth=100)
    assert (portable.clock_mhz, portable.pll, portable.link.store_depth) == (50.0, None, 100)
    assert isinstance(portable.store(), WeightStore) and portable.to_dict()["board"] == "portable"


@pytest.mark.parametrize("fields, message", [
    ({"params": "accelerator"}, "a board top holds an accelerator, not 'accelerator'"),
    ({"board": "arty"}, "board must be one of icebreaker, ulx3s-85f, not 'arty'"),
    ({"board": "icebreaker", "store_depth": 8}, "store_depth applies to the portable board top only"),
    ({"clock_mhz": 0.1}, "baud rate 115200 cannot be made from a 0.1 MHz clock"),
    ({"store_depth": 0}, "store_depth must be an integer >= 1, not 0"),
])
def test_board_design_refuses(fields, message):
    with pytest.raises(ParameterError, match=f"^{message}"):
        BoardDesign(**{"params": AcceleratorParams(rows=2, cols=8, max_k=64), **fields})
