"""The live journal page in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright; never a
browser Playwright downloads): a request sent after the page opened appears on it, filters, rule editing and
reset work as a person uses them. Without Chromium the tests skip, except in CI (CI=true), where they fail.

HALLSIM_SCREENSHOTS=docs writes the page's picture to docs/journal-page.png (the docs' screenshot)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from hallsim.emulator import GUIDE_REQUEST, HallEmulator

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = pytest.mark.e2e

AUTH = {"Authorization": "Bearer t"}
ADMIN_TOKEN = "admin-token-for-the-page"


@pytest.fixture(scope="module")
def browser(chromium: Browser) -> Iterator[BrowserContext]:
    # not offline: the page talks to the emulator on loopback
    context = chromium.new_context(offline=False, viewport={"width": 1360, "height": 820})
    try:
        yield context
    finally:
        context.close()


class Opened:
    def __init__(self, page: Page, hall: HallEmulator) -> None:
        self.page = page
        self.hall = hall
        #: requests the page made anywhere but the emulator (there must be none)
        self.elsewhere: list[str] = []
        #: console errors (a Content-Security-Policy refusal shows up here)
        self.errors: list[str] = []

    def send(self, **changes: Any) -> httpx.Response:
        return httpx.post(f"{self.hall.url}/api/route", json={**GUIDE_REQUEST, **changes}, headers=AUTH)


@pytest.fixture
def live(browser: BrowserContext) -> Iterator[Opened]:
    from playwright.sync_api import expect

    with HallEmulator() as hall:
        page = browser.new_page()
        opened = Opened(page, hall)

        def note(route: Any) -> None:
            url = route.request.url
            if not url.startswith(hall.url + "/"):
                opened.elsewhere.append(url)
                route.abort()
            else:
                route.continue_()

        page.route("**/*", note)
        page.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{hall.url}/__hall/#token={ADMIN_TOKEN}")
        expect(page.locator("#status")).to_have_text("live")
        try:
            yield opened
        finally:
            page.close()
        assert opened.elsewhere == []
        assert opened.errors == []


def test_a_request_sent_after_the_page_opened_appears_on_it(live: Opened) -> None:
    from playwright.sync_api import expect

    page = live.page
    rows = page.locator("#entries tr")
    expect(rows).to_have_count(0)
    live.hall.when(data_label="RESTRICTED").named("restricted").respond("deny", reason="needs approval")
    live.send(data_label="RESTRICTED", worker_id="wrk_browser_test")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("wrk_browser_test")
    expect(rows.first).to_contain_text("restricted")
    expect(rows.first).to_contain_text("200 denied")
    # the token came from the address's fragment and left it (so it is not shared with a screenshot)
    assert "token" not in page.url
    # a row opens to its masked headers, body and answer
    rows.first.click()
    detail = page.locator("#detail")
    expect(detail).to_contain_text('"worker_id": "wrk_browser_test"')
    expect(detail).to_contain_text('"reason": "needs approval"')
    expect(detail).to_contain_text("Bearer ***")


def test_behind_an_admin_token_the_page_sends_the_one_it_was_opened_with(browser: BrowserContext) -> None:
    from playwright.sync_api import expect

    with HallEmulator(admin_token=ADMIN_TOKEN) as hall:
        page = browser.new_page()
        try:
            page.goto(f"{hall.url}/__hall/")  # no token: the page says how to give it
            expect(page.locator("#status")).to_contain_text(
                "HTTP 401 (open the page with #token=ADMIN_TOKEN)"
            )
            page.goto(f"{hall.url}/__hall/#token={ADMIN_TOKEN}")
            page.reload()  # the token stays in the tab's sessionStorage, not in the address
            expect(page.locator("#status")).to_have_text("live")
            httpx.post(f"{hall.url}/api/route", json=GUIDE_REQUEST, headers=AUTH)
            expect(page.locator("#entries tr")).to_have_count(1)
            page.fill("#default-text", "deny")
            page.click("#default-save")  # a state change: the token and a JSON content type
            expect(page.locator("#message")).to_have_text("default: deny")
            assert hall.default.spec == "deny"
        finally:
            page.close()


def test_filters_by_field(live: Opened) -> None:
    from playwright.sync_api import expect

    live.hall.when(worker_id="wrk_down").respond("http-503")
    live.send(worker_id="wrk_up")
    live.send(worker_id="wrk_down")
    rows = live.page.locator("#entries tr")
    expect(rows).to_have_count(2)
    live.page.fill("#filter", "status:503")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("wrk_down")
    live.page.fill("#filter", "worker_id:wrk_u*")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("wrk_up")
    live.page.fill("#filter", "")
    expect(rows).to_have_count(2)


def test_rules_are_edited_on_the_page_and_reset_puts_them_back(live: Opened) -> None:
    from playwright.sync_api import expect

    page = live.page
    rule = [{"name": "page rule", "match": {"worker_id": "wrk_page"}, "respond": "http-500"}]
    page.fill("#rules-text", json.dumps(rule))
    page.click("#rules-save")
    expect(page.locator("#message")).to_have_text("saved 1 rule(s)")
    assert [r.name for r in live.hall.rules] == ["page rule"]
    assert live.send(worker_id="wrk_page").status_code == 500
    expect(page.locator("#entries tr").first).to_contain_text("page rule")
    page.fill("#default-text", "deny:closed for the test")
    page.click("#default-save")
    expect(page.locator("#message")).to_have_text("default: deny:closed for the test")
    assert live.send().json()["reason"] == "closed for the test"
    page.click("#reset")
    expect(page.locator("#message")).to_have_text("emulator reset")
    expect(page.locator("#entries tr")).to_have_count(0)  # the journal is emptied with the reset
    expect(page.locator("#rules-count")).to_contain_text("0 rule(s)")
    assert live.hall.rules == ()
    assert live.hall.default.spec == "allow"
    # a mistake is shown, not swallowed
    page.fill("#rules-text", '[{"respond": "denyy"}]')
    page.click("#rules-save")
    expect(page.locator("#message")).to_contain_text("unknown behaviour 'denyy'")
    assert live.errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]
    live.errors.clear()


def test_screenshot(live: Opened, tmp_path: Path) -> None:
    """A page with a few kinds of answer, as the docs show it."""
    from playwright.sync_api import expect

    hall = live.hall
    hall.when(data_label="RESTRICTED").named("restricted").respond("deny", reason="RESTRICTED needs approval")
    hall.when(worker_id="wrk_make_flaky").named("flaky").respond("http-503")
    hall.when(worker_id="wrk_pd_broken").respond("missing-denied")
    live.page.click("#rules-reload")
    for changes in (
        {},
        {"data_label": "RESTRICTED"},
        {"worker_id": "wrk_make_flaky"},
        {"worker_id": "wrk_pd_broken", "capability_id": "cap.crm.update.v2"},
        {"worker_id": "wrk_pd_inline_a", "data_label": "PUBLIC"},
    ):
        live.send(**changes)
    expect(live.page.locator("#entries tr")).to_have_count(5)
    live.page.locator("#entries tr").nth(3).click()
    expect(live.page.locator("#detail")).to_contain_text("RESTRICTED needs approval")
    target = Path("docs") if os.environ.get("HALLSIM_SCREENSHOTS") == "docs" else tmp_path
    live.page.screenshot(path=str(target / "journal-page.png"), full_page=True)
    assert (target / "journal-page.png").stat().st_size > 10_000
