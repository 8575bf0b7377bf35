"""The utility's start-up: import time, time to first paint and peak RSS with ``--simulate 3``.

A benchmark, not a test: it prints figures beside the goals of issue 12 (imports under 250 ms,
peak RSS under 30 MiB). Run: ``python3 benchmarks/startup.py [--runs 5] [--seconds 5]``.

- imports: ``import twcdirector.utility`` in a fresh interpreter, timed inside it (the
  interpreter's own start-up is not counted); the median of ``--runs``.
- first paint: from starting ``python3 -m twcdirector.utility --simulate 3 --max-current 32``
  on a new pseudo terminal (80x24) to the screen's header appearing on it; the median.
- peak RSS: the utility's ``VmHWM`` after ``--seconds`` of running the demo, then ``q``.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import statistics
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

IMPORT_GOAL_MS = 250.0
RSS_GOAL_MIB = 30.0
ROOT = Path(__file__).resolve().parent.parent
HEADER = b"mode controller"


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT),
        "TERM": "xterm-256color",
    }


def import_ms() -> float:
    """One fresh interpreter's time to import the utility, in ms."""
    code = (
        "import time; t = time.perf_counter(); import twcdirector.utility; "
        "print((time.perf_counter() - t) * 1000)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), check=True
    )
    return float(done.stdout)


def run_utility(seconds: float) -> tuple[float, float]:
    """Start the utility on a new 80x24 pty; return (ms to the first paint, peak RSS MiB)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "twcdirector.utility", "--simulate", "3", "--max-current", "32"],
        stdin=follower,
        stdout=follower,
        stderr=subprocess.DEVNULL,
        env=_env(),
        start_new_session=True,
    )
    os.close(follower)
    seen = b""
    first_paint = None
    deadline = started + 60
    try:
        while time.perf_counter() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.05)
            if ready:
                seen += os.read(leader, 65536)
                if first_paint is None and HEADER in seen:
                    first_paint = (time.perf_counter() - started) * 1000
                    deadline = time.perf_counter() + seconds
                seen = seen[-4096:]
        peak = _peak_rss_mib(process.pid)
        os.write(leader, b"q")
        while process.poll() is None:  # keep draining so the utility never blocks on output
            if select.select([leader], [], [], 0.1)[0]:
                try:
                    os.read(leader, 65536)
                except OSError:
                    break
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(leader)
    if first_paint is None:
        raise SystemExit("the utility never painted its header")
    return first_paint, peak


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("no VmHWM in /proc (Linux only)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0, help="run time before measuring RSS")
    args = parser.parse_args()
    imports = statistics.median(import_ms() for _ in range(args.runs))
    runs = [run_utility(args.seconds) for _ in range(max(1, args.runs // 2))]
    paint = statistics.median(run[0] for run in runs)
    rss = max(run[1] for run in runs)
    print(f"import twcdirector.utility  {imports:7.0f} ms    (goal < {IMPORT_GOAL_MS:.0f} ms)")
    print(f"start to first paint        {paint:7.0f} ms    (interpreter start-up included)")
    print(f"peak RSS, --simulate 3      {rss:7.1f} MiB   (goal < {RSS_GOAL_MIB:.0f} MiB)")


if __name__ == "__main__":
    main()
