"""Put the shares on the wire safely: what to send to whom, and when. Pure; time is ``now``.

The director feeds :meth:`ShareSequencer.step` what it knows of each unit
(:class:`Observation`) and sends every :class:`WireChange` it returns, as a current command.

**Accounting.** For each unit the sequencer keeps its *exposure*: the most the unit may be
allowed on the wire now or later — the larger of its last reported max (rounded up to whole
amps), the whole amps it is actually drawing, and every value sent to it that its reports have
not yet shown to be superseded (frames may still be queued, delayed or retried). The total is
checked against the sum of exposures, never against what the sequencer merely intends. Its
*floor* is the least it may really hold (a report at or below the minimum may be the 0 A quirk).
Every raise — a planned change and :meth:`~ShareSequencer.allowed`, the answer the director
gives a unit asking for current (``08``) at its next heartbeat — is bounded by the same *room*:
the total less every other unit's exposure at that moment, so a grant made before another
unit reported its minimum (told 0 A, SPEC §8.7) never goes out stale.

**Rules.**

1. Decreases — values no higher than anything the unit may really hold (its *floor*) — go out
   first. A change that may raise what a unit really holds but stays within its exposure (a
   retry, a changed mind about a value still on its way) goes out only while the sum of
   exposures is within the total.
2. An increase of a unit's exposure goes out only when no decrease sent to an answering unit
   still awaits its confirmation (the unit's report showing the lower value; at most
   ``pending_timeout`` after it was first sent), and only as far as the total allows after
   every other unit's exposure. If that is short of the unit's share but at least its minimum,
   the unit is raised part way.
3. At most one change per unit every ``min_interval`` seconds (5 s, SPEC §5), except a decrease
   needed because the total or a unit's cap is exceeded (a limit lowered at run time, a unit
   reporting more than it may have): that goes out at once.
4. A unit that stops answering (``online=False``) is sent nothing and its exposure stays
   reserved. A unit the director declares lost (``lost=True``, 26 s of silence, SPEC §8.3) is
   forgotten and its share released: it has stopped charging by then.
5. A change the unit's reports do not confirm within ``retry_after`` is sent again; a sent value
   stops counting towards a unit's exposure ``pending_timeout`` after it was sent.
6. A unit is settled only once its share was sent *and* its report shows it, so every unit is
   told its share at least once (a unit without a car gets 0 A as its default current, so a car
   plugging in starts from nothing). A unit told 0 A may report its minimum instead (SPEC §5,
   §7.6, §8.7): reported in a state that draws nothing (00, 03, 04) that settles it at once;
   in any other state after ``QUIRK_TRIES`` sends (no endless re-sending). The reported value
   still counts towards the total, and it never holds other units' raises up.

**Safety invariant.** The sharing layer never raises a unit before the units lowered to make
room for it have confirmed they were lowered: capacity a decrease frees is counted as used
until the unit's own report shows the lower value, so for any order in which the director's
frames arrive, the sum of what the units are allowed stays within the total (unless a limit is
lowered at run time, in which case nothing is raised until it is back within).

**Director contract.** Send the changes in the order returned; a newer change to a unit
replaces an older one not yet sent and ends its retries; never send or retry a change later than
``pending_timeout`` after :meth:`~ShareSequencer.step` returned it; give each report's arrival
time as ``report_time`` on the same monotonic clock as ``now``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from ..events import AllocationChanged
from ..exceptions import ConfigurationError, CurrentLimitError, InvalidValueError
from ..protocol import HeartbeatCommand, PeripheralState, ProtocolVersion
from .allocate import Demand, UnitDemand, allocate, allocation_key
from .limits import InstallationLimits, LimitController, whole_amps

_LOGGER = logging.getLogger(__name__)

#: How many times 0 A is sent to a unit that keeps reporting its minimum before that is taken
#: as the 0 A quirk rather than a lost command.
QUIRK_TRIES = 3
#: States that draw nothing: a report of the minimum in one of them answers 0 A (SPEC §8.7).
_RESTING_STATES = frozenset(
    {PeripheralState.READY, PeripheralState.PLUGGED_DO_NOT_CHARGE, PeripheralState.PLUGGED_READY}
)


class Reason(StrEnum):
    """Why a unit's allowed current changed (the ``reason`` of :class:`AllocationChanged`)."""

    UNIT_FOUND = "unit found"
    UNIT_LOST = "unit lost"
    UNIT_OFFLINE = "unit not answering"
    UNIT_ONLINE = "unit answering again"
    CAR_CONNECTED = "car connected"
    CAR_DISCONNECTED = "car disconnected"
    CAR_IDLE = "car not drawing"
    CAR_CHARGING = "car drawing again"
    LIMITS_CHANGED = "limits changed"
    USER_CAP = "user request"
    PRIORITY = "priority changed"
    REBALANCE = "rebalance"
    RETRY = "retry"


