"""A [tool.hallsim] table changes the defaults of every command; the command line wins; runs say where each
setting came from; `--help` says defaults may come from the table."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hallsim.cli import _COMMANDS, cli

ROOT = Path(__file__).resolve().parents[2]
GATE = ROOT / "fixtures" / "make" / "gate_break.blueprint.json"
SCENARIO = ROOT / "scenarios" / "make" / "gate_break.deny.scenario.yaml"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current directory, a repository root (the search for a project file stops there)."""
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(repo: Path, text: str, name: str = "pyproject.toml") -> Path:
    path = repo / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize("command", sorted(_COMMANDS))
def test_every_commands_help_says_defaults_may_come_from_the_table(repo: Path, command: str) -> None:
    write(repo, "[tool.hallsim]\ntoken = 'tok'\ntime_scale = 0.5\n")
    result = invoke(command, "--help")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "[tool.hallsim] table in pyproject.toml" in text
    assert "This project (pyproject.toml [tool.hallsim]) sets:" in text


def test_serve_help_shows_the_projects_values(repo: Path) -> None:
    write(repo, "[tool.hallsim]\ntoken = 'tok'\ntime_scale = 0.5\n[tool.hallsim.serve]\nport = 9999\n")
    text = " ".join(invoke("serve", "--help").output.split())
    assert "sets: --token tok; --time-scale 0.5; --port 9999." in text
    assert "default: 9999" in text  # Click shows the default it will use


def test_matrix_takes_workflows_set_values_and_format_from_the_table(repo: Path) -> None:
    shutil.copy(GATE, repo / "gate.blueprint.json")
    write(
        repo,
        """
        [tool.hallsim]
        workflows = ["*.blueprint.json"]
        format = "json"
        time_scale = 0.02

        [tool.hallsim.set]
        "make.filter.boolean_coercion" = "strict"

        [tool.hallsim.matrix]
        behaviour = ["deny"]
        """,
    )
    result = invoke("matrix")
    (data,) = json.loads(result.stdout)["workflows"]
    assert data["workflow"] == "gate.blueprint.json"
    assert data["time_scale"] == 0.02
    assert data["chosen_settings"] == {"make.filter.boolean_coercion": "strict"}
    assert [row["behaviour"] for row in data["rows"]] == ["deny"]
    # where each setting came from, on stderr (stdout stays JSON)
    assert "hallsim: project settings from pyproject.toml [tool.hallsim]" in result.stderr
    assert "--time-scale 0.02  (pyproject.toml:4 [tool.hallsim])" in result.stderr
    assert "--set make.filter.boolean_coercion=strict  (pyproject.toml:7 [tool.hallsim.set])" in result.stderr
    assert "--behaviour deny  (pyproject.toml:10 [tool.hallsim.matrix])" in result.stderr
    assert "--concurrency 4  (default)" in result.stderr


def test_the_command_line_wins_and_set_values_merge_name_by_name(repo: Path) -> None:
    write(
        repo,
        """
        [tool.hallsim]
        format = "json"
        time_scale = 0.02
        [tool.hallsim.set]
        "make.filter.boolean_coercion" = "strict"
        "make.variable_form" = "resolve"
        [tool.hallsim.matrix]
        behaviour = ["deny"]
        """,
    )
    result = invoke(
        "matrix", str(GATE), "--time-scale", "0.03", "--set", "make.filter.boolean_coercion=loose"
    )
    (data,) = json.loads(result.stdout)["workflows"]
    assert data["time_scale"] == 0.03
    assert data["chosen_settings"] == {
        "make.variable_form": "resolve",
        "make.filter.boolean_coercion": "loose",
    }
    assert "--time-scale 0.03  (command line)" in result.stderr
    assert "--set make.filter.boolean_coercion=loose  (command line)" in result.stderr
    assert "--set make.variable_form=resolve  (pyproject.toml:6 [tool.hallsim.set])" in result.stderr
    assert f"WORKFLOWS {GATE}  (command line)" in result.stderr


