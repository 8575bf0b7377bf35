"""Gen 3 owners first: both commands without a Gen 2 bus, and one view of both generations."""

from __future__ import annotations

import asyncio
import datetime
import json
import re
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.test_headless import _command
from tests.test_screen import CHARGING, DIRECTOR
from tests.tmux import TmuxSession, needs_tmux
from twcdirector.__main__ import main as headless_main
from twcdirector.events import CAR_CONNECTED, CarConnected
from twcdirector.gen3 import Endpoint, Gen3Config, Gen3Monitor, Gen3Tracker, decode_body
from twcdirector.gen3.overview import overview
from twcdirector.screen import GEN3_ONLY, ScreenSnapshot, render
from twcdirector.simulator.gen3 import start_gen3_units
from twcdirector.utility import Console, _summary, parse_options

pytestmark = pytest.mark.timeout(120)

DATA = Path(__file__).resolve().parent / "data" / "gen3"
#: A loopback port nothing listens on (the discard port): connection refused at once.
DEAD_HOST = "127.0.0.1:9"


def _charging_unit(device_id: str, *, heard_at: float, now: float) -> Any:
    tracker = Gen3Tracker(device_id, Gen3Config(), now=0.0)
    body = decode_body((DATA / "vitals-na-split-phase.json").read_bytes(), "vitals")
    tracker.record_body(Endpoint.VITALS, body, now=heard_at)
    return tracker.snapshot(now)


# --- the headless command, as a real process -------------------------------------------------


async def _records_until(
    process: asyncio.subprocess.Process, done: Any, within: float = 60.0
) -> list[dict[str, Any]]:
    assert process.stdout is not None
    records: list[dict[str, Any]] = []
    async with asyncio.timeout(within):
        while not done(records):
            line = await process.stdout.readline()
            assert line, "the command ended early"
            records.append(json.loads(line))
    return records


async def test_headless_watches_gen3_units_with_no_port() -> None:
    """``python3 -m twcdirector --gen3 HOST:PORT``: the same JSON lines, no Gen 2 bus; a host
    that never answers is reported at once, not silently skipped."""
    (unit,) = await start_gen3_units(1)
    unit.start_charging(16)
    process = await _command("--gen3", unit.host_port, "--gen3", DEAD_HOST)
    try:

        def seen(records: list[dict[str, Any]]) -> bool:
            names = {(r["event"], r["device"]) for r in records}
            return {
                ("TWC_NEW_DEVICE", unit.host_port),
                ("GEN3_VITALS", unit.host_port),
                ("TWC_CAR_CONNECTED", unit.host_port),
                ("GEN3_VERSION", unit.host_port),
                ("GEN3_ERROR", DEAD_HOST),
            } <= names

        records = await _records_until(process, seen)
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await unit.stop()
    assert process.returncode == 0, err
    assert set(records[0]) == {"time", "event", "device", "data"}
    vitals = next(r for r in records if r["event"] == "GEN3_VITALS")
    assert vitals["data"]["evse_state"] == 11
    connected = next(r for r in records if r["event"] == "TWC_CAR_CONNECTED")
    assert (connected["device"], connected["data"]["connected"]) == (unit.host_port, True)
    dead = next(r for r in records if r["device"] == DEAD_HOST)
    assert dead["event"] == "GEN3_ERROR"  # its very first line: the first failure
    assert dead["data"]["kind"] == "CONNECTION"
    assert not [r for r in records if r["event"] == "TWC_NEW_DEVICE" and r["device"] == DEAD_HOST]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give --port URL (a Gen 2 bus), --gen3 HOST[:PORT] (Gen 3 units), or both"),
        (["--gen3", "192.0.2.1", "--max-current", "16"], "--max-current is about a Gen 2 bus"),
        (["--gen3", "192.0.2.1", "--listen-only"], "--listen-only is about a Gen 2 bus"),
        (["--gen3", "192.0.2.1", "--fail-safe"], "--fail-safe is about a Gen 2 bus"),
        (["--gen3", "http://192.0.2.1/update"], "is not a host"),
    ],
)
def test_headless_gen3_only_mistakes_are_one_line_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        headless_main(argv)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert message in err


# --- the utility -------------------------------------------------------------------------


def test_utility_options_gen3_alone() -> None:
    simulated = parse_options(["--simulate-gen3", "2"])
    assert (simulated.port, simulated.simulate, simulated.simulate_gen3) == (None, 0, 2)
    watched = parse_options(["--gen3", "192.0.2.1", "--gen3", "192.0.2.2:8080"])
    assert watched.gen3 == ("192.0.2.1", "192.0.2.2:8080")
    assert watched.config.max_current is None


def test_the_header_says_gen3_only() -> None:
    units = (_charging_unit("192.0.2.7", heard_at=1.0, now=3.0), _never_answered())
    screen = render(ScreenSnapshot(None, now=3.0, gen3=units, selected=1), 140, 20)
    assert GEN3_ONLY in screen.lines[0]
    assert "Gen 3 units 2  answering 1" in screen.lines[1]
    assert "frames in" not in "\n".join(screen.lines)
    rows = [line for line in screen.lines if line.startswith("192.0.2.")]
    assert len(rows) == 2
    assert "11 charging" in rows[0]
    assert "unreachable" in rows[1]
    assert screen.highlight is not None
    assert screen.lines[screen.highlight] == rows[1]


def _never_answered() -> Any:
    return Gen3Tracker("192.0.2.8", Gen3Config(), now=0.0).snapshot(3.0)