@dataclass(frozen=True, slots=True)
class Observation:
    """What the director knows of one unit; the latest replaces the previous.

    ``reported_max`` / ``actual_amps`` / ``state`` come from the unit's last ``FD E0`` and
    ``report_time`` is when that frame arrived (required with ``reported_max``: the same report
    must not be counted twice). ``online=False``: the unit stopped answering; ``lost=True``: the
    director declared it lost.
    """

    unit_id: str
    protocol: ProtocolVersion = ProtocolVersion.V2
    advertised_max: float | None = None
    reported_max: float | None = None
    report_time: float | None = None
    actual_amps: float = 0.0
    state: int | None = None
    car_connected: bool = False
    online: bool = True
    lost: bool = False

    def __post_init__(self) -> None:
        if self.reported_max is not None and self.report_time is None:
            raise InvalidValueError("a reported max needs the time of its report")
        for name in ("advertised_max", "reported_max", "actual_amps"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise InvalidValueError(f"{name} must be a finite, non-negative current: {value}")


@dataclass(frozen=True, slots=True)
class WireChange:
    """Send ``amps`` to ``unit_id``; ``command`` is the suggested heartbeat command."""

    unit_id: str
    amps: int
    command: HeartbeatCommand
    reason: str
    old_amps: int

    @property
    def event(self) -> AllocationChanged:
        """The event payload announcing this change."""
        return AllocationChanged(self.unit_id, float(self.old_amps), float(self.amps), self.reason)


@dataclass(frozen=True, slots=True)
class UnitShare:
    """One unit in a :class:`SharingSnapshot`."""

    unit_id: str
    target: int  #: its share by the policy
    granted: int  #: the last value sent to it
    reported: int | None  #: what it last reported it may use
    exposure: int  #: what is counted against the total for it
    cap: int  #: the most it may be given
    demand: Demand
    online: bool


@dataclass(frozen=True, slots=True)
class SharingSnapshot:
    """The shares at a glance, for a display: ``used`` is the sum of exposures."""

    total_max: int
    unit_max: int
    used: int
    available: int
    units: tuple[UnitShare, ...]


def suggest_command(observation: Observation, reported: int | None) -> HeartbeatCommand:
    """The heartbeat command that carries a new current for this unit (SPEC §5, §8.4)."""
    if observation.state == PeripheralState.STARTING and not reported:
        return HeartbeatCommand.ACK_CHARGE_START  # it asks for an allocation
    if (
        observation.protocol == ProtocolVersion.V1
        or not observation.car_connected
        or observation.state in (PeripheralState.READY, PeripheralState.PLUGGED_READY)
    ):
        return HeartbeatCommand.SET_DEFAULT_CURRENT
    return HeartbeatCommand.SET_SESSION_CURRENT


@dataclass(frozen=True, slots=True)
class _Sent:
    amps: int
    at: float


@dataclass(slots=True)
class _Unit:
    unit_id: str
    obs: Observation
    known: int | None = None  # last reported max, whole amps rounded up
    report_time: float | None = None
    pending: list[_Sent] = field(default_factory=list)  # sent, not yet seen superseded
    granted: int | None = None  # the last value sent
    value_since: float = 0.0  # when the last value was first sent (retries keep it)
    last_change: float | None = None
    target: int = 0
    reason: str = Reason.UNIT_FOUND  # why its target last changed
    since: float | None = None  # car connected since
    idle: bool = False
    idle_since: float | None = None
    zero_tries: int = 0  # 0 A sent this many times in a row


class ShareSequencer:
    """Shares the installation's total among the units and sequences the changes safely."""

    def __init__(
        self,
        limits: InstallationLimits,
        *,
        min_interval: float = 5.0,
        retry_after: float = 10.0,
        pending_timeout: float = 30.0,
        idle_after: float | None = 60.0,
        idle_amps: float = 1.0,
    ) -> None:
        if not 0 <= min_interval <= retry_after <= pending_timeout:
            raise ConfigurationError(
                "need 0 <= min_interval <= retry_after <= pending_timeout, got "
                f"{min_interval}, {retry_after}, {pending_timeout}"
            )
        if idle_after is not None and idle_after < 0:
            raise ConfigurationError(f"idle_after must not be negative: {idle_after}")
        self._limits = LimitController(limits)
        self._min_interval = min_interval
        self._retry_after = retry_after
        self._pending_timeout = pending_timeout
        self._idle_after = idle_after
        self._idle_amps = idle_amps
        self._units: dict[str, _Unit] = {}
        self._user_caps: dict[str, int] = {}
        self._priorities: dict[str, int] = {}
        self._events: list[AllocationChanged] = []
        self._triggers: list[tuple[str | None, Reason]] = []
        self._order: list[str] = []
        self._now: float | None = None

    # --- configuration -------------------------------------------------------------------

    @property
    def limits(self) -> InstallationLimits:
        """The limits in force."""
        return self._limits.current

    @property
    def ceiling(self) -> InstallationLimits:
        """The configured limits; run-time changes stay within them."""
        return self._limits.ceiling

    def set_limits(
        self, *, total_max: float | None = None, unit_max: float | None = None
    ) -> InstallationLimits:
        """Change a limit, within the ceiling or :class:`ConfigurationError`, from the next step."""
        before = self._limits.current
        limits = self._limits.change(total_max=total_max, unit_max=unit_max)
        if limits != before:
            self._triggers.append((None, Reason.LIMITS_CHANGED))
        return limits

    def set_user_cap(self, unit_id: str, amps: float | None) -> None:
        """Cap a unit at a user's session current request (``None`` lifts it).

        A cap never raises a unit above its share; one below the unit's minimum makes it wait
        at 0 A. The cap ends when the unit's car disconnects or the unit is lost.
        """
        if amps is None:
            self._user_caps.pop(unit_id, None)
        else:
            try:
                self._user_caps[unit_id] = whole_amps(amps, "session current")
            except ConfigurationError as err:
                raise CurrentLimitError(str(err)) from err
        self._triggers.append((unit_id, Reason.USER_CAP))

    def set_priority(self, unit_id: str, priority: int) -> None:
        """Serve this unit before units of a lower priority (default 0)."""
        self._priorities[unit_id] = priority
        self._triggers.append((unit_id, Reason.PRIORITY))

    # --- the loop ------------------------------------------------------------------------

    def step(self, now: float, observations: Iterable[Observation] = ()) -> list[WireChange]:
        """Take in observations, re-share, and return the changes to send now, in order.

        ``observations`` hold the latest of any unit that changed (all of them is fine too);
        a unit left out keeps its last observation.
        """
        if self._now is not None and now < self._now:
            raise ConfigurationError(f"time went backwards: {now} < {self._now}")
        self._now = now
        for observation in observations:
            self._ingest(now, observation)
        for unit in self._units.values():
            unit.pending = [s for s in unit.pending if now - s.at <= self._pending_timeout]
            self._track_idle(unit, now)
        self._allocate()
        return self._plan(now)

    def take_events(self) -> list[AllocationChanged]:
        """The allocation changes since the last call (one per change, one per released unit)."""
        events, self._events = self._events, []
        return events

    # --- queries -------------------------------------------------------------------------

    def allowed(self, unit_id: str) -> int:
        """What the director may send this unit now (e.g. to answer a request for current).

        The last value sent to it, never above a cap lowered since nor above the room the
        other units leave by the same accounting as every raise (:meth:`_room`: their reports
        may have risen since, e.g. a unit told 0 A reporting its minimum), and 0 rather than
        anything below its minimum. The director answers a unit asking for current (``08``)
        with this, so a grant made before others' reports arrived is never sent stale.
        """
        unit = self._units.get(unit_id)
        if unit is None or unit.granted is None:
            return 0
        amps = min(unit.granted, self._cap(unit), self._room(unit))
        return amps if amps >= self._minimum(unit) else 0

    def snapshot(self) -> SharingSnapshot:
        """Every unit's share, and the total used / available."""
        limits = self.limits
        shares = tuple(
            UnitShare(
                unit_id=unit.unit_id,
                target=unit.target,
                granted=unit.granted or 0,
                reported=unit.known,
                exposure=self._exposure(unit),
                cap=self._cap(unit),
                demand=self._demand(unit),
                online=unit.obs.online,
            )
            for unit in self._ordered()
        )
        used = sum(share.exposure for share in shares)
        return SharingSnapshot(
            total_max=limits.total_max,
            unit_max=limits.unit_max,
            used=used,
            available=max(0, limits.total_max - used),
            units=shares,
        )

    # --- private helpers -----------------------------------------------------------------

    def _ingest(self, now: float, obs: Observation) -> None:
        unit = self._units.get(obs.unit_id)
        if obs.lost:
            self._user_caps.pop(obs.unit_id, None)  # even if never seen: a cap ends with a loss
            if unit is not None:
                self._release(unit)
            return
        previous = None if unit is None else unit.obs
        if unit is None:
            unit = self._units[obs.unit_id] = _Unit(obs.unit_id, obs)
            self._triggers.append((obs.unit_id, Reason.UNIT_FOUND))
        if obs.car_connected and (previous is None or not previous.car_connected):
            unit.since, unit.idle, unit.idle_since = now, False, None
            self._triggers.append((obs.unit_id, Reason.CAR_CONNECTED))
        elif previous is not None and previous.car_connected and not obs.car_connected:
            unit.since = None
            self._user_caps.pop(obs.unit_id, None)  # a session cap ends with the session
            self._triggers.append((obs.unit_id, Reason.CAR_DISCONNECTED))
        if previous is not None and previous.online != obs.online:
            reason = Reason.UNIT_ONLINE if obs.online else Reason.UNIT_OFFLINE
            self._triggers.append((obs.unit_id, reason))
        unit.obs = obs
        if (
            obs.reported_max is not None
            and obs.report_time is not None
            and (unit.report_time is None or obs.report_time > unit.report_time)
        ):
            self._take_report(unit, _ceil_amps(obs.reported_max), obs.report_time)

    def _take_report(self, unit: _Unit, reported: int, report_time: float) -> None:
        # Frames to a unit arrive in order, so a report showing a value sent earlier retires
        # that value and every one before it. Only values sent before the report can show in
        # it; the first match is the safe one (values sent after it may still arrive); and a
        # report equal to what the unit held before (``known``) may mean nothing arrived yet,
        # so it retires nothing.
        if reported == 0:
            # A 0 A shown as 0 A: every 0 sent before it shows the same (it counts as the
            # minimum until a report says what the unit did with it, see _exposure).
            unit.pending = [s for s in unit.pending if s.amps or s.at >= report_time]
        if unit.known is not None and reported != unit.known:
            eligible = [s for s in unit.pending if s.at < report_time]
            for index, sent in enumerate(eligible):
                if sent.amps == reported:
                    del unit.pending[: index + 1]
                    break
            else:
                if eligible and eligible[0].amps == 0 and reported <= self._minimum(unit):
                    del unit.pending[0]  # the 0 A quirk: it took the 0 but reports its minimum
        unit.known = reported
        unit.report_time = report_time

    def _release(self, unit: _Unit) -> None:
        old = unit.granted if unit.granted is not None else (unit.known or 0)
        del self._units[unit.unit_id]
        if old:
            self._events.append(AllocationChanged(unit.unit_id, float(old), 0.0, Reason.UNIT_LOST))
        self._triggers.append((unit.unit_id, Reason.UNIT_LOST))
        _LOGGER.info("Unit %s lost: its %s A are released", unit.unit_id, old)

    def _track_idle(self, unit: _Unit, now: float) -> None:
        obs = unit.obs
        if not obs.car_connected or self._idle_after is None:
            unit.idle, unit.idle_since = False, None
            return
        if obs.actual_amps >= self._idle_amps:
            if unit.idle:
                self._triggers.append((unit.unit_id, Reason.CAR_CHARGING))
            unit.idle, unit.idle_since = False, None
            return
        minimum = self._minimum(unit)
        offered = (unit.granted or 0) >= minimum and (unit.known or 0) >= minimum
        if unit.idle or not offered:
            # Idle is sticky until the car draws again: no flapping between idle and waiting.
            if not unit.idle:
                unit.idle_since = None
            return
        if unit.idle_since is None:
            unit.idle_since = now
        if now - unit.idle_since >= self._idle_after:
            unit.idle = True
            self._triggers.append((unit.unit_id, Reason.CAR_IDLE))

    def _allocate(self) -> None:
        demands = [
            UnitDemand(
                unit_id=unit.unit_id,
                protocol=unit.obs.protocol,
                demand=self._demand(unit),
                advertised_max=unit.obs.advertised_max,
                user_cap=self._user_caps.get(unit.unit_id),
                priority=self._priorities.get(unit.unit_id, 0),
                since=unit.since if unit.since is not None else 0.0,
                online=unit.obs.online,
                reserved=self._reserved(unit),
            )
            for unit in self._units.values()
        ]
        self._order = [demand.unit_id for demand in sorted(demands, key=allocation_key)]
        targets = allocate(demands, self.limits)
        own = {unit_id: reason for unit_id, reason in self._triggers if unit_id}  # latest wins
        others = [
            f"{reason} at {unit_id}" if unit_id else str(reason)
            for unit_id, reason in self._triggers
        ]
        for unit in self._units.values():
            target = targets[unit.unit_id]
            if target != unit.target:
                unit.reason = own.get(unit.unit_id) or (others[0] if others else Reason.REBALANCE)
                unit.target = target
        self._triggers.clear()

    def _plan(self, now: float) -> list[WireChange]:
        limits = self.limits
        exposure = {unit.unit_id: self._exposure(unit) for unit in self._units.values()}
        used = sum(exposure.values())
        over_total = used > limits.total_max
        changes: list[WireChange] = []
        raises: list[_Unit] = []
        for unit in self._ordered():
            wanted = self._wanted(unit, now)
            if wanted is None or not unit.obs.online:
                continue
            amps, retry = wanted
            reason = Reason.RETRY if retry else unit.reason
            if amps <= self._floor(unit):
                # Cannot raise what the unit may hold: a pure decrease, urgent when over a limit.
                urgent = over_total or exposure[unit.unit_id] > self._cap(unit)
                if urgent or not self._rate_limited(unit, now):
                    changes.append(self._send(unit, amps, now, reason))
            elif amps > exposure[unit.unit_id]:
                raises.append(unit)
            elif not over_total and not self._rate_limited(unit, now):
                # May raise its real value, but only within what is already counted for it.
                changes.append(self._send(unit, amps, now, reason))
        if not raises or any(self._awaits_decrease(unit, now) for unit in self._units.values()):
            return changes
        for unit in raises:
            if self._rate_limited(unit, now):
                continue
            amps = min(unit.target, self._room(unit))
            if amps < self._minimum(unit) or amps <= self._exposure(unit):
                continue  # no room yet; a later step raises it once others are confirmed down
            changes.append(self._send(unit, amps, now, unit.reason))
        return changes

    def _wanted(self, unit: _Unit, now: float) -> tuple[int, bool] | None:
        """The value to send this unit, and whether it is a retry; ``None``: nothing to send."""
        target = unit.target
        if unit.pending and unit.pending[-1].amps != target:
            return target, False
        if self._settled(unit, target):
            return None
        # Sent recently and not confirmed yet (or the quirk): give it time. A unit that moved
        # away from a confirmed value by itself is told again at once.
        recent = unit.last_change is not None and now - unit.last_change < self._retry_after
        if recent and unit.granted == target and (unit.pending or self._quirk(unit, target)):
            return None
        return target, unit.granted == target

    def _settled(self, unit: _Unit, amps: int) -> bool:
        """Sent, and the unit's report shows it (a report alone is not enough: see quirk).

        Real units answer 0 A with their minimum in a state that draws nothing (SPEC §8.7):
        that settles it. Reported in another state it could be a unit still charging at its
        minimum whose 0 A was lost, so it is only accepted once 0 A was sent ``QUIRK_TRIES``
        times in a row.
        """
        if unit.known is None or unit.granted != amps:
            return False
        if unit.known == amps:
            return True
        resting = unit.obs.state in _RESTING_STATES
        return self._quirk(unit, amps) and (resting or unit.zero_tries >= QUIRK_TRIES)

    def _quirk(self, unit: _Unit, amps: int) -> bool:
        """Told 0 A, it may report its minimum (SPEC §5, §7.6)."""
        return amps == 0 and unit.known is not None and unit.known <= self._minimum(unit)

    def _awaits_decrease(self, unit: _Unit, now: float) -> bool:
        # The quirk does not hold others up: what it reports stays counted anyway.
        if not unit.obs.online or not unit.pending or unit.known is None:
            return False
        amps = unit.pending[-1].amps
        return (
            amps < unit.known
            and not self._quirk(unit, amps)
            and now - unit.value_since < self._pending_timeout
        )

    def _send(self, unit: _Unit, amps: int, now: float, reason: str) -> WireChange:
        minimum, cap = self._minimum(unit), self._cap(unit)
        if amps != 0 and not minimum <= amps <= cap:
            # Unreachable by construction; refuse loudly rather than put it on the wire.
            raise CurrentLimitError(
                f"{amps} A for {unit.unit_id} is outside 0 or {minimum}-{cap} A"
            )
        old = unit.granted if unit.granted is not None else (unit.known or 0)
        if not (unit.pending and unit.pending[-1].amps == amps):
            unit.value_since = now
        unit.zero_tries = unit.zero_tries + 1 if amps == 0 and unit.granted == 0 else int(amps == 0)
        unit.pending.append(_Sent(amps, now))
        unit.granted = amps
        unit.last_change = now
        change = WireChange(unit.unit_id, amps, suggest_command(unit.obs, unit.known), reason, old)
        if old != amps:
            self._events.append(change.event)
        _LOGGER.debug("Unit %s: %s A -> %s A (%s)", unit.unit_id, old, amps, reason)
        return change

    def _rate_limited(self, unit: _Unit, now: float) -> bool:
        return unit.last_change is not None and now - unit.last_change < self._min_interval

    def _exposure(self, unit: _Unit) -> int:
        drawn = math.floor(unit.obs.actual_amps)
        # Told 0 A, a unit may report its minimum instead (SPEC §8.7), and sharing counts what
        # it reports: a 0 A not yet answered counts as that minimum.
        minimum = self._minimum(unit)
        return max([unit.known or 0, drawn, *(sent.amps or minimum for sent in unit.pending)])

    def _room(self, unit: _Unit) -> int:
        """The most ``unit`` may hold with every other unit at its exposure: the one
        accounting every raise (a planned change, an answer to ``08``) goes through."""
        others = sum(self._exposure(other) for other in self._units.values() if other is not unit)
        return self.limits.total_max - others

    def _reserved(self, unit: _Unit) -> int:
        """What to take off the total for a unit whatever it is given."""
        if not unit.obs.online:
            return self._exposure(unit)
        # The settled quirk of a unit that gets 0 A anyway: what it reports stays counted, so
        # share only the rest (else a share could never be reached).
        certain_zero = not unit.obs.car_connected or self._cap(unit) < self._minimum(unit)
        if certain_zero and unit.known and self._settled(unit, 0):
            return unit.known
        return 0

    def _floor(self, unit: _Unit) -> int:
        """The least the unit may really hold: a report at or below its minimum may be the
        0 A quirk, and any value still on its way may have arrived."""
        known = unit.known or 0
        if known <= self._minimum(unit):
            known = 0
        return min([known, *(sent.amps for sent in unit.pending)])

    def _cap(self, unit: _Unit) -> int:
        return self.limits.unit_cap(unit.obs.advertised_max, self._user_caps.get(unit.unit_id))

    def _minimum(self, unit: _Unit) -> int:
        return self.limits.minimum(unit.obs.protocol)

    def _demand(self, unit: _Unit) -> Demand:
        if not unit.obs.car_connected:
            return Demand.NONE
        return Demand.IDLE if unit.idle else Demand.CHARGING

    def _ordered(self) -> list[_Unit]:
        known = [self._units[unit_id] for unit_id in self._order if unit_id in self._units]
        return known + [unit for unit in self._units.values() if unit.unit_id not in self._order]


def _ceil_amps(amps: float) -> int:
    """Whole amps rounded up, on the wire's 0.01 A grid (so 12.00 stays 12)."""
    return -(-round(amps * 100) // 100)
