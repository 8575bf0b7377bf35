"""The utility's screen, rendered without curses."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from twcdirector.gen2.snapshot import DirectorSnapshot, PeripheralSnapshot
from twcdirector.gen3 import Endpoint, Gen3Config, Gen3Tracker, decode_body
from twcdirector.keys import COMMAND_KEYS, KEY_HELP, Action
from twcdirector.protocol import ProtocolVersion
from twcdirector.screen import MIN_HEIGHT, MIN_WIDTH, ScreenSnapshot, render

CHARGING = PeripheralSnapshot(
    id=0x1839,
    sign=0x52,
    protocol=ProtocolVersion.V2,
    advertised_max=32.0,
    state=1,
    state_name="CHARGING",
    allowed_amps=20.0,
    actual_amps=19.5,
    lifetime_kwh=1234,
    voltages=(240, 0, 0),
    firmware="4.5.3.2",
    serial="A18B0001234",
    vin_fragments=("5YJ3E1E", "A1KF123", "456"),
    vin="5YJ3E1EA1KF123456",
    car_connected=True,
    plugged=True,
    last_heard=97.0,
    online=True,
    frames=10,
    timeouts=0,
    errors=0,
)
SILENT = replace(
    CHARGING,
    id=0x2019,
    protocol=ProtocolVersion.V1,
    state=None,
    state_name=None,
    allowed_amps=None,
    actual_amps=None,
    vin=None,
    vin_fragments=(None, None, None),
    car_connected=False,
    plugged=False,
    online=False,
)
DIRECTOR = DirectorSnapshot(
    port="/dev/pts/3",
    listen_only=False,
    controller_id=0xF00D,
    frames_in=100,
    frames_out=90,
    framing_errors={"checksum": 2, "escape": 0, "length": 1, "overrun": 0},
    link_up=True,
    peripherals=(CHARGING, SILENT),
)


def _screen(**changes: object) -> ScreenSnapshot:
    return replace(ScreenSnapshot(DIRECTOR, now=100.0), **changes)  # type: ignore[arg-type]


def test_header_table_log_and_footer() -> None:
    log = tuple(f"event {i}" for i in range(40))
    screen = render(_screen(log=log), 140, 20)
    text = "\n".join(screen.lines)
    assert len(screen.lines) == 20
    assert all(len(line) <= 140 for line in screen.lines)
    assert "port /dev/pts/3" in screen.lines[0]
    assert "mode controller" in screen.lines[0]
    assert "ID F00D" in screen.lines[0]
    assert "link up" in screen.lines[0]
    assert "frames in 100  out 90" in screen.lines[1]
    assert "framing errors 3 (checksum 2, length 1)" in screen.lines[1]
    row = next(line for line in screen.lines if line.startswith("1839"))
    for cell in ("01 CHARGING", "20.00 A", "19.50 A", "5YJ3E1EA1KF123456", "1234", "240/0/0"):
        assert cell in row
    assert "4.5.3.2" in row
    assert "A18B0001234" in row
    assert row.endswith("3s")
    lost = next(line for line in screen.lines if line.startswith("2019"))
    assert lost.endswith("lost")
    assert "event 39" in text  # newest log lines are kept
    assert "event 0" not in text
    assert screen.lines[-1] == KEY_HELP


def test_selection_is_highlighted_and_follows_the_index() -> None:
    first = render(_screen(selected=0), 140, 20)
    second = render(_screen(selected=1), 140, 20)
    assert first.highlight is not None
    assert first.lines[first.highlight].startswith("1839")
    assert second.highlight == first.highlight + 1
    assert second.lines[second.highlight].startswith("2019")


def test_selected_row_stays_visible_when_rows_overflow() -> None:
    many = tuple(replace(CHARGING, id=0x1000 + i) for i in range(30))
    snapshot = _screen(director=replace(DIRECTOR, peripherals=many), selected=29)
    screen = render(snapshot, 120, MIN_HEIGHT + 2)
    assert screen.highlight is not None
    assert screen.lines[screen.highlight].startswith("101D")


def test_listen_only_and_link_down_are_shown() -> None:
    director = replace(DIRECTOR, listen_only=True, link_up=False, peripherals=())
    screen = render(_screen(director=director), 100, 15)
    assert "mode listen-only" in screen.lines[0]
    assert "link DOWN" in screen.lines[0]
    assert screen.highlight is None
    assert any("waiting for peripherals" in line for line in screen.lines)


@pytest.mark.parametrize(("width", "height"), [(MIN_WIDTH - 1, 30), (120, MIN_HEIGHT - 1), (5, 1)])
def test_too_small_says_so(width: int, height: int) -> None:
    screen = render(_screen(), width, height)
    assert screen.highlight is None
    assert len(screen.lines) <= height
    assert all(len(line) <= width for line in screen.lines)
    assert "".join(screen.lines).startswith("terminal too small"[: width * height])


@pytest.mark.parametrize("width", [MIN_WIDTH, 80, 200])
@pytest.mark.parametrize("height", [MIN_HEIGHT, 24, 60])
def test_every_size_fits_exactly(width: int, height: int) -> None:
    screen = render(_screen(log=("x" * 500,)), width, height)
    assert len(screen.lines) == height
    assert all(len(line) <= width for line in screen.lines)


def test_gen3_rows_are_read_only() -> None:
    tracker = Gen3Tracker("192.0.2.7:80", Gen3Config(), now=0.0)
    body = (Path(__file__).parent / "data" / "gen3" / "vitals-na-split-phase.json").read_text()
    tracker.record_body(Endpoint.VITALS, decode_body(body), now=1.0)
    snapshot = _screen(gen3=(tracker.snapshot(now=3.0),), selected=2)
    screen = render(snapshot, 140, 20)
    assert screen.highlight is not None
    row = screen.lines[screen.highlight]
    assert row.startswith("192.0.2.7:80")
    assert "G3" in row
    assert "read-only" in row
    assert "4.00 A" in row  # vehicle_current_a
    assert "244/244/120" in row
    assert " yes " in row


def test_key_table_is_the_seeds() -> None:
    assert COMMAND_KEYS["d"].action is Action.OPEN_CONTACTORS
    assert COMMAND_KEYS["c"].action is Action.CLOSE_CONTACTORS
    defaults = {k: COMMAND_KEYS[k].amps for k in "12345"}
    sessions = {k: COMMAND_KEYS[k].amps for k in "67890"}
    assert defaults == {"1": 6, "2": 10, "3": 20, "4": 32, "5": 0}
    assert sessions == {"6": 6, "7": 10, "8": 20, "9": 32, "0": 0}
    assert all(COMMAND_KEYS[k].action is Action.DEFAULT_CURRENT for k in "12345")
    assert all(COMMAND_KEYS[k].action is Action.SESSION_CURRENT for k in "67890")
    assert COMMAND_KEYS["-"].action is Action.DECREASE_CURRENT
    assert COMMAND_KEYS["+"].action is Action.INCREASE_CURRENT
    assert COMMAND_KEYS["8"].label == "session current 20 A"


def test_capacity_sharing_shows_in_the_header() -> None:
    from twcdirector.sharing import Demand, SharingSnapshot, UnitShare
    from twcdirector.utility import _sharing_line

    shares = tuple(
        UnitShare(unit, target, target, target, target, 32, Demand.CHARGING, True)
        for unit, target in (("1839", 14), ("2019", 13), ("2433", 13))
    )
    line = _sharing_line(SharingSnapshot(40, 32, 40, 0, shares))
    assert line == (
        "sharing 40 A: used 40 A, available 0 A  |  shares: 1839 14 A  2019 13 A  2433 13 A"
    )
    assert _sharing_line(None) is None
    screen = render(_screen(sharing=line), 140, 20)
    assert screen.lines[2] == line
    assert screen.lines[3].startswith("ID ")
