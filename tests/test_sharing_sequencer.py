"""The share sequencer, scenario by scenario, with observations written out by hand."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from twcdirector.events import AllocationChanged
from twcdirector.exceptions import ConfigurationError, CurrentLimitError, InvalidValueError
from twcdirector.protocol import HeartbeatCommand, PeripheralState, ProtocolVersion
from twcdirector.sharing import (
    Demand,
    InstallationLimits,
    Observation,
    Reason,
    ShareSequencer,
    WireChange,
    suggest_command,
)

LIMITS = InstallationLimits(total_max=40, unit_max=32)


class Driver:
    """Holds each unit's latest observation; ``report`` mimics an FD E0 arriving."""

    def __init__(self, sequencer: ShareSequencer | None = None) -> None:
        self.seq = sequencer or ShareSequencer(LIMITS)
        self.obs: dict[str, Observation] = {}

    def unit(self, unit_id: str, **changes: object) -> None:
        base = self.obs.get(unit_id, Observation(unit_id, advertised_max=32.0))
        self.obs[unit_id] = dataclasses.replace(base, **changes)  # type: ignore[arg-type]

    def report(self, unit_id: str, now: float, amps: float, actual: float | None = None) -> None:
        if actual is None:
            car = self.obs[unit_id].car_connected
            actual = amps - 0.5 if car and amps else 0.25
        self.unit(unit_id, reported_max=amps, report_time=now, actual_amps=actual)

    def step(self, now: float) -> list[tuple[str, int]]:
        return [(c.unit_id, c.amps) for c in self.seq.step(now, list(self.obs.values()))]


def charging_alone(driver: Driver, unit_id: str = "A") -> None:
    """``unit_id`` charges at 32 A, confirmed, at t=10."""
    driver.unit(unit_id, car_connected=True, state=PeripheralState.CHARGING)
    driver.report(unit_id, 0.0, 0)
    assert driver.step(0.0) == [(unit_id, 32)]
    driver.report(unit_id, 1.0, 32)
    assert driver.step(1.0) == []


def test_a_new_car_waits_until_the_others_are_confirmed_lower() -> None:
    driver = Driver()
    charging_alone(driver)
    driver.unit("B", car_connected=True, state=PeripheralState.PLUGGED_READY)
    driver.report("B", 10.0, 0)
    assert driver.step(10.0) == [("A", 20)]  # lower A first; nothing for B yet
    driver.report("A", 10.5, 32, actual=31.5)  # A has not taken it yet
    assert driver.step(10.5) == []
    driver.report("A", 11.5, 20, actual=31.0)  # taken, but the car still draws 31 A
    assert driver.step(11.5) == [("B", 9)]  # raised only as far as A's draw leaves room
    driver.report("A", 13.0, 20, actual=19.6)
    driver.report("B", 13.0, 9)
    assert driver.step(13.0) == []  # B's next change waits out the 5 s rate limit
    assert driver.step(16.5) == [("B", 20)]
    driver.report("B", 17.0, 20)
    assert driver.step(17.0) == []
    assert driver.seq.snapshot().used == 40


def test_only_the_first_matching_value_is_taken_as_confirmed() -> None:
    """Values sent after the one a report shows may still arrive: they stay counted."""
    driver = Driver(ShareSequencer(LIMITS, min_interval=0.0))
    charging_alone(driver)
    driver.unit("B", car_connected=True)
    driver.report("B", 2.0, 0)
    assert driver.step(2.0) == [("A", 20)]
    driver.unit("B", car_connected=False)
    assert driver.step(3.0) == [("A", 32), ("B", 0)]
    driver.unit("B", car_connected=True)
    assert driver.step(4.0) == [("A", 20)]
    # A shows 20: the first 20, or the last one? The 32 may still be on its way, so B gets
    # only what 32 A for A leaves, and nothing when a report dated before a change shows it.
    driver.report("A", 4.5, 20, actual=19.5)
    driver.report("B", 4.5, 0)
    assert driver.step(4.5) == [("B", 8)]
    driver.report("A", 5.0, 32, actual=19.5)
    driver.report("B", 5.0, 8)
    assert driver.step(5.0) == []
    driver.report("A", 5.5, 20, actual=19.5)
    assert driver.step(5.5) == [("B", 20)]
    # The same report handed in again is not a new report.
    assert driver.step(6.0) == []
    assert driver.seq.snapshot().used == 40


