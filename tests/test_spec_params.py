"""spec.params: the design parameter objects (checks, derived sizes, the RUN capacity rule,
names, serialisation) and the protocol's enumerations."""

import dataclasses
import json

import pytest

from tritforge.spec.errors import ParameterError, ParameterTypeError, TritforgeError
from tritforge.spec.params import (DEFAULT_GROUP, AcceleratorParams, UnitParams, check_params, design_from_dict,
                                   load_design)
from tritforge.spec.protocol import ARGUMENTS, COUNTERS, ErrorCode, Opcode, StatusFlag


def test_defaults_and_derived_sizes():
    p = AcceleratorParams()
    assert (p.rows, p.cols, p.stream_width, p.weight_format) == (4, 16, 32, "2bit")
    assert p.tile_bits == 4 * 16 * 2 and p.tile_beats == 4
    assert p.chunk_bits == 16 * 8 and p.chunk_beats == 4
    assert p.max_k == 4096 and p.acc_bits == 21  # 4096 * 128 = 2**19, plus sign: 21 bits
    assert p.partial_bits == 13
    assert p.group_beats == 4 and p.status_beats == p.status_words == 2 + len(COUNTERS)


@pytest.mark.parametrize("counter_bits, words", [(0, 2), (16, 2 + 6), (32, 2 + 6), (33, 2 + 12), (64, 2 + 12)])
def test_status_words_follow_the_counter_width(counter_bits, words):
    p = AcceleratorParams(counter_bits=counter_bits, stream_width=64)
    assert p.status_words == words and p.status_beats == -(-words // 2)


@pytest.mark.parametrize("counter_bits", [1, 15, 65, -1])
def test_counter_bits_out_of_range(counter_bits):
    with pytest.raises(ValueError, match=r"^counter_bits must be"):
        AcceleratorParams(counter_bits=counter_bits)


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
    (dict(cols=2.0), TypeError, r"^cols must be an integer >= 1, not 2\.0$"),
    (dict(max_tokens=True), TypeError, r"^max_tokens must be an integer >= 1, not True$"),
    (dict(act_bits=1), ValueError, r"^act_bits must be an integer in 2\.\.16, not 1$"),
    (dict(act_bits=17), ValueError, r"^act_bits must be an integer in 2\.\.16, not 17$"),
    (dict(pipeline=-1), ValueError, r"^pipeline must be an integer >= 0, not -1$"),
    (dict(stream_width=48), ValueError,
     r"^stream_width must be a multiple of 32 in 32\.\.1024, not 48$"),
    (dict(stream_width=2048), ValueError,
     r"^stream_width must be a multiple of 32 in 32\.\.1024, not 2048$"),
    (dict(stream_width=16), ValueError, r"^stream_width must be an integer >= 32, not 16$"),
    (dict(weight_format="1bit"), ValueError, r"^weight_format must be one of 2bit, base3, not '1bit'$"),
    (dict(weight_format=2), TypeError, r"^weight_format must be a string, not 2$"),
    (dict(unit_kind="int"), ValueError, r"^unit_kind must be one of ternary, lookup, not 'int'$"),
    (dict(unit_kind="lookup", group=0), ValueError, r"^group must be an integer in 1\.\.5, not 0$"),
    (dict(group=2), ValueError, r"^group applies to the lookup unit only, not to 'ternary'$"),
    (dict(max_tokens=65, act_depth=64), ValueError,
     r"^max_tokens must be at most act_depth \(64\) so that every token fits the activation "
     r"bank, not 65$"),
    (dict(max_k=2 ** 24), ValueError,
     r"^max_k must keep the accumulators within 32 bits \(results are int32\): max_k = 16777216 "
     r"with act_bits = 8 needs 33$"),
])
def test_params_wrong(kwargs, exception, message):
    with pytest.raises(exception, match=message) as caught:
        AcceleratorParams(**kwargs)
    # A user's mistake, not a bug: the command line prints it as one line.
    assert isinstance(caught.value, TritforgeError)


