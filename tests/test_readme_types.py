"""The README's Python examples: every block runs, and the library's type-check.

Every ``python`` block from "The library" up to "The simulators" is written to a file of its
own and checked, unchanged, with the checkout's package on MYPYPATH. Errors inside the
package itself are not reported (``--follow-imports=silent``), as for a user whose twcdirector
is installed: CI checks the package with its own configuration.

Every ``python`` block of the whole README also runs (:func:`test_every_python_block_runs`
counts them, so a new block needs a test here).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from twcdirector.simulator import SimulatedBus, default_units

ROOT = Path(__file__).resolve().parent.parent

#: Both device handles are what NEW_DEVICE promises (a mypy probe, not an example).
HANDLE_PROBE = """\
from twcdirector import Gen3Unit, Peripheral
from twcdirector.events import DeviceHandle


def handles(peripheral: Peripheral, unit: Gen3Unit) -> list[DeviceHandle]:
    return [peripheral, unit]
"""


def library_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## The library") : text.index("## The simulators")]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def python_blocks() -> list[str]:
    """Every ``python`` block of the README, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, re.S)


def block_with(marker: str) -> str:
    [block] = [block for block in python_blocks() if marker in block]
    return block


def test_the_library_section_has_its_examples() -> None:
    blocks = library_blocks()
    assert len(blocks) >= 2
    assert any("new.device.on(" in block for block in blocks)


@pytest.mark.timeout(300)
def test_readme_library_examples_pass_mypy_strict(tmp_path: Path) -> None:
    files = []
    for index, block in enumerate([*library_blocks(), HANDLE_PROBE]):
        path = tmp_path / f"readme_block_{index}.py"
        path.write_text(block, encoding="utf-8")
        files.append(str(path))
    env = {**os.environ, "MYPYPATH": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--follow-imports=silent",
            "--cache-dir",
            str(tmp_path / "cache"),
            *files,
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- every block runs ------------------------------------------------------------------------


def test_every_python_block_runs() -> None:
    """Three blocks, each run by one test below: a new block needs its own test."""
    assert len(python_blocks()) == 3


@pytest.mark.timeout(120)
async def test_the_library_example_runs_against_simulated_units(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The block's ``main`` runs unchanged but for two substitutions: the port becomes the
    simulated units' pseudo terminal, and the final ``sleep(60)`` (watching) a 1 s one. Its
    ``sleep(10)`` stays: the units need that long to be announced and claimed. The block's
    last line, ``asyncio.run(main())``, is left out since the test runs ``main`` on its own
    loop."""
    block = block_with("async def main")
    for original in ('"/dev/ttyUSB0"', "asyncio.sleep(60)", "asyncio.run(main())"):
        assert original in block
    async with SimulatedBus.on_pty(default_units(2), scenario="1 plug 0; 1 plug 1") as sim:
        source = block.replace('"/dev/ttyUSB0"', repr(sim.port))
        source = source.replace("asyncio.sleep(60)", "asyncio.sleep(1)")
        source = source.replace("asyncio.run(main())", "")
        namespace: dict[str, Any] = {}
        exec(compile(source, "README.md (library example)", "exec"), namespace)
        await namespace["main"]()
        # What each unit was last told it may draw: the example's 16 A.
        commanded = [sim.unit(index).max_amps for index in (0, 1)]
    out = capsys.readouterr().out
    assert "new unit 1839" in out
    assert "new unit 2019" in out
    assert "1839 PeripheralHeartbeat(" in out  # every decoded frame
    assert "CarConnected(device_id='1839', connected=True" in out
    assert commanded == [16.0, 16.0]


def test_the_gen3_example_builds_a_director_watching_a_gen3_unit() -> None:
    """Nothing is opened until the director starts, so the block runs as it stands."""
    namespace: dict[str, Any] = {}
    exec(compile(block_with("attach_gen3"), "README.md (Gen 3 example)", "exec"), namespace)
    monitor = namespace["director"].gen3
    assert monitor is not None
    assert list(monitor.units) == ["192.168.1.50"]


def test_the_protocol_example_runs_on_real_frames(capsys: pytest.CaptureFixture[str]) -> None:
    """``chunk_from_the_serial_port`` is the real framed captures of
    ``tests/data/gen2_vectors.json`` back to back, as a serial port would deliver them."""
    from tests.conftest import load_vectors
    from twcdirector.protocol import decode_frame

    block = block_with("FrameDecoder()")
    framed = [vector["hex"] for vector in load_vectors() if vector["framed"]]
    chunk = b"".join(bytes.fromhex(text.replace(" ", "")) for text in framed)
    namespace: dict[str, Any] = {"chunk_from_the_serial_port": chunk}
    exec(compile(block, "README.md (protocol example)", "exec"), namespace)
    out = capsys.readouterr().out
    assert "ControllerLinkReady1(sender=861" in out  # 035D, the first real capture
    assert "checksum" in out  # decoder.errors, by kind
    assert "c0fbe2035d5f0000000000000000a1c0" in out  # feed_frames: the exact bytes
    # The comment under decode_frame(...) shows what it returns.
    call, comment = re.search(r"^(decode_frame\(.*\))\n# (.*), \.\.\.\)$", block, re.M).groups()
    assert repr(eval(call, {"decode_frame": decode_frame})).startswith(comment)


def test_the_gen3_error_kinds_in_the_readme_are_those_the_json_lines_print() -> None:
    import json

    from twcdirector.gen3.events import Gen3ErrorEvent, Gen3ErrorKind
    from twcdirector.jsonlog import event_line

    readme = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(n for n, line in enumerate(readme) if line.startswith("| `GEN3_ERROR`"))
    rows = []
    for line in readme[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(line.split("|")[1])
    documented = {name for row in rows for name in re.findall(r"`([^`]+)`", row)}
    printed = {
        json.loads(event_line("GEN3_ERROR", "h", Gen3ErrorEvent("h", "vitals", kind, "", 1)))[
            "data"
        ]["kind"]
        for kind in Gen3ErrorKind
    }
    assert documented == printed
