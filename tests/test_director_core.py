"""The pure controller core on a simulated bus: cadence, discovery, loss, commands, faults."""

from __future__ import annotations

import itertools
import statistics

import pytest

from tests.director_fakes import BYTE_TIME, CoreBus, FakePeripheral
from twcdirector import events
from twcdirector.exceptions import (
    CurrentLimitError,
    DeviceNotFoundError,
    NotApplicableError,
    UsageError,
)
from twcdirector.gen2.commands import CommandKind
from twcdirector.gen2.config import DirectorConfig
from twcdirector.gen2.controller import BusController, Purpose
from twcdirector.protocol import (
    CloseContactors,
    ControllerHeartbeat,
    ControllerLinkReady1,
    ControllerLinkReady2,
    DataRequest,
    HeartbeatCommand,
    MeterRequest,
    OpenContactors,
    PeripheralHeartbeat,
    PeripheralLinkReady,
    PeripheralState,
    ProtocolVersion,
    SerialRequest,
    UnknownMessage,
    VersionRequest,
    VinHighReply,
    VinHighRequest,
    VinLowRequest,
    VinMidRequest,
    decode_frame,
    encode,
)

FRAME_16 = 18 * BYTE_TIME  # a 16-byte body with its two C0 on the wire


def bus(*peripherals: FakePeripheral, **config: object) -> CoreBus:
    return CoreBus(BusController(DirectorConfig(**config)), list(peripherals))  # type: ignore[arg-type]


