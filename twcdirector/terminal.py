"""The curses adapter: paints a :class:`~twcdirector.screen.Screen` and reads keys.

Everything shown is decided by :func:`twcdirector.screen.render`; this module only talks to
curses, so the rest of the utility is testable without a terminal. While curses owns the
terminal, :func:`logging_into` sends every log record to the screen's log instead of stderr,
which would draw over the screen.
"""

from __future__ import annotations

import contextlib
import curses
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .screen import Screen

_LOGGER = logging.getLogger(__name__)

#: Keys as the key handler sees them: one character, or a name for special keys.
UP = "UP"
DOWN = "DOWN"
RESIZE = "RESIZE"
PAGE_UP = "PGUP"
PAGE_DOWN = "PGDN"
_SPECIAL = {
    curses.KEY_UP: UP,
    curses.KEY_DOWN: DOWN,
    curses.KEY_RESIZE: RESIZE,
    curses.KEY_PPAGE: PAGE_UP,
    curses.KEY_NPAGE: PAGE_DOWN,
}


def terminal_problem() -> str | None:
    """Why the screen cannot be drawn here (one line), or ``None`` when it can.

    Asked before anything starts: curses itself would fail with a traceback on a missing
    terminal or a ``TERM`` it has no description for.
    """
    for name, stream in (("input", sys.stdin), ("output", sys.stdout)):
        if stream is None or not stream.isatty():
            return (
                f"standard {name} is not a terminal; the utility needs one "
                "(python3 -m twcdirector runs without a screen)"
            )
    try:
        curses.setupterm(os.environ.get("TERM"), sys.stdout.fileno())
    except curses.error:
        term = os.environ.get("TERM")
        if not term:
            return "TERM is not set; try TERM=xterm-256color"
        return f"unknown terminal type {term!r} (TERM); try TERM=xterm-256color"
    return None


class PaneHandler(logging.Handler):
    """Every log record to ``sink(record, text)``: the screen's log, never the terminal."""

    def __init__(self, sink: Callable[[logging.LogRecord, str], None]) -> None:
        super().__init__(logging.NOTSET)
        self._sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self._sink(record, record.getMessage())

    def handleError(self, record: logging.LogRecord) -> None:
        pass  # logging's default prints a traceback to stderr: over the screen


@contextmanager
def logging_into(handler: logging.Handler, level: int) -> Iterator[None]:
    """While inside, the root logger's only handler is ``handler`` (at ``level``) and
    :mod:`warnings` are logged too; everything is put back on the way out.

    Handlers already on the root logger that write to a stream (``basicConfig``'s, …) are
    set aside; others (a ``--log`` recorder) stay. Without a handler of its own, logging's
    last resort would print warnings on stderr.
    """
    root = logging.getLogger()
    aside = [h for h in root.handlers if isinstance(h, logging.StreamHandler) and not _is_file(h)]
    saved_level = root.level
    for old in aside:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        root.setLevel(saved_level)
        for old in aside:
            root.addHandler(old)


def _is_file(handler: logging.Handler) -> bool:
    return isinstance(handler, logging.FileHandler)


@contextmanager
def curses_screen() -> Iterator[curses.window]:
    """Take over the terminal; always give it back as it was, even on an error."""
    stdscr = curses.initscr()
    try:
        curses.noecho()
        curses.cbreak()  # cbreak, not raw: Ctrl-C still raises SIGINT for a graceful stop
        stdscr.keypad(True)
        stdscr.nodelay(True)
        with contextlib.suppress(curses.error):  # some terminals cannot hide the cursor
            curses.curs_set(0)
        yield stdscr
    finally:
        stdscr.keypad(False)
        curses.nocbreak()
        curses.echo()
        curses.endwin()


def read_keys(stdscr: curses.window) -> list[str]:
    """Every key waiting, without blocking."""
    keys: list[str] = []
    while True:
        try:
            code = stdscr.get_wch()
        except curses.error:
            return keys
        if isinstance(code, str):
            keys.append(code)
        elif code in _SPECIAL:
            keys.append(_SPECIAL[code])


def _follow_terminal_size(stdscr: curses.window) -> None:
    """Resize curses to the terminal's real size.

    Asked of the terminal itself on every paint, so a resize is never missed even when the
    SIGWINCH that ncurses relies on arrives while no key is being read.
    """
    try:
        size = os.get_terminal_size(sys.__stdout__.fileno() if sys.__stdout__ else 1)
    except OSError:
        return
    if (size.lines, size.columns) != stdscr.getmaxyx():
        curses.resizeterm(size.lines, size.columns)


def paint(stdscr: curses.window, draw: Callable[[int, int], Screen]) -> None:
    """Draw the screen for the terminal's present size."""
    _follow_terminal_size(stdscr)
    height, width = stdscr.getmaxyx()
    screen = draw(width, height)
    stdscr.erase()
    for row, line in enumerate(screen.lines[:height]):
        attribute = curses.A_REVERSE if row == screen.highlight else curses.A_NORMAL
        # The bottom-right cell cannot be written without scrolling: stop one short there.
        room = width - 1 if row == height - 1 else width
        try:
            stdscr.addstr(row, 0, line[:room].ljust(room), attribute)
        except curses.error:
            _LOGGER.debug("could not draw row %d of %dx%d", row, width, height)
    stdscr.noutrefresh()
    curses.doupdate()
