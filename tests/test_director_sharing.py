"""Capacity sharing inside the director's core, on a virtual bus of fake units.

Every unit checks, as it applies each frame it hears, that the units together are never
allowed more than the shared maximum: the order of frames on the wire is taken into account.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tests.director_fakes import CoreBus, FakePeripheral
from twcdirector.events import ALLOCATION_CHANGED, SHARING_CHANGED
from twcdirector.exceptions import ConfigurationError, NotApplicableError
from twcdirector.gen2.commands import CommandKind
from twcdirector.gen2.config import DirectorConfig
from twcdirector.gen2.controller import BusController
from twcdirector.protocol import ControllerHeartbeat, Message, PeripheralState
from twcdirector.sharing import InstallationLimits

TOTAL = 40
UNIT_MAX = 32
IDS = (0x1839, 0x2019, 0x2433)


@dataclass
class SharedUnit(FakePeripheral):
    bus: list[SharedUnit] = field(default_factory=list)
    highest_total: float = 0.0

    def handle(self, message: Message) -> list[Message]:
        replies = super().handle(message)
        if isinstance(message, ControllerHeartbeat) and message.receiver == self.device_id:
            total = sum(unit.allowed for unit in self.bus)
            self.highest_total = max(self.highest_total, total)
            assert total <= TOTAL, f"{total} A allowed together after {message}"
            assert self.allowed == 0 or self.allowed >= 6, self.allowed
        return replies

    def _apply(self, message: ControllerHeartbeat) -> None:
        super()._apply(message)
        # A plugged car draws what it is allowed (an idle one would be given its minimum only).
        self.actual = self.allowed if self.state != PeripheralState.READY else 0.0

    def plug(self, vin: str = "") -> None:
        super().plug(vin)
        self.state = PeripheralState.PLUGGED_READY

    def unplug(self) -> None:
        self.vin = ""
        self.state = PeripheralState.READY
        self.actual = 0.0


def shared_bus(**config: object) -> tuple[CoreBus, list[SharedUnit]]:
    units: list[SharedUnit] = []
    for device_id in IDS:
        units.append(SharedUnit(device_id, bus=units))
    options = {"max_current": UNIT_MAX, "shared_max": TOTAL, "sharing_min_interval": 1.0}
    options.update(config)
    harness = CoreBus(BusController(DirectorConfig(**options)), list(units))  # type: ignore[arg-type]
    harness.run_for(8)
    return harness, units


def allowed(units: list[SharedUnit]) -> list[float]:
    return [unit.allowed for unit in units]


def test_shares_converge_as_cars_plug_in_and_out() -> None:
    harness, units = shared_bus()
    assert allowed(units) == [0, 0, 0]
    units[0].plug()
    harness.run_for(15)
    assert allowed(units) == [32, 0, 0]  # the unit's own maximum, not the whole supply
    units[1].plug()
    harness.run_for(20)
    assert allowed(units) == [20, 20, 0]
    units[2].plug()
    harness.run_for(25)
    assert sum(allowed(units)) == TOTAL
    assert sorted(allowed(units)) == [13, 13, 14]
    units[0].unplug()
    harness.run_for(25)
    assert allowed(units)[1:] == [20, 20]
    assert all(unit.highest_total <= TOTAL for unit in units)
    assert harness.events(ALLOCATION_CHANGED)
    snapshot = harness.core.sharing_snapshot()
    assert snapshot is not None
    assert snapshot.total_max == TOTAL
    assert snapshot.used <= TOTAL
    assert harness.events(SHARING_CHANGED)[-1].payload.total_max == TOTAL


def test_a_user_session_current_caps_a_share_and_frees_the_rest() -> None:
    harness, units = shared_bus()
    units[0].plug()
    units[1].plug()
    harness.run_for(20)
    assert allowed(units)[:2] == [20, 20]
    harness.core.submit(IDS[1], CommandKind.SET_SESSION_CURRENT, 10, harness.now)
    harness.run_for(20)
    assert allowed(units)[:2] == [30, 10]
    # A cap above the share is no way around the total.
    harness.core.submit(IDS[1], CommandKind.SET_SESSION_CURRENT, 32, harness.now)
    harness.run_for(20)
    assert allowed(units)[:2] == [20, 20]


@pytest.mark.parametrize(
    "kind",
    [CommandKind.SET_DEFAULT_CURRENT, CommandKind.INCREASE_CURRENT, CommandKind.DECREASE_CURRENT],
)
def test_commands_that_would_bypass_sharing_are_refused(kind: CommandKind) -> None:
    harness, _ = shared_bus()
    with pytest.raises(NotApplicableError, match="capacity sharing"):
        harness.core.submit(IDS[0], kind, 16 if kind.carries_amps else 0, harness.now)


def test_limits_change_at_run_time_only_within_the_configured_ceiling() -> None:
    harness, units = shared_bus()
    units[0].plug()
    units[1].plug()
    harness.run_for(20)
    harness.core.set_installation_limits(total_max=30)
    harness.run_for(20)
    assert allowed(units)[:2] == [15, 15]
    with pytest.raises(ConfigurationError):
        harness.core.set_installation_limits(total_max=TOTAL + 1)
    harness.core.set_installation_limits(total_max=TOTAL)
    harness.run_for(20)
    assert allowed(units)[:2] == [20, 20]


def test_a_unit_without_a_share_is_given_nothing_even_when_it_asks() -> None:
    """A unit asking for an allocation (state 08, max 0) is answered within its share only."""
    harness, units = shared_bus()
    units[0].plug()
    harness.run_for(15)
    units[1].state = PeripheralState.STARTING
    units[1].allowed = 0
    harness.run_for(0.5)  # before sharing has re-shared, the answer must not be 32 A
    assert units[1].allowed == 0
    assert sum(allowed(units)) <= TOTAL


def test_a_unit_asking_for_current_gets_its_share_through_08() -> None:
    """A car that plugs in while its unit was told 0 A asks for an allocation (state 08,
    max 0): the heartbeat answers it with the unit's share, not the 0 A sent before."""
    harness, units = shared_bus()
    for unit in units[:2]:
        unit.state = PeripheralState.STARTING
        unit.allowed = 0
    harness.run_for(25)
    assert allowed(units) == [20, 20, 0]


