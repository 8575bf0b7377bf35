"""Tolerant body decoding: every real body, the known faults repaired, the rest refused."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twcdirector.exceptions import Gen3ResponseError
from twcdirector.gen3 import always_sent, decode_body
from twcdirector.gen3.body import MAX_DEPTH

FIXTURES = Path(__file__).resolve().parent / "data" / "gen3"
FIXTURE_FILES = sorted(FIXTURES.glob("*.json"))
CUT = FIXTURES / "cut"


def _endpoint(path: Path) -> str:
    return path.name.split("-")[0]


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
def test_a_fixture_without_its_closing_brace_is_completed_only_if_it_cannot_be_cut(
    path: Path,
) -> None:
    text = path.read_text(encoding="utf-8")
    truncated = text.rstrip().removesuffix("}")
    assert truncated != text.rstrip()
    endpoint = _endpoint(path)
    if truncated.rstrip()[-1].isdigit():  # lifetime ends in charging_time_s: may be cut
        with pytest.raises(Gen3ResponseError, match="may be cut"):
            decode_body(truncated, endpoint)
    else:
        assert decode_body(truncated, endpoint) == decode_body(text)


@pytest.mark.parametrize(
    ("name", "endpoint", "cut_value"),
    [
        ("vitals-cut-in-evse-state.json", "vitals", '"evse_state": 1'),
        ("lifetime-cut-in-charging-time.json", "lifetime", '"charging_time_s": 1380'),
    ],
)
def test_the_reported_cut_bodies_are_refused(name: str, endpoint: str, cut_value: str) -> None:
    """A cut inside the last number leaves a valid, different number: never guessed at."""
    text = (CUT / name).read_text(encoding="utf-8")
    assert text.endswith(cut_value)
    for named in (endpoint, None):
        with pytest.raises(Gen3ResponseError, match="may be cut: it ends in a number"):
            decode_body(text, named)


@pytest.mark.parametrize(
    ("path", "keep_fields"),
    [(FIXTURES / "vitals-21.18.1.json", 2), (FIXTURES / "wifi_status-plain.json", 6)],
    ids=["vitals", "wifi_status"],
)
def test_a_body_cut_after_a_whole_value_lacks_fields_and_is_refused(
    path: Path, keep_fields: int
) -> None:
    """Cut right after a complete value, the body looks whole: the missing fields tell."""
    body = decode_body(path.read_bytes())
    kept = list(body.items())[:keep_fields]
    assert isinstance(kept[-1][1], bool | str)  # ends in a literal or a string, not a number
    text = json.dumps(dict(kept))[:-1]
    assert decode_body(text) == dict(kept)  # without the endpoint there is nothing to miss
    with pytest.raises(Gen3ResponseError, match="may be cut: no closing brace and no"):
        decode_body(text, _endpoint(path))


def test_always_sent_follows_the_firmware_generation() -> None:
    old = always_sent("vitals", {"relay_coil_v": 12.0})
    new = always_sent("vitals", {"relay_k1_v": 12.0})
    assert "relay_coil_v" in old
    assert "evse_not_ready_reasons" not in old
    assert {"relay_k1_v", "relay_k2_v", "evse_not_ready_reasons"} <= set(new)
    assert "web_service" in always_sent("version", {"git_branch": "HEAD"})
    assert "web_service" not in always_sent("version", {})


@pytest.mark.parametrize(
    "text",
    [
        "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
        '{"a":' + "[" * 5000 + "]" * 5000 + "}",
        '{"a":' + "[" * 100_000,
        '{"a": ' + "9" * 25 + "}",
        '{"a": ' + "9" * 5000 + "}",  # beyond Python's own int conversion limit
        '{"a": 1e999}',
        '{"a": -1e400}',
        '{"a": 0.' + "1" * 40 + "}",
    ],
    ids=["depth", "deep-list", "deep-open", "long-int", "huge-int", "1e999", "-1e400", "long"],
)
def test_deep_nesting_and_huge_numbers_are_refused(text: str) -> None:
    with pytest.raises(Gen3ResponseError):
        decode_body(text)


def test_nesting_as_deep_as_real_bodies_is_fine() -> None:
    assert decode_body('{"current_alerts": [1, 2], "a": {"b": [[]]}}')["current_alerts"] == [1, 2]


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
def test_any_object_without_its_closing_brace_is_repaired_unless_it_ends_in_a_number(
    body: dict[str, object],
) -> None:
    text = json.dumps(body)[:-1]
    last = list(body.values())[-1]
    if isinstance(last, int | float) and not isinstance(last, bool):
        with pytest.raises(Gen3ResponseError, match="may be cut"):
            decode_body(text)
    else:
        assert decode_body(text) == body


@given(_OBJECTS.filter(bool), st.data())
def test_no_cut_of_a_body_ever_reads_a_value_it_did_not_send(
    body: dict[str, object], data: st.DataObject
) -> None:
    """A cut body is refused, or reads as the body's leading fields with their very values
    (the fields a cut removed whole are what ``always_sent`` catches): never a guess."""
    text = json.dumps(body, indent=data.draw(st.sampled_from([None, 1])))
    cut = data.draw(st.integers(1, len(text) - 1))
    try:
        decoded = decode_body(text[:cut])
    except Gen3ResponseError:
        return
    assert list(decoded.items()) == list(body.items())[: len(decoded)]
    assert decoded


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
