"""The director's options: every SPEC §8 default, each one a field (pure data)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..exceptions import ConfigurationError
from ..sharing.limits import InstallationLimits, whole_amps

#: IDs a controller must never use (SPEC §3.12): a unit once answered 0000; FFFF is a broadcast.
RESERVED_IDS = frozenset({0x0000, 0xFFFF})


@dataclass(frozen=True, slots=True)
class DirectorConfig:
    """How the director behaves on the bus. Times are seconds, currents amperes."""

    #: Our ID on the bus (SPEC §8.2); never 0000 or FFFF.
    controller_id: int = 0xF00D
    #: Sign byte of our link-ready frames; ``None`` picks a random 1-254 at every start.
    sign: int | None = None
    #: Decode and report everything, never transmit a byte.
    listen_only: bool = False
    #: The installation's per-unit maximum. ``None``: only 0 A may ever be sent.
    max_current: float | None = None
    #: Capacity sharing: the supply every unit shares (the breaker), whole amps. ``None``: off,
    #: every unit may be given ``max_current``. Needs ``max_current``.
    shared_max: float | None = None
    #: Capacity sharing given as the installation's limits: ``total_max`` becomes
    #: ``shared_max``, ``unit_max`` becomes ``max_current`` (either may be left out or must
    #: agree), and the minimums per protocol (``min_v1``, ``min_v2``) are the sharing's.
    installation: InstallationLimits | None = None
    #: Capacity sharing changes a unit's current at most this often (SPEC §5: ~5 s).
    sharing_min_interval: float = 5.0
    #: Peripherals claimed at most; more announcing units are reported and left alone.
    max_peripherals: int = 3
    startup_e1_count: int = 4
    startup_e1_interval: float = 1.3
    startup_e2_count: int = 3
    startup_e2_interval: float = 0.3
    heartbeat_interval: float = 1.3
    data_request_interval: float = 11.8
    #: How long the bus stays reserved for an answer after a request.
    reply_timeout: float = 0.25
    #: Silence kept after the last byte heard or sent before we transmit.
    inter_frame_gap: float = 0.010
    lost_after: float = 26.0
    #: How long a unit told to decrease (07) may take to raise its limit back by 2 A by
    #: itself (SPEC §3.4: "after ~10 s"); until then that 2 A counts against the ceiling.
    raise_back_window: float = 30.0
    #: Re-sends of an unconfirmed command after the first attempt.
    command_retries: int = 3
    #: After a command's last attempt, how many heartbeat intervals to wait for a report that
    #: shows it before it is declared failed (a lagging unit or a slow bridge); a relative
    #: command (06/07), sent once, gets ``command_retries + 1`` intervals plus this grace.
    confirm_grace: int = 2
    #: SPEC §8.6: on close, send every online peripheral a session current of 0 A first.
    fail_safe: bool = False
    reconnect_backoff_initial: float = 0.5
    reconnect_backoff_max: float = 10.0
    baudrate: int = 9600

    def __post_init__(self) -> None:
        if self.installation is not None:
            self._take_installation(self.installation)
        if not 0 <= self.controller_id <= 0xFFFF or self.controller_id in RESERVED_IDS:
            raise ConfigurationError(
                f"controller_id {self.controller_id!r} must be 0001-FFFE (hex), not 0000 or FFFF"
            )
        if self.sign is not None and not 1 <= self.sign <= 254:
            raise ConfigurationError(f"sign {self.sign!r} must be 1-254")
        if self.max_current is not None and (
            not math.isfinite(self.max_current) or not 0 <= self.max_current <= 655
        ):
            raise ConfigurationError(f"max_current {self.max_current!r} must be 0-655 A")
        if self.shared_max is not None:
            if self.max_current is None:
                raise ConfigurationError("shared_max needs max_current (the per-unit maximum)")
            whole_amps(self.shared_max, "shared_max")
            whole_amps(self.max_current, "max_current (with capacity sharing)")
        if not math.isfinite(self.sharing_min_interval) or self.sharing_min_interval < 0:
            raise ConfigurationError(
                f"sharing_min_interval {self.sharing_min_interval!r} must be >= 0"
            )
        _positive_int(self, "max_peripherals", "baudrate")
        _non_negative_int(
            self, "startup_e1_count", "startup_e2_count", "command_retries", "confirm_grace"
        )
        _positive(
            self,
            "startup_e1_interval",
            "startup_e2_interval",
            "heartbeat_interval",
            "data_request_interval",
            "reply_timeout",
            "lost_after",
            "raise_back_window",
            "reconnect_backoff_initial",
            "reconnect_backoff_max",
        )
        if not math.isfinite(self.inter_frame_gap) or self.inter_frame_gap < 0:
            raise ConfigurationError(f"inter_frame_gap {self.inter_frame_gap!r} must be >= 0")
        if self.reconnect_backoff_initial > self.reconnect_backoff_max:
            raise ConfigurationError("reconnect_backoff_initial exceeds reconnect_backoff_max")
        if self.lost_after <= self.heartbeat_interval:
            raise ConfigurationError("lost_after must be longer than heartbeat_interval")

    def sharing_limits(self) -> InstallationLimits | None:
        """The installation's limits capacity sharing works with; ``None`` when it is off."""
        if self.shared_max is None or self.max_current is None:
            return None
        if self.installation is not None:
            return self.installation
        return InstallationLimits(total_max=int(self.shared_max), unit_max=int(self.max_current))

    def _take_installation(self, installation: InstallationLimits) -> None:
        for name, value in (
            ("shared_max", installation.total_max),
            ("max_current", installation.unit_max),
        ):
            given = getattr(self, name)
            if given is not None and given != value:
                raise ConfigurationError(
                    f"{name} {given!r} disagrees with the installation's {value} A"
                )
            # Frozen: filling in the field from the installation goes through object.__setattr__.
            object.__setattr__(self, name, value)


def _positive(config: DirectorConfig, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigurationError(f"{name} must be a number, not {value!r}")
        if not math.isfinite(value) or value <= 0:
            raise ConfigurationError(f"{name} {value!r} must be > 0")


def _positive_int(config: DirectorConfig, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigurationError(f"{name} {value!r} must be a whole number >= 1")


def _non_negative_int(config: DirectorConfig, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigurationError(f"{name} {value!r} must be a whole number >= 0")
