"""The asyncio adapter: a real pseudo-terminal opened with pyserial-asyncio, and the memory link.

Nothing here asserts on wall-clock timing: every wait is "eventually, within a generous
bound", so a busy CI machine only makes the tests slower, never wrong.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import struct
import termios

import pytest
import serial_asyncio

from twcdirector.exceptions import ConfigurationError, FrameErrorKind, LinkError
from twcdirector.protocol import (
    ControllerHeartbeat,
    FrameDecoder,
    Message,
    PeripheralHeartbeat,
    PeripheralLinkReady,
    PeripheralState,
    VinHighReply,
    VinHighRequest,
    encode,
)
from twcdirector.simulator import Chunk, SimulatedBus, UnitConfig, default_units

CONTROLLER = 0xF00D
BOUND = 20.0  # seconds: only reached when something is broken


async def read_until(
    reader: asyncio.StreamReader, decoder: FrameDecoder, wanted: type[Message]
) -> Message:
    async with asyncio.timeout(BOUND):
        while True:
            for message in decoder.feed(await reader.read(256)):
                if isinstance(message, wanted):
                    return message


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs pseudo-terminals")
async def test_a_controller_on_the_pty_gets_answers() -> None:
    async with SimulatedBus.on_pty(default_units(2)) as sim:
        assert sim.port.startswith("/dev/")
        reader, writer = await serial_asyncio.open_serial_connection(url=sim.port, baudrate=9600)
        try:
            decoder = FrameDecoder()
            announce = await read_until(reader, decoder, PeripheralLinkReady)
            assert announce.sender in (0x1839, 0x2019)
            writer.write(encode(ControllerHeartbeat(CONTROLLER, 0x2019)))
            reply = await read_until(reader, decoder, PeripheralHeartbeat)
            assert reply == PeripheralHeartbeat(
                0x2019, CONTROLLER, PeripheralState.READY, 0.0, 0.25, 16
            )
            assert sim.unit(1).claimed
            assert not sim.unit(0).claimed
            # A 15-byte request, as TWCManager sends them, is answered too.
            sim.plug_in(1)
            writer.write(encode(VinHighRequest(CONTROLLER, 0x2019, 15)))
            vin = await read_until(reader, decoder, VinHighReply)
            assert vin.text == sim.unit(1).vin[:7]  # type: ignore[attr-defined,index]
            assert decoder.error_count == 0
            assert [m for _, m in sim.received][-1] == VinHighRequest(CONTROLLER, 0x2019, 15)
        finally:
            writer.close()
            await asyncio.sleep(0)
    assert sim.port.startswith("/dev/")


async def test_nobody_listening_does_not_fill_the_pty() -> None:
    """Bytes nobody reads are dropped, as on a wire, so a late controller gets fresh ones."""
    config = UnitConfig(announce_interval=0.005)
    sent: list[Chunk] = []
    async with SimulatedBus.on_pty([config]) as sim:
        sim.observe(sent.append)
        async with asyncio.timeout(BOUND):
            await sim.wait_for(lambda: len(sent) >= 80)  # ~1.5 kB, over the limit
        fd = os.open(sim.port, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            raw = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
            unread = struct.unpack("i", raw)[0]
        finally:
            os.close(fd)
    assert 0 < unread <= 1024 + len(sent[-1].data)


async def test_memory_link_streams() -> None:
    async with SimulatedBus.in_memory(1) as sim:
        assert sim.port == "memory://"
        reader, writer = await sim.open_connection()
        writer.write(encode(ControllerHeartbeat(CONTROLLER, 0x1839, 5, 16.0)))
        reply = await read_until(reader, FrameDecoder(), PeripheralHeartbeat)
        assert reply.max_amps == 16.0  # type: ignore[attr-defined]
        assert sim.unit(0).highest_commanded_amps == 16.0
        writer.close()


class Recorder(asyncio.Protocol):
    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.sizes: list[int] = []
        self.lost: list[Exception | None] = []
        self.made = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.made.set()

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.sizes.append(len(data))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.append(exc)


async def test_memory_link_is_a_drop_in_for_create_serial_connection() -> None:
    sim = SimulatedBus.in_memory(1, scenario="0 plug 0")
    async with sim:
        loop = asyncio.get_running_loop()
        # Same call shape as serial_asyncio.create_serial_connection(loop, factory, url, ...).
        transport, protocol = await sim.create_serial_connection(
            loop, Recorder, "/dev/ttyUSB0", baudrate=9600, chunk_size=1
        )
        assert isinstance(protocol, Recorder)
        assert protocol.made.is_set()
        transport.write(encode(ControllerHeartbeat(CONTROLLER, 0x1839)))
        decoder = FrameDecoder()
        messages: list[Message] = []

        def answered() -> bool:
            messages.extend(decoder.feed(b"".join(protocol.chunks)))
            protocol.chunks.clear()
            return any(isinstance(m, PeripheralHeartbeat) for m in messages)

        async with asyncio.timeout(BOUND):
            await sim.wait_for(answered)
        assert sim.unit(0).claimed
        assert sim.unit(0).plugged
        assert set(protocol.sizes) == {1}  # byte at a time
        assert transport.bytes_delivered == len(protocol.sizes)
        transport.fail("adapter unplugged")
        await asyncio.sleep(0)
        assert len(protocol.lost) == 1
        assert isinstance(protocol.lost[0], LinkError)
        with pytest.raises(LinkError):
            transport.write(b"\xc0")


async def test_runtime_actions_and_scenarios() -> None:
    async with SimulatedBus.in_memory(default_units(2)) as sim:
        reader, writer = await sim.open_connection()
        sim.plug_in(0)
        assert sim.unit(0).plugged
        sim.run_scenario("0.05 unplug 0; 0.05 silent 1 for=100")
        async with asyncio.timeout(BOUND):
            await sim.wait_for(lambda: not sim.unit(0).plugged)
        assert sim.unit(1).faults.silent_at(sim.unit(1).faults.silent_from + 1)
        sim.go_silent(1, 0)
        sim.drop_replies(0, 1)
        sim.delay_replies(0, 0.01, 1)
        sim.corrupt_replies(0, 1)
        sim.inject_noise(0, b"\x01\x02")
        sim.collide(1, 0x4242)
        assert sim.unit(1).device_id == 0x4242
        sim.reboot(1)
        decoder = FrameDecoder()
        # Four heartbeats: the first reply is dropped, the second late and corrupt.
        for count in range(1, 5):
            writer.write(encode(ControllerHeartbeat(CONTROLLER, 0x1839)))
            async with asyncio.timeout(BOUND):
                await sim.wait_for(lambda n=count: sim.unit(0).commands[0] == n)  # type: ignore[misc]
        replies: list[Message] = []
        async with asyncio.timeout(BOUND):
            while len(replies) < 2 or not decoder.error_count:
                got = decoder.feed(await reader.read(256))
                replies += [m for m in got if isinstance(m, PeripheralHeartbeat)]
        assert [m.sender for m in replies] == [0x1839, 0x1839]
        assert decoder.errors[FrameErrorKind.CHECKSUM] == 1
        assert sim.unit(0).dropped == 1
        writer.close()


async def test_using_a_bus_before_start_is_an_error() -> None:
    sim = SimulatedBus.in_memory(1)
    with pytest.raises(ConfigurationError):
        sim.plug_in(0)
    with pytest.raises(ConfigurationError):
        SimulatedBus(1, mode="port")
    async with SimulatedBus.on_pty(1) as pty_sim:
        with pytest.raises(ConfigurationError):
            await pty_sim.open_connection()


async def test_a_port_that_cannot_open_is_a_link_error() -> None:
    sim = SimulatedBus.on_port("/dev/does-not-exist", 1)
    with pytest.raises(LinkError):
        await sim.start()
    with pytest.raises(ConfigurationError):
        sim.plug_in(0)  # not started


async def test_a_bus_starts_once() -> None:
    sim = SimulatedBus.in_memory(1)
    async with sim:
        pass
    assert sim.unit(0).device_id == 0x1839  # still there to inspect after stop
    with pytest.raises(ConfigurationError):
        await sim.start()
