"""``python3 -m twcdirector.analyze``: the bus doctor.

Reads a capture (a ``--log`` JSON-lines file, a raw byte capture or a text hex dump) or
listens to a port without transmitting, and prints a report per bus and per unit with
findings in plain words; ``--json`` for machines, ``--plot FILE.png`` to look at it.
``--replay LOG`` feeds a capture through the director in listen-only mode in virtual time
and prints the JSON-line events the headless command would have printed. A file that is
not a capture or a bad option prints one line on stderr and exits with code 2.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from collections.abc import Sequence
from typing import IO, NoReturn

from ..exceptions import TWCError
from .capture import CaptureReader
from .report import Report, analyze_capture, render_text

PROG = "python3 -m twcdirector.analyze"
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """Usage errors on one line, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = _Parser(prog=PROG, description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "source", nargs="?", metavar="SOURCE", help="a --log file, raw capture or hex dump"
    )
    parser.add_argument(
        "--port", metavar="URL", help="listen to this serial port or pyserial URL (never sends)"
    )
    parser.add_argument(
        "--duration",
        type=float,
        metavar="S",
        help="with --port: stop after S seconds (default: at Ctrl-C or SIGTERM)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--plot", metavar="FILE.png", help="draw current and state per unit (needs matplotlib)"
    )
    parser.add_argument(
        "--replay",
        metavar="LOG",
        help="print the events a listen-only director reports for this capture",
    )
    parser.add_argument(
        "--date",
        type=_date,
        metavar="YYYY-MM-DD",
        help="with --replay: the day a capture stamped with times of day only was taken",
    )
    return parser


def _date(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _note(text: str) -> None:
    print(f"python3 -m twcdirector.analyze: {text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None, *, out: IO[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    out = out if out is not None else sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    given = [name for name in ("source", "port", "replay") if getattr(args, name)]
    if len(given) != 1:
        parser.error("give exactly one of SOURCE, --port URL or --replay LOG")
    if args.duration is not None and (not args.port or args.duration <= 0):
        parser.error("--duration takes a positive number of seconds, with --port")
    if args.date is not None and not args.replay:
        parser.error("--date goes with --replay")
    if args.replay and (args.json or args.plot):
        parser.error("--replay prints events; --json and --plot go with SOURCE or --port")
    if args.plot:
        _check_plot_path(parser, args.plot)
        from .plot import plot_available  # noqa: PLC0415 (matplotlib is optional)

        if not plot_available():
            parser.error("--plot needs matplotlib: pip install 'twcdirector[plot]'")
    try:
        if args.replay:
            from .replay import replay_file  # noqa: PLC0415 (asyncio and the director)

            return replay_file(args.replay, out, day=args.date, note=_note)
        if args.port:
            from .live import listen  # noqa: PLC0415 (asyncio and pyserial)

            report = listen(args.port, args.duration)
        else:
            report = _read(args.source)
        if args.plot:
            from .plot import plot_report  # noqa: PLC0415 (matplotlib is optional)

            plot_report(report, args.plot)  # an unwritable path is an OSError too
    except (OSError, TWCError) as error:
        parser.error(str(error))
    out.write(report.to_json() + "\n" if args.json else render_text(report))
    return 0


def _check_plot_path(parser: argparse.ArgumentParser, path: str) -> None:
    """Refuse, before any analysis, a plot path that cannot work: matplotlib takes the format
    from the suffix (``.txt`` raises, no suffix silently becomes ``.png``), and a directory
    that cannot be written would fail only after the whole capture was read."""
    if not path.lower().endswith(".png"):
        parser.error(f"--plot {path}: give a .png file name")
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK | os.X_OK):
        parser.error(f"--plot {path}: cannot write in {directory}")
    if os.path.isdir(path):
        parser.error(f"--plot {path} is a directory")


def _read(path: str) -> Report:
    with open(path, "rb") as stream:
        return analyze_capture(CaptureReader(stream), source=path)


if __name__ == "__main__":
    sys.exit(main())
