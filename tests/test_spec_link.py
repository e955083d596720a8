"""The link's definitions: the CRC agrees with Amaranth's, the parameters are checked."""

import pytest
from amaranth.lib.crc import catalog
from hypothesis import given
from hypothesis import strategies as st

from tritforge.spec.errors import ParameterError, ParameterTypeError
from tritforge.spec.link import CRC16, HOST_SYNC, LinkParams, Nak, Record, Reply, crc16, describe


@given(st.binary(max_size=64))
def test_crc_is_amaranths_crc16_ccitt_false(data):
    assert crc16(data) == catalog.CRC16_CCITT_FALSE(8).compute(data)


@given(st.binary(min_size=1, max_size=64))
def test_crc_sent_high_byte_first_leaves_residue_zero(data):
    """What the board's receiver checks: the CRC over the data and its CRC is 0."""
    assert crc16(data + crc16(data).to_bytes(2, "big")) == 0


def test_crc_check_value():
    assert crc16(b"123456789") == 0x29B1


def test_for_baud():
    assert LinkParams.for_baud(30e6, 3_000_000).baud_divider == 10
    assert LinkParams.for_baud(30e6, 115_200).baud_divider == 260
    with pytest.raises(ParameterError, match=r"^baud rate 1e\+07 cannot be made from a 30 MHz clock"):
        LinkParams.for_baud(30e6, 10_000_000)
    with pytest.raises(ParameterError, match=r"^baud rate 1\.3e\+06 cannot be made"):
        LinkParams.for_baud(12e6, 1_300_000)         # divider 9.23: 4 % off


@pytest.mark.parametrize("field, value, error", [
    ("baud_divider", 3, ParameterError), ("max_payload", 8, ParameterError),
    ("data_beats", 128, ParameterError), ("store_depth", 0, ParameterError),
    ("timeout_bytes", 1.5, ParameterTypeError),
])
def test_parameters_wrong(field, value, error):
    with pytest.raises(error, match=rf"^{field} must be an integer"):
        LinkParams(**{field: value})


def test_reply_sizes():
    link = LinkParams(data_beats=16)
    assert link.reply_bytes(Reply.ACK, 4) == 7
    assert link.reply_bytes(Reply.DATA, 4) == 3 + 64 + 1 + 2
    assert link.timeout_cycles == 32 * 10 * 16


def test_describe_is_the_module_as_data():
    """spec.link.describe: every enum member, the reply sizes and the CRC's parameters."""
    link = LinkParams(baud_divider=8, max_payload=64, data_beats=4, store_depth=128)
    d = describe(link, 8)
    assert [(r["name"], r["value"], r["bytes"]) for r in d["replies"]] == [
        (kind.name, int(kind), link.reply_bytes(kind, 8)) for kind in Reply]
    assert [n["value"] for n in d["naks"]] == [int(n) for n in Nak]
    assert [r["value"] for r in d["records"]["kinds"]] == [int(r) for r in Record]
    assert (d["crc"]["polynomial"], d["crc"]["initial"], d["crc"]["check"]) == (CRC16[1], CRC16[2], 0x29B1)
    assert d["host_sync"] == HOST_SYNC and d["uart"]["baud_divider"] == 8
    assert d["sizes"]["timeout_cycles"] == link.timeout_cycles and d["sizes"]["max_payload"] == 64
    with pytest.raises(TypeError, match="link must be a LinkParams"):
        describe({"baud_divider": 8}, 8)
