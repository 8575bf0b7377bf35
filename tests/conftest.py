"""Shared test fixtures: captured data from ../shared, hypothesis profiles."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

#: ``shared/`` sits beside the checkout, in CI as on a developer's machine.
SHARED = Path(__file__).resolve().parents[2] / "shared"

# CI machines are small and busy: no per-example deadline, the same example budget.
settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def load_vectors() -> list[dict[str, Any]]:
    """The captured Gen 2 frames of ``shared/protocol/vectors.json``."""
    with (SHARED / "protocol" / "vectors.json").open(encoding="utf-8") as handle:
        vectors: list[dict[str, Any]] = json.load(handle)
    return vectors


@pytest.fixture(scope="session")
def vectors() -> list[dict[str, Any]]:
    """The captured Gen 2 frames."""
    return load_vectors()
