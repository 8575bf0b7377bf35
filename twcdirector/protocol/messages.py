"""One frozen dataclass per Gen 2 message (SPEC §3), and their encoding and decoding.

Every message carries ``length``: its body length including the checksum (13-16 or 20). It
fixes the protocol version (:attr:`Message.protocol`) and makes ``decode(encode(m)) == m``
hold for every message. Amps are floats in amperes; the wire carries 0.01 A.

Packing is private. Bytes for the wire come only from :func:`encode` (controller side,
restricted to the allow-list of SPEC §8.4) and :func:`encode_reply` (peripheral side, for
simulators and tests).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import ClassVar, Self

from ..exceptions import ForbiddenMessageError, InvalidValueError, LengthError
from .codes import (
    ALLOWED_HEARTBEAT_COMMANDS,
    Commands,
    FrameType,
    HeartbeatCommand,
    PeripheralState,
    ProtocolVersion,
)
from .framing import add_checksum, frame

_NORMAL = frozenset({14, 16})
_REQUEST = frozenset({13, 14, 15, 16})  # SPEC §2.4: units answer 13- and 15-byte requests
_DATA_REPLY = frozenset({14, 16, 20})

# FC E1 / FB E2 / FD E2: <sender:2> <sign:1> <word:2>   (word: reserved, or max amps in FD E2)
_LINK_READY = struct.Struct(">HBH")
# FB E0: <sender:2> <receiver:2> <command:1> <amps:2> <aux:1>
_CONTROLLER_HEARTBEAT = struct.Struct(">HHBHB")
# FD E0: <sender:2> <receiver:2> <state:1> <max amps:2> <actual amps:2>
_PERIPHERAL_HEARTBEAT = struct.Struct(">HHBHH")
# FB xx / FC B1 / FC B2: <sender:2> <receiver:2>
_ADDRESSED = struct.Struct(">HH")
# FD EB: <sender:2> <lifetime kWh:4> <volts A:2> <volts B:2> <volts C:2>
_METER = struct.Struct(">HIHHH")
# FD EC: <sender:2> <a> <b> <c> <d>
_VERSION = struct.Struct(">HBBBB")
# FD EE/EF/F1/ED/B1/B2, FC 1D: <sender:2>
_SENDER = struct.Struct(">H")


_MAX_AMPS = 0xFFFF / 100


def _centi(amps: float) -> int:
    """Amperes to the wire's 0.01 A, checked to fit 16 bits."""
    # Checked before rounding: -0.004 A must not become 0 A, nor infinity overflow.
    if not (math.isfinite(amps) and 0 <= amps <= _MAX_AMPS):
        raise InvalidValueError(f"{amps!r} A does not fit the wire's 0-655.35 A")
    return round(amps * 100)


def _check_id(name: str, value: int) -> None:
    if not 0 <= value <= 0xFFFF:
        raise InvalidValueError(f"{name} {value!r} is not a 16-bit ID")


def _check_byte(name: str, value: int) -> None:
    if not 0 <= value <= 0xFF:
        raise InvalidValueError(f"{name} {value!r} is not a byte")


def _text(data: bytes) -> str:
    """NUL-terminated text; latin-1 keeps every byte, so nothing is lost."""
    end = data.find(0)
    return (data if end < 0 else data[:end]).decode("latin-1")


def _text_bytes(name: str, text: str, capacity: int) -> bytes:
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        raise InvalidValueError(f"{name} {text!r} is not single-byte text") from None
    if b"\0" in raw or len(raw) > capacity:
        raise InvalidValueError(f"{name} {text!r} does not fit {capacity} bytes")
    return raw


class Message:
    """Base of every decoded or encodable message."""

    __slots__ = ()

    FRAME_TYPE: ClassVar[int]
    COMMAND: ClassVar[int]
    LENGTHS: ClassVar[frozenset[int]] = _NORMAL

    sender: int
    length: int

    @property
    def protocol(self) -> ProtocolVersion:
        """Protocol version told by the length: 13/14 bytes are v1, longer are v2."""
        return ProtocolVersion.V1 if self.length <= 14 else ProtocolVersion.V2

    @property
    def command_name(self) -> str:
        """The command's :class:`Commands` name, also the name of its event."""
        return Commands(self.COMMAND).name

    def _pack(self) -> bytes:
        """Body without checksum, ``length - 1`` bytes."""
        raise NotImplementedError

    def _pad(self, head: bytes) -> bytes:
        if self.length not in self.LENGTHS:
            raise InvalidValueError(
                f"{type(self).__name__} cannot be {self.length} bytes long "
                f"(legal: {sorted(self.LENGTHS)})"
            )
        return bytes((self.FRAME_TYPE, self.COMMAND)) + head + bytes(self.length - 3 - len(head))

    @classmethod
    def _unpack(cls, body: bytes) -> Self:
        raise NotImplementedError


