"""``--plot FILE.png``: current and state per unit over time, framing errors marked.

Needs matplotlib (the ``plot`` extra: ``pip install 'twcdirector[plot]'``); it draws off
screen with the Agg backend, so no display is needed.
"""

from __future__ import annotations

import importlib.util
import itertools
import math

from ..protocol import state_name
from .report import Report

#: Seconds without a status report drawn as a gap in the lines.
_SILENCE = 5.0


def plot_available() -> bool:
    """matplotlib can be imported."""
    return importlib.util.find_spec("matplotlib") is not None


def plot_report(report: Report, path: str) -> None:
    """Draw one panel per unit (offered and actual current, state) and write a PNG."""
    import matplotlib  # noqa: PLC0415 (an optional extra)

    matplotlib.use("Agg")
    from matplotlib import pyplot  # noqa: PLC0415

    units = [unit for unit in report.units if unit.timeline]
    rows = max(1, len(units))
    figure, axes = pyplot.subplots(
        rows, 1, figsize=(11, 2.6 * rows + 0.8), sharex=True, squeeze=False
    )
    scale, label = _time_scale(report.bus.duration_s or 0.0)
    errors = [(time / scale, count) for time, count in report.bus.error_timeline if count]
    for row, unit in zip(axes[:, 0], units, strict=False):
        points = _with_breaks(unit.timeline)
        times = [point[0] / scale for point in points]
        row.step(times, [point[1] for point in points], where="post", label="offered (A)")
        row.step(times, [point[2] for point in points], where="post", label="actual (A)")
        top = max(unit.offered_amps_max or 0.0, unit.actual_amps_max or 0.0, 6.0)
        row.set_ylim(0, top * 1.15)
        row.set_ylabel(f"{unit.id}\namperes")
        row.grid(alpha=0.3)
        # States on their own axis, in the order of their codes, one step apart.
        seen = sorted({int(point[3]) for point in unit.timeline})
        rank = {code: index for index, code in enumerate(seen)}
        states = row.twinx()
        states.step(
            times,
            [math.nan if math.isnan(p[3]) else rank[int(p[3])] for p in points],
            where="post",
            color="grey",
            alpha=0.6,
            linewidth=1,
            linestyle="--",
        )
        states.set_yticks(range(len(seen)), [state_name(code) for code in seen], fontsize=7)
        states.set_ylim(-0.5, len(seen) - 0.5)
        for when, _count in errors:
            row.axvline(when, color="red", alpha=0.4, linewidth=0.8)
        handles, names = row.get_legend_handles_labels()
        if errors:
            handles.append(matplotlib.lines.Line2D([], [], color="red", alpha=0.4, linewidth=0.8))
            names.append("framing errors")
        row.legend(handles, names, loc="upper left", fontsize=7)
    if not units:
        axes[0, 0].text(0.5, 0.5, "no unit status reports with times", ha="center")
    axes[-1, 0].set_xlabel(f"time from the start of the capture ({label})")
    figure.suptitle(f"Bus doctor: {report.source or 'capture'}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def _with_breaks(
    timeline: tuple[tuple[float, float, float, float], ...],
) -> list[tuple[float, float, float, float]]:
    """The points with a gap (NaN) where the unit sent no status for a while: silences show."""
    points: list[tuple[float, float, float, float]] = []
    steps = [b[0] - a[0] for a, b in itertools.pairwise(timeline)]
    width = min(steps, default=1.0)
    for point in timeline:
        if points and point[0] - points[-1][0] > max(_SILENCE, 3 * width):
            points.append((points[-1][0] + width, math.nan, math.nan, math.nan))
        points.append(point)
    return points


def _time_scale(duration: float) -> tuple[float, str]:
    if duration >= 3 * 3600:
        return 3600.0, "h"
    if duration >= 3 * 60:
        return 60.0, "min"
    return 1.0, "s"
