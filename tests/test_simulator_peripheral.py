"""One simulated unit, driven in virtual time: requests, announcements, identity, timeouts."""

from __future__ import annotations

import itertools

import pytest

from twcdirector.exceptions import NotApplicableError
from twcdirector.protocol import (
    CloseContactors,
    CloseContactorsAck,
    Commands,
    ControllerHeartbeat,
    ControllerLinkReady1,
    ControllerLinkReady2,
    DataRequest,
    HeartbeatCommand,
    Message,
    MeterReply,
    MeterRequest,
    OpenContactors,
    OpenContactorsAck,
    PeripheralHeartbeat,
    PeripheralLinkReady,
    PeripheralState,
    ProtocolVersion,
    SerialReply,
    SerialRequest,
    VersionReply,
    VersionRequest,
    VinHighReply,
    VinHighRequest,
    VinLowReply,
    VinLowRequest,
    VinMidReply,
    VinMidRequest,
    add_checksum,
    decode_frame,
    encode,
    frame,
)
from twcdirector.simulator import (
    Car,
    Phase,
    SimulatedPeripheral,
    Transmission,
    UnitConfig,
    make_vin,
    vin_check_digit,
)

CONTROLLER = 0xF00D
UNIT = 0x1839
REQUESTS: list[type[DataRequest]] = [
    MeterRequest,
    VersionRequest,
    SerialRequest,
    VinHighRequest,
    VinMidRequest,
    VinLowRequest,
]


def drain(unit: SimulatedPeripheral, now: float) -> list[Transmission]:
    """Everything the unit has due by ``now``, as the bus would take it."""
    unit.advance(now)
    out = []
    while (due := unit.peek_due()) is not None and due <= now:
        item = unit.pop(due)
        if item is not None:
            out.append(item)
    return out


def replies(unit: SimulatedPeripheral, message: Message, now: float) -> list[Message]:
    """Send one message; return the decoded replies due within 160 ms (not announcements)."""
    drain(unit, now)
    unit.receive(message, now)
    return [decode_frame(item.data) for item in drain(unit, now + 0.160) if item.reply]


def heartbeat(
    unit: SimulatedPeripheral, now: float, command: int = 0, amps: float = 0.0
) -> PeripheralHeartbeat:
    [reply] = replies(unit, ControllerHeartbeat(CONTROLLER, unit.device_id, command, amps), now)
    assert isinstance(reply, PeripheralHeartbeat)
    return reply


def test_replies_come_within_160_ms_and_decode_to_what_was_built() -> None:
    unit = SimulatedPeripheral(UnitConfig(), now=0.0)
    drain(unit, 10.0)
    unit.receive(ControllerHeartbeat(CONTROLLER, UNIT), 10.0)
    [item] = drain(unit, 10.2)
    assert 10.020 <= item.due <= 10.060
    assert item.reply
    assert decode_frame(item.data) == item.message


@pytest.mark.parametrize("length", [13, 14, 15, 16])
@pytest.mark.parametrize("request_type", REQUESTS, ids=lambda cls: cls.__name__)
def test_every_data_request_of_every_length_is_answered(
    request_type: type[DataRequest], length: int
) -> None:
    unit = SimulatedPeripheral(UnitConfig(), now=0.0)
    unit.plug_in(0.0, Car(vin=make_vin(42)))
    request = request_type(CONTROLLER, UNIT, length)
    # The bytes a real controller sends decode to the request the unit then hears.
    assert decode_frame(encode(request)) == request
    [reply] = replies(unit, request, 5.0)
    assert reply.sender == UNIT
    assert reply.COMMAND == request.COMMAND
    assert unit.requests[request.COMMAND] == 1
    expected_length = 16 if request_type is VersionRequest else 20
    assert reply.length == expected_length


@pytest.mark.parametrize("length", [13, 14, 15, 16])
@pytest.mark.parametrize("protocol", [ProtocolVersion.V1, ProtocolVersion.V2])
def test_heartbeats_of_every_length_are_answered_at_the_units_length(
    length: int, protocol: ProtocolVersion
) -> None:
    unit = SimulatedPeripheral(UnitConfig(protocol=protocol), now=0.0)
    request = ControllerHeartbeat(
        CONTROLLER, UNIT, HeartbeatCommand.SET_DEFAULT_CURRENT, 10, 0, length
    )
    assert decode_frame(encode(request)) == request
    [reply] = replies(unit, request, 1.0)
    assert isinstance(reply, PeripheralHeartbeat)
    assert reply.max_amps == 10.0
    assert reply.length == (14 if protocol is ProtocolVersion.V1 else 16)


