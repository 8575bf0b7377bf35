"""User commands to a peripheral (SPEC §8.4): what goes on the wire and what confirms it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from ..exceptions import NotApplicableError
from ..protocol.codes import (
    MINIMUM_AMPS,
    HeartbeatCommand,
    PeripheralState,
    ProtocolVersion,
    body_length,
    state_name,
)
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
    def own_frame(self) -> bool:
        """Contactor commands are frames of their own (``FC B1``/``FC B2``, SPEC §3.11), not
        heartbeat commands."""
        return self in _OWN_FRAME

    @property
    def relative(self) -> bool:
        """Increase and decrease change the limit by a step: sending one twice applies twice."""
        return self in _V2_ONLY


_WITH_AMPS = frozenset({CommandKind.SET_DEFAULT_CURRENT, CommandKind.SET_SESSION_CURRENT})
_V2_ONLY = frozenset({CommandKind.INCREASE_CURRENT, CommandKind.DECREASE_CURRENT})
_OWN_FRAME = frozenset({CommandKind.OPEN_CONTACTORS, CommandKind.CLOSE_CONTACTORS})

#: Reply states that echo a heartbeat command (SPEC §3.5).
_ECHO_STATE = {
    HeartbeatCommand.SET_SESSION_CURRENT: PeripheralState.LIMIT_SET,
    HeartbeatCommand.INCREASE_CURRENT: PeripheralState.RAISING,
    HeartbeatCommand.DECREASE_CURRENT: PeripheralState.LOWERING,
}


#: States of a unit whose car draws (or is about to draw again) current: the only ones in
#: which increase (06) and decrease (07) act (SPEC §3.4).
CHARGING_STATES = frozenset(
    {
        PeripheralState.CHARGING,
        PeripheralState.RAISING,
        PeripheralState.LOWERING,
        PeripheralState.LIMIT_SET,
        PeripheralState.ADJUSTMENT_COMPLETE,
    }
)
#: States in which a protocol-2 unit ignores a default current (05) until the next plug-in:
#: a car is connected and past negotiation (SPEC §5 "ignored once charging"; §8.7).
DEFAULT_DEFERRED_STATES = CHARGING_STATES | {PeripheralState.PLUGGED_DO_NOT_CHARGE}
#: States in which a report of the protocol minimum answers 0 A (SPEC §5, vector 9).
_RESTING_STATES = frozenset(
    {PeripheralState.READY, PeripheralState.PLUGGED_DO_NOT_CHARGE, PeripheralState.PLUGGED_READY}
)
#: Outcome notes (the ``reason`` of a confirmed :class:`~twcdirector.events.CommandOutcome`).
HOLDS_AT_MINIMUM = "the unit holds at its minimum"
APPLIES_AT_PLUG_IN = "applies from the next plug-in (a car is connected)"
#: The outcome of a relative command no report showed in time: it is never sent again.
NOT_SHOWN = "sent once; the unit's reports have not shown it"


def default_deferred(protocol: ProtocolVersion, state: int | None) -> bool:
    """A default current (05) sent now would only apply at the next plug-in (SPEC §5)."""
    return protocol is ProtocolVersion.V2 and state in DEFAULT_DEFERRED_STATES


def check_applicable(kind: CommandKind, state: int | None, id_hex: str) -> None:
    """Raise :class:`~twcdirector.NotApplicableError` for an increase or decrease to a unit
    that is not charging: 06/07 act only on a charging car (SPEC §3.4, §8.7)."""
    if kind.relative and state not in CHARGING_STATES:
        name = "no report yet" if state is None else state_name(state)
        raise NotApplicableError(f"{kind} needs a car charging; {id_hex} is not charging ({name})")


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
    #: Sent by capacity sharing, not by a caller; a newer share replaces it while queued.
    from_sharing: bool = False
    #: Sent by the controller itself to lower a unit found above its ceiling (SPEC §8.7).
    enforcing: bool = False
    #: When it last went out; a re-send waits a heartbeat interval (SPEC §8.7).
    last_sent: float = -math.inf
    #: Sent (a relative command once, an absolute one after its last attempt): when its
    #: outcome is given if no report has shown it by then (SPEC §8.7).
    settle_by: float = math.inf
    #: Its outcome was given; an increase still counts in the worst case until shown.
    outcome_given: bool = False
    #: An increase sent: the unit's max once it and every increase before it applied (A).
    level: float = 0.0
    #: Why its last attempt went unconfirmed (its failure reason once the grace is over).
    failure: str = ""

    def resend_at(self, interval: float) -> float:
        """When it may go (again): at once, or ``interval`` (the unit's heartbeat interval)
        after its last attempt, as real controllers repeat once per heartbeat (SPEC §8.7)."""
        return -math.inf if self.attempts == 0 else self.last_sent + interval

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

    def confirmed_by(
        self, reply: Message, sent: Message, protocol: ProtocolVersion = ProtocolVersion.V2
    ) -> bool:
        """SPEC §8.4, §8.7: the unit's reply reflects the command."""
        return self.settled_by(reply, sent, protocol) is not None

    def settled_by(self, reply: Message, sent: Message, protocol: ProtocolVersion) -> str | None:
        """``None`` if ``reply`` does not settle the command, else the outcome's note ("" when
        the reply simply reflects it).

        A 0 A current is settled by a report of the unit's minimum in a state that draws
        nothing (real units answer 0 A so, SPEC §5, vector 9); a default current to a
        protocol-2 unit with a car connected by any report (it applies at the next plug-in).
        """
        if self.kind is CommandKind.CLOSE_CONTACTORS:
            return "" if isinstance(reply, CloseContactorsAck) else None
        if self.kind is CommandKind.OPEN_CONTACTORS:
            return "" if isinstance(reply, OpenContactorsAck) else None
        if not isinstance(reply, PeripheralHeartbeat) or not isinstance(sent, ControllerHeartbeat):
            return None
        at_minimum = (
            self.kind.carries_amps
            and sent.amps == 0
            and 0.005 < reply.max_amps <= MINIMUM_AMPS[protocol] + 0.005
        )
        echo = _ECHO_STATE.get(HeartbeatCommand(sent.command))
        if echo is not None and reply.state == echo:
            return HOLDS_AT_MINIMUM if at_minimum else ""
        if not self.kind.carries_amps:
            return None
        if math.isclose(reply.max_amps, sent.amps, abs_tol=0.005):
            return ""
        if at_minimum and reply.state in _RESTING_STATES:
            return HOLDS_AT_MINIMUM
        if sent.command == HeartbeatCommand.SET_DEFAULT_CURRENT and default_deferred(
            protocol, reply.state
        ):
            return APPLIES_AT_PLUG_IN
        return None
