"""The bus doctor on captures recorded from the simulator, with faults, and on real frames."""

from __future__ import annotations

import datetime
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.analyze_helpers import Recording, record
from twcdirector.analyze import CaptureFormat, CaptureReader, Report, analyze_capture
from twcdirector.analyze.__main__ import main
from twcdirector.analyze.capture import NotACaptureError
from twcdirector.analyze.histogram import Histogram
from twcdirector.analyze.report import render_text

DATA = Path(__file__).parent / "data"
IDS = ["1839", "2019", "2433"]


def usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the command expecting one line on stderr and exit code 2; return the line."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("python3 -m twcdirector.analyze: error:")
    return err


def report_of(text: str | bytes) -> Report:
    data = text.encode() if isinstance(text, str) else text
    return analyze_capture(CaptureReader(io.BytesIO(data)), source="test")


def codes(report: Report) -> dict[str, list[str | None]]:
    found: dict[str, list[str | None]] = {}
    for finding in report.findings:
        found.setdefault(finding.code, []).append(finding.unit)
    return found


@pytest.fixture(scope="module")
def healthy() -> Recording:
    return record(90, scenario="10 plug 0")


def test_a_healthy_log_reports_every_unit_and_no_problem(healthy: Recording) -> None:
    report = report_of(healthy.log_text())
    assert report.input.format is CaptureFormat.JSON_LINES
    assert [unit.id for unit in report.units] == IDS
    assert [c.id for c in report.controllers] == ["F00D"]
    for unit in report.units:
        assert unit.protocol == 2
        assert unit.rating_amps == 32.0
        assert unit.firmware == "4.5.3.2"
        assert unit.serial is not None
        assert unit.serial.endswith(unit.id + "1")  # the simulator puts the ID in the TSN
        # The director heartbeats each unit every 1.3 s; units answer in 20-60 ms (+frames).
        assert 1250 <= unit.heartbeat_period_ms.p50 <= 1350
        assert unit.reply_latency_ms.p99 < 160
        assert unit.timeouts <= 1  # the claim may cross a burst of announcements
        assert unit.longest_silence_s is not None
        assert unit.longest_silence_s < 5
    charging = report.units[0]
    assert charging.vin is not None
    assert charging.actual_amps_max == pytest.approx(32.0)
    assert ("state", "READY", "STARTING") in [(c.what, c.old, c.new) for c in charging.changes]
    assert report.bus.duration_s == pytest.approx(90, abs=2)
    assert 0 < report.bus.utilisation < 0.5  # type: ignore[operator]
    assert list(codes(report)) == ["healthy"]


def test_the_same_bus_as_hex_dump_and_raw_bytes(healthy: Recording) -> None:
    dump = report_of(healthy.hex_dump())
    raw = report_of(healthy.raw())
    log = report_of(healthy.log_text())
    assert dump.input.format is CaptureFormat.HEX_DUMP
    assert raw.input.format is CaptureFormat.RAW
    # The wire holds the same frames the observer logged.
    assert dump.bus.frames == raw.bus.frames == log.bus.frames
    # Tail bytes are on the wire (FE from every simulated unit), not in a --log.
    assert dump.bus.tail_bytes == raw.bus.tail_bytes
    assert set(dump.bus.tail_bytes) == {"FE"}
    assert all(set(unit.tail_bytes) == {"FE"} for unit in dump.units)
    assert log.bus.tail_bytes == {}
    assert dump.bus.timed
    assert dump.units[0].heartbeat_period_ms.p50 == pytest.approx(1300, abs=50)
    # A raw capture has no times: counts only, and the report says so.
    assert not raw.bus.timed
    assert raw.bus.duration_s is None
    assert raw.units[0].reply_latency_ms.count == 0
    assert "untimed" in codes(raw)
    assert [unit.id for unit in raw.units] == IDS
    assert raw.units[0].requests == dump.units[0].requests


