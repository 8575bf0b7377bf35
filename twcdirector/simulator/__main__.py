"""Command line: ``python3 -m twcdirector.simulator --peripherals 3``.

Creates a pseudo-terminal pair (or opens ``--port``), runs the simulated units on it and
prints the path a controller should open as the first line of stdout, then any Gen 3 URLs.
Runs until Ctrl-C or SIGTERM (exit 0). Bad options: one line on stderr, exit 2; a port
that cannot be opened: exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import logging
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ..cli import OneLineParser
from ..events import parse_id
from ..exceptions import ConfigurationError
from .config import UnitConfig, default_units
from .runner import SimulatedBus
from .scenario import Scenario, demo_scenario

_LOGGER = logging.getLogger(__name__)
_PROG = "python3 -m twcdirector.simulator"


def _parser() -> OneLineParser:
    parser = OneLineParser(
        prog=_PROG,
        description="Simulated Gen 2 Tesla Wall Connectors (peripheral mode) on a serial line.",
    )
    add = parser.add_argument
    add("--peripherals", "-n", type=int, default=1, help="number of units (default 1)")
    add("--port", help="serial device or pyserial URL to use instead of a new pty")
    add("--scenario", help="scenario file (text or JSON) or scenario text")
    add("--demo", action="store_true", help="plug cars into the first units after a few s")
    add("--protocol", default="2", help="protocol per unit, e.g. 2 or 1,2,2 (last repeats)")
    add("--max-amps", type=float, default=32.0, help="advertised rating: 32 (EU) or 80 (US)")
    add("--no-vin", action="store_true", help="units do not report VINs")
    add("--ids", help="unit IDs in hex, e.g. 1839,2019")
    add(
        "--tail",
        default="FE",
        help="byte after each frame, hex, 'none', or bytes used in turn: FE,FC,F8,FF",
    )
    add("--latency", help="reply latency in ms, e.g. 40 or 20-60 or 0-1200 (default 20-60)")
    add("--offer", type=float, metavar="A", help="current units offer before a controller speaks")
    add("--lag", type=int, metavar="N", help="reports show the state of N heartbeats before")
    add(
        "--zero-reports-zero",
        action="store_true",
        help="0 A is reported as 0 A (real units report their minimum, 6 A / 5 A)",
    )
    add("--no-contactor-acks", action="store_true", help="units ignore FC B1 / FC B2")
    add("--controller-timeout", type=float, help="seconds without heartbeat before error")
    add("--gen3", type=int, default=0, help="also serve N simulated Gen 3 units over HTTP")
    add("--gen3-host", default="127.0.0.1", help="address for the Gen 3 units")
    add("--verbose", "-v", action="count", default=0, help="-v: events, -vv: every byte")
    return parser


def _hex_byte(text: str) -> int | None:
    if text.lower() == "none":
        return None
    value = int(text, 16)
    if not 0 <= value <= 0xFF:
        raise ValueError(text)
    return value


def _latency(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    return (float(low) / 1000, float(high or low) / 1000)


def units_from_args(args: argparse.Namespace) -> list[UnitConfig]:
    """The unit configurations the options describe; ConfigurationError if they are bad."""
    if not 0 <= args.peripherals <= 16:
        raise ConfigurationError(f"--peripherals {args.peripherals} must be 0-16")
    if not 0 <= args.gen3 <= 16:
        raise ConfigurationError(f"--gen3 {args.gen3} must be 0-16")
    try:
        protocols = [int(part) for part in args.protocol.split(",")]
        tails = [_hex_byte(part) for part in args.tail.split(",")]
        overrides: dict[str, Any] = {"tail": tails[0]}
        if len(tails) > 1:
            if None in tails:
                raise ValueError(args.tail)
            overrides["tails"] = tuple(tails)
        if args.latency:
            overrides["latency"] = _latency(args.latency)
        ids = [parse_id(part) for part in args.ids.split(",")] if args.ids else []
    except ValueError as error:
        raise ConfigurationError(f"bad value: {error}") from None
    if args.controller_timeout is not None:
        overrides["controller_timeout"] = args.controller_timeout
    if args.offer is not None:
        overrides["offered_amps"] = args.offer
    if args.lag is not None:
        overrides["report_lag"] = args.lag
    if args.zero_reports_zero:
        overrides["zero_reports_minimum"] = False
    if args.no_contactor_acks:
        overrides["contactor_acks"] = False
    if len(ids) > args.peripherals:
        raise ConfigurationError(f"{len(ids)} IDs for {args.peripherals} units")
    units = default_units(
        args.peripherals,
        protocols=protocols,
        max_amps=args.max_amps,
        reports_vin=False if args.no_vin else None,
    )
    units = [replace(unit, **overrides) for unit in units]
    for index, device_id in enumerate(ids):
        units[index] = replace(units[index], device_id=device_id)
    if len({unit.device_id for unit in units}) != len(units):
        raise ConfigurationError("unit IDs must differ")
    return units


def scenario_from_args(args: argparse.Namespace) -> Scenario | None:
    """The scenario of ``--scenario`` (a file or text) plus ``--demo``."""
    scenario = Scenario()
    if args.scenario:
        text = args.scenario
        if os.path.isfile(text):
            try:
                with open(text, encoding="utf-8") as handle:
                    text = handle.read()
            except OSError as error:
                raise ConfigurationError(f"cannot read {args.scenario}: {error}") from None
        scenario += Scenario.parse(text)
    if args.demo:
        scenario += demo_scenario(args.peripherals)
    return scenario if len(scenario) else None


async def _start_gen3(count: int, host: str) -> list[Any]:
    from .gen3 import start_gen3_units  # noqa: PLC0415 - only needed with --gen3

    started = start_gen3_units(count, host=host)
    units: list[Any] = await started if inspect.isawaitable(started) else started
    return units


async def run(args: argparse.Namespace, units: list[UnitConfig], scenario: Scenario | None) -> int:
    """Run until SIGINT or SIGTERM."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    sim: SimulatedBus | None = None
    gen3: list[Any] = []
    try:
        if units:
            sim = (
                SimulatedBus.on_port(args.port, units, scenario=scenario)
                if args.port
                else SimulatedBus.on_pty(units, scenario=scenario)
            )
            await sim.start()
            print(sim.port, flush=True)
        if args.gen3:
            gen3 = await _start_gen3(args.gen3, args.gen3_host)
            for unit in gen3:
                print(unit.url, flush=True)
        if sim is not None:
            for index, unit in enumerate(sim.units):
                _LOGGER.info(
                    "unit %d: ID %04X, protocol %d, %.0f A",
                    index,
                    unit.device_id,
                    unit.protocol,
                    unit.config.max_amps,
                )
        await stop.wait()
    finally:
        for unit in gen3:
            with contextlib.suppress(Exception):
                await unit.stop()
        if sim is not None:
            await sim.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        units = units_from_args(args)
        scenario = scenario_from_args(args)
        if not units and not args.gen3:
            raise ConfigurationError("nothing to simulate: --peripherals 0 and no --gen3")
        if scenario is not None:
            for action in scenario.actions:
                if action.unit >= len(units):
                    raise ConfigurationError(f"scenario names unit {action.unit}")
    except ConfigurationError as error:
        parser.error(str(error))
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return asyncio.run(run(args, units, scenario))
    except OSError as error:  # LinkError included: the port, or a Gen 3 address in use
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a second Ctrl-C before the handler was installed
        return 0


if __name__ == "__main__":
    sys.exit(main())
