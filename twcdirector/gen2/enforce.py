"""Holding the bus as found to its limits (SPEC §8.7; pure).

A unit may offer more than its ceiling without our doing: it kept what an earlier controller
gave it, or something raised it later. Every status report is checked; one above the ceiling
yields the command that lowers the unit, which the controller puts ahead of anything unsent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from ..events import LimitEnforced
from ..protocol.codes import PLUGGED_STATES, PeripheralState
from ..protocol.messages import PeripheralHeartbeat
from .commands import CHARGING_STATES, CommandKind, PendingCommand, heartbeat_command
from .device import PeripheralRecord
from .limits import CurrentLimits

#: Reports are in 0.01 A: anything within half of that is equal.
AMPS_TOLERANCE = 0.005


@dataclass(frozen=True, slots=True)
class Enforcement:
    """What to send a unit found above its ceiling, and the event that says so."""

    kind: CommandKind
    amps: float
    event: LimitEnforced


def over_ceiling(
    record: PeripheralRecord,
    report: PeripheralHeartbeat,
    limits: CurrentLimits,
    queued: Iterable[PendingCommand],
) -> Enforcement | None:
    """The lowering a report calls for, or ``None`` (within the ceiling, or already on its way).

    The ceiling is :meth:`CurrentLimits.enforced` (configured maximum, rating, grant). The
    unit is sent the ceiling in whole amps (less what a decrease may still give back), or 0 A
    when that is below the protocol minimum or no maximum is configured (then 0 A is the only
    current that may be sent): ``09`` while a car is connected, else ``05`` (protocol 1: 05).
    A unit we told 0 A that reports its minimum while drawing nothing is within (SPEC §5).
    """
    ceiling = limits.enforced(record)
    if ceiling is None or report.max_amps <= ceiling + AMPS_TOLERANCE:
        return None
    minimum = limits.minimum(record)
    if (
        record.granted_amps == 0  # we sent it 0 A: the minimum is how it answers
        and ceiling < minimum
        and report.max_amps <= minimum + AMPS_TOLERANCE
        and report.state not in CHARGING_STATES
        and report.state != PeripheralState.STARTING
    ):
        return None
    if any(
        command.enforcing or (command.from_sharing and command.amps <= ceiling)
        for command in queued
        if command.kind.carries_amps
    ):
        return None  # a lower current is on its way already
    amps = 0.0
    if limits.max_current is not None:
        amps = float(math.floor(ceiling - record.owed_amps(record.last_heard)))
        if amps < minimum:
            amps = 0.0
    plugged = record.state in PLUGGED_STATES or record.car_connected
    kind = CommandKind.SET_SESSION_CURRENT if plugged else CommandKind.SET_DEFAULT_CURRENT
    wire = heartbeat_command(kind, record.protocol)
    assert wire is not None
    event = LimitEnforced(record.id_hex, report.max_amps, amps, ceiling, int(wire))
    return Enforcement(kind, amps, event)
