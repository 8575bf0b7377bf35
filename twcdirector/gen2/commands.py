"""User commands to a peripheral (SPEC §8.4): what goes on the wire and what confirms it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from ..protocol.codes import HeartbeatCommand, PeripheralState, ProtocolVersion, body_length
from ..protocol.messages import (
    CloseContactors,
    CloseContactorsAck,
    ControllerHeartbeat,
    Message,
    OpenContactors,
    OpenContactorsAck,
    PeripheralHeartbeat,
)


class CommandKind(StrEnum):
    """The six commands of the public API."""

    SET_DEFAULT_CURRENT = "set_default_current"
    SET_SESSION_CURRENT = "set_session_current"
    INCREASE_CURRENT = "increase_current"
    DECREASE_CURRENT = "decrease_current"
    OPEN_CONTACTORS = "open_contactors"
    CLOSE_CONTACTORS = "close_contactors"

    @property
    def carries_amps(self) -> bool:
        """Set-current commands carry a current."""
        return self in _WITH_AMPS

    @property
    def v2_only(self) -> bool:
        """Increase and decrease exist only in protocol 2 (SPEC §3.4)."""
        return self in _V2_ONLY

    @property
    def relative(self) -> bool:
        """Increase and decrease change the limit by a step: sending one twice applies twice."""
        return self in _V2_ONLY


_WITH_AMPS = frozenset({CommandKind.SET_DEFAULT_CURRENT, CommandKind.SET_SESSION_CURRENT})
_V2_ONLY = frozenset({CommandKind.INCREASE_CURRENT, CommandKind.DECREASE_CURRENT})

#: Reply states that echo a heartbeat command (SPEC §3.5).
_ECHO_STATE = {
    HeartbeatCommand.SET_SESSION_CURRENT: PeripheralState.LIMIT_SET,
    HeartbeatCommand.INCREASE_CURRENT: PeripheralState.RAISING,
    HeartbeatCommand.DECREASE_CURRENT: PeripheralState.LOWERING,
}


def heartbeat_command(kind: CommandKind, protocol: ProtocolVersion) -> HeartbeatCommand | None:
    """The heartbeat command byte for ``kind``; ``None`` for the contactor commands."""
    if kind is CommandKind.SET_DEFAULT_CURRENT:
        return HeartbeatCommand.SET_DEFAULT_CURRENT
    if kind is CommandKind.SET_SESSION_CURRENT:
        # Protocol 1 has only 05, which always applies (SPEC §5).
        if protocol is ProtocolVersion.V1:
            return HeartbeatCommand.SET_DEFAULT_CURRENT
        return HeartbeatCommand.SET_SESSION_CURRENT
    if kind is CommandKind.INCREASE_CURRENT:
        return HeartbeatCommand.INCREASE_CURRENT
    if kind is CommandKind.DECREASE_CURRENT:
        return HeartbeatCommand.DECREASE_CURRENT
    return None


@dataclass(slots=True)
class PendingCommand:
    """A command queued for, or in flight to, one peripheral."""

    ticket: int
    kind: CommandKind
    device_id: int
    amps: float
    attempts: int = 0
    #: A relative command whose reply was lost: the unit's next report must tell whether it
    #: took effect before it may be sent again.
    awaiting_report: bool = False
    #: Sent by capacity sharing, not by a caller; a newer share replaces it while queued.
    from_sharing: bool = False

    def message(self, sender: int, protocol: ProtocolVersion) -> Message:
        """The frame that carries it, at the unit's protocol length."""
        length = body_length(protocol)
        if self.kind is CommandKind.CLOSE_CONTACTORS:
            return CloseContactors(sender, self.device_id, length)
        if self.kind is CommandKind.OPEN_CONTACTORS:
            return OpenContactors(sender, self.device_id, length)
        command = heartbeat_command(self.kind, protocol)
        assert command is not None
        return ControllerHeartbeat(sender, self.device_id, command, self.amps, length=length)

    def expected_reply(self) -> type[Message]:
        """The reply that ends its exchange."""
        if self.kind is CommandKind.CLOSE_CONTACTORS:
            return CloseContactorsAck
        if self.kind is CommandKind.OPEN_CONTACTORS:
            return OpenContactorsAck
        return PeripheralHeartbeat

    def confirmed_by(self, reply: Message, sent: Message) -> bool:
        """SPEC §8.4: the unit's reply reflects the command."""
        if self.kind is CommandKind.CLOSE_CONTACTORS:
            return isinstance(reply, CloseContactorsAck)
        if self.kind is CommandKind.OPEN_CONTACTORS:
            return isinstance(reply, OpenContactorsAck)
        if not isinstance(reply, PeripheralHeartbeat) or not isinstance(sent, ControllerHeartbeat):
            return False
        echo = _ECHO_STATE.get(HeartbeatCommand(sent.command))
        if echo is not None and reply.state == echo:
            return True
        return bool(
            self.kind.carries_amps and math.isclose(reply.max_amps, sent.amps, abs_tol=0.005)
        )
