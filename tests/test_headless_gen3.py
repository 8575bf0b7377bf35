"""Gen 3 units beside a Gen 2 bus: the director announces them, the headless command prints them."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
from typing import Any

import pytest

from tests.director_fakes import FakePeripheral, MemoryBus
from twcdirector.__main__ import main, run
from twcdirector.cli import gen3_hosts
from twcdirector.exceptions import ConfigurationError
from twcdirector.gen2.config import DirectorConfig
from twcdirector.simulator.gen3 import start_gen3_units

pytestmark = pytest.mark.timeout(60)


async def _until(out: io.StringIO, *events: str, within: float = 20.0) -> list[dict[str, Any]]:
    async with asyncio.timeout(within):
        while True:
            records = [json.loads(line) for line in out.getvalue().splitlines()]
            seen = {record["event"] for record in records}
            if all(event in seen for event in events):
                return records
            await asyncio.sleep(0.05)


async def test_gen3_units_are_announced_and_printed_beside_gen2() -> None:
    (unit,) = await start_gen3_units(1, supply="split_phase")
    unit.plug_in()
    unit.start_charging(24)
    bus = MemoryBus([FakePeripheral(0x1839)])
    out = io.StringIO()
    stop = asyncio.Event()
    task = asyncio.create_task(
        run(
            "mem://",
            DirectorConfig(max_current=16),
            out=out,
            link_factory=bus.factory,
            stop=stop,
            gen3=[unit.host_port],
        )
    )
    try:
        records = await _until(
            out, "GEN3_VITALS", "GEN3_VERSION", "GEN3_LIFETIME", "GEN3_WIFI_STATUS"
        )
    finally:
        stop.set()
        assert await task == 0
        bus.close()
        await unit.stop()
    new = [r for r in records if r["event"] == "TWC_NEW_DEVICE"]
    assert {"device_id": unit.host_port, "generation": 3} in [r["data"] for r in new]
    vitals = next(r for r in records if r["event"] == "GEN3_VITALS")
    assert vitals["device"] == unit.host_port
    assert vitals["data"]["vehicle_connected"] is True
    assert vitals["data"]["split_phase"] is True
    connected = [r for r in records if r["event"] == "TWC_CAR_CONNECTED"]
    assert connected[0]["device"] == unit.host_port
    assert connected[0]["data"]["connected"] is True
    # Only the four read-only endpoints were ever asked for.
    assert set(unit.requested_paths()) <= {
        "/api/1/vitals",
        "/api/1/lifetime",
        "/api/1/version",
        "/api/1/wifi_status",
    }


def test_a_bad_gen3_host_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--port", "loop://", "--gen3", "http://host/path?x=1"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("python3 -m twcdirector: error:")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "second", ["127.0.0.1:18080", "http://127.0.0.1:18080", "http://127.0.0.1:18080/"]
)
def test_a_gen3_unit_given_twice_exits_2_with_one_line(
    second: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Gen 3 only, as a Gen 3-only home runs it: refused before anything starts.
    with pytest.raises(SystemExit) as caught:
        main(["--gen3", "127.0.0.1:18080", "--gen3", second])
    assert caught.value.code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("python3 -m twcdirector: error: --gen3 ")
    assert "same unit" in line


def test_the_gen3_hosts_are_normalised_and_distinct_ones_kept() -> None:
    args = argparse.Namespace(gen3=["http://a.lan/", "a.lan:8080", "b.lan"])
    assert gen3_hosts(args) == ("a.lan", "a.lan:8080", "b.lan")
    with pytest.raises(ConfigurationError, match="same unit"):
        gen3_hosts(argparse.Namespace(gen3=["A.lan", "a.lan:80"]))