def test_data_replies_carry_the_configured_identity() -> None:
    vin = make_vin(7)
    config = UnitConfig(firmware=(4, 5, 3, 9), serial="A18B0001234", lifetime_kwh=924)
    unit = SimulatedPeripheral(config, now=0.0)
    unit.plug_in(0.0, Car(vin=vin))
    got = {type(r): r for req in REQUESTS for r in replies(unit, req(CONTROLLER, UNIT), 1.0)}
    meter = got[MeterReply]
    assert isinstance(meter, MeterReply)
    assert meter.lifetime_kwh == 924
    assert meter.voltages == (240, 0, 0)
    version = got[VersionReply]
    assert isinstance(version, VersionReply)
    assert version.version_string == "4.5.3.9"
    serial = got[SerialReply]
    assert isinstance(serial, SerialReply)
    assert serial.serial == "A18B0001234"
    fragments = [got[cls] for cls in (VinHighReply, VinMidReply, VinLowReply)]
    assert [len(f.text) for f in fragments] == [7, 7, 3]  # type: ignore[attr-defined]
    assert "".join(f.text for f in fragments) == vin  # type: ignore[attr-defined]


def test_the_default_vins_are_well_formed() -> None:
    for number in (0, 1, 999_999):
        vin = make_vin(number)
        assert len(vin) == 17
        assert vin[8] == vin_check_digit(vin)
    # A published, valid VIN checks out (its check digit is X).
    assert vin_check_digit("1M8GDM9AXKP042788") == "X"


@pytest.mark.parametrize(
    ("config", "car"),
    [
        (UnitConfig(reports_vin=False), Car()),  # DIP switch 2 down / old unit
        (UnitConfig(), Car(vin=None)),  # non-Tesla car
        (UnitConfig(), None),  # nothing plugged in
    ],
)
def test_vin_fragments_are_empty_without_a_reporting_car(
    config: UnitConfig, car: Car | None
) -> None:
    unit = SimulatedPeripheral(config, now=0.0)
    if car is not None:
        unit.plug_in(0.0, car)
    for request in (VinHighRequest, VinMidRequest, VinLowRequest):
        [reply] = replies(unit, request(CONTROLLER, UNIT), 1.0)
        assert isinstance(reply, (VinHighReply, VinMidReply, VinLowReply))
        assert reply.empty
        assert reply.length == 20


def test_vin_empties_again_after_unplug() -> None:
    unit = SimulatedPeripheral(UnitConfig(), now=0.0)
    unit.plug_in(0.0, Car())
    [before] = replies(unit, VinHighRequest(CONTROLLER, UNIT), 1.0)
    unit.unplug(2.0)
    [after] = replies(unit, VinHighRequest(CONTROLLER, UNIT), 3.0)
    assert isinstance(before, VinHighReply)
    assert isinstance(after, VinHighReply)
    assert not before.empty
    assert after.empty


def test_protocol_1_unit_uses_its_lengths() -> None:
    unit = SimulatedPeripheral(UnitConfig(protocol=ProtocolVersion.V1), now=0.0)
    unit.plug_in(0.0, Car())
    lengths = {
        type(reply): reply.length
        for request in REQUESTS
        for reply in replies(unit, request(CONTROLLER, UNIT, 14), 1.0)
    }
    # FD EB and FD ED do not fit 14 bytes: the 16-byte form (documented choice).
    assert lengths == {
        MeterReply: 16,
        VersionReply: 14,
        SerialReply: 16,
        VinHighReply: 14,
        VinMidReply: 14,
        VinLowReply: 14,
    }
    assert heartbeat(unit, 2.0).length == 14
    # Old units never report a VIN by default.
    assert unit.vin is None
    assert drain(unit, 31.0) == []  # claimed: no more announcements


