"""Scripted scenarios: the text and JSON forms, their errors, the demo."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twcdirector.exceptions import ConfigurationError
from twcdirector.simulator import (
    Action,
    ActionKind,
    Car,
    Scenario,
    UnitConfig,
    VirtualLink,
    demo_scenario,
    make_vin,
)

TEXT = """
# a Tesla plugs in, another car later; faults on the way
2 plug 0 vin=5YJ3E1EA0LF000001 amps=48 rate=8
+60 unplug 0          # 62 s
5 plug 1 vin=none amps=16
8 drop 1 count=3; 9 corrupt 0; 10 delay 0 seconds=0.3 count=2
11 noise 2 data=00ff55
12 silent 1 for=40
13s collide 1 id=F00D
30 reboot 2
"""


def test_text_form() -> None:
    scenario = Scenario.parse(TEXT)
    assert [(a.at, a.kind, a.unit) for a in scenario.actions] == [
        (2.0, ActionKind.PLUG_IN, 0),
        (5.0, ActionKind.PLUG_IN, 1),
        (8.0, ActionKind.DROP, 1),
        (9.0, ActionKind.CORRUPT, 0),
        (10.0, ActionKind.DELAY, 0),
        (11.0, ActionKind.NOISE, 2),
        (12.0, ActionKind.GO_SILENT, 1),
        (13.0, ActionKind.COLLIDE, 1),
        (30.0, ActionKind.REBOOT, 2),
        (62.0, ActionKind.UNPLUG, 0),
    ]
    by_kind = {a.kind: a for a in scenario.actions if a.kind is not ActionKind.PLUG_IN}
    plugs = [a for a in scenario.actions if a.kind is ActionKind.PLUG_IN]
    assert plugs[0].car == Car(vin="5YJ3E1EA0LF000001", max_amps=48, ramp_rate=8, tesla=True)
    assert plugs[1].car == Car(vin=None, max_amps=16, tesla=False)
    assert by_kind[ActionKind.DROP].count == 3
    assert by_kind[ActionKind.DELAY].seconds == 0.3
    assert by_kind[ActionKind.DELAY].count == 2
    assert by_kind[ActionKind.NOISE].data == b"\x00\xff\x55"
    assert by_kind[ActionKind.GO_SILENT].seconds == 40
    assert by_kind[ActionKind.COLLIDE].device_id == 0xF00D


def test_json_form_matches_the_text_form() -> None:
    entries = [
        {"at": 2, "action": "plug_in", "unit": 0, "vin": "5YJ3E1EA0LF000001", "amps": 48},
        {"at": "+60", "action": "unplug"},
        {"at": 12, "action": "go_silent", "unit": 1, "seconds": 40},
        {"at": 13, "action": "collide", "unit": 1, "id": "F00D"},
        {"at": 14, "action": "noise", "unit": 1, "count": 5},
    ]
    text = (
        "2 plug 0 vin=5YJ3E1EA0LF000001 amps=48; +60 unplug; 12 silent 1 for=40;"
        "13 collide 1 id=F00D; 14 noise 1 count=5"
    )
    assert Scenario.parse(json.dumps(entries)) == Scenario.parse(text)
    assert Scenario.parse(json.dumps({"actions": entries})) == Scenario.parse(text)


def test_default_plug_in_car_has_a_vin_unique_to_the_unit() -> None:
    link = VirtualLink([UnitConfig(), UnitConfig(device_id=0x2019)])
    link.bus.add(Scenario.parse("1 plug 0; 1 plug 1"))
    link.advance(2)
    assert [u.vin for u in link.bus.units] == [make_vin(1), make_vin(2)]


def test_actions_at_the_same_time_keep_their_order() -> None:
    scenario = Scenario.parse("5 plug 0; 5 unplug 0; 1 reboot 0")
    assert [a.kind for a in scenario.actions] == [
        ActionKind.REBOOT,
        ActionKind.PLUG_IN,
        ActionKind.UNPLUG,
    ]
    assert len(scenario + Scenario.parse("0 reboot 1")) == 4


@pytest.mark.parametrize(
    "text",
    [
        "2 dance 0",
        "2",
        "x plug 0",
        "2 plug 0 colour=red",
        "2 plug 0 vin",
        "2 unplug 0 vin=none",
        "2 plug 0 vin=SHORT",
        "2 plug 0 tesla=maybe",
        "2 noise 0 data=zz",
        "2 collide 0 id=xyz",
        "2 collide 0 id=FFFF",
        "-1 plug 0",
        "2 drop 0 count=-1",
        "2 silent 0 for=inf",
        "2 plug -1",
        "[1, 2]",
        '[{"at": 1}]',
        '{"actions": 3}',
        "[{",
        '[{"at": true, "action": "plug"}]',
        '[{"at": 1e999, "action": "plug"}]',
        '[{"at": 1, "action": "drop", "count": 1%s}]' % ("0" * 400),
    ],
)
def test_mistakes_are_configuration_errors(text: str) -> None:
    with pytest.raises(ConfigurationError):
        Scenario.parse(text)


@given(st.text(max_size=80))
def test_any_text_parses_or_is_a_configuration_error(text: str) -> None:
    try:
        scenario = Scenario.parse(text)
    except ConfigurationError:
        return
    assert all(isinstance(action, Action) for action in scenario.actions)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)


@given(
    st.lists(
        st.fixed_dictionaries(
            {"at": json_values, "action": st.sampled_from(["plug", "noise", "drop", "x"])},
            optional={"unit": json_values, "count": json_values, "vin": json_values},
        ),
        max_size=4,
    )
)
def test_any_json_parses_or_is_a_configuration_error(entries: list[dict[str, object]]) -> None:
    with contextlib.suppress(ConfigurationError):
        Scenario.parse(json.dumps(entries))


def test_demo_scenario() -> None:
    assert len(demo_scenario(0)) == 0
    assert [a.unit for a in demo_scenario(1).actions] == [0]
    demo = demo_scenario(3)
    assert [(a.unit, a.kind) for a in demo.actions] == [
        (0, ActionKind.PLUG_IN),
        (1, ActionKind.PLUG_IN),
    ]
    tesla, other = (a.car for a in demo.actions)
    assert tesla is not None
    assert tesla.vin
    assert other is not None
    assert other.vin is None
