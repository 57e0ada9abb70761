"""The `POST /api/route` contract (hall-contract.md "Request", "Response (200, JSON)"), driven in-process."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pytest

from hallsim.emulator import GUIDE_REQUEST, artifact_hash
from hallsim.emulator.app import HallApp
from hallsim.emulator.contract import validate_route_request


def body(**changes: Any) -> dict[str, Any]:
    """The guide's request with some fields changed; `...` removes a field."""
    out: dict[str, Any] = dict(GUIDE_REQUEST)
    for key, value in changes.items():
        if value is ...:
            out.pop(key)
        else:
            out[key] = value
    return out


def recompute(sent: dict[str, Any]) -> str:
    # the documented recipe (pyhall-wcp 0.2.2 router.py, Step 9): json.dumps default separators, sorted keys
    return hashlib.sha256(json.dumps(sent, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def test_the_guides_request_gets_a_decision_with_the_five_fields(client: Any) -> None:
    answer = client.post("/api/route", json=GUIDE_REQUEST)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    decision = answer.json()
    # hall-contract.md "Response (200, JSON)"; reason only when denied (Make guide)
    assert set(decision) == {"decision_id", "denied", "selected_worker_species_id", "artifact_hash"}
    assert uuid.UUID(decision["decision_id"]).version == 4
    assert decision["denied"] is False
    assert decision["selected_worker_species_id"] == "wrk.data.write"
    assert decision["artifact_hash"] == recompute(GUIDE_REQUEST)


def test_each_decision_gets_its_own_id(client: Any) -> None:
    ids = {client.post("/api/route", json=GUIDE_REQUEST).json()["decision_id"] for _ in range(5)}
    assert len(ids) == 5


def test_a_denial_carries_a_reason_and_no_species(app: HallApp, client: Any) -> None:
    app.set_default("deny:RESTRICTED data needs approval")
    decision = client.post("/api/route", json=GUIDE_REQUEST).json()
    assert decision["denied"] is True
    assert decision["reason"] == "RESTRICTED data needs approval"
    assert decision["selected_worker_species_id"] is None


@pytest.mark.parametrize(
    "sent",
    [
        GUIDE_REQUEST,
        body(data_label=..., tenant_id=...),
        body(extra_field={"nested": [1, 2]}, worker_id="wrk_é_ünïcode"),
    ],
    ids=["guide", "required-only", "extra-and-unicode"],
)
def test_artifact_hash_is_the_documented_recipe_over_the_body_as_sent(client: Any, sent: dict) -> None:
    decision = client.post("/api/route", json=sent).json()
    assert decision["artifact_hash"] == recompute(sent) == artifact_hash(sent)
    # the default separators matter: a compact serialisation gives another hash
    compact = json.dumps(sent, sort_keys=True, separators=(",", ":")).encode()
    assert decision["artifact_hash"] != hashlib.sha256(compact).hexdigest()


def test_optional_fields_may_be_null(client: Any) -> None:
    assert client.post("/api/route", json=body(data_label=None, tenant_id=None)).status_code == 200


@pytest.mark.parametrize("label", ["PUBLIC", "INTERNAL", "CONFIDENTIAL", "RESTRICTED"])
def test_every_documented_data_label_is_accepted(client: Any, label: str) -> None:
    assert client.post("/api/route", json=body(data_label=label)).status_code == 200


# --- auth: hall-contract.md "Request": Authorization: Bearer <HALL_SESSION_TOKEN> ---


def test_no_token_is_401_saying_so(client: Any) -> None:
    client.headers.pop("Authorization")
    answer = client.post("/api/route", json=GUIDE_REQUEST)
    assert answer.status_code == 401
    assert answer.json()["error"] == "missing_token"
    assert answer.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("value", ["t", "Basic dDp0", "Bearer", "Bearer   "])
def test_a_malformed_authorization_header_is_401(client: Any, value: str) -> None:
    answer = client.post("/api/route", json=GUIDE_REQUEST, headers={"Authorization": value})
    assert answer.status_code == 401
    assert answer.json()["error"] == "malformed_authorization"


@pytest.mark.parametrize("token", ["wrong", "undefined", "T"])
def test_an_unknown_token_is_403_saying_so(client: Any, token: str) -> None:
    # "undefined": what the Pipedream component sends when HALL_SESSION_TOKEN is unset (it does not check)
    answer = client.post("/api/route", json=GUIDE_REQUEST, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 403
    assert answer.json()["error"] == "unknown_token"


def test_auth_is_checked_before_the_body(client: Any) -> None:
    answer = client.post("/api/route", content=b"not json", headers={"Authorization": "Bearer wrong"})
    assert answer.status_code == 403


def test_every_accepted_token_works_and_tokens_can_change(app: HallApp, client: Any) -> None:
    app.set_tokens(["a", "b"])
    for token, status in (("a", 200), ("b", 200), ("t", 403)):
        answer = client.post("/api/route", json=GUIDE_REQUEST, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == status


# --- validation --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"not json", b"{", b"", b"\xff\xfe"])
def test_a_body_that_is_not_json_is_400(client: Any, raw: bytes) -> None:
    answer = client.post("/api/route", content=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_json"


@pytest.mark.parametrize(
    ("sent", "field", "expected"),
    [
        (body(capability_id=...), "capability_id", "cap.<area>.<verb>.v<N>"),
        (body(worker_id=...), "worker_id", "registered worker id"),
        (body(env=...), "env", "one of dev, prod"),
        (body(capability_id="cap.data.write"), "capability_id", "cap.<area>.<verb>.v<N>"),
        (body(capability_id="CAP.DATA.WRITE.V1"), "capability_id", "cap.<area>.<verb>.v<N>"),
        (body(capability_id=7), "capability_id", "cap.<area>.<verb>.v<N>"),
        (body(worker_id=""), "worker_id", "non-empty string"),
        (body(worker_id=["wrk"]), "worker_id", "non-empty string"),
        (body(env="staging"), "env", "one of dev, prod"),
        (body(env="stage"), "env", "one of dev, prod"),
        (body(data_label="SECRET"), "data_label", "PUBLIC, INTERNAL, CONFIDENTIAL, RESTRICTED"),
        (body(data_label="internal"), "data_label", "PUBLIC, INTERNAL, CONFIDENTIAL, RESTRICTED"),
        # Make sends "" for an unmapped {{1.data_label}}: not a documented value
        (body(data_label=""), "data_label", "PUBLIC, INTERNAL, CONFIDENTIAL, RESTRICTED"),
        (body(tenant_id=""), "tenant_id", "org namespace"),
        (body(tenant_id=42), "tenant_id", "org namespace"),
    ],
)
def test_each_bad_field_is_422_naming_it_and_what_was_expected(
    client: Any, sent: dict, field: str, expected: str
) -> None:
    answer = client.post("/api/route", json=sent)
    assert answer.status_code == 422
    payload = answer.json()
    assert payload["error"] == "invalid_request"
    assert [p["field"] for p in payload["problems"]] == [field]
    assert expected in payload["problems"][0]["expected"]
    assert field in payload["detail"]


def test_422_lists_every_bad_field_at_once(client: Any) -> None:
    sent = {"capability_id": "nope", "env": "qa", "data_label": "TOP", "tenant_id": ""}
    problems = client.post("/api/route", json=sent).json()["problems"]
    assert {p["field"] for p in problems} == {"capability_id", "worker_id", "env", "data_label", "tenant_id"}
    missing = next(p for p in problems if p["field"] == "worker_id")
    assert missing["problem"] == "missing"
    assert next(p for p in problems if p["field"] == "env")["got"] == "qa"


@pytest.mark.parametrize("sent", [[GUIDE_REQUEST], "text", 3, None])
def test_json_that_is_not_an_object_is_422(client: Any, sent: Any) -> None:
    answer = client.post("/api/route", content=json.dumps(sent).encode())
    assert answer.status_code == 422
    assert answer.json()["problems"][0]["field"] == "(body)"


def test_the_accepted_envs_are_a_setting(make_client: Any) -> None:
    # pyhall knows stage and edge; the guides document dev and prod only (contract.GUIDE_ENVS)
    assert validate_route_request(body(env="stage"), ("dev", "stage", "prod", "edge")) == []
    with make_client(HallApp(envs=("dev", "stage", "prod", "edge"))) as wide:
        answer = wide.post("/api/route", json=body(env="edge"))
        assert answer.status_code == 200


# hall-contract.md "Request" documents `cap.<area>.<verb>.v<N>`; pyhall-wcp 0.2.2 models.py RouteInput takes
# any string (its example: cap.doc.summarize). Which one the Hall Server enforces is UNCONFIRMED: a setting.
@pytest.mark.parametrize(
    ("setting", "capability_id", "accepted"),
    [
        ("guide", "cap.data.write.v1", True),
        ("guide", "cap.doc.summarize", False),
        ("guide", "cap.data.write", False),
        ("guide", "", False),
        ("any", "cap.doc.summarize", True),
        ("any", "cap.data.write.v1", True),
        ("any", "summarize", True),
        ("any", "", False),
        ("any", "   ", False),
        ("any", 7, False),
        ("any", ["cap.doc.summarize"], False),
        ("any", None, False),  # null: missing, the field is required
    ],
)
def test_which_capability_ids_are_accepted_is_a_setting(
    make_client: Any, setting: str, capability_id: Any, accepted: bool
) -> None:
    with make_client(HallApp(capability_ids=setting)) as hall:
        answer = hall.post("/api/route", json=body(capability_id=capability_id))
    assert answer.status_code == (200 if accepted else 422)
    if not accepted:
        assert [p["field"] for p in answer.json()["problems"]] == ["capability_id"]


def test_a_guide_refusal_says_which_setting_would_accept_the_id(client: Any) -> None:
    answer = client.post("/api/route", json=body(capability_id="cap.doc.summarize"))
    assert answer.status_code == 422
    assert "set capability_ids: any" in answer.json()["detail"]
    assert "--capability-ids any" in answer.json()["problems"][0]["hint"]
    # no hint where `any` would refuse it too
    for bad in (7, ""):
        refused = client.post("/api/route", json=body(capability_id=bad)).json()
        assert "hint" not in refused["problems"][0]
        assert "capability_ids" not in refused["detail"]


def test_under_any_an_id_of_another_shape_gets_a_decision(make_client: Any) -> None:
    with make_client(HallApp(capability_ids="any")) as hall:
        decision = hall.post("/api/route", json=body(capability_id="cap.doc.summarize")).json()
    assert (decision["denied"], decision["selected_worker_species_id"]) == (False, "wrk.doc.summarize")


def test_the_capability_ids_setting_changes_and_reset_restores_it(app: HallApp, client: Any) -> None:
    other = body(capability_id="cap.doc.summarize")
    app.capability_ids = "any"
    assert client.post("/api/route", json=other).status_code == 200
    app.reset()
    assert app.capability_ids == "guide"
    assert client.post("/api/route", json=other).status_code == 422


def test_an_oversized_body_is_413(make_client: Any) -> None:
    with make_client(HallApp(max_body=200)) as small:
        assert small.post("/api/route", json=GUIDE_REQUEST).status_code == 200
        answer = small.post("/api/route", json=body(worker_id="w" * 300))
        assert answer.status_code == 413
        assert "at most 200 bytes" in answer.json()["detail"]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_are_405(client: Any, method: str) -> None:
    answer = client.request(method, "/api/route")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"


def test_an_unknown_path_is_404_pointing_at_the_route(client: Any) -> None:
    answer = client.post("/route", json=GUIDE_REQUEST)
    assert answer.status_code == 404
    assert "POST /api/route" in answer.json()["detail"]


def test_openapi_describes_the_route(client: Any) -> None:
    document = client.get("/openapi.json").json()
    operation = document["paths"]["/api/route"]["post"]
    assert set(operation["responses"]) == {"200", "400", "401", "403", "405", "413", "422", "431", "500"}
    assert "/__hall/rules" in document["paths"]  # the admin API is described too
    schemas = document["components"]["schemas"]
    assert schemas["RouteRequest"]["required"] == ["capability_id", "worker_id", "env"]
    assert schemas["RouteRequest"]["properties"]["data_label"]["enum"][:4] == [
        "PUBLIC",
        "INTERNAL",
        "CONFIDENTIAL",
        "RESTRICTED",
    ]
    assert "sort_keys=True" in schemas["Decision"]["properties"]["artifact_hash"]["description"]
    assert "pattern" in schemas["RouteRequest"]["properties"]["capability_id"]


def test_openapi_follows_the_capability_ids_setting(make_client: Any) -> None:
    with make_client(HallApp(capability_ids="any")) as hall:
        described = hall.get("/openapi.json").json()["components"]["schemas"]["RouteRequest"]
    capability = described["properties"]["capability_id"]
    assert "pattern" not in capability
    assert capability["minLength"] == 1
