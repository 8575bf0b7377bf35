"""Codes of the Gen 2 wire protocol (SPEC §2.3, §3)."""

from __future__ import annotations

from enum import IntEnum


class FrameType(IntEnum):
    """Body offset 0: who sends the frame and whether it expects a reply."""

    REQUEST = 0xFB  #: from the controller, expects an FD reply
    COMMAND = 0xFC  #: from the controller, broadcast or command, no data reply
    REPLY = 0xFD  #: from a unit (data, status or acknowledgement)


class Commands(IntEnum):
    """Body offset 1: the command code. Names follow the seed library's lineage."""

    TWC_STATUS = 0xE0  #: heartbeat (FB E0 from the controller, FD E0 from a peripheral)
    TWC_CONTROLLER = 0xE1  #: controller link-ready 1 (FC E1)
    TWC_PERIPHERAL = 0xE2  #: link-ready 2 (FB E2) and peripheral link-ready (FD E2)
    TWC_METER = 0xEB  #: lifetime kWh and phase voltages
    TWC_VERSION = 0xEC  #: firmware version
    TWC_SERIAL = 0xED  #: serial number (TSN)
    TWC_VIN_HIGH = 0xEE  #: VIN characters 1-7
    TWC_VIN_MID = 0xEF  #: VIN characters 8-14
    TWC_VIN_LOW = 0xF1  #: VIN characters 15-17
    TWC_CLOSE_CONTACTORS = 0xB1  #: close contactors / start charging, and its ack
    TWC_OPEN_CONTACTORS = 0xB2  #: open contactors / stop charging, and its ack
    TWC_IDLE = 0x1D  #: idle broadcast of a lone controller (FC 1D)


#: Codes that write to a unit's flash or crash it (SPEC §3.1). No code path encodes them.
DANGEROUS_COMMANDS = frozenset({0x19, 0x1A, 0xE8})


class HeartbeatCommand(IntEnum):
    """Byte 6 of the controller heartbeat FB E0 (SPEC §3.4)."""

    NO_CHANGE = 0x00  #: keep-alive
    ERROR = 0x02  #: makes the unit blink an error and stop talking; never sent
    SET_DEFAULT_CURRENT = 0x05  #: v1: set limit; v2: current offered at the next plug-in
    INCREASE_CURRENT = 0x06  #: v2: raise by 2 A
    DECREASE_CURRENT = 0x07  #: v2: lower by 2 A temporarily
    ACK_CHARGE_START = 0x08  #: answer a unit in state 08 with its allocation
    SET_SESSION_CURRENT = 0x09  #: v2: change the live limit while a car is connected


#: Heartbeat commands the encoder will put on the wire (SPEC §8.4).
ALLOWED_HEARTBEAT_COMMANDS = frozenset(
    {
        HeartbeatCommand.NO_CHANGE,
        HeartbeatCommand.SET_DEFAULT_CURRENT,
        HeartbeatCommand.INCREASE_CURRENT,
        HeartbeatCommand.DECREASE_CURRENT,
        HeartbeatCommand.ACK_CHARGE_START,
        HeartbeatCommand.SET_SESSION_CURRENT,
    }
)


class PeripheralState(IntEnum):
    """Byte 6 of the peripheral heartbeat FD E0 (SPEC §3.5). Unknown values are kept as int."""

    READY = 0x00  #: idle; a car may be plugged in and asleep
    CHARGING = 0x01  #: plugged in, charging
    ERROR = 0x02  #: error, e.g. no heartbeat from the controller for too long
    PLUGGED_DO_NOT_CHARGE = 0x03  #: plugged in, not charging (0 A, charge target, stop in car)
    PLUGGED_READY = 0x04  #: plugged in, ready to charge or scheduled
    BUSY = 0x05  #: seen for about a second at random; meaning unknown
    RAISING = 0x06  #: echo of heartbeat command 06
    LOWERING = 0x07  #: echo of heartbeat command 07
    STARTING = 0x08  #: starting to charge, asks for an allocation when max is 0
    LIMIT_SET = 0x09  #: echo of heartbeat command 09
    ADJUSTMENT_COMPLETE = 0x0A  #: amp-adjustment period complete
    UNKNOWN_0F = 0x0F  #: reported once by a user, meaning unknown


#: States in which a plug is inferred without a VIN (SPEC §8.5).
PLUGGED_STATES = frozenset(
    {
        PeripheralState.CHARGING,
        PeripheralState.PLUGGED_DO_NOT_CHARGE,
        PeripheralState.PLUGGED_READY,
        PeripheralState.RAISING,
        PeripheralState.LOWERING,
        PeripheralState.STARTING,
        PeripheralState.LIMIT_SET,
        PeripheralState.ADJUSTMENT_COMPLETE,
    }
)


class ProtocolVersion(IntEnum):
    """Protocol generation, told apart by frame length (SPEC §2.4)."""

    V1 = 1  #: older firmware, 14-byte bodies
    V2 = 2  #: newer firmware, 16-byte bodies


#: Body length (including the checksum) of a normal frame for each version.
BODY_LENGTH = {ProtocolVersion.V1: 14, ProtocolVersion.V2: 16}
#: The extended data replies of firmware 4.5.3 (SPEC §2.4).
EXTENDED_LENGTH = 20
#: The lowest non-zero current, in whole amperes, a unit of each version may be sent or offered
#: (SPEC §5, §8.4): below it a car may stop and refuse to resume without being re-plugged.
MINIMUM_AMPS = {ProtocolVersion.V1: 5, ProtocolVersion.V2: 6}


def state_name(state: int) -> str:
    """Name of a peripheral state code; unknown codes read ``UNKNOWN_XX``."""
    try:
        return PeripheralState(state).name
    except ValueError:
        return f"UNKNOWN_{state:02X}"


def body_length(version: int) -> int:
    """Body length including checksum for a protocol version (1 or 2)."""
    return BODY_LENGTH[ProtocolVersion(version)]
