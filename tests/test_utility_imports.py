"""The utility loads only what it uses: aiohttp, tesla-wall-connector, the Gen 3 monitor and
the simulated Gen 3 units only when a Gen 3 option asks for them (issue 12, start-up time and
memory on a Raspberry Pi; ``benchmarks/startup.py`` measures both)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Run the utility up to the moment it would take the terminal, then report what was loaded:
#: the director (and any Gen 3 monitor) has started, the screen is replaced by a stand-in
#: that records ``sys.modules`` and leaves, so everything shuts down as after ``q``.
PROBE = """\
import asyncio, contextlib, json, sys
from twcdirector import utility

loaded = []

@contextlib.contextmanager
def screen():
    loaded.extend(sys.modules)
    raise KeyboardInterrupt
    yield

utility.curses_screen = screen
with contextlib.suppress(KeyboardInterrupt):
    asyncio.run(utility.run(utility.parse_options(sys.argv[1:])))
print(json.dumps(sorted(loaded)))
"""

GEN3_ONLY = ("aiohttp", "tesla_wall_connector", "twcdirector.gen3.monitor")


def loaded_by(*argv: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def heavy(modules: set[str]) -> set[str]:
    return {name for name in modules if name.split(".")[0] in GEN3_ONLY or name in GEN3_ONLY}


@pytest.mark.timeout(180)
def test_a_gen2_run_loads_no_gen3_code_nor_aiohttp() -> None:
    modules = loaded_by("--simulate", "3", "--max-current", "32")
    assert "twcdirector.gen2.director" in modules  # the run really got going
    assert heavy(modules) == set()
    assert "twcdirector.simulator.gen3" not in modules


@pytest.mark.timeout(180)
def test_a_gen3_option_loads_them() -> None:
    modules = loaded_by("--simulate", "1", "--max-current", "32", "--simulate-gen3", "1")
    assert {"aiohttp", "tesla_wall_connector", "twcdirector.gen3.monitor"} <= modules
    assert "twcdirector.simulator.gen3" in modules
