"""The command queues of the controller core: one per unit, and the tickets that name each
command from the call that queued it to its confirmation or failure (pure, sans-I/O).

A command is queued, sent (possibly several times), then confirmed by the unit's reply or
failed for a reason; either way exactly one ``TWC_COMMAND_CONFIRMED`` or ``TWC_COMMAND_FAILED``
notice carries its ticket back to the caller.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

from ..events import COMMAND_CONFIRMED, COMMAND_FAILED, CommandOutcome, LimitEnforced, format_id
from ..protocol.codes import ProtocolVersion
from ..protocol.messages import Message, PeripheralHeartbeat
from .commands import CommandKind, PendingCommand
from .device import PeripheralRecord
from .enforce import over_ceiling
from .limits import CurrentLimits

_LOGGER = logging.getLogger(__name__)

#: ``notify(event, payload, device_id, ticket)``: hand a notice to the core.
Notify = Callable[[str, object, int | None, int | None], None]


class CommandQueues:
    """Every unit's queue of pending commands, and ticket numbering."""

    def __init__(self, records: dict[int, PeripheralRecord], retries: int, notify: Notify) -> None:
        self._records = records
        self._retries = retries
        self._notify = notify
        self._queues: dict[int, deque[PendingCommand]] = {}
        self._next_ticket = 1

    def ticket(self) -> int:
        """A new ticket number (never reused)."""
        ticket = self._next_ticket
        self._next_ticket += 1
        return ticket

    def add_unit(self, device_id: int) -> None:
        """A unit was discovered: give it an empty queue."""
        self._queues[device_id] = deque()

    def remove_unit(self, device_id: int) -> None:
        """A unit is forgotten (its queue must be empty)."""
        del self._queues[device_id]

    def queue(self, device_id: int) -> deque[PendingCommand]:
        """A known unit's queue; its head is the command in flight, if any."""
        return self._queues[device_id]

    def get(self, device_id: int) -> deque[PendingCommand] | None:
        """A unit's queue, or ``None`` for a unit not known."""
        return self._queues.get(device_id)

    def pending(self, device_id: int) -> int:
        """Commands queued or in flight for a unit."""
        queue = self._queues.get(device_id)
        return len(queue) if queue else 0

    def submit(
        self,
        record: PeripheralRecord,
        kind: CommandKind,
        amps: float,
        now: float,
        *,
        limits: CurrentLimits,
        link_up: bool,
    ) -> int:
        """Check a caller's command against the unit's limits and queue it; return its ticket.

        Raises :class:`~twcdirector.CurrentLimitError` (nothing is queued) for a current, or an
        increase, past the unit's limits.
        """
        if kind.carries_amps:
            amps = limits.check(amps, record, owed=record.owed_amps(now))
        else:
            amps = 0.0
            if kind is CommandKind.INCREASE_CURRENT:
                limits.check_increase(
                    record.allowed_amps,
                    record,
                    in_flight=record.unconfirmed_raise,
                    owed=record.owed_amps(now),
                    granted=self.worst_granted(record),
                )
        return self.put(PendingCommand(self.ticket(), kind, record.device_id, amps), link_up)

    def worst_granted(self, record: PeripheralRecord) -> float:
        """The highest current a unit may have been given that its reports may not show yet:
        the last one sent and every one still queued or unconfirmed (SPEC §8.7)."""
        queued = (c.amps for c in self._queues[record.device_id] if c.kind.carries_amps)
        return max(record.granted_amps or 0.0, *queued, 0.0)

    def put(self, command: PendingCommand, link_up: bool) -> int:
        """Queue a command for the next free slot (it fails at once while the link is down)."""
        if not link_up:
            self.fail(command, "link is down")
        else:
            self._queues[command.device_id].append(command)
            _LOGGER.debug("queued %s %s A for %04X", command.kind, command.amps, command.device_id)
        return command.ticket

    def supersede_with_zero(self, device_id: int) -> int:
        """The fail-safe: fail every command not yet sent to a unit and queue a session current
        of 0 A (a command in flight stays ahead of it); return its ticket."""
        queue = self._queues[device_id]
        for stale in [each for each in queue if each.attempts == 0]:
            queue.remove(stale)
            self.fail(stale, "superseded by the fail-safe")
        command = PendingCommand(self.ticket(), CommandKind.SET_SESSION_CURRENT, device_id, 0.0)
        queue.append(command)
        return command.ticket

    def no_reply(self, device_id: int | None, command: PendingCommand | None) -> None:
        """An exchange with a unit timed out; ``command`` is the one it carried, if any."""
        if command is not None:
            # Sent twice, an increase or decrease applies twice: learn first whether it did.
            command.awaiting_report = command.kind.relative
            self.attempt_failed(command, "no reply")
            return
        queue = self._queues.get(device_id) if device_id is not None else None
        if queue and queue[0].awaiting_report:
            # The heartbeat that was to settle it went unanswered too: that costs an attempt.
            queue[0].attempts += 1
            self.attempt_failed(queue[0], "no reply")

    def settle_late(
        self,
        record: PeripheralRecord,
        report: PeripheralHeartbeat,
        sender: int,
        in_flight: PendingCommand | None,
    ) -> None:
        """A report after an unconfirmed attempt of the head command (a lost or late reply, a
        slow bridge) still confirms it if it reflects it (SPEC §8.7); for a relative command
        it tells whether it took effect before it may be sent again. ``sender``: our ID."""
        queue = self._queues[record.device_id]
        if not queue or queue[0].attempts == 0 or queue[0] is in_flight:
            return  # nothing sent yet, or this report may be its reply: the exchange settles it
        command = queue[0]
        command.awaiting_report = False
        self.settle(command, report, command.message(sender, record.protocol), record.protocol)

    def settle(
        self, command: PendingCommand, reply: Message, sent: Message, protocol: ProtocolVersion
    ) -> bool:
        """Confirm the head of its unit's queue if ``reply`` reflects it; whether it did."""
        note = command.settled_by(reply, sent, protocol)
        if note is not None:
            self.confirm(command, note)
        return note is not None

    def enforce(
        self,
        record: PeripheralRecord,
        report: PeripheralHeartbeat,
        limits: CurrentLimits,
        in_flight: PendingCommand | None,
    ) -> LimitEnforced | None:
        """Queue the command that lowers a unit reporting more than its ceiling ahead of all
        but the command in flight (SPEC §8.7); the event to fire, or ``None``."""
        queue = self._queues[record.device_id]
        found = over_ceiling(record, report, limits, queue)
        if found is None:
            return None
        command = PendingCommand(
            self.ticket(), found.kind, record.device_id, found.amps, enforcing=True
        )
        queue.insert(1 if queue and queue[0] is in_flight else 0, command)
        event = found.event
        _LOGGER.warning(
            "peripheral %s offers %.2f A, above its ceiling of %.2f A: sending %02X %.0f A",
            record.id_hex,
            event.reported_amps,
            event.ceiling,
            event.command,
            event.enforced_amps,
        )
        return event

    def confirm(self, command: PendingCommand, note: str = "") -> None:
        """The head of its unit's queue was confirmed by the unit; ``note`` says how, when not
        simply (e.g. "the unit holds at its minimum")."""
        self._queues[command.device_id].popleft()
        record = self._records[command.device_id]
        if command.kind.carries_amps and not command.from_sharing:
            record.wanted_amps = command.amps
        self._notify(
            COMMAND_CONFIRMED,
            CommandOutcome(
                record.id_hex, command.kind.value, _amps(command), command.attempts, True, note
            ),
            command.device_id,
            command.ticket,
        )

    def attempt_failed(self, command: PendingCommand, reason: str) -> None:
        """An attempt went unconfirmed: the command fails once its retries are spent."""
        if command.attempts > self._retries:
            self._queues[command.device_id].popleft()
            self.fail(command, f"{reason} after {command.attempts} attempts")
        else:
            _LOGGER.debug("%s to %04X not confirmed: %s", command.kind, command.device_id, reason)
            queue = self._queues[command.device_id]
            if len(queue) > 1 and queue[0] is command and queue[1].enforcing:
                # A unit above its ceiling is lowered before this one is tried again.
                queue[0], queue[1] = queue[1], command

    def drop_head(self, command: PendingCommand, reason: str) -> None:
        """The head of its unit's queue fails at once (no retry)."""
        self._queues[command.device_id].popleft()
        self.fail(command, reason)

    def fail_unit(self, device_id: int, reason: str) -> None:
        """Fail every command queued for one unit."""
        queue = self._queues[device_id]
        while queue:
            self.fail(queue.popleft(), reason)

    def fail_all(self, reason: str) -> None:
        """Fail every queued or in-flight command."""
        for device_id in self._queues:
            self.fail_unit(device_id, reason)

    def fail(self, command: PendingCommand, reason: str) -> None:
        """Report a command (already out of its queue) as failed."""
        record = self._records.get(command.device_id)
        if record is not None:
            record.errors += 1
        _LOGGER.warning("%s to %04X failed: %s", command.kind, command.device_id, reason)
        self._notify(
            COMMAND_FAILED,
            CommandOutcome(
                format_id(command.device_id),
                command.kind.value,
                _amps(command),
                command.attempts,
                False,
                reason,
            ),
            command.device_id,
            command.ticket,
        )


def _amps(command: PendingCommand) -> float | None:
    return command.amps if command.kind.carries_amps else None