async def test_the_console_runs_on_a_monitor_alone() -> None:
    monitor = Gen3Monitor(["192.0.2.7", "192.0.2.8"])
    console = Console(None, 0, monitor)
    assert [row.device_id for row in console.rows()] == ["192.0.2.7", "192.0.2.8"]
    console.selected = 5
    screen = console.draw(120, 20)
    assert GEN3_ONLY in screen.lines[0]
    assert console.selected == 1
    console.handle_key("8")
    assert "read-only" in console.log[-1]
    await monitor.stop()


def test_a_gen3_car_is_connected_without_vin_none() -> None:
    assert _summary(CAR_CONNECTED, CarConnected("192.0.2.7", True, None)) == "car connected"
    gen2 = CarConnected("1839", True, "5YJ3E1EA1KF123456")
    assert _summary(CAR_CONNECTED, gen2) == "car connected, VIN 5YJ3E1EA1KF123456"
    assert _summary(CAR_CONNECTED, CarConnected("1839", False, "")) == "car disconnected"


@needs_tmux
def test_the_utility_with_simulated_gen3_units_only_in_a_real_terminal() -> None:
    session = TmuxSession(
        [sys.executable, "-m", "twcdirector.utility", "--simulate-gen3", "1"], width=150, height=30
    )
    try:
        row = re.compile(r"^127\.0\.0\.1:\d+ +G3 +11 charging", re.MULTILINE)
        screen = session.wait_for(
            lambda s: bool(row.search(s)) and "car connected" in s, what="a charging Gen 3 row"
        )
        assert "Gen 3 only" in screen
        assert "VIN None" not in screen
        session.send("q")
        assert session.wait_for_exit() == 0
    finally:
        session.close()


# --- 6. one snapshot of both generations -----------------------------------------------------


def test_overview_lists_both_generations_with_wall_clock_last_heard() -> None:
    peripheral = replace(CHARGING, last_heard=990.0)
    director = replace(DIRECTOR, peripherals=(peripheral,))
    gen3 = [_charging_unit("192.0.2.7", heard_at=20.0, now=50.0), _never_answered()]
    wall = datetime.datetime(2026, 11, 29, 12, 0, 0, tzinfo=datetime.UTC)
    view = overview(director, gen3, now=1000.0, wall_now=wall)
    gen2_row, gen3_row, silent = view.units
    assert (gen2_row.device_id, gen2_row.generation, gen2_row.state) == ("1839", 2, "CHARGING")
    assert gen2_row.vin == "5YJ3E1EA1KF123456"
    assert gen2_row.last_heard == wall - datetime.timedelta(seconds=10)
    assert (gen3_row.device_id, gen3_row.generation, gen3_row.state) == ("192.0.2.7", 3, "charging")
    assert (gen3_row.car_connected, gen3_row.vin, gen3_row.online) == (True, None, True)
    assert gen3_row.last_heard == wall - datetime.timedelta(seconds=30)
    assert (silent.online, silent.last_heard) == (False, None)
    assert view.time == wall
    assert view.gen2 is director


async def test_monitor_overview_of_a_live_unit() -> None:
    (unit,) = await start_gen3_units(1)
    monitor = Gen3Monitor([unit.host_port], config=Gen3Config(request_gap=0.0))
    try:
        await monitor.refresh()
        view = monitor.overview()
    finally:
        await monitor.stop()
        await unit.stop()
    [row] = view.units
    assert row.serial_number == unit.state.serial_number
    assert row.last_heard is not None
    assert abs((view.time - row.last_heard).total_seconds()) < 5


def _unit_with_serial(device_id: str, serial: str) -> Any:
    tracker = Gen3Tracker(device_id, Gen3Config(), now=0.0)
    body = decode_body((DATA / "vitals-na-split-phase.json").read_bytes(), "vitals")
    tracker.record_body(Endpoint.VITALS, body, now=1.0)
    version = json.dumps(
        {"firmware_version": "23.24.3", "part_number": "1734412-02-B", "serial_number": serial}
    )
    tracker.record_body(Endpoint.VERSION, decode_body(version.encode(), "version"), now=1.0)
    return tracker.snapshot(3.0)


@pytest.mark.parametrize("width", [80, 100, 128, 140, 160, 200])
def test_gen3_only_key_help_and_serial_numbers_never_cut(width: int) -> None:
    serials = ("SIM000000001", "SIM000000002", "PGT22091234567890")
    units = tuple(
        _unit_with_serial(f"127.0.0.1:4401{n}", serial) for n, serial in enumerate(serials)
    )
    screen = render(ScreenSnapshot(None, now=3.0, gen3=units), width, 20)
    # Only what applies without a Gen 2 bus: selection, the log, quitting.
    footer = screen.lines[-1]
    assert "select" in footer or "unit" in footer
    assert "q quit" in footer
    for gen2_key in ("open", "close", "default", "session", "+/-"):
        assert gen2_key not in footer
    # Each serial whole, or the column left out whole: never "SIM0000000" for both.
    rows = [line for line in screen.lines if line.startswith("127.0.0.1:")]
    assert len(rows) == 3
    shown = ["Serial" in line for line in screen.lines[:4]]
    for row, serial in zip(rows, serials, strict=True):
        if any(shown):
            assert f" {serial} " in f"{row} "
        else:
            assert serial[:3] not in row
    if width >= 140:
        assert any(shown)
    # With a Gen 2 bus the Gen 2 keys are still shown.
    assert "session" in render(ScreenSnapshot(DIRECTOR, now=3.0), 140, 20).lines[-1]
