"""Simulated Gen 2 Wall Connectors in peripheral mode, on a real serial line or in memory.

Pure parts (no I/O, time is a parameter): :class:`SimulatedPeripheral` (one unit),
:class:`Car`, :class:`Faults`, :class:`Bus` (several units, half duplex),
:class:`Scenario` (timed actions) and :class:`VirtualLink` (a virtual-time controller end).
The asyncio adapter :class:`SimulatedBus` runs a bus on a new pseudo-terminal, a serial
device or pyserial URL, or in memory. ``python3 -m twcdirector.simulator`` is the CLI.
"""

from .bus import Bus, Chunk
from .car import DEFAULT_VIN, Car, make_vin, vin_check_digit
from .config import UnitConfig, default_id, default_units
from .faults import Faults, corrupt_frame
from .link import MemoryTransport
from .peripheral import Phase, SimulatedPeripheral, Transmission, UnitSnapshot
from .runner import SimulatedBus
from .scenario import Action, ActionKind, Scenario, demo_scenario
from .virtual import VirtualLink

__all__ = [
    "DEFAULT_VIN",
    "Action",
    "ActionKind",
    "Bus",
    "Car",
    "Chunk",
    "Faults",
    "MemoryTransport",
    "Phase",
    "Scenario",
    "SimulatedBus",
    "SimulatedPeripheral",
    "Transmission",
    "UnitConfig",
    "UnitSnapshot",
    "VirtualLink",
    "corrupt_frame",
    "default_id",
    "default_units",
    "demo_scenario",
    "make_vin",
    "vin_check_digit",
]
