"""The report as one self-contained HTML page (templates/report.html.j2): no network fetches, opens from
file://. Jinja2 autoescapes every value; the diagrams are SVG built and escaped by `_shape`."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from hallsim.harness.report._model import Report
from hallsim.harness.report._shape import PathTaken, Shape, render_svg

_TEMPLATES = Path(__file__).parent / "templates"


def _diagram(shape: Shape, path: PathTaken | None, title: str) -> Markup:
    return Markup(render_svg(shape, path or PathTaken(), title))  # escaped in render_svg


def _yes(flag: bool | None) -> str:
    return "-" if flag is None else ("yes" if flag else "no")


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(diagram=_diagram, yes=_yes)
    return env


def render_html(report: Report) -> str:
    """The report as an HTML document."""
    return _environment().get_template("report.html.j2").render(report=report)


def write_html(report: Report, path: Path) -> None:
    """Write the report to `path` (its folder is created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8")
