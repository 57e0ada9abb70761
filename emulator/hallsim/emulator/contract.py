"""The `POST /api/route` contract: the fields a gate sends, their values, and the decision it gets back.

Source: ../shared/reference/hall-contract.md "Request" and "Response (200, JSON)", and the two integration
guides (Pipedream 000_..., Make 003_...). Validation works on a plain dict (no pydantic): the hot path."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hallsim.emulator._ids import new_decision_id as new_decision_id  # public here: contract.new_decision_id

ROUTE_PATH = "/api/route"

#: hall-contract.md "Request": the five fields of the guides' payload
REQUEST_FIELDS = ("capability_id", "worker_id", "env", "data_label", "tenant_id")
REQUIRED_FIELDS = ("capability_id", "worker_id", "env")

#: the guides document `env` as "dev or prod". pyhall's RouteInput also knows stage and edge; whether a real
#: Hall Server accepts them is not documented, so the accepted set is a setting (HallEmulator(envs=...),
#: script `envs:`, `hallsim serve --env`), shown by /__hall/health
GUIDE_ENVS = ("dev", "prod")

#: both guides list CONFIDENTIAL (pyhall's RouteInput lacks it; policy.py says what policy mode does with it)
DATA_LABELS = ("PUBLIC", "INTERNAL", "CONFIDENTIAL", "RESTRICTED")

#: hall-contract.md "Request" (values in the guides): capability ids look like `cap.<area>.<verb>.v<N>`, e.g.
#: cap.data.write.v1
CAPABILITY_PATTERN = re.compile(r"cap\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.v[0-9]+")
CAPABILITY_EXPECTED = "a capability id `cap.<area>.<verb>.v<N>` (lowercase), e.g. cap.data.write.v1"


@dataclass(frozen=True)
class CapabilityIds:
    """Which `capability_id` values a request may carry: one value of the `capability_ids` setting."""

    name: str
    accepts: Callable[[Any], object]
    expected: str
    #: said after a refused string id, when another value of the setting would take it
    hint: str | None = None


def _guide_id(value: Any) -> object:
    return isinstance(value, str) and CAPABILITY_PATTERN.fullmatch(value)


def _any_id(value: Any) -> object:
    return isinstance(value, str) and value.strip()


#: UNCONFIRMED (hall-contract.md "Request"): the guides only show `cap.<area>.<verb>.v<N>` ids, but pyhall-wcp
#: 0.2.2 models.py `RouteInput.capability_id: str` takes any string (its docstring's example is
#: `cap.doc.summarize`), and what a real Hall Server enforces is not documented. So it is a setting
#: (HallEmulator(capability_ids=...), script `capability_ids:`, `hallsim serve --capability-ids`), shown by
#: /__hall/health and serve's start-up lines. `guide` (default): the documented shape. `any`: any non-empty
#: string, as pyhall (which also takes "", but an empty id names no capability: refused like worker_id's).
CAPABILITY_IDS: dict[str, CapabilityIds] = {
    "guide": CapabilityIds(
        "guide",
        _guide_id,
        CAPABILITY_EXPECTED,
        hint="set capability_ids: any (hallsim serve --capability-ids any) to accept any id, as pyhall does",
    ),
    "any": CapabilityIds("any", _any_id, "a capability id (a non-empty string), e.g. cap.doc.summarize"),
}
GUIDE_CAPABILITY_IDS = CAPABILITY_IDS["guide"]

#: the request the guides document (Make guide "Request body" with its example values; the Pipedream step
#: sends the same five fields): what gates send, what benchmarks and tests start from
GUIDE_REQUEST: dict[str, str] = {
    "capability_id": "cap.data.write.v1",
    "worker_id": "wrk_make_acme_prod",
    "env": "prod",
    "data_label": "INTERNAL",
    "tenant_id": "org.acme",
}

#: the decision fields, in the order they are sent (hall-contract.md "Response (200, JSON)")
DECISION_FIELDS = ("decision_id", "denied", "selected_worker_species_id", "artifact_hash", "reason")


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with a request body: which field, what was expected, what came."""

    field: str
    expected: str
    got: Any = None
    missing: bool = False
    #: what would make the emulator take it (a setting to change), if anything
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "expected": self.expected}
        if self.missing:
            out["problem"] = "missing"
        else:
            out["got"] = self.got
        if self.hint is not None:
            out["hint"] = self.hint
        return out

    def __str__(self) -> str:
        got = "missing" if self.missing else f"got {json.dumps(self.got, default=str)}"
        hint = f"; {self.hint}" if self.hint is not None else ""
        return f"{self.field}: expected {self.expected}; {got}{hint}"


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def validate_route_request(
    body: Any,
    envs: tuple[str, ...] = GUIDE_ENVS,
    capability_ids: CapabilityIds = GUIDE_CAPABILITY_IDS,
) -> list[FieldProblem]:
    """Every problem with a parsed request body; an empty list means the body follows the contract.

    Unknown extra fields are accepted and ignored (as a pydantic model with default settings would), but they
    are part of the artifact hash. Optional fields may be absent or null; an empty string is not a value."""
    if not isinstance(body, dict):
        return [
            FieldProblem("(body)", "a JSON object with capability_id, worker_id and env", _type_name(body))
        ]
    problems: list[FieldProblem] = []
    for name in REQUIRED_FIELDS:
        if body.get(name) is None:
            expected = {
                "capability_id": capability_ids.expected,
                "worker_id": "a registered worker id (a non-empty string), e.g. wrk_make_acme_prod",
                "env": f"one of {', '.join(envs)}",
            }[name]
            problems.append(FieldProblem(name, expected, missing=True))
    capability = body.get("capability_id")
    if capability is not None and not capability_ids.accepts(capability):
        # the hint only where it helps: a string id the other setting would take
        hint = capability_ids.hint if _any_id(capability) else None
        problems.append(FieldProblem("capability_id", capability_ids.expected, capability, hint=hint))
    worker = body.get("worker_id")
    if worker is not None and not (isinstance(worker, str) and worker.strip()):
        problems.append(FieldProblem("worker_id", "a registered worker id (a non-empty string)", worker))
    env = body.get("env")
    if env is not None and env not in envs:
        problems.append(FieldProblem("env", f"one of {', '.join(envs)}", env))
    label = body.get("data_label")
    if label is not None and label not in DATA_LABELS:
        problems.append(FieldProblem("data_label", f"one of {', '.join(DATA_LABELS)}, or absent", label))
    tenant = body.get("tenant_id")
    if tenant is not None and not (isinstance(tenant, str) and tenant.strip()):
        problems.append(FieldProblem("tenant_id", "an org namespace (a non-empty string), or absent", tenant))
    return problems


