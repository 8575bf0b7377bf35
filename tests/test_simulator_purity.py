"""The simulator's core is pure: no I/O, no clock, only the protocol package and stdlib."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import twcdirector.simulator

PACKAGE = Path(twcdirector.simulator.__file__).resolve().parent
PURE = ["bus.py", "car.py", "config.py", "faults.py", "peripheral.py", "scenario.py", "virtual.py"]
#: What the pure core may use from twcdirector.
ALLOWED_OWN = ("twcdirector.protocol", "twcdirector.exceptions", "twcdirector.simulator.")
FORBIDDEN_STDLIB = {"asyncio", "os", "time", "socket", "select", "selectors", "threading", "tty"}
ADAPTERS = {"runner.py", "link.py", "__main__.py", "__init__.py", "gen3.py"}


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 1:
                found.add(f"twcdirector.simulator.{node.module or ''}")
            elif node.level == 2:
                found.add(f"twcdirector.{node.module or ''}")
            else:
                found.add(node.module or "")
    return found


@pytest.mark.parametrize("name", PURE)
def test_core_module_is_pure(name: str) -> None:
    for module in imports(PACKAGE / name):
        top = module.split(".")[0]
        if top == "twcdirector":
            assert module.startswith(ALLOWED_OWN), (name, module)
            assert module.removeprefix("twcdirector.simulator.") + ".py" not in ADAPTERS, module
        else:
            assert top in sys.stdlib_module_names, (name, module)
            assert top not in FORBIDDEN_STDLIB, (name, module)


def test_every_module_is_classified() -> None:
    modules = {path.name for path in PACKAGE.glob("*.py")}
    assert modules <= set(PURE) | ADAPTERS, modules - set(PURE) - ADAPTERS


def test_the_guard_sees_a_relative_adapter_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("from .runner import SimulatedBus\nimport asyncio\n", encoding="utf-8")
    assert imports(probe) == {"twcdirector.simulator.runner", "asyncio"}
