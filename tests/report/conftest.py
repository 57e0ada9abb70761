"""A real headless Chromium for the report's browser tests: Debian's /usr/bin/chromium driven by Playwright
(never a browser Playwright downloads). Without it the tests skip, except in CI (CI=true), where they fail:
.ci/run installs it with apt-get, so a missing browser there is a broken CI, not a reason to skip."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

CHROMIUM = Path(os.environ.get("HALLSIM_CHROMIUM", "/usr/bin/chromium"))

#: flags that work on this machine: no sandbox (root in a container), no GPU, and nothing that talks to
#: the network on its own (QUIC, component updates, sync, background requests)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _need_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is not installed (apt-get install -y chromium); the browser tests need it"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI: {reason}; .ci/run installs it", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """One Chromium per test session (xdist worker) with a fresh profile, offline."""
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            offline=True,
            viewport={"width": 1280, "height": 900},
        )
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
