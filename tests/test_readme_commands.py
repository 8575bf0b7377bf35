"""The README's first two command lines: what they install, and CI runs the test line verbatim.

The lines themselves were run in a fresh clone on Debian 12 (see the issue 12 report); these
tests keep what makes them work there: a virtualenv each, a runtime install without test
tools, console scripts with ``--version``, and ``.ci/run`` running the same test line.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from twcdirector import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SETUP = (ROOT / "setup.py").read_text(encoding="utf-8")


def readme_commands() -> list[str]:
    """The command lines of the README's first ``bash`` block (comments left out)."""
    block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def test_the_readme_opens_with_a_run_line_and_a_test_line_each_in_a_virtualenv() -> None:
    run, test = readme_commands()
    for line in (run, test):
        assert line.startswith("python3 -m venv .venv && .venv/bin/pip install ")
    assert run == (
        "python3 -m venv .venv && .venv/bin/pip install . && "
        ".venv/bin/python -m twcdirector.utility --simulate 3 --max-current 32"
    )
    assert test.endswith(" -r requirements.txt && .venv/bin/python -m pytest")
    # Debian's python3 has no venv module without this package: said before the commands.
    assert README.index("sudo apt install python3-venv") < README.index(run)


def test_ci_runs_the_readme_test_line_verbatim() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert readme_commands()[1] in ci


def test_installing_to_run_pulls_in_no_test_tools() -> None:
    assert (ROOT / "requirements.txt").read_text(encoding="utf-8").split("\n")[-2] == "-e .[test]"
    install_requires = SETUP[SETUP.index("install_requires") : SETUP.index("extras_require")]
    for tool in ("pytest", "hypothesis", "mypy", "ruff", "matplotlib"):
        assert tool not in install_requires


@pytest.mark.parametrize("script", ["twcdirector", "twcdirector-utility"])
def test_console_scripts_point_at_the_commands(script: str) -> None:
    found = re.search(rf'"{script} = ([\w.]+):(\w+)"', SETUP)
    assert found is not None, f"no console script {script}"
    target = getattr(importlib.import_module(found.group(1)), found.group(2))
    assert callable(target)


def version_line(*command: str) -> str:
    """What ``python3 COMMAND --version`` prints (it must exit with code 0)."""
    done = subprocess.run(
        [sys.executable, *command, "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("module", ["twcdirector", "twcdirector.utility"])
def test_both_commands_print_their_version(module: str) -> None:
    import twcdirector

    assert version_line("-m", module) == f"python3 -m {module} {twcdirector.__version__}"


@pytest.mark.parametrize(
    ("script", "module"), [("twcdirector", "__main__"), ("twcdirector-utility", "utility")]
)
def test_console_scripts_print_their_own_name_with_the_version(
    script: str, module: str, tmp_path: Path
) -> None:
    import twcdirector

    # What pip writes to .venv/bin: a file named after the script that calls main().
    path = tmp_path / script
    path.write_text(
        f"import sys\nfrom twcdirector.{module} import main\nsys.exit(main())\n",
        encoding="utf-8",
    )
    assert version_line(str(path)) == f"{script} {twcdirector.__version__}"


def test_the_program_name_follows_how_it_was_started() -> None:
    name = cli.program_name
    assert name("twcdirector", "twcdirector", "/srv/.venv/bin/twcdirector") == "twcdirector"
    assert name("twcdirector", "twcdirector", r"twcdirector.exe") == "twcdirector"
    assert name("twcdirector", "twcdirector", "/x/twcdirector/__main__.py") == (
        "python3 -m twcdirector"
    )
    assert name("twcdirector-utility", "twcdirector.utility", "/x/twcdirector/utility.py") == (
        "python3 -m twcdirector.utility"
    )
    # Another console script (pytest, a wrapper) is not this command's name.
    assert name("twcdirector", "twcdirector", "/usr/bin/pytest") == "python3 -m twcdirector"