# --- link-ready (presence) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ControllerLinkReady(Message):
    sender: int
    sign: int
    #: Bytes 5-6; zero from real controllers, a current from some software ones (SPEC §7.1).
    reserved: int = 0
    length: int = 16

    def _pack(self) -> bytes:
        _check_id("sender", self.sender)
        _check_byte("sign", self.sign)
        _check_id("reserved", self.reserved)
        return self._pad(_LINK_READY.pack(self.sender, self.sign, self.reserved))

    @classmethod
    def _unpack(cls, body: bytes) -> Self:
        sender, sign, reserved = _LINK_READY.unpack_from(body, 2)
        return cls(sender, sign, reserved, len(body))


@dataclass(frozen=True, slots=True)
class ControllerLinkReady1(_ControllerLinkReady):
    """``FC E1``: a controller announces itself."""

    FRAME_TYPE = FrameType.COMMAND
    COMMAND = Commands.TWC_CONTROLLER


@dataclass(frozen=True, slots=True)
class ControllerLinkReady2(_ControllerLinkReady):
    """``FB E2``: a controller asks peripherals to announce themselves."""

    FRAME_TYPE = FrameType.REQUEST
    COMMAND = Commands.TWC_PERIPHERAL
    LENGTHS = _REQUEST


@dataclass(frozen=True, slots=True)
class PeripheralLinkReady(Message):
    """``FD E2``: a peripheral announces itself; its length tells its protocol version."""

    FRAME_TYPE = FrameType.REPLY
    COMMAND = Commands.TWC_PERIPHERAL

    sender: int
    sign: int
    #: The unit's hardware rating (80 A US, 32 A EU), not the installer's setting.
    max_amps: float
    length: int = 16

    def _pack(self) -> bytes:
        _check_id("sender", self.sender)
        _check_byte("sign", self.sign)
        return self._pad(_LINK_READY.pack(self.sender, self.sign, _centi(self.max_amps)))

    @classmethod
    def _unpack(cls, body: bytes) -> Self:
        sender, sign, centi = _LINK_READY.unpack_from(body, 2)
        return cls(sender, sign, centi / 100, len(body))


# --- heartbeats ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ControllerHeartbeat(Message):
    """``FB E0``: heartbeat to one peripheral with an embedded command and amps."""

    FRAME_TYPE = FrameType.REQUEST
    COMMAND = Commands.TWC_STATUS
    LENGTHS = _REQUEST

    sender: int
    receiver: int
    command: HeartbeatCommand | int = HeartbeatCommand.NO_CHANGE
    amps: float = 0.0
    #: Byte 9: the controller's own plug flag (DRACO) or "current delivered" (WSQ); 0 from us.
    aux: int = 0
    length: int = 16

    @property
    def error_bitmap(self) -> int | None:
        """For command 02, byte 7: which error the unit is told to blink."""
        if self.command != HeartbeatCommand.ERROR:
            return None
        return _centi(self.amps) >> 8

    def _pack(self) -> bytes:
        _check_id("sender", self.sender)
        _check_id("receiver", self.receiver)
        _check_byte("command", self.command)
        _check_byte("aux", self.aux)
        return self._pad(
            _CONTROLLER_HEARTBEAT.pack(
                self.sender, self.receiver, self.command, _centi(self.amps), self.aux
            )
        )

    @classmethod
    def _unpack(cls, body: bytes) -> Self:
        sender, receiver, command, centi, aux = _CONTROLLER_HEARTBEAT.unpack_from(body, 2)
        command = _HEARTBEAT_COMMANDS.get(command, command)
        return cls(sender, receiver, command, centi / 100, aux, len(body))


