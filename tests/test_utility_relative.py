"""The tester's report, replayed as they did it: the simulator CLI with lagging reports on a
pty, the curses utility on the other end in tmux, `8` then `+` twelve times 0.1 s apart.

Before the fix the log said "increase current: sent" for all 12 presses, 9 increases went on
the wire (the unit reported up to 38 A on a 32 A installation) and the final guard refused the
rest after "sent" had been shown."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tmux import TmuxSession, needs_tmux

pytestmark = [needs_tmux, pytest.mark.timeout(180)]
SIMULATOR = (sys.executable, "-m", "twcdirector.simulator")
UTILITY = (sys.executable, "-m", "twcdirector.utility")


@pytest.fixture
def simulator() -> Iterator[str]:
    proc = subprocess.Popen(
        [*SIMULATOR, "-n", "1", "--lag", "3", "--scenario", "1 plug 0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        proc.stdout.close()


def test_quick_increases_in_the_utility_are_refused_at_the_key(
    simulator: str, tmp_path: Path
) -> None:
    session = TmuxSession(
        [*UTILITY, "--port", simulator, "--max-current", "32", "--log", str(tmp_path / "log")],
        width=200,
        height=70,
    )
    try:
        session.wait_for(lambda s: "plugged" in s or "charging" in s, timeout=40, what="car")
        session.send("8")
        session.wait_for(lambda s: "session current 20 A: confirmed" in s, timeout=40)
        for _ in range(12):
            session.send("+")
            time.sleep(0.1)  # the tester's pace; every assertion below waits on the screen
        screen = session.wait_for(
            lambda s: s.count("increase current: confirmed") == 6, timeout=60, what="6 up"
        )
        assert screen.count("increase current: sent") == 6
        assert screen.count("increase current: refused, over the limit") == 6
        assert "would exceed its 32 A ceiling" in screen
        assert "final safety check" not in screen
        assert "FAILED" not in screen
        session.send("C-c")
        assert session.wait_for_exit() == 0
    finally:
        session.close()
