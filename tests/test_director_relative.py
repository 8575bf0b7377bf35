"""Increase (06) and decrease (07) change a unit's limit by a step: the worst case counts.

Sent twice, a relative command applies twice; and a decreased unit raises itself back by 2 A
on its own (SPEC §3.4). Neither may ever leave a unit allowed more than its ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.director_fakes import CoreBus, FakePeripheral
from twcdirector.events import COMMAND_CONFIRMED, COMMAND_FAILED
from twcdirector.exceptions import CurrentLimitError
from twcdirector.gen2.commands import CommandKind
from twcdirector.gen2.config import DirectorConfig
from twcdirector.gen2.controller import BusController
from twcdirector.protocol import ControllerHeartbeat, HeartbeatCommand, Message, PeripheralState


@dataclass
class SteppingUnit(FakePeripheral):
    """A charging unit whose limit really moves by 2 A on 06/07, and that can lose frames."""

    #: Replies to lose (the unit acted, the controller never heard it).
    lose_replies: int = 0
    #: Increase frames to miss (the controller's frame never reached the unit).
    miss_increases: int = 0

    def handle(self, message: Message) -> list[Message]:
        if (
            isinstance(message, ControllerHeartbeat)
            and message.receiver == self.device_id
            and message.command == HeartbeatCommand.INCREASE_CURRENT
            and self.miss_increases
        ):
            self.miss_increases -= 1
            return []
        replies = super().handle(message)
        if replies and self.lose_replies and isinstance(message, ControllerHeartbeat):
            self.lose_replies -= 1
            return []
        return replies

    def _apply(self, message: ControllerHeartbeat) -> None:
        super()._apply(message)
        if message.command == HeartbeatCommand.INCREASE_CURRENT:
            self.allowed += 2
        elif message.command == HeartbeatCommand.DECREASE_CURRENT:
            self.allowed -= 2
        elif message.command == HeartbeatCommand.NO_CHANGE and self.state not in (
            PeripheralState.RAISING,
            PeripheralState.LOWERING,
        ):
            self.state = PeripheralState.CHARGING


def charging(allowed: float) -> tuple[CoreBus, SteppingUnit]:
    unit = SteppingUnit(0x2019, state=PeripheralState.CHARGING, allowed=allowed, actual=allowed)
    harness = CoreBus(BusController(DirectorConfig(max_current=32)), [unit])
    harness.run_for(6)
    assert harness.core.record(0x2019).allowed_amps == allowed
    return harness, unit


def increases(harness: CoreBus) -> int:
    return sum(
        1
        for _, message in harness.sent(ControllerHeartbeat, to=0x2019)
        if isinstance(message, ControllerHeartbeat)
        and message.command == HeartbeatCommand.INCREASE_CURRENT
    )


def test_a_lost_reply_to_an_increase_is_settled_by_a_report_not_a_second_increase() -> None:
    harness, unit = charging(30)
    unit.lose_replies = 1
    harness.core.submit(0x2019, CommandKind.INCREASE_CURRENT, 0, harness.now)
    harness.run_for(3)
    assert increases(harness) == 1
    assert unit.allowed == 32  # once, never 34
    assert [n.payload.attempts for n in harness.events(COMMAND_CONFIRMED)] == [1]


def test_an_increase_that_never_arrived_is_never_sent_again() -> None:
    """Rule 1: once a frame carrying it went out, a relative command is never re-sent (it may
    have applied even if no report shows it). Before the fix it went out a second time."""
    harness, unit = charging(28)
    unit.miss_increases = 1
    ticket = harness.core.submit(0x2019, CommandKind.INCREASE_CURRENT, 0, harness.now)
    harness.run_for(12)
    assert increases(harness) == 1
    assert unit.allowed == 28
    [failed] = harness.events(COMMAND_FAILED)
    assert (failed.ticket, failed.payload.attempts, failed.payload.reason) == (
        ticket,
        1,
        "sent once; the unit's reports have not shown it",
    )
    assert harness.core.pending(0x2019) == 0
    # It still counts as applied: 28 + 2 (unshown) + 2 = 32 may go, 34 may not.
    harness.core.submit(0x2019, CommandKind.INCREASE_CURRENT, 0, harness.now)
    with pytest.raises(CurrentLimitError, match="2 increase"):
        harness.core.submit(0x2019, CommandKind.INCREASE_CURRENT, 0, harness.now)


def test_no_increase_is_ever_sent_twice_without_a_report_between() -> None:
    harness, unit = charging(20)
    unit.silent = True
    harness.core.submit(0x2019, CommandKind.INCREASE_CURRENT, 0, harness.now)
    harness.run_for(5)
    assert increases(harness) == 1


def test_after_a_decrease_the_2_a_it_gives_back_count_against_the_ceiling() -> None:
    harness, unit = charging(32)
    harness.core.submit(0x2019, CommandKind.DECREASE_CURRENT, 0, harness.now)
    harness.run_for(3)
    assert unit.allowed == 30
    # The unit will add its 2 A back by itself: 30 + 2 + 2 would be 34 A.
    with pytest.raises(CurrentLimitError, match="2 A a decrease gives back"):
        harness.core.submit(0x2019, CommandKind.INCREASE_CURRENT, 0, harness.now)
    with pytest.raises(CurrentLimitError, match="give back"):
        harness.core.submit(0x2019, CommandKind.SET_SESSION_CURRENT, 32, harness.now)
    harness.core.submit(0x2019, CommandKind.SET_SESSION_CURRENT, 30, harness.now)
    harness.run_for(3)
    assert unit.allowed == 30
    # Once the raise-back window has passed, the whole ceiling is available again.
    harness.run_for(DirectorConfig().raise_back_window)
    harness.core.submit(0x2019, CommandKind.SET_SESSION_CURRENT, 32, harness.now)
    harness.run_for(3)
    assert unit.allowed == 32
