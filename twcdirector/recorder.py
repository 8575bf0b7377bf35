"""``--log FILE``: one JSON line per frame, event and library log record, size-capped.

Both commands record the same things the same way (:class:`Recorder`): every frame seen or
sent (:func:`~twcdirector.jsonlog.frame_line`), every event of the director, the Gen 3
monitor and their units (the headless command's own lines,
:class:`~twcdirector.event_printer.JsonPrinter`), the library's log records (``LOG``: a
refused frame, a command not confirmed, a unit lost …) and whatever the command adds (the
utility's ``COMMAND_REFUSED``). The bus doctor reads such a file.

The file rotates with the standard library's :class:`logging.handlers.RotatingFileHandler`:
at ``max_mb`` it is renamed ``FILE.1`` (the previous ``FILE.1`` to ``FILE.2``, the oldest
dropped), so at most ``(1 + BACKUPS) * max_mb`` MB are ever on disk. A path that cannot be
written raises :class:`OSError` when the file is opened, at start; a write that fails later
(a full SD card) is reported once through ``on_error``, never as a traceback per frame.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeGuard

from .emitter import SafeEmitter
from .event_printer import JsonPrinter
from .jsonlog import event_line, frame_line
from .protocol import Message

#: The default cap, in MB (10**6 bytes). A 3-unit bus logs about 2 kB/s (8 frames a second
#: of ~250 bytes), so one 20 MB file holds close to 3 hours, ample for the bus doctor; with
#: two backups at most 60 MB of an SD card is used, and rotation (a rename) rewrites nothing.
DEFAULT_MAX_MB = 20.0
#: Rotated files kept beside the live one (``FILE.1``, ``FILE.2``).
BACKUPS = 2
#: The event name of a library log record in the file.
LOG_EVENT = "LOG"


class LogFile:
    """The JSON-lines file: :meth:`write` takes one line at a time (IO-like for
    :class:`~twcdirector.event_printer.JsonPrinter`).

    ``max_mb`` 0 never rotates. Raises :class:`OSError` (and
    :class:`IsADirectoryError` …) if ``path`` cannot be opened for appending.
    """

    def __init__(
        self,
        path: str,
        max_mb: float = DEFAULT_MAX_MB,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        #: Hears of the first failed write (settable once the screen exists).
        self.on_error = on_error
        #: The first failed write's reason; later failures are not reported again.
        self.error: str | None = None
        self._handler = _Handler(path, int(max_mb * 1_000_000), self._failed)

    def write(self, text: str) -> int:
        """Append ``text`` (one or more lines, newline-terminated or not)."""
        for line in text.splitlines():
            self._handler.handle(logging.makeLogRecord({"msg": line, "args": None}))
        return len(text)

    def flush(self) -> None:
        """Every line is flushed as it is written."""

    def close(self) -> None:
        """Flush and close; a failure here was (or is now) reported through ``on_error``."""
        try:
            self._handler.close()
        except OSError as error:
            self._failed(error)

    def _failed(self, error: BaseException | None) -> None:
        if self.error is not None:
            return
        self.error = f"{error}" if error is not None else "write failed"
        if self.on_error is not None:
            self.on_error(f"cannot write --log {self.path}: {self.error}; lines are being lost")


class _Handler(logging.handlers.RotatingFileHandler):
    """Rotation from the standard library; a failed write goes to ``failed``, not stderr."""

    def __init__(
        self, path: str, max_bytes: int, failed: Callable[[BaseException | None], None]
    ) -> None:
        # delay=False: the file is opened now, so a bad path fails at start.
        super().__init__(path, maxBytes=max_bytes, backupCount=BACKUPS, encoding="utf-8")
        self._report = failed

    def handleError(self, record: logging.LogRecord) -> None:
        self._report(sys.exc_info()[1])


class FrameSource(Protocol):
    """What can report raw frames (a Gen 2 director)."""

    def on_frame(
        self, callback: Callable[[str, bytes, Message | None], None]
    ) -> Callable[[], None]: ...


class Recorder:
    """Everything a command records in its ``--log``; :meth:`close` stops recording."""

    def __init__(self, log_file: LogFile, source: SafeEmitter, gen3: SafeEmitter | None) -> None:
        self.file = log_file
        printer = JsonPrinter(source, log_file)
        if gen3 is not None:
            printer.watch_gen3(gen3)
        self._unsubscribe: Callable[[], None] | None = None
        if _has_frames(source):
            self._unsubscribe = source.on_frame(self._frame)
        self._handler = _RecordHandler(self)
        logging.getLogger().addHandler(self._handler)

    def event(self, name: str, device: str | None, payload: Any) -> None:
        """Record one event the command itself produced (a refused key …)."""
        self.file.write(event_line(name, device, payload))

    def _frame(self, direction: str, raw: bytes, message: Message | None) -> None:
        self.file.write(frame_line(time.monotonic(), direction, raw, message))

    def close(self) -> None:
        """Stop recording and close the file."""
        logging.getLogger().removeHandler(self._handler)
        if self._unsubscribe is not None:
            self._unsubscribe()
        self.file.close()


def _has_frames(source: object) -> TypeGuard[FrameSource]:
    """A Gen 2 director reports frames; a Gen 3 monitor alone has none."""
    return callable(getattr(source, "on_frame", None))


class _RecordHandler(logging.Handler):
    """The library's log records (warnings and up, or what the root logger lets through) as
    ``LOG`` lines."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(logging.NOTSET)
        self._recorder = recorder

    def emit(self, record: logging.LogRecord) -> None:
        data = {"level": record.levelname, "logger": record.name, "message": record.getMessage()}
        self._recorder.event(LOG_EVENT, None, data)

    def handleError(self, record: logging.LogRecord) -> None:
        pass  # the file reports its own failures; nothing may reach the terminal