class TestUnitParams:
    def test_defaults_and_name(self):
        assert UnitParams().name == "ternary_r4_c16_a8_k4096_p1"
        assert UnitParams(kind="int").weight_bits == 8
        assert UnitParams(kind="int", weight_bits=4).name == "int_r4_c16_a8_w4_k4096_p1"
        assert AcceleratorParams().name == "accelerator_r4_c16_a8_k4096_p1_2bit_wd64_ad64_t16_s32_n32"
        assert UnitParams(rows=2, cols=8).lanes == 16

    def test_shared_fields_have_one_set_of_defaults(self):
        unit = {field.name: field.default for field in dataclasses.fields(UnitParams)}
        top = {field.name: field.default for field in dataclasses.fields(AcceleratorParams)}
        shared = set(unit) & set(top)
        assert shared == {"rows", "cols", "act_bits", "max_k", "pipeline", "group"}
        assert {name: unit[name] for name in shared} == {name: top[name] for name in shared}
        assert all(field.metadata["help"] for cls in (UnitParams, AcceleratorParams)
                   for field in dataclasses.fields(cls))

    def test_accelerator_unit(self):
        unit = AcceleratorParams(rows=3, cols=10, pipeline=2, act_bits=6).unit
        assert unit == UnitParams(kind="ternary", rows=3, cols=10, act_bits=6, max_k=10, pipeline=2)
        lookup = AcceleratorParams(rows=3, cols=10, unit_kind="lookup", group=4)
        assert lookup.unit == UnitParams(kind="lookup", rows=3, cols=10, max_k=10, group=4)
        assert not lookup.unit_reads_bytes
        assert AcceleratorParams(unit_kind="lookup", group=5, weight_format="base3").unit_reads_bytes
        assert not AcceleratorParams(unit_kind="lookup", group=4, weight_format="base3").unit_reads_bytes

    def test_lookup_group(self):
        assert UnitParams(kind="lookup").group == DEFAULT_GROUP
        assert AcceleratorParams(unit_kind="lookup").group == DEFAULT_GROUP
        assert UnitParams(kind="lookup", group=5).name == "lookup_g5_r4_c16_a8_k4096_p1"
        assert AcceleratorParams(unit_kind="lookup", group=3).name.startswith("accelerator_lookup_g3_r4_c16")
        assert design_from_dict(UnitParams(kind="lookup", group=4).to_dict()).group == 4
        top = AcceleratorParams(unit_kind="lookup", group=4)
        assert design_from_dict(top.to_dict()) == top

    @pytest.mark.parametrize("kwargs, exception, message", [
        (dict(kind="fp16"), ParameterError, r"^kind must be one of ternary, lookup, int, not 'fp16'$"),
        (dict(kind="lookup", group=6), ParameterError, r"^group must be an integer in 1\.\.5, not 6$"),
        (dict(kind="lookup", group="3"), ParameterTypeError, r"^group must be an integer in 1\.\.5, not '3'$"),
        (dict(group=3), ParameterError, r"^group applies to the lookup unit only, not to 'ternary'$"),
        (dict(act_bits=17), ParameterError, r"^act_bits must be an integer in 2\.\.16, not 17$"),
        (dict(rows="2"), ParameterTypeError, r"^rows must be an integer >= 1, not '2'$"),
        (dict(kind="int", weight_bits=1), ParameterError,
         r"^weight_bits must be an integer in 2\.\.16, not 1$"),
        (dict(weight_bits=4), ParameterError,
         r"^weight_bits applies to the int unit only, not to 'ternary' \(its weights are 2-bit codes\)$"),
    ])
    def test_wrong(self, kwargs, exception, message):
        with pytest.raises(exception, match=message):
            UnitParams(**kwargs)


class TestSerialisation:
    @pytest.mark.parametrize("design", [UnitParams(), UnitParams(kind="int", rows=2, weight_bits=4),
                                        AcceleratorParams(weight_format="base3", stream_width=64)])
    def test_round_trip(self, design):
        fields = json.loads(json.dumps(design.to_dict()))
        assert fields["kind"] == design.kind
        assert design_from_dict(fields) == design

    def test_to_dict_keeps_what_applies(self):
        assert "weight_bits" not in UnitParams().to_dict()
        assert "weight_depth" not in UnitParams(kind="int").to_dict()
        assert AcceleratorParams().to_dict()["weight_depth"] == 64

    def test_unknown_key(self):
        with pytest.raises(ParameterError, match=r"^unknown parameter 'lanes' for kind ternary; known: "
                                                 r"act_bits, cols, group, kind, max_k, pipeline, rows, "
                                                 r"weight_bits$"):
            design_from_dict({"lanes": 4})
        with pytest.raises(ParameterError, match=r"^unknown parameter 'weight_depth' for kind int"):
            design_from_dict({"kind": "int", "weight_depth": 4})

    def test_from_toml_and_json(self, tmp_path):
        toml = tmp_path / "unit.toml"
        toml.write_text('[design]\nkind = "int"\nrows = 2\ncols = 8\n')
        plain = tmp_path / "unit.json"
        plain.write_text(json.dumps({"kind": "int", "rows": 2, "cols": 8}))
        top = tmp_path / "top.toml"
        top.write_text('kind = "accelerator"\nweight_format = "base3"\n')
        assert load_design(toml) == load_design(plain) == UnitParams(kind="int", rows=2, cols=8)
        assert load_design(top) == AcceleratorParams(weight_format="base3")

    @pytest.mark.parametrize("name, text, message", [
        ("unit.yaml", "kind: int\n", r"^design file must end in \.json or \.toml, not 'unit\.yaml'$"),
        ("unit.json", "{rows: 2", r"unit\.json: Expecting property name"),
        ("unit.toml", "rows = ", r"unit\.toml: Invalid value"),
    ])
    def test_file_wrong(self, tmp_path, name, text, message):
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(ParameterError, match=message):
            load_design(path)

    def test_check_params(self):
        assert check_params(AcceleratorParams()) == AcceleratorParams()
        with pytest.raises(TypeError, match=r"^params must be an AcceleratorParams, not UnitParams\("):
            check_params(UnitParams())
        with pytest.raises(TypeError, match=r"^params must be a UnitParams, not 3$"):
            check_params(3, UnitParams)
