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
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from . import events
from .cli import STOP_SIGNALS, OneLineParser, add_bus_options, checked_config
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
    UNIT_EVENTS,
    AlertEvent,
    Gen3ErrorEvent,
    Gen3Monitor,
    Gen3Unit,
    RebootDetected,
)
from .jsonlog import describe, event_line, frame_line
from .keys import COMMAND_KEYS, Action, KeyCommand
from .protocol import Message
from .screen import Screen, ScreenSnapshot, render
from .sharing import SharingSnapshot
from .simulator import SimulatedBus, default_units, demo_scenario
from .simulator.gen3 import start_gen3_units
from .terminal import DOWN, RESIZE, UP, curses_screen, paint, read_keys

PROG = "python3 -m twcdirector.utility"
#: How often the screen is repainted even when nothing happened (ages tick on).
REFRESH = 0.25
#: Log lines kept for the screen.
LOG_LINES = 500


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


def build_parser() -> argparse.ArgumentParser:
    """The utility's command line: the shared bus options (:mod:`twcdirector.cli`) and the
    simulators'."""
    parser = OneLineParser(
        prog=PROG,
        description="Report Gen 2 Wall Connector activity and send commands to the selected one.",
        epilog=(
            "keys: up/down select; d open contactors; c close contactors; "
            "1-5 default current 6/10/20/32/0 A; 6-0 session current 6/10/20/32/0 A; "
            "- / + decrease / increase; q or Ctrl-C quit"
        ),
    )
    add_bus_options(parser, verbose_help="more detail in the on-screen log")
    parser.add_argument(
        "--simulate",
        metavar="N",
        type=int,
        default=0,
        help="start N simulated peripherals on a pseudo terminal and connect to it (default: 0)",
    )
    parser.add_argument(
        "--simulate-gen3",
        metavar="N",
        type=int,
        default=0,
        help="also start N simulated Gen 3 units on loopback HTTP and show them (default: 0)",
    )
    return parser


