"""A newcomer's first hour (issue 12), without a terminal: pipes, limits, the --log file, the
narrow screen. The terminal itself is driven in ``tests/test_utility_first_hour.py``."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.director_fakes import FakePeripheral, MemoryBus, run_virtual
from tests.test_screen import CHARGING, DIRECTOR
from twcdirector import __main__ as headless
from twcdirector import utility
from twcdirector.cli import EXIT_USAGE
from twcdirector.gen2.config import DirectorConfig
from twcdirector.gen2.snapshot import DirectorSnapshot, PeripheralSnapshot
from twcdirector.keys import KEY_HELPS
from twcdirector.recorder import LogFile
from twcdirector.screen import ScreenSnapshot, render

ROOT = Path(__file__).resolve().parent.parent


# --- item 4: pipes --------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_headless_into_head_exits_promptly_without_a_traceback() -> None:
    """``python3 -m twcdirector … | head -2``: the reader goes away after two lines."""
    simulator = subprocess.Popen(
        [sys.executable, "-m", "twcdirector.simulator", "--peripherals", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert simulator.stdout is not None
        pty_path = simulator.stdout.readline().split()[0]
        command = subprocess.Popen(
            [sys.executable, "-m", "twcdirector", "--port", pty_path, "--listen-only"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert command.stdout is not None
        lines = [command.stdout.readline(), command.stdout.readline()]
        command.stdout.close()  # what head does after its two lines
        _, err = command.communicate(timeout=30)  # promptly: units announce every 1.3 s
    finally:
        simulator.terminate()
        simulator.communicate(timeout=30)
    assert all(json.loads(line)["event"] for line in lines)
    assert b"Traceback" not in err
    assert b"BrokenPipeError" not in err
    assert command.returncode == headless.EXIT_BROKEN_PIPE


# --- item 6: limits that cannot work --------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--max-current", "3"], "--max-current 3 A is below the protocol minimum"),
        (["--max-current", "16.5"], "--max-current 16.5: currents are whole amperes"),
        (["--max-current", "16", "--shared-max", "4"], "--shared-max 4 A is below one unit's"),
    ],
)
def test_limits_that_can_never_work_are_refused_at_start_in_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for parse in (utility.parse_options, headless.main):
        with pytest.raises(SystemExit) as info:
            parse(["--port", "loop://", *argv])
        assert info.value.code == EXIT_USAGE
        [line] = capsys.readouterr().err.splitlines()
        assert message in line


def test_simulate_0_is_told_the_range(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        utility.parse_options(["--simulate", "0"])
    [line] = capsys.readouterr().err.splitlines()
    assert line.endswith("--simulate takes 1 to 16 peripherals, not 0")


def test_a_real_port_without_max_current_is_warned_in_the_header() -> None:
    assert utility.parse_options(["--port", "/dev/ttyUSB0"]).warning == utility.NO_MAX_CURRENT
    assert utility.parse_options(["--port", "/dev/ttyUSB0", "--max-current", "32"]).warning is None
    assert utility.parse_options(["--port", "/dev/ttyUSB0", "--listen-only"]).warning is None
    assert utility.parse_options(["--simulate", "2"]).warning is None  # the units' 32 A
    screen = render(ScreenSnapshot(_director(), 100.0, warning=utility.NO_MAX_CURRENT), 80, 24)
    assert any("no --max-current: only 0 A can be sent" in line for line in screen.lines[:4])


def test_readme_commands_that_command_units_pass_max_current() -> None:
    """Every utility or headless line with a Gen 2 bus that may transmit gives a maximum."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^(?:\S+/)?python3? -m twcdirector(?:\.utility)? .*$", readme, re.M)
    commands += re.findall(r"^.*\.venv/bin/python -m twcdirector\.utility .*$", readme, re.M)
    talking = [
        line
        for line in commands
        if re.search(r"--(port|simulate) ", line) and "--listen-only" not in line
    ]
    assert len(talking) >= 5
    assert [line for line in talking if "--max-current" not in line] == []


# --- item 4 and 8: the --log file -----------------------------------------------------------


def test_the_log_rotates_at_its_cap_keeping_two_older_files(tmp_path: Path) -> None:
    path = tmp_path / "bus.jsonl"
    log = LogFile(str(path), max_mb=0.001)  # 1000 bytes
    for index in range(100):
        log.write(json.dumps({"n": index, "pad": "x" * 80}))
    log.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["bus.jsonl", "bus.jsonl.1", "bus.jsonl.2"]
    assert all((tmp_path / name).stat().st_size <= 1000 for name in files)
    last = path.read_text(encoding="utf-8").splitlines()[-1]
    assert json.loads(last)["n"] == 99  # the newest lines are in FILE itself