def test_values_still_on_their_way_are_counted() -> None:
    driver = Driver()
    for unit_id in ("A", "B"):
        driver.unit(unit_id, car_connected=True)
        driver.report(unit_id, 0.0, 0)
    assert driver.step(0.0) == [("A", 20), ("B", 20)]
    driver.unit("C", car_connected=True)
    for unit_id in ("A", "B", "C"):
        driver.report(unit_id, 1.0, 0)  # nothing has arrived yet
    assert driver.step(1.0) == []  # A and B may get their 20 A at any moment
    assert driver.step(5.0) == [("A", 14), ("B", 13)]
    for unit_id in ("A", "B"):
        driver.report(unit_id, 5.5, 20)  # the first values arrive now, the new ones later
    assert driver.step(5.5) == []
    driver.report("A", 6.0, 14)
    assert driver.step(6.0) == []  # B may still hold 20: 14 + 20 leaves less than 6
    driver.report("B", 6.5, 13)
    assert driver.step(6.5) == [("C", 13)]


def test_a_value_stops_counting_only_after_the_pending_timeout() -> None:
    driver = Driver()
    charging_alone(driver)
    driver.unit("B", car_connected=True)
    driver.report("B", 10.0, 0)
    assert driver.step(10.0) == [("A", 20)]
    driver.report("A", 10.5, 20)
    driver.unit("B", car_connected=False)
    assert driver.step(15.0) == [("B", 0), ("A", 32)]  # B's car left before it got anything
    driver.report("A", 16.0, 20)  # A's 32 has not arrived
    driver.unit("B", car_connected=True)
    driver.report("B", 16.0, 0)
    assert driver.step(16.0) == []  # B was just told 0 A: its rate limit holds
    # A goes back down; B gets only what A's 32 A, which may land at any moment, leaves.
    assert driver.step(20.0) == [("A", 20), ("B", 8)]
    # A still shows 20: maybe neither the 32 nor the new 20 has arrived, and the 32 may still
    # land. It counts until the director may no longer send it.
    driver.report("A", 20.5, 20)
    driver.report("B", 20.5, 8)
    assert driver.step(20.5) == []
    assert driver.step(45.0) == []
    assert driver.step(45.1) == [("B", 20)]


def test_a_report_that_moved_on_retires_what_was_sent_before_it() -> None:
    driver = Driver()
    charging_alone(driver)
    driver.unit("B", car_connected=True)
    driver.report("B", 10.0, 0)
    assert driver.step(10.0) == [("A", 20)]
    driver.report("A", 11.0, 20)  # 32 -> 20: the 20 arrived
    assert driver.step(11.0) == [("B", 20)]
    assert driver.seq.snapshot().used == 40


def test_changes_to_one_unit_are_rate_limited() -> None:
    driver = Driver()
    charging_alone(driver)  # A changed at t=0
    driver.unit("B", car_connected=True)
    driver.report("B", 2.0, 0)
    assert driver.step(2.0) == [("B", 8)]  # what is free now, at once
    assert driver.step(4.9) == []
    assert driver.step(5.0) == [("A", 20)]  # A's decrease waited for its rate limit
    driver.report("A", 5.5, 20)
    driver.report("B", 5.5, 8)
    assert driver.step(5.5) == []
    assert driver.step(7.0) == [("B", 20)]


def test_a_lowered_limit_lowers_at_once_and_never_above_the_ceiling() -> None:
    driver = Driver()
    charging_alone(driver)
    driver.seq.set_limits(total_max=16)
    assert driver.step(1.5) == [("A", 16)]  # over the limit: the rate limit does not apply
    events = driver.seq.take_events()
    assert events[-1] == AllocationChanged("A", 32.0, 16.0, Reason.LIMITS_CHANGED)
    with pytest.raises(ConfigurationError):
        driver.seq.set_limits(total_max=41)
    assert driver.seq.limits.total_max == 16
    driver.seq.set_limits(total_max=40)
    driver.report("A", 2.0, 16)
    assert driver.step(2.0) == []  # raising waits out the rate limit
    assert driver.step(6.5) == [("A", 32)]


