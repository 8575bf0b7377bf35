"""The Agenda: every unit's next heartbeat, data request and silence deadline in O(log n),
always the same answer as a scan of the units in discovery order (issue 15)."""

from __future__ import annotations

import math
import random

from twcdirector.gen2.config import DirectorConfig
from twcdirector.gen2.schedule import Agenda

CONFIG = DirectorConfig()


def scan(agenda: Agenda, online: dict[int, float]) -> tuple[object, object]:
    """What a walk over the online units in discovery order picks (min keeps the first)."""
    units = [(d, s) for d, s in agenda.schedules.items() if d in online]
    beats = [(s.heartbeat_due, d) for d, s in units]
    requests = [(s.next_request_due(), d) for d, s in units if s.request_allowed]
    heartbeat = min(beats, key=lambda item: item[0]) if beats else None
    request = min(requests, key=lambda item: item[0]) if requests else None
    return heartbeat, request


def test_ties_go_to_the_unit_discovered_first_and_silence_to_the_least_recently_heard() -> None:
    agenda = Agenda(CONFIG)
    for device_id in (0x3333, 0x1111, 0x2222):
        agenda.add(device_id, 10.0)
    assert agenda.next_heartbeat() == (10.0, 0x3333)
    agenda.schedules[0x3333].heartbeat_sent(10.0)
    assert agenda.next_heartbeat() == (10.0, 0x1111)
    assert agenda.next_request() == (10.0 + 1.3, 0x3333)  # its first, one interval on
    agenda.heard(0x3333, 11.0)
    agenda.heard(0x1111, 12.0)
    assert agenda.next_silence(20.0, 26.0) == 36.0  # 0x2222
    assert agenda.next_silence(36.0, 26.0) == 37.0  # past 0x2222, not expired yet
    assert agenda.silent(36.0, 26.0) == [0x2222]
    assert agenda.silent(37.5, 26.0) == [0x2222, 0x3333]
    agenda.set_online(0x2222, False)
    assert agenda.next_silence(20.0, 26.0) == 37.0
    assert agenda.next_heartbeat() == (10.0, 0x1111)
    agenda.remove(0x1111)
    assert agenda.next_heartbeat() == (10.0 + 1.3, 0x3333)
    # Found again, a unit keeps its place in discovery order.
    agenda.schedules[0x2222].heartbeat_sent(10.0)  # offline: not filed until it answers
    assert agenda.next_heartbeat() == (10.0 + 1.3, 0x3333)
    agenda.set_online(0x2222, True)
    agenda.heard(0x2222, 40.0)
    agenda.schedules[0x2222].claim(11.3)
    assert agenda.next_heartbeat() == (11.3, 0x3333)
    agenda.add(0x1111, 11.3)  # forgotten and discovered again: last on a tie
    assert agenda.next_heartbeat() == (11.3, 0x3333)
    agenda.remove(0x3333)
    assert agenda.next_heartbeat() == (11.3, 0x2222)
    agenda.remove(0x1111)
    agenda.remove(0x2222)
    assert agenda.next_heartbeat() is None
    assert agenda.next_request() is None
    assert agenda.next_silence(20.0, 26.0) == math.inf


def test_random_operations_always_agree_with_a_scan() -> None:
    rng = random.Random(15)
    agenda = Agenda(CONFIG)
    online: dict[int, float] = {}
    now = 0.0
    for step in range(5000):
        now += rng.choice((0.0, 0.01, 0.3, 1.3))
        device_id = rng.choice((0x1111, 0x2222, 0x3333, 0x4444, 0x5555))
        action = rng.randrange(7)
        if device_id not in agenda.schedules:
            agenda.add(device_id, now)
            online[device_id] = now
        elif action == 0:
            agenda.remove(device_id)
            online.pop(device_id, None)
        elif action == 1 and device_id in online:
            agenda.set_online(device_id, False)
            del online[device_id]
        elif action == 2 and device_id not in online:
            agenda.set_online(device_id, True)
            agenda.heard(device_id, now)
            online[device_id] = now  # last heard: the end of the order
        elif action == 3:
            agenda.schedules[device_id].claim(now)
        elif action == 4:
            agenda.schedules[device_id].heartbeat_sent(now)
        elif action == 5 and (index := agenda.schedules[device_id].due_request(now)) is not None:
            agenda.schedules[device_id].request_sent(index, now)
        elif device_id in online:
            agenda.heard(device_id, now)
            del online[device_id]
            online[device_id] = now
        heartbeat, request = scan(agenda, online)
        assert agenda.next_heartbeat() == heartbeat, f"step {step}"
        assert agenda.next_request() == request, f"step {step}"
        deadlines = [heard + 2.0 for heard in online.values() if now < heard + 2.0]
        assert agenda.next_silence(now, 2.0) == min(deadlines, default=math.inf)
        silent = [d for d, heard in online.items() if now >= heard + 2.0]
        assert agenda.silent(now, 2.0) == silent
    # Stale entries are dropped: the heaps stay a small multiple of the units.
    assert len(agenda._heartbeats) + len(agenda._requests) <= 8 * 5 + 32
