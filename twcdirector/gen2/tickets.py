"""The command queues of the controller core: one per unit, and the tickets that name each
command from the call that queued it to its confirmation or failure (pure, sans-I/O).

A command is queued, sent, then confirmed by the unit's reply or a later report, or failed
for a reason; either way exactly one ``TWC_COMMAND_CONFIRMED`` or ``TWC_COMMAND_FAILED``
notice carries its ticket back to the caller.

An absolute current (05/09) is idempotent: it is re-sent up to ``command_retries`` times, a
heartbeat interval apart, then waits ``confirm_grace`` heartbeat intervals for a report that
shows it before it fails. A relative command (06/07) is NEVER re-sent once a frame carrying
it went out, since each copy applies again (SPEC §8.7): it leaves the queue at once and waits
for a report; without one in time its outcome says "sent once; the unit's reports have not
shown it". An increase counts in the unit's worst case (:meth:`CommandQueues.worst_case`)
from the moment it is sent until a report shows the unit at or above the level it leads to,
or a current sent after it is confirmed (the unit applies frames in wire order).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable

from ..events import COMMAND_CONFIRMED, COMMAND_FAILED, CommandOutcome, LimitEnforced, format_id
from ..protocol.codes import ProtocolVersion
from ..protocol.messages import Message, PeripheralHeartbeat
from .commands import APPLIES_AT_PLUG_IN, NOT_SHOWN, CommandKind, PendingCommand
from .config import DirectorConfig
from .device import PeripheralRecord
from .enforce import AMPS_TOLERANCE, over_ceiling
from .limits import INCREASE_STEP, CurrentLimits, WorstCase

_LOGGER = logging.getLogger(__name__)

#: ``notify(event, payload, device_id, ticket)``: hand a notice to the core.
Notify = Callable[[str, object, int | None, int | None], None]


class CommandQueues:
    """Every unit's queue of pending commands, and ticket numbering."""

    def __init__(
        self, records: dict[int, PeripheralRecord], config: DirectorConfig, notify: Notify
    ) -> None:
        self._records = records
        self._retries = config.command_retries
        self._interval = config.heartbeat_interval
        #: Seconds an absolute command waits after its last attempt for a report showing it.
        self._grace = config.confirm_grace * config.heartbeat_interval
        self._raise_back = config.raise_back_window
        self._notify = notify
        self._queues: dict[int, deque[PendingCommand]] = {}
        #: Per unit, in the order sent: commands out of the queue whose outcome waits on a
        #: report, and increases no report has shown yet (they count in the worst case).
        self._sent: dict[int, list[PendingCommand]] = {}
        self._next_ticket = 1

    def ticket(self) -> int:
        """A new ticket number (never reused)."""
        ticket = self._next_ticket
        self._next_ticket += 1
        return ticket

    def add_unit(self, device_id: int) -> None:
        """A unit was discovered: give it an empty queue."""
        self._queues[device_id] = deque()
        self._sent[device_id] = []

    def remove_unit(self, device_id: int) -> None:
        """A unit is forgotten (its queue must be empty)."""
        del self._queues[device_id]
        del self._sent[device_id]

    def queue(self, device_id: int) -> deque[PendingCommand]:
        """A known unit's queue; its head is the command in flight, if any."""
        return self._queues[device_id]

    def get(self, device_id: int) -> deque[PendingCommand] | None:
        """A unit's queue, or ``None`` for a unit not known."""
        return self._queues.get(device_id)

    def pending(self, device_id: int) -> int:
        """Commands queued or in flight for a unit."""
        queue = self._queues.get(device_id)
        waiting = sum(1 for each in self._sent.get(device_id, ()) if not each.outcome_given)
        return (len(queue) if queue else 0) + waiting

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
                limits.check_increase(self.worst_case(record, now), record)
        return self.put(PendingCommand(self.ticket(), kind, record.device_id, amps), link_up)

    def worst_case(
        self, record: PeripheralRecord, now: float, *, exclude: PendingCommand | None = None
    ) -> WorstCase:
        """The most the unit may allow, whatever its lagging reports show (SPEC §8.7): the
        highest of its last report, the last current granted and every current queued or
        sent unconfirmed, plus 2 A for every increase queued or sent and not yet shown, plus
        what decreases may give back. ``exclude``: the increase being judged (the final
        guard judges the one it is about to send). The one measure for submit and guard."""
        device_id = record.device_id
        commands = [*self._queues[device_id], *self._sent[device_id]]
        absolutes = [c.amps for c in commands if c.kind.carries_amps and not c.outcome_given]
        increases = sum(
            1 for c in commands if c.kind is CommandKind.INCREASE_CURRENT and c is not exclude
        )
        granted = max([record.granted_amps or 0.0, *absolutes])
        return WorstCase(record.allowed_amps, granted, increases, record.owed_amps(now))

    def sent(self, command: PendingCommand, record: PeripheralRecord, now: float) -> None:
        """A frame carrying ``command`` went on the wire. A relative command leaves the queue
        for good (it is never sent again) and waits for a report that shows it; an increase
        records the level the unit reaches once it and every increase before it applied; a
        decrease may give its 2 A back by itself until ``raise_back_window`` has passed."""
        if not command.kind.relative:
            return
        if command.kind is CommandKind.DECREASE_CURRENT:
            record.owed_until.append(now + self._raise_back)
        self._queues[command.device_id].remove(command)
        sent = self._sent[command.device_id]
        sent.append(command)
        command.settle_by = now + self._interval * (self._retries + 1) + self._grace
        if command.kind is CommandKind.INCREASE_CURRENT:
            rising = sum(1 for c in sent if c.kind is CommandKind.INCREASE_CURRENT)
            base = max(record.allowed_amps or 0.0, record.granted_amps or 0.0)
            command.level = base + INCREASE_STEP * rising

    def reported(
        self,
        record: PeripheralRecord,
        report: PeripheralHeartbeat,
        sender: int,
        in_flight: PendingCommand | None,
    ) -> None:
        """Every status report of a unit: settle what it shows, however late (a lagging
        unit, a slow bridge, SPEC §8.7). The head command after an unconfirmed attempt, and
        any command sent and waiting, is confirmed if the report reflects it; an increase is
        shown once the unit reports at least its level. ``sender``: our ID; ``in_flight``:
        the command whose exchange is open (its reply settles it)."""
        queue = self._queues[record.device_id]
        if queue and queue[0].attempts > 0 and queue[0] is not in_flight:
            head = queue[0]
            self.settle(head, report, head.message(sender, record.protocol), record.protocol)
        echoed = False
        for command in list(self._sent[record.device_id]):
            if command not in self._sent[record.device_id]:
                continue  # superseded by a command settled earlier in this loop
            sent = command.message(sender, record.protocol)
            note = command.settled_by(report, sent, record.protocol)
            if command.kind is CommandKind.INCREASE_CURRENT:
                if note is not None and not command.outcome_given and not echoed:
                    # The unit echoed it (state 06): confirmed, but it counts in the worst
                    # case until a report shows its level. One echo confirms one increase.
                    echoed = True
                    self._outcome(command, True, "")
                if report.max_amps < command.level - AMPS_TOLERANCE:
                    continue
                note = ""
                # Its level stays in the worst case, as a current granted: a report
                # overtaken by an older one must not make it vanish.
                record.granted_amps = max(record.granted_amps or 0.0, command.level)
            if note is not None:
                self._sent[record.device_id].remove(command)
                if not command.outcome_given:
                    self._outcome(command, True, note)

    def next_deadline(self) -> float:
        """When a sent command's outcome is next due without a report (``inf``: none)."""
        return min(
            (c.settle_by for sent in self._sent.values() for c in sent if not c.outcome_given),
            default=math.inf,
        )

    def expire(self, now: float) -> None:
        """Give the outcome of every sent command no report has shown in time: a relative
        command was sent once (an increase still counts until shown), an absolute one fails."""
        for sent in self._sent.values():
            for command in [c for c in sent if not c.outcome_given and c.settle_by <= now]:
                if command.kind is not CommandKind.INCREASE_CURRENT:
                    sent.remove(command)
                if command.kind.relative:
                    self._outcome(command, False, NOT_SHOWN)
                else:
                    self.fail(
                        command,
                        f"{command.failure} after {command.attempts} attempts and "
                        f"{self._grace:g} s of grace",
                    )

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

    def no_reply(self, command: PendingCommand | None) -> None:
        """An exchange with a unit timed out; ``command`` is the one it carried, if any. A
        relative command is not retried: sent twice, it would apply twice."""
        if command is not None and not command.kind.relative:
            self.attempt_failed(command, "no reply")

    def replied(
        self, command: PendingCommand, reply: Message, sent: Message, protocol: ProtocolVersion
    ) -> None:
        """The reply that ends the exchange carrying ``command`` arrived. A relative command
        is settled by reports alone (:meth:`reported`); another one confirms or costs an
        attempt."""
        if not command.kind.relative and not self.settle(command, reply, sent, protocol):
            self.attempt_failed(command, "the unit's reply did not reflect it")

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
        # A lowering waiting for a lagging report to show it is on its way too.
        found = over_ceiling(record, report, limits, [*queue, *self._sent[record.device_id]])
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
        self._outcome(command, True, note)

    def _outcome(self, command: PendingCommand, confirmed: bool, note: str) -> None:
        """Give a sent command's outcome. A current the unit applied replaces every command
        sent before it (the unit applies frames in wire order)."""
        command.outcome_given = True
        record = self._records[command.device_id]
        if not confirmed:
            _LOGGER.warning("%s to %s: %s", command.kind, record.id_hex, note)
        elif command.kind.carries_amps and note != APPLIES_AT_PLUG_IN:
            if not command.from_sharing:
                record.wanted_amps = command.amps
            # What the unit applies now: levels of increases before it no longer count (a
            # current sent after it is still counted while unconfirmed).
            record.granted_amps = command.amps
            sent = self._sent[command.device_id]
            for earlier in [c for c in sent if c.last_sent < command.last_sent]:
                sent.remove(earlier)
                if not earlier.outcome_given:
                    reason = "a later current the unit confirmed replaced it"
                    self._outcome(earlier, False, f"sent; {reason}")
        event = COMMAND_CONFIRMED if confirmed else COMMAND_FAILED
        self._notify(
            event,
            CommandOutcome(
                record.id_hex,
                command.kind.value,
                _amps(command),
                command.attempts,
                confirmed,
                note,
            ),
            command.device_id,
            command.ticket,
        )

    def attempt_failed(self, command: PendingCommand, reason: str) -> None:
        """An attempt went unconfirmed: once its retries are spent the command waits the
        grace for a report that shows it (a lagging unit, SPEC §8.7), then fails."""
        if command.attempts > self._retries:
            self._queues[command.device_id].popleft()
            if self._grace > 0:
                command.settle_by = command.last_sent + self._grace
                command.failure = reason
                self._sent[command.device_id].append(command)
            else:
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
        """Fail every command queued for one unit, and give the outcome of every one sent
        (an increase sent still counts in the worst case until a report shows it)."""
        queue = self._queues[device_id]
        while queue:
            self.fail(queue.popleft(), reason)
        sent = self._sent[device_id]
        for command in [c for c in sent if not c.outcome_given]:
            if command.kind is not CommandKind.INCREASE_CURRENT:
                sent.remove(command)
            if command.kind.relative:
                self._outcome(command, False, f"sent once; {reason} before a report showed it")
            else:
                self.fail(command, reason)

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
