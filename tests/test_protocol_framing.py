"""Framing, error kinds and the encoder against SPEC §2 and the constructed frames of §6."""

from __future__ import annotations

import pytest

from twcdirector.exceptions import (
    ChecksumError,
    EscapeError,
    ForbiddenMessageError,
    FrameErrorKind,
    InvalidValueError,
    LengthError,
)
from twcdirector.protocol import (
    CloseContactors,
    ControllerHeartbeat,
    ControllerLinkReady1,
    ControllerLinkReady2,
    FrameDecoder,
    HeartbeatCommand,
    IdleBroadcast,
    MeterReply,
    MeterRequest,
    OpenContactors,
    PeripheralHeartbeat,
    PeripheralState,
    SerialReply,
    SerialRequest,
    UnknownMessage,
    VersionReply,
    VersionRequest,
    VinLowReply,
    add_checksum,
    body_length,
    checksum,
    decode_frame,
    encode,
    encode_reply,
    escape,
    frame,
    state_name,
    unescape,
)

H = bytes.fromhex


def test_checksum_skips_the_type_byte() -> None:
    # TMC page-3: e2+03+5d+5f = 1a1 -> a1
    assert checksum(H("fbe2035d5f")) == 0xA1


def test_spec_escaping_example() -> None:
    body = H("fbe0c0db1839000000000000000000cc")
    assert escape(body) == H("fbe0dbdcdbdd1839000000000000000000cc")
    assert frame(body) == H("c0fbe0dbdcdbdd1839000000000000000000ccc0")


def test_checksum_byte_is_escaped_too() -> None:
    # sender 00 C0 makes the checksum C0 (E1 + 00 + C0 + sign 1F = 1C0).
    wire = encode(ControllerLinkReady1(0x00C0, 0x1F, length=14))
    assert wire.endswith(H("dbdcc0"))
    assert decode_frame(wire) == ControllerLinkReady1(0x00C0, 0x1F, length=14)


# SPEC §6: constructed protocol-2 frames from controller 7777 to peripheral 1839.
CONSTRUCTED = [
    (MeterRequest(0x7777, 0x1839), "fbeb77771839" + "00" * 9 + "2a"),
    (VersionRequest(0x7777, 0x1839), "fbec77771839" + "00" * 9 + "2b"),
    (SerialRequest(0x7777, 0x1839), "fbed77771839" + "00" * 9 + "2c"),
    (CloseContactors(0x7777, 0x1839), "fcb177771839" + "00" * 9 + "f0"),
    (OpenContactors(0x7777, 0x1839), "fcb277771839" + "00" * 9 + "f1"),
    (
        ControllerHeartbeat(0x7777, 0x1839, HeartbeatCommand.SET_SESSION_CURRENT, 16.0),
        "fbe0777718390906400000000000006e",
    ),
    (
        ControllerHeartbeat(0x7777, 0x1839, HeartbeatCommand.SET_DEFAULT_CURRENT, 32.0),
        "fbe07777183905" + "0c80" + "00" * 6 + "b0",
    ),
    (
        ControllerHeartbeat(0x7777, 0x1839, HeartbeatCommand.INCREASE_CURRENT),
        "fbe07777183906" + "00" * 8 + "25",
    ),
    (
        ControllerHeartbeat(0x7777, 0x1839, HeartbeatCommand.DECREASE_CURRENT),
        "fbe07777183907" + "00" * 8 + "26",
    ),
]


@pytest.mark.parametrize(("message", "body"), CONSTRUCTED)
def test_encoder_matches_spec_constructed_frames(message: object, body: str) -> None:
    assert encode(message) == b"\xc0" + H(body) + b"\xc0"  # type: ignore[arg-type]


def test_encoder_sizes_to_protocol_version() -> None:
    v1 = encode(ControllerHeartbeat(0x7777, 0x2019, length=body_length(1)))
    v2 = encode(ControllerHeartbeat(0x7777, 0x2019, length=body_length(2)))
    assert len(unescape(v1[1:-1])) == 14
    assert len(unescape(v2[1:-1])) == 16
    # TWCManager's real heartbeat (vector 18) is exactly our v2 encoding.
    assert v2 == H("c0fbe07777201900000000000000000007c0")


@pytest.mark.parametrize(
    "message",
    [
        ControllerHeartbeat(0xF00D, 0x1839, HeartbeatCommand.ERROR, 0.0),
        ControllerHeartbeat(0xF00D, 0x1839, 0x03, 0.0),
        IdleBroadcast(0xF00D),
        UnknownMessage(0xFC, 0x19, 0xF00D, bytes(10), 16),
        UnknownMessage(0xFC, 0x1A, 0xF00D, bytes(10), 16),
        UnknownMessage(0xFB, 0xE8, 0xF00D, bytes(10), 16),
        PeripheralHeartbeat(0x1839, 0xF00D, PeripheralState.READY, 0, 0),
    ],
)
def test_encoder_refuses_everything_off_the_allow_list(message: object) -> None:
    with pytest.raises(ForbiddenMessageError):
        encode(message)  # type: ignore[arg-type]


def test_reply_encoder_refuses_controller_messages() -> None:
    with pytest.raises(ForbiddenMessageError):
        encode_reply(ControllerHeartbeat(0xF00D, 0x1839))
    with pytest.raises(ForbiddenMessageError):
        encode_reply(UnknownMessage(0xFD, 0x19, 0x1839, bytes(11), 16))