def test_sharing_needs_a_per_unit_maximum() -> None:
    with pytest.raises(ConfigurationError, match="max_current"):
        DirectorConfig(shared_max=40)


def test_installation_limits_are_given_to_the_director_with_their_minimums() -> None:
    """README: the minimum per charging unit is set with InstallationLimits on the config."""
    installation = InstallationLimits(total_max=TOTAL, unit_max=UNIT_MAX, min_v2=14)
    config = DirectorConfig(installation=installation)
    assert (config.shared_max, config.max_current) == (TOTAL, UNIT_MAX)
    assert config.sharing_limits() is installation
    harness, units = shared_bus(max_current=None, shared_max=None, installation=installation)
    for unit in units:
        unit.plug()
    harness.run_for(40)
    # 3 x 14 A > 40 A: with a 14 A minimum only two units charge (6 A would give 14/13/13).
    assert sorted(allowed(units)) == [0, 20, 20]


def test_installation_limits_must_agree_with_the_other_fields() -> None:
    installation = InstallationLimits(total_max=TOTAL, unit_max=UNIT_MAX)
    with pytest.raises(ConfigurationError, match="shared_max 30"):
        DirectorConfig(shared_max=30, installation=installation)
    with pytest.raises(ConfigurationError, match="max_current"):
        DirectorConfig(max_current=16, installation=installation)
    assert DirectorConfig(max_current=UNIT_MAX, installation=installation).shared_max == TOTAL
