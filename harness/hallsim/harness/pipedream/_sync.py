"""GitHub-Sync workflow folders, read unchanged (docs/pipedream.md "GitHub-Sync projects" lists what is
supported and the public examples it is learned from; Pipedream publishes no spec of the format).

A synced project holds one folder per workflow, `<slug>-p_<id>/`, with `workflow.yaml`
(`schema: workflow/2022.04`, `name`, `settings`, `triggers`, `steps`), `.workflow.state` (`id`), and one
folder per code step, `<namespace>/entry.js`. What the repository does not hold (which step is protected,
the environment, a sample event, connected accounts' credentials) comes from an optional `.hallsim.yaml`
beside `workflow.yaml`, so the synced files stay exactly as Pipedream wrote them. Keys hallsim does not know
are warnings, not errors: the format has no spec and may grow."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hallsim.emulator.files import YamlDocument, read_text
from hallsim.harness._errors import InputError
from hallsim.harness.pipedream._model import (
    PLACEHOLDERS,
    SINGLE_STEP_ENV,
    StepSpec,
    WorkflowSpec,
    placeholders,
)
from hallsim.harness.pipedream._registry import parse_uses, resolve_action

WORKFLOW_FILE = "workflow.yaml"
STATE_FILE = ".workflow.state"
HALLSIM_FILE = ".hallsim.yaml"
SCHEMA = "workflow/2022.04"
STATE_SCHEMA = "workflow.state/2022.04"
_STEP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NODE_RUNTIME = re.compile(r"^nodejs\d+(\.x)?$")
_TOP_KEYS = {"schema", "name", "settings", "triggers", "steps"}
_STEP_KEYS = {"namespace", "runtime", "uses", "props"}
#: Pipedream workflow settings seen in synced repositories; hallsim models none of them
_KNOWN_SETTINGS = {"error_notification"}
#: trigger id prefixes (UNCONFIRMED: read off Pipedream's ids, hi_ for an HTTP interface, ti_ a timer,
#: ei_ an email address); the repository keeps only the id, not the trigger's configuration
_TRIGGER_PREFIXES = {"hi_": "http", "ti_": "cron", "ei_": "email"}


class SideFile(BaseModel):
    """`.hallsim.yaml`: what a synced repository does not hold, in hallsim's own terms."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    protected: list[str] = Field(default_factory=list)
    trigger: Literal["http", "email", "cron"] | None = None
    event: Any = None
    env: dict[str, Union[str, int, float, bool]] | None = None  # noqa: UP007
    auth: dict[str, dict[str, Any]] = Field(default_factory=dict)
    data_stores: dict[str, dict[str, Any]] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)


def is_sync_folder(path: Path) -> bool:
    return path.is_dir() and (path / WORKFLOW_FILE).is_file()


def sync_workflows(path: Path) -> list[Path]:
    """A workflow folder as itself; a project folder as the workflow folders inside it (sorted)."""
    if is_sync_folder(path):
        return [path]
    if path.is_dir():
        return sorted(child for child in path.iterdir() if is_sync_folder(child))
    return []


def _unwrap(value: Any) -> Any:
    """Prop values as the step sees them: `{__lv: {label, value}}` (a value chosen from options, with its
    label) is its value, a list of them the list of values (PipedreamHQ/pipedream SDK type
    NestedLabelValueOption: `__lv: LabelValueOption | LabelValueOption[] | T | T[]`)."""
    if isinstance(value, dict):
        if set(value) == {"__lv"}:
            inner = value["__lv"]
            if isinstance(inner, list):
                return [_label_value(item) for item in inner]
            return _label_value(inner)
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(item) for item in value]
    return value


def _label_value(item: Any) -> Any:
    if isinstance(item, dict) and "value" in item and set(item) <= {"label", "value"}:
        return item["value"]
    return _unwrap(item)


