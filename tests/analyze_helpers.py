"""Record captures from the project's simulator, in virtual time, for the bus doctor's tests.

A :class:`~twcdirector.simulator.SimulatedBus` in memory runs the simulated units; one or two
real :class:`~twcdirector.Director` s control it; a third, listen-only director watches the
bus as ``python3 -m twcdirector --listen-only`` would, printing its events with the headless
command's printer and logging every frame it hears as ``--log`` does. Every byte on the
simulated wire (the controllers' frames, the units' frames with their tail bytes, noise) is
also kept with its time, for hex-dump and raw captures.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

from twcdirector import Director, DirectorConfig
from twcdirector.analyze.replay import VirtualTimeLoop
from twcdirector.event_printer import JsonPrinter
from twcdirector.exceptions import LinkError
from twcdirector.gen2.transport import Link, LinkListener
from twcdirector.jsonlog import frame_line
from twcdirector.protocol import Message
from twcdirector.simulator import Chunk, MemoryTransport, SimulatedBus, UnitConfig, default_units


@dataclass
class Recording:
    """What one simulated run left behind."""

    #: (time, bytes) of everything on the wire, in time order.
    wire: list[tuple[float, bytes]] = field(default_factory=list)
    #: The listen-only observer's --log lines (frames only).
    log: list[str] = field(default_factory=list)
    #: The observer's printed event lines (what the headless command printed).
    events: str = ""

    def hex_dump(self, *, stamps: bool = True) -> str:
        """The wire as a text hex dump, one transmission a line, timed as ``seconds``."""
        lines = []
        for time, data in self.wire:
            text = data.hex(" ").upper()
            lines.append(f"{time:.6f} {text}" if stamps else text)
        return "\n".join(lines) + "\n"

    def raw(self) -> bytes:
        """The wire as a raw byte capture."""
        return b"".join(data for _, data in self.wire)

    def log_text(self) -> str:
        return "\n".join(self.log) + "\n"


class _Receiver(asyncio.Protocol):
    def __init__(self, listener: LinkListener) -> None:
        self._listener = listener

    def data_received(self, data: bytes) -> None:
        self._listener.link_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self._listener.link_lost(LinkError(str(exc)))


class _Wire:
    """Connects directors to the simulated bus; a controller's writes reach the observers."""

    def __init__(self, sim: SimulatedBus, recording: Recording) -> None:
        self.sim = sim
        self.recording = recording
        self.observers: list[MemoryTransport] = []
        sim.observe(self._unit_sent)

    def factory(self, *, observer: bool):  # type: ignore[no-untyped-def]
        async def open_link(port: str, baudrate: int, listener: LinkListener) -> Link:
            loop = asyncio.get_running_loop()
            transport, _ = await self.sim.create_serial_connection(
                loop, lambda: _Receiver(listener)
            )
            if observer:
                self.observers.append(transport)
            return _Link(self, transport)

        return open_link

    def controller_sent(self, data: bytes) -> None:
        self.recording.wire.append((asyncio.get_running_loop().time(), data))
        for transport in self.observers:
            transport.deliver(data)

    def _unit_sent(self, chunk: Chunk) -> None:
        self.recording.wire.append((chunk.at, chunk.data))


class _Link:
    def __init__(self, wire: _Wire, transport: MemoryTransport) -> None:
        self._wire = wire
        self._transport = transport

    async def write(self, frame: bytes) -> None:
        self._transport.write(frame)
        self._wire.controller_sent(frame)

    async def close(self) -> None:
        self._transport.close()


def record(
    seconds: float,
    *,
    units: Sequence[UnitConfig] | int = 3,
    scenario: str | None = None,
    second_controller: tuple[float, float] | None = None,
    controller: DirectorConfig | None = None,
) -> Recording:
    """Run ``seconds`` of virtual bus time and return what was recorded.

    ``second_controller=(start, stop)`` runs another director (ID 7777) in that window.
    """
    recording = Recording()
    configs = default_units(units) if isinstance(units, int) else list(units)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        sim = SimulatedBus.in_memory(configs, scenario=scenario)
        async with sim:
            wire = _Wire(sim, recording)
            observer = Director(
                "memory://",
                DirectorConfig(listen_only=True),
                link_factory=wire.factory(observer=True),
            )
            out = io.StringIO()
            JsonPrinter(observer, out)

            def log(direction: str, raw: bytes, message: Message | None) -> None:
                recording.log.append(frame_line(loop.time(), direction, raw, message))

            observer.on_frame(log)
            await observer.start()
            # A lost_after unlike the observer's: their expiry timers never coincide with a
            # frame, an order a log rounded to 1 µs cannot keep.
            main_config = controller or DirectorConfig(max_current=32, sign=0x42, lost_after=20.0)
            director = Director("memory://", main_config, link_factory=wire.factory(observer=False))
            await director.start()
            tasks = []
            if second_controller is not None:
                start, stop = second_controller
                other = Director(
                    "memory://",
                    DirectorConfig(controller_id=0x7777, sign=0x77),
                    link_factory=wire.factory(observer=False),
                )

                async def run_other() -> None:
                    await asyncio.sleep(start)
                    await other.start()
                    await asyncio.sleep(stop - start)
                    await other.close()

                tasks.append(asyncio.create_task(run_other()))
            await asyncio.sleep(seconds)
            for task in tasks:
                await task
            await director.close()
            await observer.close()
            recording.events = out.getvalue()
        recording.wire.sort(key=lambda item: item[0])

    loop = VirtualTimeLoop(1000.0)
    try:
        loop.run_until_complete(main())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return recording