def test_a_user_cap_lowers_at_once_and_others_get_the_difference() -> None:
    driver = Driver()
    charging_alone(driver)
    driver.unit("B", car_connected=True)
    driver.report("B", 10.0, 0)
    driver.step(10.0)
    driver.report("A", 11.0, 20)
    driver.step(11.0)
    driver.report("B", 12.0, 20)
    driver.step(12.0)
    driver.seq.set_user_cap("A", 10)
    assert driver.step(12.5) == [("A", 10)]  # above its cap now: at once
    driver.report("A", 13.0, 10)
    assert driver.step(13.0) == []
    assert driver.step(16.0) == [("B", 30)]
    assert driver.seq.allowed("B") == 30
    driver.seq.set_user_cap("B", 12)
    assert driver.seq.allowed("B") == 12  # at once, before the next step
    driver.seq.set_user_cap("B", 3)
    assert driver.seq.allowed("B") == 0  # never below its minimum
    assert driver.seq.allowed("Z") == 0
    with pytest.raises(CurrentLimitError):
        driver.seq.set_user_cap("A", 10.5)
    with pytest.raises(CurrentLimitError):
        driver.seq.set_user_cap("A", -1)


def test_a_user_cap_ends_with_the_session() -> None:
    driver = Driver()
    charging_alone(driver)
    driver.seq.set_user_cap("A", 10)
    assert driver.step(2.0) == [("A", 10)]
    driver.report("A", 3.0, 10)
    driver.unit("A", car_connected=False, state=PeripheralState.READY)
    assert driver.step(8.0) == [("A", 0)]
    driver.report("A", 9.0, 0)
    driver.unit("A", car_connected=True)
    assert driver.step(14.0) == [("A", 32)]


def test_an_unanswering_unit_keeps_its_share_until_it_is_lost() -> None:
    driver = Driver()
    charging_alone(driver)
    driver.unit("A", online=False)
    driver.unit("B", car_connected=True)
    driver.report("B", 10.0, 0)
    assert driver.step(10.0) == [("B", 8)]  # nothing to A; B has only what A may hold
    driver.report("B", 11.0, 8)
    assert driver.step(20.0) == []
    driver.unit("A", lost=True)
    assert driver.step(21.0) == [("B", 32)]
    assert "A" not in {share.unit_id for share in driver.seq.snapshot().units}
    lost = [e for e in driver.seq.take_events() if e.reason == Reason.UNIT_LOST]
    assert lost == [AllocationChanged("A", 32.0, 0.0, Reason.UNIT_LOST)]
    assert driver.seq.allowed("A") == 0


def test_a_unit_that_raises_itself_past_the_total_is_told_again_at_once() -> None:
    driver = Driver()
    charging_alone(driver)
    driver.unit("B", car_connected=True)
    driver.report("B", 10.0, 0)
    driver.step(10.0)
    driver.report("A", 11.0, 20)
    assert driver.step(11.0) == [("B", 20)]
    driver.report("B", 12.0, 20)
    driver.report("A", 13.0, 22)  # A lifted its own limit (e.g. the end of a decrease, 07)
    changes = driver.seq.step(13.0, list(driver.obs.values()))
    assert [(c.unit_id, c.amps, c.reason) for c in changes] == [("A", 20, Reason.RETRY)]
    assert driver.seq.snapshot().used == 42  # counted as it is until A confirms


def test_an_unconfirmed_change_is_sent_again() -> None:
    driver = Driver()
    driver.unit("A", car_connected=True)
    driver.report("A", 0.0, 0)
    assert driver.step(0.0) == [("A", 32)]
    driver.report("A", 1.0, 0)  # lost on the way
    assert driver.step(9.0) == []
    changes = driver.seq.step(10.0, list(driver.obs.values()))
    assert [(c.unit_id, c.amps, c.reason) for c in changes] == [("A", 32, Reason.RETRY)]
    assert [e.new_amps for e in driver.seq.take_events()] == [32.0]  # a retry is no new event


def test_the_zero_amp_quirk_settles_without_endless_resending() -> None:
    driver = Driver()
    driver.unit("A", car_connected=True)
    driver.report("A", 0.0, 32)
    driver.seq.set_user_cap("A", 0)
    assert driver.step(0.0) == [("A", 0)]
    driver.report("A", 1.0, 6, actual=0.0)  # told 0 A, it reports 6 A
    sent = [driver.step(now) for now in (1.0, 11.0, 21.0, 31.0, 41.0, 51.0)]
    # Two more tries (a unit at its minimum whose 0 A was lost looks the same), then it rests.
    assert sent == [[], [("A", 0)], [("A", 0)], [], [], []]
    share = driver.seq.snapshot().units[0]
    assert (share.target, share.reported, share.exposure) == (0, 6, 6)  # still counted


