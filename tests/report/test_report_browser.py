"""The HTML report in a real headless Chromium, as a person opens it: from file://, with no network."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from playwright.sync_api import Page, expect

from hallsim.cli import cli

from .conftest import Network

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = sorted((ROOT / "fixtures" / "pipedream").glob("*.yaml")) + sorted(
    (ROOT / "fixtures" / "make").glob("*.json")
)


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`hallsim matrix fixtures/pipedream/*.yaml fixtures/make/*.json --html report.html`, run once."""
    out = tmp_path_factory.mktemp("report") / "report.html"
    result = CliRunner().invoke(cli, ["--no-project", "matrix", *map(str, FIXTURES), "--html", str(out)])
    assert result.exit_code == 1, result.output  # the documented gates fail open
    assert out.is_file()
    return out


def test_opens_offline_from_file_and_shows_the_overall_verdict_first(
    report_html: Path, page: tuple[Page, Network]
) -> None:
    tab, network = page
    tab.goto(report_html.as_uri())
    verdict = tab.locator("#verdict")
    expect(verdict).to_be_visible()
    expect(verdict).to_contain_text("6 gates")
    expect(verdict).to_contain_text("fail open")
    # the verdict comes before every workflow's table
    assert verdict.bounding_box()["y"] < tab.locator("section.workflow").first.bounding_box()["y"]  # type: ignore[index]
    assert network.requests == []


def test_one_table_per_workflow_coloured_by_verdict(report_html: Path, page: tuple[Page, Network]) -> None:
    tab, _ = page
    tab.goto(report_html.as_uri())
    sections = tab.locator("section.workflow")
    expect(sections).to_have_count(len(FIXTURES))
    make = tab.locator("section.workflow", has_text="gate_break.blueprint.json")
    assert make.get_attribute("data-tone") == "bad"
    header = make.locator("header")
    # coloured: the fail-open red, not the page's white
    assert header.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(254, 226, 226)"
    expect(make.locator("ul.causes")).to_contain_text("rows for one reason")
    # a gate that never reached the Hall is not shown green
    component = tab.locator("section.workflow", has_text="component.yaml")
    assert component.get_attribute("data-tone") != "good"


def test_a_row_expands_to_its_trace(report_html: Path, page: tuple[Page, Network]) -> None:
    tab, _ = page
    tab.goto(report_html.as_uri())
    make = tab.locator("section.workflow", has_text="gate_break.blueprint.json")
    row = make.locator("details.row[data-verdict='FAIL-OPEN']").first
    trace = row.locator(".full-trace")
    expect(trace).to_be_hidden()
    row.locator("> summary").click()
    expect(trace).to_be_visible()
    expect(trace).to_contain_text("Make replay:")
    expect(row.locator("table.hall")).to_contain_text("/api/route")
    expect(row.locator(".trace")).to_contain_text("UNCONFIRMED settings this run used")
    # the path the run took: the protected module ran, and is drawn as such
    expect(row.locator("svg.flow g.node.protected.ran")).to_have_count(1)
    assert row.locator("svg.flow path.edge.taken").count() >= 3  # trigger -> HTTP -> router -> route
    # secrets stay masked on the page
    assert "Bearer ***" in trace.inner_text()


def test_expand_all_opens_every_row(report_html: Path, page: tuple[Page, Network]) -> None:
    tab, _ = page
    tab.goto(report_html.as_uri())
    tab.click("#expand-all")
    closed = tab.locator("details.row:not([open])")
    expect(closed).to_have_count(0)
