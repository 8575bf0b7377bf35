"""Installation limits and the pure allocation policy."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twcdirector.exceptions import ConfigurationError
from twcdirector.protocol import ProtocolVersion
from twcdirector.sharing import (
    Demand,
    InstallationLimits,
    LimitController,
    UnitDemand,
    allocate,
    unit_cap,
)

V1, V2 = ProtocolVersion.V1, ProtocolVersion.V2
LIMITS = InstallationLimits(total_max=40, unit_max=32)


def car(unit_id: str, since: float = 0.0, **kwargs: object) -> UnitDemand:
    return UnitDemand(unit_id, since=since, **kwargs)  # type: ignore[arg-type]


# --- limits ---------------------------------------------------------------------------------


def test_limits_take_whole_amps_and_store_ints() -> None:
    limits = InstallationLimits(total_max=40.0, unit_max=32)
    assert (limits.total_max, limits.unit_max) == (40, 32)
    assert type(limits.total_max) is int
    assert (limits.minimum(V1), limits.minimum(V2)) == (5, 6)


@pytest.mark.parametrize("value", [-1, 40.5, float("nan"), float("inf"), True, "40", None])
def test_limits_refuse_what_is_not_whole_non_negative_amps(value: object) -> None:
    with pytest.raises(ConfigurationError):
        InstallationLimits(total_max=value, unit_max=32)  # type: ignore[arg-type]


@pytest.mark.parametrize(("min_v1", "min_v2"), [(4, 6), (5, 5), (0, 6)])
def test_minimums_cannot_go_below_what_the_protocol_allows(min_v1: int, min_v2: int) -> None:
    with pytest.raises(ConfigurationError, match="minimum"):
        InstallationLimits(40, 32, min_v1=min_v1, min_v2=min_v2)


def test_minimums_may_be_raised() -> None:
    assert InstallationLimits(40, 32, min_v1=8, min_v2=10).minimum(V2) == 10


def test_unit_cap_is_the_lowest_of_wiring_rating_and_user_cap() -> None:
    assert LIMITS.unit_cap() == 32
    assert LIMITS.unit_cap(advertised_max=16.0) == 16
    assert LIMITS.unit_cap(advertised_max=80.0, user_cap=10) == 10
    assert LIMITS.unit_cap(advertised_max=12.99) == 12  # never rounded up


def test_limit_controller_changes_only_within_the_ceiling() -> None:
    controller = LimitController(LIMITS)
    assert controller.change(total_max=20).total_max == 20
    assert controller.change(total_max=40, unit_max=16) == InstallationLimits(40, 16)
    with pytest.raises(ConfigurationError, match="exceeds the configured 40 A"):
        controller.change(total_max=41)
    with pytest.raises(ConfigurationError, match="exceeds the configured 32 A"):
        controller.change(unit_max=33)
    assert controller.current == InstallationLimits(40, 16)  # a refused change changes nothing
    assert controller.reset() == LIMITS
    assert controller.ceiling == LIMITS


# --- allocation examples --------------------------------------------------------------------


def test_three_cars_share_forty_amps_equally_rounded_down() -> None:
    shares = allocate([car("C", 3.0), car("A", 1.0), car("B", 2.0)], LIMITS)
    assert shares == {"A": 14, "B": 13, "C": 13}  # the odd amp to the earliest car


def test_one_car_is_held_to_the_unit_maximum() -> None:
    assert allocate([car("A")], LIMITS) == {"A": 32}


def test_a_capped_unit_releases_its_difference_to_the_others() -> None:
    shares = allocate([car("A", 1.0, user_cap=8), car("B", 2.0), car("C", 3.0)], LIMITS)
    assert shares == {"A": 8, "B": 16, "C": 16}
    shares = allocate(
        [car("A", 1.0, advertised_max=16.0), car("B", 2.0)], InstallationLimits(60, 40)
    )
    assert shares == {"A": 16, "B": 40}


def test_a_unit_that_cannot_have_its_minimum_waits_at_zero() -> None:
    shares = allocate([car("A", 1.0), car("B", 2.0), car("C", 3.0)], InstallationLimits(14, 32))
    assert shares == {"A": 7, "B": 7, "C": 0}  # the latest car waits


def test_a_minimum_one_amp_short_does_not_fit() -> None:
    shares = allocate([car("A", 1.0), car("B", 2.0), car("C", 3.0)], InstallationLimits(17, 32))
    assert shares == {"A": 9, "B": 8, "C": 0}
    shares = allocate([car("A", 1.0), car("B", 2.0), car("C", 3.0)], InstallationLimits(18, 32))
    assert shares == {"A": 6, "B": 6, "C": 6}


def test_a_smaller_protocol_1_minimum_may_still_fit() -> None:
    units = [car("A", 1.0), car("B", 2.0), car("C", 3.0, protocol=V1)]
    assert allocate(units, InstallationLimits(17, 32)) == {"A": 6, "B": 6, "C": 5}


def test_no_car_and_caps_below_the_minimum_get_nothing() -> None:
    units = [
        car("A", demand=Demand.NONE),
        car("B", user_cap=0),
        car("C", user_cap=5),  # protocol 2: 5 A is below its minimum
        car("D", advertised_max=5.0),
        car("E"),
    ]
    assert allocate(units, LIMITS) == {"A": 0, "B": 0, "C": 0, "D": 0, "E": 32}


def test_an_idle_car_keeps_only_its_minimum() -> None:
    shares = allocate([car("A", 1.0, demand=Demand.IDLE), car("B", 2.0)], LIMITS)
    assert shares == {"A": 6, "B": 32}
    # Short of capacity, a charging car is admitted before an idle one.
    shares = allocate([car("A", 1.0, demand=Demand.IDLE), car("B", 2.0)], InstallationLimits(8, 32))
    assert shares == {"A": 0, "B": 8}


def test_an_offline_unit_keeps_its_reserve_off_the_total() -> None:
    units = [car("A", 1.0, online=False, reserved=20), car("B", 2.0), car("C", 3.0)]
    assert allocate(units, LIMITS) == {"A": 20, "B": 10, "C": 10}
    units = [car("A", online=False, reserved=50), car("B")]
    assert allocate(units, LIMITS) == {"A": 50, "B": 0}
    # An online unit's reserve (current it cannot shed) is taken off too; it gets its share.
    units = [car("A", 1.0, demand=Demand.NONE, reserved=6), car("B", 2.0), car("C", 3.0)]
    assert allocate(units, LIMITS) == {"A": 0, "B": 17, "C": 17}


def test_higher_priority_is_served_first_above_the_minimums() -> None:
    units = [car("A", 1.0), car("B", 2.0, priority=1), car("C", 3.0)]
    assert allocate(units, LIMITS) == {"A": 6, "B": 28, "C": 6}
    # Admission too: with room for one, the priority unit charges.
    assert allocate(units, InstallationLimits(10, 32)) == {"A": 0, "B": 10, "C": 0}


def test_duplicate_units_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="duplicate"):
        allocate([car("A"), car("A")], LIMITS)


# --- allocation properties ------------------------------------------------------------------

demands = st.builds(
    UnitDemand,
    unit_id=st.sampled_from("ABCDEF"),
    protocol=st.sampled_from(ProtocolVersion),
    demand=st.sampled_from(Demand),
    advertised_max=st.none() | st.sampled_from([5.0, 16.0, 32.0, 80.0]),
    user_cap=st.none() | st.integers(0, 50),
    priority=st.integers(0, 2),
    since=st.integers(0, 5).map(float),
    online=st.booleans(),
    reserved=st.integers(0, 40),
)
unit_lists = st.lists(demands, max_size=6, unique_by=lambda unit: unit.unit_id)
limits_st = st.builds(InstallationLimits, st.integers(0, 120), st.integers(0, 80))


@settings(max_examples=400)
@given(unit_lists, limits_st)
def test_allocation_is_safe(units: list[UnitDemand], limits: InstallationLimits) -> None:
    shares = allocate(units, limits)
    online = [unit for unit in units if unit.online]
    reserved = sum(unit.reserved for unit in units)
    assert sum(shares[u.unit_id] for u in online) <= max(0, limits.total_max - reserved)
    for unit in online:
        amps = shares[unit.unit_id]
        assert amps == 0 or limits.minimum(unit.protocol) <= amps <= unit_cap(unit, limits)
        if unit.demand == Demand.NONE:
            assert amps == 0
        if unit.demand == Demand.IDLE:
            assert amps in (0, limits.minimum(unit.protocol))
    for unit in units:
        if not unit.online:
            assert shares[unit.unit_id] == unit.reserved


@given(unit_lists, limits_st)
def test_allocation_is_live_fair_and_wastes_nothing(
    units: list[UnitDemand], limits: InstallationLimits
) -> None:
    shares = allocate(units, limits)
    budget = max(0, limits.total_max - sum(u.reserved for u in units))
    eligible = [
        unit
        for unit in units
        if unit.online
        and unit.demand != Demand.NONE
        and unit_cap(unit, limits) >= limits.minimum(unit.protocol)
    ]
    leftover = budget - sum(shares[unit.unit_id] for unit in eligible)
    # Every unit that can charge does, whenever the total allows every minimum.
    if sum(limits.minimum(unit.protocol) for unit in eligible) <= budget:
        assert all(shares[unit.unit_id] > 0 for unit in eligible)
    for unit in eligible:
        amps = shares[unit.unit_id]
        # A waiting unit waits only because its minimum does not fit in what is left.
        if amps == 0:
            assert limits.minimum(unit.protocol) > leftover
        # Amps are left over only when no charging unit could take more.
        if leftover > 0 and amps > 0 and unit.demand == Demand.CHARGING:
            assert amps == unit_cap(unit, limits)
    # Within one priority, charging shares differ by at most one amp unless capped or at a floor.
    charging = [u for u in eligible if u.demand == Demand.CHARGING and shares[u.unit_id] > 0]
    for low in charging:
        for high in charging:
            if low.priority != high.priority:
                continue
            if shares[high.unit_id] > shares[low.unit_id] + 1:
                assert shares[low.unit_id] == unit_cap(low, limits) or shares[
                    high.unit_id
                ] == limits.minimum(high.protocol)


@given(unit_lists, limits_st, st.randoms())
def test_allocation_does_not_depend_on_the_order_of_its_input(
    units: list[UnitDemand], limits: InstallationLimits, rnd: object
) -> None:
    shuffled = list(units)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert allocate(shuffled, limits) == allocate(units, limits)
