"""The pyee adapter: an event emitter whose failing handlers are logged, never fatal."""

from __future__ import annotations

import logging
from typing import Any

from pyee.asyncio import AsyncIOEventEmitter

_LOGGER = logging.getLogger(__name__)


class SafeEmitter(AsyncIOEventEmitter):
    """An asyncio event emitter on which a handler that raises is logged and forgotten.

    Coroutine handlers are scheduled on the running loop, as pyee does; their exceptions
    are logged the same way. A program may still listen to ``error`` itself.
    """

    def _emit_handle_potential_error(self, event: str, error: Any) -> None:
        if event == "error":
            _LOGGER.error(
                "event handler raised %r",
                error,
                exc_info=error if isinstance(error, BaseException) else None,
            )