@dataclass(frozen=True, slots=True)
class PeripheralHeartbeat(Message):
    """``FD E0``: a peripheral's status in answer to a heartbeat."""

    FRAME_TYPE = FrameType.REPLY
    COMMAND = Commands.TWC_STATUS

    sender: int
    receiver: int
    #: A :class:`PeripheralState` when known; an unknown code is kept as a plain int.
    state: PeripheralState | int
    #: The limit the unit is currently allowed (echoes the controller's last value).
    max_amps: float
    #: What the car is drawing.
    actual_amps: float
    length: int = 16

    def _pack(self) -> bytes:
        _check_id("sender", self.sender)
        _check_id("receiver", self.receiver)
        _check_byte("state", self.state)
        return self._pad(
            _PERIPHERAL_HEARTBEAT.pack(
                self.sender,
                self.receiver,
                self.state,
                _centi(self.max_amps),
                _centi(self.actual_amps),
            )
        )

    @classmethod
    def _unpack(cls, body: bytes) -> Self:
        sender, receiver, state, max_centi, actual_centi = _PERIPHERAL_HEARTBEAT.unpack_from(
            body, 2
        )
        state = _STATES.get(state, state)
        return cls(sender, receiver, state, max_centi / 100, actual_centi / 100, len(body))


# --- data requests -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Addressed(Message):
    sender: int
    receiver: int
    length: int = 16

    def _pack(self) -> bytes:
        _check_id("sender", self.sender)
        _check_id("receiver", self.receiver)
        return self._pad(_ADDRESSED.pack(self.sender, self.receiver))

    @classmethod
    def _unpack(cls, body: bytes) -> Self:
        sender, receiver = _ADDRESSED.unpack_from(body, 2)
        return cls(sender, receiver, len(body))


@dataclass(frozen=True, slots=True)
class DataRequest(_Addressed):
    """Base of the ``FB EB``-``FB F1`` data requests to one peripheral."""

    FRAME_TYPE = FrameType.REQUEST
    LENGTHS = _REQUEST


@dataclass(frozen=True, slots=True)
class MeterRequest(DataRequest):
    """``FB EB``: ask for lifetime kWh and phase voltages."""

    COMMAND = Commands.TWC_METER


@dataclass(frozen=True, slots=True)
class VersionRequest(DataRequest):
    """``FB EC``: ask for the firmware version."""

    COMMAND = Commands.TWC_VERSION


@dataclass(frozen=True, slots=True)
class SerialRequest(DataRequest):
    """``FB ED``: ask for the serial number."""

    COMMAND = Commands.TWC_SERIAL


@dataclass(frozen=True, slots=True)
class VinHighRequest(DataRequest):
    """``FB EE``: ask for VIN characters 1-7."""

    COMMAND = Commands.TWC_VIN_HIGH


@dataclass(frozen=True, slots=True)
class VinMidRequest(DataRequest):
    """``FB EF``: ask for VIN characters 8-14."""

    COMMAND = Commands.TWC_VIN_MID


@dataclass(frozen=True, slots=True)
class VinLowRequest(DataRequest):
    """``FB F1``: ask for VIN characters 15-17."""

    COMMAND = Commands.TWC_VIN_LOW


# --- data replies --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MeterReply(Message):
    """``FD EB``: lifetime energy and phase voltages.

    ``extra`` holds the bytes after the voltages raw: one pad byte in the 16-byte form, five
    in the 20-byte form, whose first three some sources read as phase currents (disputed).
    """

    FRAME_TYPE = FrameType.REPLY
    COMMAND = Commands.TWC_METER
    LENGTHS = frozenset({16, 20})

    sender: int
    lifetime_kwh: int
    #: Phase A, B, C volts.
    voltages: tuple[int, int, int]
    length: int = 16
    extra: bytes = field(default=b"")

    def __post_init__(self) -> None:
        if not self.extra and self.length in self.LENGTHS:
            object.__setattr__(self, "extra", bytes(self.length - 15))

    @property
    def phase_currents(self) -> tuple[float, float, float] | None:
        """20-byte form only: bytes 14-16 read as 0.5 A units (disputed, SPEC §3.7)."""
        if self.length != 20:
            return None
        a, b, c = self.extra[:3]
        return (a / 2, b / 2, c / 2)

    def _pack(self) -> bytes:
        _check_id("sender", self.sender)
        if not 0 <= self.lifetime_kwh <= 0xFFFFFFFF:
            raise InvalidValueError(f"lifetime_kwh {self.lifetime_kwh!r} is not 32-bit")
        for volts in self.voltages:
            _check_id("volts", volts)
        if self.length in self.LENGTHS and len(self.extra) != self.length - 15:
            raise InvalidValueError(f"extra must be {self.length - 15} bytes")
        a, b, c = self.voltages
        return self._pad(_METER.pack(self.sender, self.lifetime_kwh, a, b, c) + self.extra)

    @classmethod
    def _unpack(cls, body: bytes) -> Self:
        sender, kwh, a, b, c = _METER.unpack_from(body, 2)
        return cls(sender, kwh, (a, b, c), len(body), body[14:-1])


