"""The director's CPU beside a minimal asyncio controller doing the same exchanges.

A benchmark, not a test: it prints figures beside the goals of issue 15 and asserts nothing.
For each number of units (``--units 1,3,8,16``) it starts, at the same moment, two
independent simulated buses (``python3 -m twcdirector.simulator --demo``, each in its own
process on its own pseudo terminal, units answering in 20-60 ms) and two controller
processes: the :class:`~twcdirector.gen2.director.Director`, and a minimal controller (the
"floor") that does the same exchanges with the same codec and nothing else: start-up
burst, a heartbeat to every unit each 1.3 s, the six data requests each 11.8 s with at most
one between two heartbeats of a unit, one exchange at a time with the 250 ms reply timeout
and the 10 ms inter-frame gap, a ``set_session_current`` every few seconds riding on a
heartbeat in the next free slot. The floor reads the pty's file descriptor with
``loop.add_reader`` and keeps one timer handle, so it costs what the event loop and the
codec cost; the ratio of the two, measured in the same window on the same loaded machine,
is the figure of merit.

Each controller process imports everything, opens its port and waits for every unit before
its timed window starts; CPU is the sum of the first field of
``/proc/<pid>/task/*/schedstat`` (nanoseconds on the CPU, every thread) at both ends of the
window. Peak RSS is each process's ``VmHWM``; the headless command (``python3 -m
twcdirector``) runs on a third simulated bus in the same window for its own. The heartbeat
period counts only two consecutive plain heartbeats to a unit (a command sent in the next
free slot is not a tick); the command delay runs from the call to the moment its ``FB E0``
is handed to the link.

Run: ``python3 benchmarks/cpu.py`` (4 x ~85 s) or ``--seconds 20 --units 3`` for a quick look.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import itertools
import json
import math
import os
import select
import signal
import statistics
import subprocess
import sys
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import serial

from twcdirector.gen2.config import DirectorConfig
from twcdirector.gen2.exchange import REPLY_TO
from twcdirector.gen2.schedule import DATA_REQUESTS
from twcdirector.protocol import (
    ControllerHeartbeat,
    ControllerLinkReady1,
    ControllerLinkReady2,
    FrameDecoder,
    HeartbeatCommand,
    Message,
    PeripheralHeartbeat,
    PeripheralLinkReady,
    body_length,
    encode,
)

if TYPE_CHECKING:  # the floor's process does not load the director (its RSS stays its own)
    from twcdirector.gen2.director import Director

#: Goals (issue 15).
GOAL_RATIO = 1.3
GOAL_HEARTBEAT_SLACK = 0.020
GOAL_COMMAND_P99 = 0.250
GOAL_RSS_MIB = 25.0
#: The longest wait for every unit to be online before the timed window.
WARM_UP_MAX = 40.0
#: Then this long for the start-up burst, the first data requests and the demo's plug-ins.
SETTLE = 8.0
_SET_CURRENT = frozenset(
    {HeartbeatCommand.SET_SESSION_CURRENT, HeartbeatCommand.SET_DEFAULT_CURRENT}
)
_CONFIG = DirectorConfig()


def cpu_ns(pid: int | str = "self") -> int:
    """Nanoseconds every thread of ``pid`` has spent on a CPU (schedstat's first field)."""
    total = 0
    for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(path) as stat:
                total += int(stat.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that ended in between
    return total


def peak_rss_kib(pid: int | str = "self") -> int:
    """The peak resident set (``VmHWM``) of ``pid`` in KiB; 0 if it is gone."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


# --- what both controllers record ----------------------------------------------------------


@dataclass
class Measurements:
    """Frames seen going out, heartbeat times and command delays (loop-clock seconds)."""

    clock: Callable[[], float]
    frames: int = 0
    heartbeats: dict[int, list[tuple[float, int]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    #: receiver -> (call time, amps) of the command waiting for its first frame
    waiting: dict[int, tuple[float, float]] = field(default_factory=dict)
    command_delays: list[float] = field(default_factory=list)
    commands_failed: int = 0
    window: tuple[float, float] = (math.inf, math.inf)

    def on_frame(self, direction: str, raw: bytes, message: Message | None) -> None:
        self.frames += 1
        if direction != "tx" or not isinstance(message, ControllerHeartbeat):
            return
        now = self.clock()
        self.heartbeats[message.receiver].append((now, message.command))
        pending = self.waiting.get(message.receiver)
        if pending is not None and message.command in _SET_CURRENT:
            called, amps = pending
            if math.isclose(message.amps, amps) and self.window[0] <= called:
                self.command_delays.append(now - called)
                del self.waiting[message.receiver]

    def heartbeat_periods(self) -> list[float]:
        """Periods between two consecutive plain heartbeats to a unit in the window."""
        start, end = self.window
        return [
            after - before
            for beats in self.heartbeats.values()
            for (before, first), (after, second) in itertools.pairwise(beats)
            if start <= before and after <= end and first not in _SET_CURRENT
            if second not in _SET_CURRENT
        ]


class Controller(Protocol):
    def online(self) -> list[int]: ...

    def set_session_current(self, unit: int, amps: float) -> Awaitable[None]: ...


async def drive(
    controller: Controller, m: Measurements, units: int, seconds: float, interval: float
) -> tuple[int, float]:
    """Wait for every unit, then command one unit after another for ``seconds``.

    Returns (CPU ns, wall seconds) of the timed window."""
    warm_end = m.clock() + WARM_UP_MAX
    while len(controller.online()) < units and m.clock() < warm_end:  # noqa: ASYNC110
        await asyncio.sleep(0.5)
    await asyncio.sleep(SETTLE)
    cpu, start = cpu_ns(), m.clock()
    m.window = (start, start + seconds)
    for turn in itertools.count():
        await asyncio.sleep(min(interval, m.window[1] - m.clock()))
        if m.clock() >= m.window[1]:
            break
        online = controller.online()
        if not online:
            continue
        unit = online[turn % len(online)]
        amps = (16.0, 20.0)[(turn // len(online)) % 2]
        m.waiting[unit] = (m.clock(), amps)
        try:
            await controller.set_session_current(unit, amps)
        except Exception as error:  # a benchmark reports, it does not stop
            m.commands_failed += 1
            print(f"command to {unit:04X} failed: {error}", file=sys.stderr)
        m.waiting.pop(unit, None)
    return cpu_ns() - cpu, m.clock() - start


# --- the director --------------------------------------------------------------------------


class DirectorUnderTest:
    def __init__(self, director: Director) -> None:
        self.director = director

    def online(self) -> list[int]:
        return [p.id for p in self.director.snapshot().peripherals if p.online]

    def set_session_current(self, unit: int, amps: float) -> Awaitable[None]:
        return self.director.peripheral(unit).set_session_current(amps)


async def run_director(port: str, units: int, seconds: float, interval: float) -> dict[str, Any]:
    from twcdirector.gen2.director import Director  # noqa: PLC0415 (not in the floor)

    m = Measurements(asyncio.get_running_loop().time)
    config = DirectorConfig(max_current=32, max_peripherals=max(units, 3))
    director = Director(port, config)
    director.on_frame(m.on_frame)
    async with director:
        cpu, wall = await drive(DirectorUnderTest(director), m, units, seconds, interval)
    return summary(m, cpu, wall)


# --- the floor: a minimal controller -------------------------------------------------------

_BYTE_TIME = 10 / 9600


@dataclass
class _Unit:
    heartbeat_due: float
    request_due: list[float]
    length: int
    request_allowed: bool = False
    command: tuple[float, asyncio.Future[None]] | None = None


class Floor:
    """The same exchanges as the director, with nothing else: no events, no checks."""

    ID = 0xF00D

    def __init__(self, port: str, on_frame: Callable[[str, bytes, Message | None], None]) -> None:
        self._serial = serial.Serial(port, 9600, timeout=0)
        self._fd = self._serial.fileno()
        self._on_frame = on_frame
        self._loop = asyncio.get_running_loop()
        self._decoder = FrameDecoder()
        self._units: dict[int, _Unit] = {}
        self._free_at = 0.0
        #: (unit, reply type, deadline) of the exchange in flight
        self._awaiting: tuple[int | None, type[Message], float] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._when = math.nan
        now = self._loop.time()
        self._burst: list[tuple[float, Message]]
        self._burst = [(now + 1.3 * i, ControllerLinkReady1(self.ID, 0x77)) for i in range(4)]
        self._burst += [
            (now + 5.2 + 0.3 * i, ControllerLinkReady2(self.ID, 0x77)) for i in range(3)
        ]
        self._loop.add_reader(self._fd, self._readable)
        self._step()

    def close(self) -> None:
        self._loop.remove_reader(self._fd)
        if self._timer is not None:
            self._timer.cancel()
        self._serial.close()

    def online(self) -> list[int]:
        return sorted(self._units)

    def set_session_current(self, unit: int, amps: float) -> Awaitable[None]:
        future: asyncio.Future[None] = self._loop.create_future()
        self._units[unit].command = (amps, future)
        self._loop.call_soon(self._step)
        return future

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, 1024)
        except BlockingIOError:
            return  # woken for nothing
        now = self._loop.time()
        self._free_at = now + _CONFIG.inter_frame_gap
        for message in self._decoder.feed(data):
            self._on_frame("rx", b"", message)
            self._heard(message, now)
        self._step()

    def _heard(self, message: Message, now: float) -> None:
        sender = message.sender
        if isinstance(message, PeripheralLinkReady) and sender not in self._units:
            first = [now + (i + 1) * 1.3 for i in range(6)]
            self._units[sender] = _Unit(now, first, body_length(message.protocol))
        awaiting = self._awaiting
        if awaiting is not None and awaiting[0] == sender and isinstance(message, awaiting[1]):
            self._awaiting = None
            unit = self._units[sender]
            if isinstance(message, PeripheralHeartbeat) and unit.command is not None:
                unit.command[1].set_result(None)
                unit.command = None

    def _step(self) -> None:
        now = self._loop.time()
        if self._awaiting is not None:
            if now < self._awaiting[2]:
                return self._arm(self._awaiting[2])
            self._awaiting = None
        if now < self._free_at:
            return self._arm(self._free_at)
        units = self._units
        next_id = min(units, key=lambda i: units[i].heartbeat_due, default=None)
        next_beat = math.inf if next_id is None else units[next_id].heartbeat_due
        if next_id is not None and next_beat <= now:
            return self._heartbeat(next_id, now, tick=True)
        for unit_id, unit in units.items():
            if unit.command is not None:
                return self._heartbeat(unit_id, now, tick=False)
        if self._burst and self._burst[0][0] <= now:
            _, message = self._burst.pop(0)
            window = _CONFIG.reply_timeout if isinstance(message, ControllerLinkReady2) else 0
            return self._send(message, None, Message, now, window)
        wake = min(next_beat, self._burst[0][0] if self._burst else math.inf)
        if now + 0.05 + _CONFIG.reply_timeout < next_beat:
            for unit_id, unit in units.items():
                index = min(range(6), key=unit.request_due.__getitem__)
                if unit.request_allowed and unit.request_due[index] <= now:
                    unit.request_allowed = False
                    unit.request_due[index] = now + _CONFIG.data_request_interval
                    ask = DATA_REQUESTS[index](self.ID, unit_id, unit.length)
                    reply = REPLY_TO[DATA_REQUESTS[index]]
                    return self._send(ask, unit_id, reply, now, _CONFIG.reply_timeout)
                if unit.request_allowed:
                    wake = min(wake, unit.request_due[index])
        return self._arm(max(wake, now + 0.001) if wake < math.inf else now + 1.0)

    def _heartbeat(self, unit_id: int, now: float, *, tick: bool) -> None:
        unit = self._units[unit_id]
        command, amps = HeartbeatCommand.NO_CHANGE, 0.0
        if unit.command is not None:
            command, amps = HeartbeatCommand.SET_SESSION_CURRENT, unit.command[0]
        if tick:
            interval = _CONFIG.heartbeat_interval
            late = now - unit.heartbeat_due > interval / 2
            unit.heartbeat_due = (now if late else unit.heartbeat_due) + interval
            unit.request_allowed = True
        message = ControllerHeartbeat(self.ID, unit_id, command, amps, length=unit.length)
        self._send(message, unit_id, PeripheralHeartbeat, now, _CONFIG.reply_timeout)

    def _send(
        self,
        message: Message,
        unit: int | None,
        reply: type[Message],
        now: float,
        window: float,
    ) -> None:
        data = encode(message)
        os.write(self._fd, data)
        self._on_frame("tx", data, message)
        tx_end = now + len(data) * _BYTE_TIME
        self._free_at = tx_end + window + _CONFIG.inter_frame_gap
        if window > 0:
            self._awaiting = (unit, reply, tx_end + window)
        self._arm(self._free_at if window == 0 else tx_end + window)

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            if when == self._when:
                return
            self._timer.cancel()
        self._when = when
        self._timer = self._loop.call_at(when, self._step)


async def run_floor(port: str, units: int, seconds: float, interval: float) -> dict[str, Any]:
    m = Measurements(asyncio.get_running_loop().time)
    floor = Floor(port, m.on_frame)
    try:
        cpu, wall = await drive(floor, m, units, seconds, interval)
    finally:
        floor.close()
    return summary(m, cpu, wall)


def summary(m: Measurements, cpu: int, wall: float) -> dict[str, Any]:
    periods = m.heartbeat_periods()
    target = _CONFIG.heartbeat_interval
    return {
        "cpu_per_hour": cpu / 1e9 / wall * 3600,
        "rss_mib": peak_rss_kib() / 1024,
        "frames_per_s": m.frames / max(wall, 1e-9),
        "hb_p50": statistics.median(periods) if periods else math.nan,
        "hb_p99": percentile(periods, 0.99),
        "hb_slack_p99": percentile([abs(p - target) for p in periods], 0.99),
        "cmd_p50": statistics.median(m.command_delays) if m.command_delays else math.nan,
        "cmd_p99": percentile(m.command_delays, 0.99),
        "commands": len(m.command_delays),
        "commands_failed": m.commands_failed,
    }


# --- the orchestra -------------------------------------------------------------------------


def start_simulator(units: int) -> tuple[subprocess.Popen[str], str]:
    """The simulator process and the pty path it prints first."""
    command = [sys.executable, "-m", "twcdirector.simulator", "--demo", "-n", str(units)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 20.0)
    line = process.stdout.readline().strip() if ready else ""
    if not line.startswith("/dev/"):
        stop(process)
        raise SystemExit(f"the simulator did not print a pty path (got {line!r})")
    return process, line


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def measure(units: int, seconds: float, interval: float) -> dict[str, dict[str, Any]]:
    """Both controllers side by side, each on its own simulated bus, in one window; and the
    headless command on a third bus for its peak RSS."""
    simulators = [start_simulator(units) for _ in range(3)]
    workers: dict[str, subprocess.Popen[str]] = {}
    try:
        for (_, port), kind in zip(simulators, ("director", "floor", "headless"), strict=True):
            if kind == "headless":
                command = [sys.executable, "-m", "twcdirector", "--port", port]
                command += ["--max-current", "32"]
                workers[kind] = subprocess.Popen(command, stdout=subprocess.DEVNULL, text=True)
                continue
            command = [sys.executable, __file__, "--worker", kind, "--port", port]
            command += ["--units", str(units), "--seconds", str(seconds)]
            command += ["--interval", str(interval)]
            workers[kind] = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        results: dict[str, dict[str, Any]] = {}
        for kind in ("director", "floor"):
            out, _ = workers[kind].communicate(timeout=seconds + WARM_UP_MAX + 60)
            results[kind] = json.loads(out.strip().splitlines()[-1])
        results["headless"] = {"rss_mib": peak_rss_kib(workers["headless"].pid) / 1024}
        return results
    finally:
        for worker in workers.values():
            if worker.poll() is None:
                stop(worker)
        for process, _ in simulators:
            stop(process)


def row(name: str, cells: Sequence[str], goal: str = "") -> str:
    return f"{name:<34}" + "".join(f"{cell:>16}" for cell in cells) + f"   {goal}"


def report(results: dict[int, dict[str, dict[str, Any]]], seconds: float) -> None:
    counts = sorted(results)
    load = " / ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"twcdirector CPU benchmark: {seconds:g} s timed window per column, "
        f"load average {load}, {os.cpu_count()} CPUs"
    )
    print(row("units", [str(n) for n in counts], "goal"))

    def cells(kind: str, key: str, fmt: str, scale: float = 1.0) -> list[str]:
        return [fmt.format(results[n][kind][key] * scale) for n in counts]

    ratio = [
        results[n]["director"]["cpu_per_hour"] / results[n]["floor"]["cpu_per_hour"] for n in counts
    ]
    print(row("director CPU-s per hour", cells("director", "cpu_per_hour", "{:.2f}")))
    print(row("floor CPU-s per hour", cells("floor", "cpu_per_hour", "{:.2f}")))
    print(row("ratio director / floor", [f"{r:.2f}" for r in ratio], f"<= {GOAL_RATIO} at 3"))
    first = results[counts[0]]["director"]["cpu_per_hour"] / counts[0]
    per_unit = [results[n]["director"]["cpu_per_hour"] / n / first for n in counts]
    print(row("director CPU per unit, rel.", [f"{r:.2f}" for r in per_unit], "<= 1 (linear)"))
    print(row("headless command peak RSS MiB", cells("headless", "rss_mib", "{:.1f}"), "<= 25"))
    print(row("director worker peak RSS MiB", cells("director", "rss_mib", "{:.1f}")))
    print(row("floor worker peak RSS MiB", cells("floor", "rss_mib", "{:.1f}")))
    rates = [f"{results[n]['director']['frames_per_s']:.1f}" for n in counts]
    rates = [
        f"{r} / {results[n]['floor']['frames_per_s']:.1f}"
        for r, n in zip(rates, counts, strict=True)
    ]
    print(row("frames/s director / floor", rates))
    for kind in ("director", "floor"):
        print(row(f"{kind} hb period p50 s", cells(kind, "hb_p50", "{:.3f}"), "1.3"))
        print(row(f"{kind} hb period p99 s", cells(kind, "hb_p99", "{:.3f}")))
        print(
            row(
                f"{kind} hb |period-1.3| p99 ms",
                cells(kind, "hb_slack_p99", "{:.1f}", 1e3),
                "<= 20",
            )
        )
        print(row(f"{kind} cmd to wire p50 ms", cells(kind, "cmd_p50", "{:.1f}", 1e3)))
        print(row(f"{kind} cmd to wire p99 ms", cells(kind, "cmd_p99", "{:.1f}", 1e3), "<= 250"))
    failed = [results[n][k]["commands_failed"] for n in counts for k in ("director", "floor")]
    if any(failed):
        print(row("commands failed (dir, floor)...", [str(f) for f in failed], "0"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--seconds", type=float, default=60.0, help="timed window per unit count (60)")
    add("--units", default="1,3,8,16", help="unit counts, comma-separated (1,3,8,16)")
    add("--interval", type=float, default=3.0, help="seconds between commands (3)")
    add("--worker", choices=("director", "floor"), help=argparse.SUPPRESS)
    add("--port", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        run = run_director if args.worker == "director" else run_floor
        units = int(args.units)
        print(json.dumps(asyncio.run(run(args.port, units, args.seconds, args.interval))))
        return
    results = {}
    for units in (int(text) for text in args.units.split(",")):
        results[units] = measure(units, args.seconds, args.interval)
    report(results, args.seconds)


if __name__ == "__main__":
    main()
