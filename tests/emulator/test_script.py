"""YAML script files: tokens, rules, default; mistakes name the file, line, path and what was expected."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from hallsim.emulator import GUIDE_REQUEST, HallEmulator, ScriptError, load_script

SCRIPT = """\
# deny RESTRICTED data, make one worker flaky
tokens: [ci-token, other]
default: allow
rules:
  - name: restricted
    match: {data_label: RESTRICTED}
    respond: deny:RESTRICTED data needs human approval
  - match:
      worker_id: "re:^wrk_flaky"
    respond: [http-503, allow]
"""


def write(tmp_path: Path, text: str, name: str = "hall.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_script_loads(tmp_path: Path) -> None:
    script = load_script(write(tmp_path, SCRIPT))
    assert script.tokens == ("ci-token", "other")
    assert script.default is not None
    assert script.default.spec == "allow"
    assert [r.name for r in script.rules] == ["restricted", None]
    assert script.rules[1].respond[0].spec == "http-503"


def test_an_emulator_started_with_a_script_follows_it_and_reset_keeps_it(tmp_path: Path) -> None:
    with HallEmulator(script=write(tmp_path, SCRIPT)) as hall, httpx.Client(base_url=hall.url) as client:
        assert hall.tokens == ("ci-token", "other")
        headers = {"Authorization": "Bearer ci-token"}
        denied = client.post(
            "/api/route", json={**GUIDE_REQUEST, "data_label": "RESTRICTED"}, headers=headers
        )
        assert denied.json()["reason"] == "RESTRICTED data needs human approval"
        hall.set_rules([])
        hall.reset()  # back to the configuration it was started with: the script's
        assert [r.name for r in hall.rules] == ["restricted", None]
        assert (
            client.post("/api/route", json=GUIDE_REQUEST, headers={"Authorization": "Bearer t"}).status_code
            == 403
        )


def test_load_script_on_a_running_emulator_replaces_rules_and_default(
    hall: HallEmulator, tmp_path: Path
) -> None:
    hall.set_rules([{"respond": "http-500"}])
    hall.load_script(write(tmp_path, "rules:\n  - respond: deny:from the script\n"))
    assert [r.respond[0].spec for r in hall.rules] == ["deny:from the script"]
    assert hall.default.spec == "allow"
    assert hall.tokens == ("t", "second-token")  # not in the script: kept


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (
            "rules:\n  - respond: allow\n  - respond: denyy\n",
            ":3:",
            r"rules\[1\]\.respond: unknown behaviour 'denyy'",
        ),
        (
            "rules:\n  - match:\n      data_lable: X\n    respond: allow\n",
            ":3:",
            r"rules\[0\]\.match: unknown field 'data_lable'",
        ),
        ("rules:\n  - respond: [allow, slow]\n", ":2:", r"rules\[0\]\.respond\[1\]: .*needs a delay"),
        (
            "rules:\n  - respond: allow\n    times: -1\n",
            ":3:",
            r"rules\[0\]\.times: expected a whole number >= 1",
        ),
        # a seed without probability has no draw to seed: refused rather than silently ignored
        (
            "rules:\n  - respond: allow\n  - name: flaky\n    respond: http-503\n    seed: 7\n",
            ":5:",
            r"rules\[1\]\.seed: seed only applies with probability .*got seed 7 without probability",
        ),
        ("default: nope\n", ":1:", "default: unknown behaviour 'nope'"),
        ("tokens: []\n", ":1:", "tokens: expected one or more tokens"),
        # the emulator refuses these too: the script says so with its file and line, not later without them
        (
            "tokens: [ci token]\n",
            ":1:",
            r"tokens: expected one or more tokens \(non-empty text without spaces\)",
        ),
        ("envs: [prod, '']\n", ":1:", "envs: expected one or more env names"),
        ("capability_ids: loose\n", ":1:", "capability_ids: expected guide .* or any .*; got 'loose'"),
        ("capability_ids: [any]\n", ":1:", "capability_ids: expected guide .* or any"),
        ("time_scale: fast\n", ":1:", "time_scale: expected a number > 0"),
        ("time_scale: 5000\n", ":1:", "time_scale: expected a number > 0 and <= 1000"),
        ("max_body: 0\n", ":1:", "max_body: expected a whole number of bytes >= 1"),
        ("\nrule:\n  - respond: allow\n", ":2:", "rule: unknown key; expected one of tokens, default"),
        ("rules: allow\n", ":1:", "rules: expected a list of rules"),
        ("rules:\n  - respond: allow\n   bad: [\n", ":", "not valid YAML"),
        ("", "", "expected a mapping with any of tokens"),
        ("- allow\n", "", "expected a mapping with any of tokens"),
    ],
)
def test_script_mistakes_name_file_line_path_and_expectation(
    tmp_path: Path, text: str, where: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScriptError, match=message) as caught:
        load_script(path)
    assert str(caught.value).startswith(f"{path}{where}")


def test_a_missing_script_file(tmp_path: Path) -> None:
    with pytest.raises(ScriptError, match="no such script file"):
        load_script(tmp_path / "absent.yaml")


def test_a_script_with_policy_behaviour_but_no_policy_section(hall: HallEmulator, tmp_path: Path) -> None:
    path = write(tmp_path, "default: policy\n")
    with pytest.raises(ScriptError, match=f"{path}: default: behaviour `policy` needs policy rules"):
        hall.load_script(path)


def test_a_script_sets_the_body_limit_and_reset_restores_the_start_up_one(
    hall: HallEmulator, tmp_path: Path
) -> None:
    hall.load_script(write(tmp_path, "max_body: 100\n"))
    with httpx.Client(base_url=hall.url, headers={"Authorization": "Bearer t"}) as client:
        assert client.post("/api/route", json=GUIDE_REQUEST | {"worker_id": "w" * 200}).status_code == 413
        hall.reset()
        assert client.post("/api/route", json=GUIDE_REQUEST | {"worker_id": "w" * 200}).status_code == 200


def test_a_script_sets_which_capability_ids_are_accepted_and_reset_restores_the_start_up_one(
    hall: HallEmulator, tmp_path: Path
) -> None:
    path = write(tmp_path, "capability_ids: any\n")
    assert load_script(path).capability_ids == "any"
    other = GUIDE_REQUEST | {"capability_id": "cap.doc.summarize"}
    hall.load_script(path)
    with httpx.Client(base_url=hall.url, headers={"Authorization": "Bearer t"}) as client:
        assert client.get("/__hall/health").json()["capability_ids"] == "any"
        assert client.post("/api/route", json=other).status_code == 200
        hall.reset()
        assert client.get("/__hall/health").json()["capability_ids"] == "guide"
        assert client.post("/api/route", json=other).status_code == 422


def test_a_mistake_carries_its_field_as_data_not_only_in_the_message(tmp_path: Path) -> None:
    # the file's line is found from the field the error names (ScriptError.field), never parsed back out of
    # its text: a message that happens to start with something path-shaped cannot move the line
    path = write(tmp_path, "rules:\n  - respond: allow\n  - match: {worker_id: 're:(a'}\n    respond: deny\n")
    with pytest.raises(ScriptError) as caught:
        load_script(path)
    assert caught.value.field == "rules[1].match.worker_id"
    assert str(caught.value).startswith(f"{path}:3: rules[1].match.worker_id: 're:(a'")
