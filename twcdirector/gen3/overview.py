"""Both generations in one frozen view, with wall-clock "last heard" times (pure).

A Gen 2 peripheral is known by its bus ID and heard through its frames; a Gen 3 unit by its
``host[:port]`` and heard through its HTTP answers. :func:`overview` puts them in one list
of :class:`UnitOverview` rows, for programs that report or store them
(``Gen3Monitor.overview(director.snapshot())`` takes one now).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from .tracker import Gen3Snapshot


class Gen2PeripheralView(Protocol):
    """What a row needs of a Gen 2 peripheral's snapshot (``twcdirector.PeripheralSnapshot``).

    Structural, so that ``gen3`` never imports the Gen 2 package (the layer table forbids it).
    """

    @property
    def id_hex(self) -> str: ...
    @property
    def state_name(self) -> str | None: ...
    @property
    def plugged(self) -> bool: ...
    @property
    def car_connected(self) -> bool: ...
    @property
    def vin(self) -> str | None: ...
    @property
    def serial(self) -> str | None: ...
    @property
    def online(self) -> bool: ...
    #: Monotonic seconds.
    @property
    def last_heard(self) -> float: ...


class Gen2View(Protocol):
    """What :func:`overview` needs of ``director.snapshot()`` (``twcdirector.DirectorSnapshot``)."""

    @property
    def peripherals(self) -> Sequence[Gen2PeripheralView]: ...


@dataclass(frozen=True, slots=True)
class UnitOverview:
    """One Wall Connector of either generation, as last heard."""

    #: ``1839`` (Gen 2 bus ID, hex) or ``192.168.1.50`` (a Gen 3 unit's host[:port]).
    device_id: str
    generation: int
    #: The state code's label (``CHARGING``, ``charging``), ``None`` until reported.
    state: str | None
    #: A vehicle is plugged in (Gen 2: the heartbeat state implies it); ``None`` if unknown.
    car_connected: bool | None
    #: Gen 2 only, once all three fragments arrived.
    vin: str | None
    serial_number: str | None
    #: Answering: a Gen 2 unit not lost, a Gen 3 unit that answered and is not lost.
    online: bool
    #: When the unit last said anything (UTC), ``None`` if never.
    last_heard: datetime.datetime | None


@dataclass(frozen=True, slots=True)
class Overview:
    """Every watched unit at ``time``: Gen 2 rows first (by ID), then Gen 3 (by host)."""

    time: datetime.datetime
    units: tuple[UnitOverview, ...]
    #: The full snapshots the rows were made from.
    gen2: Gen2View | None
    gen3: tuple[Gen3Snapshot, ...]


def overview(
    gen2: Gen2View | None,
    gen3: Iterable[Gen3Snapshot],
    *,
    now: float,
    wall_now: datetime.datetime,
) -> Overview:
    """One view of both generations.

    ``now`` is the monotonic time (s) on the clock of the Gen 2 snapshot's ``last_heard``;
    Gen 3 snapshots carry ages already. ``wall_now`` (timezone-aware) turns both into
    wall-clock times.
    """
    gen3 = tuple(gen3)
    rows = [] if gen2 is None else [_gen2_row(p, now, wall_now) for p in gen2.peripherals]
    rows += [_gen3_row(unit, wall_now) for unit in gen3]
    return Overview(wall_now, tuple(rows), gen2, gen3)


def _gen2_row(
    peripheral: Gen2PeripheralView, now: float, wall_now: datetime.datetime
) -> UnitOverview:
    return UnitOverview(
        device_id=peripheral.id_hex,
        generation=2,
        state=peripheral.state_name,
        car_connected=peripheral.plugged or peripheral.car_connected,
        vin=peripheral.vin,
        serial_number=peripheral.serial,
        online=peripheral.online,
        last_heard=_wall(wall_now, max(0.0, now - peripheral.last_heard)),
    )


def _gen3_row(unit: Gen3Snapshot, wall_now: datetime.datetime) -> UnitOverview:
    return UnitOverview(
        device_id=unit.device_id,
        generation=3,
        state=unit.state_label,
        car_connected=unit.vehicle_connected,
        vin=None,
        serial_number=unit.serial_number,
        online=unit.reachable,
        last_heard=None if unit.heard_age is None else _wall(wall_now, unit.heard_age),
    )


def _wall(wall_now: datetime.datetime, age: float) -> datetime.datetime:
    return wall_now - datetime.timedelta(seconds=age)
