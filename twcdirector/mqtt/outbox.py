"""What to publish and when (pure, time is ``now``): the latest value per topic, rate-limited.

Event handlers only :meth:`Outbox.put` values; the MQTT task takes what is :meth:`Outbox.due`.
Memory is bounded: one entry per topic (a value replaces the one not yet sent) and at most
``notice_limit`` one-off notices (answers to commands, removals). A topic is published on
change, at most once per ``min_interval``, and every ``refresh_interval`` in full; after a
reconnect everything retained goes out again (the broker may have lost it).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

#: Seconds between two publications of one topic.
MIN_INTERVAL = 1.0
#: Seconds between two full refreshes of every state topic.
REFRESH_INTERVAL = 300.0
#: One-off notices kept while the broker is away; the oldest go first.
NOTICE_LIMIT = 32


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to publish."""

    topic: str
    payload: str
    retain: bool = True


@dataclass(slots=True)
class _Topic:
    value: str
    retain: bool
    refresh: bool
    sent: str | None = None
    sent_at: float = float("-inf")
    pending: bool = True


class Outbox:
    """The latest value of every topic, handed out at most once per ``min_interval``."""

    def __init__(
        self,
        *,
        min_interval: float = MIN_INTERVAL,
        refresh_interval: float = REFRESH_INTERVAL,
        notice_limit: int = NOTICE_LIMIT,
    ) -> None:
        self._min_interval = min_interval
        self._refresh_interval = refresh_interval
        self._topics: dict[str, _Topic] = {}
        self._notices: deque[Outgoing] = deque(maxlen=notice_limit)
        self._next_refresh: float | None = None

    def put(self, topic: str, value: str, *, retain: bool = True, refresh: bool = True) -> None:
        """Record a topic's latest value; it goes out if it differs from what was sent.

        ``refresh=False``: not part of the periodic refresh (discovery configs, which the
        broker retains), but still sent again after a reconnect.
        """
        entry = self._topics.get(topic)
        if entry is None:
            self._topics[topic] = _Topic(value, retain, refresh)
            return
        entry.value = value
        entry.pending = value != entry.sent

    def notify(self, topic: str, payload: str, *, retain: bool = False) -> None:
        """A one-off message, sent before any value and never rate-limited or repeated."""
        self._notices.append(Outgoing(topic, payload, retain))

    def reconnected(self, now: float) -> None:
        """The broker may have lost every retained message: send them all again now."""
        for entry in self._topics.values():
            entry.pending = True
            entry.sent_at = float("-inf")
        self._next_refresh = now + self._refresh_interval

    def due(self, now: float) -> list[Outgoing]:
        """Everything to publish now; what is handed out counts as sent."""
        if self._next_refresh is None:
            self._next_refresh = now + self._refresh_interval
        elif now >= self._next_refresh:
            self._next_refresh = now + self._refresh_interval
            for entry in self._topics.values():
                entry.pending = entry.pending or entry.refresh
        out = list(self._notices)
        self._notices.clear()
        for topic, entry in self._topics.items():
            if entry.pending and now >= entry.sent_at + self._min_interval:
                out.append(Outgoing(topic, entry.value, entry.retain))
                entry.sent = entry.value
                entry.sent_at = now
                entry.pending = False
        return out

    def next_due(self) -> float | None:
        """When :meth:`due` may next hand something out (``None``: only on a new value)."""
        if self._notices:
            return float("-inf")
        times = [
            entry.sent_at + self._min_interval for entry in self._topics.values() if entry.pending
        ]
        if self._next_refresh is not None:
            times.append(self._next_refresh)
        return min(times) if times else None
