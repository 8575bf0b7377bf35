"""Cadence (SPEC §8.3): the start-up burst and each peripheral's poll schedule.

Pure bookkeeping of due times; :mod:`.controller` decides which due frame gets the bus.
"""

from __future__ import annotations

import math

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
        "_request_interval",
        "heartbeat_due",
        "request_allowed",
        "request_due",
    )

    def __init__(self, config: DirectorConfig, now: float) -> None:
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

    def next_request_due(self) -> float:
        """When the next data request becomes due (it also waits for a heartbeat)."""
        return min(self.request_due)