FAULTS: dict[str, tuple[dict[str, Any], str, str | None]] = {
    "noise": (
        {"scenario": "; ".join(f"{5 + 3 * n} noise 1 data=0102" for n in range(12))},
        "line_noise",
        None,
    ),
    "late unit": ({"scenario": "10 delay 1 seconds=0.3 count=40"}, "slow_replies", "2019"),
    "silent unit": ({"scenario": "10 silent 2 for=40"}, "unit_lost", "2433"),
    "second controller": ({"second_controller": (20.0, 50.0)}, "two_controllers", None),
    "corrupt bytes": ({"scenario": "10 corrupt 0 count=12"}, "checksum_errors", None),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_injected_fault_gives_its_finding(fault: str) -> None:
    options, code, unit = FAULTS[fault]
    recording = record(80, **options)
    # Noise between frames is on the wire only; the rest shows in the --log too.
    captures = [recording.hex_dump()] + ([] if fault == "noise" else [recording.log_text()])
    for capture in captures:
        report = report_of(capture)
        found = codes(report)
        assert code in found, (fault, found)
        assert unit in found[code]
        assert "healthy" not in found
    text = {f.code: f.text for f in report.findings}[code]
    if fault == "late unit":
        latency = report.units[1].reply_latency_ms
        assert latency.p99 > 300
        assert f"p99 {latency.p99:.0f} ms" in text
    elif fault == "silent unit":
        assert report.units[2].longest_silence_s >= 40  # type: ignore[operator]
        assert report.units[2].lost == 1
    elif fault == "second controller":
        assert [c.id for c in report.controllers] == ["F00D", "7777"]
        assert "F00D, 7777" in text
    elif fault == "corrupt bytes":
        assert report.bus.framing_errors["checksum"] == 12
        assert report.units[0].checksum_errors == 12
        assert "unit_corrupt" in codes(report)
    elif fault == "noise":
        assert report.bus.noise_bytes >= 12 * 2


def test_real_frames_as_a_hex_dump() -> None:
    report = report_of((DATA / "vectors_dump.txt").read_bytes())
    assert report.input.format is CaptureFormat.HEX_DUMP
    assert report.input.bare_bodies == 9
    units = {unit.id: unit for unit in report.units}
    assert set(units) == {"02BB", "1839", "2019", "2433", "5850", "6090", "8725"}
    assert (units["1839"].protocol, units["1839"].rating_amps) == (2, 32.0)
    assert units["1839"].announcements == 2  # once bare, once with its leaked FF tail
    assert units["1839"].tail_bytes == {"FF": 1}
    assert (units["2019"].state, units["2019"].offered_amps_max) == ("STARTING", 6.0)
    assert units["2019"].actual_amps_max == pytest.approx(5.28)
    assert units["2433"].state == "PLUGGED_DO_NOT_CHARGE"
    assert units["8725"].rating_amps == 32.0
    assert units["02BB"].frames == 0
    assert [c.id for c in report.controllers] == ["035D", "32AB", "7777"]
    assert report.bus.idle_broadcasts == 1
    assert report.bus.framing_errors["checksum"] == 1  # vector 7, corrupt as published
    assert report.bus.tail_bytes == {"FF": 3, "FE": 2}
    found = codes(report)
    assert {"two_controllers", "never_answered", "too_many_units", "untimed"} <= set(found)


def test_json_output_is_one_document(healthy: Recording, tmp_path: Path) -> None:
    path = tmp_path / "bus.jsonl"
    path.write_text(healthy.log_text())
    out = io.StringIO()
    assert main([str(path), "--json"], out=out) == 0
    data = json.loads(out.getvalue())
    assert data["input"]["format"] == "JSON_LINES"  # enums by name, as in every JSON line
    assert [unit["id"] for unit in data["units"]] == IDS
    assert data["findings"][0]["code"] == "healthy"
    assert data["bus"]["framing_errors"] == {
        "checksum": 0,
        "escape": 0,
        "length": 0,
        "overrun": 0,
    }
    assert len(data["units"][0]["timeline"]) > 10


def test_text_report_names_units_and_findings(healthy: Recording, tmp_path: Path) -> None:
    path = tmp_path / "bus.txt"
    path.write_text(healthy.hex_dump())
    out = io.StringIO()
    assert main([str(path)], out=out) == 0
    text = out.getvalue()
    for unit in IDS:
        assert f"Unit {unit}: protocol 2, 32 A, firmware 4.5.3.2" in text
    assert "Controller F00D" in text
    assert "reply latency p50" in text
    assert "[info] no problems found" in text


# --- bad input ---------------------------------------------------------------------------------


def test_garbage_truncation_mixed_formats_and_unknown_fields_are_counted(
    healthy: Recording,
) -> None:
    log = healthy.log[:40]
    record_with_extra = json.loads(log[5])
    record_with_extra["colour"] = "blue"
    lines = [
        *log[:5],
        json.dumps(record_with_extra),
        "this is not a frame",
        '{"event": "FRAME", "hex": "zz"}',
        "[1, 2, 3]",
        '{"time":"2026-11-29T10:00:00+00:00","event":"TWC_STATUS","device":"1839","data":{}}',
        "C0 FB E0 F0 0D 18 39 00 00 00 00 00 00 00 00 00 30 C0",  # a hex line amid JSON
        *log[6:],
        log[-1][: len(log[-1]) // 2],  # cut off mid-record, no newline
    ]
    report = report_of("\n".join(lines))
    source = report.input
    assert source.garbage_lines == 2  # the text, and a JSON list (neither hex nor a record)
    assert source.bad_records == 2  # bad hex, the cut-off record
    assert source.truncated
    assert source.unknown_fields == {"colour": 1}
    assert source.event_records == {"TWC_STATUS": 1}
    assert source.hex_lines == 1
    assert source.untimed == 1  # the hex line carries no time in a timed log
    assert source.examples == [7, 8, 9, 46]
    assert report.bus.frames >= 30
    assert "unreadable_input" in codes(report)


def test_a_huge_line_is_skipped_in_bounded_memory_and_is_no_traffic(
    healthy: Recording, tmp_path: Path
) -> None:
    import tracemalloc

    huge = 8 * 1024 * 1024
    middle = len(healthy.log) // 2
    record_ = json.loads(healthy.log[middle])
    record_["hex"] = "c0" + "fb" * (huge // 2) + "c0"  # one "frame" of megabytes
    log = tmp_path / "bus.jsonl"
    log.write_text("\n".join([*healthy.log[:middle], json.dumps(record_), *healthy.log[middle:]]))
    plain = report_of(healthy.log_text())
    tracemalloc.start()
    try:
        with log.open("rb") as stream:
            report = analyze_capture(CaptureReader(stream), source=str(log))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < huge // 4, peak  # the line was never held whole
    assert report.input.long_lines == 1
    assert report.input.garbage_lines == 1
    assert report.input.examples == [middle + 1]
    assert report.bus.frames == plain.bus.frames
    assert report.bus.utilisation == pytest.approx(plain.bus.utilisation)
    assert "1 line(s) over 64 KiB skipped" in render_text(report)
    # A hex dump with a line of megabytes of "A": skipped, not read as 0xAA bytes.
    dump = healthy.hex_dump().splitlines()
    dump.insert(10, "A" * huge)
    report = report_of("\n".join(dump) + "\n")
    assert report.input.long_lines == 1
    assert report.bus.noise_bytes == 0
    assert report.bus.errors_total == 0
    assert report.bus.bytes < 2 * len(healthy.raw()) + huge  # counted as read, not as bus bytes


def test_utilisation_counts_frames_only_and_never_exceeds_100_percent() -> None:
    frame = "C0 FB E0 F0 0D 18 39 00 00 00 00 00 00 00 00 00 2E C0"
    noise = " ".join(["AA"] * 39)  # noise runs: not frames of legal length
    # 2000 frames stamped within 0.2 s: a clock that stamps bursts as they were read.
    lines = [f"{i / 10000:.6f} {frame}" for i in range(2000)]
    lines += [f"{0.2 + i / 10000:.6f} {noise}" for i in range(100)]
    report = report_of("\n".join(lines) + "\n")
    assert report.bus.frames == 2000
    assert report.bus.utilisation == 1.0
    # One frame a second over 99 s: 18 bytes of the 960 a second carries; noise not counted.
    lines = [f"{i:.6f} {frame}" for i in range(100)] + [f"{i + 0.5:.6f} {noise}" for i in range(99)]
    report = report_of("\n".join(lines) + "\n")
    assert report.bus.utilisation == pytest.approx(100 * 18 / 960 / 99)


def test_a_raw_capture_cut_mid_frame_reports_the_leftover(healthy: Recording) -> None:
    raw = healthy.raw()
    cut = raw[: raw.rfind(b"\xc0", 0, len(raw) - 40) + 8]
    report = report_of(b"\xe0\x01" + cut)  # also joined halfway into a frame
    assert report.bus.trailing_bytes == 7
    assert report.bus.leading_bytes == 2
    assert report.bus.errors_total == 0


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "no Gen 2 frame"),
        (b"# A README\n\nHello, this is text about chargers.\n", "no Gen 2 frame"),
        (b'{"time":"x","event":"TWC_STATUS","device":null,"data":{}}\n', "events only"),
    ],
)
def test_a_file_that_is_not_a_capture_is_one_line_and_exit_2(
    content: bytes, reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(NotACaptureError, match=reason):
        CaptureReader(io.BytesIO(content))
    path = tmp_path / "not-a-capture"
    path.write_bytes(content)
    assert reason in usage_error([str(path)], capsys)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["a", "--port", "b"],
        ["--replay", "x", "--json"],
        ["x", "--duration", "3"],
        ["/does/not/exist"],
        [str(DATA / "vectors_dump.txt"), "--plot", "/does/not/exist/bus.png"],
    ],
)
def test_command_line_mistakes_are_one_line_and_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    usage_error(argv, capsys)