def test_what_a_unit_told_zero_keeps_reporting_is_shared_around() -> None:
    driver = Driver(ShareSequencer(InstallationLimits(total_max=15, unit_max=6)))
    driver.unit("A", car_connected=True, protocol=ProtocolVersion.V1)
    driver.report("A", 0.0, 5)
    driver.seq.set_user_cap("A", 0)
    for unit_id in ("B", "C"):
        driver.unit(unit_id, car_connected=True, protocol=ProtocolVersion.V1)
        driver.report(unit_id, 0.0, 0)
    assert driver.step(0.0) == [("A", 0), ("B", 6)]  # A still counts 5 A: no room for C
    driver.report("B", 1.0, 6)
    for now in (10.0, 20.0):
        driver.report("A", now, 5)
        assert driver.step(now) == [("A", 0)]
    # A settled into the quirk: its 5 A are reserved, so B and C share the 10 A left.
    driver.report("A", 21.0, 5)
    assert driver.step(21.0) == [("B", 5)]
    assert {s.unit_id: s.target for s in driver.seq.snapshot().units} == {"A": 0, "B": 5, "C": 5}
    driver.report("B", 22.0, 5)
    assert driver.step(22.0) == [("C", 5)]


def test_a_lost_zero_to_a_unit_at_its_minimum_is_sent_again() -> None:
    driver = Driver()
    driver.unit("A", car_connected=True)
    driver.report("A", 0.0, 6)
    driver.seq.set_user_cap("A", 0)
    assert driver.step(0.0) == [("A", 0)]
    driver.report("A", 1.0, 6)  # the 0 A was lost: still 6 A
    assert driver.step(1.0) == []
    assert driver.step(10.0) == [("A", 0)]
    driver.report("A", 10.5, 0)
    assert driver.step(10.5) == []
    assert driver.seq.snapshot().used == 0


def test_the_quirk_does_not_hold_other_units_up() -> None:
    driver = Driver()
    driver.unit("A", car_connected=True)
    driver.report("A", 0.0, 6)
    driver.seq.set_user_cap("A", 0)
    driver.unit("B", car_connected=True)
    driver.report("B", 0.0, 0)
    assert driver.step(0.0) == [("A", 0), ("B", 32)]  # 6 counted for A, 32 fit beside it


def test_a_decrease_that_is_never_confirmed_stops_blocking_after_the_timeout() -> None:
    driver = Driver()
    charging_alone(driver)
    driver.unit("B", car_connected=True)
    driver.report("B", 10.0, 0)
    assert driver.step(10.0) == [("A", 20)]
    driver.report("A", 11.0, 32, actual=0.0)  # A ignores it; its car is not drawing
    assert driver.step(15.0) == []
    assert driver.step(20.0) == [("A", 20)]  # retried, and B still waits
    assert driver.step(30.0) == [("A", 20)]
    assert driver.step(39.9) == []
    # A keeps counting 32 A, so B can only have the 8 A left, once A stops holding it up.
    assert driver.step(40.0) == [("A", 20), ("B", 8)]


def test_an_idle_car_is_lowered_to_its_minimum_and_raised_when_it_draws_again() -> None:
    driver = Driver(ShareSequencer(LIMITS, idle_after=60.0))
    charging_alone(driver)
    driver.unit("B", car_connected=True)
    driver.report("B", 10.0, 0)
    driver.step(10.0)
    driver.report("A", 11.0, 20)
    driver.step(11.0)
    driver.report("B", 12.0, 20, actual=0.0)  # B's car is full: draws nothing
    driver.step(12.0)
    assert driver.step(71.0) == []
    assert driver.step(72.0) == [("B", 6)]
    driver.report("B", 73.0, 6, actual=0.0)
    assert driver.step(73.0) == [("A", 32)]  # 6 + 32 <= 40
    driver.report("A", 74.0, 32)
    assert {s.unit_id: s.demand for s in driver.seq.snapshot().units}["B"] == Demand.IDLE
    driver.report("B", 80.0, 6, actual=5.5)  # it draws again
    assert driver.step(80.0) == [("A", 20)]
    driver.report("A", 81.0, 20)
    assert driver.step(81.0) == [("B", 20)]


