"""Count what the MQTT bridge publishes per unit per minute at steady state.

A benchmark, not a test: it prints figures and asserts nothing. It starts Debian's mosquitto
on a free loopback port, one simulated Gen 2 unit with a car charging
(``python3 -m twcdirector.simulator --scenario "1 plug 0"``) and the headless command with
``--mqtt``, waits ``--warmup`` seconds, then counts every message the bridge publishes for
``--seconds`` (retained copies delivered at subscription are not counted).
Run: ``python3 benchmarks/mqtt_rate.py [--seconds 60] [--warmup 30]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiomqtt

PREFIX = "bench/twc"
#: The issue's rule: at most once a second per topic, a full refresh every 5 minutes.
REFRESH_S = 300.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def count(port: int, seconds: float) -> Counter[str]:
    """Messages per topic published during ``seconds`` (retained copies not counted)."""
    counts: Counter[str] = Counter()
    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.subscribe(f"{PREFIX}/#")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                async for message in client.messages:
                    if not message.retain:
                        counts[message.topic.value] += 1
    return counts


def measure(seconds: float, warmup: float) -> Counter[str]:
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    with tempfile.TemporaryDirectory() as directory:
        config = Path(directory) / "mosquitto.conf"
        config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        broker = subprocess.Popen([mosquitto, "-c", str(config)], stderr=subprocess.DEVNULL)
        sim = subprocess.Popen(
            [sys.executable, "-m", "twcdirector.simulator", "--scenario", "1 plug 0"],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},  # its first line is the pty path
        )
        try:
            assert sim.stdout is not None
            pty = sim.stdout.readline().strip()
            director = subprocess.Popen(
                [
                    *(sys.executable, "-m", "twcdirector", "--port", pty, "--max-current", "32"),
                    "--mqtt",
                    f"mqtt://127.0.0.1:{port}",
                    "--mqtt-prefix",
                    PREFIX,
                ],
                stdout=subprocess.DEVNULL,
            )
            try:
                time.sleep(warmup)
                return asyncio.run(count(port, seconds))
            finally:
                director.terminate()
                director.wait()
        finally:
            sim.terminate()
            broker.terminate()
            sim.wait()
            broker.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=30.0)
    args = parser.parse_args()
    counts = measure(args.seconds, args.warmup)
    minutes = args.seconds / 60
    unit = sum(n for topic, n in counts.items() if topic.startswith(f"{PREFIX}/1839/"))
    site = sum(counts.values()) - unit
    print(f"window: {args.seconds:.0f} s after {args.warmup:.0f} s of warm-up, one charging unit")
    print(f"unit topics: {unit / minutes:.1f} messages/min (site topics {site / minutes:.1f}/min)")
    for topic, count in counts.most_common():
        print(f"  {topic}: {count}")
    keys = 13 + 1  # every unit key, plus the site's total current
    print(
        f"goal: on change, <= 1/s per topic; the 5-minute refresh adds {keys * 60 / REFRESH_S:.1f}"
        " messages/min on average"
    )


if __name__ == "__main__":
    main()
