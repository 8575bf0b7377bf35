"""The curses utility in a real terminal: tmux runs it against simulated peripherals."""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tmux import TmuxSession, needs_tmux

pytestmark = [needs_tmux, pytest.mark.timeout(180)]

ROW = re.compile(r"^(1839|2019|2433) ", re.MULTILINE)
REVERSE = "\x1b[7m"


def _rows(screen: str) -> dict[str, str]:
    return {line[:4]: line for line in screen.splitlines() if ROW.match(line)}


def _selected(session: TmuxSession) -> str | None:
    """The ID of the row drawn in reverse video."""
    for line in session.capture_escapes().splitlines():
        plain = re.sub(r"\x1b\[[0-9;]*m", "", line)
        if REVERSE in line and ROW.match(plain):
            return plain[:4]
    return None


@pytest.fixture
def utility(tmp_path: Path) -> Iterator[TmuxSession]:
    log = tmp_path / "session.jsonl"
    session = TmuxSession(
        [
            sys.executable,
            "-m",
            "twcdirector.utility",
            "--simulate",
            "3",
            "--max-current",
            "32",
            "--log",
            str(log),
        ],
        width=150,
        height=32,
    )
    session.log_path = log  # type: ignore[attr-defined]
    try:
        yield session
    finally:
        session.close()


def test_utility_end_to_end_in_a_real_terminal(utility: TmuxSession) -> None:
    # Three peripherals appear.
    screen = utility.wait_for(lambda s: len(_rows(s)) == 3, what="three peripheral rows")
    assert "port /dev/pts/" in screen
    assert "mode controller" in screen
    assert _selected(utility) == "1839"

    # Down moves the selection to the second unit, where the demo plugs in a car at 8 s.
    utility.send("Down")
    utility.wait_for(lambda s: _selected(utility) == "2019", what="selection on 2019")
    utility.wait_for(
        lambda s: "plugged" in _rows(s).get("2019", ""), timeout=30, what="car on 2019"
    )

    # 8: session current 20 A; the unit's own report then reads 20 A allowed.
    utility.send("8")
    utility.wait_for(
        lambda s: "20.00 A" in _rows(s).get("2019", "").split("plugged")[0],
        timeout=30,
        what="2019 allowed 20 A",
    )
    utility.wait_for(lambda s: "session current 20 A: confirmed" in s, what="confirmation")

    # d: open contactors, reported in the log.
    utility.send("d")
    utility.wait_for(lambda s: "2019 open contactors: sent" in s, what="open contactors sent")
    utility.wait_for(lambda s: "open contactors: confirmed" in s, what="open confirmed")

    # A resize redraws for the new size.
    utility.resize(90, 24)
    screen = utility.wait_for(
        lambda s: len(s.splitlines()) <= 24 and "Serial" not in s and len(_rows(s)) == 3,
        what="redraw at 90x24",
    )
    assert all(len(line) <= 90 for line in screen.splitlines())
    utility.resize(50, 8)
    utility.wait_for(lambda s: "terminal too small" in s, what="too-small notice")
    utility.resize(150, 32)
    utility.wait_for(lambda s: "Serial" in s and len(_rows(s)) == 3, what="redraw at 150x32")

    # Ctrl-C: graceful shutdown, terminal restored, exit code 0.
    utility.send("C-c")
    assert utility.wait_for_exit() == 0
    log = utility.log_path.read_text(encoding="utf-8")  # type: ignore[attr-defined]
    assert '"direction":"tx"' in log
    assert '"direction":"rx"' in log
    assert '"event":"TWC_NEW_DEVICE"' in log


def test_q_quits_with_exit_code_zero(utility: TmuxSession) -> None:
    utility.wait_for(lambda s: len(_rows(s)) >= 1, what="a peripheral row")
    utility.send("q")
    assert utility.wait_for_exit() == 0


def test_gen3_rows_are_shown_and_read_only() -> None:
    session = TmuxSession(
        [sys.executable, "-m", "twcdirector.utility", "--simulate", "1", "--simulate-gen3", "1"],
        width=150,
        height=32,
    )
    try:
        gen3_row = re.compile(r"^127\.0\.0\.1:\d+ +G3 .*read-only", re.MULTILINE)
        session.wait_for(lambda s: bool(gen3_row.search(s)) and "1839 " in s, what="both rows")
        session.send("Down")
        session.send("8")
        session.wait_for(
            lambda s: "session current 20 A: read-only (a Gen 3 unit cannot be commanded)" in s,
            what="read-only notice",
        )
        session.send("q")
        assert session.wait_for_exit() == 0
    finally:
        session.close()


def run_on_a_terminal(
    args: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the utility with a pseudo terminal as stdin and stdout (stderr captured), as from
    a shell: it must fail before it ever draws."""
    leader, follower = pty.openpty()
    try:
        return subprocess.run(
            [sys.executable, "-m", "twcdirector.utility", *args],
            stdin=follower,
            stdout=follower,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "TERM": "xterm-256color", **(env or {})},
        )
    finally:
        os.close(follower)
        os.close(leader)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "/dev/does-not-exist"], "cannot open /dev/does-not-exist"),
        ([], "give --port URL or --simulate N (Gen 2), --gen3 HOST or --simulate-gen3 N (Gen 3)"),
        (
            ["--port", "loop://", "--simulate", "1"],
            "give exactly one of --port URL or --simulate N",
        ),
        (["--gen3", "127.0.0.1:9", "--max-current", "16"], "--max-current is about a Gen 2 bus"),
        (["--simulate", "2", "--controller-id", "zz"], "is not hexadecimal"),
        (["--simulate", "2", "--controller-id", "0000"], "controller_id"),
        (["--simulate", "2", "--max-current", "-3"], "max_current"),
        (["--bogus"], "unrecognized arguments"),
        (["--simulate", "1", "--gen3", "http://x/path"], "python3 -m twcdirector.utility: error"),
    ],
)
def test_bad_options_and_ports_exit_2_with_one_line(args: list[str], message: str) -> None:
    done = run_on_a_terminal(args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("python3 -m twcdirector.utility")


def _utility_pid(session: TmuxSession) -> int:
    """The utility's process: the only child of the pane's shell."""
    shell = int(session._run("display-message", "-p", "-t", session.name, "#{pane_pid}"))
    children = Path(f"/proc/{shell}/task/{shell}/children").read_text(encoding="utf-8").split()
    [child] = children
    return int(child)


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGQUIT])
def test_hangup_and_quit_restore_the_terminal_and_exit_0(
    utility: TmuxSession, signum: signal.Signals
) -> None:
    """Before issue 11 SIGHUP ended it with 129 and SIGQUIT with 131, leaving the terminal in
    curses mode (the last frame stayed on the screen)."""
    utility.wait_for(lambda s: len(_rows(s)) >= 1 and "Serial" in s, what="a peripheral row")
    os.kill(_utility_pid(utility), signum)
    assert utility.wait_for_exit() == 0
    # The alternate screen is gone: curses gave the terminal back.
    utility.wait_for(lambda s: "Serial" not in s and not _rows(s), what="terminal restored")
