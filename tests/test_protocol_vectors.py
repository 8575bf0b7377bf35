"""Every captured frame in tests/data/gen2_vectors.json decodes exactly as documented."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import load_vectors
from twcdirector.exceptions import ChecksumError, FrameErrorKind
from twcdirector.protocol import (
    MESSAGE_TYPES,
    FrameDecoder,
    Message,
    decode_frame,
    frame,
)

VECTORS = load_vectors()
GOOD = [v for v in VECTORS if v["checksum_ok"]]
BAD = [v for v in VECTORS if not v["checksum_ok"]]


def _raw(vector: dict[str, Any]) -> bytes:
    return bytes.fromhex(vector["hex"].replace(" ", ""))


def _wire(vector: dict[str, Any]) -> bytes:
    """The vector as it was on the wire: delimiters, escaping and its tail byte."""
    raw = _raw(vector)
    if vector["framed"]:
        return raw
    body, tail = raw[: vector["body_len"]], raw[vector["body_len"] :]
    return frame(body) + tail


def _hex(value: str) -> int:
    """Leading hex digits of a documented field, e.g. ``"08 starting to charge"`` -> 8."""
    match = re.match(r"[0-9A-Fa-f]+", value)
    assert match, value
    return int(match.group(0), 16)


# documented field -> (message attribute, how to read the documented value)
FIELD_CHECKS: dict[str, tuple[str, Any]] = {
    "sender": ("sender", _hex),
    "receiver": ("receiver", _hex),
    "sign": ("sign", _hex),
    "protocol": ("protocol", int),
    "max_amps": ("max_amps", float),
    "amps_max": ("max_amps", float),
    "amps_actual": ("actual_amps", float),
    "amps": ("amps", float),
    "state": ("state", _hex),
    "command": ("command", _hex),
    "vin_fragment": ("fragment", str),
    "bytes_5_6": ("reserved", _hex),
}
# Prose that documents a frame without being a field of it.
PROSE = {"meaning", "note"}


def _expected_class(vector: dict[str, Any]) -> type[Message]:
    match = re.search(r"\(([0-9A-F]{2}) ([0-9A-F]{2})\)", vector["type"])
    assert match, vector["type"]
    return MESSAGE_TYPES[(int(match.group(1), 16), int(match.group(2), 16))]


def assert_documented(message: Message, vector: dict[str, Any]) -> None:
    """The decoded message has the class, length and every field the vector documents."""
    assert type(message) is _expected_class(vector)
    assert message.length == vector["body_len"]
    for name, documented in vector["fields"].items():
        if name in PROSE:
            continue
        assert name in FIELD_CHECKS, f"undocumented field kind {name!r}: teach the test"
        attribute, parse = FIELD_CHECKS[name]
        assert getattr(message, attribute) == parse(documented), (name, message)


@pytest.mark.parametrize("vector", GOOD, ids=lambda v: v["hex"][:20])
def test_vector_decodes_whole(vector: dict[str, Any]) -> None:
    assert_documented(decode_frame(_raw(vector)), vector)


@pytest.mark.parametrize("vector", GOOD, ids=lambda v: v["hex"][:20])
def test_vector_decodes_from_wire_form(vector: dict[str, Any]) -> None:
    assert_documented(decode_frame(_wire(vector)), vector)


@pytest.mark.parametrize("vector", GOOD, ids=lambda v: v["hex"][:20])
def test_vector_decodes_byte_by_byte(vector: dict[str, Any]) -> None:
    decoder = FrameDecoder()
    messages = [m for byte in _wire(vector) for m in decoder.feed(bytes((byte,)))]
    assert len(messages) == 1
    assert_documented(messages[0], vector)
    assert decoder.error_count == 0


@pytest.mark.parametrize("vector", GOOD, ids=lambda v: v["hex"][:20])
@pytest.mark.parametrize("noise", [b"", b"\xfe", b"\xf8\x00\x13", b"\xff\xff\xff\xfc"])
def test_vector_decodes_amid_noise_and_tail_bytes(vector: dict[str, Any], noise: bytes) -> None:
    decoder = FrameDecoder()
    wire = _wire(vector)
    messages = decoder.feed(noise + wire + b"\xfe" + noise + wire + noise)
    assert len(messages) == 2
    for message in messages:
        assert_documented(message, vector)
    assert decoder.error_count == 0


def test_every_vector_kind_is_covered() -> None:
    assert len(GOOD) == len(VECTORS) - 1
    assert len(BAD) == 1


@pytest.mark.parametrize("vector", BAD, ids=lambda v: v["hex"][:20])
def test_corrupt_vector_is_rejected_as_checksum_error(vector: dict[str, Any]) -> None:
    with pytest.raises(ChecksumError) as caught:
        decode_frame(_raw(vector))
    assert caught.value.kind is FrameErrorKind.CHECKSUM
    assert f"{int(vector['checksum_computed'], 16):02X}" in str(caught.value)


def test_corrupt_vector_in_stream_costs_nothing_else() -> None:
    """The bad frame is counted once; the frames around it still decode."""
    bad = frame(_raw(BAD[0])) + b"\xff"
    good = [_wire(v) for v in GOOD]
    errors: list[Exception] = []
    decoder = FrameDecoder(on_error=errors.append)
    stream = good[0] + bad + b"".join(good[1:])
    messages = decoder.feed(stream)
    assert len(messages) == len(GOOD)
    for message, vector in zip(messages, GOOD, strict=True):
        assert_documented(message, vector)
    assert decoder.errors[FrameErrorKind.CHECKSUM] == 1
    assert decoder.error_count == 1
    assert isinstance(errors[0], ChecksumError)


def test_whole_capture_as_one_stream_in_every_chunking() -> None:
    stream = b"".join(_wire(v) for v in GOOD)
    for size in (1, 2, 3, 7, 16, 64, len(stream)):
        decoder = FrameDecoder()
        chunks = [stream[start : start + size] for start in range(0, len(stream), size)]
        messages = [m for chunk in chunks for m in decoder.feed(chunk)]
        assert len(messages) == len(GOOD), size
        for message, vector in zip(messages, GOOD, strict=True):
            assert_documented(message, vector)
