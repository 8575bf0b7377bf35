"""The utility's command keys, exactly the seed's table (pure data)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    """What a key asks of the selected peripheral."""

    OPEN_CONTACTORS = "open contactors"
    CLOSE_CONTACTORS = "close contactors"
    DEFAULT_CURRENT = "default current"
    SESSION_CURRENT = "session current"
    DECREASE_CURRENT = "decrease current"
    INCREASE_CURRENT = "increase current"


@dataclass(frozen=True, slots=True)
class KeyCommand:
    """One command key: the action and, for current settings, the amps."""

    key: str
    action: Action
    amps: float | None = None

    @property
    def label(self) -> str:
        """How the log names the command, e.g. ``session current 20 A``."""
        return self.action.value if self.amps is None else f"{self.action.value} {self.amps:g} A"


_DEFAULT_AMPS = {"1": 6.0, "2": 10.0, "3": 20.0, "4": 32.0, "5": 0.0}
_SESSION_AMPS = {"6": 6.0, "7": 10.0, "8": 20.0, "9": 32.0, "0": 0.0}

#: key -> command, as in the seed README: d/c contactors, 1-5 default, 6-0 session, -/+ adjust.
COMMAND_KEYS: dict[str, KeyCommand] = {
    "d": KeyCommand("d", Action.OPEN_CONTACTORS),
    "c": KeyCommand("c", Action.CLOSE_CONTACTORS),
    **{k: KeyCommand(k, Action.DEFAULT_CURRENT, a) for k, a in _DEFAULT_AMPS.items()},
    **{k: KeyCommand(k, Action.SESSION_CURRENT, a) for k, a in _SESSION_AMPS.items()},
    "-": KeyCommand("-", Action.DECREASE_CURRENT),
    "+": KeyCommand("+", Action.INCREASE_CURRENT),
}

#: The footer's key help.
KEY_HELP = (
    "↑/↓ select  d open  c close  1-5 default 6/10/20/32/0 A  "
    "6-0 session 6/10/20/32/0 A  +/- adjust  PgUp/PgDn log  q quit"
)
#: The same, shorter: the footer shows the longest that fits (80 columns: the last one), so
#: how to quit and the +/- keys are always on screen.
KEY_HELPS = (
    KEY_HELP,
    "↑/↓ select  d/c open/close  1-5 default  6-0 session  +/- adjust  PgUp/PgDn log  q quit",
    "↑↓ unit  d/c open/close  1-5 default  6-0 session  +/- amps  PgUp/Dn  q quit",
)
#: The key help without a Gen 2 bus ("Gen 3 only"): Gen 3 units are read-only, so only
#: selection, the log and quitting apply.
GEN3_ONLY_KEY_HELPS = (
    "↑/↓ select  PgUp/PgDn log  q quit",
    "↑↓ unit  PgUp/Dn  q quit",
)
