"""The report: statistics and findings together, as text for people or JSON for machines (pure)."""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..jsonlog import jsonable
from .capture import CaptureFormat, CaptureReader, Chunk, InputSummary
from .findings import Finding, diagnose, offset_text
from .histogram import Distribution
from .stats import (
    LOST_AFTER,
    REPLY_WINDOW,
    BusStatistics,
    BusSummary,
    ControllerSummary,
    UnitSummary,
)

#: Changes listed per unit in the text report (the JSON has up to 200).
CHANGES_SHOWN = 8


@dataclass(frozen=True, slots=True)
class Report:
    """Everything the bus doctor says about one capture."""

    source: str
    input: InputSummary
    bus: BusSummary
    controllers: tuple[ControllerSummary, ...]
    units: tuple[UnitSummary, ...]
    findings: tuple[Finding, ...]

    def to_json(self, *, timelines: bool = True) -> str:
        """The report as one JSON document (``timelines=False`` drops the plot series)."""
        data = jsonable(self)
        if not timelines:
            data["bus"].pop("error_timeline", None)
            for unit in data["units"]:
                unit.pop("timeline", None)
        return json.dumps(data, indent=2)


def analyze_chunks(
    chunks: Iterable[Chunk],
    summary: InputSummary,
    *,
    source: str = "",
    wall: Callable[[float], datetime.datetime | None] | None = None,
) -> Report:
    """Read every chunk and build the report. ``wall`` maps capture times to wall times."""
    stats = BusStatistics().add_all(chunks)
    return build_report(stats, summary, source=source, wall=wall)


def analyze_capture(reader: CaptureReader, *, source: str = "") -> Report:
    """The report of a capture file."""
    return analyze_chunks(reader.chunks(), reader.summary, source=source, wall=reader.wall)


def build_report(
    stats: BusStatistics,
    summary: InputSummary,
    *,
    source: str = "",
    wall: Callable[[float], datetime.datetime | None] | None = None,
) -> Report:
    """The report of statistics gathered so far."""
    start = end = None
    if wall is not None and stats.first_time is not None and stats.last_time is not None:
        first, last = wall(stats.first_time), wall(stats.last_time)
        start = None if first is None else first.isoformat(timespec="milliseconds")
        end = None if last is None else last.isoformat(timespec="milliseconds")
    bus = stats.bus(start, end)
    controllers = stats.controllers()
    units = stats.units()
    findings = diagnose(summary, bus, controllers, units)
    return Report(source, summary, bus, tuple(controllers), tuple(units), tuple(findings))


# --- text ------------------------------------------------------------------------------------

_FORMAT_NAMES = {
    CaptureFormat.JSON_LINES: "JSON-lines log (--log)",
    CaptureFormat.HEX_DUMP: "hex dump",
    CaptureFormat.RAW: "raw byte capture",
    CaptureFormat.LIVE: "live port",
}
_MARKS = {"problem": "PROBLEM", "warning": "WARNING", "info": "info"}


def render_text(report: Report) -> str:
    """The report for people, findings last (what to read first when scrolling back)."""
    lines = [f"Bus doctor: {report.source or 'capture'} ({_FORMAT_NAMES[report.input.format]})"]
    lines += _capture_lines(report)
    lines += _bus_lines(report.bus, report.input.format)
    for controller in report.controllers:
        lines += _controller_lines(controller)
    if not report.controllers:
        lines.append("Controller: none heard")
    for unit in report.units:
        lines.append("")
        lines += _unit_lines(unit, report.bus.timed)
    lines += ["", "Findings:"]
    for finding in report.findings:
        lines.append(f"  [{_MARKS[finding.severity.value]}] {finding.text}")
        if finding.check != "nothing to check":
            lines.append(f"      check: {finding.check}")
    return "\n".join(lines) + "\n"


def _capture_lines(report: Report) -> list[str]:
    source, bus = report.input, report.bus
    read = f"{source.lines:,} lines" if source.lines else f"{source.bytes_read:,} bytes"
    problems = []
    if source.skipped:
        problems.append(
            f"{source.garbage_lines} garbage line(s), {source.bad_records} bad record(s)"
        )
    if source.long_lines:
        problems.append(f"{source.long_lines} line(s) over 64 KiB skipped")
    if source.truncated:
        problems.append("last line cut off")
    if source.bare_bodies:
        problems.append(f"{source.bare_bodies} bare bodies (no C0)")
    if source.untimed:
        problems.append(f"{source.untimed} untimed")
    if source.unknown_fields:
        names = ", ".join(sorted(source.unknown_fields))
        problems.append(f"unknown fields: {names}")
    if source.event_records:
        problems.append(f"{sum(source.event_records.values()):,} event records (not needed)")
    line = f"Input: {read}" + (f"; {'; '.join(problems)}" if problems else "")
    if bus.duration_s is None:
        return [line, "Time: none in this capture (only counts below)"]
    span = _duration(bus.duration_s)
    when = f"{bus.start} to {bus.end}, " if bus.start else ""
    clock = source.clock.value.replace("_", " ") if source.clock else "?"
    return [line, f"Time: {when}{span} ({clock} clock)"]


