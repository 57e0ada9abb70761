"""Policy mode: decisions by pyhall-wcp's make_decision from a rules file, in the guides' response shape."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from hallsim.emulator import (
    GUIDE_REQUEST,
    EmulatorError,
    HallEmulator,
    ScriptError,
    artifact_hash,
    load_script,
)
from hallsim.emulator.policy import load_policy

pytest.importorskip("pyhall")

#: pyhall rules format (pyhall/rules.py docstring): allow cap.data.write.v1 for PUBLIC and INTERNAL data
POLICY_RULES = {
    "rules": [
        {
            "rule_id": "rr_write_internal",
            "match": {
                "capability_id": "cap.data.write.v1",
                "data_label": {"in": ["PUBLIC", "INTERNAL"]},
                "env": {"in": ["dev", "prod"]},
            },
            "decision": {
                "candidate_workers_ranked": [{"worker_species_id": "wrk.data.writer", "score_hint": 1.0}],
                "required_controls_suggested": [],
                "escalation": {"policy_gate": False, "human_required_default": False},
                "preconditions": {},
            },
        }
    ]
}


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(POLICY_RULES), encoding="utf-8")
    return path


@pytest.fixture
def policy_hall(rules_file: Path) -> Any:
    with (
        HallEmulator(policy=rules_file, default="policy") as hall,
        httpx.Client(base_url=hall.url, headers={"Authorization": "Bearer t"}) as client,
    ):
        yield hall, client


def decide(client: httpx.Client, **changes: Any) -> dict[str, Any]:
    body = {**GUIDE_REQUEST, **changes}
    body = {k: v for k, v in body.items() if v is not ...}
    answer = client.post("/api/route", json=body)
    assert answer.status_code == 200
    decision: dict[str, Any] = answer.json()
    assert decision["artifact_hash"] == artifact_hash(body)
    return decision


def test_a_matching_rule_allows_with_the_rules_worker(policy_hall: Any) -> None:
    _, client = policy_hall
    decision = decide(client)
    assert decision["denied"] is False
    assert decision["selected_worker_species_id"] == "wrk.data.writer"
    assert "reason" not in decision


def test_no_matching_rule_is_denied_with_pyhalls_code(policy_hall: Any) -> None:
    hall, client = policy_hall
    decision = decide(client, data_label="RESTRICTED")
    assert (decision["denied"], decision["reason"]) == (True, "DENY_NO_MATCHING_RULE")
    assert decision["selected_worker_species_id"] is None
    assert hall.journal()[-1].to_dict()["behaviour"] == "policy"


def test_confidential_is_treated_as_restricted(policy_hall: Any) -> None:
    _, client = policy_hall
    assert decide(client, data_label="CONFIDENTIAL")["reason"] == "DENY_NO_MATCHING_RULE"


def test_an_absent_data_label_defaults_to_internal(policy_hall: Any) -> None:
    _, client = policy_hall
    assert decide(client, data_label=...)["denied"] is False


def test_an_absent_tenant_is_denied_as_pyhall_does(policy_hall: Any) -> None:
    _, client = policy_hall
    assert decide(client, tenant_id=...)["reason"] == "DENY_MISSING_TENANT_ID"


def test_settings_from_a_script(tmp_path: Path, rules_file: Path) -> None:
    script = tmp_path / "hall.yaml"
    script.write_text(
        "default: policy\n"
        "policy:\n"
        f"  rules: {rules_file.name}\n"
        "  default_tenant_id: org.default\n"
        "  confidential_as: INTERNAL\n"
        "  allowed_tenants: [org.acme, org.default]\n",
        encoding="utf-8",
    )
    with (
        HallEmulator(script=script) as hall,
        httpx.Client(base_url=hall.url, headers={"Authorization": "Bearer t"}) as client,
    ):
        assert decide(client, tenant_id=...)["denied"] is False  # org.default
        assert decide(client, data_label="CONFIDENTIAL")["denied"] is False  # as INTERNAL
        assert decide(client, tenant_id="org.stranger")["reason"] == "DENY_UNKNOWN_TENANT"
        health = client.get("/__hall/health").json()
        assert health["policy"]["confidential_as"] == "INTERNAL"


def test_rules_can_send_some_requests_to_the_policy(rules_file: Path) -> None:
    with (
        HallEmulator(
            policy=rules_file, rules=[{"match": {"worker_id": "wrk_policy"}, "respond": "policy"}]
        ) as hall,
        httpx.Client(base_url=hall.url, headers={"Authorization": "Bearer t"}) as client,
    ):
        assert decide(client, data_label="RESTRICTED")["denied"] is False  # default allow
        assert decide(client, data_label="RESTRICTED", worker_id="wrk_policy")["denied"] is True


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not valid JSON"),
        ('{"rules": {}}', 'a mapping with a "rules" list'),
        ('{"rules": [{"match": {}}]}', r"rules\[0\]: expected a mapping with rule_id"),
    ],
)
def test_bad_policy_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "policy.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ScriptError, match=message):
        load_policy(path)


def test_bad_policy_section_in_a_script(tmp_path: Path, rules_file: Path) -> None:
    script = tmp_path / "hall.yaml"
    script.write_text(f"policy:\n  rules: {rules_file.name}\n  qos_class: P9\n", encoding="utf-8")
    with pytest.raises(ScriptError, match=r"hall.yaml:3: policy.qos_class: expected one of P0, P1, P2, P3"):
        load_script(script)


def test_a_clear_error_without_pyhall(rules_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyhall", None)  # import pyhall now raises ImportError
    with pytest.raises(EmulatorError, match=r"pip install 'hallsim\[policy\]'"):
        load_policy(rules_file)
