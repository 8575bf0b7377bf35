"""Drive a program in a real terminal: tmux runs it, send-keys types, capture-pane reads."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")
needs_tmux = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (.ci/run installs it)")


class TmuxSession:
    """One detached tmux session running a command in a terminal of a given size."""

    def __init__(self, command: Sequence[str], width: int = 160, height: int = 40) -> None:
        assert TMUX is not None
        self.name = f"twc-{uuid.uuid4().hex[:8]}"
        # The shell records the exit code itself: tmux's pane_dead_status is not always set.
        handle, path = tempfile.mkstemp(prefix="tmux-status-")
        os.close(handle)
        self._status = Path(path)
        shell = f"{' '.join(_quote(part) for part in command)}; echo $? > {_quote(path)}"
        self._run(
            "new-session",
            "-d",
            "-s",
            self.name,
            "-x",
            str(width),
            "-y",
            str(height),
            "-e",
            "TERM=xterm-256color",
            shell,
        )
        self._run("set-option", "-t", self.name, "remain-on-exit", "on")

    def _run(self, *args: str) -> str:
        assert TMUX is not None
        done = subprocess.run([TMUX, *args], check=True, capture_output=True, text=True, timeout=10)
        return done.stdout

    def screen(self) -> str:
        """The visible screen as text."""
        return self._run("capture-pane", "-p", "-t", self.name)

    def capture_escapes(self) -> str:
        """The visible screen with its colour and attribute escape sequences."""
        return self._run("capture-pane", "-p", "-e", "-t", self.name)

    def send(self, *keys: str) -> None:
        """Type keys (tmux key names such as ``Down``, ``C-c``, or literal text)."""
        self._run("send-keys", "-t", self.name, *keys)

    def resize(self, width: int, height: int) -> None:
        """Resize the terminal window."""
        self._run("resize-window", "-t", self.name, "-x", str(width), "-y", str(height))

    def exit_status(self) -> int | None:
        """The program's exit code once it ended, else None."""
        text = self._status.read_text(encoding="utf-8").strip()
        return int(text) if text else None

    def wait_for(
        self, predicate: Callable[[str], bool], timeout: float = 20.0, what: str = ""
    ) -> str:
        """Poll the screen until ``predicate`` holds; fail with the last screen otherwise."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what or predicate}:\n{screen}")

    def wait_for_exit(self, timeout: float = 15.0) -> int:
        """Wait until the program ended and return its exit code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.exit_status()
            if status is not None:
                return status
            time.sleep(0.1)
        raise AssertionError(f"program did not exit:\n{self.screen()}")

    def close(self) -> None:
        """Kill the session (and the program if it still runs)."""
        subprocess.run(
            [TMUX or "tmux", "kill-session", "-t", self.name], check=False, capture_output=True
        )
        self._status.unlink(missing_ok=True)


def _quote(part: str) -> str:
    return "'" + part.replace("'", "'\\''") + "'"