# --- replay --------------------------------------------------------------------------------


def test_replay_prints_the_events_the_live_run_printed(tmp_path: Path) -> None:
    recording = record(
        100,
        scenario="5 plug 0; 20 corrupt 1 count=3; 30 silent 2 for=35; 60 unplug 0",
    )
    path = tmp_path / "bus.jsonl"
    path.write_text(recording.log_text())
    out = io.StringIO()
    assert main(["--replay", str(path)], out=out) == 0

    def sequence(text: str) -> list[tuple[Any, ...]]:
        records = [json.loads(line) for line in text.splitlines()]
        return [(r["event"], r["device"], r["data"]) for r in records]

    live, replayed = sequence(recording.events), sequence(out.getvalue())
    names = {name for name, _, _ in live}
    # The run saw discovery, cars, a lost and found unit and framing errors: all replayed.
    assert {
        "TWC_NEW_DEVICE",
        "TWC_CAR_CONNECTED",
        "TWC_DEVICE_LOST",
        "TWC_DEVICE_FOUND",
        "TWC_FRAMING_ERROR",
        "TWC_STATE_CHANGED",
    } <= names
    assert replayed == live
    # The lines carry the capture's wall time, in its order.
    first_frame = json.loads(recording.log[0])
    times = [json.loads(line)["time"] for line in out.getvalue().splitlines()]
    assert times[0] == first_frame["time"]
    assert times == sorted(times)