@dataclass(frozen=True, slots=True)
class VersionReply(Message):
    """``FD EC``: firmware version ``a.b.c.d``."""

    FRAME_TYPE = FrameType.REPLY
    COMMAND = Commands.TWC_VERSION
    LENGTHS = _DATA_REPLY

    sender: int
    version: tuple[int, int, int, int]
    length: int = 16

    @property
    def version_string(self) -> str:
        """The version as printed by Tesla tools, e.g. ``4.5.3.2``."""
        return ".".join(str(part) for part in self.version)

    def _pack(self) -> bytes:
        _check_id("sender", self.sender)
        for part in self.version:
            _check_byte("version part", part)
        return self._pad(_VERSION.pack(self.sender, *self.version))

    @classmethod
    def _unpack(cls, body: bytes) -> Self:
        sender, a, b, c, d = _VERSION.unpack_from(body, 2)
        return cls(sender, (a, b, c, d), len(body))


@dataclass(frozen=True, slots=True)
class _TextReply(Message):
    LENGTHS = _DATA_REPLY

    sender: int
    text: str
    length: int = 20

    def _pack(self) -> bytes:
        _check_id("sender", self.sender)
        raw = _text_bytes(type(self).__name__, self.text, self.length - 5)
        return self._pad(_SENDER.pack(self.sender) + raw)

    @classmethod
    def _unpack(cls, body: bytes) -> Self:
        return cls(_SENDER.unpack_from(body, 2)[0], _text(body[4:-1]), len(body))


@dataclass(frozen=True, slots=True)
class SerialReply(_TextReply):
    """``FD ED``: the unit's serial number (the sticker's TSN), ``text``."""

    FRAME_TYPE = FrameType.REPLY
    COMMAND = Commands.TWC_SERIAL

    @property
    def serial(self) -> str:
        """The serial number."""
        return self.text


@dataclass(frozen=True, slots=True)
class VinReply(_TextReply):
    """Base of the three VIN fragment replies; an all-zero fragment is empty (no car)."""

    FRAME_TYPE = FrameType.REPLY

    @property
    def fragment(self) -> str:
        """The VIN characters carried, ``""`` when none."""
        return self.text

    @property
    def empty(self) -> bool:
        """No VIN: no car, a non-Tesla car, or VIN reporting disabled."""
        return not self.text


@dataclass(frozen=True, slots=True)
class VinHighReply(VinReply):
    """``FD EE``: VIN characters 1-7."""

    COMMAND = Commands.TWC_VIN_HIGH


@dataclass(frozen=True, slots=True)
class VinMidReply(VinReply):
    """``FD EF``: VIN characters 8-14."""

    COMMAND = Commands.TWC_VIN_MID


@dataclass(frozen=True, slots=True)
class VinLowReply(VinReply):
    """``FD F1``: VIN characters 15-17."""

    COMMAND = Commands.TWC_VIN_LOW


# --- contactors ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CloseContactors(_Addressed):
    """``FC B1``: close the contactors (start charging)."""

    FRAME_TYPE = FrameType.COMMAND
    COMMAND = Commands.TWC_CLOSE_CONTACTORS


@dataclass(frozen=True, slots=True)
class OpenContactors(_Addressed):
    """``FC B2``: open the contactors (stop charging; a Tesla usually needs re-plugging)."""

    FRAME_TYPE = FrameType.COMMAND
    COMMAND = Commands.TWC_OPEN_CONTACTORS


@dataclass(frozen=True, slots=True)
class _SenderOnly(Message):
    sender: int
    length: int = 16

    def _pack(self) -> bytes:
        _check_id("sender", self.sender)
        return self._pad(_SENDER.pack(self.sender))

    @classmethod
    def _unpack(cls, body: bytes) -> Self:
        return cls(_SENDER.unpack_from(body, 2)[0], len(body))


@dataclass(frozen=True, slots=True)
class CloseContactorsAck(_SenderOnly):
    """``FD B1``: a peripheral acknowledges ``FC B1``."""

    FRAME_TYPE = FrameType.REPLY
    COMMAND = Commands.TWC_CLOSE_CONTACTORS


@dataclass(frozen=True, slots=True)
class OpenContactorsAck(_SenderOnly):
    """``FD B2``: a peripheral acknowledges ``FC B2``."""

    FRAME_TYPE = FrameType.REPLY
    COMMAND = Commands.TWC_OPEN_CONTACTORS


