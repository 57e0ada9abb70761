"""A real headless Chromium for the report's browser tests: Debian's /usr/bin/chromium driven by Playwright
(never a browser Playwright downloads). Without it the tests skip, except in CI (CI=true), where they fail:
.ci/run installs it with apt-get, so a missing browser there is a broken CI, not a reason to skip."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page


@pytest.fixture(scope="module")
def browser(chromium: Browser) -> Iterator[BrowserContext]:
    """A fresh offline context (profile) of the shared Chromium for the report tests."""
    context = chromium.new_context(offline=True, viewport={"width": 1280, "height": 900})
    try:
        yield context
    finally:
        context.close()


class Network:
    """Every request a page made that was not for a file: URL (there must be none)."""

    def __init__(self) -> None:
        self.requests: list[str] = []


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[tuple[Page, Network]]:
    """A new page whose every non-file request is recorded and refused."""
    network = Network()
    page = browser.new_page()

    def refuse(route: object) -> None:
        from playwright.sync_api import Route

        assert isinstance(route, Route)
        if not route.request.url.startswith("file:"):
            network.requests.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route("**/*", refuse)
    try:
        yield page, network
    finally:
        page.close()
