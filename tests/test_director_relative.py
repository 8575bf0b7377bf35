"""Increase (06) and decrease (07) change a unit's limit by a step: the worst case counts.

Sent twice, a relative command applies twice; and a decreased unit raises itself back by 2 A
on its own (SPEC §3.4). Neither may ever leave a unit allowed more than its ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.director_fakes import CoreBus, FakePeripheral
from tests.test_director_bus_as_found import LaggingPeripheral
from tests.test_director_safety_as_found import RealUnit
from twcdirector.events import COMMAND_CONFIRMED, COMMAND_FAILED, LIMIT_ENFORCED
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


@pytest.mark.parametrize("reply_delay", [0.03, 0.3, 1.2])
def test_twelve_quick_increases_with_lagging_reports_stop_at_the_ceiling(
    reply_delay: float,
) -> None:
    """The tester's report in the core: a unit at 20 A whose reports lag 3 heartbeats, 12
    increases 0.1 s apart. Rule 2: six are accepted (20 -> 32 A), six refused at submit
    time; rule 1: each of the six goes out once. Before the fix 9-10 went out (38-40 A)."""
    unit = RealUnit(0x2019, state=PeripheralState.CHARGING, allowed=20.0, actual=20.0, lag=3)
    harness = CoreBus(BusController(DirectorConfig(max_current=32)), [unit], reply_delay=1.2)
    harness.run_for(8)
    harness.reply_delay = reply_delay
    refusals: list[str] = []
    for _ in range(12):
        try:
            harness.core.submit(0x2019, CommandKind.INCREASE_CURRENT, 0, harness.now)
        except CurrentLimitError as error:
            refusals.append(str(error))
        harness.run_for(0.1)
    refused = sum("would exceed its 32 A ceiling" in each for each in refusals)
    highest = unit.allowed
    for _ in range(200):
        harness.run_for(0.1)
        highest = max(highest, unit.allowed)
    assert (increases(harness), highest, refused) == (6, 32, 6)
    assert harness.core.record(0x2019).allowed_amps == 32
    assert [n.payload.attempts for n in harness.events(COMMAND_CONFIRMED)][-6:] == [1] * 6
    assert harness.events(COMMAND_FAILED) == []


def test_a_set_current_confirmed_by_a_lagging_report_during_the_grace_does_not_fail() -> None:
    """Rule 4: after its last attempt an absolute current waits confirm_grace (2) heartbeat
    intervals for a report that shows it. Before the fix it failed after 4 attempts, one
    heartbeat before the unit's report showed it."""
    unit = LaggingPeripheral(0x2019, state=PeripheralState.CHARGING, allowed=20.0, lag=4)
    harness = CoreBus(BusController(DirectorConfig(max_current=32)), [unit])
    harness.run_for(8)
    ticket = harness.core.submit(0x2019, CommandKind.SET_SESSION_CURRENT, 16, harness.now)
    harness.run_for(10)
    sent = [m for _, m in harness.sent(ControllerHeartbeat, to=0x2019) if m.command == 9]
    assert len(sent) == 4  # idempotent: re-sent, a heartbeat apart
    assert harness.events(COMMAND_FAILED) == []
    [confirmed] = harness.events(COMMAND_CONFIRMED)
    assert (confirmed.ticket, confirmed.payload.attempts) == (ticket, 4)


def test_an_absolute_current_no_report_shows_fails_after_the_grace() -> None:
    unit = LaggingPeripheral(0x2019, state=PeripheralState.CHARGING, allowed=20.0, lag=6)
    harness = CoreBus(BusController(DirectorConfig(max_current=32)), [unit])
    harness.run_for(10)
    start = harness.now
    harness.core.submit(0x2019, CommandKind.SET_SESSION_CURRENT, 16, start)
    harness.run_for(3 * 1.3 + 2 * 1.3 - 0.1)
    assert harness.events(COMMAND_FAILED) == []
    harness.run_for(0.2)
    [failed] = harness.events(COMMAND_FAILED)
    assert failed.payload.reason == (
        "the unit's reply did not reflect it after 4 attempts and 2.6 s of grace"
    )