def _bus_lines(bus: BusSummary, fmt: CaptureFormat) -> list[str]:
    rate = f" ({bus.frames_per_second:.2f}/s)" if bus.frames_per_second is not None else ""
    use = f", utilisation {bus.utilisation:.1%} of 9600 baud" if bus.utilisation is not None else ""
    kinds = ", ".join(f"{kind} {count}" for kind, count in bus.framing_errors.items())
    tails = ", ".join(f"{value} x{count}" for value, count in bus.tail_bytes.items()) or "none"
    if fmt is CaptureFormat.JSON_LINES:
        tails = "not recorded by --log"
    lines = [
        f"Bus: {bus.frames:,} frames{rate} ({bus.controller_frames:,} from controllers, "
        f"{bus.unit_frames:,} from units), {bus.bytes:,} bytes{use}",
        f"Framing errors: {bus.errors_total} ({kinds}); {bus.errors_per_million_bytes:.1f} "
        f"per million bytes, {bus.errors_per_1000_frames:.2f} per 1000 frames",
        f"Between frames: tail bytes {tails}; {bus.noise_bytes} noise bytes",
    ]
    extra = []
    if bus.leading_bytes:
        extra.append(f"{bus.leading_bytes} bytes before the first C0")
    if bus.trailing_bytes:
        extra.append(f"{bus.trailing_bytes} bytes of a frame cut off at the end")
    if bus.unknown_commands:
        extra.append(
            "unknown commands "
            + ", ".join(f"{name} x{count}" for name, count in bus.unknown_commands.items())
        )
    if bus.idle_broadcasts:
        extra.append(f"{bus.idle_broadcasts} idle broadcasts (FC 1D)")
    if extra:
        lines.append("Also: " + "; ".join(extra))
    return lines


def _controller_lines(controller: ControllerSummary) -> list[str]:
    seen = ""
    if controller.first_seen is not None and controller.last_seen is not None:
        seen = f", +{offset_text(controller.first_seen)} to +{offset_text(controller.last_seen)}"
    commands = ", ".join(f"{name} {n}" for name, n in controller.heartbeat_commands.items())
    units = " ".join(controller.units_addressed) or "none"
    identity = ""
    if controller.firmware or controller.serial:
        identity = f", firmware {controller.firmware or '?'}, serial {controller.serial or '?'}"
    return [
        f"Controller {controller.id}: {controller.frames:,} frames{seen}{identity}; "
        f"{controller.link_ready} link-ready, heartbeats to {units}"
        + (f" ({commands})" if commands else "")
    ]


def _unit_lines(unit: UnitSummary, timed: bool) -> list[str]:
    rating = f"{unit.rating_amps:g} A" if unit.rating_amps is not None else "rating ?"
    protocol = f"protocol {unit.protocol}" if unit.protocol else "protocol ?"
    head = (
        f"Unit {unit.id}: {protocol}, {rating}, firmware {unit.firmware or '?'}, "
        f"serial {unit.serial or '?'}" + (f", car {unit.vin}" if unit.vin else "")
    )
    tails = ", ".join(f"{value} x{count}" for value, count in unit.tail_bytes.items())
    late = f", late (>{REPLY_WINDOW * 1000:.0f} ms) {unit.late_replies}" if timed else ""
    lines = [
        head,
        f"  frames {unit.frames:,}, announcements {unit.announcements}, restarts "
        f"{unit.restarts}, tail bytes {tails or 'none'}, checksum errors {unit.checksum_errors}",
        f"  requests {unit.requests:,}: timeouts {unit.timeouts}{late}, unsolicited replies "
        f"{unit.unsolicited}",
    ]
    if timed:
        silence = unit.longest_silence_s
        at = f" at +{offset_text(unit.longest_silence_at)}" if unit.longest_silence_at else ""
        lines += [
            f"  heartbeat period {_dist(unit.heartbeat_period_ms)}",
            f"  reply latency {_dist(unit.reply_latency_ms, with_max=True)} "
            f"(window {REPLY_WINDOW * 1000:.0f} ms)",
            f"  longest silence {_seconds(silence)}{at} (cut-off {LOST_AFTER:.0f} s), "
            f"silent at the end {_seconds(unit.silent_at_end_s)}",
        ]
        total = sum(unit.state_seconds.values())
        if total > 0:
            shares = ", ".join(
                f"{name} {seconds / total:.0%}"
                for name, seconds in sorted(unit.state_seconds.items(), key=lambda kv: -kv[1])
            )
            lines.append(f"  time in states: {shares}")
    current = "  current: "
    if unit.offered_amps_max is not None and unit.actual_amps_max is not None:
        current += (
            f"offered max {unit.offered_amps_max:.2f} A, actual max "
            f"{unit.actual_amps_max:.2f} A, mean {unit.actual_amps_mean or 0:.2f} A"
        )
    else:
        current += "no status report"
    lines.append(current + f"; state {unit.state or '?'} ({unit.state_changes} changes)")
    for change in unit.changes[:CHANGES_SHOWN]:
        when = f"+{offset_text(change.time)} " if change.time is not None else ""
        lines.append(f"    {when}{change.what} {change.old} -> {change.new}")
    hidden = unit.changes_total - min(CHANGES_SHOWN, len(unit.changes))
    if hidden > 0:
        lines.append(f"    ... {hidden} more change(s) (see --json or --plot)")
    return lines


def _dist(dist: Distribution, *, with_max: bool = False) -> str:
    if not dist.count:
        return "n/a"
    text = f"p50 {dist.p50:.0f} ms, p99 {dist.p99:.0f} ms"
    if with_max:
        text += f", max {dist.max:.0f} ms"
    return text + f" ({dist.count:,})"


def _seconds(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.1f} s"


def _duration(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min {secs:02d} s"
    return f"{minutes} min {secs:02d} s" if minutes else f"{seconds:.1f} s"
