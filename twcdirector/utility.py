"""``python3 -m twcdirector.utility``: watch a bus of Wall Connectors and command them.

It doubles as the library's usage example; read it from top to bottom:

1. options,
2. connecting: a :class:`~twcdirector.gen2.director.Director` on a serial port (or on simulated
   peripherals), listening to its events,
3. sending commands from keys and reporting their outcome,
4. the main loop that paints the screen until ``q``, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import __version__, events
from .cli import (
    STOP_SIGNALS,
    OneLineParser,
    add_bus_options,
    check_gen3_only,
    check_log_size,
    checked_config,
    open_log,
    program_name,
)
from .exceptions import (
    CommandFailedError,
    ConfigurationError,
    CurrentLimitError,
    LinkError,
    NotApplicableError,
    TWCError,
)
from .gen2.config import DirectorConfig
from .gen2.director import Director, Peripheral
from .gen3 import (
    GEN3_ERROR,
    UNIT_EVENTS,
    AlertEvent,
    FirmwareChanged,
    Gen3ErrorEvent,
    RebootDetected,
)
from .jsonlog import describe
from .keys import COMMAND_KEYS, Action, KeyCommand
from .protocol import Message
from .recorder import DEFAULT_MAX_MB, LogFile, Recorder
from .screen import Screen, ScreenSnapshot, render
from .sharing import SharingSnapshot
from .simulator import SimulatedBus, default_units, demo_scenario
from .terminal import (
    DOWN,
    PAGE_DOWN,
    PAGE_UP,
    RESIZE,
    UP,
    PaneHandler,
    curses_screen,
    logging_into,
    paint,
    read_keys,
    terminal_problem,
)

if TYPE_CHECKING:
    # The Gen 3 monitor (aiohttp, tesla-wall-connector) and the simulated Gen 3 units load
    # only when a Gen 3 option asks for them: the Gen 2 utility starts faster without.
    from .gen3.monitor import Gen3Monitor, Gen3Unit

#: How it calls itself: ``twcdirector-utility`` as a console script, else the ``-m`` form.
PROG = program_name("twcdirector-utility", "twcdirector.utility")
#: How often the screen is repainted even when nothing happened (ages tick on).
REFRESH = 0.25
#: Log lines kept for the screen.
LOG_LINES = 500
#: Lines PgUp / PgDn move the log by.
LOG_PAGE = 10
#: The header's warning on a real port without a per-unit maximum.
NO_MAX_CURRENT = "no --max-current: only 0 A can be sent"


# --- 1. options ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    """What the command line asked for."""

    port: str | None
    simulate: int
    config: DirectorConfig
    log: str | None
    verbose: int
    gen3: tuple[str, ...] = ()
    simulate_gen3: int = 0
    log_max_mb: float = DEFAULT_MAX_MB

    @property
    def warning(self) -> str | None:
        """What will not work as configured, for the header."""
        real_port = self.port is not None and not self.config.listen_only
        return NO_MAX_CURRENT if real_port and self.config.max_current is None else None


def build_parser() -> argparse.ArgumentParser:
    """The utility's command line: the shared bus options (:mod:`twcdirector.cli`) and the
    simulators'."""
    parser = OneLineParser(
        prog=PROG,
        description="Report Gen 2 Wall Connector activity and send commands to the selected one.",
        epilog=(
            "keys: up/down select; d open contactors; c close contactors; "
            "1-5 default current 6/10/20/32/0 A; 6-0 session current 6/10/20/32/0 A; "
            "- / + decrease / increase; PgUp / PgDn scroll the log; q or Ctrl-C quit"
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_bus_options(parser, verbose_help="more detail in the on-screen log")
    # default None: an explicit "--simulate 0" is told the range, not "give --port".
    parser.add_argument(
        "--simulate",
        metavar="N",
        type=int,
        help="start N simulated peripherals (1-16) on a pseudo terminal and connect to it",
    )
    parser.add_argument(
        "--simulate-gen3",
        metavar="N",
        type=int,
        help="also start N simulated Gen 3 units on loopback HTTP and show them (default: 0)",
    )
    return parser


def parse_options(argv: Sequence[str] | None = None) -> Options:
    """Parse and check the command line; a bad option exits with code 2 and one line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.simulate is not None and not 1 <= args.simulate <= 16:
        parser.error(f"--simulate takes 1 to 16 peripherals, not {args.simulate}")
    if args.simulate_gen3 is not None and not 1 <= args.simulate_gen3 <= 16:
        parser.error(f"--simulate-gen3 takes 1 to 16 units, not {args.simulate_gen3}")
    args.simulate = args.simulate or 0
    args.simulate_gen3 = args.simulate_gen3 or 0
    if args.port is not None and args.simulate:
        parser.error("give exactly one of --port URL or --simulate N")
    if args.port is None and not args.simulate:
        check_gen3_only(parser, args)  # no Gen 2 bus: Gen 3 units only
    check_log_size(parser, args)
    # With --simulate the simulated units' rating stands in for a missing --max-current.
    default_max = SIMULATED_RATING if args.simulate and args.max_current is None else None
    return Options(
        port=args.port,
        simulate=args.simulate,
        config=checked_config(parser, args, max_current=default_max),
        log=args.log,
        verbose=args.verbose,
        gen3=tuple(args.gen3),
        simulate_gen3=args.simulate_gen3,
        log_max_mb=args.log_max_mb,
    )


#: What the simulated peripherals advertise (EU units).
SIMULATED_RATING = 32.0


# --- 2. connecting: the director and its events --------------------------------------------


class Console:
    """The utility's state: the director, the selection and the log it shows.

    Without a Gen 2 bus ``director`` is ``None`` and ``monitor`` watches the Gen 3 units alone.
    The on-screen log speaks in the user's terms: events, command outcomes and the library's
    warnings; decoded commands (protocol detail) only with ``-v``. ``recorder`` (``--log``)
    records everything whatever the screen shows.
    """

    def __init__(
        self,
        director: Director | None,
        verbose: int,
        monitor: Gen3Monitor | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self.director = director
        self.monitor = monitor if director is None else director.gen3
        self.selected = 0
        self.log: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
        #: Lines the log is scrolled back from its newest (PgUp / PgDn).
        self.log_scroll = 0
        self._recorder = recorder
        self._verbose = verbose
        self._tasks: set[asyncio.Task[None]] = set()
        if self.monitor is not None:
            # Units not announced yet (never answered) are heard of through the monitor.
            for name in (GEN3_ERROR, events.DEVICE_LOST):
                self.monitor.on(name, self._director_event(name))
            if director is None:
                self.monitor.on(events.NEW_DEVICE, self._on_new_device)
        if director is None:
            return
        director.on(events.NEW_DEVICE, self._on_new_device)
        for name in (events.FRAMING_ERROR, events.LINK_LOST, events.LINK_RESTORED):
            director.on(name, self._director_event(name))
        director.on(events.BUS_ERROR, self._director_event(events.BUS_ERROR))
        if verbose:
            director.on(events.BUS_MESSAGE, lambda message: self._on_message(None, message))

    def _on_new_device(self, new: events.NewDevice) -> None:
        """A unit answered for the first time: listen to everything it says."""
        self.note(new.device_id, f"new Gen {new.generation} unit")
        device = new.device
        names: tuple[str, ...]
        if new.generation == 2:
            device.on(events.ALL_COMMANDS, lambda msg: self._on_message(new.device_id, msg))
            names = events.PERIPHERAL_EVENTS
        else:
            device.on(events.ALL_COMMANDS, lambda reading: self._on_reading(new.device_id, reading))
            names = UNIT_EVENTS
        for name in names:
            device.on(name, self._device_event(new.device_id, name))

    def _on_message(self, device_id: str | None, message: Message) -> None:
        """With -v, every decoded command (heartbeats every 1.3 s, data every 11.8 s)."""
        if self._verbose:
            # A frame from no claimed unit is named by its sender, in hex like every ID.
            sender = getattr(message, "sender", None)
            who = device_id or (None if sender is None else f"{sender:04X}")
            self.note(who, describe(message))

    def _on_reading(self, device_id: str, reading: Any) -> None:
        """A Gen 3 endpoint was read: on screen only with -v."""
        if self._verbose:
            self.note(device_id, reading.command_name)

    def _device_event(self, device_id: str, name: str) -> Any:
        def handler(payload: Any) -> None:
            self.note(device_id, _summary(name, payload))

        return handler

    def _director_event(self, name: str) -> Any:
        def handler(payload: Any) -> None:
            self.note(getattr(payload, "device_id", None), _summary(name, payload))

        return handler

    def note(self, device_id: str | None, text: str) -> None:
        """Add a line to the on-screen log; a view scrolled back stays where it is."""
        self.log.append(f"{_clock()} {device_id or '----'} {text}")
        if self.log_scroll:
            self.log_scroll = min(self.log_scroll + 1, len(self.log))

    def log_record(self, record: logging.LogRecord, message: str) -> None:
        """A library log record (while the screen is up): warnings and up, more with -v."""
        level = record.levelname.lower()
        source = f" ({record.name})" if self._verbose else ""
        self.note(None, f"{level}{source}: {message}")

    def log_file_failed(self, message: str) -> None:
        """The ``--log`` file could not be written (said once)."""
        self.note(None, f"error: {message}")

    # --- 3. keys and commands --------------------------------------------------------------

    def rows(self) -> list[Peripheral | Gen3Unit]:
        """The table's rows in screen order: Gen 2 peripherals, then Gen 3 units."""
        rows: list[Peripheral | Gen3Unit] = []
        if self.director is not None:
            rows += [self.director.peripheral(p.id) for p in self.director.snapshot().peripherals]
        if self.monitor is not None:
            units = self.monitor.units
            rows.extend(units[device_id] for device_id in sorted(units))
        return rows

    def handle_key(self, key: str) -> bool:
        """Act on one key; return False when the user asked to quit."""
        count = len(self.rows())
        if key in ("q", "Q"):
            return False
        if key == UP:
            self.selected = max(0, self.selected - 1)
        elif key == DOWN:
            self.selected = min(max(0, count - 1), self.selected + 1)
        elif key == PAGE_UP:
            self.log_scroll = min(self.log_scroll + LOG_PAGE, max(0, len(self.log) - 1))
        elif key == PAGE_DOWN:
            self.log_scroll = max(0, self.log_scroll - LOG_PAGE)
        elif key in COMMAND_KEYS:
            self._start_command(COMMAND_KEYS[key])
        return True

    def _start_command(self, command: KeyCommand) -> None:
        rows = self.rows()
        if not rows:
            self.note(None, f"{command.label}: no unit selected")
            return
        peripheral = rows[min(self.selected, len(rows) - 1)]
        if not isinstance(peripheral, Peripheral):
            self.note(
                peripheral.device_id,
                f"{command.label}: read-only (a Gen 3 unit cannot be commanded)",
            )
            return
        task = asyncio.create_task(self._send(peripheral, command))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, peripheral: Peripheral, command: KeyCommand) -> None:
        """Send one command and log what became of it; never raises.

        "sent" is said only once the director took the command: it checks the limits before
        its first ``await``, so one turn of the loop after the call started, a refused
        command has already failed and nothing went on the wire.
        """
        who = peripheral.id_hex
        call = asyncio.ensure_future(_call(peripheral, command))
        await asyncio.sleep(0)
        if not call.done():
            self.note(who, f"{command.label}: sent")
        try:
            await call
        except CommandFailedError:
            return  # the device's TWC_COMMAND_FAILED event says so in the log
        except CurrentLimitError as error:
            outcome = f"over the limit: {error}"
        except NotApplicableError as error:
            outcome = f"not applicable: {error}"
        except TWCError as error:
            outcome = f"{error}"
        else:
            return  # the device's TWC_COMMAND_CONFIRMED event says so in the log
        self.note(who, f"{command.label}: refused, {outcome}")
        if self._recorder is not None:
            reason = {"command": command.label, "reason": outcome}
            self._recorder.event(COMMAND_REFUSED, who, reason)

    async def close(self) -> None:
        """Cancel commands still waiting for their confirmation."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def draw(self, width: int, height: int, warning: str | None = None) -> Screen:
        """The screen for the terminal's size."""
        snapshot = self.director.snapshot() if self.director is not None else None
        gen3 = self.monitor.snapshot() if self.monitor is not None else {}
        count = (0 if snapshot is None else len(snapshot.peripherals)) + len(gen3)
        self.selected = min(self.selected, max(0, count - 1))
        view = ScreenSnapshot(
            director=snapshot,
            now=time.monotonic(),
            gen3=tuple(gen3[device_id] for device_id in sorted(gen3)),
            selected=self.selected,
            log=tuple(self.log),
            sharing=None if snapshot is None else _sharing_line(snapshot.sharing),
            log_scroll=self.log_scroll,
            warning=warning,
        )
        return render(view, width, height)


#: The ``--log`` event of a key the director refused (nothing was sent).
COMMAND_REFUSED = "COMMAND_REFUSED"


async def _call(peripheral: Peripheral, command: KeyCommand) -> None:
    """The library call behind each key."""
    if command.action is Action.OPEN_CONTACTORS:
        await peripheral.open_contactors()
    elif command.action is Action.CLOSE_CONTACTORS:
        await peripheral.close_contactors()
    elif command.action is Action.DEFAULT_CURRENT:
        assert command.amps is not None
        await peripheral.set_default_current(command.amps)
    elif command.action is Action.SESSION_CURRENT:
        assert command.amps is not None
        await peripheral.set_session_current(command.amps)
    elif command.action is Action.DECREASE_CURRENT:
        await peripheral.decrease_current()
    else:
        await peripheral.increase_current()


def _summary(name: str, payload: Any) -> str:
    if isinstance(payload, events.CarConnected):
        if not payload.connected:
            return "car disconnected"
        # Gen 3 units (and some cars) never report a VIN.
        return f"car connected, VIN {payload.vin}" if payload.vin else "car connected"
    if isinstance(payload, events.FramingErrorEvent):
        return f"framing error ({payload.kind}): {payload.message}"
    if isinstance(payload, events.LinkEvent):
        return f"link {'restored' if payload.up else 'lost'}: {payload.port} {payload.reason}"
    if isinstance(payload, events.BusError):
        return f"bus error ({payload.kind}): {payload.message}"
    if isinstance(payload, events.StateChanged):
        # "PLUGGED_READY" -> "now plugged ready"; the code itself is protocol detail (-v).
        return f"now {payload.name.lower().replace('_', ' ')}"
    if isinstance(payload, events.AllocationChanged):
        return f"allocation {payload.old_amps:g} A -> {payload.new_amps:g} A ({payload.reason})"
    if isinstance(payload, events.CommandOutcome):
        # "set_session_current" -> "session current", as the keys name it.
        what = payload.command.removeprefix("set_").replace("_", " ")
        what += "" if payload.amps is None else f" {payload.amps:g} A"
        tries = f"{payload.attempts} attempt{'s' if payload.attempts != 1 else ''}"
        if payload.confirmed:
            # e.g. "the unit holds at its minimum", "applies from the next plug-in"
            note = f" ({payload.reason})" if payload.reason else ""
            return f"{what}: confirmed after {tries}{note}"
        if payload.reason.startswith("sent"):
            # A relative command is never re-sent: "sent once; the unit's reports have not
            # shown it" is its outcome, not a failure after retries.
            return f"{what}: {payload.reason}"
        return f"{what}: FAILED after {tries}: {payload.reason}"
    if isinstance(payload, events.LimitEnforced):
        return (
            f"offered {payload.reported_amps:g} A above its limit of {payload.ceiling:g} A: "
            f"lowered to {payload.enforced_amps:g} A"
        )
    if isinstance(payload, AlertEvent):
        return f"alert {payload.alert} {'raised' if payload.raised else 'cleared'}"
    if isinstance(payload, Gen3ErrorEvent):
        return f"{payload.endpoint}: {payload.kind} ({payload.message})"
    if isinstance(payload, FirmwareChanged):
        return f"firmware changed {payload.old_version} -> {payload.new_version}"
    if isinstance(payload, RebootDetected):
        return f"rebooted (uptime {payload.old_uptime_s} s -> {payload.new_uptime_s} s)"
    if isinstance(payload, events.DeviceLost):
        return f"lost after {payload.silent_for:.0f} s of silence"
    return name.removeprefix("TWC_").replace("_", " ").lower()


def _sharing_line(sharing: SharingSnapshot | None) -> str | None:
    """The header's capacity-sharing line: the total, and each unit's share."""
    if sharing is None:
        return None
    shares = "  ".join(f"{unit.unit_id} {unit.granted} A" for unit in sharing.units)
    return (
        f"sharing {sharing.total_max} A: used {sharing.used} A, available "
        f"{sharing.available} A  |  shares: {shares or 'none yet'}"
    )


def _clock() -> str:
    return time.strftime("%H:%M:%S")


# --- 4. the main loop ----------------------------------------------------------------------


async def run(options: Options, log_file: LogFile | None = None) -> int:
    """Connect, show the screen until asked to stop, shut down gracefully."""
    async with contextlib.AsyncExitStack() as stack:
        port = options.port
        if options.simulate:
            bus = SimulatedBus.on_pty(
                default_units(options.simulate), scenario=demo_scenario(options.simulate)
            )
            await stack.enter_async_context(bus)
            port = bus.port
        # No port and nothing simulated on a bus: the Gen 3 units alone ("Gen 3 only").
        director = None if port is None else Director(port, options.config)
        hosts = list(options.gen3)
        if options.simulate_gen3:
            from .simulator.gen3 import start_gen3_units  # noqa: PLC0415 (only when asked)

            units = await start_gen3_units(options.simulate_gen3, supply="single_phase")
            for unit in units:
                stack.push_async_callback(unit.stop)
            units[0].plug_in()
            units[0].start_charging(16)  # something to watch on the first unit
            hosts += [unit.host_port for unit in units]
        monitor = None
        if hosts:
            from .gen3.monitor import Gen3Monitor  # noqa: PLC0415 (only when asked)

            monitor = Gen3Monitor(hosts)
        if director is not None and monitor is not None:
            director.attach_gen3(monitor)
        source = director if director is not None else monitor
        recorder = None
        if log_file is not None and source is not None:
            recorder = Recorder(log_file, source, monitor)
            stack.callback(recorder.close)
        console = Console(director, options.verbose, monitor, recorder)
        if log_file is not None:
            log_file.on_error = console.log_file_failed
        if director is not None:
            await director.start()
            stack.push_async_callback(director.close)
        elif monitor is not None:
            await monitor.start()
            stack.push_async_callback(monitor.stop)
        stack.push_async_callback(console.close)
        pane = PaneHandler(console.log_record)
        with logging_into(pane, _log_level(options.verbose)), curses_screen() as stdscr:
            await _screen_loop(stdscr, console, options.warning)
    return 0


def _log_level(verbose: int) -> int:
    """The library's log records shown on screen: warnings, -v progress, -vv everything."""
    return {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)


async def _screen_loop(stdscr: Any, console: Console, warning: str | None = None) -> None:
    """Paint, then sleep until a key, a signal or the next refresh; until asked to stop."""
    stop = asyncio.Event()
    wake = asyncio.Event()

    def request_stop() -> None:
        stop.set()
        wake.set()

    def draw(width: int, height: int) -> Screen:
        return console.draw(width, height, warning)

    loop = asyncio.get_running_loop()
    for sig in _SCREEN_STOP_SIGNALS:
        loop.add_signal_handler(sig, request_stop)
    loop.add_reader(sys.stdin.fileno(), wake.set)
    try:
        while not stop.is_set():
            for key in read_keys(stdscr):
                if key != RESIZE and not console.handle_key(key):
                    stop.set()
            if stop.is_set():
                break
            paint(stdscr, draw)
            wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(REFRESH):
                    await wake.wait()
    finally:
        loop.remove_reader(sys.stdin.fileno())
        for sig in _SCREEN_STOP_SIGNALS:
            loop.remove_signal_handler(sig)


#: A hung-up terminal (SIGHUP) or Ctrl-backslash (SIGQUIT) stop the utility like Ctrl-C: the
#: terminal is restored and the director closed, never left in curses mode or mid-frame.
_SCREEN_STOP_SIGNALS = (*STOP_SIGNALS, signal.SIGQUIT)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: exit code 0 after a normal stop, 2 on a bad option, port, log file or
    terminal (one line on stderr)."""
    options = parse_options(argv)
    try:
        problem = terminal_problem()
        if problem is not None:
            raise ConfigurationError(problem)
        log_file = None if options.log is None else open_log(options.log, options.log_max_mb)
        try:
            return asyncio.run(run(options, log_file))
        finally:
            if log_file is not None:
                log_file.close()
    except (LinkError, ConfigurationError, OSError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C before the screen took over
        return 0


if __name__ == "__main__":
    sys.exit(main())
