"""Properties of the protocol package: round trips, totality, the allow-list."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import controller_messages, messages, peripheral_messages
from twcdirector.exceptions import ForbiddenMessageError, FramingError, InvalidValueError
from twcdirector.protocol import (
    ALLOWED_HEARTBEAT_COMMANDS,
    CONTROLLER_ALLOW_LIST,
    DANGEROUS_COMMANDS,
    ControllerHeartbeat,
    FrameDecoder,
    FrameType,
    Message,
    decode_frame,
    encode,
    encode_reply,
    escape,
    unescape,
)

ALLOWED_CODES = {(cls.FRAME_TYPE, cls.COMMAND) for cls in CONTROLLER_ALLOW_LIST}


def _encodable(message: Message) -> bool:
    return type(message) in CONTROLLER_ALLOW_LIST and (
        not isinstance(message, ControllerHeartbeat)
        or message.command in ALLOWED_HEARTBEAT_COMMANDS
    )


@given(controller_messages)
def test_controller_messages_round_trip_or_are_refused(message: Message) -> None:
    if _encodable(message):
        assert decode_frame(encode(message)) == message
    else:
        try:
            encode(message)
        except ForbiddenMessageError:
            return
        raise AssertionError(f"{message} was encoded")


@given(peripheral_messages)
def test_peripheral_messages_round_trip(message: Message) -> None:
    assert decode_frame(encode_reply(message)) == message


@given(peripheral_messages)
def test_peripheral_messages_never_pass_the_controller_encoder(message: Message) -> None:
    try:
        encode(message)
    except ForbiddenMessageError:
        return
    raise AssertionError(f"{message} was encoded as a controller message")


@given(messages)
def test_allow_list_holds_for_every_message(message: Message) -> None:
    """Whatever the encoder lets through is on the SPEC §8.4 allow-list."""
    try:
        wire = encode(message)
    except ForbiddenMessageError:
        return
    body = unescape(wire[1:-1])
    assert (body[0], body[1]) in ALLOWED_CODES
    assert body[1] not in DANGEROUS_COMMANDS
    assert body[0] != FrameType.REPLY
    if body[1] == 0xE0:
        assert body[6] in ALLOWED_HEARTBEAT_COMMANDS
    assert len(body) in (13, 14, 15, 16)


@given(st.binary(max_size=64))
def test_escape_round_trip(body: bytes) -> None:
    escaped = escape(body)
    assert b"\xc0" not in escaped
    assert unescape(escaped) == body


@given(st.lists(st.binary(max_size=48), max_size=30))
def test_decoder_is_total(chunks: list[bytes]) -> None:
    """Arbitrary bytes yield messages or counted errors, never an exception."""
    seen: list[FramingError] = []
    decoder = FrameDecoder(on_error=seen.append)
    decoded = [m for chunk in chunks for m in decoder.feed(chunk)]
    assert all(isinstance(m, Message) for m in decoded)
    assert decoder.error_count == len(seen)
    assert decoder.frames == len(decoded)
    assert decoder.buffered <= 40


@given(
    st.lists(messages.filter(_encodable) | peripheral_messages, min_size=1, max_size=12),
    st.lists(st.binary(max_size=6).filter(lambda b: b"\xc0" not in b), min_size=13, max_size=13),
    st.integers(1, 50),
)
def test_decoder_finds_every_frame_amid_noise_in_any_chunking(
    sent: list[Message], noise: list[bytes], chunk: int
) -> None:
    """Noise between frames (without a C0 of its own) never costs a frame."""
    wire = noise[0] + b"".join(
        (encode_reply(m) if m.FRAME_TYPE == FrameType.REPLY else encode(m)) + noise[i + 1]
        for i, m in enumerate(sent)
    )
    decoder = FrameDecoder()
    received = [m for i in range(0, len(wire), chunk) for m in decoder.feed(wire[i : i + chunk])]
    assert received == sent
    assert decoder.error_count == 0


@given(st.floats(allow_nan=True, allow_infinity=True).filter(lambda a: not 0 <= a <= 655.35))
def test_amps_outside_the_wire_range_are_refused(amps: float) -> None:
    try:
        encode(ControllerHeartbeat(0xF00D, 0x1839, 0x09, amps))
    except InvalidValueError:
        return
    raise AssertionError(f"{amps} A was encoded")


@given(st.lists(st.binary(max_size=48), max_size=30), st.lists(st.binary(max_size=48), max_size=3))
def test_feed_frames_gives_what_feed_gives_with_each_raw_frame(
    chunks: list[bytes], more: list[bytes]
) -> None:
    """Same messages and errors as feed(); each decoded raw frame decodes to its message,
    each rejected one carries its error, and every raw frame is bytes of the stream."""
    seen: list[FramingError] = []
    by_feed, by_frames = FrameDecoder(), FrameDecoder(on_error=seen.append)
    stream = b"".join(chunks + more)
    messages = [m for chunk in chunks + more for m in by_feed.feed(chunk)]
    frames = [f for chunk in chunks + more for f in by_frames.feed_frames(chunk)]
    assert [f.message for f in frames if f.message is not None] == messages
    assert [f.error for f in frames if f.message is None] == seen
    assert by_frames.errors == by_feed.errors
    for frame in frames:
        assert (frame.message is None) != (frame.error is None)
        assert frame.raw in stream
        if frame.message is not None:
            assert decode_frame(frame.raw) == frame.message


@given(
    st.lists(messages.filter(_encodable) | peripheral_messages, min_size=1, max_size=8),
    st.integers(1, 50),
)
def test_feed_frames_hands_back_exactly_the_bytes_sent(sent: list[Message], chunk: int) -> None:
    """In any chunking, the raw bytes of each frame are exactly its encoding, and a corrupted
    frame comes back as its corrupted bytes with a checksum error."""
    wire = [encode_reply(m) if m.FRAME_TYPE == FrameType.REPLY else encode(m) for m in sent]
    bad = bytearray(wire[0])
    bad[-2] ^= 0x01 if bad[-2] not in (0xC1, 0xDB, 0xDC, 0xDD) else 0x02
    stream = b"".join(wire) + bytes(bad) + wire[0]
    decoder = FrameDecoder()
    frames = [
        f for i in range(0, len(stream), chunk) for f in decoder.feed_frames(stream[i : i + chunk])
    ]
    assert [f.raw for f in frames] == [*wire, bytes(bad), wire[0]]
    assert [f.message for f in frames] == [*sent, None, sent[0]]
    assert frames[-2].error is not None
