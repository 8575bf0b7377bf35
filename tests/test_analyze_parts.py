"""The bus doctor's parts: bounded summaries, timestamps, purity, and --port on a real pty."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import tty
from pathlib import Path

import pytest

from tests.analyze_helpers import record
from twcdirector.analyze.frames import FrameSplitter, Gap
from twcdirector.analyze.histogram import Histogram, Timeline, add_up, keep_last, keep_max
from twcdirector.analyze.timestamps import Clock, DayCounter, parse_stamp
from twcdirector.exceptions import ChecksumError
from twcdirector.protocol import Message


def test_histogram_quantiles_to_half_a_bin_and_exact_extremes() -> None:
    histogram = Histogram(1.0, 100)
    for value in range(1, 1001):  # 1..1000 ms, most beyond the 100 bins
        histogram.add(value / 10)  # 0.1 .. 100.0
    summary = histogram.summary()
    assert summary.count == 1000
    assert summary.p50 == pytest.approx(50, abs=0.5)
    assert summary.p99 == pytest.approx(99, abs=0.5)
    assert (summary.min, summary.max) == (0.1, 100.0)
    assert summary.mean == pytest.approx(50.05)
    overflow = Histogram(1.0, 10)
    for value in (1.0, 2.0, 500.0):
        overflow.add(value)
    assert overflow.quantile(0.99) == 500.0  # the overflow bin answers with the true max
    assert Histogram(1.0, 10).summary().count == 0


def test_timeline_stays_bounded_and_spans_the_whole_series() -> None:
    timeline = Timeline((keep_max, keep_last), limit=64)
    for second in range(100_000):
        timeline.add(float(second), (float(second % 7), float(second)))
    points = timeline.points()
    assert len(points) <= 64
    assert points[0][0] == 0.0
    assert points[-1][0] + timeline.width > 99_999
    assert points[-1][1][1] == 99_999.0  # keep_last
    assert all(values[0] == 6.0 for _, values in points)  # keep_max over each bucket
    counts = Timeline((add_up,), limit=8)
    for second in range(100):
        counts.add(second / 10, (1.0,))
    assert sum(values[0] for _, values in counts.points()) == 100.0  # nothing folded away


def test_splitter_keeps_wire_order_of_frames_tails_noise_and_errors() -> None:
    good = bytes.fromhex("c0 fde2 1839 52 0c80" + "00" * 8 + "11 c0")  # SPEC §6 vector 4
    bad = good[:5] + b"\x00" + good[6:]
    wire = b"\x12\x34" + good + b"\xfe" + bad + b"\x01\x02\x03" + good + b"\xfc"
    for size in (1, 3, len(wire)):  # the same items, however the bytes arrive
        splitter = FrameSplitter()
        items = []
        for start in range(0, len(wire), size):
            items += splitter.feed(wire[start : start + size])
        kinds = [
            "msg" if isinstance(i, Message) else "chk" if isinstance(i, ChecksumError) else i
            for i in items
        ]
        assert kinds == [
            Gap(2, 0x12, True),
            "msg",
            Gap(1, 0xFE),
            "chk",
            Gap(3, 0x01),
            "msg",
        ], size
        assert splitter.buffered == 1  # the last tail byte, after the last C0


@pytest.mark.parametrize(
    ("line", "seconds", "clock"),
    [
        ("2026-11-29T10:00:01.250+00:00 C0", 1795946401.25, Clock.EPOCH),
        ("2026-11-29 10:00:01,250 C0", 1795946401.25, Clock.EPOCH),
        ("[10:00:01.5] Rx@: C0", 36001.5, Clock.TIME_OF_DAY),
        ("12:34:56: C0", 45296.0, Clock.TIME_OF_DAY),
        ("1234.567 C0", 1234.567, Clock.RELATIVE),
        ("[   12.000001] C0", 12.000001, Clock.RELATIVE),
    ],
)
def test_leading_timestamps(line: str, seconds: float, clock: Clock) -> None:
    stamp = parse_stamp(line)
    assert stamp is not None
    assert stamp.seconds == pytest.approx(seconds)
    assert stamp.clock is clock
    assert line[stamp.end :].endswith("C0")


@pytest.mark.parametrize("line", ["C0 FD E0", "20 19 77 77", "12 34", "99:99:99 C0"])
def test_hex_is_never_taken_for_a_timestamp(line: str) -> None:
    assert parse_stamp(line) is None


def test_times_of_day_count_on_across_midnight() -> None:
    days = DayCounter()
    assert [days.running(t) for t in (86390.0, 86399.0, 5.0, 10.0)] == [
        86390.0,
        86399.0,
        86405.0,
        86410.0,
    ]
    assert datetime.timedelta(seconds=86405 - 86390).seconds == 15


def test_port_listens_without_transmitting_and_reports(tmp_path: Path) -> None:
    """A real pseudo-terminal: the doctor opens its far end as it would a USB adapter."""
    wire = record(20, scenario="3 plug 0").raw()
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    path = os.ttyname(slave)
    process = subprocess.Popen(
        [sys.executable, "-m", "twcdirector.analyze", "--port", path, "--duration", "3", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        # Wait for the port to be open before the bus "talks": no sleep, a condition.
        assert "listening on" in process.stderr.readline()
        os.write(master, wire)
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        report = json.loads(out)
        assert report["input"]["format"] == "LIVE"
        assert [unit["id"] for unit in report["units"]] == ["1839", "2019", "2433"]
        assert report["bus"]["frames"] > 50
        assert report["bus"]["bytes"] == len(wire)
        os.set_blocking(master, False)
        with pytest.raises(BlockingIOError):
            os.read(master, 1)  # it never wrote a byte
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
        os.close(slave)


def test_a_port_that_cannot_open_is_one_line_and_exit_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "twcdirector.analyze", "--port", "/dev/does-not-exist"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "cannot open /dev/does-not-exist" in done.stderr
