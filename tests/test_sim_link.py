"""The host side of the link: frames, records, the reply parser (no hardware)."""

import pytest

from tritforge.sim.link import (ReplyParser, command_frame, pack_frames, stream_records,
                                store_write_records)
from tritforge.spec.link import BOARD_SYNC, HOST_SYNC, LinkParams, Reply, crc16
from tritforge.spec.params import AcceleratorParams

PARAMS = AcceleratorParams(stream_width=32)
LINK = LinkParams(data_beats=2)


def reply(kind, seq, body):
    data = bytes([kind, seq]) + body
    return bytes([BOARD_SYNC]) + data + crc16(data).to_bytes(2, "big")


def test_command_frame():
    frame = command_frame(7, b"\x01\x02", start=True)
    assert frame[:6] == bytes([HOST_SYNC, 1, 7, 2, 0, 1])
    assert crc16(frame[1:]) == 0
    with pytest.raises(ValueError, match="1..65535 bytes"):
        command_frame(0, b"")


def test_stream_records_split_a_packet_with_tlast_on_its_end():
    packet = bytes(range(40))                    # ten 4-byte beats
    records = stream_records(PARAMS, packet, max_payload=16)       # three beats per record
    assert [r[2] for r in records] == [3, 3, 3, 1]
    assert [r[1] for r in records] == [0, 0, 0, 1]
    assert b"".join(r[4:] for r in records) == packet
    with pytest.raises(ValueError, match="whole number of 4-byte beats"):
        stream_records(PARAMS, bytes(6), 64)


def test_store_write_records_and_frames():
    records = store_write_records(PARAMS, 100, bytes(range(48)), max_payload=24)   # 4 words each
    assert [(r[2], int.from_bytes(r[4:8], "little")) for r in records] == [(4, 100), (4, 104), (4, 108)]
    frames = pack_frames(records, 48)
    assert [len(f) for f in frames] == [48, 24]
    with pytest.raises(ValueError, match="does not fit"):
        pack_frames([bytes(30)], 24)


def test_parser_skips_noise_and_damaged_frames():
    parser = ReplyParser(PARAMS, LINK)
    ack = reply(Reply.ACK, 3, b"\0\0")
    damaged = bytearray(reply(Reply.NAK, 4, b"\x01\x04"))
    damaged[4] ^= 0x10
    data = reply(Reply.DATA, 0, bytes(range(8)) + bytes([0x82]))
    stream = b"\x00\x11" + ack + bytes(damaged) + data
    frames = [f for i in range(len(stream)) for f in parser.feed(stream[i:i + 1])]   # byte by byte
    assert [(f.kind, f.seq) for f in frames] == [(Reply.ACK, 3), (Reply.DATA, 0)]
    assert frames[1].body == bytes(range(8)) + bytes([0x82])
    assert parser.damaged >= 2
