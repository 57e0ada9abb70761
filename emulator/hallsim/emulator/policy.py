"""Policy mode: decisions by the WCP reference engine, `pyhall.make_decision` (optional extra `policy`).

The guides' request carries five fields; pyhall's `RouteInput` wants more. The mapping and its defaults (each
one a setting of the script's `policy:` section):

- capability_id, env: passed as they are (env must then be one pyhall knows: dev, stage, prod, edge).
- data_label: passed as is; absent -> `default_data_label` (INTERNAL, the Pipedream guide step's own
  default); CONFIDENTIAL, which both guides document but pyhall lacks, -> `confidential_as` (RESTRICTED: the
  stricter label pyhall knows, so a policy never treats confidential data more loosely than restricted data).
- tenant_id: passed as is; absent -> `default_tenant_id` (none: the request is denied DENY_MISSING_TENANT_ID,
  as pyhall's router does for an empty tenant).
- tenant_risk -> `tenant_risk` (low), qos_class -> `qos_class` (P2), correlation_id -> a fresh UUID v4 per
  request (the guides never send one), request -> {"worker_id": ...}.
- registry: `controls_present` (none) and `workers_available` (every worker species when not given);
  `allowed_tenants` turns on pyhall's signatory check (HallConfig.require_signatory).

The answer: `denied`, `decision_id` and `selected_worker_species_id` from pyhall's RouteDecision; `reason` is
pyhall's deny code (`deny_reason_if_denied.code`, e.g. DENY_NO_MATCHING_RULE); `artifact_hash` is the
emulator's hash of the request body (contract.artifact_hash), so clients can recompute it: pyhall's own hash
covers its RouteInput, whose correlation id is random. Policy mode never raises; a failure is a denial.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hallsim.emulator._errors import EmulatorError, ScriptError
from hallsim.emulator.contract import artifact_hash

POLICY_KEYS = (
    "rules",
    "controls_present",
    "workers_available",
    "tenant_risk",
    "qos_class",
    "default_data_label",
    "confidential_as",
    "default_tenant_id",
    "allowed_tenants",
)
_CHOICES = {
    "tenant_risk": ("low", "medium", "high"),
    "qos_class": ("P0", "P1", "P2", "P3"),
    "default_data_label": ("PUBLIC", "INTERNAL", "RESTRICTED"),
    "confidential_as": ("PUBLIC", "INTERNAL", "RESTRICTED"),
}


def _pyhall() -> Any:
    try:
        import pyhall
    except ImportError:
        raise EmulatorError(
            "policy mode needs the WCP reference engine: pip install 'hallsim[policy]' (pyhall-wcp >= 0.2.2)"
        ) from None
    return pyhall


@dataclass(frozen=True)
class Policy:
    """pyhall rules plus the settings that fill in what the guides' request lacks."""

    rules: tuple[Any, ...]
    source: str
    controls_present: frozenset[str] = frozenset()
    workers_available: frozenset[str] | None = None
    tenant_risk: str = "low"
    qos_class: str = "P2"
    default_data_label: str = "INTERNAL"
    confidential_as: str = "RESTRICTED"
    default_tenant_id: str | None = None
    allowed_tenants: tuple[str, ...] | None = None

    def settings(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rules": len(self.rules),
            "tenant_risk": self.tenant_risk,
            "qos_class": self.qos_class,
            "default_data_label": self.default_data_label,
            "confidential_as": self.confidential_as,
            "default_tenant_id": self.default_tenant_id,
        }

    def route_input(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The RouteInput fields for a guide request (see the module docstring for the defaults)."""
        label = body.get("data_label") or self.default_data_label
        if label == "CONFIDENTIAL":
            label = self.confidential_as
        return {
            "capability_id": body["capability_id"],
            "env": body["env"],
            "data_label": label,
            "tenant_risk": self.tenant_risk,
            "qos_class": self.qos_class,
            "tenant_id": body.get("tenant_id") or self.default_tenant_id or "",
            "correlation_id": str(uuid.uuid4()),
            "request": {"worker_id": body.get("worker_id")},
        }

    def decide(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A decision for a valid request, in the guides' shape; never raises (fail-closed like pyhall)."""
        fields = self.route_input(body)
        hash_ = artifact_hash(body)
        if not fields["tenant_id"]:
            return _denied("DENY_MISSING_TENANT_ID", hash_)
        try:
            pyhall = _pyhall()
            inp = pyhall.RouteInput(**fields)
        except Exception:
            # a field pyhall refuses (env `dev|stage|prod|edge` only): pyhall's code for bad input
            return _denied("DENY_INVALID_INPUT", hash_)
        workers = self.workers_available
        config = None
        if self.allowed_tenants is not None:
            config = pyhall.HallConfig(require_signatory=True, allowed_tenants=list(self.allowed_tenants))
        try:
            result = pyhall.make_decision(
                inp,
                list(self.rules),
                registry_controls_present=set(self.controls_present),
                registry_worker_available=lambda species: workers is None or species in workers,
                hall_config=config,
            )
        except Exception:
            return _denied("DENY_INTERNAL_ERROR", hash_)
        out: dict[str, Any] = {
            "decision_id": result.decision_id,
            "denied": bool(result.denied),
            "selected_worker_species_id": None if result.denied else result.selected_worker_species_id,
            "artifact_hash": hash_,
        }
        if result.denied:
            reason = result.deny_reason_if_denied or {}
            out["reason"] = str(reason.get("code") or "DENY_INTERNAL_ERROR")
        return out


def _denied(code: str, hash_: str) -> dict[str, Any]:
    return {
        "decision_id": str(uuid.uuid4()),
        "denied": True,
        "selected_worker_species_id": None,
        "artifact_hash": hash_,
        "reason": code,
    }


def _read_rules(path: Path, where: str) -> tuple[Any, ...]:
    pyhall = _pyhall()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScriptError.at(where, f"{path}: no such policy rules file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ScriptError.at(where, f"{path}: cannot read: {err}") from None
    try:
        doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as err:
        raise ScriptError.at(
            f"{where}", f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {err}"
        ) from None
    if not isinstance(doc, Mapping) or not isinstance(doc.get("rules"), list):
        raise ScriptError.at(where, f'{path}: expected pyhall rules, a mapping with a "rules" list')
    for i, rule in enumerate(doc["rules"]):
        if not isinstance(rule, Mapping) or not isinstance(rule.get("rule_id"), str):
            raise ScriptError.at(
                f"{where}", f"{path}: rules[{i}]: expected a mapping with rule_id, match and decision"
            )
        for key in ("match", "decision"):
            if key in rule and not isinstance(rule[key], Mapping):
                raise ScriptError.at(where, f"{path}: rules[{i}].{key}: expected a mapping")
    return tuple(pyhall.load_rules_from_dict(doc))


def load_policy(path: str | Path, *, where: str = "policy") -> Policy:
    """Policy mode with a pyhall rules file (JSON or YAML, a top-level "rules" list) and default settings;
    errors start with `where` (`--policy` for the command line)."""
    path = Path.cwd() / path
    return Policy(rules=_read_rules(path, where), source=str(path))


def policy_from_mapping(spec: Any, *, base: Path, where: str) -> Policy:
    """Read a script's `policy:` section: `rules` (a file, relative to `base`) plus the settings above."""
    if isinstance(spec, str):
        spec = {"rules": spec}
    if not isinstance(spec, Mapping):
        raise ScriptError.at(where, f"expected a mapping with `rules: <pyhall rules file>`; got {spec!r}")
    unknown = sorted(str(k) for k in spec if k not in POLICY_KEYS)
    if unknown:
        raise ScriptError.at(
            f"{where}.{unknown[0]}", f"unknown key; expected one of {', '.join(POLICY_KEYS)}"
        )
    if not isinstance(spec.get("rules"), str):
        raise ScriptError.at(f"{where}.rules", "expected the path of a pyhall rules file (JSON or YAML)")
    path = Path(spec["rules"])
    path = path if path.is_absolute() else base / path
    settings: dict[str, Any] = {}
    for key, choices in _CHOICES.items():
        if key in spec:
            if spec[key] not in choices:
                raise ScriptError.at(
                    f"{where}.{key}", f"expected one of {', '.join(choices)}; got {spec[key]!r}"
                )
            settings[key] = spec[key]
    for key in ("controls_present", "workers_available", "allowed_tenants"):
        if key in spec:
            value = spec[key]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ScriptError.at(f"{where}.{key}", f"expected a list of strings; got {value!r}")
            settings[key] = tuple(value) if key == "allowed_tenants" else frozenset(value)
    if "default_tenant_id" in spec:
        tenant = spec["default_tenant_id"]
        if tenant is not None and not (isinstance(tenant, str) and tenant.strip()):
            raise ScriptError.at(
                f"{where}.default_tenant_id", f"expected a non-empty string or null; got {tenant!r}"
            )
        settings["default_tenant_id"] = tenant
    return Policy(rules=_read_rules(path, f"{where}.rules"), source=str(path), **settings)
