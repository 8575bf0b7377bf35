"""The shape of the project: pure modules stay pure, the public API stays pinned."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import twcdirector

PACKAGE = Path(twcdirector.__file__).resolve().parent

#: Modules and packages that must do no I/O and read no clock of their own.
PURE = [
    "protocol",
    "sharing",
    "events.py",
    "exceptions.py",
    "keys.py",
    "screen.py",
    "gen3/body.py",
    "gen3/config.py",
    "gen3/events.py",
    "gen3/model.py",
    "gen3/schedule.py",
    "gen3/tracker.py",
    "mqtt/available.py",
    "mqtt/discovery.py",
    "mqtt/outbox.py",
    "mqtt/settings.py",
    "mqtt/topics.py",
    "mqtt/values.py",
    "simulator/bus.py",
    "simulator/car.py",
    "simulator/config.py",
    "simulator/faults.py",
    "simulator/peripheral.py",
    "simulator/scenario.py",
    "simulator/virtual.py",
]
#: What a pure module may never import.
FORBIDDEN = {
    "asyncio",
    "serial",
    "serial_asyncio",
    "pyee",
    "curses",
    "aiohttp",
    "tesla_wall_connector",
    "aiomqtt",
    "paho",
    "socket",
    "selectors",
    "select",
    "threading",
    "subprocess",
    "time",
    "os",
    "twcdirector.emitter",
    "twcdirector.transport",
    "twcdirector.director",
    "twcdirector.gen3.monitor",
    "twcdirector.mqtt.bridge",
    "twcdirector.terminal",
    "twcdirector.utility",
}


def _pure_files() -> list[Path]:
    files: list[Path] = []
    for name in PURE:
        path = PACKAGE / name
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = "twcdirector." + ".".join(path.relative_to(PACKAGE).parent.parts)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rstrip(".").split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
    return found


@pytest.mark.parametrize("path", _pure_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_pure_modules_import_no_io(path: Path) -> None:
    for module in _imports(path):
        top = module.split(".")[0]
        assert not any(module == f or module.startswith(f + ".") for f in FORBIDDEN), module
        assert top == "twcdirector" or top in sys.stdlib_module_names, module


def test_protocol_package_imports_only_the_standard_library_and_pure_siblings() -> None:
    for path in (PACKAGE / "protocol").rglob("*.py"):
        for module in _imports(path):
            assert module.split(".")[0] in sys.stdlib_module_names or module.startswith(
                (
                    "twcdirector.protocol",
                    "twcdirector.exceptions",
                    "twcdirector.events",
                    "twcdirector.sharing",  # pure as well: capacity sharing in the core
                )
            ), (path, module)


def test_the_import_guard_catches_a_forbidden_import(tmp_path: Path) -> None:
    """The guard itself can fail: an asyncio import is seen."""
    sample = PACKAGE / "protocol" / "_guard_probe.py"
    sample.write_text("import asyncio\nfrom ..director import Director\n", encoding="utf-8")
    try:
        assert {"asyncio", "twcdirector.director"} <= _imports(sample)
    finally:
        sample.unlink()


PUBLIC_API = sorted(
    [
        "TRACE",
        "ChecksumError",
        "CommandKind",
        "CurrentLimits",
        "Director",
        "DirectorConfig",
        "DirectorSnapshot",
        "Gen3Config",
        "Gen3Monitor",
        "Gen3Snapshot",
        "Gen3Unit",
        "Peripheral",
        "PeripheralSnapshot",
        "CommandFailedError",
        "Commands",
        "ConfigurationError",
        "CurrentLimitError",
        "DeviceError",
        "DeviceNotFoundError",
        "EscapeError",
        "ForbiddenMessageError",
        "FrameErrorKind",
        "FramingError",
        "Gen3ConnectionError",
        "Gen3Error",
        "Gen3ResponseError",
        "Gen3TimeoutError",
        "HeartbeatCommand",
        "InstallationLimits",
        "InvalidValueError",
        "LengthError",
        "LinkError",
        "Message",
        "NotApplicableError",
        "OverrunError",
        "PeripheralState",
        "ProtocolError",
        "ProtocolVersion",
        "SharingSnapshot",
        "TWCError",
        "UsageError",
        "__version__",
        "decode_frame",
        "events",
        "gen3",
        "open_serial_link",
        "protocol",
        "sharing",
    ]
)


def test_public_api_is_pinned() -> None:
    assert sorted(twcdirector.__all__) == PUBLIC_API
    for name in twcdirector.__all__:
        assert hasattr(twcdirector, name), name


def test_importing_the_package_loads_no_io_library() -> None:
    """The asyncio director and the aiohttp monitor load only when first used."""
    probe = (
        "import sys, twcdirector, twcdirector.protocol, twcdirector.gen3, twcdirector.sharing; "
        "print(sorted(m for m in ('asyncio', 'aiohttp', 'serial', 'pyee') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_every_error_is_a_twc_error() -> None:
    from twcdirector import exceptions

    errors = [
        obj
        for obj in vars(exceptions).values()
        if isinstance(obj, type) and issubclass(obj, BaseException)
    ]
    assert len(errors) > 10
    assert all(issubclass(error, twcdirector.TWCError) for error in errors)


def test_package_is_typed() -> None:
    assert (PACKAGE / "py.typed").is_file()
