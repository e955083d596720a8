"""The link model against the simulated board top: the traffic it counts is the real link's,
byte for byte, and the board's cycles fall between its bounds."""

import numpy as np
import pytest

from tritforge.sim.board import BoardDriver
from tritforge.sim.board_sim import run_board
from tritforge.sim.link import FramedLink, LinkTransport
from tritforge.sim.link_model import model_token_time, product_link
from tritforge.spec.formats import MODEL_SHAPES
from tritforge.spec.link import LinkParams
from tritforge.spec.params import AcceleratorParams

PARAMS = AcceleratorParams(rows=2, cols=4, max_k=16, weight_depth=8, act_depth=8, max_tokens=2,
                           stream_width=32, counter_bits=16)
LINK = LinkParams(baud_divider=4, max_payload=64, data_beats=4, store_depth=64, timeout_bytes=4)


@pytest.mark.parametrize("shape", [(1, 11, 5), (3, 7, 9)])
def test_counts_and_bounds_match_the_board_top(shape):
    tokens, k, n = shape
    rng = np.random.default_rng(k)
    x, w = rng.integers(-128, 128, (tokens, k)), rng.integers(-1, 2, (n, k))

    async def host(channel, ctx):
        link = FramedLink(PARAMS, LINK, channel, timeout_bytes=200)
        driver = BoardDriver(PARAMS, LinkTransport(link))
        await driver.load_weights("w", w)
        link.stats.clear()
        start = channel.cycle
        y = await driver.matmul(x, w)
        return y, channel.cycle - start, dict(link.stats)
    y, cycles, stats = run_board(PARAMS, LINK, host)
    np.testing.assert_array_equal(y, x @ w.T)
    model = product_link(PARAMS, LINK, tokens, k, n)
    assert (model.frames, model.bytes_out, model.bytes_in) == (stats["frames"], stats["bytes_out"],
                                                               stats["bytes_in"])
    # Time in cycles: a 1 Hz clock and a baud rate of one bit per `divider` cycles.
    clock, baud = 1.0, 1 / LINK.baud_divider
    assert model.lower_s(clock, baud) <= cycles <= model.upper_s(clock, baud)


def test_tiny_model_token_rate_grows_with_the_baud_rate():
    params = AcceleratorParams()
    shapes = MODEL_SHAPES["tiny"].linear_shapes()
    rates = []
    for baud in (115_200, 1_000_000, 3_000_000):
        lower, upper = model_token_time(params, LinkParams.for_baud(30e6, baud), shapes, 30e6, baud)
        assert lower < upper
        rates.append(1 / upper)
    assert rates[0] < rates[1] < rates[2] and rates[2] / rates[0] > 20
