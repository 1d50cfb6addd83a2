"""Fixtures for the tests that drive a real ACME CA (pebble; ``tests/pebble_ca.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pebble_ca import Pebble, start_pebble

from octorunbook.targets.sandbox import Sandbox


@pytest.fixture
def make_pebble(tmp_path: Path) -> Iterator[Any]:
    """Start pebble validating HTTP-01 on a given port; every one started is stopped, pass or fail."""
    started: list[Pebble] = []

    def start(
        http_port: int, eab: dict[str, str] | None = None, validity_seconds: int | None = None
    ) -> Pebble:
        started.append(start_pebble(tmp_path / f"pebble{len(started)}", http_port, eab, validity_seconds))
        return started[-1]

    yield start
    for ca in started:
        ca.stop()


@pytest.fixture
def pebble(sandbox: Sandbox, make_pebble: Any) -> Pebble:
    """Pebble validating HTTP-01 on the port the sandbox portal's http://localhost:80/ really uses."""
    return make_pebble(sandbox.status()["port_map"][80])  # type: ignore[no-any-return]
