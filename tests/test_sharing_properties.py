"""Properties of capacity sharing over random histories (hypothesis).

A state machine plugs and unplugs cars, lets them finish and resume, takes units off the bus,
loses them, brings them back, sets user caps, priorities and limits, and runs the simulated bus
with delays and lost frames. :class:`~tests.test_sharing_sim.SimBus` checks safety at every
instant; the ``settle`` rule checks liveness and convergence.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tests.test_sharing_sim import SimBus, SimUnit
from twcdirector.protocol import ProtocolVersion
from twcdirector.sharing import InstallationLimits, ShareSequencer

UNIT_IDS = ("U1", "U2", "U3", "U4")
unit_ids = st.sampled_from(UNIT_IDS)


class SharingMachine(RuleBasedStateMachine):
    """Random histories of an installation sharing one supply."""

    bus: SimBus

    @initialize(
        total=st.integers(0, 100),
        unit_max=st.integers(0, 80),
        protocols=st.lists(st.sampled_from(ProtocolVersion), min_size=4, max_size=4),
        advertised=st.lists(st.sampled_from([16.0, 32.0, 40.0, 80.0]), min_size=4, max_size=4),
        quirks=st.lists(st.booleans(), min_size=4, max_size=4),
        seed=st.integers(0, 2**32 - 1),
    )
    def setup(
        self,
        *,
        total: int,
        unit_max: int,
        protocols: list[ProtocolVersion],
        advertised: list[float],
        quirks: list[bool],
        seed: int,
    ) -> None:
        units = {
            unit_id: SimUnit(unit_id, protocol, amps, quirk)
            for unit_id, protocol, amps, quirk in zip(
                UNIT_IDS, protocols, advertised, quirks, strict=True
            )
        }
        sequencer = ShareSequencer(InstallationLimits(total_max=total, unit_max=unit_max))
        self.bus = SimBus(sequencer, units, rng=random.Random(seed))

    @rule(unit_id=unit_ids, wants=st.booleans())
    def plug(self, unit_id: str, wants: bool) -> None:
        self.bus.plug(unit_id, wants=wants)

    @rule(unit_id=unit_ids)
    def unplug(self, unit_id: str) -> None:
        self.bus.unplug(unit_id)

    @rule(unit_id=unit_ids, wants=st.booleans())
    def car_draws(self, unit_id: str, wants: bool) -> None:
        self.bus.units[unit_id].wants = wants

    @rule(unit_id=unit_ids, online=st.booleans())
    def answering(self, unit_id: str, online: bool) -> None:
        if self.bus.units[unit_id].present:
            self.bus.units[unit_id].online = online

    @rule(unit_id=unit_ids)
    def lose(self, unit_id: str) -> None:
        if self.bus.units[unit_id].present:
            self.bus.lose(unit_id)

    @rule(unit_id=unit_ids)
    def reappear(self, unit_id: str) -> None:
        # Only once the director has declared it lost (a tick has passed since).
        if not self.bus.units[unit_id].present and unit_id not in self.bus.lost_pending:
            self.bus.reappear(unit_id)

    @rule(unit_id=unit_ids, amps=st.none() | st.just(0) | st.integers(3, 40))
    def user_cap(self, unit_id: str, amps: int | None) -> None:
        self.bus.set_user_cap(unit_id, amps)

    @rule(unit_id=unit_ids, priority=st.integers(0, 2))
    def priority(self, unit_id: str, priority: int) -> None:
        self.bus.sequencer.set_priority(unit_id, priority)

    @rule(data=st.data())
    def limits(self, data: st.DataObject) -> None:
        ceiling = self.bus.sequencer.ceiling
        total = data.draw(st.integers(0, ceiling.total_max), label="total")
        unit_max = data.draw(st.integers(0, ceiling.unit_max), label="unit_max")
        self.bus.set_limits(total, unit_max)

    @rule(
        ticks=st.integers(1, 15),
        dt=st.sampled_from([0.3, 1.0, 1.3, 2.5, 6.0]),
        loss=st.sampled_from([0.0, 0.0, 0.2, 0.6]),
        # Up to the pending timeout: a change may still land long after it was sent.
        max_delay=st.sampled_from([0.0, 0.3, 1.5, 4.0, 12.0, 26.0]),
    )
    def run(self, ticks: int, dt: float, loss: float, max_delay: float) -> None:
        self.bus.loss, self.bus.max_delay = loss, max_delay
        for _ in range(ticks):
            self.bus.tick(dt)

    @precondition(lambda self: hasattr(self, "bus"))
    @rule()
    def settle(self) -> None:
        """Everyone answers, nothing is lost: each car that can have its minimum gets it."""
        bus = self.bus
        bus.loss, bus.max_delay = 0.0, 0.3
        for unit in bus.units.values():
            if unit.present:
                unit.online = True
        bus.run(240)
        present = {uid: u for uid, u in bus.units.items() if u.present}
        # A unit told 0 A that reports its minimum (the quirk) stays counted: its load may still
        # draw it (SPEC 7.6). That phantom is the only thing allowed to keep a share unreached.
        phantom = sum(u.reported or 0 for u in present.values() if u.value == 0)
        targets = bus.targets()
        available = bus.sequencer.snapshot().available
        for uid, unit in present.items():
            target = targets[uid]
            if unit.value != target:
                assert phantom > 0, (uid, unit.value, target)
                assert unit.value < target, (uid, unit.value, target)
                assert available == 0 or (unit.value == 0 and available < bus.minimum(uid))
        # Steady state: nothing more goes out.
        before = len(bus.changes)
        bus.run(30)
        assert len(bus.changes) == before, bus.changes[before:]
        # Liveness: if the total allows every connected unit its minimum, each gets a share.
        connected = [
            uid for uid, u in present.items() if u.car and bus.cap(uid) >= bus.minimum(uid)
        ]
        if sum(bus.minimum(uid) for uid in connected) + phantom <= bus.limits.total_max:
            for uid in connected:
                assert present[uid].value >= bus.minimum(uid), (uid, targets)
        for unit in present.values():
            if not unit.car:
                assert unit.value == 0

    @invariant()
    def events_match_changes(self) -> None:
        if not hasattr(self, "bus"):
            return
        bus = self.bus
        for change in bus.changes:
            assert change.amps == 0 or change.amps >= bus.minimum(change.unit_id)
        moves = [(c.unit_id, c.amps) for c in bus.changes if c.amps != c.old_amps]
        announced = [(e.device_id, int(e.new_amps)) for e in bus.events if e.reason != "unit lost"]
        assert announced == moves


TestSharing = SharingMachine.TestCase
# Sized for a small, shared CI machine (a few seconds); run it with more examples to hunt.
TestSharing.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
