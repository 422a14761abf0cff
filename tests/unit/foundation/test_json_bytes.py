"""providers_app/json_bytes.py: orjson where it gives what the standard library gives, the
standard library where it would not."""

from __future__ import annotations

import json
import math

import pytest

from providers_app import json_bytes

SAME_AS_JSON_LOADS = [
    b'{"a": 1, "b": [1.5, -2, "x\\u00e9", null, true]}',
    '{"text": "caf\u00e9 \U0001f600"}'.encode(),
    b'{"n": 18446744073709551615, "m": -9223372036854775808}',  # u64's maximum, i64's minimum
    b'{"embedding": [-0.0020289733912795782, 1.2e-7, 3.0]}',
    b'{"x": NaN, "y": Infinity}',  # orjson refuses these; json.loads reads them
    b'{"s": "\\ud800"}',  # a lone surrogate: json.loads keeps it
    b"[1e400]",  # inf for json.loads; orjson refuses
    b'{"a": 1, "a": 2}',  # the last duplicate wins in both
    '{"utf16": 1}'.encode("utf-16"),  # json.loads detects the encoding; orjson wants UTF-8
    b'  {"spaced" : [ ] }  ',
]


@pytest.mark.parametrize("data", SAME_AS_JSON_LOADS)
def test_loads_reads_what_json_loads_reads(data):
    got, want = json_bytes.loads(data), json.loads(data)
    assert repr(got) == repr(want)  # repr: nan == nan is False, and int vs float must differ
    if isinstance(data, bytes):
        try:
            text = data.decode()
        except UnicodeDecodeError:
            return
        assert repr(json_bytes.loads(text)) == repr(want)


@pytest.mark.parametrize("data", [b"", b"{", b'{"a": }', b"\xff\xfe\x00", b'{"a": 1} x', b"[1,]"])
def test_loads_refuses_what_json_loads_refuses(data):
    with pytest.raises(ValueError) as got:
        json_bytes.loads(data)
    with pytest.raises(ValueError) as want:
        json.loads(data)
    assert type(got.value) is type(want.value)


def test_dumps_writes_compact_utf8_json():
    value = {"a": [1, 2.5, None, True], "é": "caf\u00e9 \U0001f600"}
    out = json_bytes.dumps(value)
    assert out == '{"a":[1,2.5,null,true],"é":"café \U0001f600"}'.encode()
    assert json.loads(out) == value


@pytest.mark.parametrize(
    "value",
    [
        {"maximum": 10**30},  # orjson refuses integers past 64 bits
        {"text": "broken \ud800 surrogate"},  # and strings that are not UTF-8
    ],
)
def test_dumps_falls_back_to_json_for_what_orjson_refuses_and_stays_valid_utf8(value):
    out = json_bytes.dumps(value)
    out.decode("utf-8")  # always valid UTF-8
    assert json.loads(out) == value


def test_dumps_refuses_what_json_refuses():
    with pytest.raises(TypeError):
        json_bytes.dumps({"a": object()})


def test_dumps_writes_nan_as_json_would_not_crash():
    # orjson writes null for NaN (json.dumps writes the invalid `NaN`): the answer stays JSON.
    assert json.loads(json_bytes.dumps({"x": math.nan})) == {"x": None}


def test_loads_reads_an_integer_past_64_bits_as_a_float_which_is_why_tool_input_keeps_json_loads():
    # The documented difference: payloads that may hold a model's own numbers do not use loads.
    assert json_bytes.loads(b'{"id": 123456789012345678901234567890}') == {"id": 1.2345678901234568e29}
    assert json.loads(b'{"id": 123456789012345678901234567890}') == {"id": 123456789012345678901234567890}
