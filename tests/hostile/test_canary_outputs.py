"""A canary token given as --token, and a --var whose name says secret, appear in no output of replay (text,
JSON, HTML) or matrix (text, JSON, JUnit, HTML): one masking rule, hallsim.emulator.secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hallsim.cli import cli

ROOT = Path(__file__).resolve().parents[2]
MAKE = ROOT / "fixtures" / "make" / "gate_break.blueprint.json"
PIPEDREAM = ROOT / "fixtures" / "pipedream" / "inline_option_a.yaml"
TOKEN = "canary-token-7f3a9c2e51"
VAR = "canary-var-secret-93b1d0"


@pytest.mark.parametrize("workflow", [MAKE, PIPEDREAM], ids=["make", "pipedream"])
@pytest.mark.parametrize("form", [[], ["--json"]], ids=["text", "json"])
def test_replay_output_holds_no_canary(workflow: Path, form: list[str], tmp_path: Path) -> None:
    html = tmp_path / "replay.html"
    args = ["replay", str(workflow), "--hall", "deny", "--token", TOKEN, "--var", f"MY_API_KEY={VAR}"]
    result = CliRunner().invoke(cli, [*args, *form, "--html", str(html)])
    assert result.exit_code == 0, result.output
    for shown in (result.output, html.read_text(encoding="utf-8")):
        assert TOKEN not in shown
        assert VAR not in shown


def test_matrix_outputs_hold_no_canary(tmp_path: Path) -> None:
    junit, html = tmp_path / "matrix.xml", tmp_path / "matrix.html"
    args = ["matrix", str(MAKE), "--behaviour", "allow", "--behaviour", "deny", "--var", f"MY_API_KEY={VAR}"]
    for form in ([], ["--json"]):
        result = CliRunner().invoke(cli, [*args, *form, "--junit", str(junit), "--html", str(html)])
        assert result.exit_code == 1, result.output  # the documented Make gate fails open on deny
        for shown in (result.output, junit.read_text(encoding="utf-8"), html.read_text(encoding="utf-8")):
            assert VAR not in shown