def test_a_raw_capture_cannot_be_replayed(
    healthy: Recording, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bus.bin"
    path.write_bytes(healthy.raw())
    assert "no timestamps to replay" in usage_error(["--replay", str(path)], capsys)


def test_replay_of_a_timestamped_hex_dump(healthy: Recording, tmp_path: Path) -> None:
    path = tmp_path / "bus.txt"
    path.write_text(healthy.hex_dump())
    out = io.StringIO()
    assert main(["--replay", str(path)], out=out) == 0
    events = [json.loads(line)["event"] for line in out.getvalue().splitlines()]
    assert events.count("TWC_NEW_DEVICE") == 3
    assert "TWC_CAR_CONNECTED" in events


def _time_of_day_dump(recording: Recording, start: float) -> str:
    first = recording.wire[0][0]
    lines = []
    for time, data in recording.wire:
        seconds = (start + time - first) % 86400
        stamp = f"{int(seconds // 3600):02d}:{int(seconds % 3600 // 60):02d}:{seconds % 60:06.3f}"
        lines.append(f"{stamp} Rx: {data.hex(' ').upper()}")
    return "\n".join(lines) + "\n"


def test_replay_of_a_time_of_day_dump_carries_the_capture_times(
    healthy: Recording, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bus.txt"
    path.write_text(_time_of_day_dump(healthy, 10 * 3600))
    out = io.StringIO()
    assert main(["--replay", str(path)], out=out) == 0
    assert "the date is unknown" in capsys.readouterr().err
    times = [json.loads(line)["time"] for line in out.getvalue().splitlines()]
    assert "TWC_CAR_CONNECTED" in out.getvalue()
    assert all(time.startswith("10:0") for time in times), times[:3]
    assert times == sorted(times)
    spread = datetime.datetime.strptime(times[-1], "%H:%M:%S.%f") - datetime.datetime.strptime(
        times[0], "%H:%M:%S.%f"
    )
    assert spread.total_seconds() > 60  # the capture's 90 s, not the few ms the replay took
    # On a day given: full wall times of that day.
    out = io.StringIO()
    assert main(["--replay", str(path), "--date", "2026-11-21"], out=out) == 0
    assert "unknown" not in capsys.readouterr().err
    dated = [json.loads(line)["time"] for line in out.getvalue().splitlines()]
    assert dated == [f"2026-11-21T{time}" for time in times]
    # Across midnight the day is counted on.
    path.write_text(_time_of_day_dump(healthy, 86400 - 30))
    out = io.StringIO()
    assert main(["--replay", str(path)], out=out) == 0
    times = [json.loads(line)["time"] for line in out.getvalue().splitlines()]
    assert times[0].startswith("23:59:")
    assert times[-1].startswith("day 2 00:0")


# --- plot --------------------------------------------------------------------------------------


def test_plot_writes_a_png(healthy: Recording, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    source = tmp_path / "bus.txt"
    source.write_text(healthy.hex_dump())
    image = tmp_path / "bus.png"
    assert main([str(source), "--plot", str(image)], out=io.StringIO()) == 0
    data = image.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 800
    assert height >= 3 * 200  # a panel per unit


@pytest.mark.parametrize(
    ("name", "reason"),
    [("x.txt", "give a .png"), ("x", "give a .png"), ("missing/x.png", "cannot write")],
)
def test_a_plot_path_that_cannot_work_is_refused_before_any_analysis(
    name: str, reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        main([str(DATA / "vectors_dump.txt"), "--plot", str(tmp_path / name)], out=out)
    assert exit_info.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert reason in line
    assert out.getvalue() == ""  # no report: refused before the capture was read
    assert list(tmp_path.iterdir()) == []  # and nothing written (not x.png for x)


def test_plot_without_matplotlib_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from twcdirector.analyze import plot

    absent: Callable[[], bool] = lambda: False  # noqa: E731
    monkeypatch.setattr(plot, "plot_available", absent)
    assert "matplotlib" in usage_error([str(DATA / "vectors_dump.txt"), "--plot", "x.png"], capsys)


def test_late_replies_are_what_the_latency_histogram_holds_above_160_ms() -> None:
    # One source: a report must never say "late 0" beside a p99 of 448 ms.
    request = "C0 FB E0 F0 0D 18 39 00 00 00 00 00 00 00 00 00 2E C0"
    reply = "C0 FD E0 18 39 F0 0D 00 00 00 00 00 00 00 00 00 2E C0"
    latencies = [0.040] * 90 + [0.1605, 0.161, 0.300] + [0.447, 0.448, 0.449] * 2 + [0.160]
    lines = []
    for n, latency in enumerate(latencies):
        lines += [f"{1.3 * n:.4f} {request}", f"{1.3 * n + latency:.4f} {reply}"]
    report = report_of("\n".join(lines) + "\n")
    [unit] = report.units
    late = sum(1 for latency in latencies if latency * 1000 > 160)
    assert late == 9
    assert unit.late_replies == late
    assert unit.reply_latency_ms.count == len(latencies)
    assert unit.reply_latency_ms.max == pytest.approx(449)
    assert f"late (>160 ms) {late}," in render_text(report)
    histogram = Histogram(1.0, 5000, limit=160.0)
    for value in (100.0, 160.0, 160.2, 448.0, 449.0):
        histogram.add(value)
    assert histogram.above == 3