def periods(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


# --- start-up and cadence ----------------------------------------------------------------


def test_startup_burst_is_four_e1_at_1300ms_then_three_e2_at_300ms() -> None:
    harness = bus()
    harness.run_for(10)
    e1 = [time for time, _ in harness.sent(ControllerLinkReady1)]
    e2 = [time for time, _ in harness.sent(ControllerLinkReady2)]
    assert len(e1) == 4
    assert len(e2) == 3
    assert all(p == pytest.approx(1.3, abs=0.001) for p in periods(e1))
    assert all(p == pytest.approx(0.3, abs=0.001) for p in periods(e2))
    assert e2[0] - e1[-1] == pytest.approx(1.3, abs=0.001)
    # Zeros after the sign byte, 16-byte bodies, our ID (SPEC §8.2).
    for _, message in harness.sent(ControllerLinkReady1) + harness.sent(ControllerLinkReady2):
        assert message.sender == 0xF00D
        assert message.length == 16
        assert message.reserved == 0
    assert len(harness.wire) == 7  # and then silence: nobody answered


def test_cadence_matches_spec_for_one_peripheral() -> None:
    unit = FakePeripheral(0x1839)
    harness = bus(unit)
    harness.run_for(240)
    # From t=10 on: at start-up the unit's second announce is answered with a heartbeat at once.
    beats = [time for time, _ in harness.sent(ControllerHeartbeat, to=0x1839) if time > 10]
    beat_periods = periods(beats)
    assert statistics.mean(beat_periods) == pytest.approx(1.3, abs=0.005)
    assert max(beat_periods) <= 1.3 + 0.05
    assert min(beat_periods) >= 1.3 - 0.05
    for kind in (
        MeterRequest,
        VersionRequest,
        SerialRequest,
        VinHighRequest,
        VinMidRequest,
        VinLowRequest,
    ):
        times = [time for time, _ in harness.sent(kind, to=0x1839)]
        assert len(times) >= 18
        request_periods = periods(times)
        assert statistics.mean(request_periods) == pytest.approx(11.8, abs=0.15), kind
        assert all(10.4 <= p <= 13.2 for p in request_periods), (kind, request_periods)
    # Never more than one data request between two heartbeats.
    requests = [time for time, _ in harness.sent(DataRequest, to=0x1839)]
    for start, end in itertools.pairwise(beats):
        assert sum(start < time < end for time in requests) <= 1
    # Consecutive requests about one heartbeat apart (SPEC §8.3), once the burst is over.
    assert min(periods([time for time in requests if time > 10])) >= 1.3 - 0.05


def test_cadence_with_three_peripherals_keeps_every_heartbeat_on_time() -> None:
    units = [FakePeripheral(0x1111), FakePeripheral(0x2222), FakePeripheral(0x3333)]
    harness = bus(*units)
    harness.run_for(120)
    for unit in units:
        beats = [time for time, _ in harness.sent(ControllerHeartbeat, to=unit.device_id)]
        beats = [time for time in beats if time > 10]
        assert statistics.mean(periods(beats)) == pytest.approx(1.3, abs=0.01)
        assert max(periods(beats)) <= 1.3 + 0.3
        requests = [time for time, _ in harness.sent(DataRequest, to=unit.device_id)]
        assert len(requests) >= 6 * 8


def test_measured_reply_timeout_is_250ms_after_the_frame() -> None:
    unit = FakePeripheral(0x1839)
    harness = bus(unit)
    harness.run_for(5)
    unit.silent = True
    # A set-current command: re-sending it is harmless, so each retry is the same frame.
    harness.core.submit(0x1839, CommandKind.SET_SESSION_CURRENT, 0, harness.now)
    harness.run_for(3.9 + 0.25)
    assert harness.events(events.COMMAND_FAILED) == []  # the grace after the last attempt
    harness.run_for(2.6)
    attempts = [
        time
        for time, message in harness.sent(ControllerHeartbeat, to=0x1839)
        if message.command == HeartbeatCommand.SET_SESSION_CURRENT
    ]
    assert len(attempts) == 4  # the first and 3 re-sends
    # SPEC §8.7: re-sends are spaced by the heartbeat interval (they were 0.25 s apart).
    for gap in periods(attempts):
        assert gap == pytest.approx(1.3, abs=1e-6)
    [failed] = harness.events(events.COMMAND_FAILED)
    # The last attempt failed once its reply timeout (250 ms after the frame) passed.
    assert failed.payload.attempts == 4


def test_inter_frame_gap_is_kept_after_the_last_byte_heard() -> None:
    unit = FakePeripheral(0x1839)
    harness = bus(unit)
    harness.run_for(30)
    heard = [time for time, _ in harness.replies]
    for time, _ in harness.wire:
        earlier = [h for h in heard if h < time]
        if earlier:
            assert time - earlier[-1] >= 0.010 - 1e-9


# --- discovery, loss, identity -------------------------------------------------------------


def test_a_peripheral_is_claimed_at_once_and_announced_when_it_answers() -> None:
    unit = FakePeripheral(0x1839)
    harness = bus()
    harness.power_on(unit, at=5.0)
    harness.run_for(8)
    announce = next(
        time for time, message in harness.replies if isinstance(message, PeripheralLinkReady)
    )
    first_beat = harness.sent(ControllerHeartbeat, to=0x1839)[0][0]
    assert announce == pytest.approx(5.0)
    assert first_beat - announce < 0.3  # at once (after a frame in flight at most)
    new = harness.events(events.NEW_DEVICE)
    assert [notice.device_id for notice in new] == [0x1839]
    answer = next(
        time for time, message in harness.replies if isinstance(message, PeripheralHeartbeat)
    )
    assert answer > first_beat
    record = harness.core.record(0x1839)
    assert record.advertised_max == 32.0
    assert record.protocol is ProtocolVersion.V2
    assert record.sign == 0x52


def test_data_replies_fill_the_record() -> None:
    unit = FakePeripheral(0x1839, vin="5YJ3E1EA7KF000001", kwh=924, volts=(244, 240, 245))
    harness = bus(unit)
    harness.run_for(15)
    snap = harness.core.record(0x1839).snapshot()
    assert snap.lifetime_kwh == 924
    assert snap.voltages == (244, 240, 245)
    assert snap.firmware == "4.5.3.2"
    assert snap.serial == "A18B0001839"
    assert snap.vin_fragments == ("5YJ3E1E", "A7KF000", "001")
    assert snap.vin == "5YJ3E1EA7KF000001"
    assert snap.car_connected is True
    assert snap.state_name == "READY"
    assert snap.online is True
    assert snap.frames > 10
    assert snap.timeouts == 0


def test_car_connected_fires_on_full_vin_and_again_when_a_fragment_empties() -> None:
    unit = FakePeripheral(0x1839)
    harness = bus(unit)
    harness.run_for(15)
    assert harness.events(events.CAR_CONNECTED) == []  # empty VIN all along: no event
    unit.plug("5YJ3E1EA7KF000001")
    harness.run_for(15)
    unit.plug("")
    harness.run_for(15)
    payloads = [notice.payload for notice in harness.events(events.CAR_CONNECTED)]
    assert payloads == [
        events.CarConnected("1839", True, "5YJ3E1EA7KF000001"),
        events.CarConnected("1839", False, None),
    ]


def test_a_silent_peripheral_is_lost_after_26s_and_found_when_it_announces() -> None:
    unit = FakePeripheral(0x1839)
    harness = bus(unit)
    harness.run_for(10)
    unit.silent = True
    silent_since = harness.replies[-1][0]
    harness.run_for(40)
    lost = harness.events(events.DEVICE_LOST)
    assert len(lost) == 1
    assert lost[0].payload.device_id == "1839"
    assert lost[0].payload.silent_for == pytest.approx(26.0, abs=0.01)
    assert harness.core.record(0x1839).online is False
    # No heartbeats to a lost unit.
    after = [t for t, _ in harness.sent(ControllerHeartbeat, to=0x1839) if t > silent_since + 26.1]
    assert after == []
    unit.silent = False
    unit.claimed = False
    harness.power_on(unit)
    harness.run_for(5)
    assert [n.payload for n in harness.events(events.DEVICE_FOUND)] == [events.DeviceFound("1839")]
    assert len(harness.events(events.NEW_DEVICE)) == 1  # the same unit, not a new one
    assert harness.core.record(0x1839).online is True


def test_an_announced_but_never_answering_unit_is_forgotten_quietly() -> None:
    unit = FakePeripheral(0x1839)
    unit.claimed = False
    harness = bus()
    harness.inject(unit.link_ready())
    harness.run_for(40)
    assert harness.events(events.NEW_DEVICE) == []
    assert harness.events(events.DEVICE_LOST) == []
    assert list(harness.core.records()) == []
    assert [m for _, m in harness.sent(ControllerHeartbeat)] != []


def test_a_peripheral_first_heard_by_heartbeat_gets_its_version_from_the_length() -> None:
    harness = bus()
    harness.inject(PeripheralHeartbeat(0x2019, 0xF00D, PeripheralState.READY, 0, 0, length=14))
    harness.run_for(2)
    record = harness.core.record(0x2019)
    assert record.protocol is ProtocolVersion.V1
    beats = harness.sent(ControllerHeartbeat, to=0x2019)
    assert beats
    assert all(message.length == 14 for _, message in beats)


def test_a_peripheral_with_our_id_reruns_the_startup_burst() -> None:
    harness = bus()
    harness.run_for(8)  # the first burst is over
    harness.inject(PeripheralLinkReady(0xF00D, 0x11, 32.0))
    harness.run_for(8)
    errors = harness.events(events.BUS_ERROR)
    assert [n.payload.kind for n in errors] == ["id_collision"]
    assert errors[0].payload.device_id == "F00D"
    assert len(harness.sent(ControllerLinkReady1)) == 8
    assert len(harness.sent(ControllerLinkReady2)) == 6
    assert list(harness.core.records()) == []


def test_a_second_controller_is_a_bus_error_reported_once_per_episode() -> None:
    harness = bus()
    harness.run_for(1)
    for _ in range(5):
        harness.inject(
            ControllerHeartbeat(0x7777, 0x1839), raw=encode(ControllerHeartbeat(0x7777, 0x1839))
        )
        harness.run_for(1.3)
    harness.inject(
        ControllerLinkReady1(0x7777, 0x77), raw=encode(ControllerLinkReady1(0x7777, 0x77))
    )
    errors = harness.events(events.BUS_ERROR)
    assert [(n.payload.kind, n.payload.device_id) for n in errors] == [
        ("second_controller", "7777")
    ]
    # The frames themselves are reported, not dropped.
    assert len(harness.events(events.BUS_MESSAGE)) == 6


def test_our_own_echo_is_not_a_second_controller() -> None:
    harness = bus()
    harness.run_for(1)
    for _, transmission in list(harness.wire):
        harness.inject(transmission.message, raw=transmission.data)
    assert harness.events(events.BUS_ERROR) == []
    assert harness.core.echoes == len(harness.wire)


def test_more_peripherals_than_configured_are_reported_and_left_alone() -> None:
    units = [FakePeripheral(0x1000 + i) for i in range(4)]
    harness = bus(*units, max_peripherals=3)
    harness.run_for(20)
    assert [r.device_id for r in harness.core.records()] == [0x1000, 0x1001, 0x1002]
    assert harness.sent(ControllerHeartbeat, to=0x1003) == []
    errors = harness.events(events.BUS_ERROR)
    assert [(n.payload.kind, n.payload.device_id) for n in errors] == [
        ("too_many_peripherals", "1003")
    ]


def test_unknown_codes_are_never_dropped() -> None:
    unit = FakePeripheral(0x1839)
    harness = bus(unit)
    harness.run_for(3)
    # FD 19 from a known unit, FD 1A from nobody we know.
    known = bytes.fromhex("fd191839") + bytes(11)
    unknown = bytes.fromhex("fd1a4242") + bytes(11)
    for body in (known, unknown):
        framed = b"\xc0" + body + bytes((sum(body[1:]) & 0xFF,)) + b"\xc0"
        harness.inject(decode_frame(framed), raw=framed)
    on_device = [
        n for n in harness.events(events.ALL_COMMANDS) if isinstance(n.payload, UnknownMessage)
    ]
    assert [(n.device_id, n.payload.command) for n in on_device] == [(0x1839, 0x19)]
    on_bus = [
        n for n in harness.events(events.BUS_MESSAGE) if isinstance(n.payload, UnknownMessage)
    ]
    assert [(n.device_id, n.payload.command) for n in on_bus] == [(None, 0x1A)]


def test_each_decoded_message_fires_its_command_event_and_all_commands() -> None:
    unit = FakePeripheral(0x1839)
    harness = bus(unit)
    harness.run_for(15)
    names = {n.event for n in harness.notices if n.device_id == 0x1839}
    assert {
        "TWC_STATUS",
        "TWC_METER",
        "TWC_VERSION",
        "TWC_SERIAL",
        "TWC_VIN_HIGH",
        "TWC_VIN_MID",
        "TWC_VIN_LOW",
        events.ALL_COMMANDS,
    } <= names
    all_commands = [n for n in harness.notices if n.event == events.ALL_COMMANDS and n.device_id]
    named = [
        n
        for n in harness.notices
        if n.event.startswith("TWC_")
        and n.event
        in {
            "TWC_STATUS",
            "TWC_METER",
            "TWC_VERSION",
            "TWC_SERIAL",
            "TWC_VIN_HIGH",
            "TWC_VIN_MID",
            "TWC_VIN_LOW",
            "TWC_PERIPHERAL",
        }
    ]
    assert len(all_commands) == len(named)


# --- commands ------------------------------------------------------------------------------


def ready(*peripherals: FakePeripheral, **config: object) -> CoreBus:
    config.setdefault("max_current", 32.0)
    harness = bus(*peripherals, **config)
    harness.run_for(3)
    return harness


@pytest.mark.parametrize(
    ("kind", "amps", "command"),
    [
        (CommandKind.SET_DEFAULT_CURRENT, 20, HeartbeatCommand.SET_DEFAULT_CURRENT),
        (CommandKind.SET_SESSION_CURRENT, 16, HeartbeatCommand.SET_SESSION_CURRENT),
        (CommandKind.INCREASE_CURRENT, 0, HeartbeatCommand.INCREASE_CURRENT),
        (CommandKind.DECREASE_CURRENT, 0, HeartbeatCommand.DECREASE_CURRENT),
    ],
)
def test_a_heartbeat_command_goes_out_in_the_next_free_slot_and_is_confirmed(
    kind: CommandKind, amps: float, command: HeartbeatCommand
) -> None:
    unit = FakePeripheral(0x1839, allowed=10.0, state=PeripheralState.CHARGING)
    harness = ready(unit)
    harness.run_for(0.5)  # between two heartbeats, bus idle
    submitted = harness.now
    ticket = harness.core.submit(0x1839, kind, amps, submitted)
    harness.run_for(3)
    carrying = [
        (t, m) for t, m in harness.sent(ControllerHeartbeat, to=0x1839) if m.command == command
    ]
    assert len(carrying) == 1
    assert carrying[0][0] - submitted < 0.05  # not at the next heartbeat tick
    assert carrying[0][1].amps == amps
    confirmed = harness.events(events.COMMAND_CONFIRMED)
    assert [
        (n.ticket, n.payload.command, n.payload.attempts, n.payload.confirmed) for n in confirmed
    ] == [(ticket, kind.value, 1, True)]
    # Later heartbeats are back to 00.
    later = [
        m.command for t, m in harness.sent(ControllerHeartbeat, to=0x1839) if t > carrying[0][0]
    ]
    assert later
    assert set(later) == {HeartbeatCommand.NO_CHANGE}


@pytest.mark.parametrize(
    ("kind", "frame", "ack"),
    [
        (CommandKind.CLOSE_CONTACTORS, CloseContactors, "TWC_CLOSE_CONTACTORS"),
        (CommandKind.OPEN_CONTACTORS, OpenContactors, "TWC_OPEN_CONTACTORS"),
    ],
)
def test_contactor_commands_are_confirmed_by_their_ack(
    kind: CommandKind, frame: type, ack: str
) -> None:
    unit = FakePeripheral(0x1839)
    harness = ready(unit)
    harness.core.submit(0x1839, kind, 0, harness.now)
    harness.run_for(1)
    sent = harness.sent(frame, to=0x1839)
    assert len(sent) == 1
    assert sent[0][1].sender == 0xF00D
    assert [n.payload.confirmed for n in harness.events(events.COMMAND_CONFIRMED)] == [True]
    assert [n.device_id for n in harness.events(ack)] == [0x1839]


def test_an_unconfirmed_command_is_resent_three_times_then_fails() -> None:
    unit = FakePeripheral(0x1839, reflect=False)
    harness = ready(unit)
    ticket = harness.core.submit(0x1839, CommandKind.SET_SESSION_CURRENT, 16, harness.now)
    harness.run_for(10)
    attempts = [m for _, m in harness.sent(ControllerHeartbeat, to=0x1839) if m.command == 9]
    assert len(attempts) == 4
    failed = harness.events(events.COMMAND_FAILED)
    assert len(failed) == 1
    assert failed[0].ticket == ticket
    assert failed[0].payload == events.CommandOutcome(
        "1839", "set_session_current", 16.0, 4, False, failed[0].payload.reason
    )
    assert "did not reflect" in failed[0].payload.reason
    assert harness.core.record(0x1839).errors == 1
    assert harness.events(events.COMMAND_CONFIRMED) == []


def test_a_lost_reply_is_retried_and_then_confirmed() -> None:
    dropped: list[object] = []

    def drop_first_status(message: object) -> bool:
        if (
            isinstance(message, PeripheralHeartbeat)
            and message.state == PeripheralState.LIMIT_SET
            and not dropped
        ):
            dropped.append(message)
            return True
        return False

    unit = FakePeripheral(0x1839)
    harness = CoreBus(BusController(DirectorConfig(max_current=32)), [unit], drop=drop_first_status)
    harness.run_for(3)
    harness.core.submit(0x1839, CommandKind.SET_SESSION_CURRENT, 16, harness.now)
    harness.run_for(3)
    confirmed = harness.events(events.COMMAND_CONFIRMED)
    assert [n.payload.attempts for n in confirmed] == [2]
    assert harness.core.record(0x1839).timeouts == 1


def test_commands_on_a_v1_unit_use_05_and_refuse_increase() -> None:
    unit = FakePeripheral(0x2019, protocol=ProtocolVersion.V1)
    harness = ready(unit)
    with pytest.raises(NotApplicableError):
        harness.core.submit(0x2019, CommandKind.INCREASE_CURRENT, 0, harness.now)
    with pytest.raises(NotApplicableError):
        harness.core.submit(0x2019, CommandKind.DECREASE_CURRENT, 0, harness.now)
    with pytest.raises(CurrentLimitError):
        harness.core.submit(0x2019, CommandKind.SET_SESSION_CURRENT, 4, harness.now)
    harness.core.submit(0x2019, CommandKind.SET_SESSION_CURRENT, 5, harness.now)
    harness.run_for(2)
    carrying = [m for _, m in harness.sent(ControllerHeartbeat, to=0x2019) if m.command]
    assert [(m.command, m.amps, m.length) for m in carrying] == [
        (HeartbeatCommand.SET_DEFAULT_CURRENT, 5, 14)
    ]
    assert [n.payload.confirmed for n in harness.events(events.COMMAND_CONFIRMED)] == [True]


@pytest.mark.parametrize("amps", [-1, 5, 6.5, 33, float("nan"), float("inf"), 1000])
def test_illegal_currents_raise_and_send_nothing(amps: float) -> None:
    unit = FakePeripheral(0x1839)
    harness = ready(unit)
    before = len(harness.wire)
    with pytest.raises(CurrentLimitError):
        harness.core.submit(0x1839, CommandKind.SET_SESSION_CURRENT, amps, harness.now)
    harness.run_for(0.001)
    assert len(harness.wire) == before
    assert harness.core.pending(0x1839) == 0


def test_without_a_configured_maximum_only_zero_may_be_sent() -> None:
    unit = FakePeripheral(0x1839, state=PeripheralState.CHARGING)
    harness = bus(unit)
    harness.run_for(3)
    with pytest.raises(CurrentLimitError, match="no maximum"):
        harness.core.submit(0x1839, CommandKind.SET_SESSION_CURRENT, 6, harness.now)
    with pytest.raises(CurrentLimitError):
        harness.core.submit(0x1839, CommandKind.INCREASE_CURRENT, 0, harness.now)
    harness.core.submit(0x1839, CommandKind.SET_SESSION_CURRENT, 0, harness.now)
    harness.run_for(2)
    assert [n.payload.amps for n in harness.events(events.COMMAND_CONFIRMED)] == [0.0]


def test_the_advertised_maximum_and_a_grant_are_ceilings() -> None:
    unit = FakePeripheral(0x1839, max_amps=16.0)
    harness = ready(unit, max_current=40.0)
    with pytest.raises(CurrentLimitError, match="16"):
        harness.core.submit(0x1839, CommandKind.SET_SESSION_CURRENT, 20, harness.now)
    harness.core.limits.set_grant(0x1839, 10)
    with pytest.raises(CurrentLimitError):
        harness.core.submit(0x1839, CommandKind.SET_SESSION_CURRENT, 12, harness.now)
    harness.core.submit(0x1839, CommandKind.SET_SESSION_CURRENT, 10, harness.now)


def test_a_command_queued_above_a_grant_lowered_later_is_refused_at_the_wire() -> None:
    unit = FakePeripheral(0x1839)
    harness = ready(unit)
    harness.run_for(0.5)
    harness.core.submit(0x1839, CommandKind.SET_SESSION_CURRENT, 32, harness.now)
    harness.core.limits.set_grant(0x1839, 16)  # capacity sharing lowered it meanwhile
    harness.run_for(3)
    assert [m for _, m in harness.sent(ControllerHeartbeat, to=0x1839) if m.amps > 16] == []
    failed = harness.events(events.COMMAND_FAILED)
    assert len(failed) == 1
    assert "safety" in failed[0].payload.reason


def test_commands_are_refused_for_unknown_offline_and_listen_only() -> None:
    unit = FakePeripheral(0x1839)
    harness = ready(unit)
    with pytest.raises(DeviceNotFoundError):
        harness.core.submit(0x4242, CommandKind.SET_SESSION_CURRENT, 6, harness.now)
    unit.silent = True
    harness.run_for(30)
    with pytest.raises(NotApplicableError, match="offline"):
        harness.core.submit(0x1839, CommandKind.SET_SESSION_CURRENT, 6, harness.now)
    listener = CoreBus(BusController(DirectorConfig(listen_only=True)), [])
    listener.inject(PeripheralHeartbeat(0x1839, 0x7777, 0, 0, 0))
    with pytest.raises(UsageError, match="listening"):
        listener.core.submit(0x1839, CommandKind.SET_SESSION_CURRENT, 0, listener.now)


def test_a_unit_asking_for_an_allocation_gets_08_with_its_allowed_current() -> None:
    unit = FakePeripheral(0x1839, state=PeripheralState.STARTING, allowed=0.0)
    harness = ready(unit, max_current=20.0)
    harness.run_for(3)
    acks = [
        m
        for _, m in harness.sent(ControllerHeartbeat, to=0x1839)
        if m.command == HeartbeatCommand.ACK_CHARGE_START
    ]
    assert [m.amps for m in acks] == [20.0]  # then the unit echoes 20 A and we go back to 00
    assert harness.sent(ControllerHeartbeat, to=0x1839)[-1][1].command == HeartbeatCommand.NO_CHANGE


def test_without_a_configured_maximum_an_allocation_request_gets_zero() -> None:
    unit = FakePeripheral(0x1839, state=PeripheralState.STARTING, allowed=0.0)
    harness = bus(unit)
    harness.run_for(5)
    acks = [
        m
        for _, m in harness.sent(ControllerHeartbeat, to=0x1839)
        if m.command == HeartbeatCommand.ACK_CHARGE_START
    ]
    assert acks
    assert {m.amps for m in acks} == {0.0}


# --- heartbeat priority ----------------------------------------------------------------------


def test_heartbeats_are_never_starved_by_commands_and_requests() -> None:
    units = [FakePeripheral(0x1111), FakePeripheral(0x2222), FakePeripheral(0x3333, reflect=False)]
    harness = CoreBus(BusController(DirectorConfig(max_current=32)), units, reply_delay=0.2)
    harness.run_for(5)
    # Flood: a command to every unit every 100 ms for a minute (the third never confirms).
    end = harness.now + 60
    while harness.now < end:
        for unit in units:
            harness.core.submit(unit.device_id, CommandKind.OPEN_CONTACTORS, 0, harness.now)
        harness.run_for(0.1)
    for unit in units:
        beats = [t for t, _ in harness.sent(ControllerHeartbeat, to=unit.device_id) if t > 5]
        # At most one exchange (frame + reply timeout + gap) late.
        assert max(periods(beats)) <= 1.3 + FRAME_16 + 0.25 + 0.01 + 1e-6, unit
    purposes = {tx.purpose for _, tx in harness.wire}
    assert Purpose.COMMAND in purposes


def test_listen_only_core_never_transmits() -> None:
    harness = CoreBus(BusController(DirectorConfig(listen_only=True)), [FakePeripheral(0x1839)])
    harness.run_for(60)
    assert harness.wire == []
    # It still hears the unit announcing and reports it.
    assert [n.device_id for n in harness.events(events.NEW_DEVICE)] == [0x1839]
    assert harness.events(events.BUS_ERROR) == []


def test_framing_errors_become_events() -> None:
    harness = bus()
    good = bytearray(
        b"\xc0" + bytes.fromhex("fde2183952") + bytes.fromhex("0c80") + bytes(8) + b"\x11\xc0"
    )
    good[-2] ^= 0xFF  # break the checksum
    harness.inject(PeripheralLinkReady(0, 0, 0), raw=bytes(good))
    errors = harness.events(events.FRAMING_ERROR)
    assert len(errors) == 1
    assert errors[0].payload.kind == "checksum"


def test_vin_reply_without_car_keeps_state() -> None:
    unit = FakePeripheral(0x1839)
    harness = ready(unit)
    record = harness.core.record(0x1839)
    for notice in record.update(VinHighReply(0x1839, ""), harness.now):
        assert notice.event != events.CAR_CONNECTED


def test_a_reannounce_moves_the_advertised_ceiling_both_ways() -> None:
    unit = FakePeripheral(0x1839, max_amps=16.0)
    harness = ready(unit, max_current=40.0)
    harness.inject(PeripheralLinkReady(0x1839, unit.sign, 32.0))
    harness.core.submit(0x1839, CommandKind.SET_DEFAULT_CURRENT, 32, harness.now)
    # Queued at 32 A; the unit then says it is rated 16 A: the wire check refuses the frame.
    harness.inject(PeripheralLinkReady(0x1839, unit.sign, 16.0))
    harness.run_for(3)
    assert [m for _, m in harness.sent(ControllerHeartbeat, to=0x1839) if m.amps > 16] == []
    assert "safety" in harness.events(events.COMMAND_FAILED)[0].payload.reason


def test_a_command_between_ticks_never_stretches_the_units_heartbeat_gap() -> None:
    """SPEC §8.3: every 1300 ms, even when a command went out early in a free slot."""
    unit = FakePeripheral(0x1839)
    harness = bus(unit, max_current=32)
    harness.run_for(10)
    for offset in (0.2, 0.5, 0.9, 1.2):
        beat = harness.sent(ControllerHeartbeat, to=0x1839)[-1][0]
        harness.run_until(beat + offset)
        harness.core.submit(0x1839, CommandKind.SET_SESSION_CURRENT, 16, harness.now)
        harness.run_for(4)
    times = [time for time, _ in harness.sent(ControllerHeartbeat, to=0x1839)]
    assert max(periods(times)) <= 1.3 + 0.05
