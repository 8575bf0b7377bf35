"""The director's bus runs on callbacks (issue 15): with a link that takes a frame without
being awaited, a frame costs no task, no future and no step of a coroutine, and the one timer
is replaced only when the core's next wake-up moves."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.director_fakes import FakePeripheral, MemoryBus, MemoryLink, run_virtual, wait_until
from twcdirector.gen2.config import DirectorConfig
from twcdirector.gen2.director import Director
from twcdirector.gen2.transport import DirectLink, LinkListener


class DirectMemoryLink(MemoryLink):
    """An in-memory link with the serial link's ``write_now``."""

    def write_now(self, frame: bytes) -> None:
        if self.closed:
            raise AssertionError("written after close")
        self.writes += 1
        self.bus._controller_wrote(frame)


class DirectMemoryBus(MemoryBus):
    async def factory(self, port: str, baudrate: int, listener: LinkListener) -> MemoryLink:
        await super().factory(port, baudrate, listener)
        assert self.link is not None
        self.link = DirectMemoryLink(self, listener)
        return self.link


def test_frames_cost_no_task_nor_future_and_the_timer_moves_only_with_the_deadline() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        tasks: list[Any] = []
        futures = 0
        create_future = loop.create_future

        def counting_future() -> asyncio.Future[Any]:
            nonlocal futures
            futures += 1
            return create_future()

        default = loop.get_task_factory()

        def counting(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
            tasks.append(coro)
            if default is None:
                return asyncio.Task(coro, loop=loop, **kwargs)
            return default(loop, coro, **kwargs)

        bus = DirectMemoryBus([FakePeripheral(0x1111), FakePeripheral(0x2222)])
        director = Director("mem://bus", DirectorConfig(max_current=32), link_factory=bus.factory)
        async with director:
            assert isinstance(bus.link, DirectLink)
            await wait_until(lambda: len(director.peripherals) == 2)
            await asyncio.sleep(0.5)  # the test's own sleep below is one future
            loop.set_task_factory(counting)
            loop.create_future = counting_future  # type: ignore[method-assign]
            written = len(bus.wire)
            await asyncio.sleep(60)
            loop.create_future = create_future  # type: ignore[method-assign]
            assert len(bus.wire) - written > 100  # heartbeats and data requests went out
            assert tasks == []  # not one task for all those frames
            assert futures <= 1  # the test's sleep; the bus made none
            # Nothing changed: polling again keeps the same timer handle.
            timer = director._timer
            assert timer is not None
            assert not timer.cancelled()
            director._wake_up()
            await asyncio.sleep(0)
            assert director._timer is timer
            assert not timer.cancelled()
            loop.set_task_factory(default)
            await director.peripheral(0x1111).set_session_current(16)
        assert bus.peripherals[0].allowed == 16
        bus.close()

    run_virtual(main)