def artifact_hash(body: Mapping[str, Any]) -> str:
    """Hex SHA-256 of the request body as received, serialised the way pyhall-wcp 0.2.2 does it.

    pyhall/router.py (Step 9, "Provenance hash"): `sha256(json.dumps(inp.model_dump(), sort_keys=True,
    default=str))`, i.e. `json.dumps` with its DEFAULT separators (", " and ": ") and ensure_ascii, keys
    sorted, encoded as UTF-8, hex digest. The emulator applies it to the parsed JSON body the gate sent (every
    field it sent, no defaults added), so anyone can recompute it from the request:

        hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode("utf-8")).hexdigest()
    """
    text = json.dumps(body, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def default_species(capability_id: str) -> str:
    """The worker species an `allow` selects unless told otherwise: `cap.data.write.v1` -> `wrk.data.write`
    (pyhall's species ids look like `wrk.doc.summarizer`)."""
    parts = capability_id.split(".")
    if len(parts) >= 3 and parts[0] == "cap":
        return "wrk." + ".".join(parts[1:3])
    return "wrk.default"


def decision(
    body: Mapping[str, Any],
    *,
    denied: bool,
    reason: str | None = None,
    decision_id: str | None = None,
    hash_: str | None = None,
    species: str | None = None,
) -> dict[str, Any]:
    """A well-formed decision for a valid request; `reason` only when denied (the Make guide's rule)."""
    out: dict[str, Any] = {
        "decision_id": decision_id or new_decision_id(),
        "denied": denied,
        "selected_worker_species_id": species
        if species is not None or denied
        else default_species(str(body.get("capability_id", ""))),
        "artifact_hash": hash_ or artifact_hash(body),
    }
    if denied:
        out["reason"] = reason
    return out
