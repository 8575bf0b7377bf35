"""Tolerant body decoding: every real body, the known faults repaired, the rest refused."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twcdirector.exceptions import Gen3ResponseError
from twcdirector.gen3 import decode_body

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "gen3" / "fixtures"
FIXTURE_FILES = sorted(FIXTURES.glob("*.json"))


def test_there_are_fixtures() -> None:
    assert len(FIXTURE_FILES) >= 6


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda path: path.name)
def test_every_fixture_decodes_to_an_object(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    body = decode_body(text)
    assert isinstance(body, dict)
    assert body
    assert decode_body(path.read_bytes()) == body
    if "nan" not in text:
        assert body == json.loads(text)


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda path: path.name)
def test_every_fixture_survives_losing_its_closing_brace(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    truncated = text.rstrip().removesuffix("}")
    assert truncated != text.rstrip()
    assert decode_body(truncated) == decode_body(text)


def test_literal_nan_is_no_value() -> None:
    body = decode_body((FIXTURES / "lifetime-nan.json").read_text(encoding="utf-8"))
    assert body["avg_startup_temp"] is None
    assert body["energy_wh"] == 125000


@pytest.mark.parametrize(
    "token", ["nan", "NaN", "-nan", "NAN", "inf", "-inf", "Infinity", "-Infinity"]
)
def test_every_non_finite_spelling_becomes_none(token: str) -> None:
    body = decode_body(f'{{"a": {token}, "b": [1, {token}], "c": 2.5}}')
    assert body == {"a": None, "b": [1, None], "c": 2.5}


def test_nan_inside_a_string_is_left_alone() -> None:
    body = decode_body('{"wifi_ssid": "nan", "x": "a nan b", "y": nan}')
    assert body == {"wifi_ssid": "nan", "x": "a nan b", "y": None}


def test_byte_order_mark_is_ignored() -> None:
    assert decode_body(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "<html><body>Wall Connector</body></html>",
        '{"a": 1,',  # stops after a comma: the next value is lost, not just the brace
        '{"a": "unterminated',
        '{"a": 1}}',
        '{"a": 1} trailing',
        '{"a": tru',
        '{"a": [1, 2',  # cut inside a list: closing it could drop alerts silently
        '{"a": {"b": 1',
    ],
)
def test_unreadable_bodies_are_a_response_error(text: str) -> None:
    with pytest.raises(Gen3ResponseError):
        decode_body(text)


@pytest.mark.parametrize("text", ["[1, 2]", "42", '"text"', "null"])
def test_json_that_is_not_an_object_is_refused(text: str) -> None:
    with pytest.raises(Gen3ResponseError, match="not an object"):
        decode_body(text)


def test_invalid_utf8_is_refused() -> None:
    with pytest.raises(Gen3ResponseError, match="UTF-8"):
        decode_body(b'{"a": "\xff"}')


def test_an_error_quotes_the_start_of_the_body() -> None:
    with pytest.raises(Gen3ResponseError, match="<html>"):
        decode_body("<html>" + "x" * 500)


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**9), 10**9)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_OBJECTS = st.dictionaries(st.text(max_size=10), _VALUES, max_size=8)


@given(_OBJECTS)
def test_any_object_round_trips(body: dict[str, object]) -> None:
    assert decode_body(json.dumps(body)) == body
    assert decode_body(json.dumps(body, indent=1)) == body


@given(_OBJECTS.filter(bool))
def test_any_object_without_its_closing_brace_is_repaired(body: dict[str, object]) -> None:
    assert decode_body(json.dumps(body)[:-1]) == body


@given(st.dictionaries(st.text(max_size=8), st.floats(), min_size=1, max_size=6))
def test_non_finite_numbers_always_read_as_none(body: dict[str, float]) -> None:
    text = "{" + ",".join(f"{json.dumps(k)}:{_firmware_float(v)}" for k, v in body.items()) + "}"
    decoded = decode_body(text)
    for key, value in body.items():
        assert decoded[key] == (value if math.isfinite(value) else None)


def _firmware_float(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")


@given(st.text(max_size=200) | st.binary(max_size=200))
def test_decoding_is_total(data: str | bytes) -> None:
    """Garbage either decodes to a dict or raises Gen3ResponseError, never anything else."""
    try:
        body = decode_body(data)
    except Gen3ResponseError:
        return
    assert isinstance(body, dict)


def test_only_the_final_brace_is_supplied() -> None:
    assert decode_body('{"a": {"b": 1}') == {"a": {"b": 1}}
    assert decode_body('{"a": [1, 2]\n') == {"a": [1, 2]}
