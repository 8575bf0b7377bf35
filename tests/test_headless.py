"""The headless command: JSON lines, exit codes, signals; in-process and as a real process."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import sys
from typing import Any

import pytest

from tests.director_fakes import FakePeripheral, MemoryBus, run_virtual
from twcdirector.__main__ import build_parser, main, run
from twcdirector.cli import director_config
from twcdirector.gen2.config import DirectorConfig
from twcdirector.jsonlog import event_line
from twcdirector.protocol import FrameDecoder, PeripheralHeartbeat, encode_reply

VIN = "5YJ3E1EA7KF000001"


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_every_event_is_one_json_line_with_time_event_device_data() -> None:
    async def main_() -> str:
        bus = MemoryBus([FakePeripheral(0x1839, vin=VIN)])
        out = io.StringIO()
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(15, stop.set)
        code = await run(
            "mem://", DirectorConfig(max_current=16), out=out, link_factory=bus.factory, stop=stop
        )
        assert code == 0
        bus.close()
        return out.getvalue()

    records = lines(run_virtual(main_))
    assert all(set(record) == {"time", "event", "device", "data"} for record in records)
    assert all(record["time"].endswith("+00:00") for record in records)
    by_event: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_event.setdefault(record["event"], []).append(record)
    new = by_event["TWC_NEW_DEVICE"]
    assert [(r["device"], r["data"]) for r in new] == [
        ("1839", {"device_id": "1839", "generation": 2})
    ]
    status = by_event["TWC_STATUS"][0]
    assert status["device"] == "1839"
    assert status["data"]["type"] == "PeripheralHeartbeat"
    assert status["data"]["state"] == "READY"
    assert status["data"]["receiver"] == 0xF00D
    assert by_event["TWC_CAR_CONNECTED"][0]["data"] == {
        "device_id": "1839",
        "connected": True,
        "vin": VIN,
    }
    for name in ("TWC_METER", "TWC_VERSION", "TWC_SERIAL", "TWC_VIN_HIGH", "TWC_STATE_CHANGED"):
        assert name in by_event, name
    # The FD E2 heard before the unit answered is reported on the bus, not lost.
    assert by_event["TWC_BUS_MESSAGE"][0]["data"]["type"] == "PeripheralLinkReady"


def test_event_line_renders_bytes_enums_and_non_finite_numbers() -> None:
    from twcdirector.events import FramingErrorEvent
    from twcdirector.exceptions import FrameErrorKind

    record = json.loads(
        event_line(
            "TWC_FRAMING_ERROR",
            None,
            FramingErrorEvent(FrameErrorKind.CHECKSUM, "bad", b"\xfd\xe0"),
        )
    )
    assert record["data"] == {"kind": "CHECKSUM", "message": "bad", "data": "fde0"}
    assert record["device"] is None
    beat = json.loads(
        event_line(
            "__ALL_COMMANDS__", "1839", PeripheralHeartbeat(0x1839, 0xF00D, 0x42, 6.0, float("nan"))
        )
    )
    assert beat["event"] == "TWC_STATUS"
    assert beat["data"]["state"] == 0x42
    assert beat["data"]["actual_amps"] is None


def test_options_become_the_config() -> None:
    args = build_parser().parse_args(
        ["--port", "loop://", "--listen-only", "--max-current", "32", "--controller-id", "7777"]
    )
    config = director_config(args)
    assert config.listen_only is True
    assert config.max_current == 32.0
    assert config.controller_id == 0x7777
    assert director_config(build_parser().parse_args(["--port", "x"])) == DirectorConfig()


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--port"],
        ["--port", "loop://", "--max-current", "lots"],
        ["--port", "loop://", "--max-current", "-6"],
        ["--port", "loop://", "--controller-id", "FFFF"],
        ["--port", "loop://", "--controller-id", "zz"],
        ["--port", "loop://", "--bogus"],
    ],
)
def test_bad_options_exit_2_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "error:" in err


async def _command(*args: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "twcdirector",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def test_a_bad_port_exits_2_with_one_line() -> None:
    process = await _command("--port", "/dev/twcdirector-no-such-port")
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    assert out == b""
    assert len(err.decode().strip().splitlines()) == 1
    assert b"cannot open" in err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_stops_it_gracefully_with_exit_0(signum: signal.Signals) -> None:
    process = await _command("--port", "loop://", "--listen-only", "-v")
    assert process.stderr is not None
    # Wait until it runs (it logs its start), then signal it.
    line = await asyncio.wait_for(process.stderr.readline(), 60)
    assert b"director" in line
    process.send_signal(signum)
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err
    assert b"closed" in err


async def test_end_to_end_over_a_tcp_serial_url() -> None:
    """A real process, a real transport (socket://), a scripted unit on the far end."""
    unit = FakePeripheral(0x1839)
    connected = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.set()
        decoder = FrameDecoder()
        writer.write(encode_reply(unit.link_ready()))
        try:
            while data := await reader.read(256):
                for message in decoder.feed(data):
                    for reply in unit.handle(message):
                        writer.write(encode_reply(reply))
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    process = await _command("--port", f"socket://127.0.0.1:{port}", "--max-current", "16")
    assert process.stdout is not None
    seen: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(60):
            while not any(r["event"] == "TWC_STATUS" for r in seen):
                line = await process.stdout.readline()
                assert line, "the command ended early"
                seen.append(json.loads(line))
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), 60)
        server.close()
        await server.wait_closed()
    assert process.returncode == 0
    assert connected.is_set()
    events_seen = [r["event"] for r in seen]
    assert "TWC_NEW_DEVICE" in events_seen
    assert events_seen.index("TWC_NEW_DEVICE") < events_seen.index("TWC_STATUS")
    assert unit.claimed


async def test_a_second_instance_on_the_same_port_exits_2_with_port_busy() -> None:
    """Before issue 11 both instances opened the pty and fought over the bus."""
    master, slave = os.openpty()
    name = os.ttyname(slave)
    first = await _command("--port", name, "-v")
    try:
        assert first.stderr is not None
        line = await asyncio.wait_for(first.stderr.readline(), 60)
        assert b"director" in line  # it runs, the port is held
        second = await _command("--port", name)
        out, err = await asyncio.wait_for(second.communicate(), 60)
        assert second.returncode == 2
        assert out == b""
        [message] = err.decode().strip().splitlines()
        assert "port busy" in message
    finally:
        first.send_signal(signal.SIGTERM)
        await asyncio.wait_for(first.communicate(), 60)
        os.close(master)
        os.close(slave)
    assert first.returncode == 0
