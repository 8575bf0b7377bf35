"""The README's library examples type-check under ``mypy --strict`` as a user would write them.

Every ``python`` block from "The library" up to "The simulators" is written to a file of its
own and checked, unchanged, with the checkout's package on MYPYPATH. Errors inside the
package itself are not reported (``--follow-imports=silent``), as for a user whose twcdirector
is installed: CI checks the package with its own configuration.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

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