def test_replay_takes_the_token_and_the_time_scale_as_its_set(repo: Path) -> None:
    write(repo, "token = 'project-token'\ntime_scale = 0.02\nformat = 'json'\n", name="hallsim.toml")
    result = invoke("replay", str(GATE), "--hall", "deny")
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    assert run["settings"]["time_scale"] == 0.02
    # the emulator accepted the project's token: the gate was answered, not refused
    assert run["hall_requests"][0]["response"]["status"] == 200
    assert run["hall_requests"][0]["behaviour"] == "deny"
    assert "--token project-token  (hallsim.toml:1)" in result.stderr
    assert "--set time_scale=0.02  (hallsim.toml:2)" in result.stderr


def test_run_takes_its_scenarios_from_the_table(repo: Path) -> None:
    write(repo, f"[tool.hallsim]\nscenarios = ['{SCENARIO}']\nformat = 'json'\n")
    result = invoke("run")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert row["scenario"] == str(SCENARIO)
    assert row["status"] == "passed"


def test_behaviours_takes_its_flags_from_a_command_table(repo: Path) -> None:
    write(repo, "[tool.hallsim.behaviours]\nmatrix = true\n")
    listed = invoke("behaviours").stdout.split()
    assert "allow" in listed
    assert "http-500" in listed
    assert "--matrix (on)  (pyproject.toml:2 [tool.hallsim.behaviours])" in invoke("behaviours").stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[tool.hallsim]\ntime_scale = -1\n",
            "pyproject.toml:2: tool.hallsim.time_scale: expected a number above 0",
        ),
        ("[tool.hallsim.matrix]\nconcurrency = 99\n", "pyproject.toml:2: tool.hallsim.matrix.concurrency:"),
        ("[tool.hallsim.matrix]\nbehavior = ['deny']\n", "did you mean behaviour?"),
        ("[tool.hallsim.replay]\ntoken = ['a', 'b']\n", "expected one value for --token, got a list"),
    ],
)
def test_a_bad_table_is_exit_2_naming_file_line_and_key(repo: Path, text: str, message: str) -> None:
    write(repo, text)
    result = invoke("matrix", str(GATE), "--behaviour", "deny")
    if "replay" in text:
        result = invoke("replay", str(GATE), "--hall", "deny")
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_no_project_ignores_the_table(repo: Path) -> None:
    write(repo, "[tool.hallsim]\nformat = 'json'\n")
    result = invoke("--no-project", "matrix", str(GATE), "--behaviour", "deny", "--markdown")
    assert result.stdout.startswith("**1 of 1 gate")
    assert "project settings" not in result.stderr


def test_project_names_a_file_elsewhere(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere = tmp_path_factory.mktemp("other") / "hallsim.toml"
    elsewhere.write_text("[behaviours]\njson = true\n", encoding="utf-8")
    result = invoke("--project", str(elsewhere), "behaviours")
    assert isinstance(json.loads(result.stdout), list)


def test_without_a_project_file_nothing_is_printed_about_settings(repo: Path) -> None:
    result = invoke("behaviours")
    assert result.exit_code == 0
    assert result.stderr == ""


def test_shell_completion_completes_commands_and_options(repo: Path) -> None:
    """docs/settings.md: `eval "$(_HALLSIM_COMPLETE=bash_source hallsim)"`; Click answers the shell."""
    source = CliRunner().invoke(cli, [], prog_name="hallsim", env={"_HALLSIM_COMPLETE": "bash_source"})
    assert "_hallsim_completion()" in source.output
    env = {"_HALLSIM_COMPLETE": "bash_complete", "COMP_WORDS": "hallsim ma", "COMP_CWORD": "1"}
    assert CliRunner().invoke(cli, [], prog_name="hallsim", env=env).output.split() == ["plain,matrix"]
    env = {"_HALLSIM_COMPLETE": "bash_complete", "COMP_WORDS": "hallsim matrix --conc", "COMP_CWORD": "2"}
    assert CliRunner().invoke(cli, [], prog_name="hallsim", env=env).output.split() == ["plain,--concurrency"]
