"""The OpenAPI 3.1 description of `POST /api/route` and of the admin API, served at `/openapi.json`.

Written by hand from the contract (hall-contract.md) and admin.py, not generated: the hot path uses no
models. tests/hostile runs schemathesis against it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hallsim.emulator._version import __version__
from hallsim.emulator.contract import CAPABILITY_PATTERN, DATA_LABELS, GUIDE_ENVS

if TYPE_CHECKING:
    from hallsim.emulator.app import HallApp

HASH_RECIPE = (
    "Hex SHA-256 of the request body as received (the parsed JSON object, every field the client sent), "
    "serialised as pyhall-wcp 0.2.2 does in router.py: `json.dumps(body, sort_keys=True, default=str)` with "
    "json.dumps' DEFAULT separators (', ' and ': ') and ensure_ascii, encoded as UTF-8."
)


def _error(description: str, example: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}, "example": example}
        },
    }


def openapi_document(hall: HallApp | None = None) -> dict[str, Any]:
    envs = list(hall.envs) if hall is not None else list(GUIDE_ENVS)
    if hall is None or hall.capability_ids == "guide":
        capability: dict[str, Any] = {
            "type": "string",
            "pattern": f"^{CAPABILITY_PATTERN.pattern}$",
            "description": "WCP capability being requested, `cap.<area>.<verb>.v<N>`",
            "examples": ["cap.data.write.v1"],
        }
    else:  # capability_ids: any (contract.CAPABILITY_IDS)
        capability = {
            "type": "string",
            "minLength": 1,
            "description": "WCP capability being requested: any non-empty id (capability_ids: any)",
            "examples": ["cap.data.write.v1", "cap.doc.summarize"],
        }
    request = {
        "type": "object",
        "required": ["capability_id", "worker_id", "env"],
        "properties": {
            "capability_id": capability,
            "worker_id": {"type": "string", "minLength": 1, "examples": ["wrk_make_acme_prod"]},
            "env": {"type": "string", "enum": envs},
            "data_label": {"type": ["string", "null"], "enum": [*DATA_LABELS, None]},
            "tenant_id": {"type": ["string", "null"], "minLength": 1, "examples": ["org.acme"]},
        },
        "additionalProperties": True,
        "description": "Unknown extra fields are accepted and ignored, but are part of the artifact hash.",
    }
    decision = {
        "type": "object",
        "required": ["decision_id", "denied", "selected_worker_species_id", "artifact_hash"],
        "properties": {
            "decision_id": {
                "type": "string",
                "format": "uuid",
                "description": "UUID v4, the audit record id",
            },
            "denied": {"type": "boolean", "description": "true = blocked, false = allowed"},
            "selected_worker_species_id": {
                "type": ["string", "null"],
                "description": "matched worker species; null when denied",
            },
            "artifact_hash": {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": HASH_RECIPE},
            "reason": {"type": "string", "description": "denial reason; present only when denied is true"},
        },
    }
    error = {
        "type": "object",
        "required": ["error", "detail"],
        "properties": {
            "error": {"type": "string"},
            "detail": {"type": "string"},
            "problems": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "field": {"type": "string"},
                        "expected": {"type": "string"},
                        "got": {},
                        "problem": {"type": "string", "enum": ["missing"]},
                    },
                },
            },
        },
    }
    route: dict[str, Any] = {
        "post": {
            "summary": "Ask the Hall for a routing decision",
            "operationId": "route",
            "security": [{"bearer": []}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RouteRequest"}}},
            },
            "responses": {
                "200": {
                    "description": "A decision",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Decision"}}},
                },
                "400": _error("The body is not JSON", {"error": "invalid_json", "detail": "..."}),
                "401": _error(
                    "No `Authorization: Bearer <token>` header",
                    {"error": "missing_token", "detail": "..."},
                ),
                "403": _error(
                    "A token this Hall does not accept", {"error": "unknown_token", "detail": "..."}
                ),
                "405": _error("Not POST", {"error": "method_not_allowed", "detail": "..."}),
                "413": _error("The body is too large", {"error": "payload_too_large", "detail": "..."}),
                "431": _error(
                    "Headers larger than the emulator takes",
                    {"error": "headers_too_large", "detail": "..."},
                ),
                "500": _error(
                    "The emulator itself failed (a bug in hallsim, never an answer of the Hall)",
                    {"error": "emulator_error", "detail": "..."},
                ),
                "422": _error(
                    "Wrong or missing fields; `problems` lists every one",
                    {
                        "error": "invalid_request",
                        "detail": 'env: expected one of dev, prod; got "staging"',
                        "problems": [{"field": "env", "expected": "one of dev, prod", "got": "staging"}],
                    },
                ),
            },
        }
    }
    paths: dict[str, Any] = {"/api/route": route}
    paths.update(_admin_paths())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Hall Server (hallsim emulator)",
            "version": __version__,
            "description": "The PyHall Hall Server's routing endpoint as the Pipedream and Make integration "
            "guides document it, emulated by hallsim. Checks run in this order: method, auth (401/403), body "
            "size (413), JSON (400), fields (422); then the scripted behaviour answers. Scripted behaviours "
            "(`hallsim behaviours`) may answer anything, including no HTTP answer at all.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "admin": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The admin token (admin_guard.py): required once set, and always beyond "
                    "loopback; on loopback without a set token the admin API is open",
                },
            },
            "schemas": {"RouteRequest": request, "Decision": decision, "Error": error},
        },
    }


_ADMIN_REFUSALS = {
    "400": _error(
        "A body or parameter the admin API cannot use", {"error": "bad_admin_request", "detail": "..."}
    ),
    "401": _error("The admin token is required", {"error": "admin_token_required", "detail": "..."}),
    "403": _error("Not the admin token", {"error": "admin_token_refused", "detail": "..."}),
    "413": _error("An admin body over 1 MiB", {"error": "payload_too_large", "detail": "..."}),
    "421": _error("A Host the emulator is not bound to", {"error": "misdirected_request", "detail": "..."}),
    "431": _error("Headers larger than the emulator takes", {"error": "headers_too_large", "detail": "..."}),
}
_CHANGING_REFUSALS = {
    **_ADMIN_REFUSALS,
    "415": _error("Not `Content-Type: application/json`", {"error": "json_required", "detail": "..."}),
}


def _admin_operation(summary: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": ["admin"],
        "security": [{"admin": []}, {}],
        "responses": {
            "200": {"description": "Done", "content": {"application/json": {"schema": {"type": "object"}}}},
            **(_CHANGING_REFUSALS if body is not None else _ADMIN_REFUSALS),
        },
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return operation


def _admin_paths() -> dict[str, Any]:
    rule = {"type": "object", "description": "A rule in mapping form (rules.py)", "required": ["respond"]}
    behaviour = {"description": "A behaviour spec (`hallsim behaviours`) or its mapping form"}
    whole = {"type": "string", "pattern": "^[0-9]{1,18}$"}
    return {
        "/__hall/health": {"get": _admin_operation("Status and settings")},
        "/__hall/rules": {
            "get": _admin_operation("The rules and their use counts"),
            "put": _admin_operation(
                "Replace the rules",
                {
                    "oneOf": [
                        {"type": "array", "items": rule},
                        {"type": "object", "properties": {"rules": {}}},
                    ]
                },
            ),
            "post": _admin_operation(
                "Add one rule or several", {"oneOf": [rule, {"type": "array", "items": rule}]}
            ),
        },
        "/__hall/default": {
            "get": _admin_operation("The default behaviour"),
            "put": _admin_operation("Set the default behaviour", behaviour),
        },
        "/__hall/reset": {"post": _admin_operation("Back to the start-up configuration", {})},
        "/__hall/journal": {
            "get": {
                **_admin_operation("A page of journal entries"),
                "parameters": [
                    {"name": "since", "in": "query", "schema": whole, "description": "the first seq wanted"},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": whole,
                        "description": "entries per page, 1-1000",
                    },
                ],
            },
            "delete": {
                **_admin_operation("Empty the journal"),
                "responses": {
                    "200": {
                        "description": "Emptied",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    **_CHANGING_REFUSALS,
                },
            },
        },
        "/__hall/time-scale": {
            "get": _admin_operation("The time scale"),
            "put": _admin_operation("Set the time scale", {"description": '{"time_scale": x} or x'}),
        },
    }
