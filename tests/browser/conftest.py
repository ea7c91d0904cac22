"""Browser fixtures: the served UI (fake control plane) and Debian Chromium via Playwright.

Uses the Debian Chromium at /usr/bin/chromium through Python Playwright; no
browser download. The UI must have been built (``make web``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ui_server import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, FakeAppService, Served

from tether.api.static import DEFAULT_DIST


@pytest.fixture(scope="session")
def served() -> Iterator[Served]:
    if not (DEFAULT_DIST / "index.html").is_file():
        pytest.fail("the web UI is not built: run `make web` (bash scripts/build-web.sh)")
    with Served(FakeAppService(extra_apps=1000)) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
