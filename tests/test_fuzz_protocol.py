"""Fuzzing the host side of the command protocol (hypothesis): commands encode to the bytes the
protocol defines and parse back; response decoders take any bytes and either decode them or
raise ProtocolError, never anything else, and never accept a reserved bit."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tritforge.sim import protocol
from tritforge.sim.protocol import ProtocolError
from tritforge.spec.protocol import (ACT_BANK_BIT, ARGUMENTS, ERROR_MASK_SHIFT, OPCODE_BITS,
                                     WEIGHT_BANK_BIT, ErrorCode, Opcode, StatusFlag)

from rtl_runs import GEOMETRIES

PARAMS = list(GEOMETRIES.values())
FUZZ = settings(max_examples=150, deadline=None)


def parse_command(params, packet):
    """The spec's reading of a command packet: ``(opcode, args, payload items, banks)``."""
    size = params.bytes_per_beat
    beats = [packet[i:i + size] for i in range(0, len(packet), size)]
    header = int.from_bytes(beats[0][:4], "little")
    opcode = Opcode(header & (1 << OPCODE_BITS) - 1)
    count = len(ARGUMENTS[opcode])
    args = tuple(int.from_bytes(beat[:4], "little") for beat in beats[1:1 + count])
    item_beats = params.tile_beats if opcode == Opcode.LOAD_WEIGHTS else params.chunk_beats
    payload = beats[1 + count:]
    items = [b"".join(payload[i:i + item_beats]) for i in range(0, len(payload), item_beats)]
    return opcode, args, items, (header >> WEIGHT_BANK_BIT & 1, header >> ACT_BANK_BIT & 1)


@st.composite
def commands(draw):
    params = draw(st.sampled_from(PARAMS))
    opcode = draw(st.sampled_from(Opcode))
    args = tuple(draw(st.integers(0, 2 ** 32 - 1)) for _ in ARGUMENTS[opcode])
    banks = draw(st.integers(0, 1)), draw(st.integers(0, 1))
    items = []
    if opcode in (Opcode.LOAD_WEIGHTS, Opcode.LOAD_ACTS):
        item_bytes = (params.tile_beats if opcode == Opcode.LOAD_WEIGHTS else params.chunk_beats) \
            * params.bytes_per_beat
        items = draw(st.lists(st.binary(min_size=item_bytes, max_size=item_bytes), min_size=1, max_size=4))
        args = (len(items),)
    return params, opcode, args, items, banks


@FUZZ
@given(commands())
def test_commands_round_trip(command):
    params, opcode, args, items, banks = command
    packet = protocol.encode_command(params, opcode, args, items, weight_bank=banks[0], act_bank=banks[1])
    assert len(packet) % params.bytes_per_beat == 0
    assert parse_command(params, packet) == (opcode, args, items, banks)


@FUZZ
@given(st.sampled_from(PARAMS), st.data())
def test_results_round_trip(params, data):
    tokens = data.draw(st.integers(1, params.max_tokens))
    n = data.draw(st.integers(1, params.weight_depth * params.rows))
    values = np.array(data.draw(st.lists(st.integers(-2 ** 31, 2 ** 31 - 1), min_size=tokens * n,
                                         max_size=tokens * n)), dtype=np.int32).reshape(tokens, n)
    # The packet as the result packer builds it: per row block and token a group of `rows`
    # words, padded to whole beats.
    blocks, group_words = params.row_blocks(n), params.group_beats * params.words_per_beat
    words = np.zeros((blocks, tokens, group_words), dtype="<i4")
    padded = np.zeros((tokens, blocks * params.rows), dtype=np.int32)
    padded[:, :n] = values
    words[:, :, :params.rows] = padded.reshape(tokens, blocks, params.rows).transpose(1, 0, 2)
    packet = words.tobytes()
    np.testing.assert_array_equal(protocol.decode_results(params, packet, tokens, n), values)
    with pytest.raises(ProtocolError):
        protocol.decode_results(params, packet + bytes(params.bytes_per_beat), tokens, n)


def status_packet(params, error, errors, flags, counters):
    words = [int(error) | sum(1 << int(e) for e in errors) << ERROR_MASK_SHIFT, int(flags)]
    for value in counters:
        words += [value >> 32 * i & 0xFFFF_FFFF for i in range(params.counter_words)]
    words += [0] * (params.status_beats * params.words_per_beat - len(words))
    return b"".join(word.to_bytes(4, "little") for word in words)


@FUZZ
@given(st.sampled_from(PARAMS), st.data())
def test_status_round_trip(params, data):
    errors = data.draw(st.frozensets(st.sampled_from([e for e in ErrorCode if e])))
    error = data.draw(st.sampled_from(sorted(errors))) if errors else ErrorCode.NONE
    flags = StatusFlag(data.draw(st.integers(0, 3)))
    limit = 2 ** params.counter_bits - 1 if params.counter_bits else 0
    counters = data.draw(st.lists(st.integers(0, limit), min_size=6, max_size=6)) \
        if params.counter_bits else []
    status = protocol.decode_status(params, status_packet(params, error, errors, flags, counters))
    assert (status.error, status.errors, status.flags) == (error, errors, flags)
    assert list(status.counters.values()) == counters


@FUZZ
@given(st.sampled_from(PARAMS), st.data())
def test_status_decoder_on_random_bytes(params, data):
    """Any packet decodes to a consistent Status or raises ProtocolError; the reserved bits
    (status word 0 bits 15:8 and the NONE bit of the error set, undefined flags) and an error
    that is not in the error set are refused."""
    size = params.status_beats * params.bytes_per_beat
    packet = data.draw(st.one_of(st.binary(min_size=size, max_size=size), st.binary(max_size=2 * size)))
    try:
        status = protocol.decode_status(params, packet)
    except ProtocolError:
        return
    word0 = int.from_bytes(packet[:4], "little")
    assert word0 >> 8 & 0xFF == 0 and not word0 >> ERROR_MASK_SHIFT & 1
    assert status.flags == StatusFlag(int.from_bytes(packet[4:8], "little"))
    assert (status.error == ErrorCode.NONE) == (not status.errors)
    assert status.error == ErrorCode.NONE or status.error in status.errors


@pytest.mark.parametrize("word0, word1", [
    (0x0000_0100, 0),                  # a reserved bit of word 0
    (0x0001_0000, 0),                  # the NONE bit of the error set
    (0x0000_0000, 0x8),                # an undefined flag
    (0x0000_0002, 0),                  # an error missing from the error set
    (0x0004_0000, 0),                  # an error set without a first error
])
def test_status_reserved_bits_are_refused(word0, word1):
    params = GEOMETRIES["2bit"]
    packet = bytearray(params.status_beats * params.bytes_per_beat)
    packet[:8] = word0.to_bytes(4, "little") + word1.to_bytes(4, "little")
    with pytest.raises(ProtocolError):
        protocol.decode_status(params, bytes(packet))
