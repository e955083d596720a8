"""Fuzzing design parameter files (hypothesis): JSON and TOML files with fields of the wrong
type or value, unknown keys, other top-level values and bytes that are no text at all.
load_design returns parameters that check themselves, or raises a TritforgeError (the CLI's
one-line error), never another exception."""

import dataclasses
import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tritforge.spec.errors import TritforgeError
from tritforge.spec.params import AcceleratorParams, UnitParams, load_design

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FIELDS = sorted({f.name for cls in (AcceleratorParams, UnitParams) for f in dataclasses.fields(cls)})

scalars = st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats() | st.text(max_size=6)
values = scalars | st.lists(scalars, max_size=3) | st.dictionaries(st.text(max_size=4), scalars, max_size=2)
designs = st.fixed_dictionaries({"kind": st.sampled_from(["accelerator", "ternary", "int", "x"]) | values},
                                optional={name: values | st.integers(0, 64)
                                          for name in FIELDS + ["extra"] if name != "kind"})


def toml_value(value):
    """``value`` in TOML, or ``None`` when TOML cannot say it (null)."""
    if value is None or isinstance(value, float) and value != value:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, (int, float, str)):
        return json.dumps(value)
    if isinstance(value, list):
        items = [toml_value(v) for v in value]
        return None if None in items else f"[{', '.join(items)}]"
    items = [f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()]
    return None if any(i.endswith("None") for i in items) else f"{{{', '.join(items)}}}"


def load(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    try:
        design = load_design(path)
    except TritforgeError:
        return None
    assert isinstance(design, (AcceleratorParams, UnitParams))
    return design


@FUZZ
@given(designs)
def test_json_design_files(tmp_path, fields):
    design = load(tmp_path, "design.json", json.dumps(fields).encode())
    if design is not None:
        for name, value in fields.items():
            if name != "kind":
                assert getattr(design, name) == value and type(value) is not bool


@FUZZ
@given(designs, st.booleans())
def test_toml_design_files(tmp_path, fields, table):
    lines = [f"{json.dumps(k)} = {toml_value(v)}" for k, v in fields.items() if toml_value(v) is not None]
    text = ("[design]\n" if table else "") + "\n".join(lines) + "\n"
    load(tmp_path, "design.toml", text.encode())


@FUZZ
@given(st.binary(max_size=64), st.sampled_from(["design.json", "design.toml"]))
def test_random_bytes(tmp_path, data, name):
    load(tmp_path, name, data)


@pytest.mark.parametrize("name, data", [("design.json", b"\xff\xfe{}"), ("design.toml", b"rows = 4\n\x80")])
def test_bytes_that_are_no_text_are_a_parameter_error(tmp_path, name, data):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(TritforgeError, match="not UTF-8 text"):
        load_design(tmp_path / name)
