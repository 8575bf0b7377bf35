"""One simulated Gen 2 Wall Connector in peripheral mode (pure).

The unit is a function of the messages it hears and of ``now``: :meth:`receive` and the
scripted actions queue :class:`Transmission` s with a due time, :meth:`advance` fires its
timers (announcements, state changes, the controller-loss timeout), and the bus pulls what
is due with :meth:`peek_due` / :meth:`pop`. It follows SPEC.md, not the director.

What is modelled (SPEC §3.3-3.11, §4, §5; choices where the sources are silent marked *):

* Unclaimed, it sends ``FD E2`` every ``announce_interval``; the first ``FB E0`` addressed to
  it claims it. A controller's second ``FB E2`` (counted since its last ``FC E1``) is
  answered by five ``FD E2`` ``burst_delay`` later. A controller or unit using its ID makes
  it pick a new random ID and sign.
* ``FD E0`` reports the state, the current limit (the last value the controller sent with
  05/08/09, copied whatever it is: clamping is the controller's job) and the car's draw.
* Plug-in: state 04 for ``negotiate_time``, then 08 (the car draws ``start_amps``) for
  ``start_time``, then 01 while the draw ramps to min(limit, car max). With a limit of 0 it
  stays in 04/08 reporting max 0, asking for an allocation, until 05 (in 04/08) or 08/09.
* ``05``: protocol 1 sets the limit at once; protocol 2 sets the default (the limit offered
  at the next plug-in) and the limit only while no car is charging yet.
* ``09`` (v2): sets the limit; with a car plugged the next ``FD E0`` says 09 once. *Without a
  car the value is copied but not echoed, and the next plug-in starts from the default.
* ``06`` (v2, charging): +2 A, state 06 for ``raise_period`` then 0A. ``07`` (v2, charging):
  -2 A, state 07 for ``lower_period``, then the 2 A come back with 0A. *0A is reported for
  ``complete_hold`` before 01 again. A new limit cancels a pending raise-back.
* 0 A while charging: state 03, no draw; a later non-zero limit resumes through 08.
* 0 A by ``05``/``09`` (``zero_reports_minimum``, the default, as real units do: SPEC §5,
  vector 9): no draw, and the reports say the protocol minimum (6.00 A; v1 5.00 A) in state
  03 (00 without a car). *A new plug-in starts from the default and asks with max 0 again.
* ``offered_amps``: the limit and default at power-up (what an earlier controller left); a
  plugged car charges at it before any controller speaks. ``report_lag``: each ``FD E0``
  shows the state and limit of that many heartbeats before. ``contactor_acks=False``: ``FC
  B1``/``FC B2`` are ignored and never acknowledged (older firmware). ``tails``: the byte after
  each frame cycles through these.
* ``FC B2``: contactors open, no draw, state 03; *a Tesla that was drawing is faulted until
  re-plugged; ``FC B1`` closes them and another car resumes. *The contactors stay open
  across plug-ins until ``FC B1``. Both are acknowledged (``FD B2`` / ``FD B1``).
* No heartbeat for ``controller_timeout``: state 02, no draw, announcing again. *The first
  ``FD E0`` to a returning controller still says 02; then a plugged car negotiates anew.
* Heartbeat command 02 (never legal for a controller): the unit answers 02 once and then
  says nothing until :meth:`reboot` (SPEC §3.4: it needs a reset).
* Data replies: *v2: ``FD EC`` 16 bytes, ``FD EB/ED/EE/EF/F1`` 20 (firmware 4.5.3 form);
  v1: ``FD EB`` and ``FD ED`` 16 (they do not fit 14), ``FD EC`` and VIN fragments 14. VIN
  fragments (7/7/3 characters) are empty unless a car with a VIN is plugged and the unit
  reports VINs.
* Unplugged, it reports 0.25 A drawn (the calibration offset, SPEC §3.5) but counts no
  energy; lifetime kWh grow by amps x (sum of phase volts) x time.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import random
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from ..exceptions import ConfigurationError, NotApplicableError
from ..protocol import (
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
    OpenContactors,
    OpenContactorsAck,
    PeripheralHeartbeat,
    PeripheralLinkReady,
    PeripheralState,
    ProtocolVersion,
    SerialReply,
    VersionReply,
    VinHighReply,
    VinLowReply,
    VinMidReply,
    body_length,
    encode_reply,
)
from ..protocol.codes import MINIMUM_AMPS
from .car import Car, ramp
from .config import UnitConfig
from .faults import Faults

_LOGGER = logging.getLogger(__name__)

#: Calibration offset an idle unit reports as drawn (SPEC §3.5).
IDLE_OFFSET_AMPS = 0.25
#: Commands 06 and 07 move the limit by this much (SPEC §3.4).
STEP_AMPS = 2.0
_WIRE_MAX_AMPS = 655.35
_BURST = 5
#: SPEC §8.2: the controller ID twcdirector uses when none other is known.
_DEFAULT_CONTROLLER = 0xF00D
_VIN_SLICES = ((0, 7), (7, 14), (14, 17))
_VIN_REPLIES = {
    Commands.TWC_VIN_HIGH: (VinHighReply, _VIN_SLICES[0]),
    Commands.TWC_VIN_MID: (VinMidReply, _VIN_SLICES[1]),
    Commands.TWC_VIN_LOW: (VinLowReply, _VIN_SLICES[2]),
}
# Reply body lengths where they differ from the unit's normal length (see module docstring).
_REPLY_LENGTH: dict[tuple[ProtocolVersion, int], int] = {
    (ProtocolVersion.V2, Commands.TWC_METER): 20,
    (ProtocolVersion.V2, Commands.TWC_SERIAL): 20,
    (ProtocolVersion.V2, Commands.TWC_VIN_HIGH): 20,
    (ProtocolVersion.V2, Commands.TWC_VIN_MID): 20,
    (ProtocolVersion.V2, Commands.TWC_VIN_LOW): 20,
    (ProtocolVersion.V1, Commands.TWC_METER): 16,
    (ProtocolVersion.V1, Commands.TWC_SERIAL): 16,
}


class Phase(Enum):
    """Where the unit is in a charging session; the reported state derives from it."""

    UNPLUGGED = "unplugged"  #: state 00
    NEGOTIATING = "negotiating"  #: state 04, just plugged in
    STARTING = "starting"  #: state 08; with limit 0 it waits for an allocation
    CHARGING = "charging"  #: state 01 (or 06/07/0A while adjusting)
    STOPPED = "stopped"  #: state 03: 0 A, contactors open or car faulted
    ERROR = "error"  #: state 02: controller lost, or told to error
    HALTED = "halted"  #: state 02 and mute: got heartbeat command 02, needs a reboot


_PHASE_STATE = {
    Phase.UNPLUGGED: PeripheralState.READY,
    Phase.NEGOTIATING: PeripheralState.PLUGGED_READY,
    Phase.STARTING: PeripheralState.STARTING,
    Phase.CHARGING: PeripheralState.CHARGING,
    Phase.STOPPED: PeripheralState.PLUGGED_DO_NOT_CHARGE,
    Phase.ERROR: PeripheralState.ERROR,
    Phase.HALTED: PeripheralState.ERROR,
}
# Where 05 on protocol 2 still sets the live limit: no car is drawing yet.
_DEFAULT_APPLIES = frozenset({Phase.UNPLUGGED, Phase.NEGOTIATING, Phase.STARTING, Phase.ERROR})


@dataclass(frozen=True, slots=True)
class Transmission:
    """Bytes a unit wants on the wire at ``due`` (frame without tail byte, or raw noise)."""

    due: float
    data: bytes
    #: The frame's message; None for injected noise.
    message: Message | None = None
    #: An answer to the controller (subject to reply faults), not an announcement.
    reply: bool = False


@dataclass(frozen=True, slots=True)
class UnitSnapshot:
    """What a unit is doing, for assertions and displays."""

    device_id: int
    sign: int
    protocol: ProtocolVersion
    state: PeripheralState
    max_amps: float
    actual_amps: float
    plugged: bool
    vin: str | None
    controller: int | None
    contactors_closed: bool
    lifetime_kwh: float
    highest_commanded_amps: float


class SimulatedPeripheral:
    """One Gen 2 Wall Connector with its rotary switch at F (peripheral)."""

    def __init__(self, config: UnitConfig | None = None, now: float = 0.0) -> None:
        self.config = config if config is not None else UnitConfig()
        self.faults = Faults()
        self._rng = random.Random(self.config.rng_seed)
        self._id = self.config.device_id
        self._sign = self.config.sign if self.config.sign is not None else self._new_sign()
        self._length = body_length(self.config.protocol)
        self._outbox: list[tuple[float, int, Transmission]] = []
        self._sequence = itertools.count()
        self._clock = now
        self._energy_kwh = float(self.config.lifetime_kwh)
        self._car: Car | None = None
        self._car_faulted = False
        self._contactors_closed = True
        self._phase = Phase.UNPLUGGED
        self._phase_timer: float | None = None
        self._limit = self._default = float(self.config.offered_amps)
        #: Told 0 A by 05/09: it reports its minimum instead (``zero_reports_minimum``).
        self._zero_held = False
        #: (state, max) of the last ``report_lag`` + 1 reports; the oldest is reported.
        self._history: deque[tuple[PeripheralState, float]] = deque(
            maxlen=self.config.report_lag + 1
        )
        self._tails = itertools.cycle(self.config.tails) if self.config.tails else None
        self._draw = 0.0
        self._adjust: PeripheralState | None = None
        self._adjust_timer: float | None = None
        self._lowered_by = 0.0
        self._echo_limit = False
        self._controller: int | None = None
        self._last_controller = _DEFAULT_CONTROLLER
        self._last_heartbeat = now
        self._linkready2: dict[int, int] = {}
        # Units powered up together do not announce in lock step.
        self._next_announce: float | None = now + self._rng.uniform(
            0, self.config.announce_interval
        )
        #: Heartbeats addressed to this unit, per command code.
        self.commands: Counter[int] = Counter()
        #: Data requests addressed to this unit, per command code.
        self.requests: Counter[int] = Counter()
        #: The highest current any 05/08/09 to this unit carried (for safety assertions).
        self.highest_commanded_amps = 0.0
        #: Frames and noise handed to the bus, replies dropped by faults, items muted.
        self.sent = 0
        self.dropped = 0
        self.muted = 0

    # --- state for assertions ----------------------------------------------------------

    @property
    def device_id(self) -> int:
        """The ID it uses now (it changes after a collision)."""
        return self._id

    @property
    def sign(self) -> int:
        """Its sign byte; a new one after a reboot or an ID change."""
        return self._sign

    @property
    def protocol(self) -> ProtocolVersion:
        """Its protocol version."""
        return self.config.protocol

    @property
    def phase(self) -> Phase:
        """Where it is in a session."""
        return self._phase

    @property
    def state(self) -> PeripheralState:
        """The state its next ``FD E0`` would report."""
        if self._phase in (Phase.ERROR, Phase.HALTED):
            return PeripheralState.ERROR
        if self._echo_limit:
            return PeripheralState.LIMIT_SET
        if self._phase is Phase.CHARGING and self._adjust is not None:
            return self._adjust
        return _PHASE_STATE[self._phase]

    @property
    def max_amps(self) -> float:
        """The limit its ``FD E0`` reports now (lag aside): its minimum after 0 A by default."""
        if self._zero_held and self._limit == 0 and self.config.zero_reports_minimum:
            return float(MINIMUM_AMPS[self.protocol])
        return self._limit

    @property
    def limit_amps(self) -> float:
        """The limit it really applies (what its car may draw), whatever it reports."""
        return self._limit

    def next_tail(self) -> int | None:
        """The byte to send after the closing ``C0`` of its next frame, None for none."""
        return next(self._tails) if self._tails is not None else self.config.tail

    @property
    def default_amps(self) -> float:
        """The limit offered at the next plug-in (command 05)."""
        return self._default

    @property
    def actual_amps(self) -> float:
        """The draw its ``FD E0`` reports."""
        if self._draw == 0 and self._phase is Phase.UNPLUGGED:
            return IDLE_OFFSET_AMPS
        return round(self._draw, 2)

    @property
    def car(self) -> Car | None:
        """The plugged car, if any."""
        return self._car

    @property
    def plugged(self) -> bool:
        """Whether a car is plugged in."""
        return self._car is not None

    @property
    def controller(self) -> int | None:
        """The controller that claimed it, None while it announces."""
        return self._controller

    @property
    def claimed(self) -> bool:
        """Whether a controller heartbeats it."""
        return self._controller is not None

    @property
    def contactors_closed(self) -> bool:
        """False after ``FC B2`` until ``FC B1``."""
        return self._contactors_closed

    @property
    def lifetime_kwh(self) -> float:
        """Energy delivered over its life (the wire carries whole kWh)."""
        return self._energy_kwh

    @property
    def vin(self) -> str | None:
        """The VIN it reports, or None."""
        if self._car is None or not self.config.vin_reporting:
            return None
        return self._car.vin

    def snapshot(self) -> UnitSnapshot:
        """A frozen copy of its state."""
        return UnitSnapshot(
            device_id=self._id,
            sign=self._sign,
            protocol=self.protocol,
            state=self.state,
            max_amps=self.max_amps,
            actual_amps=self.actual_amps,
            plugged=self.plugged,
            vin=self.vin,
            controller=self._controller,
            contactors_closed=self._contactors_closed,
            lifetime_kwh=self._energy_kwh,
            highest_commanded_amps=self.highest_commanded_amps,
        )

    # --- inputs ------------------------------------------------------------------------

    def receive(self, message: Message, now: float) -> None:
        """A message heard on the bus at ``now`` (from the controller or another unit)."""
        self.advance(now)
        if self._phase is Phase.HALTED:
            return
        if isinstance(message, (ControllerLinkReady1, ControllerLinkReady2)):
            self._on_presence(message, now)
        elif isinstance(message, ControllerHeartbeat):
            if message.sender == self._id:
                self._change_id(now, f"controller {message.sender:04X} heartbeats with our ID")
            elif message.receiver == self._id:
                self._on_heartbeat(message, now)
        elif isinstance(message, DataRequest):
            if message.receiver == self._id:
                self._on_request(message, now)
        elif isinstance(message, (CloseContactors, OpenContactors)):
            if message.receiver == self._id:
                self._on_contactors(message, now)
        elif isinstance(message, PeripheralLinkReady) and message.sender == self._id:
            self._change_id(now, "another unit announces our ID")

    def advance(self, now: float) -> None:
        """Run timers and the car up to ``now``."""
        while True:
            timer = self._next_timer()
            if timer is None or timer[0] > now:
                break
            when, fire = timer
            self._integrate(when)
            fire(when)
        self._integrate(now)

    def next_deadline(self) -> float | None:
        """When it next needs :meth:`advance` or has something due, None if never."""
        times = [t for t in (self.peek_due(), self.next_timer()) if t is not None]
        return min(times) if times else None

    def peek_due(self) -> float | None:
        """Due time of the next transmission, None if nothing is queued."""
        return self._outbox[0][0] if self._outbox else None

    def pop(self, start: float) -> Transmission | None:
        """Take the next transmission, starting at ``start``; None if it is muted."""
        _, _, item = heapq.heappop(self._outbox)
        if self.faults.silent_at(start):
            self.muted += 1
            return None
        self.sent += 1
        return item

    # --- scripted actions --------------------------------------------------------------

    def plug_in(self, now: float, car: Car | None = None) -> None:
        """Plug a car in; raise :class:`NotApplicableError` if one already is."""
        self.advance(now)
        if self._car is not None:
            raise NotApplicableError(f"unit {self._id:04X} already has a car plugged in")
        self._car = car if car is not None else Car()
        self._car_faulted = False
        _LOGGER.debug("unit %04X: car plugged in (VIN %s)", self._id, self._car.vin)
        if self._phase in (Phase.UNPLUGGED, Phase.STOPPED):
            self._start_session(now)

    def unplug(self, now: float) -> None:
        """Unplug the car; raise :class:`NotApplicableError` if none is."""
        self.advance(now)
        if self._car is None:
            raise NotApplicableError(f"unit {self._id:04X} has no car plugged in")
        self._car = None
        self._car_faulted = False
        self._draw = 0.0
        _LOGGER.debug("unit %04X: car unplugged", self._id)
        if self._phase not in (Phase.ERROR, Phase.HALTED):
            self._enter(Phase.UNPLUGGED)
            self._limit = self._default

    def reboot(self, now: float) -> None:
        """Power-cycle: new sign, unclaimed, volatile settings lost, faults cleared."""
        self.advance(now)
        self._sign = self._new_sign()
        self._controller = None
        self._next_announce = now
        self._linkready2.clear()
        self._outbox.clear()
        self.faults = Faults()
        self._contactors_closed = True
        self._car_faulted = False
        self._default = self._limit = 0.0
        self._zero_held = False
        self._history.clear()
        self._enter(Phase.UNPLUGGED)
        if self._car is not None:
            self._start_session(now)

    def collide(self, now: float, device_id: int | None = None) -> None:
        """Take ``device_id`` (default: the controller's own ID) and announce it."""
        if device_id is not None and not 0 < device_id < 0xFFFF:
            raise ConfigurationError(f"ID {device_id:#x} must be 0001-FFFE")
        self.advance(now)
        self._id = self._last_controller if device_id is None else device_id
        self._controller = None
        self._next_announce = now

    def offer(self, now: float, amps: float) -> None:
        """Offer ``amps`` from ``now`` on (limit and default), as another controller may have
        left it; a plugged car that may draw starts or keeps charging at it."""
        self.advance(now)
        self._default = float(amps)
        self._set_limit(float(amps), now)

    def inject_noise(self, now: float, data: bytes) -> None:
        """Put raw bytes on the bus at ``now`` (no frame, no tail)."""
        self.advance(now)
        self._push(Transmission(now, bytes(data)))

    # --- heartbeats ----------------------------------------------------------------------

    def _on_heartbeat(self, heartbeat: ControllerHeartbeat, now: float) -> None:
        command = heartbeat.command
        self.commands[command] += 1
        if command in (
            HeartbeatCommand.SET_DEFAULT_CURRENT,
            HeartbeatCommand.ACK_CHARGE_START,
            HeartbeatCommand.SET_SESSION_CURRENT,
        ):
            self.highest_commanded_amps = max(self.highest_commanded_amps, heartbeat.amps)
        if self._controller is None:
            _LOGGER.debug("unit %04X: claimed by %04X", self._id, heartbeat.sender)
        self._controller = self._last_controller = heartbeat.sender
        self._last_heartbeat = now
        self._next_announce = None
        if command == HeartbeatCommand.ERROR:
            _LOGGER.warning("unit %04X: told to error (command 02), halting", self._id)
            self._stop_draw()
            self._enter(Phase.HALTED)
            self._reply(self._status(heartbeat.sender), now)
            return
        if self._phase is Phase.ERROR:
            status = self._status(heartbeat.sender)  # the returning controller sees the error
            self._enter(Phase.UNPLUGGED)
            if self._car is not None:
                self._start_session(now)
            self._apply(heartbeat, now)
        else:
            self._apply(heartbeat, now)
            status = self._status(heartbeat.sender)
        self._reply(status, now)

    def _apply(self, heartbeat: ControllerHeartbeat, now: float) -> None:
        command, amps = heartbeat.command, heartbeat.amps
        v2 = self.protocol is ProtocolVersion.V2
        if command == HeartbeatCommand.SET_DEFAULT_CURRENT:
            self._default = amps
            if not v2 or self._phase in _DEFAULT_APPLIES:
                self._set_limit(amps, now, told_zero=True)
        elif command == HeartbeatCommand.ACK_CHARGE_START:
            self._set_limit(amps, now)
        elif command == HeartbeatCommand.SET_SESSION_CURRENT and v2:
            self._set_limit(amps, now, told_zero=True)
            self._echo_limit = self._car is not None
        elif not v2 or self._phase is not Phase.CHARGING:
            pass  # 06 and 07 only act on a protocol-2 unit that is charging
        elif command == HeartbeatCommand.INCREASE_CURRENT:
            self._limit = min(self._limit + STEP_AMPS, _WIRE_MAX_AMPS)
            self._adjust_to(PeripheralState.RAISING, now + self.config.raise_period)
        elif command == HeartbeatCommand.DECREASE_CURRENT:
            step = min(STEP_AMPS, self._limit)
            self._limit -= step
            self._lowered_by += step
            self._adjust_to(PeripheralState.LOWERING, now + self.config.lower_period)
        # 00, commands a protocol-1 unit does not know, and unknown codes change nothing.

    def _set_limit(self, amps: float, now: float, *, told_zero: bool = False) -> None:
        self._limit = amps
        self._zero_held = told_zero and amps == 0
        if self._adjust is PeripheralState.LOWERING:
            self._adjust_to(None, None)
        self._lowered_by = 0.0
        quirk = self._zero_held and self.config.zero_reports_minimum
        if quirk and self._phase in (Phase.NEGOTIATING, Phase.STARTING, Phase.CHARGING):
            # Real units stop the car and say "plugged, do not charge" (SPEC §5, vector 9).
            self._stop_draw()
            self._enter(Phase.STOPPED)
        elif self._phase is Phase.STARTING:
            # 0 keeps it asking for an allocation; a value starts the clock towards 01.
            if amps == 0:
                self._phase_timer = None
            elif self._phase_timer is None:
                self._phase_timer = now + self.config.start_time
        elif self._phase is Phase.CHARGING and amps == 0:
            self._stop_draw()
            self._enter(Phase.STOPPED)
        elif self._phase is Phase.STOPPED and amps > 0 and self._can_draw():
            self._enter(Phase.STARTING, now + self.config.start_time)

    def _status(self, controller: int) -> PeripheralHeartbeat:
        self._history.append((self.state, self.max_amps))
        state, max_amps = self._history[0]
        self._echo_limit = False
        return PeripheralHeartbeat(
            self._id, controller, state, max_amps, self.actual_amps, self._length
        )

    # --- other requests ------------------------------------------------------------------

    def _on_presence(
        self, message: ControllerLinkReady1 | ControllerLinkReady2, now: float
    ) -> None:
        self._last_controller = message.sender
        if message.sender == self._id:
            self._change_id(now, f"controller {message.sender:04X} uses our ID")
            return
        if isinstance(message, ControllerLinkReady1):
            self._linkready2.pop(message.sender, None)  # a new start-up sequence
            return
        count = self._linkready2.get(message.sender, 0) + 1
        self._linkready2[message.sender] = count
        if count == 2:
            # SPEC §3.2: the first FB E2 is ignored, the second answered by five FD E2.
            for _ in range(_BURST):
                self._announce(now + self.config.burst_delay)

    def _on_request(self, request: DataRequest, now: float) -> None:
        code = request.COMMAND
        self.requests[code] += 1
        if code in self.config.unsupported:
            return
        length = _REPLY_LENGTH.get((self.protocol, code), self._length)
        reply: Message
        if code == Commands.TWC_METER:
            reply = MeterReply(
                self._id,
                min(int(self._energy_kwh), 0xFFFFFFFF),
                self.config.voltages,
                length,
                self._meter_extra(length),
            )
        elif code == Commands.TWC_VERSION:
            reply = VersionReply(self._id, self.config.firmware_version, length)
        elif code == Commands.TWC_SERIAL:
            reply = SerialReply(self._id, self.config.serial_number, length)
        else:
            cls, (start, end) = _VIN_REPLIES[Commands(code)]
            vin = self.vin
            reply = cls(self._id, vin[start:end] if vin else "", length)
        self._reply(reply, now)

    def _meter_extra(self, length: int) -> bytes:
        if length != 20:
            return bytes(length - 15)
        # Per-phase current bytes in 0.5 A (disputed, SPEC §3.7), then two zero bytes.
        currents = (
            min(255, round(self._draw * 2)) if volts else 0 for volts in self.config.voltages
        )
        return bytes(currents) + bytes(2)

    def _on_contactors(self, message: CloseContactors | OpenContactors, now: float) -> None:
        if not self.config.contactor_acks:
            return  # older firmware does not know FC B1 / FC B2 (SPEC §3.11)
        if isinstance(message, OpenContactors):
            if self._car is not None and self._car.tesla and self._draw > 0:
                self._car_faulted = True  # SPEC §5: a Tesla needs re-plugging
            self._contactors_closed = False
            if self._phase in (Phase.NEGOTIATING, Phase.STARTING, Phase.CHARGING):
                self._stop_draw()
                self._enter(Phase.STOPPED)
            self._reply(OpenContactorsAck(self._id, self._length), now)
            return
        self._contactors_closed = True
        if self._phase is Phase.STOPPED and self._limit > 0 and self._can_draw():
            self._enter(Phase.STARTING, now + self.config.start_time)
        self._reply(CloseContactorsAck(self._id, self._length), now)

    # --- timers --------------------------------------------------------------------------

    def _next_timer(self) -> tuple[float, Callable[[float], None]] | None:
        timers: list[tuple[float, Callable[[float], None]]] = []
        if self._phase_timer is not None:
            timers.append((self._phase_timer, self._on_phase_timer))
        if self._adjust_timer is not None:
            timers.append((self._adjust_timer, self._on_adjust_timer))
        if self._next_announce is not None and self._phase is not Phase.HALTED:
            timers.append((self._next_announce, self._on_announce_timer))
        if self._controller is not None and self._phase is not Phase.HALTED:
            deadline = self._last_heartbeat + self.config.controller_timeout
            timers.append((deadline, self._on_controller_lost))
        return min(timers, key=lambda timer: timer[0]) if timers else None

    def next_timer(self) -> float | None:
        """When its next timer fires (announcement, state change, timeout), None if none."""
        timer = self._next_timer()
        return None if timer is None else timer[0]

    def _on_phase_timer(self, when: float) -> None:
        if self._phase is Phase.NEGOTIATING:
            if not self._can_draw():
                self._enter(Phase.STOPPED)
            elif self._limit > 0:
                self._enter(Phase.STARTING, when + self.config.start_time)
            else:
                self._enter(Phase.STARTING)  # max 0: ask for an allocation
        elif self._phase is Phase.STARTING:
            self._enter(Phase.CHARGING)
        else:
            self._phase_timer = None

    def _on_adjust_timer(self, when: float) -> None:
        if self._adjust is PeripheralState.LOWERING:
            self._limit = min(self._limit + self._lowered_by, _WIRE_MAX_AMPS)
            self._lowered_by = 0.0
        if self._adjust in (PeripheralState.RAISING, PeripheralState.LOWERING):
            self._adjust_to(PeripheralState.ADJUSTMENT_COMPLETE, when + self.config.complete_hold)
        else:
            self._adjust_to(None, None)

    def _on_announce_timer(self, when: float) -> None:
        self._announce(when)
        self._next_announce = when + self.config.announce_interval

    def _on_controller_lost(self, when: float) -> None:
        _LOGGER.info("unit %04X: no heartbeat for %.0f s", self._id, when - self._last_heartbeat)
        self._controller = None
        self._stop_draw()
        self._enter(Phase.ERROR)
        self._next_announce = when

    # --- helpers -------------------------------------------------------------------------

    def _enter(self, phase: Phase, timer: float | None = None) -> None:
        self._phase = phase
        self._phase_timer = timer
        if phase is not Phase.CHARGING:
            self._adjust_to(None, None)
            self._lowered_by = 0.0
        if phase not in (Phase.CHARGING, Phase.STARTING, Phase.NEGOTIATING):
            self._echo_limit = False

    def _start_session(self, now: float) -> None:
        self._limit = self._default
        self._zero_held = False
        self._enter(Phase.NEGOTIATING, now + self.config.negotiate_time)

    def _adjust_to(self, state: PeripheralState | None, timer: float | None) -> None:
        self._adjust = state
        self._adjust_timer = timer

    def _can_draw(self) -> bool:
        return self._car is not None and self._contactors_closed and not self._car_faulted

    def _stop_draw(self) -> None:
        self._draw = 0.0

    def _target(self) -> float:
        car = self._car
        if car is None or not self._contactors_closed:
            return 0.0
        if self._phase is Phase.CHARGING:
            return min(self._limit, car.max_amps)
        if self._phase is Phase.STARTING and self._phase_timer is not None:
            return min(self._limit, car.start_amps)
        return 0.0

    def _integrate(self, until: float) -> None:
        seconds = until - self._clock
        if seconds <= 0:
            return
        self._clock = until
        target = self._target()
        if self._draw == 0 and target == 0:
            return
        rate = self._car.ramp_rate if self._car is not None else math.inf
        self._draw, amp_seconds = ramp(self._draw, target, rate, seconds)
        self._energy_kwh += amp_seconds * sum(self.config.voltages) / 3_600_000

    def _announce(self, due: float) -> None:
        message = PeripheralLinkReady(self._id, self._sign, self.config.max_amps, self._length)
        self._push(Transmission(due, encode_reply(message), message))

    def _reply(self, message: Message, now: float) -> None:
        due = now + self._rng.uniform(*self.config.latency)
        shaped = self.faults.shape_reply(due, encode_reply(message))
        if shaped is None:
            self.dropped += 1
            return
        self._push(Transmission(shaped[0], shaped[1], message, reply=True))

    def _push(self, item: Transmission) -> None:
        heapq.heappush(self._outbox, (item.due, next(self._sequence), item))

    def _change_id(self, now: float, reason: str) -> None:
        old = self._id
        while self._id in (old, self._last_controller, 0, 0xFFFF):
            self._id = self._rng.randint(1, 0xFFFE)
        self._sign = self._new_sign()
        self._controller = None
        self._next_announce = now
        _LOGGER.info("unit %04X: %s; now %04X", old, reason, self._id)

    def _new_sign(self) -> int:
        return self._rng.randint(1, 254)
