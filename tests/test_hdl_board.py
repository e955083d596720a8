# amaranth: UnusedElaboratable=no
"""BoardTop in Amaranth's simulator, driven through its UART pins by the real host code
(sim.link, sim.board): resident weights, damaged, truncated and lost frames, a reset in the
middle of a product, refused records, and the checks of its parameters."""

import numpy as np
import pytest

from tritforge.hdl.board import BoardTop
from tritforge.hdl.weight_store import WeightStore
from tritforge.sim import protocol
from tritforge.sim.board import BoardDriver, StoreFull
from tritforge.sim.board_sim import run_board
from tritforge.sim.link import FramedLink, LinkError, LinkTransport, command_frame, store_load_record
from tritforge.spec.errors import ParameterError
from tritforge.spec.link import LinkParams
from tritforge.spec.params import AcceleratorParams
from tritforge.spec.protocol import ErrorCode

#: Small buffers: a 3 x 11 x 5 product takes two parts.
PARAMS = AcceleratorParams(rows=2, cols=4, max_k=16, weight_depth=8, act_depth=8, max_tokens=2,
                           stream_width=32, counter_bits=16)
LINK = LinkParams(baud_divider=4, max_payload=64, data_beats=4, store_depth=64, timeout_bytes=4)


def layer(seed, shape=(3, 11, 5)):
    rng = np.random.default_rng(seed)
    t, k, n = shape
    return rng.integers(-128, 128, (t, k)), rng.integers(-1, 2, (n, k))


def driver_for(channel):
    return BoardDriver(PARAMS, LinkTransport(FramedLink(PARAMS, LINK, channel, timeout_bytes=200)))


def resident_product(x, w, **faults):
    """Load ``w`` into the store, compute ``x @ w.T`` from it; the result, the status and the
    link's statistics."""
    async def host(channel, ctx):
        driver = driver_for(channel)
        await driver.load_weights("layer", w)
        y = await driver.matmul(x, w)
        return y, await driver.status(), driver.transport.link.stats, driver
    return run_board(PARAMS, LINK, host, **faults)


def test_resident_product_is_exact():
    x, w = layer(1)
    y, status, stats, driver = resident_product(x, w)
    np.testing.assert_array_equal(y, x @ w.T)
    assert status.error == ErrorCode.NONE and status.counters["macs"] == x.size * w.shape[0]
    assert len(driver.parts) == 4 and not stats["retransmissions"]
    assert len(driver.layers["layer"].blocks) == 2      # the two token groups share the blocks
    # The weights went over the link once: the product sent STORE_LOAD records, no tiles.
    assert driver.layers["layer"].words == sum(tiles for _, tiles in driver.layers["layer"].blocks.values()) \
        * PARAMS.tile_beats


@pytest.mark.slow
def test_streamed_weights_still_work():
    """Weights that are not resident travel in LOAD_WEIGHTS packets as before."""
    x, w = layer(2)

    async def host(channel, ctx):
        driver = driver_for(channel)
        return await driver.matmul(x, w), await driver.check()
    y, _ = run_board(PARAMS, LINK, host)
    np.testing.assert_array_equal(y, x @ w.T)


def flip_bit(frame_index, bit):
    def corrupt(index, data):
        if index != frame_index:
            return data
        data = bytearray(data)
        data[bit // 8] ^= 1 << (bit % 8)
        return bytes(data)
    return corrupt


@pytest.mark.parametrize("fault, counter", [
    (flip_bit(1, 8 * 9 + 3), "nak_crc"),                              # a payload bit
    (lambda index, data: data[:len(data) // 2] if index == 2 else data, "nak_truncated"),
    pytest.param(flip_bit(0, 8 * 4), "nak_length", marks=pytest.mark.slow),    # length > 255
    pytest.param(flip_bit(3, 2), "retransmissions", marks=pytest.mark.slow),   # sync: silence
], ids=["flipped_payload_bit", "truncated", "flipped_length_bit", "flipped_sync_bit"])
def test_damaged_frames_are_refused_and_sent_again(fault, counter):
    x, w = layer(3)
    y, status, stats, _ = resident_product(x, w, corrupt=fault)
    np.testing.assert_array_equal(y, x @ w.T)
    assert stats[counter] >= 1 and stats["retransmissions"] >= 1
    assert status.error == ErrorCode.NONE


def test_reset_mid_product_is_recovered():
    """The board is reset while the product's frames are in flight: the host sees BOOT (or
    NOT_SYNCED), starts a new session, clears and runs the product again from the store."""
    x, w = layer(4)
    y, status, stats, driver = resident_product(x, w, reset_at=[4000])
    np.testing.assert_array_equal(y, x @ w.T)
    assert driver.recoveries == 1 and status.error == ErrorCode.NONE


def test_store_record_beyond_the_store_is_refused():
    async def host(channel, ctx):
        transport = driver_for(channel).transport
        transport.store_load(0, LINK.store_depth - 1, 2)
        with pytest.raises(LinkError, match="RECORD"):
            await transport.flush()
        return transport.link.stats
    assert run_board(PARAMS, LINK, host)["nak_record"] == 1


def test_frame_over_max_payload_is_refused():
    async def host(channel, ctx):
        link = FramedLink(PARAMS, LINK, channel, timeout_bytes=200, retries=0)
        await channel.write(command_frame(0, bytes(LINK.max_payload + 1), start=True))
        return await link._await_reply()
    reply = run_board(PARAMS, LINK, host)
    assert reply.body[0] == 0x03                    # Nak.LENGTH


def test_unexpected_sequence_number_is_refused():
    async def host(channel, ctx):
        transport = driver_for(channel).transport
        await transport.send(protocol.clear(PARAMS))
        await transport.flush()                      # frame 0 starts the session, frame 1
        transport.link._seq = 5
        await transport.send(protocol.clear(PARAMS))
        with pytest.raises(LinkError, match="SEQUENCE.*expects sequence number 2"):
            await transport.flush()
    run_board(PARAMS, LINK, host)


def test_store_full_is_a_clear_error():
    async def host(channel, ctx):
        driver = driver_for(channel)
        rng = np.random.default_rng(5)
        with pytest.raises(StoreFull, match="store words"):
            await driver.load_weights("big", rng.integers(-1, 2, (40, 16)))
    run_board(PARAMS, LINK, host)


def test_store_load_record_packs():
    assert store_load_record(1, 0x1234, 7) == bytes([3, 1, 7, 0, 0x34, 0x12, 0, 0])


def test_parameters_checked():
    with pytest.raises(ParameterError, match=r"^the weight store must have 64 words of 32 bits"):
        BoardTop(PARAMS, LINK, WeightStore(32, 128))
    with pytest.raises(TypeError, match=r"^link must be a LinkParams"):
        BoardTop(PARAMS, {"baud_divider": 4})
