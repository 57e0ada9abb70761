"""Project settings: finding and reading [tool.hallsim] / hallsim.toml, errors with file:line, precedence."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from hallsim.harness import InputError
from hallsim.harness.project import OptionSpec, defaults_for, find_project, key_lines, load_project

ROOT = Path(__file__).resolve().parents[2]
GATE = ROOT / "fixtures" / "make" / "gate_break.blueprint.json"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A folder that is a repository root, so the search never climbs out of the test's folder."""
    (tmp_path / ".git").mkdir()
    return tmp_path


def test_found_from_a_subfolder_upward(repo: Path) -> None:
    project = write(repo / "pyproject.toml", "[tool.hallsim]\ntoken = 'x'\n")
    deep = repo / "a" / "b"
    deep.mkdir(parents=True)
    assert find_project(deep) == project


def test_a_pyproject_without_the_table_is_passed_over(repo: Path) -> None:
    outer = write(repo / "hallsim.toml", "token = 'x'\n")
    write(repo / "sub" / "pyproject.toml", "[project]\nname = 'x'\n")
    assert find_project(repo / "sub") == outer


def test_hallsim_toml_wins_over_pyproject_in_the_same_folder(repo: Path) -> None:
    write(repo / "pyproject.toml", "[tool.hallsim]\ntoken = 'x'\n")
    own = write(repo / "hallsim.toml", "token = 'y'\n")
    assert find_project(repo) == own
    assert load_project(own).shared["token"].value == "y"


def test_the_search_stops_at_the_repository_root(tmp_path: Path) -> None:
    write(tmp_path / "hallsim.toml", "token = 'above the checkout'\n")
    checkout = tmp_path / "checkout"
    (checkout / ".git").mkdir(parents=True)
    assert find_project(checkout) is None


def test_values_keep_their_line_and_table(repo: Path) -> None:
    path = write(
        repo / "pyproject.toml",
        """
        [project]
        name = "x"

        [tool.hallsim]
        token = "t2"
        time_scale = 0.05

        [tool.hallsim.set]
        filter_kind = "registry"
        "make.http.default_timeout" = 40
        check_prop_options = true

        [tool.hallsim.matrix]
        concurrency = 2
        """,
    )
    project = load_project(path)
    assert project.shared["time_scale"].line == 6
    assert project.shared["time_scale"].origin.endswith("pyproject.toml:6 [tool.hallsim]")
    assert project.set_values["filter_kind"].line == 9
    assert project.set_values["filter_kind"].table == "tool.hallsim.set"
    # --set takes text: numbers and booleans are written as the command line would give them
    assert project.set_values["make.http.default_timeout"].value == "40"
    assert project.set_values["check_prop_options"].value == "true"
    assert project.commands["matrix"]["concurrency"].line == 14


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("time_scale = 0\n", "pyproject.toml:2: tool.hallsim.time_scale: expected a number above 0, got 0"),
        ("time_scale = 'fast'\n", "pyproject.toml:2: tool.hallsim.time_scale: expected a number"),
        (
            "tokne = 't'\n",
            "pyproject.toml:2: tool.hallsim.tokne: not a setting hallsim knows; did you mean token?",
        ),
        ("format = 'html'\n", 'pyproject.toml:2: tool.hallsim.format: expected "text", "json" or "markdown"'),
        ("token = = 't'\nx = 1\n", "pyproject.toml:2: not valid TOML: Invalid value"),
        ("token = 't\n", "pyproject.toml:2: not valid TOML"),
        ("[tool.hallsim.set]\nfilter_kind = ['a']\n", "pyproject.toml:3: tool.hallsim.set.filter_kind:"),
        (
            "workflows = ['nothing/*.yaml']\n",
            "pyproject.toml:2: tool.hallsim.workflows: 'nothing/*.yaml' matches no file",
        ),
    ],
)
def test_bad_values_name_file_line_key_and_expected(repo: Path, body: str, message: str) -> None:
    path = write(repo / "pyproject.toml", "[tool.hallsim]\n" + body)
    with pytest.raises(InputError) as caught:
        load_project(path)
    assert str(caught.value).startswith(str(path.parent) + "/")
    assert message in str(caught.value)