def _read_state(folder: Path, warnings: list[str]) -> str | None:
    path = folder / STATE_FILE
    if not path.is_file():
        warnings.append(f"{folder}: no {STATE_FILE}; the workflow id is unknown")
        return None
    try:
        data = YamlDocument.read(path, error=InputError, what="workflow state file").data
    except InputError as err:
        warnings.append(f"{err}; the workflow id is unknown")
        return None
    if not isinstance(data, dict):
        warnings.append(f"{path}: expected `schema:` and `id:`; the workflow id is unknown")
        return None
    if data.get("schema") != STATE_SCHEMA:
        warnings.append(f"{path}: schema {data.get('schema')!r}; hallsim knows {STATE_SCHEMA!r}")
    workflow_id = data.get("id")
    return str(workflow_id) if workflow_id is not None else None


def _read_side_file(folder: Path) -> tuple[SideFile, YamlDocument | None]:
    path = folder / HALLSIM_FILE
    if not path.is_file():
        return SideFile(), None
    doc = YamlDocument.read(path, error=InputError, what="hallsim file")
    try:
        return SideFile.model_validate(doc.data or {}), doc
    except ValidationError as err:
        first = err.errors()[0]
        loc = [str(p) for p in first["loc"]]
        message = "unknown field" if first["type"] == "extra_forbidden" else first["msg"]
        known = ", ".join(SideFile.model_fields)
        raise InputError(f"{doc.where(loc)}: {'.'.join(loc)}: {message} (fields: {known})") from None


def _trigger_type(doc: YamlDocument, triggers: Any, warnings: list[str]) -> str:
    if not isinstance(triggers, list) or not triggers:
        warnings.append(f"{doc.where(['triggers'])}: no trigger; taken as an HTTP trigger")
        return "http"
    first = triggers[0]
    trigger_id = str(first.get("id", "")) if isinstance(first, dict) else ""
    for prefix, kind in _TRIGGER_PREFIXES.items():
        if trigger_id.startswith(prefix):
            return kind
    warnings.append(
        f"{doc.where(['triggers', 0])}: trigger id {trigger_id!r}: type unknown, taken as HTTP "
        "(set `trigger:` in .hallsim.yaml)"
    )
    return "http"


def _step(
    doc: YamlDocument, index: int, raw: Any, folder: Path, settings: dict[str, Any], warnings: list[str]
) -> StepSpec:
    where = doc.where(["steps", index])
    if not isinstance(raw, dict):
        raise InputError(f"{where}: steps[{index}]: expected a mapping with namespace, runtime, uses")
    for key in raw:
        if key not in _STEP_KEYS:
            warnings.append(
                f"{doc.where(['steps', index, str(key)])}: steps[{index}].{key}: unknown key, ignored"
            )
    name = raw.get("namespace")
    if not isinstance(name, str) or not _STEP_NAME.match(name):
        raise InputError(
            f"{doc.where(['steps', index, 'namespace'])}: steps[{index}].namespace: expected a step name "
            f"(letters, digits and _); got {name!r}"
        )
    runtime = raw.get("runtime")
    if runtime is not None and not _NODE_RUNTIME.match(str(runtime)):
        raise InputError(
            f"{doc.where(['steps', index, 'runtime'])}: steps[{index}].runtime: {runtime!r}: hallsim runs "
            "Node.js steps only (nodejs18.x, nodejs20.x, ...)"
        )
    uses = raw.get("uses")
    if not isinstance(uses, str) or not uses.strip():
        raise InputError(
            f"{doc.where(['steps', index, 'uses'])}: steps[{index}].uses: expected ./<namespace>/entry.js, "
            f"app-action@version or @workspace/key@version; got {uses!r}"
        )
    props = raw.get("props") or {}
    if not isinstance(props, dict):
        raise InputError(f"{doc.where(['steps', index, 'props'])}: steps[{index}].props: expected a mapping")
    props = {str(k): _unwrap(v) for k, v in props.items()}
    uses = uses.strip()
    if uses.startswith(("./", "../")):
        file = (folder / uses).resolve()
        if not file.is_file():
            raise InputError(
                f"{doc.where(['steps', index, 'uses'])}: steps[{index}].uses: no such file {uses!r} "
                f"(looked for {file})"
            )
        source = read_text(file, error=InputError, what="step file")
        return StepSpec(name, "code", False, file, source, 0, props)
    ref = parse_uses(uses)
    if ref is None:
        raise InputError(
            f"{doc.where(['steps', index, 'uses'])}: steps[{index}].uses: {uses!r} is neither a path "
            "(./<namespace>/entry.js) nor an action key with its version (app-action@version, "
            "@workspace/key@version)"
        )
    # resolved now so a missing action is a load error; each run resolves it again with its own settings
    resolved = resolve_action(
        ref,
        components=settings.get("components"),
        project=folder.parent,
        where=doc.where(["steps", index, "uses"]),
    )
    warnings.extend(resolved.warnings)
    source = read_text(resolved.file, error=InputError, what="action file")
    return StepSpec(name, "action", False, resolved.file, source, 0, props, ref=ref)


