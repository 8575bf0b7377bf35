"""The asyncio adapter: Gen 3 units polled over tesla-wall-connector, events on pyee.

Boundary choices (tesla-wall-connector >= 1.2):

* its ``API.decode_response`` reads the whole body into memory (``response.text()``) and
  appends a missing ``}`` to whatever arrived, so a body cut inside its last number reads
  as another number. Each unit's client therefore gets :class:`_StrictAPI`, which replaces
  that one public hook: the body is streamed in up to ``max_body_bytes`` (a longer one is
  refused while it arrives, never buffered whole) and decoded by
  :func:`~twcdirector.gen3.body.decode_body`, which refuses what may be cut. The library
  still makes the request and maps the HTTP errors; tests over loopback HTTP pin that it
  calls the hook (a cut body and a 200 MB stream are refused). Why not cap at the aiohttp
  session (a ``response_class``)? Its ``read()`` can only be bounded by setting aiohttp's
  private ``_body``, and the cut-body rule needs the raw text before the library's own
  brace repair anyway: one public hook of the library does both.
* it has no retries of its own; aiohttp re-sends an idempotent request once when the
  server drops the connection, which the monitor's own session turns off (and a test
  pins), so one poll is exactly one request.
* one aiohttp session per monitor: no keep-alive (an embedded unit has few sockets), no
  cookies, a trace that refuses any path but the four endpoints and any redirect.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType, SimpleNamespace, TracebackType
from typing import Any, Self

import aiohttp
from tesla_wall_connector import WallConnector
from tesla_wall_connector.api import API
from tesla_wall_connector.exceptions import (
    WallConnectorConnectionError,
    WallConnectorConnectionTimeoutError,
    WallConnectorDecodeError,
    WallConnectorError,
)

from ..emitter import SafeEmitter
from ..events import DEVICE_LOST, NEW_DEVICE, NewDevice
from ..exceptions import (
    ConfigurationError,
    DeviceNotFoundError,
    Gen3ConnectionError,
    Gen3Error,
    Gen3ResponseError,
    Gen3TimeoutError,
)
from .body import decode_body
from .config import Gen3Config, normalize_host
from .events import GEN3_ERROR, Gen3ErrorKind
from .model import (
    ALLOWED_PATHS,
    Endpoint,
    Gen3Lifetime,
    Gen3Reading,
    Gen3Version,
    Gen3Vitals,
    Gen3WifiStatus,
)
from .overview import Gen2View, Overview, overview
from .schedule import choose_next
from .tracker import Emission, Gen3Snapshot, Gen3Tracker

_LOGGER = logging.getLogger(__name__)

#: HTTP statuses that mean the endpoint is closed or gone, not that the unit is unwell.
_API_UNAVAILABLE = frozenset({401, 403, 404})
#: Bytes read from the socket at a time while a body streams in.
_CHUNK = 16 * 1024

_METHODS = {
    Endpoint.VITALS: "async_get_vitals",
    Endpoint.LIFETIME: "async_get_lifetime",
    Endpoint.VERSION: "async_get_version",
    Endpoint.WIFI_STATUS: "async_get_wifi_status",
}


def create_session() -> aiohttp.ClientSession:
    """The guarded aiohttp session a monitor shares between its units (call in a loop)."""
    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(_refuse_other_paths)
    trace.on_request_redirect.append(_refuse_redirects)
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=4, limit_per_host=1, force_close=True),
        cookie_jar=aiohttp.DummyCookieJar(),
        trace_configs=[trace],
    )
    # aiohttp silently repeats a GET once when the server drops the connection; a poll
    # must be one request, and the next try belongs to the schedule's backoff.
    if hasattr(session, "_retry_connection"):
        session._retry_connection = False
    return session


class Gen3Unit(SafeEmitter):
    """One Gen 3 Wall Connector: its events, its last good readings, its health.

    Usually made by :meth:`Gen3Monitor.add_unit`, which shares one session and one request
    at a time between its units; a unit made alone has its own session (:meth:`close` it).
    ``device_id`` is the ``host[:port]`` the user gave (stable); the serial number is
    :attr:`serial_number` once version has been read.
    """

    generation = 3

    def __init__(
        self,
        host: str,
        *,
        config: Gen3Config | None = None,
        split_phase: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        _http: _SharedHttp | None = None,
        _on_first_read: Callable[[Gen3Unit], None] | None = None,
    ) -> None:
        super().__init__()
        self.host = normalize_host(host)
        self.device_id = self.host
        self.config = config if config is not None else Gen3Config()
        self._clock = clock
        # A unit made alone owns its session; the monitor's units share the monitor's.
        self._owns_http = _http is None
        self._http = _http if _http is not None else _SharedHttp()
        self._on_first_read = _on_first_read
        self._wall_connector: WallConnector | None = None
        self.tracker = Gen3Tracker(
            self.device_id, self.config, now=clock(), split_phase=split_phase
        )

    async def fetch(self, endpoint: Endpoint | str) -> Gen3Reading:
        """Read one endpoint now, update the state and emit its events.

        Raises :class:`Gen3TimeoutError`, :class:`Gen3ConnectionError` or
        :class:`Gen3ResponseError`; the failure is also emitted as ``GEN3_ERROR``.
        """
        try:
            endpoint = Endpoint(endpoint)
        except ValueError:
            raise ConfigurationError(f"{endpoint!r} is not one of the four endpoints") from None
        async with self._http.lock:
            result = await self._request(endpoint)
        now = self._clock()
        if isinstance(result, _Failure):
            self._emit_all(
                self.tracker.record_failure(endpoint, result.kind, str(result.error), now)
            )
            raise result.error
        outcome = self.tracker.record_body(endpoint, result, now)
        if outcome.first and self._on_first_read is not None:
            self._on_first_read(self)
        self._emit_all(outcome.emissions)
        if outcome.reading is None:
            raise Gen3ResponseError(
                f"{self.device_id} {endpoint.path}: {outcome.error}"
            ) from outcome.error
        return outcome.reading

    def snapshot(self) -> Gen3Snapshot:
        """The unit now: last good values with their age, state, health."""
        return self.tracker.snapshot(self._clock())

    async def close(self) -> None:
        """Close the HTTP session of a unit made without a monitor (the monitor closes its own)."""
        if self._owns_http:
            await self._http.close()

    @property
    def serial_number(self) -> str | None:
        """The serial number, once version has been read."""
        return self.tracker.serial_number

    @property
    def reachable(self) -> bool:
        """Answered at least once and not lost since."""
        return self.tracker.reachable

    @property
    def split_phase(self) -> bool:
        """Whether power is computed for a split-phase (North American) supply."""
        return self.tracker.split_phase

    @property
    def vitals(self) -> Gen3Vitals | None:
        """The last good vitals."""
        return self.tracker.vitals

    @property
    def lifetime(self) -> Gen3Lifetime | None:
        """The last good lifetime counters."""
        reading = self.tracker.reading(Endpoint.LIFETIME)
        return reading if isinstance(reading, Gen3Lifetime) else None

    @property
    def version(self) -> Gen3Version | None:
        """The last good version."""
        return self.tracker.version

    @property
    def wifi_status(self) -> Gen3WifiStatus | None:
        """The last good Wi-Fi status."""
        reading = self.tracker.reading(Endpoint.WIFI_STATUS)
        return reading if isinstance(reading, Gen3WifiStatus) else None

    def __repr__(self) -> str:
        return f"<Gen3Unit {self.device_id} serial={self.serial_number}>"

    # --- private ----------------------------------------------------------------------------

    async def _poll(self, endpoint: Endpoint) -> None:
        """One scheduled read; a failure is already emitted and logged, nothing escapes."""
        try:
            await self.fetch(endpoint)
        except Gen3Error:
            pass
        except Exception as err:  # a bug must not stop the other units' polling
            _LOGGER.exception("Gen 3 unit %s: reading %s failed", self.device_id, endpoint.value)
            self._emit_all(
                self.tracker.record_failure(
                    endpoint, Gen3ErrorKind.BAD_BODY, f"internal error: {err!r}", self._clock()
                )
            )

    async def _request(self, endpoint: Endpoint) -> dict[str, Any] | _Failure:
        where = f"{self.device_id} {endpoint.path}"
        try:
            async with asyncio.timeout(self.config.request_timeout):
                result = await getattr(self._client(), _METHODS[endpoint])()
        except WallConnectorConnectionTimeoutError as err:
            return _failure(Gen3ErrorKind.TIMEOUT, Gen3TimeoutError(f"{where}: {err}"), err)
        except TimeoutError as err:
            message = f"{where}: no complete answer within {self.config.request_timeout} s"
            return _failure(Gen3ErrorKind.TIMEOUT, Gen3TimeoutError(message), err)
        except WallConnectorDecodeError as err:  # raised by _StrictAPI: too long or unreadable
            return _failure(Gen3ErrorKind.BAD_BODY, Gen3ResponseError(f"{where}: {err}"), err)
        except WallConnectorConnectionError as err:
            return _connection_failure(where, err)
        except (WallConnectorError, UnicodeError) as err:
            # UnicodeError: a body that is not text in its declared charset escapes the library.
            return _failure(Gen3ErrorKind.BAD_BODY, Gen3ResponseError(f"{where}: {err}"), err)
        except Gen3ResponseError as err:  # raised by the session's path/redirect guard
            return _failure(Gen3ErrorKind.REFUSED, Gen3ResponseError(f"{where}: {err}"), err)
        raw = getattr(result, "raw_data", None)
        if not isinstance(raw, dict):
            error = Gen3ResponseError(f"{where}: body is JSON but not an object: {raw!r:.80}")
            return _Failure(Gen3ErrorKind.BAD_SHAPE, error)
        return raw

    def _client(self) -> WallConnector:
        if self._wall_connector is None or self._wall_connector.api.session.closed:
            session = self._http.session()
            timeout = self.config.connect_timeout
            client = WallConnector(self.host, timeout=timeout, session=session)
            # The library's own reading is unbounded and guesses at cut bodies (see above).
            client.api = _StrictAPI(self.host, session, timeout, self.config.max_body_bytes)
            self._wall_connector = client
        return self._wall_connector

    def _emit_all(self, emissions: Iterable[Emission]) -> None:
        for name, payload in emissions:
            self.emit(name, payload)


class Gen3Monitor(SafeEmitter):
    """Polls one or more Gen 3 units gently, one request at a time, and announces them.

    Emits ``TWC_NEW_DEVICE`` (:class:`~twcdirector.events.NewDevice`, generation 3) the first
    time a unit is read; every other event is on the unit itself. Until then nobody listens
    to the unit, so the monitor also emits its ``GEN3_ERROR`` and ``TWC_DEVICE_LOST``: a
    host that never answers is heard of at its first failure.
    """

    def __init__(
        self,
        hosts: Iterable[str] = (),
        *,
        config: Gen3Config | None = None,
        split_phase: Mapping[str, bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.config = config if config is not None else Gen3Config()
        self._clock = clock
        self._http = _SharedHttp()
        self._units: dict[str, Gen3Unit] = {}
        self._announced: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_end = float("-inf")
        overrides = dict(split_phase or {})
        for host in hosts:
            self.add_unit(host, split_phase=overrides.get(host))

    def add_unit(self, host: str, *, split_phase: bool | None = None) -> Gen3Unit:
        """Watch one more unit (``host`` or ``host:port``); polling starts at once if running."""
        unit = Gen3Unit(
            host,
            config=self.config,
            split_phase=split_phase,
            clock=self._clock,
            _http=self._http,
            _on_first_read=self._announce,
        )
        if unit.device_id in self._units:
            raise ConfigurationError(f"Gen 3 unit {unit.device_id} is already watched")
        self._units[unit.device_id] = unit
        for name in (GEN3_ERROR, DEVICE_LOST):
            unit.on(name, self._until_announced(unit.device_id, name))
        self._wake.set()
        return unit

    @property
    def units(self) -> Mapping[str, Gen3Unit]:
        """The watched units by device id."""
        return MappingProxyType(self._units)

    def unit(self, device_id: str) -> Gen3Unit:
        """The unit watched as ``device_id``."""
        try:
            return self._units[device_id]
        except KeyError:
            raise DeviceNotFoundError(f"no Gen 3 unit {device_id!r}") from None

    def snapshot(self) -> dict[str, Gen3Snapshot]:
        """Every unit now, by device id."""
        return {device_id: unit.snapshot() for device_id, unit in self._units.items()}

    def overview(self, gen2: Gen2View | None = None) -> Overview:
        """Both generations in one snapshot, with wall-clock "last heard" times.

        ``gen2`` is ``director.snapshot()`` of a director on the default clock (the event
        loop's, which is ``time.monotonic``); without it only the Gen 3 units are listed.
        """
        return overview(
            gen2,
            [self._units[device_id].snapshot() for device_id in sorted(self._units)],
            now=time.monotonic(),
            wall_now=datetime.datetime.now(datetime.UTC),
        )

    @property
    def running(self) -> bool:
        """The polling task is alive."""
        return self._task is not None and not self._task.done()

    async def refresh(self) -> dict[str, Gen3Snapshot]:
        """Read every endpoint of every unit once, in sequence; failures are events."""
        for unit in list(self._units.values()):
            for endpoint in (
                Endpoint.VERSION,
                Endpoint.VITALS,
                Endpoint.LIFETIME,
                Endpoint.WIFI_STATUS,
            ):
                await unit._poll(endpoint)
        return self.snapshot()

    async def start(self) -> None:
        """Start polling in the background."""
        if self.running:
            return
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name="twcdirector-gen3-monitor"
        )

    async def stop(self) -> None:
        """Stop polling and close the HTTP session; the last values stay readable."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._http.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- private ----------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            units = list(self._units.values())
            choice = choose_next(
                [unit.tracker.next_request() for unit in units],
                self._last_end + self.config.request_gap,
            )
            if choice is None:
                await self._wake.wait()
                continue
            index, endpoint, when = choice
            delay = when - self._clock()
            if delay > 0:
                # Sleep until due, or until a new unit is added.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
                continue
            await units[index]._poll(endpoint)
            self._last_end = self._clock()

    def _until_announced(self, device_id: str, name: str) -> Callable[[Any], None]:
        def forward(payload: Any) -> None:
            if device_id not in self._announced:
                self.emit(name, payload)

        return forward

    def _announce(self, unit: Gen3Unit) -> None:
        if unit.device_id in self._announced:
            return
        self._announced.add(unit.device_id)
        _LOGGER.info("Gen 3 unit %s found (serial %s)", unit.device_id, unit.serial_number)
        self.emit(NEW_DEVICE, NewDevice(unit.device_id, 3, unit))


@dataclass(frozen=True, slots=True)
class _Failure:
    kind: Gen3ErrorKind
    error: Gen3Error


class _SharedHttp:
    """A monitor's one session (made lazily inside the loop) and its one-request lock."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self.lock = asyncio.Lock()

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = create_session()
        return self._session

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class _StrictAPI(API):  # type: ignore[misc]  # the library is untyped
    """tesla-wall-connector's API with a bounded, strict body reader (see the module doc)."""

    def __init__(
        self, host: str, session: aiohttp.ClientSession, timeout: float, max_bytes: int
    ) -> None:
        super().__init__(host, session, timeout)
        self.max_bytes = max_bytes

    async def decode_response(self, response: aiohttp.ClientResponse) -> dict[str, Any]:
        """Stream the body in up to ``max_bytes`` and decode it strictly.

        Raises the library's :class:`WallConnectorDecodeError`, as its own reader would.
        """
        limit = self.max_bytes
        if response.content_length is not None and response.content_length > limit:
            raise WallConnectorDecodeError(
                f"body of {response.content_length} bytes refused (the limit is {limit})", ""
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > limit:
                # Leaving the request closes the connection; the rest is never read.
                raise WallConnectorDecodeError(f"body longer than {limit} bytes refused", "")
            chunks.append(chunk)
        data = b"".join(chunks)
        endpoint = response.url.path.rsplit("/", 1)[-1]
        try:
            return decode_body(data, endpoint if endpoint in _ENDPOINT_NAMES else None)
        except Gen3ResponseError as err:
            raise WallConnectorDecodeError(str(err), data.decode("utf-8", "replace")) from err


_ENDPOINT_NAMES = frozenset(endpoint.value for endpoint in Endpoint)


def _failure(kind: Gen3ErrorKind, error: Gen3Error, cause: BaseException) -> _Failure:
    error.__cause__ = cause
    return _Failure(kind, error)


def _connection_failure(where: str, err: WallConnectorConnectionError) -> _Failure:
    cause = err.__cause__
    if isinstance(cause, aiohttp.ClientResponseError):
        message = f"{where}: HTTP {cause.status} {cause.message}"
        if cause.status in _API_UNAVAILABLE:
            message += ": the unit's firmware may have closed or moved its local API"
            return _failure(Gen3ErrorKind.API_UNAVAILABLE, Gen3ResponseError(message), err)
        return _failure(Gen3ErrorKind.HTTP_STATUS, Gen3ResponseError(message), err)
    return _failure(Gen3ErrorKind.CONNECTION, Gen3ConnectionError(f"{where}: {err}"), err)


async def _refuse_other_paths(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceRequestStartParams,
) -> None:
    if params.method != "GET" or params.url.path not in ALLOWED_PATHS or params.url.query_string:
        raise Gen3ResponseError(f"refused to request {params.method} {params.url}")


async def _refuse_redirects(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceRequestRedirectParams,
) -> None:
    location = params.response.headers.get("Location", "?")
    params.response.close()
    raise Gen3ResponseError(f"refused to follow a redirect to {location}")
