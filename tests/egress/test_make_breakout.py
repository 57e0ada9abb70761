"""Make HTTP modules under the egress rule: the Hall for real, everything else answered by the stub service
(v3 and v4, loopback or third-party URL), recorded with the module that called it; the CLI's --stub and a
scenario's stubs: script the answers."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hallsim.cli import cli
from hallsim.emulator import HallEmulator
from hallsim.harness import HallEndpoint
from hallsim.harness.make import load_blueprint
from hallsim.harness.runner import run_scenario
from hallsim.harness.scenario import load_scenario
from hallsim.harness.stubs import parse_stubs

from .conftest import Canary

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
GATE = ROOT / "fixtures" / "make" / "gate_ignore.blueprint.json"
CRM = "https://crm.example.invalid/contacts"


def _post_module(module_id: int, url: str, *, v4: bool) -> dict[str, Any]:
    if v4:
        return {
            "id": module_id,
            "module": "http:MakeRequest",
            "version": 4,
            "parameters": {"authenticationType": "noAuth"},
            "mapper": {
                "url": url,
                "method": "post",
                "headers": [{"name": "Authorization", "value": "Bearer crm-secret-token"}],
                "contentType": "json",
                "parseResponse": True,
                "inputMethod": "jsonString",
                "jsonStringBodyContent": '{"worker": "{{1.worker_id}}"}',
            },
            "metadata": {"hallsim": {"protected": True}},
        }
    return {
        "id": module_id,
        "module": "http:ActionSendData",
        "version": 3,
        "parameters": {"handleErrors": True},
        "mapper": {
            "url": url,
            "method": "post",
            "headers": [{"name": "Authorization", "value": "Bearer crm-secret-token"}],
            "bodyType": "raw",
            "contentType": "application/json",
            "data": '{"worker": "{{1.worker_id}}"}',
            "parseResponse": True,
            "timeout": "10",
        },
        "metadata": {"hallsim": {"protected": True}},
    }


def write_blueprint(tmp_path: Path, url: str, *, v4: bool = False) -> Path:
    """The guide's gate (Ignore handler) whose protected action, on the Allowed route, POSTs to `url`."""
    blueprint = json.loads(GATE.read_text(encoding="utf-8"))
    allowed = blueprint["flow"][2]["routes"][0]["flow"]
    first = allowed[0]
    replacement = _post_module(first["id"], url, v4=v4)
    replacement["filter"] = copy.deepcopy(first.get("filter"))
    if replacement["filter"] is None:
        del replacement["filter"]
    allowed[0] = replacement
    path = tmp_path / f"gate_post{'_v4' if v4 else ''}.blueprint.json"
    path.write_text(json.dumps(blueprint), encoding="utf-8")
    return path


@pytest.mark.parametrize("v4", [False, True], ids=["v3", "v4"])
def test_a_module_aimed_at_another_loopback_port_reaches_the_stub_not_the_port(
    tmp_path: Path, hall: HallEmulator, canary: Canary, v4: bool
) -> None:
    for host, port in canary.addresses:
        path = write_blueprint(tmp_path, f"http://{host}:{port}/hit", v4=v4)
        stubs = parse_stubs(
            [{"match": {"path": "/hit"}, "respond": {"behaviour": "http-201", "json": {"id": 7}}}]
        )
        run = load_blueprint(path).run(
            HallEndpoint(hall.url, "t", hall), settings={"time_scale": 0.01}, stubs=stubs
        )
        [call] = run.stub_calls
        assert (call.method, call.url, call.status, call.unit) == (
            "POST",
            f"http://{host}:{port}/hit",
            201,
            "module 4",
        )
        assert call.headers["authorization"] == "Bearer c***"  # masked
        assert call.body == '{"worker": "wrk_make_acme_prod"}'
        assert run.protected_ran
        assert run.to_json()["modules"][3]["output"]["statusCode"] == 201
        # the typed record the judges read carries the stubbed calls and the walls
        assert run.record.stub_calls == run.stub_calls
        assert run.record.walls == {"guard": "httpx", "network_namespace": False}
    assert canary.received() == []


def test_unmatched_loopback_is_refused_and_refuse_fails_third_party_calls(
    tmp_path: Path, hall: HallEmulator, canary: Canary
) -> None:
    endpoint = HallEndpoint(hall.url, "t", hall)
    loopback = load_blueprint(write_blueprint(tmp_path, f"http://127.0.0.1:{canary.port}/hit")).run(
        endpoint, settings={"time_scale": 0.01}
    )
    [call] = loopback.stub_calls
    assert call.refused
    # the protected action is an HTTP call: it "ran" when it was attempted, answered or not
    assert loopback.protected_ran
    assert "hallsim refused" in json.dumps(loopback.to_json()["modules"][3]["error"])
    crm = load_blueprint(write_blueprint(tmp_path, CRM))
    assert crm.run(endpoint, settings={"time_scale": 0.01}).stub_calls[0].status == 200
    refused = crm.run(endpoint, settings={"time_scale": 0.01}, stubs=parse_stubs({"default": "refuse"}))
    assert refused.stub_calls[0].refused
    assert refused.protected_ran
    assert canary.received() == []


def test_replay_shows_the_stubbed_call_and_its_scripted_answer(tmp_path: Path) -> None:
    path = write_blueprint(tmp_path, CRM)
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "replay",
            str(path),
            "--hall",
            "allow",
            "--stub",
            'POST https://crm.example.invalid/* {"behaviour": "http-201", "json": {"id": 42}}',
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        f'[module 4] POST {CRM} {{"worker": "wrk_make_acme_prod"}} -> 201 {{"id": 42}} (rule 0)'
        in result.output
    )
    as_json = json.loads(
        runner.invoke(
            cli, ["replay", str(path), "--hall", "allow", "--stub-default", "refuse", "--json"]
        ).output
    )
    assert as_json["stub_calls"][0]["fault"] == "refused"
    assert as_json["stubs"]["default"] == "refuse"
    assert as_json["protected_ran"] is True
    bad = runner.invoke(
        cli, ["replay", str(path), "--hall", "allow", "--stub", "POST https://x.invalid/ allow"]
    )
    assert bad.exit_code == 2
    assert "is a Hall decision, not an answer a stub service gives" in bad.output


def test_a_scenario_scripts_the_stub_with_stubs(tmp_path: Path, hall: HallEmulator) -> None:
    write_blueprint(tmp_path, CRM)
    (tmp_path / "crm.scenario.yaml").write_text(
        "workflow: gate_post.blueprint.json\n"
        "hall: allow\n"
        "stubs:\n"
        "  rules:\n"
        "    - match: {method: POST, url: 'https://crm.example.invalid/*'}\n"
        "      respond: {behaviour: http-201, json: {id: 42}}\n"
        "expect:\n"
        "  status: success\n"
        "  protected_ran: true\n"
        "  modules:\n"
        "    '4': {output: {statusCode: 201, data: {id: 42}}}\n",
        encoding="utf-8",
    )
    result = run_scenario(load_scenario(tmp_path / "crm.scenario.yaml"), emulator=hall)
    assert result.passed, result
    (tmp_path / "bad.scenario.yaml").write_text(
        "workflow: gate_post.blueprint.json\nhall: allow\n"
        "stubs: [{match: {verb: POST}, respond: http-201}]\nexpect: {status: success}\n",
        encoding="utf-8",
    )
    with pytest.raises(Exception, match=r"bad.scenario.yaml:3: .*stubs\[0\].match: unknown field 'verb'"):
        load_scenario(tmp_path / "bad.scenario.yaml")
