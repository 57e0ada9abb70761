"""`hallsim replay BLUEPRINT.json` (the command the Pipedream harness owns) replays Make blueprints, told
apart by content: the trace by default, `--json` with platform, status, protected_ran,
modules, routes, warnings and hall_requests; bad input is `Error: ...` with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from hallsim.cli import cli

from .conftest import FIXTURES

GATE = str(FIXTURES / "gate_break.blueprint.json")


def test_replay_under_deny_prints_the_trace() -> None:
    result = CliRunner().invoke(cli, ["replay", GATE, "--hall", "deny"])
    assert result.exit_code == 0, result.output
    assert 'route 1 "Allowed": TAKEN' in result.output
    assert "{{2.denied}} → (empty)" in result.output
    assert "Status: success" in result.output
    assert "FAIL-OPEN" in result.output


def test_replay_json(tmp_path: Path) -> None:
    event = tmp_path / "bundles.json"
    event.write_text(json.dumps([{"worker_id": "w1", "data_label": "PUBLIC"}, {"worker_id": "w2"}]))
    result = CliRunner().invoke(
        cli,
        [
            "replay",
            GATE,
            "--hall",
            "http-500",
            "--event",
            str(event),
            "--set",
            "make.http.timeout_error=ModuleTimeoutError",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["platform"] == "make"
    assert data["status"] == "warning"
    assert data["protected_ran"] is False
    # both bundles fail and are stored; after the run, Break retries each 3 times (every 15 modelled minutes)
    assert [r["body"]["worker_id"] for r in data["hall_requests"]] == ["w1", "w2"] + ["w1"] * 3 + ["w2"] * 3
    assert [entry["taken"] for entry in data["routes"]] == [[], []]
    assert data["settings"]["make.http.timeout_error"] == "ModuleTimeoutError"
    assert {m["id"]: m.get("error", {}).get("type") for m in data["modules"]}[2] == "RuntimeError"


def test_replay_var_overrides_the_defaulted_token() -> None:
    result = CliRunner().invoke(
        cli, ["replay", GATE, "--hall", "allow", "--var", "HALL_SESSION_TOKEN=nope", "--json"]
    )
    data = json.loads(result.output)
    assert data["status"] == "error"  # 403 -> AccountValidationError: fatal, Break does not handle it
    assert data["variables"]["HALL_SESSION_TOKEN"]["source"] == "supplied"


def test_unknown_setting_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["replay", GATE, "--hall", "deny", "--set", "make.bogus=1"])
    assert result.exit_code == 2
    assert "Error: " in result.output
    assert "unknown setting `make.bogus`" in result.output
    assert "Traceback" not in result.output


def test_broken_blueprint_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "gate.json"
    path.write_text(
        json.dumps({"flow": [{"id": 1, "module": "gateway:CustomWebHook"}, {"id": 1, "module": "x:Y"}]})
    )
    result = CliRunner().invoke(cli, ["replay", str(path), "--hall", "allow"])
    assert result.exit_code == 2
    assert "module 1: duplicate id" in result.output


def test_replay_prints_and_carries_the_coverage_line() -> None:
    result = CliRunner().invoke(cli, ["replay", GATE, "--hall", "allow"])
    assert result.exit_code == 0, result.output
    line = (
        "Coverage: 5 of 8 modules emulated (4 ran); 3 recorded: [5] google-sheets:addRow → {}, "
        "[6] slack:CreateMessage (did not run), [7] google-sheets:addRow (did not run); 0 unknown to hallsim"
    )
    as_json = CliRunner().invoke(cli, ["replay", GATE, "--hall", "allow", "--json"])
    coverage = json.loads(as_json.output)["coverage"]
    assert coverage["line"] in result.output
    assert [m["id"] for m in coverage["recorded"]] == [5, 6, 7]
    assert coverage["unknown"] == []
    assert coverage["line"] == line


def test_replay_with_a_keychain_file(tmp_path: Path) -> None:
    blueprint = json.loads(Path(GATE).read_text())
    http = blueprint["flow"][1]
    http["module"] = "http:ActionSendDataAPIKeyAuth"
    http["parameters"]["auth"] = 5
    http["mapper"]["headers"] = []
    path = tmp_path / "gate.json"
    path.write_text(json.dumps(blueprint))
    keys = tmp_path / "keys.json"
    keys.write_text(
        json.dumps({"5": {"type": "apiKey", "key": "Bearer wrong-token-1", "name": "Authorization"}})
    )
    result = CliRunner().invoke(
        cli, ["replay", str(path), "--hall", "allow", "--set", f"make.keychains={keys}"]
    )
    assert result.exit_code == 0, result.output
    assert "keychain 5: apiKey, header Authorization (keychain file" in result.output
    assert "wrong-token-1" not in result.output
    assert "AccountValidationError" in result.output  # the Hall refused the file's key
