"""Gen 3 Wall Connectors: read-only monitoring over their local HTTP API.

Pure parts (``model``, ``body``, ``config``, ``schedule``, ``tracker``, ``events``,
``overview``) turn bodies into frozen readings and events as functions of ``now``;
``monitor`` is the asyncio adapter on tesla-wall-connector. Only ``/api/1/vitals``,
``/lifetime``, ``/version`` and ``/wifi_status`` are ever requested.
"""

import importlib
from typing import TYPE_CHECKING, Any

from .body import decode_body
from .config import Gen3Config, normalize_host
from .events import (
    GEN3_ERROR,
    GEN3_FIRMWARE_CHANGED,
    GEN3_LIFETIME,
    GEN3_VERSION,
    GEN3_VITALS,
    GEN3_WIFI_STATUS,
    UNIT_EVENTS,
    AlertEvent,
    FirmwareChanged,
    Gen3ErrorEvent,
    Gen3ErrorKind,
    RebootDetected,
)
from .model import (
    ALLOWED_PATHS,
    EVSE_STATE_LABELS,
    Endpoint,
    Gen3Lifetime,
    Gen3Reading,
    Gen3Version,
    Gen3Vitals,
    Gen3WifiStatus,
    Phases,
    always_sent,
    decode_ssid,
    detect_split_phase,
    evse_state_label,
    parse_lifetime,
    parse_reading,
    parse_version,
    parse_vitals,
    parse_wifi_status,
)
from .overview import Overview, UnitOverview
from .schedule import POLL_ORDER, Gen3Schedule, choose_next
from .tracker import Gen3Snapshot, Gen3Tracker, Outcome

__all__ = [
    "ALLOWED_PATHS",
    "EVSE_STATE_LABELS",
    "GEN3_ERROR",
    "GEN3_FIRMWARE_CHANGED",
    "GEN3_LIFETIME",
    "GEN3_VERSION",
    "GEN3_VITALS",
    "GEN3_WIFI_STATUS",
    "POLL_ORDER",
    "UNIT_EVENTS",
    "AlertEvent",
    "Endpoint",
    "FirmwareChanged",
    "Gen3Config",
    "Gen3ErrorEvent",
    "Gen3ErrorKind",
    "Gen3Lifetime",
    "Gen3Monitor",
    "Gen3Reading",
    "Gen3Schedule",
    "Gen3Snapshot",
    "Gen3Tracker",
    "Gen3Unit",
    "Gen3Version",
    "Gen3Vitals",
    "Gen3WifiStatus",
    "Outcome",
    "Overview",
    "Phases",
    "RebootDetected",
    "UnitOverview",
    "always_sent",
    "choose_next",
    "create_session",
    "decode_body",
    "decode_ssid",
    "detect_split_phase",
    "evse_state_label",
    "normalize_host",
    "parse_lifetime",
    "parse_reading",
    "parse_version",
    "parse_vitals",
    "parse_wifi_status",
]

if TYPE_CHECKING:
    from .monitor import Gen3Monitor, Gen3Unit, create_session

#: Names served by the asyncio adapter, imported on first use: it pulls in aiohttp (about
#: 12 MiB), which a program that only reads Gen 3 bodies, or only drives Gen 2, never needs.
_ADAPTER = frozenset({"Gen3Monitor", "Gen3Unit", "create_session"})


def __getattr__(name: str) -> Any:
    if name in _ADAPTER:
        return getattr(importlib.import_module(".monitor", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
