"""The shape of the project: which package may import which, pure modules stay pure, no
package cycle, and the public API stays pinned.

One walk with :mod:`ast` over every module (relative imports resolved) feeds every check.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

import twcdirector
import twcdirector.protocol

PACKAGE = Path(twcdirector.__file__).resolve().parent

# --- the layer table -------------------------------------------------------------------------

#: Every top-level module or subpackage of twcdirector -> what it may import of twcdirector
#: (itself always). codec <- sharing <- gen2; the simulator uses the codec, never gen2 or
#: sharing, so it cannot agree with the director by sharing its code.
_BASE = {
    "exceptions": set(),
    "events": {"exceptions"},
    "emitter": set(),  # the pyee base class of the asyncio adapters
    "keys": set(),
    "protocol": {"exceptions"},
    "sharing": {"exceptions", "events", "protocol"},
    "gen3": {"exceptions", "events", "emitter"},
    # The director attaches a Gen 3 monitor, so gen2 sees gen3; gen3 never sees gen2.
    "gen2": {"exceptions", "events", "emitter", "protocol", "sharing", "gen3"},
    # The shared command-line helpers (they build a DirectorConfig, so they sit above gen2).
    "cli": {"exceptions", "events", "protocol", "sharing", "gen2", "gen3", "recorder"},
    # Only the simulator's __main__ uses cli (its one-line parser and ID parser): the pure
    # core cannot, as cli is not pure.
    "simulator": {"exceptions", "events", "protocol", "cli"},
    "jsonlog": {"events", "protocol"},
    "screen": {"keys", "gen2", "gen3", "sharing"},
    "terminal": {"screen"},
    # The headless command's JSON lines, which the bus doctor's replay prints too.
    "event_printer": {"events", "emitter", "gen3", "jsonlog"},
    # The --log file of both commands: frames, events (event_printer's lines), log records.
    "recorder": {"emitter", "event_printer", "jsonlog", "protocol"},
    # Compatibility shims: the old module paths of the director and the transport.
    "director": {"gen2"},
    "transport": {"gen2"},
}
_LIBRARY = set(_BASE)
LAYERS: dict[str, set[str]] = {
    **_BASE,
    "__init__": {"exceptions", "events", "protocol", "sharing", "gen2", "gen3"},
    # Planned (STYLE.md): they may use anything but the two commands; only those use them.
    "mqtt": _LIBRARY | {"__init__", "cli"},
    "analyze": _LIBRARY | {"__init__", "cli"},
    "utility": _LIBRARY | {"__init__", "cli", "mqtt", "analyze", "simulator"},
    "__main__": _LIBRARY | {"__init__", "cli", "mqtt", "analyze"},
}

# --- purity ----------------------------------------------------------------------------------

#: Modules and packages that do no I/O and read no clock: the standard library (minus
#: FORBIDDEN_STDLIB) and other pure modules of twcdirector only.
PURE = [
    "protocol",
    "analyze/capture.py",
    "analyze/findings.py",
    "analyze/frames.py",
    "analyze/histogram.py",
    "analyze/report.py",
    "analyze/stats.py",
    "analyze/timestamps.py",
    "jsonlog.py",
    "sharing",
    "events.py",
    "exceptions.py",
    "keys.py",
    "screen.py",
    "gen2/bridge.py",
    "gen2/commands.py",
    "gen2/config.py",
    "gen2/controller.py",
    "gen2/device.py",
    "gen2/enforce.py",
    "gen2/exchange.py",
    "gen2/limits.py",
    "gen2/schedule.py",
    "gen2/snapshot.py",
    "gen2/tickets.py",
    "gen3/body.py",
    "gen3/config.py",
    "gen3/events.py",
    "gen3/model.py",
    "gen3/overview.py",
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
#: The I/O side of the packages that have both: every module there is one or the other.
ADAPTERS = [
    "analyze/__init__.py",
    "analyze/__main__.py",
    "analyze/live.py",
    "analyze/plot.py",
    "analyze/replay.py",
    "gen2/__init__.py",
    "gen2/director.py",
    "gen2/transport.py",
    "gen3/__init__.py",
    "gen3/monitor.py",
    "mqtt/__init__.py",
    "mqtt/bridge.py",
    "simulator/__init__.py",
    "simulator/__main__.py",
    "simulator/gen3.py",
    "simulator/link.py",
    "simulator/runner.py",
]
SPLIT_PACKAGES = ["protocol", "sharing", "gen2", "gen3", "simulator", "analyze", "mqtt"]
FORBIDDEN_STDLIB = {
    "asyncio",
    "curses",
    "os",
    "select",
    "selectors",
    "signal",
    "socket",
    "subprocess",
    "threading",
    "time",
    "tty",
}
#: Maximum lines of a pure Gen 2 core module (the controller was carved to stay below it).
CORE_MAX_LINES = 600


def _files(root: Path, names: list[str]) -> list[Path]:
    files: list[Path] = []
    for name in names:
        path = root / name
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("twcdirector", *parts))


def _is_module(name: str, root: Path) -> bool:
    relative = Path(*name.split(".")[1:]) if "." in name else Path()
    return (root / relative).with_suffix(".py").is_file() or (
        root / relative / "__init__.py"
    ).is_file()


def imports(path: Path, root: Path = PACKAGE) -> set[str]:
    """Every module ``path`` imports, relative imports resolved against ``root`` (the
    twcdirector package directory); ``from package import module`` names the module."""
    package = _module_name(path, root)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            submodules: list[str] = []
            if module.startswith("twcdirector"):
                named = (f"{module}.{alias.name}" for alias in node.names)
                submodules = [name for name in named if _is_module(name, root)]
            found.update(submodules)
            if len(submodules) < len(node.names):
                found.add(module)
    return found


def layer(module: str) -> str:
    """The row of LAYERS a twcdirector module belongs to."""
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def _all_modules(root: Path = PACKAGE) -> list[Path]:
    return sorted(root.rglob("*.py"))


def violations(root: Path = PACKAGE, table: Mapping[str, set[str]] = LAYERS) -> list[str]:
    """Every import that crosses the table the wrong way."""
    found: list[str] = []
    for path in _all_modules(root):
        source = layer(_module_name(path, root))
        if source not in table:
            found.append(f"{path.relative_to(root)}: no row for {source!r} in LAYERS")
            continue
        for module in imports(path, root):
            if not module.startswith("twcdirector"):
                continue
            target = layer(module)
            if target != source and target not in table[source]:
                found.append(f"{path.relative_to(root)}: {source} -> {target} ({module})")
    return found


def package_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Layer -> the layers it actually imports (without itself)."""
    graph: dict[str, set[str]] = {}
    for path in _all_modules(root):
        source = layer(_module_name(path, root))
        targets = graph.setdefault(source, set())
        for module in imports(path, root):
            if module.startswith("twcdirector") and layer(module) != source:
                targets.add(layer(module))
    return graph


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """A cycle of the graph as a path whose first and last entries are equal, or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for successor in sorted(graph.get(node, ())):
            if state.get(successor) == 1:
                return [*path[path.index(successor) :], successor]
            if successor not in state and (cycle := visit(successor)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def _is_pure(module: str, pure_files: set[Path], root: Path = PACKAGE) -> bool:
    relative = Path(*module.split(".")[1:]) if "." in module else Path()
    candidates = [(root / relative).with_suffix(".py"), root / relative / "__init__.py"]
    return any(candidate in pure_files for candidate in candidates)


def _pure_files() -> list[Path]:
    return _files(PACKAGE, PURE)


# --- the checks ------------------------------------------------------------------------------


def test_every_import_follows_the_layer_table() -> None:
    assert violations() == []


def test_there_is_no_package_cycle() -> None:
    assert find_cycle(package_graph()) is None


def test_the_layers_the_issue_names() -> None:
    """protocol is the codec alone; sharing sees the codec, never gen2; gen2 uses sharing."""
    graph = package_graph()
    assert graph["protocol"] <= {"exceptions"}
    assert "gen2" not in graph["sharing"]
    assert {"protocol", "sharing"} <= graph["gen2"]
    assert not graph["simulator"] & {"gen2", "sharing"}


def test_the_table_check_catches_a_forbidden_arrow(tmp_path: Path) -> None:
    root = tmp_path / "twcdirector"
    for name in ("protocol", "sharing", "gen2"):
        (root / name).mkdir(parents=True)
        (root / name / "__init__.py").write_text("", encoding="utf-8")
    (root / "__init__.py").write_text("", encoding="utf-8")
    (root / "gen2" / "controller.py").write_text("from ..sharing import x\n", encoding="utf-8")
    (root / "sharing" / "probe.py").write_text(
        "from ..gen2.controller import BusController\nfrom ..protocol import codes\n",
        encoding="utf-8",
    )
    assert imports(root / "sharing" / "probe.py", root) == {
        "twcdirector.gen2.controller",
        "twcdirector.protocol",
    }
    assert violations(root) == ["sharing/probe.py: sharing -> gen2 (twcdirector.gen2.controller)"]
    assert find_cycle(package_graph(root)) == ["gen2", "sharing", "gen2"]


def test_the_cycle_check_finds_a_synthetic_loop() -> None:
    loop = {"protocol": set(), "sharing": {"protocol", "gen2"}, "gen2": {"sharing", "protocol"}}
    assert find_cycle(loop) == ["gen2", "sharing", "gen2"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle(LAYERS_WITHOUT_SELF) is None


#: The table itself is a directed acyclic graph.
LAYERS_WITHOUT_SELF = {name: allowed - {name} for name, allowed in LAYERS.items()}


@pytest.mark.parametrize("path", _pure_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_pure_modules_import_no_io(path: Path) -> None:
    pure_files = set(_pure_files())
    for module in imports(path):
        top = module.split(".")[0]
        if top == "twcdirector":
            assert _is_pure(module, pure_files), f"{module} is not pure"
        else:
            assert top in sys.stdlib_module_names, module
            assert top not in FORBIDDEN_STDLIB, module


def test_the_import_guard_catches_a_forbidden_import(tmp_path: Path) -> None:
    """The guard itself can fail: an asyncio import and a relative adapter import are seen."""
    sample = PACKAGE / "protocol" / "_guard_probe.py"
    sample.write_text("import asyncio\nfrom ..gen2.director import Director\n", encoding="utf-8")
    try:
        found = imports(sample)
    finally:
        sample.unlink()
    assert found == {"asyncio", "twcdirector.gen2.director"}
    assert not _is_pure("twcdirector.gen2.director", set(_pure_files()))


@pytest.mark.parametrize("package", SPLIT_PACKAGES)
def test_every_module_is_classified_pure_or_adapter(package: str) -> None:
    classified = set(_pure_files()) | {PACKAGE / name for name in ADAPTERS}
    unclassified = [p for p in sorted((PACKAGE / package).rglob("*.py")) if p not in classified]
    assert unclassified == []


@pytest.mark.parametrize(
    "path", _files(PACKAGE, [p for p in PURE if p.startswith("gen2/")]), ids=lambda p: p.name
)
def test_gen2_core_modules_stay_small(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= CORE_MAX_LINES


def _iter_layers() -> Iterator[str]:
    yield from (layer(_module_name(path, PACKAGE)) for path in _all_modules())


def test_the_table_has_a_row_for_every_layer_and_the_planned_ones() -> None:
    assert set(_iter_layers()) <= set(LAYERS)
    assert {"mqtt", "analyze", "cli"} <= set(LAYERS)
    users = {name for name, allowed in LAYERS.items() if {"mqtt", "analyze"} & allowed}
    assert users <= {"utility", "__main__"}


# --- the public API --------------------------------------------------------------------------

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

PROTOCOL_API = sorted(
    [
        "ALLOWED_HEARTBEAT_COMMANDS",
        "BODY_LENGTH",
        "CONTROLLER_ALLOW_LIST",
        "DANGEROUS_COMMANDS",
        "EXTENDED_LENGTH",
        "MAX_RAW_FRAME",
        "MESSAGE_TYPES",
        "PLUGGED_STATES",
        "CloseContactors",
        "CloseContactorsAck",
        "Commands",
        "ControllerHeartbeat",
        "ControllerLinkReady1",
        "ControllerLinkReady2",
        "DataRequest",
        "DecodedFrame",
        "FrameDecoder",
        "FrameType",
        "HeartbeatCommand",
        "IdleBroadcast",
        "Message",
        "MeterReply",
        "MeterRequest",
        "OpenContactors",
        "OpenContactorsAck",
        "PeripheralHeartbeat",
        "PeripheralLinkReady",
        "PeripheralState",
        "ProtocolVersion",
        "SerialReply",
        "SerialRequest",
        "UnknownMessage",
        "VersionReply",
        "VersionRequest",
        "VinHighReply",
        "VinHighRequest",
        "VinLowReply",
        "VinLowRequest",
        "VinMidReply",
        "VinMidRequest",
        "VinReply",
        "add_checksum",
        "body_length",
        "check_and_decode",
        "checksum",
        "decode_body",
        "decode_frame",
        "encode",
        "encode_body",
        "encode_reply",
        "escape",
        "frame",
        "state_name",
        "unescape",
    ]
)


def test_public_api_is_pinned() -> None:
    assert sorted(twcdirector.__all__) == PUBLIC_API
    for name in twcdirector.__all__:
        assert hasattr(twcdirector, name), name


def test_protocol_api_is_pinned() -> None:
    assert sorted(twcdirector.protocol.__all__) == PROTOCOL_API
    for name in twcdirector.protocol.__all__:
        assert hasattr(twcdirector.protocol, name), name


def test_the_old_module_paths_still_import() -> None:
    """The director and the transport moved to gen2; their old paths re-export them."""
    from twcdirector import director, gen2, transport

    assert director.Director is gen2.Director
    assert director.Peripheral is gen2.Peripheral
    assert transport.open_serial_link is gen2.open_serial_link
    assert transport.TRACE == gen2.TRACE == 5


def test_importing_the_package_loads_no_io_library() -> None:
    """The asyncio director and the aiohttp monitor load only when first used."""
    probe = (
        "import sys, twcdirector, twcdirector.protocol, twcdirector.gen3, twcdirector.sharing, "
        "twcdirector.gen2.controller; "
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
