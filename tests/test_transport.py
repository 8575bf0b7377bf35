"""The serial adapter over real pyserial URL handlers: loop://, socket://, a pseudo-terminal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator

import pytest

from twcdirector.exceptions import LinkError
from twcdirector.gen2.transport import TRACE, SerialLink, open_serial_link
from twcdirector.protocol import ControllerHeartbeat, encode

FRAME = encode(ControllerHeartbeat(0xF00D, 0x1839))


class Received(bytearray):
    """Bytes a TCP peer got, with an event to wait on."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = asyncio.Event()

    async def wait_for(self, size: int) -> bytes:
        async with asyncio.timeout(10):
            while len(self) < size:
                self.arrived.clear()
                await self.arrived.wait()
        return bytes(self)


class Listener:
    def __init__(self) -> None:
        self.data = bytearray()
        self.lost: list[LinkError] = []
        self.changed = asyncio.Event()

    def link_data(self, data: bytes) -> None:
        self.data += data
        self.changed.set()

    def link_lost(self, error: LinkError) -> None:
        self.lost.append(error)
        self.changed.set()

    async def wait_for(self, size: int) -> bytes:
        async with asyncio.timeout(10):
            while len(self.data) < size and not self.lost:
                self.changed.clear()
                await self.changed.wait()
        return bytes(self.data)

    async def wait_lost(self) -> LinkError:
        async with asyncio.timeout(10):
            while not self.lost:
                self.changed.clear()
                await self.changed.wait()
        return self.lost[0]


def test_trace_level_is_registered_below_debug() -> None:
    assert TRACE < logging.DEBUG
    assert logging.getLevelName(TRACE) == "TRACE"


async def test_loop_url_echoes_frames_and_logs_hex(caplog: pytest.LogCaptureFixture) -> None:
    listener = Listener()
    caplog.set_level(TRACE, logger="twcdirector.gen2.transport")
    link = await open_serial_link("loop://", 9600, listener)
    try:
        await link.write(FRAME)
        assert await listener.wait_for(len(FRAME)) == FRAME
    finally:
        await link.close()
    assert f"loop:// tx {FRAME.hex(' ')}" in caplog.text
    assert "loop:// rx c0" in caplog.text
    assert listener.lost == []  # our own close is not a loss
    with pytest.raises(LinkError):
        await link.write(FRAME)


@pytest.mark.parametrize("port", ["/dev/twcdirector-no-such-port", "nosuch://x", ""])
async def test_a_port_that_cannot_be_opened_raises_link_error(port: str) -> None:
    with pytest.raises(LinkError, match="cannot open") as info:
        await open_serial_link(port, 9600, Listener())
    assert isinstance(info.value, OSError)


@contextlib.asynccontextmanager
async def tcp_peer() -> AsyncIterator[tuple[str, asyncio.Queue[asyncio.StreamWriter], Received]]:
    writers: asyncio.Queue[asyncio.StreamWriter] = asyncio.Queue()
    received = Received()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await writers.put(writer)
        try:
            while data := await reader.read(100):
                received.extend(data)
                received.arrived.set()
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"socket://127.0.0.1:{port}", writers, received
    finally:
        server.close()
        await server.wait_closed()


async def test_socket_url_carries_bytes_both_ways_and_reports_the_peer_going_away() -> None:
    async with tcp_peer() as (url, writers, received):
        listener = Listener()
        link = await open_serial_link(url, 9600, listener)
        assert isinstance(link, SerialLink)
        peer = await asyncio.wait_for(writers.get(), 10)
        await link.write(FRAME)
        peer.write(b"\xc0\x01\x02\xc0")
        await peer.drain()
        assert await listener.wait_for(4) == b"\xc0\x01\x02\xc0"
        assert await received.wait_for(len(FRAME)) == FRAME
        peer.close()
        await peer.wait_closed()
        error = await listener.wait_lost()
        assert isinstance(error, LinkError)
        assert not link.is_open
        with pytest.raises(LinkError):
            await link.write(FRAME)
        await link.close()


async def test_pseudo_terminal_reads_writes_and_reports_the_far_end_vanishing() -> None:
    master, slave = os.openpty()
    name = os.ttyname(slave)
    listener = Listener()
    link = await open_serial_link(name, 9600, listener)
    try:
        os.write(master, FRAME)
        assert await listener.wait_for(len(FRAME)) == FRAME
        await link.write(FRAME)
        loop = asyncio.get_running_loop()
        got = await asyncio.wait_for(loop.run_in_executor(None, os.read, master, 100), 10)
        assert got == FRAME
        # The adapter is unplugged: the far end closes; reads fail with an I/O error.
        os.close(master)
        os.close(slave)
        master = slave = -1
        error = await listener.wait_lost()
        assert name in str(error)
    finally:
        await link.close()
        for fd in (master, slave):
            if fd >= 0:
                os.close(fd)


async def test_close_flushes_what_was_written() -> None:
    async with tcp_peer() as (url, writers, received):
        link = await open_serial_link(url, 9600, Listener())
        await asyncio.wait_for(writers.get(), 10)
        for _ in range(20):
            await link.write(FRAME)
        await link.close()
        assert await received.wait_for(20 * len(FRAME)) == FRAME * 20


async def test_a_device_is_opened_exclusively_and_a_second_open_is_port_busy() -> None:
    """SPEC §8.7: one controller per port (pyserial's ``exclusive=True``, a POSIX flock)."""
    master, slave = os.openpty()
    name = os.ttyname(slave)
    first = await open_serial_link(name, 9600, Listener())
    try:
        with pytest.raises(LinkError, match=r"^port busy: ") as caught:
            await open_serial_link(name, 9600, Listener())
        assert name in str(caught.value)
        assert "\n" not in str(caught.value)
    finally:
        await first.close()
    # Released on close: the port opens again.
    again = await open_serial_link(name, 9600, Listener())
    await again.close()
    os.close(master)
    os.close(slave)


async def test_url_ports_ignore_exclusivity() -> None:
    """loop:// and socket:// take the option (SerialBase accepts it) and have nothing to lock."""
    links = [await open_serial_link("loop://", 9600, Listener()) for _ in range(2)]
    for link in links:
        await link.close()


async def test_a_device_port_is_read_and_written_through_its_descriptor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # pyserial's read() runs select() before reading; the event loop has already said the
    # descriptor is readable, so the transport reads (and writes) it directly (issue 15).
    import serial
    import serial.serialposix

    master, slave = os.openpty()
    listener = Listener()
    link = await open_serial_link(os.ttyname(slave), 9600, listener)
    try:

        class NoSelect:
            def select(self, *args: object) -> None:
                raise AssertionError("pyserial's select() ran for a read")

        def no_write(*args: object) -> None:
            raise AssertionError("pyserial's write() ran")

        monkeypatch.setattr(serial.serialposix, "select", NoSelect())
        monkeypatch.setattr(serial.Serial, "write", no_write)
        for _ in range(3):
            os.write(master, FRAME)
        assert await listener.wait_for(3 * len(FRAME)) == FRAME * 3
        link.write_now(FRAME)
        loop = asyncio.get_running_loop()
        got = await asyncio.wait_for(loop.run_in_executor(None, os.read, master, 100), 10)
        assert got == FRAME
        assert not listener.lost
    finally:
        await link.close()
        os.close(master)
        os.close(slave)
