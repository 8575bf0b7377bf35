"""One exchange on the half-duplex bus: why a frame is sent, what ends its exchange, how long
its bytes take, and the last safety check before any frame goes out (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..exceptions import UsageError
from ..protocol.codes import FrameType, HeartbeatCommand
from ..protocol.messages import (
    ControllerHeartbeat,
    DataRequest,
    Message,
    MeterReply,
    SerialReply,
    UnknownMessage,
    VersionReply,
    VinHighReply,
    VinLowReply,
    VinMidReply,
    encode,
)
from .commands import PendingCommand, default_deferred
from .config import DirectorConfig
from .device import PeripheralRecord
from .limits import CurrentLimits
from .schedule import DATA_REQUESTS
from .tickets import CommandQueues

#: Bits per byte at 8N1: start, 8 data, stop.
BITS_PER_BYTE = 10
#: The reply that ends each data request's exchange.
REPLY_TO: dict[type[DataRequest], type[Message]] = dict(
    zip(
        DATA_REQUESTS,
        (MeterReply, VersionReply, SerialReply, VinHighReply, VinMidReply, VinLowReply),
        strict=True,
    )
)


class Purpose(StrEnum):
    """Why a frame is sent."""

    STARTUP = "startup"
    HEARTBEAT = "heartbeat"
    REQUEST = "request"
    COMMAND = "command"


@dataclass(frozen=True, slots=True)
class Transmission:
    """A frame to write now: ``data`` is the complete wire frame."""

    message: Message
    data: bytes
    purpose: Purpose
    device_id: int | None


@dataclass(slots=True)
class Exchange:
    """The exchange holding the bus: whose reply ends it, and when it times out."""

    device_id: int | None
    reply: type[Message] | None
    deadline: float
    sent: Message
    command: PendingCommand | None


def frame_time(size: int, baudrate: int) -> float:
    """Seconds ``size`` bytes take on the wire at ``baudrate`` (8N1)."""
    return size * BITS_PER_BYTE / baudrate


def exchange_time(config: DirectorConfig, length: int = 16) -> float:
    """Seconds a request of body ``length`` holds the bus at worst: the frame (with its two
    ``C0``), the reply timeout and the inter-frame gap (SPEC §8.3)."""
    frame = frame_time(length + 2, config.baudrate)
    return frame + config.reply_timeout + config.inter_frame_gap


def from_controller(message: Message) -> bool:
    """Requests and commands come from a controller (us, an echo of us, or another one)."""
    kind = message.frame_type if isinstance(message, UnknownMessage) else message.FRAME_TYPE
    return kind in _CONTROLLER_TYPES


def guard(
    message: Message,
    record: PeripheralRecord | None,
    now: float,
    limits: CurrentLimits,
    queues: CommandQueues,
    *,
    command: PendingCommand | None = None,
) -> bytes:
    """Belt and braces: re-check every current against the limits right before sending, and
    return the frame.

    An increase is judged by the same worst case as at submit time
    (:meth:`CommandQueues.worst_case`, less ``command``, the one being sent): every increase
    queued or sent and not yet shown by a report may have taken effect, and every decrease
    may still give its 2 A back.

    Raises :class:`~twcdirector.ForbiddenMessageError` for a message off the allow-list,
    :class:`~twcdirector.CurrentLimitError` for a current past a limit and
    :class:`~twcdirector.UsageError` for a heartbeat without a known unit.
    """
    data = encode(message)  # the allow-list (ForbiddenMessageError)
    if isinstance(message, ControllerHeartbeat):
        if record is None:
            raise UsageError("a heartbeat needs a known peripheral")
        owed = record.owed_amps(now)
        if message.command in _AMPS_COMMANDS:
            limits.check(message.amps, record, owed=owed)
            if not (
                message.command == HeartbeatCommand.SET_DEFAULT_CURRENT
                and default_deferred(record.protocol, record.state)
            ):
                record.granted_amps = message.amps
        elif message.amps != 0:
            raise UsageError(f"heartbeat command {message.command:02X} carries no current")
        if message.command == HeartbeatCommand.INCREASE_CURRENT:
            limits.check_increase(queues.worst_case(record, now, exclude=command), record)
    return data


def refusal(message: Message, error: Exception) -> str:
    """The log line when the final guard refuses a frame, in plain words."""
    text = str(error)
    if text.startswith("refusing"):
        return text
    if isinstance(message, ControllerHeartbeat):
        name = HeartbeatCommand(message.command).name.lower().replace("_", " ")
        what = f"{name} {message.amps:g} A" if message.command in _AMPS_COMMANDS else name
    else:
        what = type(message).__name__
    receiver = getattr(message, "receiver", None)
    to = "" if receiver is None else f" to {receiver:04X}"
    return f"refusing to send {what}{to}: {text}"


_CONTROLLER_TYPES = frozenset({FrameType.REQUEST, FrameType.COMMAND})
_AMPS_COMMANDS = frozenset(
    {
        HeartbeatCommand.SET_DEFAULT_CURRENT,
        HeartbeatCommand.ACK_CHARGE_START,
        HeartbeatCommand.SET_SESSION_CURRENT,
    }
)
