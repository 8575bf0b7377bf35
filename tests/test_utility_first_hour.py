"""The utility as a newcomer meets it (issue 12), in a real terminal: tmux at 80x24, warnings
that must land in the log pane, a log file that fills up, a missing or unknown terminal."""

from __future__ import annotations

import re
import socket
import sys
from pathlib import Path

import pytest

from tests.test_utility_terminal import run_on_a_terminal
from tests.tmux import TmuxSession, needs_tmux
from twcdirector.keys import KEY_HELPS

CLOCK = re.compile(r"^\d\d:\d\d:\d\d ")
ROW = re.compile(r"^(1839|2019|2433|127\.0\.0\.1:\d+) ")
#: What may stand above the log pane's rule: the header, the titles, the rows.
ABOVE = re.compile(r"^(twcdirector  |frames in |ID +P +State|! |sharing )")


def _pane(screen: str) -> list[str]:
    """The log pane's lines (between the rule and the key help)."""
    lines = screen.rstrip("\n").splitlines()
    rule = next((i for i, line in enumerate(lines) if line.startswith("──")), None)
    return [] if rule is None else lines[rule + 1 : -1]


def assert_nothing_drawn_over(screen: str) -> None:
    """Every line is where the utility put it: no stray text from stderr anywhere."""
    lines = screen.rstrip("\n").splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("──"))
    for line in lines[:rule]:
        assert ABOVE.match(line) or ROW.match(line), f"stray text above the log: {line!r}"
    for line in lines[rule + 1 : -1]:
        assert not line.strip() or CLOCK.match(line), f"stray text in the log pane: {line!r}"
    assert lines[-1].rstrip() in KEY_HELPS, f"stray text in the key help: {lines[-1]!r}"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@needs_tmux
@pytest.mark.timeout(180)
def test_library_warnings_and_a_full_log_land_in_the_log_pane_once() -> None:
    """A Gen 3 host that never answers makes the library warn (after three failures); the log
    file is /dev/full, which opens but fails every write (a full SD card)."""
    host = f"127.0.0.1:{_closed_port()}"
    command = [sys.executable, "-m", "twcdirector.utility", "--simulate", "1"]
    command += ["--max-current", "32", "--gen3", host, "--log", "/dev/full"]
    session = TmuxSession(command, width=100, height=30)
    try:
        screen = session.wait_for(
            lambda s: any("warning: Gen 3 unit" in line for line in _pane(s)),
            timeout=90,
            what="the unreachable warning in the log pane",
        )
        assert_nothing_drawn_over(screen)
        failures = [line for line in _pane(screen) if "cannot write --log /dev/full" in line]
        assert len(failures) == 1, screen
        assert "No space left on device" in failures[0]
        session.send("q")
        assert session.wait_for_exit() == 0
    finally:
        session.close()


@needs_tmux
@pytest.mark.timeout(180)
def test_80x24_keys_refusals_and_scrolling(tmp_path: Path) -> None:
    log = tmp_path / "session.jsonl"
    command = [sys.executable, "-m", "twcdirector.utility", "--simulate", "3"]
    command += ["--max-current", "16", "--log", str(log)]
    session = TmuxSession(command, width=80, height=24)
    try:
        screen = session.wait_for(
            lambda s: len([line for line in s.splitlines() if ROW.match(line)]) == 3,
            what="three rows at 80x24",
        )
        titles = next(line for line in screen.splitlines() if line.startswith("ID "))
        assert "Heard" in titles
        assert re.search(r"^1839 .* \d+s$", screen, re.M)
        footer = screen.rstrip("\n").splitlines()[-1]
        assert "q quit" in footer
        assert "+/-" in footer
        assert_nothing_drawn_over(screen)

        # 4: default current 32 A, over --max-current 16: refused, never "sent".
        for _ in range(20):
            session.send("4")
        session.wait_for(
            lambda s: sum("default current 32 A: refused" in line for line in _pane(s)) >= 15,
            what="the refusals",
        )
        screen = session.screen()
        assert "default current 32 A: sent" not in screen
        assert "over the limit" in screen

        session.send("PPage")
        session.wait_for(lambda s: "lines back, PgDn" in s, what="the log scrolled back")
        session.send("NPage")
        session.send("NPage")
        screen = session.wait_for(lambda s: "lines back" not in s, what="back to the newest")
        assert_nothing_drawn_over(screen)
        session.send("q")
        assert session.wait_for_exit() == 0
    finally:
        session.close()
    refused = [line for line in log.read_text(encoding="utf-8").splitlines() if "REFUSED" in line]
    assert refused
    assert '"device":"1839"' in refused[0]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TERM": "no-such-terminal"}, "unknown terminal type 'no-such-terminal' (TERM)"),
        ({"TERM": ""}, "TERM is not set"),
    ],
)
def test_an_unknown_terminal_is_one_line_and_exit_2(env: dict[str, str], message: str) -> None:
    done = run_on_a_terminal(["--simulate", "1", "--max-current", "32"], env=env)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert message in line


def test_no_terminal_on_stdin_is_one_line_and_exit_2() -> None:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "twcdirector.utility", "--simulate", "1", "--max-current", "32"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert "standard input is not a terminal" in line


def test_a_usage_error_is_one_line_without_the_usage_block() -> None:
    done = run_on_a_terminal(["--simulate", "1", "--no-such-option"])
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "python3 -m twcdirector.utility: error: unrecognized arguments: --no-such-option"
    ]