def test_paths_are_relative_to_the_project_file(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "flows").mkdir()
    write(repo / "flows" / "b.yaml", "steps: []\n")
    write(repo / "flows" / "a.yaml", "steps: []\n")
    path = write(repo / "hallsim.toml", "workflows = ['flows/*.yaml']\nhtml = 'out/report.html'\n")
    monkeypatch.chdir(repo / "flows")
    project = load_project(path)
    # shown relative to where the command runs, in sorted order
    assert project.shared["workflows"].value == ["a.yaml", "b.yaml"]
    assert project.shared["html"].value == str(Path("..") / "out" / "report.html") or project.shared[
        "html"
    ].value.endswith("out/report.html")


MATRIX = [
    OptionSpec("workflows", (), multiple=True),
    OptionSpec("settings", ("--set",), multiple=True),
    OptionSpec("time_scale", ("--time-scale",)),
    OptionSpec("concurrency", ("--concurrency",)),
    OptionSpec("as_json", ("--json",), is_flag=True),
    OptionSpec("markdown", ("--markdown",), is_flag=True),
]
REPLAY = [
    OptionSpec("token", ("--token",)),
    OptionSpec("settings", ("--set",), multiple=True),
    OptionSpec("as_json", ("--json",), is_flag=True),
]
SERVE = [OptionSpec("tokens", ("--token",), multiple=True), OptionSpec("time_scale", ("--time-scale",))]


def test_shared_keys_feed_each_command_its_own_option(repo: Path) -> None:
    path = write(
        repo / "hallsim.toml",
        """
        token = "t2"
        time_scale = 0.05
        format = "json"
        [set]
        filter_kind = "registry"
        """,
    )
    project = load_project(path)
    serve = defaults_for(project, "serve", SERVE)
    assert serve.values["tokens"].value == ["t2"]  # serve's --token is repeatable
    assert serve.values["time_scale"].value == 0.05
    assert serve.set_param is None
    assert not serve.set_values
    replay = defaults_for(project, "replay", REPLAY)
    assert replay.values["token"].value == "t2"
    assert replay.values["as_json"].value is True
    # replay has no --time-scale: the time scale is its --set time_scale
    assert {k: s.value for k, s in replay.set_values.items()} == {
        "filter_kind": "registry",
        "time_scale": "0.05",
    }
    matrix = defaults_for(project, "matrix", MATRIX)
    assert matrix.values["time_scale"].value == 0.05
    assert "time_scale" not in matrix.set_values


def test_a_command_table_wins_over_shared_keys(repo: Path) -> None:
    path = write(
        repo / "hallsim.toml",
        """
        time_scale = 0.05
        format = "json"
        [set]
        filter_kind = "registry"
        [matrix]
        time-scale = 0.1
        markdown = true
        as_json = false
        set = {filter_kind = "rule_builder", action_env = "workflow"}
        """,
    )
    matrix = defaults_for(load_project(path), "matrix", MATRIX)
    assert matrix.values["time_scale"].value == 0.1
    assert matrix.values["time_scale"].table == "matrix"
    assert matrix.values["markdown"].value is True
    assert matrix.values["as_json"].value is False
    assert {k: s.value for k, s in matrix.set_values.items()} == {
        "filter_kind": "rule_builder",
        "action_env": "workflow",
    }


def test_an_unknown_option_in_a_command_table_names_its_line(repo: Path) -> None:
    path = write(repo / "hallsim.toml", "[matrix]\nconcurency = 2\n")
    with pytest.raises(InputError) as caught:
        defaults_for(load_project(path), "matrix", MATRIX)
    assert (
        f"{path}:2: matrix.concurency: `hallsim matrix` has no such option; did you mean concurrency?"
        in str(caught.value)
    )


def test_key_lines_reads_tables_dotted_and_quoted_keys() -> None:
    text = textwrap.dedent(
        """
        [tool.hallsim]
        a = 1
        b.c = '''
        x = 1
        '''
        "d.e" = 2
        [tool . "hallsim" . matrix]
        f = 3
        """
    )
    lines = key_lines(text)
    assert lines[("tool", "hallsim")] == 2
    assert lines[("tool", "hallsim", "a")] == 3
    assert lines[("tool", "hallsim", "b", "c")] == 4
    assert ("tool", "hallsim", "x") not in lines  # inside a multi-line string
    assert lines[("tool", "hallsim", "d.e")] == 7
    assert lines[("tool", "hallsim", "matrix", "f")] == 9
