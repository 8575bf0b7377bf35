"""Current limits and the director's options."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twcdirector.exceptions import ConfigurationError, CurrentLimitError, InvalidValueError
from twcdirector.gen2.config import DirectorConfig
from twcdirector.gen2.limits import CurrentLimits, WorstCase
from twcdirector.protocol import ProtocolVersion


@dataclass(frozen=True)
class Unit:
    device_id: int = 0x1839
    protocol: ProtocolVersion = ProtocolVersion.V2
    advertised_max: float | None = 32.0


@pytest.mark.parametrize("amps", [0, 0.0, 6, 6.0, 20, 32])
def test_legal_currents_pass(amps: float) -> None:
    assert CurrentLimits(32.0).check(amps, Unit()) == float(amps)


@pytest.mark.parametrize(
    ("amps", "match"),
    [
        (-1, "not a current"),
        (math.nan, "not a current"),
        (math.inf, "not a current"),
        (6.5, "whole"),
        (5, "minimum of 6"),
        (33, "limit of 32"),
        (True, "number"),
        ("16", "number"),
    ],
)
def test_illegal_currents_raise(amps: object, match: str) -> None:
    with pytest.raises(CurrentLimitError, match=match):
        CurrentLimits(40.0).check(amps, Unit())  # type: ignore[arg-type]


def test_protocol_1_minimum_is_5() -> None:
    limits = CurrentLimits(32.0)
    assert limits.check(5, Unit(protocol=ProtocolVersion.V1)) == 5.0
    with pytest.raises(CurrentLimitError):
        limits.check(5, Unit())


def test_no_configured_maximum_allows_only_zero() -> None:
    limits = CurrentLimits(None)
    assert limits.check(0, Unit()) == 0.0
    with pytest.raises(CurrentLimitError, match="no maximum current is configured"):
        limits.check(6, Unit())
    assert limits.ceiling(Unit()) == 0.0
    assert limits.allocation(Unit()) == 0.0


def test_grants_are_one_more_ceiling_and_can_be_removed() -> None:
    limits = CurrentLimits(32.0)
    limits.set_grant(0x1839, 10)
    assert limits.ceiling(Unit()) == 10.0
    assert limits.ceiling(Unit(device_id=0x2222)) == 32.0
    with pytest.raises(CurrentLimitError):
        limits.check(11, Unit())
    limits.set_grant(0x1839, None)
    assert limits.check(32, Unit()) == 32.0
    with pytest.raises(CurrentLimitError):
        limits.set_grant(0x1839, -1)


def test_unknown_advertised_maximum_leaves_the_configured_one() -> None:
    assert CurrentLimits(40.0).ceiling(Unit(advertised_max=None)) == 40.0
    assert CurrentLimits(40.0).ceiling(Unit(advertised_max=32.0)) == 32.0


def test_increase_is_refused_past_the_ceiling() -> None:
    limits = CurrentLimits(32.0)
    limits.check_increase(WorstCase(30.0, 0.0, 0, 0.0), Unit())
    with pytest.raises(CurrentLimitError, match="not reported"):
        limits.check_increase(WorstCase(None, 20.0, 0, 0.0), Unit())


@pytest.mark.parametrize(
    ("worst", "counted"),
    [
        (WorstCase(31.0, 0.0, 0, 0.0), "(worst case 31 A + 2 A)"),
        (WorstCase(20.0, 31.0, 0, 0.0), "(worst case 31 A + 2 A; 31 A granted, reported 20 A)"),
        (WorstCase(20.0, 20.0, 6, 0.0), "(worst case 32 A + 2 A; 6 increase(s) pending)"),
        (WorstCase(30.0, 0.0, 0, 2.0), "(worst case 32 A + 2 A; 2 A a decrease gives back)"),
    ],
)
def test_the_worst_case_is_what_an_increase_is_judged_by(worst: WorstCase, counted: str) -> None:
    """max(reported, granted) + 2 A per pending increase + what a decrease gives back, in
    plain words (never a dataclass repr)."""
    with pytest.raises(CurrentLimitError) as refused:
        CurrentLimits(32.0).check_increase(worst, Unit())
    assert str(refused.value) == (
        f"refusing to increase current to 1839: would exceed its 32 A ceiling {counted}"
    )


def test_allocation_is_whole_amps_and_zero_below_the_minimum() -> None:
    assert CurrentLimits(31.5).allocation(Unit()) == 31.0
    assert CurrentLimits(32.0).allocation(Unit(), wanted=16) == 16.0
    limits = CurrentLimits(32.0)
    limits.set_grant(0x1839, 4)
    assert limits.allocation(Unit()) == 0.0


@given(
    amps=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-100, 1000)),
    maximum=st.none() | st.floats(0, 200),
    advertised=st.none() | st.floats(0, 100),
    grant=st.none() | st.floats(0, 100),
    protocol=st.sampled_from(list(ProtocolVersion)),
)
def test_check_returns_only_legal_currents(
    amps: float,
    maximum: float | None,
    advertised: float | None,
    grant: float | None,
    protocol: ProtocolVersion,
) -> None:
    limits = CurrentLimits(maximum)
    if grant is not None:
        limits.set_grant(0x1839, grant)
    unit = Unit(protocol=protocol, advertised_max=advertised)
    try:
        result = limits.check(amps, unit)
    except CurrentLimitError:
        return
    assert result == amps
    if result:
        assert maximum is not None
        assert result == int(result)
        assert result >= (5 if protocol is ProtocolVersion.V1 else 6)
        assert result <= min(maximum, advertised or math.inf, math.inf if grant is None else grant)
    allocation = limits.allocation(unit)
    assert allocation == 0 or allocation <= limits.ceiling(unit)


def test_config_defaults_are_the_spec_decisions() -> None:
    config = DirectorConfig()
    assert config.controller_id == 0xF00D
    assert config.sign is None
    assert config.max_current is None
    assert config.max_peripherals == 3
    assert (config.startup_e1_count, config.startup_e1_interval) == (4, 1.3)
    assert (config.startup_e2_count, config.startup_e2_interval) == (3, 0.3)
    assert config.heartbeat_interval == 1.3
    assert config.data_request_interval == 11.8
    assert config.reply_timeout == 0.25
    assert config.inter_frame_gap == 0.010
    assert config.lost_after == 26.0
    assert config.command_retries == 3
    assert config.fail_safe is False
    assert (config.reconnect_backoff_initial, config.reconnect_backoff_max) == (0.5, 10.0)
    assert config.baudrate == 9600


@pytest.mark.parametrize(
    "options",
    [
        {"controller_id": 0},
        {"controller_id": 0xFFFF},
        {"controller_id": 0x10000},
        {"sign": 0},
        {"sign": 255},
        {"max_current": -1},
        {"max_current": math.nan},
        {"max_peripherals": 0},
        {"heartbeat_interval": 0},
        {"reply_timeout": -0.1},
        {"inter_frame_gap": -0.01},
        {"command_retries": -1},
        {"lost_after": 1.0},
        {"reconnect_backoff_initial": 20.0},
        {"baudrate": 0},
        {"startup_e1_count": 1.5},
    ],
)
def test_bad_options_raise_configuration_error(options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        DirectorConfig(**options)  # type: ignore[arg-type]


def test_one_minimum_table_and_one_whole_amp_check() -> None:
    """The codec's table is the only one: the director's limits and capacity sharing read it."""
    from twcdirector.protocol.codes import MINIMUM_AMPS
    from twcdirector.sharing import PROTOCOL_MINIMUM, InstallationLimits, whole_amps

    assert MINIMUM_AMPS == {ProtocolVersion.V1: 5, ProtocolVersion.V2: 6}
    assert PROTOCOL_MINIMUM is MINIMUM_AMPS
    limits = InstallationLimits(40, 32)
    for version, amps in MINIMUM_AMPS.items():
        assert CurrentLimits(32.0).minimum(Unit(protocol=version)) == amps
        assert limits.minimum(version) == amps
    assert whole_amps(16.0, "amps") == 16
    with pytest.raises(CurrentLimitError, match="whole"):
        whole_amps(6.5, "amps", error=CurrentLimitError)
    with pytest.raises(ConfigurationError, match="shared_max"):
        DirectorConfig(max_current=32, shared_max=40.5)


def test_unit_ids_are_formatted_and_parsed_in_one_place() -> None:
    from twcdirector.events import format_id, parse_id

    assert format_id(0x1839) == "1839"
    assert parse_id("1839") == parse_id("0x1839") == 0x1839
    for bad in ("xyz", "10000", ""):
        with pytest.raises(InvalidValueError):
            parse_id(bad)
