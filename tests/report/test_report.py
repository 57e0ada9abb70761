"""The report renderer: what the page and the JUnit file hold, masking, escaping, the workflow diagram."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from hallsim.cli import cli
from hallsim.emulator import HallEmulator
from hallsim.harness import HallEndpoint, load_workflow
from hallsim.harness.matrix import behaviour_label, run_matrix
from hallsim.harness.report import (
    Masker,
    matrix_report,
    path_of,
    render_html,
    render_junit,
    render_svg,
    replay_report,
    shape_of,
)

ROOT = Path(__file__).resolve().parents[2]
GATE_BREAK = ROOT / "fixtures" / "make" / "gate_break.blueprint.json"
OPTION_A = ROOT / "fixtures" / "pipedream" / "inline_option_a.yaml"
SCENARIOS = ROOT / "scenarios" / "make"


@pytest.fixture(scope="module")
def break_matrix() -> object:
    return run_matrix(GATE_BREAK, behaviours=["allow", "deny", "http-500"], concurrency=2)


def test_matrix_html_has_the_verdict_first_and_a_row_per_behaviour(break_matrix: object) -> None:
    report = matrix_report([break_matrix])  # type: ignore[list-item]
    html = render_html(report)
    assert report.tone == "bad"
    assert report.verdict == "1 of 1 gate fails open"
    assert html.index('id="verdict"') < html.index('class="workflow')
    rows = re.findall(r'<details class="row tone-(\w+)" data-verdict="([^"]+)"', html)
    assert rows == [
        ("good", "ran on allow"),
        ("bad", "FAIL-OPEN"),
        ("good", "fail-closed"),
    ]
    # one group for the failing row: its cause, the change that fixes it, the row it covers
    (table,) = report.tables
    (group,) = table.groups
    assert group.rows == ("deny",)
    assert "`{{2.denied}}`, which resolves to nothing" in group.cause
    assert group.fix is not None
    assert "{{2.data.denied}}" in group.fix
    assert "<strong>Fix:</strong>" in html


def test_the_page_fetches_nothing(break_matrix: object) -> None:
    html = render_html(matrix_report([break_matrix]))  # type: ignore[list-item]
    # no external resource of any kind, and a policy that forbids fetching one
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', html)
    assert "@import" not in html
    assert "url(" not in html
    assert "default-src 'none'" in html


def test_junit_has_one_case_per_row_and_fails_the_fail_open_one(break_matrix: object) -> None:
    xml = render_junit(matrix_report([break_matrix]))  # type: ignore[list-item]
    root = ET.fromstring(xml)
    assert root.get("tests") == "3"
    assert root.get("failures") == "1"
    assert root.get("errors") == "0"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["allow", "deny", "http-500"]
    # a file name is not split into fake packages at its dots
    assert "." not in (cases[0].get("classname") or "")
    failure = cases[1].find("failure")
    assert failure is not None
    assert failure.get("type") == "FAIL-OPEN"
    # the message is the verdict and its cause; the body adds what ran unallowed and the change to make
    assert (failure.get("message") or "").startswith(
        "FAIL-OPEN: module 4 (filter `Allowed`): the Router filter"
    )
    assert "module 4 (bundle 1) ran after the Hall denied" in (failure.text or "")
    assert "fix: " in (failure.text or "")
    assert "Make replay:" in (cases[1].findtext("system-out") or "")


def test_hall_answers_are_escaped_not_markup(tmp_path: Path) -> None:
    script = tmp_path / "hall.yaml"
    script.write_text(
        "default:\n  behaviour: deny\n  reason: '<script>alert(1)</script><img src=x onerror=alert(2)>'\n",
        encoding="utf-8",
    )
    workflow = load_workflow(GATE_BREAK)
    with HallEmulator(script=script) as hall:
        run = workflow.run(HallEndpoint(hall.url, next(iter(hall.tokens)), hall))
    html = render_html(replay_report(workflow, run, hall="script"))
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # the emulator's one rule (hallsim.emulator.secrets): a first-character hint for tokens of 8 or more
        ("Authorization: Bearer abc.def-123", "Authorization: Bearer a***"),
        ('{"api_key": "k-1234567"}', '{"api_key": "k***"}'),
        ("HALL_SESSION_TOKEN=s3cr3t-value next", "HALL_SESSION_TOKEN=s*** next"),
        ("the token given was hunter22 here", "the token given was h*** here"),
        ("nothing secret here", "nothing secret here"),
    ],
)
def test_masker_masks_credentials_and_known_secrets(text: str, masked: str) -> None:
    assert Masker(["hunter22", "t"]).text(text) == masked


def test_masker_masks_values_under_secret_keys() -> None:
    value = {"headers": {"authorization": "Bearer x", "accept": "*/*"}, "token": "abc", "env": "prod"}
    assert Masker().value(value) == {
        "headers": {"authorization": "Bearer ***", "accept": "*/*"},
        "token": "***",
        "env": "prod",
    }


def test_replay_report_masks_the_token_it_was_given() -> None:
    workflow = load_workflow(OPTION_A)
    with HallEmulator(tokens=("s3cret-token-value",), default="allow") as hall:
        run = workflow.run(HallEndpoint(hall.url, "s3cret-token-value", hall))
    html = render_html(replay_report(workflow, run, hall="allow", secrets=["s3cret-token-value"]))
    assert "s3cret-token-value" not in html
    assert "ran on allow" in html


def test_make_diagram_has_a_lane_per_route_and_highlights_the_path_taken(break_matrix: object) -> None:
    shape = shape_of(load_workflow(GATE_BREAK))
    router = next(node for node in shape.nodes if node.lanes)
    assert [lane.label for lane in router.lanes] == ["Allowed", "Denied"]
    deny_row = next(r for r in break_matrix.rows if r.behaviour == "deny")  # type: ignore[attr-defined]
    path = path_of(deny_row.run.record)
    assert "route:3:1" in path.lanes
    assert "route:3:2" not in path.lanes
    svg = render_svg(shape, path)
    assert re.search(r'<g class="node ran protected" data-key="module:4">', svg)
    assert re.search(r'<g class="node" data-key="module:6">', svg)  # the Denied route's alert: not run


def test_pipedream_diagram_marks_where_the_run_stopped() -> None:
    workflow = load_workflow(OPTION_A)
    with HallEmulator(default="deny") as hall:
        run = workflow.run(HallEndpoint(hall.url, next(iter(hall.tokens)), hall))
    path = path_of(run.record)
    assert path.stopped == "step:pyhall_gate"
    svg = render_svg(shape_of(workflow), path)
    assert 'class="node ran stopped" data-key="step:pyhall_gate"' in svg
    assert 'class="node protected" data-key="step:write_record"' in svg


def test_run_writes_html_and_junit_per_scenario(tmp_path: Path) -> None:
    scenarios = sorted(SCENARIOS.glob("gate_break.*.scenario.yaml"))[:3]
    html, junit = tmp_path / "run.html", tmp_path / "run.xml"
    result = CliRunner().invoke(
        cli, ["--no-project", "run", *map(str, scenarios), "--html", str(html), "--junit", str(junit)]
    )
    assert result.exit_code == 0, result.output
    root = ET.fromstring(junit.read_text(encoding="utf-8"))
    assert root.get("tests") == str(len(scenarios))
    assert root.get("failures") == "0"
    page = html.read_text(encoding="utf-8")
    assert f"{len(scenarios)} of {len(scenarios)} scenarios passed" in page
    assert page.count('<details class="row tone-good"') == len(scenarios)


def test_replay_writes_html_and_keeps_its_json(tmp_path: Path) -> None:
    html = tmp_path / "nested" / "replay.html"
    result = CliRunner().invoke(
        cli, ["--no-project", "replay", str(GATE_BREAK), "--hall", "deny", "--json", "--html", str(html)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["protected_ran"] is True
    assert f"report written: {html}" in result.stderr
    page = html.read_text(encoding="utf-8")
    assert "under deny: FAIL-OPEN" in page


def test_an_unwritable_report_path_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    result = CliRunner().invoke(
        cli,
        [
            "--no-project",
            "replay",
            str(GATE_BREAK),
            "--hall",
            "deny",
            "--html",
            str(tmp_path / "file" / "r.html"),
        ],
    )
    assert result.exit_code == 2
    assert "cannot write the report" in result.output
    assert "Traceback" not in result.output


def test_a_gate_that_never_reaches_the_hall_is_not_green() -> None:
    component = ROOT / "fixtures" / "pipedream" / "component.yaml"
    report = matrix_report([run_matrix(component, behaviours=["allow", "deny"], concurrency=2)])
    (table,) = report.tables
    assert table.tone == "broken"
    assert report.verdict == "1 of 1 gate is broken"
    # the matrix's cause: the published action sees no environment variables, so it never calls the Hall
    assert any("published action" in group.cause and group.tone == "broken" for group in table.groups)


def test_a_long_behaviour_spec_gets_a_short_label_and_keeps_the_whole_spec() -> None:
    spec = "http-502:<html><head><title>502 Bad Gateway</title></head></html>"
    report = matrix_report([run_matrix(GATE_BREAK, behaviours=[spec], concurrency=1)])
    row = report.tables[0].rows[0]
    assert row.name == behaviour_label(spec)
    assert len(row.name) < len(spec)
    assert row.spec == spec
    assert "&lt;title&gt;502 Bad Gateway" in render_html(report)


def test_stubbed_calls_to_other_hosts_are_listed(tmp_path: Path) -> None:
    workflow = tmp_path / "crm.yaml"
    workflow.write_text(
        "steps:\n  - name: push\n    source: |\n      export default defineComponent({\n"
        "        async run() {\n"
        "          const url = 'https://crm.example.invalid/contacts';\n"
        "          const r = await fetch(url, {method: 'POST', body: 'x=1'});\n"
        "          return r.status;\n        },\n      });\n",
        encoding="utf-8",
    )
    html = tmp_path / "crm.html"
    result = CliRunner().invoke(
        cli,
        ["--no-project", "replay", str(workflow), "--hall", "allow", "--html", str(html),
         "--stub", "POST https://crm.example.invalid/* http-201"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    page = html.read_text(encoding="utf-8")
    section = page[page.index("Stubbed calls") :]
    assert "POST https://crm.example.invalid/contacts body x=1 -&gt; stub http-201 rule 0: 201" in section