def test_priorities_change_the_shares() -> None:
    driver = Driver()
    charging_alone(driver)
    driver.unit("B", car_connected=True)
    driver.report("B", 10.0, 0)
    driver.seq.set_priority("B", 1)
    assert driver.step(10.0) == [("A", 8)]
    driver.report("A", 11.0, 8)
    assert driver.step(11.0) == [("B", 32)]


def test_a_new_unit_is_told_zero_and_counts_what_it_reports() -> None:
    driver = Driver()
    driver.unit("A")
    driver.report("A", 0.0, 24)  # a default left by someone else
    changes = driver.seq.step(0.0, list(driver.obs.values()))
    assert changes == [
        WireChange("A", 0, HeartbeatCommand.SET_DEFAULT_CURRENT, Reason.UNIT_FOUND, 24)
    ]
    snapshot = driver.seq.snapshot()
    assert (snapshot.used, snapshot.available) == (24, 16)


def test_the_suggested_command_follows_the_unit_state() -> None:
    obs = Observation("A", car_connected=True, state=PeripheralState.CHARGING)
    assert suggest_command(obs, 20) == HeartbeatCommand.SET_SESSION_CURRENT
    starting = dataclasses.replace(obs, state=PeripheralState.STARTING)
    assert suggest_command(starting, 0) == HeartbeatCommand.ACK_CHARGE_START
    assert suggest_command(starting, 20) == HeartbeatCommand.SET_SESSION_CURRENT
    ready = dataclasses.replace(obs, state=PeripheralState.PLUGGED_READY)
    assert suggest_command(ready, 0) == HeartbeatCommand.SET_DEFAULT_CURRENT
    no_car = Observation("A", state=PeripheralState.READY)
    assert suggest_command(no_car, 0) == HeartbeatCommand.SET_DEFAULT_CURRENT
    v1 = dataclasses.replace(obs, protocol=ProtocolVersion.V1)
    assert suggest_command(v1, 20) == HeartbeatCommand.SET_DEFAULT_CURRENT


def test_observations_and_parameters_are_checked() -> None:
    with pytest.raises(InvalidValueError, match="time of its report"):
        Observation("A", reported_max=10.0)
    with pytest.raises(InvalidValueError):
        Observation("A", actual_amps=float("nan"))
    with pytest.raises(InvalidValueError):
        Observation("A", reported_max=-1.0, report_time=0.0)
    with pytest.raises(ConfigurationError):
        ShareSequencer(LIMITS, min_interval=20.0, retry_after=10.0)
    with pytest.raises(ConfigurationError):
        ShareSequencer(LIMITS, idle_after=-1.0)
    sequencer = ShareSequencer(LIMITS)
    sequencer.step(5.0)
    with pytest.raises(ConfigurationError, match="backwards"):
        sequencer.step(4.0)


def test_changes_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="twcdirector.sharing")
    driver = Driver()
    charging_alone(driver)
    assert "Unit A: 0 A -> 32 A (car connected)" in caplog.text


def test_the_answer_to_a_unit_asking_for_current_counts_others_reported_minimums() -> None:
    # A unit asking for current (08) is answered at its next heartbeat with allowed(): a
    # grant made before another unit reported its minimum must not go out stale.
    driver = Driver(ShareSequencer(InstallationLimits(total_max=20, unit_max=32)))
    driver.unit("A", car_connected=True, state=PeripheralState.STARTING)
    driver.report("A", 0.0, 0)
    [change] = driver.seq.step(0.0, list(driver.obs.values()))
    assert (change.amps, change.command) == (20, HeartbeatCommand.ACK_CHARGE_START)
    assert driver.seq.allowed("A") == 20
    driver.unit("B", state=PeripheralState.READY)
    driver.report("B", 0.1, 0)
    assert driver.step(0.1) == [("B", 0)]
    driver.report("B", 0.2, 6)  # real units report their minimum for 0 A (SPEC §8.7)
    driver.step(0.2)
    assert driver.seq.allowed("A") == 14  # 20 A less B's reported 6 A
    assert driver.seq.allowed("A") + 6 <= 20
