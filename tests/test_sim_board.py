"""The board's host driver without a board: the store layout, a missing serial port."""

import numpy as np
import pytest

from tritforge.sim import protocol
from tritforge.sim.board import Board, store_layout
from tritforge.sim.driver import plan_matmul
from tritforge.spec.errors import TritforgeError
from tritforge.spec.params import AcceleratorParams


def test_store_layout_holds_each_part_as_its_load_weights_payload():
    params = AcceleratorParams(rows=4, cols=16, weight_depth=8, max_k=64)
    w_t = np.random.default_rng(0).integers(-1, 2, (20, 40))
    blocks, data = store_layout(params, w_t, 100)
    parts = {(p.k0, p.k1, p.n0, p.n1) for p in plan_matmul(params, 1, 40, 20)}
    assert set(blocks) == parts and len(parts) > 1
    size = params.tile_beats * params.bytes_per_beat
    for (k0, k1, n0, n1), (address, tiles) in blocks.items():
        packet = protocol.load_weights(params, 0, protocol.pack_tiles(params, w_t[n0:n1, k0:k1]))
        start = (address - 100) * params.bytes_per_beat
        assert data[start:start + tiles * size] == packet[2 * params.bytes_per_beat:]


def test_missing_serial_port_is_one_clear_error():
    with pytest.raises(TritforgeError, match=r"^cannot open serial port /nonexistent/tty"):
        Board("/nonexistent/tty")
