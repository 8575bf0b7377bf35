"""Gen 3 polling options and host validation (pure)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from urllib.parse import urlsplit

from ..exceptions import ConfigurationError


@dataclass(frozen=True, slots=True)
class Gen3Config:
    """How gently a :class:`~twcdirector.gen3.Gen3Monitor` polls its units (seconds)."""

    #: vitals while a vehicle is connected / while none is.
    vitals_interval_connected: float = 5.0
    vitals_interval_idle: float = 30.0
    lifetime_interval: float = 60.0
    wifi_status_interval: float = 60.0
    #: version is read at start, after a reboot or a return, and then this often.
    version_interval: float = 6 * 3600.0
    #: Connect budget handed to tesla-wall-connector (it allows 3x this for the first byte).
    connect_timeout: float = 5.0
    #: Hard deadline for one whole request, body included.
    request_timeout: float = 20.0
    #: Quiet time between two requests of one monitor, whatever the unit.
    request_gap: float = 0.5
    #: After the n-th consecutive failure a unit waits initial * 2**(n-1), at most max.
    backoff_initial: float = 5.0
    backoff_max: float = 300.0
    #: Consecutive unanswered requests before ``TWC_DEVICE_LOST``.
    lost_after_failures: int = 3
    #: The largest body read (bytes); a longer one is refused as ``bad_body`` while it
    #: streams in. Real bodies are under 1 KiB.
    max_body_bytes: int = 64 * 1024

    def __post_init__(self) -> None:
        for option in fields(self):
            value = getattr(self, option.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigurationError(f"{option.name} must be a number, not {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ConfigurationError(f"{option.name} must be finite and >= 0, not {value}")
        for name in (
            "vitals_interval_connected",
            "vitals_interval_idle",
            "lifetime_interval",
            "wifi_status_interval",
            "version_interval",
            "connect_timeout",
            "request_timeout",
            "backoff_initial",
        ):
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"{name} must be > 0")
        if self.backoff_max < self.backoff_initial:
            raise ConfigurationError("backoff_max must be >= backoff_initial")
        for name in ("lost_after_failures", "max_body_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{name} must be an integer >= 1")

    def backoff(self, failures: int) -> float:
        """The pause after ``failures`` consecutive failures (0 after none)."""
        if failures <= 0:
            return 0.0
        return min(self.backoff_max, self.backoff_initial * 2.0 ** min(failures - 1, 60))


def normalize_host(host: str) -> str:
    """Check a unit address: ``host`` or ``host:port`` (``[v6]:port``), nothing else.

    A scheme and a trailing slash are accepted and dropped (people paste URLs); a path,
    query, user info or bad port is refused, so no request can ever leave the four endpoints.
    """
    if not isinstance(host, str) or not host.strip():
        raise ConfigurationError(f"a Gen 3 unit needs a host, got {host!r}")
    text = host.strip()
    if text.lower().startswith("http://"):
        text = text[len("http://") :]
    text = text.rstrip("/")
    if any(char in text for char in "/?#@ \t\\") or not text:
        raise ConfigurationError(f"{host!r} is not a host or host:port")
    try:
        parts = urlsplit(f"http://{text}")
        port = parts.port
    except ValueError as err:
        raise ConfigurationError(f"{host!r} is not a host or host:port: {err}") from err
    if not parts.hostname or (port is not None and not 0 < port < 65536):
        raise ConfigurationError(f"{host!r} is not a host or host:port")
    return text