def load_sync_folder(folder: Path) -> WorkflowSpec:
    """One synced workflow folder as a WorkflowSpec; an InputError naming file:line and field when it cannot
    be run, warnings for what it holds that hallsim does not know."""
    doc = YamlDocument.read(folder / WORKFLOW_FILE, error=InputError, what="workflow file")
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list) or not data["steps"]:
        raise InputError(f"{doc.path}: expected a synced workflow: a mapping with `steps:`, a list of steps")
    warnings: list[str] = []
    if data.get("schema") != SCHEMA:
        warnings.append(f"{doc.where(['schema'])}: schema {data.get('schema')!r}; hallsim knows {SCHEMA!r}")
    for key in data:
        if key not in _TOP_KEYS:
            warnings.append(f"{doc.where([str(key)])}: {key}: unknown key, ignored")
    pd_settings = data.get("settings") or {}
    if isinstance(pd_settings, dict):
        for key in pd_settings:
            if key not in _KNOWN_SETTINGS:
                warnings.append(
                    f"{doc.where(['settings', str(key)])}: settings.{key}: a Pipedream setting hallsim "
                    "does not model (hallsim's own settings go in .hallsim.yaml)"
                )
    side, side_doc = _read_side_file(folder)
    hallsim_settings = dict(side.settings)
    steps = [_step(doc, i, raw, folder, hallsim_settings, warnings) for i, raw in enumerate(data["steps"])]
    names = [step.name for step in steps]
    for i, name in enumerate(names):
        if name == "trigger" or name in names[:i]:
            raise InputError(
                f"{doc.where(['steps', i, 'namespace'])}: steps[{i}].namespace: {name!r} "
                + ("is reserved for steps.trigger" if name == "trigger" else "is used by an earlier step")
            )
    for name in side.protected:
        if name not in names:
            where = side_doc.where(["protected"]) if side_doc else str(folder / HALLSIM_FILE)
            raise InputError(f"{where}: protected: {name!r} is not a step; the steps are {', '.join(names)}")
    steps = [
        StepSpec(
            s.name,
            s.kind,
            s.name in side.protected,
            s.file,
            s.source,
            s.line_offset,
            s.props,
            s.filter,
            s.ref,
        )
        for s in steps
    ]
    env: dict[str, str] = {}
    for name, value in (side.env if side.env is not None else SINGLE_STEP_ENV).items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        for placeholder in placeholders(text):
            if placeholder not in PLACEHOLDERS:
                where = side_doc.where(["env", name]) if side_doc else HALLSIM_FILE
                raise InputError(f"{where}: env.{name}: unknown placeholder {{{{{placeholder}}}}}")
        env[name] = text
    trigger_type = side.trigger or _trigger_type(doc, data.get("triggers"), warnings)
    title = data.get("name")
    return WorkflowSpec(
        path=folder,
        name=str(title) if title else folder.name,
        trigger_type=trigger_type,
        event=side.event if side.event is not None else {},
        context={},
        env=env,
        settings=hallsim_settings,
        steps=tuple(steps),
        format="sync",
        workflow_id=_read_state(folder, warnings),
        auth=dict(side.auth),
        data_stores=dict(side.data_stores),
        warnings=tuple(warnings),
    )
