"""What the utility draws, as plain text: ``render(snapshot, width, height)`` (pure).

The curses adapter in :mod:`twcdirector.utility` only paints these lines and highlights one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .gen2.snapshot import DirectorSnapshot, PeripheralSnapshot
from .gen3.tracker import Gen3Snapshot
from .keys import GEN3_ONLY_KEY_HELPS, KEY_HELPS

#: The header's mode when no Gen 2 bus is watched.
GEN3_ONLY = "Gen 3 only"
#: Below this the screen says it is too small instead of drawing.
MIN_WIDTH = 60
MIN_HEIGHT = 10
_DASH = "-"


@dataclass(frozen=True, slots=True)
class ScreenSnapshot:
    """Everything one frame of the screen shows."""

    #: ``None`` when no Gen 2 bus is watched ("Gen 3 only").
    director: DirectorSnapshot | None
    #: Monotonic time the snapshot was taken (ages are computed against it).
    now: float
    gen3: tuple[Gen3Snapshot, ...] = ()
    #: Index of the selected row (Gen 2 rows first, then Gen 3 rows).
    selected: int = 0
    #: Recent log lines, oldest first.
    log: tuple[str, ...] = ()
    #: Capacity sharing summary, when a shared maximum is configured.
    sharing: str | None = None
    #: How many lines the log is scrolled back from its newest (PgUp / PgDn).
    log_scroll: int = 0
    #: What will not work as configured, shown in the header (``None``: nothing).
    warning: str | None = None

    @property
    def row_count(self) -> int:
        """Rows in the table."""
        return len(self.peripherals) + len(self.gen3)

    @property
    def peripherals(self) -> tuple[PeripheralSnapshot, ...]:
        """The Gen 2 rows (none without a Gen 2 bus)."""
        return () if self.director is None else self.director.peripherals


@dataclass(frozen=True, slots=True)
class Screen:
    """Lines to paint, and which one (if any) is the highlighted selection."""

    lines: tuple[str, ...]
    highlight: int | None = None


@dataclass(frozen=True, slots=True)
class _Column:
    title: str
    width: int
    right: bool = False


_COLUMNS = (
    _Column("ID", 6),
    _Column("P", 2),
    _Column("State", 20),
    _Column("Allowed", 9, right=True),
    _Column("Actual", 8, right=True),
    _Column("Car / VIN", 19),
    _Column("kWh", 8, right=True),
    _Column("Volts", 11),
    _Column("Firmware", 9),
    _Column("Serial", 12),
    _Column("Heard", 6, right=True),
)
_SERIAL = [column.title for column in _COLUMNS].index("Serial")
#: Columns left out, in this order, until the table fits the terminal: at 80 columns the
#: state, the currents, the car and "Heard" stay.
_OPTIONAL = ("Serial", "Firmware", "Volts", "kWh")


def render(snapshot: ScreenSnapshot, width: int, height: int) -> Screen:
    """The screen for a terminal of ``width`` x ``height`` characters."""
    if width < MIN_WIDTH or height < MIN_HEIGHT:
        message = f"terminal too small: {width}x{height}, need {MIN_WIDTH}x{MIN_HEIGHT}"
        return Screen(tuple(_fit(line, width) for line in _wrap(message, max(width, 1))[:height]))

    head = _header(snapshot)
    # The bottom-right cell is never written: the help must fit one column short.
    helps = KEY_HELPS if snapshot.director is not None else GEN3_ONLY_KEY_HELPS
    footer = next((help for help in helps if len(help) < width), helps[-1])
    rows = [_gen2_row(p, snapshot.now) for p in snapshot.peripherals]
    rows += [_gen3_row(unit) for unit in snapshot.gen3]
    id_width = max([_COLUMNS[0].width, *(len(row[0]) for row in rows)])
    # A serial number is never cut (two units' would look alike): its column takes the
    # longest one, and the column is left out whole when the terminal is too narrow.
    serial_width = max([_COLUMNS[_SERIAL].width, *(len(row[_SERIAL]) for row in rows)])
    table = [_Column("ID", min(id_width, 21)), *_COLUMNS[1:]]
    table[_SERIAL] = _Column("Serial", serial_width)
    columns = _fitting_columns(tuple(table), width)
    kept = [index for index, column in enumerate(_COLUMNS) if column.title in _titles(columns)]
    rows = [[row[index] for index in kept] for row in rows]

    # Table gets what it needs (at least one row); the log gets the rest, at least 2 lines.
    table_room = max(1, height - len(head) - 1 - 1 - 1 - 2)
    first = _scroll(len(rows), snapshot.selected, table_room)
    visible = rows[first : first + table_room]
    lines = [*(_fit(line, width) for line in head), _fit(_cells(_titles(columns), columns), width)]
    highlight = None
    if not rows:
        lines.append(_fit("  waiting for peripherals to announce themselves …", width))
    for index, row in enumerate(visible, start=first):
        if index == snapshot.selected:
            highlight = len(lines)
        lines.append(_fit(_cells(row, columns), width))
    log_room = height - len(lines) - 2
    scroll = min(snapshot.log_scroll, max(0, len(snapshot.log) - log_room))
    rule = "─" * width
    if scroll:
        rule = f"── log: {scroll} lines back, PgDn for newer ".ljust(width, "─")
    lines.append(_fit(rule, width))
    shown = snapshot.log[: len(snapshot.log) - scroll][-log_room:] if log_room > 0 else ()
    lines.extend(_fit(entry, width) for entry in shown)
    lines.extend([""] * (height - len(lines) - 1))
    lines.append(_fit(footer, width))
    return Screen(tuple(lines), highlight)


def _fitting_columns(columns: tuple[_Column, ...], width: int) -> tuple[_Column, ...]:
    """The columns that fit ``width``, leaving out :data:`_OPTIONAL` ones as needed."""
    for drop in range(len(_OPTIONAL) + 1):
        kept = tuple(column for column in columns if column.title not in _OPTIONAL[:drop])
        if sum(column.width + 1 for column in kept) - 1 <= width:
            return kept
    return kept


def _header(snapshot: ScreenSnapshot) -> list[str]:
    director = snapshot.director
    if director is None:
        answering = sum(1 for unit in snapshot.gen3 if unit.reachable)
        return [
            f"twcdirector  {GEN3_ONLY}  (no Gen 2 bus)  read-only",
            f"Gen 3 units {len(snapshot.gen3)}  answering {answering}",
        ]
    mode = "listen-only" if director.listen_only else "controller"
    errors = director.framing_errors
    error_total = sum(errors.values())
    detail = ", ".join(f"{kind} {count}" for kind, count in errors.items() if count)
    lines = [
        f"twcdirector  port {director.port}  mode {mode}  ID {director.controller_id:04X}  "
        f"link {'up' if director.link_up else 'DOWN'}",
        f"frames in {director.frames_in}  out {director.frames_out}  "
        f"framing errors {error_total}{f' ({detail})' if detail else ''}  "
        f"bus errors {director.bus_errors}",
    ]
    if snapshot.sharing:
        lines.append(snapshot.sharing)
    if snapshot.warning:
        lines.append(f"! {snapshot.warning}")
    return lines


def _titles(columns: Sequence[_Column]) -> list[str]:
    return [column.title for column in columns]


def _gen2_row(peripheral: PeripheralSnapshot, now: float) -> list[str]:
    if peripheral.vin:
        car = peripheral.vin
    elif peripheral.plugged:
        car = "plugged (no VIN)"
    else:
        car = "no"
    state = peripheral.state_name or _DASH
    if peripheral.state is not None:
        state = f"{peripheral.state:02X} {state}"
    if not peripheral.online:
        state = f"LOST, was {state}"
    heard = f"{max(0.0, now - peripheral.last_heard):.0f}s" if peripheral.online else "lost"
    return [
        peripheral.id_hex,
        str(int(peripheral.protocol)),
        state,
        _amps(peripheral.allowed_amps),
        _amps(peripheral.actual_amps),
        car,
        _or_dash(peripheral.lifetime_kwh),
        "/".join(str(v) for v in peripheral.voltages) if peripheral.voltages else _DASH,
        peripheral.firmware or _DASH,
        peripheral.serial or _DASH,
        heard,
    ]


def _gen3_row(unit: Gen3Snapshot) -> list[str]:
    state = unit.state_label or _DASH
    if unit.state is not None:
        state = f"{unit.state} {state}"
    if not unit.reachable:
        state = f"unreachable ({state})" if unit.state is not None else "unreachable"
    actual = unit.vitals.vehicle_current_a if unit.vitals else None
    car = {None: _DASH, True: "yes", False: "no"}[unit.vehicle_connected]
    kwh = None if unit.lifetime_energy_wh is None else round(unit.lifetime_energy_wh / 1000)
    volts = _DASH
    if unit.voltages is not None:
        phases = (unit.voltages.a, unit.voltages.b, unit.voltages.c)
        volts = "/".join(_or_dash(v, lambda x: f"{x:.0f}") for v in phases)
    heard = _DASH if unit.vitals_age is None else f"{unit.vitals_age:.0f}s"
    return [
        unit.device_id,
        "G3",
        state,
        "read-only",
        _amps(actual),
        car,
        _or_dash(kwh),
        volts,
        (unit.firmware_version or _DASH).split("+")[0],
        unit.serial_number or _DASH,
        heard,
    ]


def _amps(value: float | None) -> str:
    return _DASH if value is None else f"{value:.2f} A"


def _or_dash(value: object, fmt: Callable[[float], str] | None = None) -> str:
    if value is None:
        return _DASH
    if fmt is not None and isinstance(value, int | float):
        return fmt(value)
    return str(value)


def _cells(values: Sequence[str], columns: Sequence[_Column]) -> str:
    cells = []
    for value, column in zip(values, columns, strict=True):
        text = value if len(value) <= column.width else value[: column.width - 1] + "…"
        cells.append(text.rjust(column.width) if column.right else text.ljust(column.width))
    return " ".join(cells).rstrip()


def _scroll(rows: int, selected: int, room: int) -> int:
    """First visible row, so that the selected row is always on screen."""
    if rows <= room:
        return 0
    return min(max(0, selected - room + 1), rows - room)


def _fit(line: str, width: int) -> str:
    return line[:width]


def _wrap(text: str, width: int) -> list[str]:
    return [text[i : i + width] for i in range(0, len(text), width)] or [""]