def parse_options(argv: Sequence[str] | None = None) -> Options:
    """Parse and check the command line; a bad option exits with code 2 and one line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.port is None) == (args.simulate == 0):
        parser.error("give exactly one of --port URL or --simulate N")
    if not 0 <= args.simulate <= 16:
        parser.error("--simulate takes 1 to 16 peripherals")
    if not 0 <= args.simulate_gen3 <= 16:
        parser.error("--simulate-gen3 takes 1 to 16 units")
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
    )


#: What the simulated peripherals advertise (EU units).
SIMULATED_RATING = 32.0


# --- 2. connecting: the director and its events --------------------------------------------


class Console:
    """The utility's state: the director, the selection and the log it shows."""

    def __init__(self, director: Director, log_file: TextIO | None, verbose: int) -> None:
        self.director = director
        self.selected = 0
        self.log: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
        self._log_file = log_file
        self._verbose = verbose
        self._tasks: set[asyncio.Task[None]] = set()
        self._said: dict[tuple[str, str], str] = {}
        director.on(events.NEW_DEVICE, self._on_new_device)
        for name in (events.FRAMING_ERROR, events.LINK_LOST, events.LINK_RESTORED):
            director.on(name, self._director_event(name))
        director.on(events.BUS_ERROR, self._director_event(events.BUS_ERROR))
        if log_file is not None:
            director.on_frame(self._record_frame)

    def _on_new_device(self, new: events.NewDevice) -> None:
        """A unit answered for the first time: listen to everything it says."""
        self.note(new.device_id, f"new Gen {new.generation} device", events.NEW_DEVICE, new)
        device = new.device
        names: tuple[str, ...]
        if isinstance(device, Peripheral):
            device.on(events.ALL_COMMANDS, lambda msg: self._on_message(new.device_id, msg))
            names = events.PERIPHERAL_EVENTS
        else:
            assert isinstance(device, Gen3Unit)
            device.on(events.ALL_COMMANDS, lambda reading: self._on_reading(new.device_id, reading))
            names = UNIT_EVENTS
        for name in names:
            device.on(name, self._device_event(new.device_id, name))

    def _on_message(self, device_id: str, message: Message) -> None:
        """Log a decoded command when it says something new (every one with -v).

        Data replies repeat every 11.8 s and heartbeats every 1.3 s; logging each would push
        the events that matter off the screen. State changes have their own event.
        """
        if self._log_file is not None:
            self._write(event_line(events.ALL_COMMANDS, device_id, message))
        text = describe(message)
        key = (device_id, message.command_name)
        if self._verbose or (message.command_name != "TWC_STATUS" and self._said.get(key) != text):
            self._said[key] = text
            self.log.append(f"{_clock()} {device_id} {text}")

    def _on_reading(self, device_id: str, reading: Any) -> None:
        """A Gen 3 endpoint was read: into the JSON log; on screen only with -v."""
        if self._log_file is not None:
            self._write(event_line(events.ALL_COMMANDS, device_id, reading))
        if self._verbose:
            self.log.append(f"{_clock()} {device_id} {reading.command_name}")

    def _device_event(self, device_id: str, name: str) -> Any:
        def handler(payload: Any) -> None:
            self.note(device_id, _summary(name, payload), name, payload)

        return handler

    def _director_event(self, name: str) -> Any:
        def handler(payload: Any) -> None:
            self.note(None, _summary(name, payload), name, payload)

        return handler

    def note(self, device_id: str | None, text: str, event: str, payload: Any) -> None:
        """Add a line to the on-screen log (and the JSON log)."""
        self.log.append(f"{_clock()} {device_id or '----'} {text}")
        if self._log_file is not None:
            self._write(event_line(event, device_id, payload))

    def _record_frame(self, direction: str, raw: bytes, message: Message | None) -> None:
        self._write(frame_line(time.monotonic(), direction, raw, message))

    def _write(self, line: str) -> None:
        assert self._log_file is not None
        self._log_file.write(line + "\n")
        self._log_file.flush()

    # --- 3. keys and commands --------------------------------------------------------------

    def rows(self) -> list[Peripheral | Gen3Unit]:
        """The table's rows in screen order: Gen 2 peripherals, then Gen 3 units."""
        rows: list[Peripheral | Gen3Unit] = [
            self.director.peripheral(p.id) for p in self.director.snapshot().peripherals
        ]
        if self.director.gen3 is not None:
            units = self.director.gen3.units
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
        elif key in COMMAND_KEYS:
            self._start_command(COMMAND_KEYS[key])
        return True

    def _start_command(self, command: KeyCommand) -> None:
        rows = self.rows()
        if not rows:
            self.log.append(f"{_clock()} ---- {command.label}: no peripheral selected")
            return
        peripheral = rows[min(self.selected, len(rows) - 1)]
        if isinstance(peripheral, Gen3Unit):
            self.log.append(
                f"{_clock()} {peripheral.device_id} {command.label}: read-only "
                "(a Gen 3 unit cannot be commanded)"
            )
            return
        task = asyncio.create_task(self._send(peripheral, command))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, peripheral: Peripheral, command: KeyCommand) -> None:
        """Send one command and log what became of it; never raises."""
        who = peripheral.id_hex
        self.log.append(f"{_clock()} {who} {command.label}: sent")
        try:
            await _call(peripheral, command)
        except CommandFailedError:
            return  # the device's TWC_COMMAND_FAILED event says so in the log
        except CurrentLimitError as error:
            outcome = f"refused as over the limit: {error}"
        except NotApplicableError as error:
            outcome = f"not applicable: {error}"
        except TWCError as error:
            outcome = f"refused: {error}"
        else:
            return  # the device's TWC_COMMAND_CONFIRMED event says so in the log
        self.log.append(f"{_clock()} {who} {command.label}: {outcome}")

    async def close(self) -> None:
        """Cancel commands still waiting for their confirmation."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def draw(self, width: int, height: int) -> Screen:
        """The screen for the terminal's size."""
        snapshot = self.director.snapshot()
        gen3 = self.director.gen3.snapshot() if self.director.gen3 is not None else {}
        count = len(snapshot.peripherals) + len(gen3)
        self.selected = min(self.selected, max(0, count - 1))
        view = ScreenSnapshot(
            director=snapshot,
            now=time.monotonic(),
            gen3=tuple(gen3[device_id] for device_id in sorted(gen3)),
            selected=self.selected,
            log=tuple(self.log),
            sharing=_sharing_line(snapshot.sharing),
        )
        return render(view, width, height)


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
        return f"car connected, VIN {payload.vin}" if payload.connected else "car disconnected"
    if isinstance(payload, events.FramingErrorEvent):
        return f"framing error ({payload.kind}): {payload.message}"
    if isinstance(payload, events.LinkEvent):
        return f"link {'restored' if payload.up else 'lost'}: {payload.port} {payload.reason}"
    if isinstance(payload, events.BusError):
        return f"bus error ({payload.kind}): {payload.message}"
    if isinstance(payload, events.StateChanged):
        return f"state {payload.name}"
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


async def run(options: Options, log_file: TextIO | None = None) -> int:
    """Connect, show the screen until asked to stop, shut down gracefully."""
    async with contextlib.AsyncExitStack() as stack:
        port = options.port
        if options.simulate:
            bus = SimulatedBus.on_pty(
                default_units(options.simulate), scenario=demo_scenario(options.simulate)
            )
            await stack.enter_async_context(bus)
            port = bus.port
        assert port is not None
        director = Director(port, options.config)
        hosts = list(options.gen3)
        if options.simulate_gen3:
            units = await start_gen3_units(options.simulate_gen3, supply="single_phase")
            for unit in units:
                stack.push_async_callback(unit.stop)
            units[0].plug_in()
            units[0].start_charging(16)  # something to watch on the first unit
            hosts += [unit.host_port for unit in units]
        if hosts:
            director.attach_gen3(Gen3Monitor(hosts))
        console = Console(director, log_file, options.verbose)
        await director.start()
        stack.push_async_callback(director.close)
        stack.push_async_callback(console.close)
        with curses_screen() as stdscr:
            await _screen_loop(stdscr, console)
    return 0


async def _screen_loop(stdscr: Any, console: Console) -> None:
    """Paint, then sleep until a key, a signal or the next refresh; until asked to stop."""
    stop = asyncio.Event()
    wake = asyncio.Event()

    def request_stop() -> None:
        stop.set()
        wake.set()

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
            paint(stdscr, console.draw)
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
    """Entry point: exit code 0 after a normal stop, 2 on a bad option or port."""
    options = parse_options(argv)
    try:
        with contextlib.ExitStack() as files:
            log_file = None
            if options.log:
                log_file = files.enter_context(open(options.log, "a", encoding="utf-8"))
            return asyncio.run(run(options, log_file))
    except (LinkError, ConfigurationError, OSError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C before the screen took over
        return 0


if __name__ == "__main__":
    sys.exit(main())
