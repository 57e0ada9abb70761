"""Reports people read: one self-contained HTML page, and JUnit XML for CI, from the matrix, scenario runs
and replays."""

from __future__ import annotations

from hallsim.harness.report._build import matrix_report, replay_report, scenario_report
from hallsim.harness.report._html import render_html, write_html
from hallsim.harness.report._junit import render_junit, write_junit
from hallsim.harness.report._mask import Masker
from hallsim.harness.report._model import CauseGroup, HallExchange, Report, ReportRow, ReportTable, Tone
from hallsim.harness.report._shape import Lane, Node, PathTaken, Shape, path_of, render_svg, shape_of

__all__ = [
    "CauseGroup",
    "HallExchange",
    "Lane",
    "Masker",
    "Node",
    "PathTaken",
    "Report",
    "ReportRow",
    "ReportTable",
    "Shape",
    "Tone",
    "matrix_report",
    "path_of",
    "render_html",
    "render_junit",
    "render_svg",
    "replay_report",
    "scenario_report",
    "shape_of",
    "write_html",
    "write_junit",
]
