"""Run the Director against 3 simulated peripherals over a pseudo-terminal and print its cost.

A benchmark, not a test: it prints figures beside the goals of issue 4 and asserts nothing.
The simulator runs in its own process (``python3 -m twcdirector.simulator --demo``), so its
CPU is reported apart and not counted; the director runs in this process, which does nothing
else while it is measured. Run: ``python3 benchmarks/cpu.py [--seconds 60]``.

Figures: the director's CPU seconds per hour of bus time (steady state after discovery, and
over the whole run with start-up and close) and peak RSS, frames per second, the heartbeat
period per unit (median and 99th percentile), and the delay from a ``set_session_current``
call to the moment its ``FB E0`` frame is handed to the link (``on_frame("tx")``), repeated
every few seconds with alternating values. For scale, it also measures what a bare asyncio
loop that only wakes up as often as the bus has frames costs on this machine right now.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import resource
import select
import signal
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from twcdirector.gen2.config import DirectorConfig
from twcdirector.gen2.director import Director
from twcdirector.protocol import ControllerHeartbeat, HeartbeatCommand, Message

#: Goals (issue 4).
GOAL_CPU_PER_HOUR = 5.0
GOAL_RSS_MIB = 30.0
GOAL_HEARTBEAT_SLACK = 0.050
GOAL_COMMAND_P99 = 0.250
#: Seconds of discovery and start-up burst (FC E1 x4, FB E2 x3, the units answering with
#: FD E2, each of which claims its unit again): left out of the steady-state figures.
WARM_UP = 10.0
_SET_CURRENT = frozenset(
    {HeartbeatCommand.SET_SESSION_CURRENT, HeartbeatCommand.SET_DEFAULT_CURRENT}
)


def cpu_seconds() -> float:
    """User + system CPU of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Measurements:
    """What the frame callback and the command loop collect (perf_counter seconds)."""

    start: float
    frames_tx: int = 0
    frames_rx: int = 0
    #: receiver -> [(time, heartbeat command)]
    heartbeats: dict[int, list[tuple[float, int]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    #: receiver -> (call time, amps) of the command waiting for its first frame
    waiting: dict[int, tuple[float, float]] = field(default_factory=dict)
    command_delays: list[float] = field(default_factory=list)
    commands_failed: int = 0
    #: (wall, CPU) at the end of the warm-up and at the end of the steady state
    steady_from: tuple[float, float] = (math.nan, math.nan)
    steady_to: tuple[float, float] = (math.nan, math.nan)

    def on_frame(self, direction: str, raw: bytes, message: Message | None) -> None:
        now = time.perf_counter()
        if direction != "tx":
            self.frames_rx += 1
            return
        self.frames_tx += 1
        if not isinstance(message, ControllerHeartbeat):
            return
        self.heartbeats[message.receiver].append((now, message.command))
        pending = self.waiting.get(message.receiver)
        if pending is not None and message.command in _SET_CURRENT:
            called, amps = pending
            if math.isclose(message.amps, amps):
                self.command_delays.append(now - called)
                del self.waiting[message.receiver]

    @property
    def steady_cpu_per_hour(self) -> float:
        wall = self.steady_to[0] - self.steady_from[0]
        return (self.steady_to[1] - self.steady_from[1]) / wall * 3600


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def start_simulator(peripherals: int, protocol: str) -> tuple[subprocess.Popen[str], str]:
    """The simulator process and the pty path it prints first."""
    command = [sys.executable, "-m", "twcdirector.simulator", "--demo"]
    command += ["--peripherals", str(peripherals), "--protocol", protocol]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 20.0)
    line = process.stdout.readline().strip() if ready else ""
    if not line.startswith("/dev/"):
        process.kill()
        process.wait()
        raise SystemExit(f"the simulator did not print a pty path (got {line!r})")
    return process, line


def stop_simulator(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def drive(port: str, seconds: float, interval: float, max_current: float) -> Measurements:
    """Run the director on ``port`` for ``seconds`` of wall time, commanding now and then."""
    measurements = Measurements(time.perf_counter())
    director = Director(port, DirectorConfig(max_current=max_current))
    director.on_frame(measurements.on_frame)
    async with director:
        end = measurements.start + seconds
        warm = measurements.start + min(WARM_UP, seconds / 2)
        turn = 0
        while (now := time.perf_counter()) < end:
            if math.isnan(measurements.steady_from[0]) and now >= warm:
                measurements.steady_from = (now, cpu_seconds())
            await asyncio.sleep(min(interval, end - now, max(warm - now, 0) or interval))
            online = [p for p in director.snapshot().peripherals if p.online]
            if not online or time.perf_counter() >= end:
                continue
            unit = online[turn % len(online)]
            amps = (16.0, 20.0)[(turn // len(online)) % 2]
            turn += 1
            measurements.waiting[unit.id] = (time.perf_counter(), amps)
            try:
                await director.peripheral(unit.id).set_session_current(amps)
            except Exception as error:  # a benchmark reports, it does not stop
                measurements.commands_failed += 1
                print(f"command to {unit.id_hex} failed: {error}", file=sys.stderr)
            measurements.waiting.pop(unit.id, None)
        measurements.steady_to = (time.perf_counter(), cpu_seconds())
    return measurements


async def bare_loop(seconds: float, rate: float) -> float:
    """CPU-s per hour of an asyncio loop that only wakes ``rate`` times a second."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    start, cpu = time.perf_counter(), cpu_seconds()

    def tick() -> None:
        if time.perf_counter() - start >= seconds:
            done.set_result(None)
        else:
            loop.call_later(1 / rate, tick)

    loop.call_later(1 / rate, tick)
    await done
    return (cpu_seconds() - cpu) / (time.perf_counter() - start) * 3600


def heartbeat_periods(measurements: Measurements, plain_only: bool) -> list[float]:
    """Periods between consecutive heartbeats to each unit after the warm-up.

    ``plain_only``: only between two heartbeats without a current command, i.e. the
    cadence as the schedule keeps it.
    """
    periods: list[float] = []
    for beats in measurements.heartbeats.values():
        for (before, first), (after, second) in itertools.pairwise(beats):
            if before < measurements.steady_from[0]:
                continue
            if plain_only and (first in _SET_CURRENT or second in _SET_CURRENT):
                continue
            periods.append(after - before)
    return periods


def row(name: str, measured: str, goal: str = "", met: bool | None = None) -> str:
    verdict = "" if met is None else ("met" if met else "MISSED")
    return f"{name:<40} {measured:>24}   {goal:<24} {verdict}".rstrip()


def report(args: argparse.Namespace, port: str, m: Measurements, wall: float, cpu: float) -> None:
    """Print the table."""
    steady = m.steady_cpu_per_hour
    whole = cpu / wall * 3600
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    target = DirectorConfig().heartbeat_interval
    plain = heartbeat_periods(m, plain_only=True)
    every = heartbeat_periods(m, plain_only=False)
    slack = percentile([abs(period - target) for period in plain], 0.99)
    delays = m.command_delays
    delay_p99 = percentile(delays, 0.99)
    load = " / ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"twcdirector CPU benchmark: {args.peripherals} simulated peripherals on {port}, "
        f"{wall:.1f} s of bus time ({m.steady_to[0] - m.steady_from[0]:.1f} s steady state), "
        f"load average {load}, {os.cpu_count()} CPUs"
    )
    print(row("metric", "measured", "goal"))
    print(row("-" * 40, "-" * 24, "-" * 24))
    ok_cpu = steady < GOAL_CPU_PER_HOUR
    print(row("director CPU-s per hour of bus time", f"{steady:.2f} s", "< 5 s", ok_cpu))
    print(row("  whole run, with start-up and close", f"{whole:.2f} s ({cpu:.3f} s)"))
    print(row("director peak RSS", f"{rss_mib:.1f} MiB", "< 30 MiB", rss_mib < GOAL_RSS_MIB))
    frames = m.frames_tx + m.frames_rx
    print(row("frames per second (written + heard)", f"{frames / wall:.2f}"))
    print(row("  frames written / heard", f"{m.frames_tx} / {m.frames_rx}"))
    median = statistics.median(plain) if plain else math.nan
    print(
        row(
            f"heartbeat period median / p99 ({len(plain)})",
            f"{median:.3f} / {percentile(plain, 0.99):.3f} s",
            f"target {target:g} s",
        )
    )
    print(
        row(
            "heartbeat period p99 of |period - target|",
            f"{slack * 1000:.1f} ms",
            f"< {GOAL_HEARTBEAT_SLACK * 1000:g} ms",
            slack < GOAL_HEARTBEAT_SLACK,
        )
    )
    print(
        row(
            "  FB E0 gaps incl. commands: min / max",
            f"{min(every, default=math.nan):.3f} / {max(every, default=math.nan):.3f} s",
        )
    )
    print(
        row(
            f"set_session_current to wire, med / p99 ({len(delays)})",
            f"{statistics.median(delays) * 1000 if delays else math.nan:.1f} / "
            f"{delay_p99 * 1000:.1f} ms",
            f"p99 < {GOAL_COMMAND_P99 * 1000:g} ms",
            delay_p99 < GOAL_COMMAND_P99,
        )
    )
    if m.commands_failed:
        print(row("  commands failed", str(m.commands_failed), "0", False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--seconds", type=float, default=60.0, help="wall time of bus (60)")
    add("--peripherals", type=int, default=3, help="simulated units (3)")
    add("--protocol", default="2", help="simulator --protocol, e.g. 1,2 (2)")
    add("--interval", type=float, default=3.0, help="seconds between set_session_current (3)")
    add("--max-current", type=float, default=32.0, help="the director's per-unit maximum (32)")
    add("--calibrate", type=float, default=10.0, help="seconds of bare-loop calibration (10)")
    args = parser.parse_args()

    simulator, port = start_simulator(args.peripherals, args.protocol)
    try:
        cpu, wall = cpu_seconds(), time.perf_counter()
        measurements = asyncio.run(drive(port, args.seconds, args.interval, args.max_current))
        cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
    finally:
        stop_simulator(simulator)
    report(args, port, measurements, wall, cpu)
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    sim_cpu = (child.ru_utime + child.ru_stime) / wall * 3600
    sim_rss = child.ru_maxrss / 1024
    print(row("simulator process (not counted)", f"{sim_cpu:.1f} CPU-s/h, {sim_rss:.0f} MiB"))
    if args.calibrate > 0:
        rate = (measurements.frames_tx + measurements.frames_rx) / wall
        floor = asyncio.run(bare_loop(args.calibrate, rate))
        print(row(f"bare asyncio loop, {rate:.1f} wakeups/s", f"{floor:.2f} CPU-s/h"))


if __name__ == "__main__":
    main()
