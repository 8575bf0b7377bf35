"""Bounded-memory summaries of long series (pure): a fixed-bin histogram and a timeline.

A day of bus traffic is ~650,000 frames; neither keeps the values. The histogram's
quantiles are exact to half a bin (1 ms for latencies, 10 ms for periods); count, minimum,
maximum and mean are exact. The timeline keeps at most ``limit`` buckets and doubles their
width whenever it would need more, so it always spans the whole capture.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Distribution:
    """Summary of a series of values (same unit as added, e.g. ms); NaN when empty."""

    count: int
    p50: float
    p99: float
    min: float
    max: float
    mean: float


class Histogram:
    """Counts values in ``bins`` bins of ``width``; values beyond land in an overflow bin.

    ``limit``: :attr:`above` counts the values greater than it, exactly (not to a bin), from
    the same :meth:`add` as the quantiles, so a count of late replies and the latency
    percentiles can never disagree.
    """

    __slots__ = ("_bins", "_limit", "_width", "above", "count", "max", "min", "total")

    def __init__(self, width: float, bins: int, *, limit: float = math.inf) -> None:
        self._width = width
        self._bins = [0] * (bins + 1)
        self._limit = limit
        #: Values added that were greater than ``limit``.
        self.above = 0
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf

    def add(self, value: float) -> None:
        """Count one value (negative values count as 0)."""
        # Compares, not min()/max(): this runs for every frame of a day's capture.
        if value < 0.0:  # noqa: PLR1730
            value = 0.0
        index = int(value / self._width)
        bins = self._bins
        bins[index if index < len(bins) else -1] += 1
        self.count += 1
        self.total += value
        if value > self._limit:
            self.above += 1
        if value > self.max:  # noqa: PLR1730
            self.max = value
        if value < self.min:  # noqa: PLR1730
            self.min = value

    def quantile(self, q: float) -> float:
        """The value below which a share ``q`` of the values lie, to half a bin; NaN if empty."""
        if not self.count:
            return math.nan
        rank = q * self.count
        seen = 0
        for index, number in enumerate(self._bins):
            seen += number
            if seen >= rank and number:
                if index == len(self._bins) - 1:
                    return self.max
                return min(max((index + 0.5) * self._width, self.min), self.max)
        return self.max

    def summary(self) -> Distribution:
        """Count, p50, p99, min, max and mean."""
        if not self.count:
            return Distribution(0, math.nan, math.nan, math.nan, math.nan, math.nan)
        return Distribution(
            self.count,
            self.quantile(0.5),
            self.quantile(0.99),
            self.min,
            self.max,
            self.total / self.count,
        )


def keep_max(old: float, new: float) -> float:
    """Reducer: the larger value."""
    return new if new > old else old


def keep_last(old: float, new: float) -> float:
    """Reducer: the later value."""
    return new


def add_up(old: float, new: float) -> float:
    """Reducer: the sum."""
    return old + new


Reducer = Callable[[float, float], float]


class Timeline:
    """Values over time in at most ``limit`` buckets, each value folded by its reducer."""

    __slots__ = (
        "_buckets",
        "_idempotent",
        "_keys",
        "_last",
        "_limit",
        "_origin",
        "_reducers",
        "width",
    )

    def __init__(self, reducers: Sequence[Reducer], *, limit: int = 2048, width: float = 1.0):
        self._reducers = tuple(reducers)
        self._idempotent = all(reduce in (keep_max, keep_last) for reduce in self._reducers)
        self._limit = limit
        #: Seconds per bucket now.
        self.width = width
        self._origin: float | None = None
        self._keys: list[int] = []
        self._buckets: list[list[float]] = []
        self._last: Sequence[float] = ()

    def add(self, time: float, values: Sequence[float]) -> None:
        """Fold ``values`` into the bucket of ``time`` (a time before the last bucket's joins
        the last bucket)."""
        if self._origin is None:
            self._origin = time
        key = int((time - self._origin) // self.width)
        keys = self._keys
        if keys and key <= keys[-1]:
            if self._idempotent and values == self._last:
                return  # max or last of a value the bucket already folded: no change
            self._last = values
            bucket = self._buckets[-1]
            for index, reduce in enumerate(self._reducers):
                bucket[index] = reduce(bucket[index], values[index])
            return
        keys.append(key)
        self._last = values
        self._buckets.append(list(values))
        if len(keys) > self._limit:
            self._halve()

    def points(self) -> list[tuple[float, tuple[float, ...]]]:
        """(start time of the bucket, its values), in time order."""
        if self._origin is None:
            return []
        origin, width = self._origin, self.width
        return [
            (origin + key * width, tuple(bucket))
            for key, bucket in zip(self._keys, self._buckets, strict=True)
        ]

    def _halve(self) -> None:
        self.width *= 2
        keys: list[int] = []
        buckets: list[list[float]] = []
        for key, bucket in zip(self._keys, self._buckets, strict=True):
            merged = key // 2
            if keys and keys[-1] == merged:
                last = buckets[-1]
                for index, reduce in enumerate(self._reducers):
                    last[index] = reduce(last[index], bucket[index])
            else:
                keys.append(merged)
                buckets.append(bucket)
        self._keys, self._buckets = keys, buckets
