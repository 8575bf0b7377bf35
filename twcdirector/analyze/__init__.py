"""The bus doctor: read a capture of a Gen 2 bus and say what is wrong with it.

Pure parts (no asyncio; the capture's own times): :mod:`.capture` (readers),
:mod:`.frames` (wire order), :mod:`.histogram`, :mod:`.stats`, :mod:`.findings` and
:mod:`.report`. The asyncio parts load on use: :mod:`.live` (``--port``) and
:mod:`.replay`; :mod:`.plot` needs matplotlib (the ``plot`` extra).
"""

from .capture import CaptureFormat, CaptureReader, Chunk, InputSummary, NotACaptureError
from .findings import Finding, Severity, diagnose
from .report import Report, analyze_capture, analyze_chunks, build_report, render_text
from .stats import BusStatistics, BusSummary, ControllerSummary, UnitSummary

__all__ = [
    "BusStatistics",
    "BusSummary",
    "CaptureFormat",
    "CaptureReader",
    "Chunk",
    "ControllerSummary",
    "Finding",
    "InputSummary",
    "NotACaptureError",
    "Report",
    "Severity",
    "UnitSummary",
    "analyze_capture",
    "analyze_chunks",
    "build_report",
    "diagnose",
    "render_text",
]
