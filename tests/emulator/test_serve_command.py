"""`hallsim serve` as a user runs it (a real subprocess on real uvicorn), and `hallsim behaviours`."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from hallsim.cli import cli
from hallsim.emulator import GUIDE_REQUEST, catalogue

pytestmark = pytest.mark.e2e


class Served:
    """A running `hallsim serve` subprocess; a thread reads its stdout lines (bounded waits, no hangs)."""

    def __init__(self, args: tuple[str, ...]) -> None:
        command = [sys.executable, "-m", "hallsim", "serve", "--port", "0", *args]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def read_line(self, limit: float = 15.0) -> str:
        try:
            return self.lines.get(timeout=limit)
        except queue.Empty:
            raise AssertionError("hallsim serve printed nothing more") from None

    def stop(self) -> tuple[int, str, str]:
        """Ctrl-C, as a user stops it; returns the exit code, the rest of stdout, and stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover - leave nothing behind
            self.process.kill()
            self.process.wait(5)
        self._reader.join(5)
        rest = []
        while not self.lines.empty():
            rest.append(self.lines.get())
        assert self.process.stderr is not None
        err = self.process.stderr.read()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return self.process.returncode, "".join(rest), err


@contextmanager
def serve(*args: str) -> Iterator[tuple[Served, str]]:
    """Run `hallsim serve --port 0 ARGS`; yield it and the URL it printed; stop it with Ctrl-C at the end."""
    served = Served(args)
    try:
        first = served.read_line()
        found = re.search(r"listening on (http://\S+)", first)
        assert found, f"unexpected first line: {first!r}"
        yield served, found.group(1)
    finally:
        if served.process.returncode is None:
            served.stop()


def test_serve_answers_the_guides_request_and_refuses_no_token() -> None:
    with serve("--token", "t") as (served, url):
        answer = httpx.post(f"{url}/api/route", json=GUIDE_REQUEST, headers={"Authorization": "Bearer t"})
        assert answer.status_code == 200
        assert {"decision_id", "denied", "selected_worker_species_id", "artifact_hash"} <= set(answer.json())
        assert httpx.post(f"{url}/api/route", json=GUIDE_REQUEST).status_code == 401
        journal = httpx.get(f"{url}/__hall/journal").json()["entries"]
        assert [e["response"]["status"] for e in journal] == [200, 401]
        assert journal[0]["headers"]["authorization"] == "Bearer ***"
        code, out, err = served.stop()
    assert code == 130  # Ctrl-C: 128 + SIGINT, as for every command (docs/pipedream.md "Signals")
    assert "accepted tokens: t (the built-in test token" in out
    assert "Hall emulator stopped." in out
    assert "Traceback" not in err


def test_serve_with_behaviour_timeout_makes_a_client_time_out() -> None:
    with serve("--behaviour", "timeout") as (served, url):
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(
                f"{url}/api/route", json=GUIDE_REQUEST, headers={"Authorization": "Bearer t"}, timeout=0.5
            )
        code, _, err = served.stop()
    assert code == 130
    assert "Traceback" not in err


def test_serve_with_behaviour_reset_resets_the_connection() -> None:
    with serve("--behaviour", "reset") as (_, url), pytest.raises(httpx.ReadError, match="reset"):
        httpx.post(f"{url}/api/route", json=GUIDE_REQUEST, headers={"Authorization": "Bearer t"})


def test_serve_with_a_script_that_denies_restricted_data(tmp_path: Path) -> None:
    script = tmp_path / "hall.yaml"
    script.write_text(
        "tokens: [ci]\nrules:\n  - match: {data_label: RESTRICTED}\n"
        "    respond: deny:RESTRICTED data needs human approval\n",
        encoding="utf-8",
    )
    with serve("--script", str(script), "--log") as (served, url):
        headers = {"Authorization": "Bearer ci"}
        restricted = {**GUIDE_REQUEST, "data_label": "RESTRICTED"}
        decision = httpx.post(f"{url}/api/route", json=restricted, headers=headers).json()
        assert (decision["denied"], decision["reason"]) == (True, "RESTRICTED data needs human approval")
        assert httpx.post(f"{url}/api/route", json=GUIDE_REQUEST, headers=headers).json()["denied"] is False
        # --log prints one line per request
        printed = [served.read_line() for _ in range(4)]  # three more start-up lines, then one per request
        assert "denied=True [deny:RESTRICTED data needs human approval rule 0]" in printed[3]
        _, out, _ = served.stop()
    assert "denied=False [allow]" in out


def test_serve_in_policy_mode(tmp_path: Path) -> None:
    pytest.importorskip("pyhall")
    rules = {
        "rules": [
            {
                "rule_id": "rr_internal_writes",
                "match": {"capability_id": "cap.data.write.v1", "data_label": "INTERNAL", "env": "prod"},
                "decision": {"candidate_workers_ranked": [{"worker_species_id": "wrk.data.writer"}]},
            }
        ]
    }
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(rules), encoding="utf-8")
    # a script with its own policy section: --policy wins, as every command-line option does
    (tmp_path / "other.json").write_text('{"rules": []}', encoding="utf-8")
    script = tmp_path / "hall.yaml"
    script.write_text("policy: {rules: other.json}\n", encoding="utf-8")
    with serve("--policy", str(policy), "--script", str(script)) as (_, url):
        headers = {"Authorization": "Bearer t"}
        allowed = httpx.post(f"{url}/api/route", json=GUIDE_REQUEST, headers=headers).json()
        assert (allowed["denied"], allowed["selected_worker_species_id"]) == (False, "wrk.data.writer")
        restricted = {**GUIDE_REQUEST, "data_label": "RESTRICTED"}
        denied = httpx.post(f"{url}/api/route", json=restricted, headers=headers).json()
        assert (denied["denied"], denied["reason"]) == (True, "DENY_NO_MATCHING_RULE")


