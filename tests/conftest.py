"""Shared test fixtures: the captured frames in ``tests/data/``, hypothesis profiles."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

#: The tests' own data (``tests/data/README.md`` says where each file came from): a fresh
#: clone with nothing beside it runs the whole suite.
DATA = Path(__file__).resolve().parent / "data"

# CI machines are small and busy: no per-example deadline, the same example budget.
settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def load_vectors() -> list[dict[str, Any]]:
    """The captured Gen 2 frames of ``tests/data/gen2_vectors.json``."""
    with (DATA / "gen2_vectors.json").open(encoding="utf-8") as handle:
        vectors: list[dict[str, Any]] = json.load(handle)
    return vectors


@pytest.fixture(scope="session")
def vectors() -> list[dict[str, Any]]:
    """The captured Gen 2 frames."""
    return load_vectors()