def test_unsupported_requests_get_no_reply() -> None:
    config = UnitConfig(unsupported=frozenset({Commands.TWC_VIN_HIGH}))
    unit = SimulatedPeripheral(config, now=0.0)
    assert replies(unit, VinHighRequest(CONTROLLER, UNIT), 1.0) == []
    assert len(replies(unit, VinMidRequest(CONTROLLER, UNIT), 2.0)) == 1


def test_frames_for_others_are_ignored() -> None:
    unit = SimulatedPeripheral(UnitConfig(), now=0.0)
    unit.advance(0.0)
    for message in (
        ControllerHeartbeat(CONTROLLER, 0x2019),
        MeterRequest(CONTROLLER, 0x2019),
        OpenContactors(CONTROLLER, 0x2019),
    ):
        unit.receive(message, 0.5)
    assert [item for item in drain(unit, 0.7) if item.reply] == []
    assert not unit.claimed
    assert unit.contactors_closed


def test_contactor_commands_are_acknowledged() -> None:
    unit = SimulatedPeripheral(UnitConfig(), now=0.0)
    assert replies(unit, OpenContactors(CONTROLLER, UNIT), 1.0) == [OpenContactorsAck(UNIT)]
    assert not unit.contactors_closed
    assert replies(unit, CloseContactors(CONTROLLER, UNIT), 2.0) == [CloseContactorsAck(UNIT)]
    assert unit.contactors_closed


def test_unclaimed_unit_announces_every_1_3_s_until_heartbeated() -> None:
    unit = SimulatedPeripheral(UnitConfig(max_amps=80.0), now=0.0)
    announcements = [item for item in drain(unit, 10.0) if not item.reply]
    times = [item.due for item in announcements]
    assert len(times) in (7, 8)
    assert times[0] < 1.3
    assert all(b - a == pytest.approx(1.3) for a, b in itertools.pairwise(times))
    message = decode_frame(announcements[0].data)
    assert message == PeripheralLinkReady(UNIT, unit.sign, 80.0, 16)
    heartbeat(unit, 10.0)
    assert unit.claimed
    assert unit.controller == CONTROLLER
    # Claimed: silent unless asked, however long the controller keeps it alive.
    for second in range(11, 200):
        unit.receive(ControllerHeartbeat(CONTROLLER, UNIT), float(second))
        assert all(item.reply for item in drain(unit, second + 0.5))


def test_second_linkready2_gets_a_burst_of_five() -> None:
    unit = SimulatedPeripheral(UnitConfig(announce_interval=100.0), now=0.0)
    drain(unit, 100.5)  # let the first announcement pass
    unit.receive(ControllerLinkReady1(CONTROLLER, 0x42), 101.0)
    unit.receive(ControllerLinkReady2(CONTROLLER, 0x42), 101.3)
    assert drain(unit, 101.6) == []  # the first FB E2 is ignored
    unit.receive(ControllerLinkReady2(CONTROLLER, 0x42), 101.6)
    burst = drain(unit, 101.9)
    assert len(burst) == 5
    assert [item.due for item in burst] == [pytest.approx(101.8)] * 5
    assert all(isinstance(decode_frame(item.data), PeripheralLinkReady) for item in burst)
    unit.receive(ControllerLinkReady2(CONTROLLER, 0x42), 101.9)
    assert drain(unit, 102.2) == []  # only the second one


def test_controller_loss_errors_and_announces_again() -> None:
    unit = SimulatedPeripheral(UnitConfig(), now=0.0)
    heartbeat(unit, 1.0, HeartbeatCommand.SET_DEFAULT_CURRENT, 16)
    unit.plug_in(1.5, Car())
    for second in range(2, 20):
        heartbeat(unit, float(second))
    assert unit.state == PeripheralState.CHARGING
    assert unit.actual_amps == 16.0
    # The last heartbeat was at 19 s; the timeout is 30 s.
    assert drain(unit, 48.9) == []
    assert unit.state == PeripheralState.CHARGING
    announcements = drain(unit, 50.0)
    assert unit.snapshot().state == PeripheralState.ERROR
    assert unit.actual_amps == 0.0
    assert not unit.claimed
    assert [item.due for item in announcements] == [pytest.approx(49.0)]
    assert isinstance(decode_frame(announcements[0].data), PeripheralLinkReady)
    # A returning controller first hears the error, then the car negotiates again.
    assert heartbeat(unit, 60.0).state == PeripheralState.ERROR
    assert heartbeat(unit, 60.5).state == PeripheralState.PLUGGED_READY
    assert heartbeat(unit, 61.5).state == PeripheralState.STARTING
    assert unit.claimed


