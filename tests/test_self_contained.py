"""The suite carries its own data: no test reads the shared reference folder beside the checkout.

A clone with nothing beside it must pass the README's test command, so every data file a test
reads lives in ``tests/data/`` (``tests/data/README.md`` says where each came from).
"""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent

#: Ways a test could reach the folder beside the checkout: a relative path up and into it,
#: ``parents[2]`` (the checkout's parent), or an absolute path. This file alone is exempt.
OUTSIDE = re.compile(
    r"\.\./" + "shared" + r"|parents\[2\]|/work/" + "shared" + r"|['\"]" + "shared" + r"['\"]"
)


def test_no_test_module_references_the_shared_folder() -> None:
    offenders = [
        f"{path.relative_to(TESTS)}:{number}: {line.strip()}"
        for path in sorted(TESTS.rglob("*.py"))
        if path != Path(__file__).resolve()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert offenders == []


def test_the_pattern_catches_the_old_way_of_reading_vectors() -> None:
    old = 'SHARED = Path(__file__).resolve().parents[2] / "' + 'shared"'
    assert OUTSIDE.search(old)
    assert OUTSIDE.search("open('../" + "shared/protocol/vectors.json')")


def test_every_data_file_is_listed_in_the_data_readme() -> None:
    data = TESTS / "data"
    readme = (data / "README.md").read_text(encoding="utf-8")
    entries = {path.name for path in data.iterdir() if path.name != "README.md"}
    assert entries, "tests/data is empty"
    assert sorted(name for name in entries if f"`{name}" not in readme) == []
