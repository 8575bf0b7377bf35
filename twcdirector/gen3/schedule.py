"""When each Gen 3 endpoint is due, with backoff after failures (pure; time is a parameter)."""

from __future__ import annotations

from collections.abc import Sequence

from .config import Gen3Config
from .model import Endpoint

#: Tie-break when several endpoints are due at once: identity first, then live state.
POLL_ORDER = (Endpoint.VERSION, Endpoint.VITALS, Endpoint.LIFETIME, Endpoint.WIFI_STATUS)


class Gen3Schedule:
    """The polling plan of one unit.

    Every endpoint is due at start. A success schedules the endpoint's next read one
    interval later (vitals: 5 s with a vehicle, 30 s without). A failure delays that
    endpoint by its own exponential backoff and holds the whole unit back by the unit's,
    so a dead unit is asked ever more rarely and a broken endpoint cannot be hammered.
    """

    def __init__(self, config: Gen3Config, now: float) -> None:
        self._config = config
        self._due = dict.fromkeys(POLL_ORDER, now)
        self._endpoint_failures = dict.fromkeys(POLL_ORDER, 0)
        #: Consecutive failed requests of the unit, whatever the endpoint.
        self.failures = 0
        #: The unit is not asked anything before this time.
        self.not_before = now

    def next_request(self) -> tuple[Endpoint, float]:
        """The endpoint to read next and the earliest time to read it."""
        endpoint = min(POLL_ORDER, key=lambda item: (self._due[item], POLL_ORDER.index(item)))
        return endpoint, max(self._due[endpoint], self.not_before)

    def due(self, endpoint: Endpoint) -> float:
        """When ``endpoint`` is next due, ignoring the unit's backoff."""
        return self._due[endpoint]

    def interval(self, endpoint: Endpoint, *, vehicle_connected: bool | None) -> float:
        """The normal period of ``endpoint``."""
        config = self._config
        if endpoint is Endpoint.VITALS:
            if vehicle_connected:
                return config.vitals_interval_connected
            return config.vitals_interval_idle
        if endpoint is Endpoint.LIFETIME:
            return config.lifetime_interval
        if endpoint is Endpoint.WIFI_STATUS:
            return config.wifi_status_interval
        return config.version_interval

    def on_success(self, endpoint: Endpoint, now: float, *, vehicle_connected: bool | None) -> None:
        """``endpoint`` was read at ``now``."""
        self.failures = 0
        self._endpoint_failures[endpoint] = 0
        self.not_before = now
        self._due[endpoint] = now + self.interval(endpoint, vehicle_connected=vehicle_connected)

    def on_failure(self, endpoint: Endpoint, now: float) -> float:
        """Reading ``endpoint`` failed at ``now``; returns the unit's backoff pause."""
        self.failures += 1
        self._endpoint_failures[endpoint] += 1
        self._due[endpoint] = now + self._config.backoff(self._endpoint_failures[endpoint])
        pause = self._config.backoff(self.failures)
        self.not_before = now + pause
        return pause

    def request_now(self, endpoint: Endpoint, now: float) -> None:
        """Make ``endpoint`` due at once (e.g. version after a reboot)."""
        self._due[endpoint] = min(self._due[endpoint], now)


def choose_next(
    requests: Sequence[tuple[Endpoint, float]], earliest: float
) -> tuple[int, Endpoint, float] | None:
    """Which unit a monitor asks next: the earliest due (first listed on a tie).

    ``requests`` holds each unit's :meth:`Gen3Schedule.next_request`; ``earliest`` is the
    end of the previous request plus the monitor's gap. Returns the unit's index, the
    endpoint and when to send, or ``None`` when there are no units.
    """
    if not requests:
        return None
    index = min(range(len(requests)), key=lambda item: (requests[item][1], item))
    endpoint, when = requests[index]
    return index, endpoint, max(when, earliest)
