"""Capacity sharing: several Wall Connectors on one supply, never more than it allows together.

Pure (no I/O, no clock of its own): :class:`InstallationLimits` says what the installation
allows, :func:`allocate` shares the total among the units with a car, and
:class:`ShareSequencer` puts the shares on the wire in a safe order, as a function of ``now``.
"""

from .allocate import Demand, UnitDemand, allocate, allocation_key, unit_cap
from .limits import PROTOCOL_MINIMUM, InstallationLimits, LimitController, whole_amps
from .sequencer import (
    Observation,
    Reason,
    ShareSequencer,
    SharingSnapshot,
    UnitShare,
    WireChange,
    suggest_command,
)

__all__ = [
    "PROTOCOL_MINIMUM",
    "Demand",
    "InstallationLimits",
    "LimitController",
    "Observation",
    "Reason",
    "ShareSequencer",
    "SharingSnapshot",
    "UnitDemand",
    "UnitShare",
    "WireChange",
    "allocate",
    "allocation_key",
    "suggest_command",
    "unit_cap",
    "whole_amps",
]
