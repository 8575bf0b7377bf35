"""Findings in plain words, with what to check, from the statistics (pure).

Each rule looks at the summaries and says what it sees and what usually causes it; the
thresholds are module constants. The causes come from SPEC §1 (termination, bias, baud
rate), §3.12 (IDs), §4 (the 160 ms reply window, the 26 s cut-off) and §5 (three units).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from enum import StrEnum

from .capture import InputSummary
from .stats import LOST_AFTER, REPLY_WINDOW, BusSummary, ControllerSummary, UnitSummary

#: Framing errors per 1000 frames from which the line is called noisy.
ERRORS_PER_1000 = 1.0
#: Noise bytes between frames per million bytes from which the line is called noisy.
NOISE_PER_MILLION = 1000.0
#: Share of requests unanswered from which a unit is called unreliable.
TIMEOUT_SHARE = 0.01
#: A silence this long (s) is worth a word even below the cut-off.
SILENCE_WARNING = 10.0
#: The controller's heartbeat to a unit (p99, ms) beyond which it is irregular (SPEC §8.3).
PERIOD_P99 = 2000.0
#: Units a bus may hold (SPEC §5).
MAX_UNITS = 3


class Severity(StrEnum):
    """How much a finding matters."""

    PROBLEM = "problem"  #: something is wrong and will cost charging
    WARNING = "warning"  #: degraded; worth fixing before it gets worse
    INFO = "info"  #: context for reading the report


@dataclass(frozen=True, slots=True)
class Finding:
    """What was seen (``text``) and what to check (``check``); ``unit`` if it is about one."""

    severity: Severity
    code: str
    text: str
    check: str
    unit: str | None = None


_TERMINATION = (
    "a 120 ohm terminator across D+/D- at each end of the bus and bias resistors "
    "(680 ohm D+ to +5 V, D- to GND); twisted pair, kept away from mains cables"
)


def diagnose(
    source: InputSummary,
    bus: BusSummary,
    controllers: list[ControllerSummary],
    units: list[UnitSummary],
) -> list[Finding]:
    """Every finding, problems first."""
    found: list[Finding] = []
    found += _input_findings(source, bus)
    found += _controller_findings(bus, controllers, units)
    found += _line_findings(bus)
    for unit in units:
        found += _unit_findings(bus, unit)
    if len(units) > MAX_UNITS:
        found.append(
            Finding(
                Severity.WARNING,
                "too_many_units",
                f"{len(units)} units on the bus; a Tesla controller handles at most "
                f"{MAX_UNITS} peripherals",
                "whether every unit belongs on this bus; a real controller flashes an error",
            )
        )
    ratings = {unit.rating_amps for unit in units if unit.rating_amps is not None}
    if len(ratings) > 1:
        listed = ", ".join(f"{rating:g} A" for rating in sorted(ratings))
        found.append(
            Finding(
                Severity.WARNING,
                "mixed_ratings",
                f"units advertise different ratings ({listed})",
                "a real controller flashes red 6 times for mixed ratings (SPEC §3.3); "
                "keep each unit's wiring limit in mind",
            )
        )
    if not any(f.severity is not Severity.INFO for f in found):
        found.append(Finding(Severity.INFO, "healthy", "no problems found", "nothing to check"))
    order = {Severity.PROBLEM: 0, Severity.WARNING: 1, Severity.INFO: 2}
    found.sort(key=lambda finding: order[finding.severity])
    return found


def _input_findings(source: InputSummary, bus: BusSummary) -> list[Finding]:
    found = []
    if not bus.bytes:
        return [
            Finding(
                Severity.PROBLEM,
                "nothing_heard",
                "nothing was heard on the bus",
                "the adapter's wiring (D+ to D+, D- to D-), that it is 9600 baud, and that "
                "the units are powered",
            )
        ]
    if not bus.timed:
        found.append(
            Finding(
                Severity.INFO,
                "untimed",
                "this capture has no timestamps: latency, heartbeat periods, silences and "
                "rates cannot be computed (errors, units and tail bytes can)",
                "record with --log, or a hex dump with a timestamp on each line",
            )
        )
    if source.skipped or source.truncated:
        lines = ", ".join(str(number) for number in source.examples)
        cut = " and the last line is cut off" if source.truncated else ""
        found.append(
            Finding(
                Severity.INFO,
                "unreadable_input",
                f"{source.skipped} line(s) of the capture could not be read{cut}"
                + (f" (e.g. line {lines})" if lines else ""),
                "that the file was copied whole; pasted logs often carry other text",
            )
        )
    if source.mixed_clocks:
        found.append(
            Finding(
                Severity.INFO,
                "mixed_timestamps",
                f"{source.mixed_clocks} line(s) carry a timestamp of another shape than the "
                "first; they were read without one",
                "that the capture comes from one program",
            )
        )
    return found


def _controller_findings(
    bus: BusSummary, controllers: list[ControllerSummary], units: list[UnitSummary]
) -> list[Finding]:
    found = []
    if len(controllers) > 1:
        ids = ", ".join(c.id for c in controllers)
        overlap = _overlap(controllers)
        if overlap or not bus.timed:
            found.append(
                Finding(
                    Severity.PROBLEM,
                    "two_controllers",
                    f"{len(controllers)} controllers on the bus ({ids})",
                    "only one controller may run a bus: every Wall Connector's rotary switch "
                    "at F, and no second program (TWCManager, an ESPHome controller) on it",
                )
            )
        else:
            found.append(
                Finding(
                    Severity.INFO,
                    "controller_changed",
                    f"the controller changed during the capture ({ids}), never both at once",
                    "nothing, if a controller was restarted or replaced on purpose",
                )
            )
    elif not controllers and units:
        found.append(
            Finding(
                Severity.PROBLEM,
                "no_controller",
                "units are heard but no controller: nobody heartbeats them",
                "that the controller runs and transmits (wiring D+/D- not swapped on its "
                "side); a unit at F waits for a controller",
            )
        )
    for controller in controllers:
        errors = controller.heartbeat_commands.get("ERROR", 0)
        if errors:
            found.append(
                Finding(
                    Severity.PROBLEM,
                    "error_heartbeat",
                    f"controller {controller.id} sent {errors} error heartbeat(s) (command 02)",
                    "the controller's configuration: a unit is then told it is "
                    "misconfigured and stops talking (SPEC §3.4)",
                )
            )
    unit_ids = {unit.id for unit in units}
    clash = [c.id for c in controllers if c.id in unit_ids]
    for device_id in clash:
        found.append(
            Finding(
                Severity.PROBLEM,
                "id_collision",
                f"ID {device_id} is used by a controller and a unit",
                "a unit should pick a new ID; restart the controller's announcements",
            )
        )
    return found


def _line_findings(bus: BusSummary) -> list[Finding]:
    found = []
    errors = bus.framing_errors
    checksum = errors.get("checksum", 0) + errors.get("escape", 0)
    frames = bus.frames + bus.errors_total
    rate = checksum * 1000 / frames if frames else 0.0
    if checksum and rate >= ERRORS_PER_1000:
        found.append(
            Finding(
                Severity.PROBLEM if rate >= 10 * ERRORS_PER_1000 else Severity.WARNING,
                "checksum_errors",
                f"checksum errors {rate:.1f} per 1000 frames ({checksum} of {frames})",
                _TERMINATION,
            )
        )
    elif checksum:
        found.append(
            Finding(
                Severity.INFO,
                "few_checksum_errors",
                f"{checksum} checksum error(s) in {frames} frames",
                "nothing unless they become frequent",
            )
        )
    shape = errors.get("length", 0) + errors.get("overrun", 0)
    if shape and shape * 1000 / max(frames, 1) >= ERRORS_PER_1000:
        found.append(
            Finding(
                Severity.WARNING,
                "broken_frames",
                f"{shape} frame(s) of impossible length or never closed "
                f"({errors.get('length', 0)} length, {errors.get('overrun', 0)} overrun)",
                "the line speed (9600 baud 8N1 everywhere), bytes lost by a USB or network "
                "adapter, and " + _TERMINATION,
            )
        )
    noise_rate = bus.noise_bytes * 1e6 / bus.bytes if bus.bytes else 0.0
    if bus.noise_bytes and noise_rate >= NOISE_PER_MILLION:
        found.append(
            Finding(
                Severity.WARNING,
                "line_noise",
                f"{bus.noise_bytes} stray bytes between frames "
                f"({noise_rate:.0f} per million bytes)",
                "bias resistors hold an idle line quiet: " + _TERMINATION,
            )
        )
    if bus.utilisation is not None and bus.utilisation > 0.5:
        found.append(
            Finding(
                Severity.WARNING,
                "busy_bus",
                f"the bus is {bus.utilisation:.0%} busy",
                "whether a controller polls far faster than the 1.3 s heartbeat",
            )
        )
    return found


def _unit_findings(bus: BusSummary, unit: UnitSummary) -> list[Finding]:
    found = []
    uid = unit.id
    if not unit.frames:
        found.append(
            Finding(
                Severity.PROBLEM,
                "never_answered",
                f"unit {uid} is addressed by the controller but never answered",
                "power and wiring to that unit, and its rotary switch at F",
                uid,
            )
        )
        return found
    latency = unit.reply_latency_ms
    if latency.count and not math.isnan(latency.p99) and latency.p99 > REPLY_WINDOW * 1000:
        found.append(
            Finding(
                Severity.PROBLEM if latency.p50 > REPLY_WINDOW * 1000 else Severity.WARNING,
                "slow_replies",
                f"unit {uid}: reply latency p99 {latency.p99:.0f} ms "
                f"(p50 {latency.p50:.0f} ms, max {latency.max:.0f} ms) against the "
                f"{REPLY_WINDOW * 1000:.0f} ms window",
                "a network RS-485 bridge (Wi-Fi, Ethernet) adds latency and buffering: use a "
                "local USB adapter, or a longer reply timeout",
                uid,
            )
        )
    elif unit.late_replies:
        found.append(
            Finding(
                Severity.INFO,
                "late_replies",
                f"unit {uid}: {unit.late_replies} repl(ies) later than "
                f"{REPLY_WINDOW * 1000:.0f} ms (max {latency.max:.0f} ms)",
                "nothing unless it grows; a network bridge is the usual cause",
                uid,
            )
        )
    if unit.requests and unit.timeouts / unit.requests >= TIMEOUT_SHARE:
        found.append(
            Finding(
                Severity.PROBLEM if unit.timeouts / unit.requests >= 0.1 else Severity.WARNING,
                "timeouts",
                f"unit {uid}: {unit.timeouts} of {unit.requests} requests unanswered "
                f"({unit.timeouts / unit.requests:.0%})",
                "that unit's wiring and power; corrupt replies and a unit restarting look the same",
                uid,
            )
        )
    silence = unit.longest_silence_s
    at = offset_text(unit.longest_silence_at)
    if silence is not None and silence >= LOST_AFTER:
        found.append(
            Finding(
                Severity.PROBLEM,
                "unit_lost",
                f"unit {uid} went silent for {silence:.0f} s at +{at}"
                f" (a controller drops a unit after {LOST_AFTER:.0f} s)",
                "power to that unit (breaker, RCD), its bus wiring, and whether it restarted",
                uid,
            )
        )
    elif silence is not None and silence >= SILENCE_WARNING:
        found.append(
            Finding(
                Severity.WARNING,
                "unit_silence",
                f"unit {uid} was silent for {silence:.0f} s at +{at} (cut-off {LOST_AFTER:.0f} s)",
                "its bus wiring and connectors",
                uid,
            )
        )
    quiet = unit.silent_at_end_s
    if quiet is not None and quiet >= LOST_AFTER:
        found.append(
            Finding(
                Severity.PROBLEM,
                "unit_gone",
                f"unit {uid} fell silent {quiet:.0f} s before the end of the capture",
                "power to that unit and its bus wiring",
                uid,
            )
        )
    if unit.restarts:
        found.append(
            Finding(
                Severity.WARNING,
                "unit_restarted",
                f"unit {uid} restarted {unit.restarts} time(s) (a new sign byte)",
                "its supply: a unit that reboots is losing power or crashing",
                uid,
            )
        )
    if unit.error_states:
        found.append(
            Finding(
                Severity.PROBLEM,
                "error_state",
                f"unit {uid} reported its error state (02) {unit.error_states} time(s)",
                "heartbeats reaching it (a unit errs after the controller goes quiet) and the "
                "controller's commands",
                uid,
            )
        )
    if unit.over_rating:
        found.append(
            Finding(
                Severity.PROBLEM,
                "over_rating",
                f"unit {uid} was offered more than its {unit.rating_amps:g} A rating "
                f"{unit.over_rating} time(s)",
                "the controller's limits: units accept any current they are sent",
                uid,
            )
        )
    period = unit.heartbeat_period_ms
    if period.count >= 10 and period.p99 > PERIOD_P99:
        found.append(
            Finding(
                Severity.WARNING,
                "irregular_heartbeat",
                f"unit {uid}: the controller's heartbeat period p99 {period.p99:.0f} ms "
                f"(p50 {period.p50:.0f} ms)",
                "a busy controller host or a bridge that buffers; units give up on a "
                "controller that goes quiet",
                uid,
            )
        )
    if unit.checksum_errors and unit.frames and unit.checksum_errors * 100 >= unit.frames:
        found.append(
            Finding(
                Severity.WARNING,
                "unit_corrupt",
                f"unit {uid}: {unit.checksum_errors} of its frames failed their checksum",
                "the wiring to that unit (its terminals, the cable run beside mains)",
                uid,
            )
        )
    return found


def _overlap(controllers: list[ControllerSummary]) -> bool:
    spans = sorted(
        (c.first_seen, c.last_seen)
        for c in controllers
        if c.first_seen is not None and c.last_seen is not None
    )
    return any(
        later_start <= earlier_end + LOST_AFTER
        for (_, earlier_end), (later_start, _) in itertools.pairwise(spans)
    )


def offset_text(seconds: float | None) -> str:
    """``h:mm:ss`` from the start of the capture; ``?`` if unknown."""
    if seconds is None:
        return "?"
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"