def test_enforcement_on_a_lagging_unit_is_confirmed_not_failed() -> None:
    """Rule 4: TWC_LIMIT_ENFORCED's lowering is confirmed by the lagging report that shows it
    (once, no FAILED, no second enforcement while it waits)."""
    unit = LaggingPeripheral(0x2019, state=PeripheralState.CHARGING, allowed=40.0, lag=4)
    harness = CoreBus(BusController(DirectorConfig(max_current=32)), [unit])
    harness.run_for(20)
    assert unit.allowed == 32
    assert len(harness.events(LIMIT_ENFORCED)) == 1
    assert harness.events(COMMAND_FAILED) == []
    [confirmed] = harness.events(COMMAND_CONFIRMED)
    assert (confirmed.payload.command, confirmed.payload.amps) == ("set_session_current", 32)


def test_the_final_guard_refuses_in_plain_words(caplog: pytest.LogCaptureFixture) -> None:
    """Rules 3 and 5: the guard judges the same worst case as submit; when the ceiling fell
    in between (a grant) its log line is plain words, never a dataclass repr."""
    harness, unit = charging(30)
    harness.core.submit(0x2019, CommandKind.INCREASE_CURRENT, 0, harness.now)
    harness.core.limits.set_grant(0x2019, 30)
    harness.run_for(3)
    assert increases(harness) == 0
    assert unit.allowed == 30
    assert (
        "refusing to increase current to 2019: would exceed its 30 A ceiling "
        "(worst case 30 A + 2 A)"
    ) in caplog.messages
    assert not [m for m in caplog.messages if "ControllerHeartbeat(" in m]
    [failed] = harness.events(COMMAND_FAILED)
    assert failed.payload.reason == "refused by the final safety check"


def test_a_decrease_never_lowers_the_worst_case() -> None:
    """A 07 whose report lags may not have applied yet, and it gives its 2 A back by itself
    within raise_back_window: an 06 right after it is judged as if the 07 never happened,
    plus the 2 A it will give back."""
    unit = RealUnit(0x2019, state=PeripheralState.CHARGING, allowed=28.0, actual=28.0, lag=3)
    harness = CoreBus(BusController(DirectorConfig(max_current=32)), [unit])
    harness.run_for(8)
    harness.core.submit(0x2019, CommandKind.DECREASE_CURRENT, 0, harness.now)
    harness.run_for(0.1)
    # 28 (reported) + 2 (given back) + 2 = 32 may go; a second is refused.
    harness.core.submit(0x2019, CommandKind.INCREASE_CURRENT, 0, harness.now)
    with pytest.raises(CurrentLimitError, match="1 increase"):
        harness.core.submit(0x2019, CommandKind.INCREASE_CURRENT, 0, harness.now)


def test_a_current_confirmed_after_increases_replaces_them_in_the_worst_case() -> None:
    """The unit applies frames in wire order: once a current sent after some increases is
    confirmed, those increases no longer count, and the next increase may go."""
    unit = RealUnit(0x2019, state=PeripheralState.CHARGING, allowed=20.0, actual=20.0, lag=3)
    harness = CoreBus(BusController(DirectorConfig(max_current=32)), [unit])
    harness.run_for(8)
    for _ in range(6):
        harness.core.submit(0x2019, CommandKind.INCREASE_CURRENT, 0, harness.now)
        harness.run_for(0.1)
    harness.core.submit(0x2019, CommandKind.SET_SESSION_CURRENT, 16, harness.now)
    harness.run_for(20)
    assert (unit.allowed, harness.core.record(0x2019).allowed_amps) == (16, 16)
    assert harness.core.pending(0x2019) == 0
    harness.core.submit(0x2019, CommandKind.INCREASE_CURRENT, 0, harness.now)
    harness.run_for(10)
    assert unit.allowed == 18
    assert increases(harness) == 7
