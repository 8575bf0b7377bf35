"""Per-peripheral state, updated from decoded messages (pure; time is a parameter)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..events import (
    ALL_COMMANDS,
    CAR_CONNECTED,
    STATE_CHANGED,
    CarConnected,
    StateChanged,
    format_id,
)
from ..protocol.codes import PLUGGED_STATES, PeripheralState, ProtocolVersion, state_name
from ..protocol.messages import (
    Message,
    MeterReply,
    PeripheralHeartbeat,
    PeripheralLinkReady,
    SerialReply,
    UnknownMessage,
    VersionReply,
    VinHighReply,
    VinLowReply,
    VinMidReply,
    VinReply,
)
from .limits import INCREASE_STEP
from .snapshot import PeripheralSnapshot

_LOGGER = logging.getLogger(__name__)

_VIN_SLOT: dict[type[VinReply], int] = {VinHighReply: 0, VinMidReply: 1, VinLowReply: 2}


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the core wants emitted: on a device when ``device_id`` is set, else on the
    director. ``ticket`` ties a command outcome to the call that queued it."""

    event: str
    payload: object
    device_id: int | None = None
    ticket: int | None = None


class PeripheralRecord:
    """What is known about one peripheral. Mutated only by the controller core."""

    __slots__ = (
        "actual_amps",
        "advertised_max",
        "allowed_amps",
        "announced",
        "device_id",
        "errors",
        "firmware",
        "frames",
        "granted_amps",
        "last_heard",
        "lifetime_kwh",
        "online",
        "owed_until",
        "protocol",
        "reported_at",
        "serial",
        "sign",
        "state",
        "timeouts",
        "vin_fragments",
        "voltages",
        "wanted_amps",
    )

    def __init__(self, device_id: int, protocol: ProtocolVersion, now: float) -> None:
        self.device_id = device_id
        self.protocol = protocol
        self.sign: int | None = None
        self.advertised_max: float | None = None
        self.state: int | None = None
        self.allowed_amps: float | None = None
        self.actual_amps: float | None = None
        self.lifetime_kwh: int | None = None
        self.voltages: tuple[int, int, int] | None = None
        self.firmware: str | None = None
        self.serial: str | None = None
        self.vin_fragments: list[str | None] = [None, None, None]
        self.last_heard = now
        self.online = True
        #: NEW_DEVICE was fired; before that the unit is not exposed.
        self.announced = False
        self.frames = 0
        self.timeouts = 0
        self.errors = 0
        #: The last current the user had confirmed; what an allocation request is given.
        self.wanted_amps: float | None = None
        #: When the unit's last status report (``FD E0``) arrived.
        self.reported_at: float | None = None
        #: The last current sent that the unit applies now (05 deferred to the next plug-in
        #: aside); its reports may lag it (SPEC §8.7). ``None``: nothing sent yet.
        self.granted_amps: float | None = None
        #: Until when each decrease (07) sent may still give its 2 A back (SPEC §3.4).
        self.owed_until: list[float] = []

    def owed_amps(self, now: float) -> float:
        """What decreases sent may still give back by themselves at ``now``."""
        self.owed_until = [until for until in self.owed_until if until > now]
        return INCREASE_STEP * len(self.owed_until)

    @property
    def id_hex(self) -> str:
        """The ID as in events."""
        return format_id(self.device_id)

    @property
    def vin(self) -> str | None:
        """The full VIN once all three fragments are non-empty."""
        if all(self.vin_fragments):
            return "".join(fragment or "" for fragment in self.vin_fragments)
        return None

    @property
    def car_connected(self) -> bool:
        """A car reported its VIN (Tesla cars on firmware that reports one)."""
        return self.vin is not None

    @property
    def plugged(self) -> bool:
        """A plug is inferred from the heartbeat state (SPEC §8.5)."""
        return self.state in PLUGGED_STATES

    def update(self, message: Message, now: float) -> list[Notice]:
        """Take a frame the unit sent; return the device events it causes, in order."""
        self.last_heard = now
        self.frames += 1
        notices: list[Notice] = []
        if not isinstance(message, UnknownMessage):
            notices.append(Notice(message.command_name, message, self.device_id))
        notices.append(Notice(ALL_COMMANDS, message, self.device_id))
        if isinstance(message, PeripheralHeartbeat):
            notices.extend(self._heartbeat(message))
        elif isinstance(message, PeripheralLinkReady):
            self.sign = message.sign
            self.advertised_max = message.max_amps
            self.protocol = message.protocol
        elif isinstance(message, MeterReply):
            self.lifetime_kwh = message.lifetime_kwh
            self.voltages = message.voltages
        elif isinstance(message, VersionReply):
            self.firmware = message.version_string
        elif isinstance(message, SerialReply):
            self.serial = message.serial
        elif isinstance(message, VinReply):
            notices.extend(self._vin(message))
        return notices

    def snapshot(self, pending_commands: int = 0) -> PeripheralSnapshot:
        """A frozen copy."""
        return PeripheralSnapshot(
            id=self.device_id,
            sign=self.sign,
            protocol=self.protocol,
            advertised_max=self.advertised_max,
            state=self.state,
            state_name=None if self.state is None else state_name(self.state),
            allowed_amps=self.allowed_amps,
            actual_amps=self.actual_amps,
            lifetime_kwh=self.lifetime_kwh,
            voltages=self.voltages,
            firmware=self.firmware,
            serial=self.serial,
            vin_fragments=(self.vin_fragments[0], self.vin_fragments[1], self.vin_fragments[2]),
            vin=self.vin,
            car_connected=self.car_connected,
            plugged=self.plugged,
            last_heard=self.last_heard,
            online=self.online,
            frames=self.frames,
            timeouts=self.timeouts,
            errors=self.errors,
            pending_commands=pending_commands,
        )

    def _heartbeat(self, message: PeripheralHeartbeat) -> list[Notice]:
        if self.state is None and self.advertised_max is None:
            # Heard through FD E0 before any FD E2: its length tells the version (SPEC §8.2).
            self.protocol = message.protocol
        old = self.state
        self.state = int(message.state)
        self.allowed_amps = message.max_amps
        self.actual_amps = message.actual_amps
        if old == self.state:
            return []
        if self.state == PeripheralState.ERROR:
            self.errors += 1
        _LOGGER.debug("%s state %s -> %s", self.id_hex, old, state_name(self.state))
        payload = StateChanged(self.id_hex, old, self.state, state_name(self.state))
        return [Notice(STATE_CHANGED, payload, self.device_id)]

    def _vin(self, message: VinReply) -> list[Notice]:
        was = self.car_connected
        self.vin_fragments[_VIN_SLOT[type(message)]] = message.fragment
        now_connected = self.car_connected
        if now_connected and not was:
            return [
                Notice(CAR_CONNECTED, CarConnected(self.id_hex, True, self.vin), self.device_id)
            ]
        if was and message.empty:
            return [Notice(CAR_CONNECTED, CarConnected(self.id_hex, False, None), self.device_id)]
        return []