def test_controller_timeout_is_configurable() -> None:
    unit = SimulatedPeripheral(UnitConfig(controller_timeout=5.0), now=0.0)
    heartbeat(unit, 1.0)
    unit.advance(5.9)
    assert unit.claimed
    unit.advance(6.0)
    assert unit.phase is Phase.ERROR


def test_error_command_halts_the_unit_until_reboot() -> None:
    unit = SimulatedPeripheral(UnitConfig(), now=0.0)
    heartbeat(unit, 1.0)
    # The encoder refuses command 02; a rogue controller builds the frame by hand.
    body = add_checksum(bytes.fromhex("FBE0F00D1839020400") + bytes(6))
    rogue = decode_frame(frame(body))
    assert isinstance(rogue, ControllerHeartbeat)
    assert replies(unit, rogue, 2.0)[0].state == PeripheralState.ERROR  # type: ignore[attr-defined]
    assert unit.phase is Phase.HALTED
    assert replies(unit, ControllerHeartbeat(CONTROLLER, UNIT), 3.0) == []
    assert drain(unit, 100.0) == []  # no announcements either
    sign = unit.sign
    unit.reboot(100.0)
    assert unit.sign != sign
    assert unit.snapshot().state == PeripheralState.READY
    assert [type(decode_frame(i.data)) for i in drain(unit, 100.0)] == [PeripheralLinkReady]


def test_a_controller_using_our_id_makes_us_move() -> None:
    unit = SimulatedPeripheral(UnitConfig(), now=0.0)
    heartbeat(unit, 1.0)
    sign = unit.sign
    unit.receive(ControllerLinkReady1(UNIT, 0x11), 2.0)
    assert unit.device_id not in (UNIT, 0, 0xFFFF)
    assert unit.sign != sign
    assert not unit.claimed
    [announce] = [decode_frame(item.data) for item in drain(unit, 2.0)]
    assert isinstance(announce, PeripheralLinkReady)
    assert announce.sender == unit.device_id


def test_collide_announces_the_controllers_id_then_moves_on_its_restart() -> None:
    unit = SimulatedPeripheral(UnitConfig(), now=0.0)
    heartbeat(unit, 1.0)
    unit.collide(2.0)
    assert unit.device_id == CONTROLLER
    [announce] = [decode_frame(item.data) for item in drain(unit, 2.0)]
    assert announce.sender == CONTROLLER
    # The controller answers a clash by re-running its start-up (SPEC §3.12).
    unit.receive(ControllerLinkReady1(CONTROLLER, 0x11), 3.0)
    assert unit.device_id not in (CONTROLLER, UNIT)


def test_another_unit_announcing_our_id_makes_us_move() -> None:
    unit = SimulatedPeripheral(UnitConfig(), now=0.0)
    unit.receive(PeripheralLinkReady(UNIT, 0x99, 32.0), 1.0)
    assert unit.device_id != UNIT


def test_plugging_twice_or_unplugging_nothing_is_refused() -> None:
    unit = SimulatedPeripheral(UnitConfig(), now=0.0)
    with pytest.raises(NotApplicableError):
        unit.unplug(1.0)
    unit.plug_in(1.0)
    with pytest.raises(NotApplicableError):
        unit.plug_in(2.0)


def test_idle_unit_reports_the_calibration_offset() -> None:
    unit = SimulatedPeripheral(UnitConfig(), now=0.0)
    reply = heartbeat(unit, 1.0)
    assert reply == PeripheralHeartbeat(UNIT, CONTROLLER, PeripheralState.READY, 0.0, 0.25, 16)


def test_snapshot_is_frozen_and_complete() -> None:
    unit = SimulatedPeripheral(UnitConfig(), now=0.0)
    heartbeat(unit, 1.0, HeartbeatCommand.SET_DEFAULT_CURRENT, 24)
    snap = unit.snapshot()
    assert snap.device_id == UNIT
    assert snap.max_amps == 24.0
    assert snap.highest_commanded_amps == 24.0
    assert snap.controller == CONTROLLER
    with pytest.raises(AttributeError):
        snap.max_amps = 1.0  # type: ignore[misc]
