"""Errors in the user's code point at the user's code: a syntax error or an uncaught error names the step's
file, line and column as `node --check` and Node's own reports do, and shows the offending line; hallsim's own
stack frames are hidden unless show_internal_frames=true. And importing the step's own local modules leaves
no false "work left running" warning."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from hallsim.cli import cli

from .conftest import body, code_step


def _file_step(tmp_path: Path, name: str, text: str) -> dict[str, str]:
    (tmp_path / f"{name}.mjs").write_text(text, encoding="utf-8")
    return {"name": name, "code": f"{name}.mjs"}


SYNTAX = "export default defineComponent({\n  async run({ steps, $ }) {\n    const x = {;\n  },\n});\n"
THROWS = (
    "export default defineComponent({\n  async run({ steps, $ }) {\n"
    "    const x = null;\n    return x.denied;\n  },\n});\n"
)


def test_a_syntax_error_names_the_file_line_and_column_and_shows_the_line(
    tmp_path, write_workflow, run_workflow
):
    run = run_workflow(write_workflow(_file_step(tmp_path, "broken", SYNTAX)))
    error = run.step("broken").error
    assert error["name"] == "SyntaxError"
    assert error["location"] == {
        "file": str(tmp_path / "broken.mjs"),
        "line": 3,
        "column": 16,
        "code": "    const x = {;",
    }
    trace = run.render()
    assert f"at {tmp_path / 'broken.mjs'}:3:16" in trace or "broken.mjs:3:16" in trace
    assert "|     const x = {;\n" in trace
    assert "|                ^" in trace
    assert "modules.mjs" not in trace
    assert "runtime.mjs" not in trace


def test_a_syntax_error_in_inline_code_points_into_the_workflow_file(tmp_path, run_workflow):
    path = tmp_path / "inline.yaml"
    path.write_text(
        "steps:\n  - name: bad\n    source: |\n"
        "      export default defineComponent({\n        async run() {\n"
        "          return 1 +;\n        },\n      });\n",
        encoding="utf-8",
    )
    location = run_workflow(path).step("bad").error["location"]
    assert (location["file"], location["line"]) == (str(path), 6)
    assert location["code"] == "          return 1 +;"


def test_an_uncaught_error_names_the_users_line_and_hides_hallsims_frames(
    tmp_path, write_workflow, run_workflow
):
    run = run_workflow(write_workflow(_file_step(tmp_path, "throws", THROWS)))
    error = run.step("throws").error
    assert error["name"] == "TypeError"
    assert error["location"] == {
        "file": str(tmp_path / "throws.mjs"),
        "line": 4,
        "column": 14,
        "code": "    return x.denied;",
    }
    trace = run.render()
    assert "runtime.mjs" not in trace
    assert "worker.mjs" not in trace
    shown = run_workflow(
        write_workflow(_file_step(tmp_path, "throws", THROWS)), show_internal_frames=True
    ).render()
    assert "runtime.mjs" in shown


def test_replay_of_a_broken_step_shows_where_without_a_traceback(tmp_path):
    step = tmp_path / "broken.mjs"
    step.write_text(SYNTAX, encoding="utf-8")
    result = CliRunner().invoke(cli, ["replay", str(step), "--hall", "allow"])
    assert "SyntaxError: Unexpected token ';'" in result.output
    assert "broken.mjs:3:16" in result.output
    assert "Traceback" not in result.output


def test_an_action_importing_its_own_local_modules_leaves_no_work_running_warning(
    tmp_path, write_workflow, run_workflow
):
    (tmp_path / "helpers.mjs").write_text("export const twice = (x) => x * 2;\n", encoding="utf-8")
    (tmp_path / "more.mjs").write_text(
        "import { twice } from './helpers.mjs';\nexport const four = twice(2);\n"
    )
    action = (
        "import { four } from './more.mjs';\nimport { twice } from './helpers.mjs';\n"
        "export default { type: 'action', key: 'x', version: '0.0.1', props: {},\n"
        "  async run({ $ }) { $.export('four', four); return twice(3); } };\n"
    )
    (tmp_path / "local.mjs").write_text(action, encoding="utf-8")
    for _ in range(3):
        run = run_workflow(
            write_workflow({"name": "local", "action": "local.mjs"}, code_step("after", body("")))
        )
        assert run.step("local").exports == {"four": 4}
        assert not [w for w in run.warnings if "work left running" in w], run.warnings
