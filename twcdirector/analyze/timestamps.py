"""Leading timestamps of hex-dump lines (pure).

Three shapes are read, each optionally in brackets and followed by ``:``, ``,`` or ``-``:

* ISO 8601 date and time, ``2026-11-29T10:00:01.250+00:00`` or ``2026-11-29 10:00:01,250``
  (a time without zone is taken as UTC): seconds since the Unix epoch, wall time known;
* time of day, ``10:00:01.250`` (TWCManager's debug log): seconds since midnight, counted on
  across midnight;
* seconds with a decimal point, ``1234.567`` (``candump``/``ts`` style): as they are.

Nothing else counts as a timestamp, so a leading hex byte is never taken for one.
"""

from __future__ import annotations

import datetime
import re
from enum import StrEnum
from typing import NamedTuple

_DAY = 86400.0


class Clock(StrEnum):
    """What a capture's times count."""

    EPOCH = "epoch"  #: seconds since 1970 UTC: the wall time is known
    MONOTONIC = "monotonic"  #: a --log's monotonic clock, mapped to wall time by its records
    TIME_OF_DAY = "time_of_day"  #: seconds since midnight of an unknown day
    RELATIVE = "relative"  #: seconds from some start


_STAMP = re.compile(
    r"\s*\[?\s*(?:"
    r"(?P<iso>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)"
    r"|(?P<tod>\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?)"
    r"|(?P<sec>\d+\.\d+)"
    r")\s*\]?\s*[:,\-]?(?:\s+|$)"
)


class Stamp(NamedTuple):
    """A parsed leading timestamp and where the rest of the line starts."""

    seconds: float
    clock: Clock
    end: int


def parse_stamp(line: str) -> Stamp | None:
    """The timestamp at the start of ``line``, or None."""
    # The common shape first, without the expression: "1234.567 C0 FD ...".
    head, space, _ = line.partition(" ")
    if space and "." in head and head.replace(".", "", 1).isdigit():
        return Stamp(float(head), Clock.RELATIVE, len(head) + 1)
    match = _STAMP.match(line)
    if match is None:
        return None
    iso, tod, sec = match.group("iso", "tod", "sec")
    if iso is not None:
        try:
            when = datetime.datetime.fromisoformat(iso.replace(",", "."))
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
        return Stamp(when.timestamp(), Clock.EPOCH, match.end())
    if tod is not None:
        hours, minutes, seconds = tod.replace(",", ".").split(":")
        if int(hours) > 23 or int(minutes) > 59 or float(seconds) >= 61:
            return None
        return Stamp(
            int(hours) * 3600 + int(minutes) * 60 + float(seconds),
            Clock.TIME_OF_DAY,
            match.end(),
        )
    return Stamp(float(sec), Clock.RELATIVE, match.end())


class DayCounter:
    """Turns times of day into a running count: a jump back of more than 12 h is midnight."""

    __slots__ = ("_last", "_offset")

    def __init__(self) -> None:
        self._offset = 0.0
        self._last = -1.0

    def running(self, time_of_day: float) -> float:
        """Seconds since midnight of the capture's first day."""
        if time_of_day < self._last - _DAY / 2:
            self._offset += _DAY
        self._last = time_of_day
        return self._offset + time_of_day


def parse_iso(text: object) -> datetime.datetime | None:
    """An ISO 8601 wall time (UTC if it names no zone), or None."""
    if not isinstance(text, str):
        return None
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=datetime.UTC)
