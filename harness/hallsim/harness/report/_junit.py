"""The report as JUnit XML, for CI systems that show test results: one test case per row (a matrix
behaviour, a scenario), a failure for every row that is not green, an error for a row that could not run.

The schema CI tools read (testsuites/testsuite/testcase with failure, error, system-out): the one pytest's
--junitxml writes (https://docs.pytest.org/en/stable/how-to/output.html#creating-junitxml-format-files)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from hallsim.harness.report._model import Report, ReportRow, ReportTable


def _classname(table: ReportTable) -> str:
    # JUnit viewers split a classname at dots into packages: keep a file name whole
    return table.title.replace("\\", "/").replace(".", "_")


def render_junit(report: Report) -> str:
    """The report as a JUnit XML document."""
    suites = ET.Element("testsuites", name=f"hallsim {report.title}")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for table in report.tables:
        suite = ET.SubElement(suites, "testsuite", name=table.title)
        counts = {"tests": 0, "failures": 0, "errors": 0}
        seconds = 0.0
        for row in table.rows:
            counts["tests"] += 1
            case = ET.SubElement(
                suite,
                "testcase",
                classname=_classname(table),
                name=row.name,
                time=f"{(row.wall_ms or 0) / 1000:.3f}",
            )
            seconds += (row.wall_ms or 0) / 1000
            if row.tone == "error":
                counts["errors"] += 1
                ET.SubElement(case, "error", message=_message(row), type=row.verdict).text = _body(row)
            elif row.tone != "good":
                counts["failures"] += 1
                ET.SubElement(case, "failure", message=_message(row), type=row.verdict).text = _body(row)
            if row.trace:
                ET.SubElement(case, "system-out").text = row.trace
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", f"{seconds:.3f}")
    for key, value in totals.items():
        suites.set(key, str(value))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _message(row: ReportRow) -> str:
    head = row.cause or (row.why[0] if row.why else row.hall_did)
    return f"{row.verdict}: {head}"


def _body(row: ReportRow) -> str:
    lines = [f"verdict: {row.verdict}", f"the Hall: {row.hall_did}", f"outcome: {row.outcome}"]
    if row.cause:
        lines.append(f"cause: {row.cause}")
    if row.fix:
        lines.append(f"fix: {row.fix}")
    lines += row.why
    return "\n".join(lines)


def write_junit(report: Report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_junit(report), encoding="utf-8")
