"""Every choice the Make replay makes that a run can change, by name. The UNCONFIRMED ones are the parts of
Make no public source states (shared/reference/make.md marks them); each run lists the value it used for
every one."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hallsim.harness._errors import InputError
from hallsim.harness.record import DEFAULT_TIME_SCALE

#: Make's error types (help.make.com "Types of errors")
ERROR_TYPES = (
    "AccountValidationError",
    "BundleValidationError",
    "ConnectionError",
    "DataError",
    "DataSizeLimitExceededError",
    "DuplicateDataError",
    "IncompleteDataError",
    "InconsistencyError",
    "MaxFileSizeExceededError",
    "MaxResultsExceededError",
    "ModuleTimeoutError",
    "OperationsLimitExceededError",
    "RateLimitError",
    "RuntimeError",
    "ScenarioTimeoutError",
)


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    kind: str  # float | bool | int | choice | text | ids
    doc: str
    unconfirmed: bool = False
    choices: tuple[str, ...] = ()


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting(
            "time_scale",
            DEFAULT_TIME_SCALE,
            "float",
            "wall seconds per modelled second: a 10 s module timeout takes 0.1 s of wall time at 0.01. Break "
            "retries and sleeps run on a virtual clock and take no wall time at all",
        ),
        Setting(
            "make.http.latency_grace_s",
            1.0,
            "float",
            "wall seconds an HTTP module waits past its scaled timeout (timeout x time_scale) while nothing "
            "says the wait is scripted: the machine's own latency counts as it is (x1), only the waits the "
            "run scripted (the in-process Hall's or a stub's slow/timeout) count x1/time_scale; a Hall that "
            "has not answered by then is taken as one that never answers",
        ),
        Setting("now", "", "text", "the run's start time (ISO 8601) for `now`; empty = the wall clock"),
        Setting(
            "protected",
            "",
            "ids",
            "module ids of the protected actions; empty = those marked in the blueprint",
        ),
        Setting("make.timezone", "UTC", "text", "time zone of formatDate/parseDate when none is given"),
        Setting(
            "make.filter.boolean_coercion",
            "make-type-coercion",
            "choice",
            "how boolean filter operators read their operands: make-type-coercion applies "
            "help.make.com's module "
            "field coercion (text is false only when 'false' or empty, so a missing value is false); strict "
            "accepts only true/false and fails the condition otherwise",
            True,
            ("make-type-coercion", "strict"),
        ),
        Setting(
            "make.router.fallback_marker",
            "flag",
            "choice",
            "how a blueprint marks a router's fallback route: flag = `fallback: true` on the "
            "route or on its first "
            "module's filter; none = no route is a fallback",
            True,
            ("flag", "none"),
        ),
        Setting(
            "make.variable_form",
            "resolve",
            "choice",
            "what the seed guide's `{{variable.X}}` does: resolve = reads the variable X "
            "supplied with the run, as "
            "the guide intends; empty = Make does not know the form and it resolves to nothing",
            True,
            ("resolve", "empty"),
        ),
        Setting(
            "make.http.default_timeout",
            40.0,
            "float",
            "seconds an HTTP module waits when its timeout field is empty (about 40 s per Make staff)",
            True,
        ),
        Setting(
            "make.http.timeout_error",
            "ConnectionError",
            "choice",
            "error type of an HTTP module whose request times out",
            True,
            ERROR_TYPES,
        ),
        Setting(
            "make.http.refused_error",
            "ConnectionError",
            "choice",
            "error type of an HTTP module whose connection is refused",
            True,
            ERROR_TYPES,
        ),
        Setting(
            "make.http.reset_error",
            "ConnectionError",
            "choice",
            "error type of an HTTP module whose connection is reset or closed without an answer",
            True,
            ERROR_TYPES,
        ),
        Setting(
            "make.http.parse_error",
            "DataError",
            "choice",
            "error type when Parse response is on and a JSON answer does not parse",
            True,
            ERROR_TYPES,
        ),
        Setting(
            "make.http.other_status_error",
            "RuntimeError",
            "choice",
            "error type of a 4xx/5xx answer under Evaluate all states as errors that help.make.com names no "
            "type for (400/404 BundleValidationError, 401/403 AccountValidationError, 429 RateLimitError, "
            "503/504 ConnectionError are documented)",
            True,
            ERROR_TYPES,
        ),
        Setting(
            "make.http.user_agent",
            "Make/production",
            "text",
            "the User-Agent header of the HTTP modules' requests (requests Make sent, as captured in public "
            "repositories, carry Make/production); empty = none",
            True,
        ),
        Setting(
            "make.keychains",
            "",
            "text",
            "a JSON file of the keychains the HTTP app's authenticated modules use: {id: {type: apiKey|"
            "basicAuth|oAuth, key, placement: header|query, name, username, password}}; "
            "--var keychain.ID.FIELD=... wins",
        ),
        Setting(
            "make.datastores",
            "",
            "text",
            "the data stores' records when the run starts: a JSON file or JSON text {store id: {key: "
            "{field: value}}}; empty = every data store starts empty",
        ),
        Setting(
            "make.unknown_builtin",
            "warn",
            "choice",
            "a module of Make's own apps (builtin, util, json, regexp, http, datastore, ...) that hallsim "
            "does not emulate: warn = it runs as a recorded action and the run warns that the verdict does "
            "not cover it; error = the run refuses to start",
            choices=("warn", "error"),
        ),
        Setting(
            "make.datastore.get_missing",
            "empty",
            "choice",
            "what Data store - Get a record outputs for a key the store does not hold: empty = one empty "
            "bundle; none = no bundle (the flow after it does not run)",
            True,
            ("empty", "none"),
        ),
        Setting(
            "make.json.parse_array",
            "bundles",
            "choice",
            "what JSON - Parse JSON outputs for a JSON array at the top: bundles = one bundle per item; "
            "single = one bundle {value: [...]}",
            True,
            ("bundles", "single"),
        ),
        Setting(
            "make.aggregator.no_bundles",
            "empty",
            "choice",
            "what an aggregator outputs when its source sends it no bundle (an empty array, a search with "
            "no result) and the export leaves `stopProcessingOnEmpty` (Stop processing after an empty "
            "aggregation) out: empty = one bundle with an empty array / text / 0; none = no bundle, the "
            "flow after it does not run",
            True,
            ("empty", "none"),
        ),
        Setting(
            "make.system.execution_id",
            "",
            "text",
            '{{executionId}} (help.make.com "System variables"); empty = a new 32-hex id per run',
        ),
        Setting("make.system.scenario_id", "1", "text", "{{scenario.id}}"),
        Setting("make.system.team_id", "1", "text", "{{team.id}}"),
        Setting("make.system.team_name", "My Team", "text", "{{team.name}}"),
        Setting("make.system.organization_id", "1", "text", "{{organization.id}}"),
        Setting("make.system.organization_name", "My Organization", "text", "{{organization.name}}"),
        Setting("make.system.operations_left", "10000", "text", "{{organization.operationsLeft}}"),
        Setting("make.system.data_left", "1073741824", "text", "{{organization.dataLeft}} (bytes)"),
        Setting("make.system.zone", "eu1.make.com", "text", "{{organization.zoneDomain}}"),
        Setting(
            "make.http.v3_redirect_methods",
            "get-only",
            "choice",
            "which requests the v3 module's `followRedirect` follows: get-only = GET/HEAD only, "
            "as the request "
            "library it is believed to use (non-GET needs `followAllRedirects`); all = every method",
            True,
            ("get-only", "all"),
        ),
        Setting(
            "make.http.v3_handle_errors",
            True,
            "bool",
            "the v3 module's `parameters.handleErrors` (Evaluate all states as errors) when the "
            "blueprint leaves it out",
            True,
        ),
        Setting(
            "make.http.v4_stop_on_http_error",
            True,
            "bool",
            "the v4 module's `stopOnHttpError` when the blueprint leaves it out",
            True,
        ),
        Setting(
            "make.break.retry",
            True,
            "bool",
            "whether Break retries (Automatically complete execution) when its mapper leaves `retry` out",
            True,
        ),
        Setting(
            "make.break.after_retry_success",
            "warning",
            "choice",
            "run status when a Break retry later completes the bundle: the run itself ended as warning",
            True,
            ("warning", "success"),
        ),
    )
}

_MODULE_KEY = re.compile(r"make\.module\.(\d+)\.(output|error|fail_times)$")


@dataclass(frozen=True)
class ModuleOverride:
    """What a recorded action does in this run: its output, or the error it raises (for its first N runs)."""

    output: Any = None
    error: str | None = None
    message: str = ""
    fail_times: int | None = None


def _parse(setting: Setting, value: Any, where: str) -> Any:
    expected = {
        "float": "a number",
        "int": "a whole number",
        "bool": "true or false",
        "choice": "one of " + ", ".join(setting.choices),
        "text": "text",
        "ids": "module ids separated by commas",
    }[setting.kind]
    try:
        if setting.kind == "float":
            number = float(value)
            if number <= 0 and setting.name == "time_scale":
                raise ValueError
            return number
        if setting.kind == "int":
            return int(value)
        if setting.kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "yes", "1", "on"):
                return True
            if text in ("false", "no", "0", "off"):
                return False
            raise ValueError
        if setting.kind == "choice":
            if str(value) not in setting.choices:
                raise ValueError
            return str(value)
        if setting.kind == "ids":
            items = value if isinstance(value, (list, tuple)) else str(value).split(",")
            return ",".join(str(int(str(item).strip())) for item in items if str(item).strip())
        return str(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: setting `{setting.name}` = {value!r}: expected {expected}") from None


def _override(key: str, kind: str, value: Any, current: ModuleOverride, where: str) -> ModuleOverride:
    if kind == "output":
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise InputError(
                    f"{where}: setting `{key}`: expected a JSON object for the module's output (or a "
                    "list of objects)"
                ) from None
        is_bundles = isinstance(value, list) and all(isinstance(item, dict) for item in value)
        if not isinstance(value, dict) and not is_bundles:
            raise InputError(
                f"{where}: setting `{key}`: expected a JSON object for the module's output (or a list of "
                "objects: one bundle each, as a search module outputs)"
            )
        return ModuleOverride(value, current.error, current.message, current.fail_times)
    if kind == "error":
        error_type, _, message = str(value).partition(":")
        error_type = error_type.strip()
        if error_type not in ERROR_TYPES:
            raise InputError(
                f"{where}: setting `{key}` = {value!r}: expected `ErrorType` or `ErrorType: "
                "message` with a Make "
                f"error type ({', '.join(ERROR_TYPES)})"
            )
        return ModuleOverride(current.output, error_type, message.strip(), current.fail_times)
    try:
        times = int(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: setting `{key}` = {value!r}: expected a whole number") from None
    return ModuleOverride(current.output, current.error, current.message, times)


def resolve_settings(
    given: Mapping[str, Any] | None, *, path: Path
) -> tuple[dict[str, Any], dict[int, ModuleOverride]]:
    """The run's settings (every named one, defaults filled in) and per-module overrides for recorded actions.

    Module overrides: `make.module.<id>.output` (JSON object), `make.module.<id>.error` (`Type[: message]`),
    `make.module.<id>.fail_times` (fail only the first N times), or `make.modules` = {id:
    {output|error|...}}."""
    where = f"{path}: run settings"
    values = {name: setting.default for name, setting in SETTINGS.items()}
    overrides: dict[int, ModuleOverride] = {}
    for key, value in (given or {}).items():
        if key in SETTINGS:
            values[key] = _parse(SETTINGS[key], value, where)
            continue
        match = _MODULE_KEY.match(key)
        if match:
            module_id = int(match.group(1))
            overrides[module_id] = _override(
                key, match.group(2), value, overrides.get(module_id, ModuleOverride()), where
            )
            continue
        if key == "make.modules" and isinstance(value, Mapping):
            for module_key, spec in value.items():
                if not isinstance(spec, Mapping) or not str(module_key).isdigit():
                    raise InputError(
                        f"{where}: `make.modules`: expected {{module id: {{output|error|fail_times}}}}"
                    )
                module_id = int(module_key)
                for kind, item in spec.items():
                    if kind not in ("output", "error", "fail_times"):
                        raise InputError(
                            f"{where}: `make.modules.{module_key}.{kind}`: expected output, error "
                            "or fail_times"
                        )
                    overrides[module_id] = _override(
                        f"make.module.{module_id}.{kind}",
                        kind,
                        item,
                        overrides.get(module_id, ModuleOverride()),
                        where,
                    )
            continue
        known = ", ".join(sorted(SETTINGS))
        raise InputError(
            f"{where}: unknown setting `{key}`; the Make replay knows {known}, and "
            "make.module.<id>.output|error|"
            "fail_times for recorded actions"
        )
    return values, overrides


def unconfirmed_names() -> tuple[str, ...]:
    return tuple(name for name, setting in SETTINGS.items() if setting.unconfirmed)
