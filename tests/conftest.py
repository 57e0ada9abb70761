"""What every test area shares: the pytester fixture (the plugin and command tests run pytest inside pytest),
and a real headless Chromium for the browser tests (the HTML report, the live journal page). The hallsim
fixtures (`hall_emulator`, `run_workflow`, ...) come from hallsim's own pytest plugin."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytest_plugins = ["pytester"]

# the stub service's certificate authority is kept per user (harness/stubs/_tls.py); the tests keep theirs in
# a folder of their own (made once, by the first process; xdist workers and pytester runs inherit it)
if "HALLSIM_STUB_CA_DIR" not in os.environ:
    _ca_dir = tempfile.mkdtemp(prefix="hallsim-test-stub-ca-")
    os.environ["HALLSIM_STUB_CA_DIR"] = _ca_dir
    atexit.register(shutil.rmtree, _ca_dir, True)

#: Debian's Chromium, driven by Playwright (never a browser Playwright downloads); .ci/run installs it
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


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """One Chromium per test module, so at most one is running in a test process (xdist worker) at a time:
    a second Playwright instance cannot start while one runs, and while one runs, its event loop holds the
    thread (a later test's `asyncio.run` would fail). Each module opens its own context (a fresh,
    incognito-like profile). Without the browser the tests skip, except in CI (CI=true), where they
    fail: .ci/run installs it with apt-get, so a missing browser there is a broken CI, not a reason to
    skip."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is not installed (apt-get install -y chromium); the browser tests need it"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI: {reason}; .ci/run installs it", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
