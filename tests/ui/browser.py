"""What the browser tests share: Debian's Chromium (never a downloaded browser) and a server's stop."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")


def require_chromium() -> None:
    """Skip, saying why, where there is no Chromium or no Playwright."""
    if not CHROMIUM.is_file():
        pytest.skip("Chromium not installed at /usr/bin/chromium: apt-get install chromium (done by .ci/run)")
    pytest.importorskip("playwright.sync_api")


def launch_chromium(playwright: Any) -> Any:
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    )


def shared_chromium() -> Iterator[Any]:
    """One Chromium for a module's tests (a module-scoped fixture yields from this): each test opens its
    own context — cookies, storage, cache, as a fresh browser profile has them — so sharing the process
    shares nothing a test could see. Starting Chromium was a second or two of every browser test."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group (its kernels too), SIGKILL if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
