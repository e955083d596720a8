"""AcceleratorParams: checks, derived sizes and the RUN capacity rule."""

import pytest

from tritforge.hdl.protocol import (ARGUMENTS, STATUS_WORDS, AcceleratorParams, ErrorCode, Opcode,
                                    StatusFlag)


def test_defaults_and_derived_sizes():
    p = AcceleratorParams()
    assert (p.rows, p.cols, p.stream_width, p.weight_format) == (4, 16, 32, "2bit")
    assert p.tile_bits == 4 * 16 * 2 and p.tile_beats == 4
    assert p.chunk_bits == 16 * 8 and p.chunk_beats == 4
    assert p.acc_bits == 19  # 1024 * 128 = 2**17, plus sign: 19 bits
    assert p.partial_bits == 13
    assert p.group_beats == 4 and p.status_beats == STATUS_WORDS


def test_base3_tile_rows_are_whole_bytes():
    p = AcceleratorParams(rows=3, cols=12, weight_format="base3", stream_width=64)
    assert p.weight_row_bytes == 3  # ceil(12 / 5)
    assert p.tile_bits == 3 * 3 * 8 and p.tile_beats == 2
    assert p.group_beats == 2  # 3 words in 64-bit beats


def test_opcodes_and_errors_are_distinct_bytes():
    assert len({int(op) for op in Opcode}) == len(Opcode)
    assert all(0 < op < 256 for op in Opcode)
    assert set(ARGUMENTS) == set(Opcode)
    assert len({int(e) for e in ErrorCode}) == len(ErrorCode) and max(ErrorCode) < 16
    assert all(bin(int(flag)).count("1") == 1 for flag in StatusFlag)


@pytest.mark.parametrize("shape, error", [
    ((1, 1, 1), ErrorCode.NONE),
    ((16, 1024, 4 * 64), ErrorCode.CAPACITY),        # 64 chunks x 64 row blocks > 256 tiles
    ((4, 256, 64), ErrorCode.NONE),                  # 16 x 16 = 256 tiles, 4 x 16 = 64 chunks
    ((5, 256, 64), ErrorCode.CAPACITY),              # 5 x 16 = 80 chunks > 64
])
def test_check_run_examples(shape, error):
    p = AcceleratorParams(weight_depth=256, act_depth=64)
    assert p.check_run(*shape) == error


def test_check_run_rules():
    p = AcceleratorParams(rows=4, cols=16, max_k=256, weight_depth=16, act_depth=32, max_tokens=8)
    assert p.check_run(0, 16, 4) == ErrorCode.ZERO_SIZE
    assert p.check_run(1, 0, 4) == ErrorCode.ZERO_SIZE
    assert p.check_run(9, 16, 4) == ErrorCode.CAPACITY          # tokens > max_tokens
    assert p.check_run(1, 257, 4) == ErrorCode.CAPACITY         # k > max_k
    assert p.check_run(1, 16, 65) == ErrorCode.CAPACITY         # 17 row blocks > 16 tiles
    assert p.check_run(1, 32, 33) == ErrorCode.CAPACITY         # 2 chunks x 9 blocks = 18 tiles
    assert p.check_run(1, 32, 32) == ErrorCode.NONE             # 16 tiles
    assert p.check_run(8, 80, 4) == ErrorCode.CAPACITY          # 8 tokens x 5 chunks = 40 > 32
    assert p.check_run(8, 64, 4) == ErrorCode.NONE              # 32 chunks


@pytest.mark.parametrize("kwargs, exception, message", [
    (dict(rows=0), ValueError, r"^rows must be an integer >= 1, not 0$"),
    (dict(cols=2.0), TypeError, r"^cols must be an integer, not 2\.0$"),
    (dict(max_tokens=True), TypeError, r"^max_tokens must be an integer, not True$"),
    (dict(act_bits=1), ValueError, r"^act_bits must be an integer >= 2, not 1$"),
    (dict(act_bits=17), ValueError, r"^act_bits must be an integer in 2\.\.16, not 17$"),
    (dict(pipeline=-1), ValueError, r"^pipeline must be an integer >= 0, not -1$"),
    (dict(stream_width=48), ValueError,
     r"^stream_width must be a multiple of 32 in 32\.\.1024, not 48$"),
    (dict(stream_width=2048), ValueError,
     r"^stream_width must be a multiple of 32 in 32\.\.1024, not 2048$"),
    (dict(stream_width=16), ValueError, r"^stream_width must be an integer >= 32, not 16$"),
    (dict(weight_format="1bit"), ValueError, r"^weight_format must be one of 2bit, base3, not '1bit'$"),
    (dict(weight_format=2), TypeError, r"^weight_format must be a string, not 2$"),
    (dict(max_tokens=65, act_depth=64), ValueError,
     r"^max_tokens must be at most act_depth \(64\) so that every token fits the activation "
     r"bank, not 65$"),
    (dict(max_k=2 ** 24), ValueError,
     r"^max_k must keep the accumulators within 32 bits \(results are int32\): max_k = 16777216 "
     r"with act_bits = 8 needs 33$"),
])
def test_params_wrong(kwargs, exception, message):
    with pytest.raises(exception, match=message):
        AcceleratorParams(**kwargs)
