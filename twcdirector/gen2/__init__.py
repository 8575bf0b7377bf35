"""The Gen 2 bus: this computer as the controller of Wall Connectors on RS-485.

Pure parts (``config``, ``snapshot``, ``device``, ``schedule``, ``limits``, ``commands``,
``tickets``, ``bridge``, ``controller``) decide what goes on the wire as functions of ``now``;
they use the codec (:mod:`twcdirector.protocol`) and capacity sharing
(:mod:`twcdirector.sharing`). ``transport`` (pyserial-asyncio) and ``director`` (asyncio, pyee)
are the thin adapters, loaded on first use so importing the pure parts costs no asyncio.
"""

import importlib
from typing import TYPE_CHECKING, Any

from .commands import CommandKind
from .config import DirectorConfig
from .limits import CurrentLimits
from .snapshot import DirectorSnapshot, PeripheralSnapshot

if TYPE_CHECKING:
    from .director import Director, Lifecycle, Peripheral
    from .transport import TRACE, open_serial_link

#: Names whose modules load on first use: name -> module.
_LAZY = {
    "Director": ".director",
    "Lifecycle": ".director",
    "Peripheral": ".director",
    "TRACE": ".transport",
    "open_serial_link": ".transport",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "TRACE",
    "CommandKind",
    "CurrentLimits",
    "Director",
    "DirectorConfig",
    "DirectorSnapshot",
    "Lifecycle",
    "Peripheral",
    "PeripheralSnapshot",
    "open_serial_link",
]
