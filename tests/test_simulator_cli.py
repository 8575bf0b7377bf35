"""``python3 -m twcdirector.simulator``: options, the printed port, a clean exit on signals."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest
import serial_asyncio

from twcdirector.protocol import ControllerHeartbeat, FrameDecoder, PeripheralHeartbeat, encode
from twcdirector.simulator.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
BOUND = 30.0


@pytest.mark.parametrize(
    "argv",
    [
        ["--peripherals", "x"],
        ["--peripherals", "-1"],
        ["--peripherals", "0"],
        ["--protocol", "3"],
        ["--max-amps", "0"],
        ["--tail", "C0"],
        ["--tail", "zz"],
        ["--latency", "60-20"],
        ["--ids", "1839,2019"],
        ["--ids", "2019", "--peripherals", "2"],
        ["--scenario", "2 dance 0"],
        ["--scenario", "2 plug 4"],
        ["--gen3", "-2"],
        ["--no-such-option"],
    ],
)
def test_bad_options_give_one_line_and_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("python3 -m twcdirector.simulator: error: ")


def test_scenario_may_be_a_file(tmp_path: Path) -> None:
    from twcdirector.simulator.__main__ import _parser, scenario_from_args

    script = tmp_path / "demo.json"
    script.write_text('[{"at": 1, "action": "plug", "unit": 0}]', encoding="utf-8")
    args = _parser().parse_args(["--scenario", str(script), "--demo", "--peripherals", "2"])
    scenario = scenario_from_args(args)
    assert scenario is not None
    assert [(a.at, a.unit) for a in scenario.actions] == [(1.0, 0), (3.0, 0), (8.0, 1)]


async def start(*argv: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "twcdirector.simulator",
        *argv,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_prints_the_pty_serves_it_and_exits_cleanly(signum: signal.Signals) -> None:
    proc = await start("--peripherals", "3", "--protocol", "1,2", "--demo", "-v")
    assert proc.stdout is not None
    assert proc.stderr is not None
    try:
        async with asyncio.timeout(BOUND):
            port = (await proc.stdout.readline()).decode().strip()
        assert port.startswith("/dev/")
        reader, writer = await serial_asyncio.open_serial_connection(url=port, baudrate=9600)
        try:
            writer.write(encode(ControllerHeartbeat(0xF00D, 0x2019)))
            decoder = FrameDecoder()
            async with asyncio.timeout(BOUND):
                while True:
                    got = decoder.feed(await reader.read(256))
                    replies = [m for m in got if isinstance(m, PeripheralHeartbeat)]
                    if replies:
                        break
            # Unit 1 is protocol 2 ("1,2": the last entry repeats); unit 0 is protocol 1.
            assert replies[0].sender == 0x2019
            assert replies[0].length == 16
        finally:
            writer.close()
            await asyncio.sleep(0)
        proc.send_signal(signum)
        async with asyncio.timeout(BOUND):
            code = await proc.wait()
            err = (await proc.stderr.read()).decode()
        assert code == 0
        assert "Traceback" not in err
        assert "unit 0: ID 1839, protocol 1" in err
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_gen3_units_are_listed_after_the_port() -> None:
    proc = await start("--peripherals", "1", "--gen3", "2")
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(BOUND):
            lines = [(await proc.stdout.readline()).decode().strip() for _ in range(3)]
        assert lines[0].startswith("/dev/")
        assert all(line.startswith("http://127.0.0.1:") for line in lines[1:])
        assert lines[1] != lines[2]
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(BOUND):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_a_port_that_cannot_open_exits_1() -> None:
    proc = await start("--port", "/dev/does-not-exist")
    async with asyncio.timeout(BOUND):
        _, err = await proc.communicate()
    assert proc.returncode == 1
    assert err.decode().count("\n") == 1