@dataclass(frozen=True, slots=True)
class IdleBroadcast(_SenderOnly):
    """``FC 1D``: idle message of a lone controller (all zero). Decoded, never sent."""

    FRAME_TYPE = FrameType.COMMAND
    COMMAND = Commands.TWC_IDLE


@dataclass(frozen=True, slots=True)
class UnknownMessage(Message):
    """Any other code that passed its checksum; never dropped, never encoded."""

    frame_type: int
    command: int
    sender: int
    #: Body bytes after the sender ID, checksum excluded.
    data: bytes
    length: int

    @property
    def command_name(self) -> str:
        """``UNKNOWN_<type><command>`` in hex, e.g. ``UNKNOWN_FB19``."""
        return f"UNKNOWN_{self.frame_type:02X}{self.command:02X}"

    @classmethod
    def _unpack(cls, body: bytes) -> Self:
        return cls(body[0], body[1], _SENDER.unpack_from(body, 2)[0], body[4:-1], len(body))


_HEARTBEAT_COMMANDS = {int(member): member for member in HeartbeatCommand}
_STATES = {int(member): member for member in PeripheralState}

_MESSAGE_CLASSES: tuple[type[Message], ...] = (
    ControllerLinkReady1,
    ControllerLinkReady2,
    PeripheralLinkReady,
    ControllerHeartbeat,
    PeripheralHeartbeat,
    MeterRequest,
    VersionRequest,
    SerialRequest,
    VinHighRequest,
    VinMidRequest,
    VinLowRequest,
    MeterReply,
    VersionReply,
    SerialReply,
    VinHighReply,
    VinMidReply,
    VinLowReply,
    CloseContactors,
    OpenContactors,
    CloseContactorsAck,
    OpenContactorsAck,
    IdleBroadcast,
)
#: (frame type, command) -> message class.
MESSAGE_TYPES: dict[tuple[int, int], type[Message]] = {
    (cls.FRAME_TYPE, cls.COMMAND): cls for cls in _MESSAGE_CLASSES
}

#: The only messages a controller may put on the wire (SPEC §8.4).
CONTROLLER_ALLOW_LIST: frozenset[type[Message]] = frozenset(
    {
        ControllerLinkReady1,
        ControllerLinkReady2,
        ControllerHeartbeat,
        MeterRequest,
        VersionRequest,
        SerialRequest,
        VinHighRequest,
        VinMidRequest,
        VinLowRequest,
        CloseContactors,
        OpenContactors,
    }
)
_UNKNOWN_LENGTHS: dict[int, frozenset[int]] = {FrameType.REQUEST: _REQUEST | {20}}


def decode_body(body: bytes) -> Message:
    """Decode an unescaped body whose checksum has been verified."""
    cls = MESSAGE_TYPES.get((body[0], body[1]), UnknownMessage)
    legal = _UNKNOWN_LENGTHS.get(body[0], _DATA_REPLY) if cls is UnknownMessage else cls.LENGTHS
    if len(body) not in legal:
        raise LengthError(
            f"{body[0]:02X} {body[1]:02X} frame of {len(body)} bytes (legal: {sorted(legal)})",
            body,
        )
    return cls._unpack(body)


def encode_body(message: Message) -> bytes:
    """Unescaped body with checksum of a controller message on the allow-list."""
    if type(message) not in CONTROLLER_ALLOW_LIST:
        raise ForbiddenMessageError(f"{type(message).__name__} is not on the allow-list")
    if (
        isinstance(message, ControllerHeartbeat)
        and message.command not in ALLOWED_HEARTBEAT_COMMANDS
    ):
        raise ForbiddenMessageError(f"heartbeat command {message.command:02X} is never sent")
    return add_checksum(message._pack())


def encode(message: Message) -> bytes:
    """Wire bytes (``C0`` escaped-body ``C0``) of a controller message on the allow-list.

    Raises :class:`ForbiddenMessageError` for anything else (``FC 19``, ``FC 1A``, ``FB E8``,
    heartbeat command ``02``, unknown codes, peripheral messages) and
    :class:`InvalidValueError` for a field that cannot be encoded.
    """
    return frame(encode_body(message))


def encode_reply(message: Message) -> bytes:
    """Wire bytes of a peripheral (``FD``) message, for simulated units and tests."""
    if isinstance(message, UnknownMessage) or message.FRAME_TYPE != FrameType.REPLY:
        raise ForbiddenMessageError(f"{type(message).__name__} is not a peripheral message")
    return frame(add_checksum(message._pack()))