def test_serve_capability_ids_and_env_options_win_over_the_script_and_are_shown(tmp_path: Path) -> None:
    script = tmp_path / "hall.yaml"
    script.write_text("capability_ids: guide\nenvs: [dev]\n", encoding="utf-8")
    args = ("--capability-ids", "any", "--env", "dev", "--env", "prod", "--env", "stage")
    with serve("--script", str(script), *args) as (served, url):
        start_up = [served.read_line() for _ in range(3)]
        assert any("capability ids: any" in line for line in start_up), start_up
        assert any("envs: dev, prod, stage " in line for line in start_up), start_up
        health = httpx.get(f"{url}/__hall/health").json()
        assert (health["capability_ids"], health["envs"]) == ("any", ["dev", "prod", "stage"])
        headers = {"Authorization": "Bearer t"}
        other = {**GUIDE_REQUEST, "capability_id": "cap.doc.summarize"}
        assert httpx.post(f"{url}/api/route", json=other, headers=headers).status_code == 200
        stage = httpx.post(f"{url}/api/route", json={**GUIDE_REQUEST, "env": "stage"}, headers=headers)
        assert stage.status_code == 200
        edge = httpx.post(f"{url}/api/route", json={**GUIDE_REQUEST, "env": "edge"}, headers=headers)
        assert edge.status_code == 422
        assert "dev, prod, stage" in edge.text


def test_serve_reports_a_bad_script_without_a_traceback(tmp_path: Path) -> None:
    script = tmp_path / "hall.yaml"
    script.write_text("rules:\n  - respond: denny\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "hallsim", "serve", "--port", "0", "--script", str(script)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert result.returncode == 2
    assert f"Error: {script}:2: rules[0].respond: unknown behaviour 'denny'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--behaviour", "flaky"], "Error: --behaviour: unknown behaviour 'flaky'"),
        (["--token", "ci token"], "Error: --token: tokens: expected one or more tokens"),
        # the same check and message as a script's `envs:`, naming the option
        (["--env", "prod", "--env", " "], r"Error: --env: envs: expected one or more env names \(non-empty"),
        (["--time-scale", "5000"], "Error: --time-scale: time_scale: expected a number > 0 and <= 1000"),
        (["--policy", "absent.json"], "Error: --policy: /.*/absent.json: no such policy rules file"),
        (["--capability-ids", "loose"], r"Error: .*'--capability-ids'.*'loose'.*'guide', 'any'"),
    ],
)
def test_serve_says_which_option_is_wrong(args: list[str], message: str) -> None:
    if args[0] == "--policy":
        pytest.importorskip("pyhall")
    result = CliRunner().invoke(cli, ["serve", "--port", "0", *args])
    assert result.exit_code == 2
    assert re.search(message, result.output), result.output


def test_behaviours_lists_each_with_one_line() -> None:
    result = CliRunner().invoke(cli, ["behaviours"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    for info in catalogue():
        assert any(line.startswith(info.usage) and info.summary in line for line in lines), info.name


def test_behaviours_as_json_and_the_matrix_list() -> None:
    listed = json.loads(CliRunner().invoke(cli, ["behaviours", "--json"]).output)
    assert [b["name"] for b in listed] == [info.name for info in catalogue()]
    matrix = CliRunner().invoke(cli, ["behaviours", "--matrix"]).output.splitlines()
    assert "reset" in matrix
    assert "slow:15" in matrix


def test_serve_masks_tokens_in_its_output_and_guards_the_admin_api() -> None:
    canary, admin = "canary-7f3a9c2e", "admin-canary-5d1e"
    with serve("--token", canary, "--admin-token", admin, "--log") as (served, url):
        printed = [served.read_line() for _ in range(3)]
        auth = {"Authorization": f"Bearer {canary}"}
        assert httpx.post(f"{url}/api/route?token={canary}", json=GUIDE_REQUEST, headers=auth).is_success
        assert httpx.get(f"{url}/__hall/journal").status_code == 401
        journal = httpx.get(f"{url}/__hall/journal", headers={"Authorization": f"Bearer {admin}"}).text
        code, out, err = served.stop()
    assert code == 130  # stopped with Ctrl-C: 128 + SIGINT (docs/pipedream.md "Signals")
    assert "accepted tokens: c***   (masked)" in printed[0]
    assert "token: a*** (masked" in printed[2]
    for shown in (*printed, out, err, journal):
        assert canary not in shown
        assert admin not in shown


def test_a_generated_admin_token_is_shown_masked_and_written_for_its_user_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hallsim.cli.commands.serve import _admin_token_line

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    token = "generated-admin-token-1f2e3d"
    line = _admin_token_line(token, True, 8765)
    path = tmp_path / "hallsim-admin-8765.token"
    assert line == f"g*** (generated, masked; the token is in {path}, readable only by you)"
    assert path.read_text(encoding="utf-8") == token + "\n"
    assert path.stat().st_mode & 0o777 == 0o600
    assert token not in line
    assert _admin_token_line(None, False, 8765).startswith("none (loopback only")
