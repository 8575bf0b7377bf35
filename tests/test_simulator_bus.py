"""Several units on one half-duplex bus, the virtual link, and fault injection."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twcdirector.exceptions import ConfigurationError, DeviceNotFoundError, FrameErrorKind
from twcdirector.protocol import (
    ControllerHeartbeat,
    ControllerLinkReady1,
    ControllerLinkReady2,
    FrameDecoder,
    MeterRequest,
    PeripheralHeartbeat,
    PeripheralLinkReady,
    decode_frame,
    encode,
)
from twcdirector.simulator import (
    Action,
    ActionKind,
    Bus,
    Chunk,
    Scenario,
    UnitConfig,
    VirtualLink,
    corrupt_frame,
    default_units,
)

CONTROLLER = 0xF00D


def heartbeat(link: VirtualLink, device_id: int, command: int = 0, amps: float = 0.0) -> None:
    link.write(encode(ControllerHeartbeat(CONTROLLER, device_id, command, amps)))


def status_replies(chunks: list[Chunk]) -> list[PeripheralHeartbeat]:
    return [c.message for c in chunks if isinstance(c.message, PeripheralHeartbeat)]


def run_controller(link: VirtualLink, seconds: float, period: float = 1.3) -> None:
    """Heartbeat every unit round-robin, one frame every ``period / units`` seconds."""
    ids = [unit.device_id for unit in link.bus.units]
    step = period / len(ids)
    end = link.now + seconds
    turn = 0
    while link.now + step <= end:
        unit_id = ids[turn % len(ids)]
        if turn % 7 == 3:
            link.write(encode(MeterRequest(CONTROLLER, unit_id)))
        else:
            heartbeat(link, unit_id)
        link.advance(step)
        turn += 1


def assert_half_duplex(link: VirtualLink) -> None:
    """No two transmissions overlap on the wire, and units leave the controller a gap."""
    bus = link.bus
    for before, after in itertools.pairwise(link.chunks):
        assert after.at >= before.at + len(before.data) * bus.byte_time + bus.gap - 1e-9
    writes = [t for t, _ in bus.received]
    for chunk in link.chunks:
        # A unit never starts talking within the idle guard after a controller frame.
        assert not any(t <= chunk.at < t + bus.idle_guard - 1e-9 for t in writes)


def test_three_units_answer_their_own_heartbeats_only() -> None:
    link = VirtualLink(default_units(3))
    link.advance(3)
    ids = [unit.device_id for unit in link.bus.units]
    for device_id in ids:
        heartbeat(link, device_id)
        replies = status_replies(link.advance(0.2))
        assert [(r.sender, r.receiver) for r in replies] == [(device_id, CONTROLLER)]
    assert all(unit.claimed for unit in link.bus.units)


def test_units_never_talk_over_each_other() -> None:
    link = VirtualLink(default_units(3))
    link.advance(5)
    run_controller(link, 120)
    # After the controller's second FB E2 every unit bursts five announcements at once.
    link.write(encode(ControllerLinkReady1(CONTROLLER, 1)))
    link.write(encode(ControllerLinkReady2(CONTROLLER, 1)))
    link.advance(0.3)
    link.write(encode(ControllerLinkReady2(CONTROLLER, 1)))
    burst = link.advance(1.0)
    assert Counter(c.unit for c in burst if isinstance(c.message, PeripheralLinkReady)) == {
        0: 5,
        1: 5,
        2: 5,
    }
    assert_half_duplex(link)
    assert len(link.chunks) > 100
    # Everything the units sent decodes cleanly, tail bytes and all.
    decoder = FrameDecoder()
    messages = decoder.feed(b"".join(c.data for c in link.chunks))
    assert decoder.error_count == 0
    assert len(messages) == len(link.chunks)


@settings(max_examples=30)
@given(
    st.integers(min_value=1, max_value=4),
    st.lists(st.floats(min_value=0.0, max_value=0.5), min_size=5, max_size=60),
)
def test_half_duplex_holds_for_any_controller_timing(units: int, gaps: list[float]) -> None:
    link = VirtualLink(default_units(units))
    ids = [unit.device_id for unit in link.bus.units]
    for turn, gap in enumerate(gaps):
        heartbeat(link, ids[turn % units])
        link.advance(gap)
    link.advance(2)
    assert_half_duplex(link)


def test_tail_byte_is_configurable() -> None:
    link = VirtualLink([UnitConfig(tail=0xFC), UnitConfig(device_id=0x2019, tail=None)])
    chunks = link.advance(3)
    tails = {c.unit: c.data[-1] for c in chunks}
    assert tails == {0: 0xFC, 1: 0xC0}
    for chunk in chunks:
        assert decode_frame(chunk.data) == chunk.message


def test_controller_frames_that_fail_are_counted_not_answered() -> None:
    link = VirtualLink([UnitConfig()])
    good = encode(ControllerHeartbeat(CONTROLLER, 0x1839))
    link.write(corrupt_frame(good))
    assert status_replies(link.advance(0.3)) == []
    assert link.bus.decoder.errors[FrameErrorKind.CHECKSUM] == 1
    link.write(good)
    assert len(status_replies(link.advance(0.3))) == 1


def test_controller_bytes_may_arrive_one_at_a_time() -> None:
    link = VirtualLink([UnitConfig()])
    for byte in encode(ControllerHeartbeat(CONTROLLER, 0x1839)):
        link.write(bytes((byte,)))
        link.advance(0.001)
    assert len(status_replies(link.advance(0.2))) == 1


def test_drop_replies() -> None:
    link = VirtualLink([UnitConfig()], scenario=Scenario.parse("1 drop 0 count=2"))
    link.advance(2)
    answered = []
    for _ in range(4):
        heartbeat(link, 0x1839)
        answered.append(len(status_replies(link.advance(1.0))))
    assert answered == [0, 0, 1, 1]
    assert link.bus.units[0].dropped == 2


def test_delay_replies() -> None:
    link = VirtualLink([UnitConfig(latency=(0.03, 0.03))])
    link.bus.apply(Action(0, ActionKind.DELAY, 0, seconds=0.5), 0.0)
    link.advance(2)
    heartbeat(link, 0x1839)
    sent_at = link.now
    assert status_replies(link.advance(0.5)) == []
    [late] = [c for c in link.advance(0.1) if isinstance(c.message, PeripheralHeartbeat)]
    assert late.at == pytest.approx(sent_at + 0.53)
    heartbeat(link, 0x1839)
    [on_time] = [c for c in link.advance(0.1) if isinstance(c.message, PeripheralHeartbeat)]
    assert on_time.at == pytest.approx(link.now - 0.1 + 0.03)


def test_corrupt_replies_fail_their_checksum_once() -> None:
    link = VirtualLink([UnitConfig()], scenario=Scenario.parse("0 corrupt 0"))
    link.advance(2)
    link.read_messages()  # announcements
    heartbeat(link, 0x1839)
    link.advance(0.2)
    assert link.read_messages() == []
    heartbeat(link, 0x1839)
    link.advance(0.2)
    assert [type(m) for m in link.read_messages()] == [PeripheralHeartbeat]
    decoder = link._decoder
    assert decoder.errors[FrameErrorKind.CHECKSUM] == 1


@given(st.binary(min_size=16, max_size=40))
def test_corrupt_frame_always_breaks_the_checksum_and_nothing_else(body: bytes) -> None:
    wire = encode(ControllerHeartbeat(CONTROLLER, int.from_bytes(body[:2]), 0, body[2] / 4))
    damaged = corrupt_frame(wire)
    assert len(damaged) == len(wire)
    assert sum(a != b for a, b in zip(wire, damaged, strict=True)) == 1
    decoder = FrameDecoder()
    assert decoder.feed(damaged) == []
    assert decoder.errors[FrameErrorKind.CHECKSUM] == 1


def test_noise_between_frames_is_ignored_by_a_decoder() -> None:
    link = VirtualLink([UnitConfig()], scenario=Scenario.parse("2 noise 0 count=12"))
    chunks = link.advance(4)
    noise = [c for c in chunks if c.message is None]
    assert len(noise) == 1
    assert len(noise[0].data) == 12
    assert 0xC0 not in noise[0].data
    messages = link.read_messages()
    assert all(isinstance(m, PeripheralLinkReady) for m in messages)
    assert len(messages) == len(chunks) - 1


def test_go_silent_mutes_one_unit_for_a_while() -> None:
    link = VirtualLink(default_units(2), scenario=Scenario.parse("10 silent 0 for=20"))
    link.advance(1.5)
    run_controller(link, 60)
    by_unit = {0: [], 1: []}  # type: dict[int, list[float]]
    for chunk in link.chunks:
        if isinstance(chunk.message, PeripheralHeartbeat):
            by_unit[chunk.unit].append(chunk.at)
    assert not [t for t in by_unit[0] if 10 <= t < 30]
    assert [t for t in by_unit[0] if t >= 30]
    assert [t for t in by_unit[1] if 10 <= t < 30]
    # Silent but not deaf: it still heard the heartbeats, so it never lost the controller.
    assert link.bus.units[0].claimed
    assert link.bus.units[0].muted > 0


def test_collide_then_the_controller_restart_resolves_it() -> None:
    link = VirtualLink([UnitConfig()], scenario=Scenario.parse("3 collide 0"))
    link.advance(2)
    heartbeat(link, 0x1839)
    link.advance(2)
    clash = [c.message for c in link.chunks if isinstance(c.message, PeripheralLinkReady)]
    assert clash[-1].sender == CONTROLLER
    link.write(encode(ControllerLinkReady1(CONTROLLER, 7)))
    moved = link.bus.units[0].device_id
    assert moved not in (CONTROLLER, 0x1839)
    announced = [c.message for c in link.advance(2) if isinstance(c.message, PeripheralLinkReady)]
    assert announced[0].sender == moved


def test_units_with_the_same_id_sort_themselves_out() -> None:
    link = VirtualLink([UnitConfig(seed=1), UnitConfig(seed=2)])
    link.advance(5)
    first, second = link.bus.units
    assert first.device_id != second.device_id
    assert 0x1839 in (first.device_id, second.device_id)


def test_scenario_runs_at_its_times() -> None:
    scenario = Scenario.parse("2 plug 0; +10 unplug 0; 15 reboot 0")
    bus = Bus([UnitConfig()], now=100.0, scenario=scenario)
    link = VirtualLink(bus=bus, now=100.0)
    link.advance(1.9)
    assert not bus.units[0].plugged
    link.advance(0.2)
    assert bus.units[0].plugged
    link.advance(10)
    assert not bus.units[0].plugged
    sign = bus.units[0].sign
    link.advance(5)
    assert bus.units[0].sign != sign
    assert not bus.pending


def test_a_failing_scenario_action_is_skipped_not_fatal() -> None:
    link = VirtualLink([UnitConfig()], scenario=Scenario.parse("1 unplug 0; 2 plug 0"))
    link.advance(3)
    assert link.bus.units[0].plugged


def test_bus_rejects_unknown_units_and_bad_settings() -> None:
    with pytest.raises(DeviceNotFoundError):
        Bus([UnitConfig()], scenario=Scenario.parse("1 plug 3"))
    bus = Bus([UnitConfig()])
    with pytest.raises(DeviceNotFoundError):
        bus.find(0x4242)
    assert bus.find(0x1839) is bus.units[0]
    with pytest.raises(ConfigurationError):
        Bus(baudrate=0)
    with pytest.raises(ConfigurationError):
        VirtualLink().advance(-1)


def test_hours_of_bus_time_run_fast() -> None:
    """Two hours with three units and a controller, in virtual time."""
    link = VirtualLink(default_units(3), scenario=Scenario.parse("5 plug 0; 5 plug 1"))
    link.advance(2)
    # Allocate 16 A to the plugged units through command 05.
    for unit in link.bus.units:
        heartbeat(link, unit.device_id, 5, 16.0)
        link.advance(0.3)
    run_controller(link, 7200)
    units = link.bus.units
    assert [u.actual_amps for u in units] == [16.0, 16.0, 0.25]
    assert units[0].lifetime_kwh - 1234 == pytest.approx(16 * 240 * 2 / 1000, rel=0.01)
    assert all(u.claimed for u in units)