def test_a_log_that_becomes_unwritable_is_reported_once() -> None:
    said: list[str] = []
    log = LogFile("/dev/full", on_error=said.append)  # opens, then every write fails (ENOSPC)
    for _ in range(50):
        log.write('{"event":"FRAME"}')
    log.close()
    assert len(said) == 1
    assert "cannot write --log /dev/full" in said[0]
    assert "No space left on device" in said[0]


@pytest.mark.parametrize("main", [utility.main, headless.main])
def test_an_unwritable_log_fails_at_start_in_one_line(
    main: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.setattr(utility, "terminal_problem", lambda: None)
    log = str(tmp_path / "no-such-dir" / "bus.jsonl")
    try:
        code = main(["--port", "loop://", "--log", log])
    except SystemExit as stop:
        code = stop.code
    assert code == EXIT_USAGE
    [line] = capsys.readouterr().err.splitlines()
    assert f"cannot write --log {log}: No such file or directory" in line


def test_log_max_mb_must_not_be_negative(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        utility.parse_options(["--simulate", "1", "--log-max-mb", "-1"])
    assert "--log-max-mb must be 0" in capsys.readouterr().err


def test_headless_log_records_frames_events_and_warnings(tmp_path: Path) -> None:
    """The headless ``--log`` has the utility's format (both use one Recorder): raw frames,
    events (capacity sharing's among them), log records."""
    path = tmp_path / "headless.jsonl"

    async def main_() -> int:
        bus = MemoryBus([FakePeripheral(0x1839)])
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.call_later(5, logging.getLogger("twcdirector.test").warning, "unit %04X odd", 0x1839)
        loop.call_later(15, stop.set)
        code = await headless.run(
            "mem://",
            DirectorConfig(max_current=16, shared_max=20),
            out=io.StringIO(),
            link_factory=bus.factory,
            stop=stop,
            log_file=LogFile(str(path)),
        )
        bus.close()
        return code

    assert run_virtual(main_) == 0
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    frames = [r for r in records if r["event"] == "FRAME"]
    assert {r["direction"] for r in frames} == {"rx", "tx"}
    assert all(re.fullmatch(r"[0-9a-f]+", r["hex"]) for r in frames)
    names = {r["event"] for r in records}
    assert {"TWC_NEW_DEVICE", "TWC_STATUS", "TWC_SHARING_CHANGED", "LOG"} <= names
    [warning] = [r for r in records if r["event"] == "LOG"]
    assert warning["data"] == {
        "level": "WARNING",
        "logger": "twcdirector.test",
        "message": "unit 1839 odd",
    }


# --- item 5: 80x24 --------------------------------------------------------------------------


def _director(*peripherals: PeripheralSnapshot) -> DirectorSnapshot:
    return replace(DIRECTOR, port="/dev/ttyUSB0", peripherals=peripherals)


def _unit(device_id: int, *, online: bool) -> PeripheralSnapshot:
    return replace(CHARGING, id=device_id, online=online, last_heard=90.0)


def test_80x24_keeps_state_heard_a_lost_unit_and_the_keys_to_quit_and_adjust() -> None:
    snapshot = ScreenSnapshot(
        _director(_unit(0x1839, online=True), _unit(0x2019, online=False)), 100.0
    )
    screen = render(snapshot, 80, 24)
    assert len(screen.lines) == 24
    assert all(len(line) <= 80 for line in screen.lines)
    titles = next(line for line in screen.lines if line.startswith("ID "))
    assert "Heard" in titles
    assert "State" in titles
    lost = next(line for line in screen.lines if line.startswith("2019 "))
    assert "LOST" in lost
    assert lost.rstrip().endswith("lost")
    assert next(line for line in screen.lines if line.startswith("1839 ")).endswith("10s")
    footer = screen.lines[-1]
    assert "q quit" in footer
    assert "+/-" in footer
    assert footer == KEY_HELPS[-1]


def test_the_log_scrolls_back_and_says_so() -> None:
    log = tuple(f"line {n}" for n in range(100))
    latest = render(ScreenSnapshot(_director(), 0.0, log=log), 80, 24)
    assert "line 99" in latest.lines
    back = render(ScreenSnapshot(_director(), 0.0, log=log, log_scroll=30), 80, 24)
    assert "line 99" not in back.lines
    assert "line 69" in back.lines
    assert any("log: 30 lines back, PgDn" in line for line in back.lines)
