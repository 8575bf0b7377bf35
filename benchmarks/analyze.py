"""Analyse 24 hours of a 3-peripheral bus with the bus doctor; print time and memory.

A benchmark, not a test: it prints figures. Goals (issue 16): a day of a 3-unit bus
(~650,000 frames) analysed in under 10 s on one core, and memory flat in the capture's
length (streaming readers, fixed-size statistics). The capture is a timestamped text hex
dump in a temporary file, one frame per line, with the frames of ``benchmarks/decode.py``
(heartbeats every 1.3 s per unit, a data request every ~9 heartbeats, tail byte FE).
Each analysis runs in a fresh process so its peak RSS is its own.

Run: ``python3 benchmarks/analyze.py [--hours 24]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from decode import DATA_PERIOD, HEARTBEAT, PERIPHERALS, _data_pairs, _exchanges

GOAL_SECONDS = 10.0
#: A reply follows its request after this long (well inside the 160 ms window).
REPLY_AFTER = 0.045

_CHILD = """
import json, resource, sys, time
from twcdirector.analyze import CaptureReader, analyze_capture
start = time.perf_counter()
with open(sys.argv[1], "rb") as stream:
    report = analyze_capture(CaptureReader(stream))
elapsed = time.perf_counter() - start
print(json.dumps({
    "seconds": elapsed,
    "frames": report.bus.frames,
    "errors": report.bus.errors_total,
    "units": [unit.id for unit in report.units],
    "findings": [finding.code for finding in report.findings],
    "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def write_capture(path: Path, hours: float) -> int:
    """Write ``hours`` of bus as a timestamped hex dump; return the number of frames."""
    beats = int(hours * 3600 / HEARTBEAT)
    requests_per_beat = 6 * HEARTBEAT / DATA_PERIOD
    pairs = {unit: _data_pairs(unit) for unit in PERIPHERALS}
    owed = 0.0
    frames = 0
    slot = HEARTBEAT / (2 * len(PERIPHERALS))
    with path.open("w", encoding="ascii") as out:
        for beat in range(beats):
            for index, unit in enumerate(PERIPHERALS):
                at = beat * HEARTBEAT + 2 * index * slot
                request, reply = _exchanges(unit, beat)
                out.write(f"{at:.6f} {request.hex(' ')}\n{at + REPLY_AFTER:.6f} {reply.hex(' ')}\n")
                frames += 2
                owed += requests_per_beat
                if owed >= 1:
                    owed -= 1
                    request, reply = pairs[unit][(beat + index) % 6]
                    at += slot
                    out.write(f"{at:.6f} {request.hex(' ')}\n")
                    out.write(f"{at + REPLY_AFTER:.6f} {reply.hex(' ')} fe\n")
                    frames += 2
    return frames


def analyse(path: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0, help="bus time to analyse (24)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        results = []
        for hours in (args.hours / 24, args.hours):
            path = Path(folder) / f"bus-{hours:g}h.txt"
            start = time.perf_counter()
            frames = write_capture(path, hours)
            made = time.perf_counter() - start
            size = path.stat().st_size / 2**20
            print(f"capture: {hours:g} h, {frames:,} frames, {size:.1f} MiB ({made:.1f} s)")
            result = analyse(path)
            if result["frames"] != frames or result["errors"]:
                raise SystemExit(f"analysed {result['frames']} of {frames} frames: {result}")
            seconds = float(str(result["seconds"]))
            print(
                f"  analysed in {seconds:.2f} s: {frames / seconds:,.0f} frames/s; "
                f"peak RSS {result['rss_mib']:.1f} MiB; units {result['units']}, "
                f"findings {result['findings']}"
            )
            results.append((hours, seconds, float(str(result["rss_mib"]))))
    (_, _, small), (hours, seconds, large) = results
    verdict = "ok" if seconds < GOAL_SECONDS else "MISSED"
    print(f"{hours:g} h in {seconds:.2f} s (goal < {GOAL_SECONDS:g} s): {verdict}")
    print(
        f"peak RSS {large:.1f} MiB for {hours:g} h vs {small:.1f} MiB for {hours / 24:g} h "
        f"(goal: flat): {'ok' if large - small < 10 else 'GROWS'}"
    )


if __name__ == "__main__":
    main()