@pytest.mark.parametrize(
    "message",
    [
        ControllerHeartbeat(0x1_0000, 0x1839),
        ControllerHeartbeat(0xF00D, 0x1839, HeartbeatCommand.SET_SESSION_CURRENT, 655.36),
        ControllerHeartbeat(0xF00D, 0x1839, HeartbeatCommand.SET_SESSION_CURRENT, float("nan")),
        ControllerHeartbeat(0xF00D, 0x1839, length=17),
        ControllerLinkReady1(0xF00D, 256),
        MeterRequest(0xF00D, 0x1839, length=20),
    ],
)
def test_encoder_refuses_values_that_do_not_fit(message: object) -> None:
    with pytest.raises(InvalidValueError):
        encode(message)  # type: ignore[arg-type]


def test_reply_text_must_fit_and_be_single_byte() -> None:
    with pytest.raises(InvalidValueError):
        encode_reply(SerialReply(0x1839, "A" * 16))
    with pytest.raises(InvalidValueError):
        encode_reply(VinLowReply(0x1839, "€"))


def test_v1_meter_reply_cannot_be_14_bytes() -> None:
    body = add_checksum(H("fdeb1839") + bytes(9))
    with pytest.raises(LengthError):
        decode_frame(body)


def test_decode_frame_errors_by_kind() -> None:
    good = H("fde0201977770802580210000000007b")
    with pytest.raises(ChecksumError):
        decode_frame(good[:-1] + b"\x00")
    with pytest.raises(EscapeError):
        decode_frame(b"\xc0" + good[:5] + b"\xdb\x01" + good[5:] + b"\xc0")
    with pytest.raises(LengthError):
        decode_frame(add_checksum(good[:-4]))  # 14 bytes is a v1 reply; 13 is no reply at all
    with pytest.raises(LengthError):
        decode_frame(b"\xc0" + good + b"\xc0\xfe\xfe")
    with pytest.raises(LengthError):
        decode_frame(b"\xc0" + good)
    with pytest.raises(LengthError):
        decode_frame(b"\x01\x02")


def test_requests_of_13_and_15_bytes_are_accepted() -> None:
    for length in (13, 14, 15, 16):
        body = add_checksum(H("fbeb77771839") + bytes(length - 7))
        assert decode_frame(body) == MeterRequest(0x7777, 0x1839, length)


def test_unknown_codes_that_pass_the_checksum_are_kept() -> None:
    body = add_checksum(H("fc1977771839") + bytes(9))
    message = decode_frame(body)
    assert message == UnknownMessage(0xFC, 0x19, 0x7777, H("1839") + bytes(9), 16)
    assert message.command_name == "UNKNOWN_FC19"
    assert message.protocol == 2


def test_unknown_states_and_commands_are_kept_not_errors() -> None:
    status = decode_frame(add_checksum(H("fde018397777") + b"\x42" + bytes(8)))
    assert isinstance(status, PeripheralHeartbeat)
    assert status.state == 0x42
    assert state_name(status.state) == "UNKNOWN_42"
    assert state_name(PeripheralState.STARTING) == "STARTING"
    beat = decode_frame(add_checksum(H("fbe077771839") + b"\x02\x05" + bytes(7)))
    assert isinstance(beat, ControllerHeartbeat)
    assert beat.command == HeartbeatCommand.ERROR
    assert beat.error_bitmap == 0x05


def test_meter_reply_forms() -> None:
    short = MeterReply(0x1839, 56, (230, 241, 232))
    assert short.extra == b"\x00"
    assert short.phase_currents is None
    long = MeterReply(0x1839, 924, (244, 240, 245), 20, H("1e1f2000 00".replace(" ", "")))
    assert decode_frame(encode_reply(long)) == long
    assert long.phase_currents == (15.0, 15.5, 16.0)


def test_version_and_text_replies() -> None:
    version = VersionReply(0x6090, (4, 5, 3, 2))
    assert version.version_string == "4.5.3.2"
    serial = decode_frame(encode_reply(SerialReply(0x1839, "A18B0001234")))
    assert isinstance(serial, SerialReply)
    assert serial.serial == "A18B0001234"
    empty = decode_frame(encode_reply(VinLowReply(0x1839, "")))
    assert isinstance(empty, VinLowReply)
    assert empty.empty


def test_link_ready_2_is_a_request_frame() -> None:
    assert encode(ControllerLinkReady2(0xF00D, 0x42))[1] == 0xFB


def test_decoder_back_to_back_frames_sharing_no_delimiter() -> None:
    one = encode(MeterRequest(0xF00D, 0x1839))
    # Some senders close and open with a single C0.
    stream = one[:-1] + one[:-1] + one + b"\xfe" + one
    for size in range(1, len(stream) + 1):
        decoder = FrameDecoder()
        got = [m for i in range(0, len(stream), size) for m in decoder.feed(stream[i : i + size])]
        assert got == [MeterRequest(0xF00D, 0x1839)] * 4, size
        assert decoder.error_count == 0


def test_decoder_overrun_is_counted_and_recovers() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"\xc0" + b"\x01" * 100) == []
    assert decoder.errors[FrameErrorKind.OVERRUN] == 1
    assert decoder.buffered == 0
    good = encode(MeterRequest(0xF00D, 0x1839))
    assert decoder.feed(b"\xc0\xfe" + good) == [MeterRequest(0xF00D, 0x1839)]
    assert decoder.errors[FrameErrorKind.OVERRUN] == 1


def test_decoder_reset_drops_a_partial_frame() -> None:
    decoder = FrameDecoder()
    good = encode(MeterRequest(0xF00D, 0x1839))
    decoder.feed(good[:8])
    decoder.reset()
    assert decoder.feed(good[8:] + good) == [MeterRequest(0xF00D, 0x1839)]
