"""The Gen 3 polling cadence, run for hours of fake time against a fake unit."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from twcdirector.gen3 import POLL_ORDER, Endpoint, Gen3Config, Gen3Schedule, choose_next

HOUR = 3600.0


def run(
    schedule: Gen3Schedule,
    *,
    until: float,
    connected: Callable[[float], bool] = lambda now: False,
    fails: Callable[[Endpoint, float], bool] = lambda endpoint, now: False,
) -> list[tuple[float, Endpoint, bool]]:
    """Drive a schedule with instant answers; returns (time, endpoint, ok) per request."""
    log: list[tuple[float, Endpoint, bool]] = []
    while True:
        endpoint, when = schedule.next_request()
        if when > until:
            return log
        if fails(endpoint, when):
            schedule.on_failure(endpoint, when)
            log.append((when, endpoint, False))
        else:
            schedule.on_success(endpoint, when, vehicle_connected=connected(when))
            log.append((when, endpoint, True))


def times_of(log: list[tuple[float, Endpoint, bool]], endpoint: Endpoint) -> list[float]:
    return [when for when, item, _ in log if item is endpoint]


def gaps(times: list[float]) -> set[float]:
    return {round(b - a, 6) for a, b in itertools.pairwise(times)}


def test_everything_is_read_at_start_version_first() -> None:
    schedule = Gen3Schedule(Gen3Config(), now=100.0)
    log = run(schedule, until=100.0)
    assert [endpoint for _, endpoint, _ in log] == list(POLL_ORDER)
    assert log[0][1] is Endpoint.VERSION
    assert {when for when, _, _ in log} == {100.0}


def test_idle_cadence_over_a_day() -> None:
    schedule = Gen3Schedule(Gen3Config(), now=0.0)
    log = run(schedule, until=24 * HOUR)
    assert gaps(times_of(log, Endpoint.VITALS)) == {30.0}
    assert gaps(times_of(log, Endpoint.LIFETIME)) == {60.0}
    assert gaps(times_of(log, Endpoint.WIFI_STATUS)) == {60.0}
    assert times_of(log, Endpoint.VERSION) == [0.0, 6 * HOUR, 12 * HOUR, 18 * HOUR, 24 * HOUR]
    assert len(times_of(log, Endpoint.VITALS)) == 24 * 120 + 1


def test_vitals_every_5_s_while_a_vehicle_is_connected() -> None:
    # Plugged in from t=600 to t=1200.
    schedule = Gen3Schedule(Gen3Config(), now=0.0)
    log = run(schedule, until=1800.0, connected=lambda now: 600 <= now < 1200)
    vitals = times_of(log, Endpoint.VITALS)
    during = [t for t in vitals if 600 <= t <= 1200]
    assert during[0] == 600.0  # the first read that sees the vehicle…
    assert gaps(during) == {5.0}  # …switches to the fast cadence
    after = [t for t in vitals if t >= 1200]
    assert gaps(after) == {30.0}
    assert gaps(times_of(log, Endpoint.LIFETIME)) == {60.0}


def test_intervals_are_configurable() -> None:
    config = Gen3Config(
        vitals_interval_connected=1,
        vitals_interval_idle=7,
        lifetime_interval=11,
        wifi_status_interval=13,
        version_interval=100,
    )
    log = run(Gen3Schedule(config, now=0.0), until=1000.0)
    assert gaps(times_of(log, Endpoint.VITALS)) == {7.0}
    assert gaps(times_of(log, Endpoint.LIFETIME)) == {11.0}
    assert gaps(times_of(log, Endpoint.WIFI_STATUS)) == {13.0}
    assert gaps(times_of(log, Endpoint.VERSION)) == {100.0}
    log = run(Gen3Schedule(config, now=0.0), until=50.0, connected=lambda now: True)
    assert gaps(times_of(log, Endpoint.VITALS)) == {1.0}


def test_a_dead_unit_is_asked_ever_more_rarely() -> None:
    config = Gen3Config(backoff_initial=5, backoff_max=300)
    log = run(Gen3Schedule(config, now=0.0), until=HOUR, fails=lambda endpoint, now: True)
    times = [when for when, _, _ in log]
    assert [b - a for a, b in itertools.pairwise(times)][:7] == [
        5,
        10,
        20,
        40,
        80,
        160,
        300,
    ]
    assert gaps(times[8:]) == {300.0}
    assert len(log) < 20  # an hour of a dead unit costs a handful of requests


def test_a_unit_recovers_its_normal_cadence_after_one_success() -> None:
    schedule = Gen3Schedule(Gen3Config(), now=0.0)
    log = run(schedule, until=HOUR, fails=lambda endpoint, now: 100 <= now < 400)
    assert schedule.failures == 0
    late_vitals = [t for t in times_of(log, Endpoint.VITALS) if t > 700]
    assert gaps(late_vitals) == {30.0}


def test_one_broken_endpoint_backs_off_alone() -> None:
    """lifetime answering 500 forever must not be hammered, nor stop vitals."""
    schedule = Gen3Schedule(Gen3Config(), now=0.0)
    log = run(schedule, until=2 * HOUR, fails=lambda endpoint, now: endpoint is Endpoint.LIFETIME)
    lifetime = times_of(log, Endpoint.LIFETIME)
    assert len(lifetime) <= 2 * HOUR / 300 + 8  # vs 120 reads when it works
    assert max(gaps(lifetime)) == 300.0
    vitals = times_of(log, Endpoint.VITALS)
    assert len(vitals) > 2 * 120 * 0.9
    assert max(gaps(vitals)) <= 30.0


def test_request_now_moves_an_endpoint_forward_only() -> None:
    schedule = Gen3Schedule(Gen3Config(), now=0.0)
    run(schedule, until=0.0)
    assert schedule.due(Endpoint.VERSION) == 6 * HOUR
    schedule.request_now(Endpoint.VERSION, 20.0)
    assert schedule.next_request() == (Endpoint.VERSION, 20.0)
    schedule.request_now(Endpoint.VERSION, 25.0)
    assert schedule.due(Endpoint.VERSION) == 20.0


def test_choose_next_takes_the_earliest_and_respects_the_gap() -> None:
    requests = [(Endpoint.VITALS, 10.0), (Endpoint.LIFETIME, 5.0), (Endpoint.VERSION, 5.0)]
    assert choose_next(requests, earliest=0.0) == (1, Endpoint.LIFETIME, 5.0)
    assert choose_next(requests, earliest=7.5) == (1, Endpoint.LIFETIME, 7.5)
    assert choose_next([], earliest=0.0) is None


@given(
    st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=8),
    st.floats(min_value=0, max_value=1e6),
)
def test_choose_next_never_schedules_before_the_gap_nor_skips_the_most_overdue(
    dues: list[float], earliest: float
) -> None:
    choice = choose_next([(Endpoint.VITALS, due) for due in dues], earliest)
    assert choice is not None
    index, _, when = choice
    assert when >= earliest
    assert dues[index] == min(dues)
    assert index == dues.index(min(dues))


def test_several_units_share_one_sequence_gently() -> None:
    """Three units through choose_next: one request at a time, never closer than the gap."""
    config = Gen3Config(request_gap=0.5)
    schedules = [Gen3Schedule(config, now=0.0) for _ in range(3)]
    last_end = float("-inf")
    per_unit: dict[int, list[tuple[float, Endpoint]]] = defaultdict(list)
    sent: list[float] = []
    while True:
        choice = choose_next([s.next_request() for s in schedules], last_end + config.request_gap)
        assert choice is not None
        index, endpoint, when = choice
        if when > 2 * HOUR:
            break
        schedules[index].on_success(endpoint, when, vehicle_connected=False)
        per_unit[index].append((when, endpoint))
        sent.append(when)
        last_end = when + 0.1  # each request takes 100 ms
    assert min(b - a for a, b in itertools.pairwise(sent)) >= 0.6 - 1e-9
    for index in range(3):
        vitals = [t for t, e in per_unit[index] if e is Endpoint.VITALS]
        assert min(gaps(vitals)) >= 30.0
        assert max(gaps(vitals)) <= 32.0  # the gap delays, it never starves a unit
