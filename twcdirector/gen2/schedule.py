"""Cadence (SPEC §8.3): the start-up burst and each peripheral's poll schedule.

Pure bookkeeping of due times; :mod:`.controller` decides which due frame gets the bus.
:class:`Agenda` keeps every online unit's next heartbeat and next data request in heaps and
its silence deadline in the order units were last heard, so a wake of the bus looks at the
first entries rather than at every unit.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
from collections.abc import Callable

from ..protocol.messages import (
    ControllerLinkReady1,
    ControllerLinkReady2,
    DataRequest,
    MeterRequest,
    SerialRequest,
    VersionRequest,
    VinHighRequest,
    VinLowRequest,
    VinMidRequest,
)
from .config import DirectorConfig

#: The six data requests, in the order a real controller asks (SPEC §4).
DATA_REQUESTS: tuple[type[DataRequest], ...] = (
    MeterRequest,
    VersionRequest,
    SerialRequest,
    VinHighRequest,
    VinMidRequest,
    VinLowRequest,
)


def _next_due(due: float, sent: float, interval: float) -> float:
    """Keep the average period exact; after a long delay, restart from the send time."""
    if sent - due > interval / 2:
        return sent + interval
    return due + interval


class StartupBurst:
    """``FC E1`` n times at one interval, then ``FB E2`` m times at another (SPEC §8.3)."""

    __slots__ = ("_e1_interval", "_e2_interval", "_remaining_e1", "_remaining_e2", "due")

    def __init__(self, config: DirectorConfig, now: float) -> None:
        self._remaining_e1 = config.startup_e1_count
        self._remaining_e2 = config.startup_e2_count
        self._e1_interval = config.startup_e1_interval
        self._e2_interval = config.startup_e2_interval
        #: When the next burst frame is due; ``inf`` once the burst is over.
        self.due = now if self._remaining_e1 + self._remaining_e2 else math.inf

    @property
    def done(self) -> bool:
        """Every burst frame went out."""
        return self._remaining_e1 + self._remaining_e2 == 0

    def next_frame(
        self, controller_id: int, sign: int
    ) -> ControllerLinkReady1 | ControllerLinkReady2:
        """The frame due next (zeros after the sign byte, 16 bytes: SPEC §8.2)."""
        if self._remaining_e1:
            return ControllerLinkReady1(controller_id, sign)
        return ControllerLinkReady2(controller_id, sign)

    def window(self, reply_timeout: float) -> float:
        """How long the due frame holds the bus: ``FB E2`` asks units to answer."""
        return 0.0 if self._remaining_e1 else reply_timeout

    def sent(self, now: float) -> None:
        """The due frame went out at ``now``."""
        if self._remaining_e1:
            self._remaining_e1 -= 1
            # The E2 series starts one E1 interval after the last E1.
            interval = self._e1_interval
        else:
            self._remaining_e2 -= 1
            interval = self._e2_interval
        self.due = math.inf if self.done else _next_due(self.due, now, interval)


class PollSchedule:
    """One peripheral's heartbeat and data-request due times."""

    __slots__ = (
        "_heartbeat_interval",
        "_on_change",
        "_request_interval",
        "heartbeat_due",
        "request_allowed",
        "request_due",
    )

    def __init__(
        self,
        config: DirectorConfig,
        now: float,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        #: Called after every change of a due time (the :class:`Agenda` re-files the unit).
        self._on_change = on_change
        self._heartbeat_interval = config.heartbeat_interval
        self._request_interval = config.data_request_interval
        #: Claim at once (SPEC §8.3).
        self.heartbeat_due = now
        # Spread the first round one heartbeat apart so each item keeps its own phase.
        self.request_due = [
            now + (index + 1) * config.heartbeat_interval for index in range(len(DATA_REQUESTS))
        ]
        #: At most one request between two heartbeats (SPEC §8.3).
        self.request_allowed = False

    def claim(self, now: float) -> None:
        """Heartbeat at once (an announce, or a unit found again)."""
        self.heartbeat_due = min(self.heartbeat_due, now)
        self._changed()

    def heartbeat_sent(self, now: float) -> None:
        """A heartbeat (plain or carrying a command) went out at ``now``.

        One sent well before its tick (a command in the next free slot) leaves the schedule
        alone: counted as that tick's heartbeat it would leave the unit up to two intervals
        without one, and the tick keeps the units' heartbeats spread over the interval.
        """
        interval = self._heartbeat_interval
        if now < self.heartbeat_due - interval / 2:
            return
        # Never more than one interval after this one, however early it went.
        self.heartbeat_due = min(_next_due(self.heartbeat_due, now, interval), now + interval)
        self.request_allowed = True
        self._changed()

    def due_request(self, now: float) -> int | None:
        """Index of the most overdue data request, if one may go out now."""
        if not self.request_allowed:
            return None
        index = min(range(len(self.request_due)), key=self.request_due.__getitem__)
        return index if self.request_due[index] <= now else None

    def request_sent(self, index: int, now: float) -> None:
        """Data request ``index`` went out at ``now``."""
        self.request_due[index] = _next_due(self.request_due[index], now, self._request_interval)
        self.request_allowed = False
        self._changed()

    def next_request_due(self) -> float:
        """When the next data request becomes due (it also waits for a heartbeat)."""
        return min(self.request_due)

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()


#: A heap entry: (due time, the unit's filing order, device ID).
_Entry = tuple[float, int, int]


class Agenda:
    """Every peripheral's :class:`PollSchedule`, and for the online ones the next heartbeat,
    the next data request and the next silence deadline, each found in O(log n).

    Heaps with lazy deletion: a changed due time files the unit again and an entry that no
    longer matches its unit is dropped when it reaches the top. Ties go to the unit
    discovered first, as a scan of the units in discovery order would have it. Times are
    seconds on the caller's monotonic clock.
    """

    __slots__ = (
        "_config",
        "_heard",
        "_heartbeats",
        "_keys",
        "_order",
        "_requests",
        "_serial",
        "schedules",
    )

    def __init__(self, config: DirectorConfig) -> None:
        self._config = config
        #: device ID -> schedule, in discovery order.
        self.schedules: dict[int, PollSchedule] = {}
        #: device ID -> its place in discovery order (a unit forgotten and found again is last).
        self._order: dict[int, int] = {}
        #: online device ID -> (heartbeat due, request due or None) as last filed.
        self._keys: dict[int, tuple[float, float | None]] = {}
        self._serial = itertools.count()
        #: online device ID -> when last heard, least recently heard first.
        self._heard: dict[int, float] = {}
        self._heartbeats: list[_Entry] = []
        self._requests: list[_Entry] = []

    def add(self, device_id: int, now: float) -> PollSchedule:
        """A unit discovered at ``now``: its schedule; online and heard now."""
        schedule = PollSchedule(self._config, now, functools.partial(self._file, device_id))
        self.schedules[device_id] = schedule
        self._order[device_id] = next(self._serial)
        self.set_online(device_id, True)
        self.heard(device_id, now)
        return schedule

    def remove(self, device_id: int) -> None:
        """Forget a unit altogether."""
        self.set_online(device_id, False)
        del self.schedules[device_id], self._order[device_id]

    def set_online(self, device_id: int, online: bool) -> None:
        """A unit went silent (``False``) or answered again (``True``; call :meth:`heard`)."""
        if not online:
            self._keys.pop(device_id, None)
            self._heard.pop(device_id, None)
        elif device_id not in self._keys:
            self._file(device_id, online=True)

    def heard(self, device_id: int, now: float) -> None:
        """An online unit's frame arrived at ``now`` (its silence deadline moves)."""
        self._heard.pop(device_id, None)
        self._heard[device_id] = now

    def silent(self, now: float, lost_after: float) -> list[int]:
        """Online units not heard for ``lost_after`` s at ``now``, least recently heard
        first (``now >= heard + lost_after``, the sum the caller's deadlines use)."""
        silent = []
        for device_id, heard in self._heard.items():
            if now < heard + lost_after:
                break
            silent.append(device_id)
        return silent

    def next_silence(self, now: float, lost_after: float) -> float:
        """The earliest ``heard + lost_after`` of an online unit after ``now``; ``inf`` if
        none (the first in heard order, past any not yet expired by the caller)."""
        for heard in self._heard.values():
            if now < heard + lost_after:
                return heard + lost_after
        return math.inf

    def next_heartbeat(self) -> tuple[float, int] | None:
        """(due time, device ID) of the online unit whose heartbeat is due first."""
        return self._peek(self._heartbeats, 0)

    def next_request(self) -> tuple[float, int] | None:
        """(due time, device ID) of the first data request an online unit may be sent."""
        return self._peek(self._requests, 1)

    def _file(self, device_id: int, *, online: bool = False) -> None:
        before = self._keys.get(device_id)
        if before is None and not online:
            return  # offline: filed again when it answers
        order = self._order[device_id]
        schedule = self.schedules[device_id]
        heartbeat = schedule.heartbeat_due
        request = schedule.next_request_due() if schedule.request_allowed else None
        self._keys[device_id] = (heartbeat, request)
        if before is None or before[0] != heartbeat:
            heapq.heappush(self._heartbeats, (heartbeat, order, device_id))
        if request is not None and (before is None or before[1] != request):
            heapq.heappush(self._requests, (request, order, device_id))
        if len(self._heartbeats) + len(self._requests) > 8 * len(self._keys) + 32:
            self._rebuild()

    def _peek(self, heap: list[_Entry], field: int) -> tuple[float, int] | None:
        while heap:
            when, order, device_id = heap[0]
            keys = self._keys.get(device_id)
            if keys is not None and keys[field] == when and self._order[device_id] == order:
                return when, device_id
            heapq.heappop(heap)
        return None

    def _rebuild(self) -> None:
        """Drop every stale entry (units going silent and claims leave some deep down)."""
        self._heartbeats = [(keys[0], self._order[d], d) for d, keys in self._keys.items()]
        self._requests = [
            (keys[1], self._order[d], d) for d, keys in self._keys.items() if keys[1] is not None
        ]
        heapq.heapify(self._heartbeats)
        heapq.heapify(self._requests)
