"""The Pipedream workflow file (YAML), validated; or a single .mjs file taken as a one-step workflow.

```yaml
name: pyhall gate, Option A          # optional
trigger:
  type: http                          # http | email | cron (sets the default execution timeout)
  event: {worker_id: wrk_pipedream_acme_prod, data_label: INTERNAL}
env:                                  # process.env of the steps; placeholders filled in for each run:
  PYHALL_HALL_URL: "{{hall.url}}"     #   {{hall.url}}  the Hall the run is aimed at
  HALL_SESSION_TOKEN: "{{hall.token}}"  # {{hall.token}} its token (the variable is unset when there is none)
  AUDIT_LOG_WEBHOOK_URL: "{{sink.url}}/audit"  # {{sink.url}} a local sink hallsim starts and records
settings: {timeout_s: 30}             # optional, see _settings.py
steps:
  - name: pyhall_gate
    code: pyhall_gate.mjs             # a code step; path relative to this file (or `source: |` inline)
  - name: gate
    action: pyhall_gate_component.mjs # a published action; `props:` values may be {{expressions}}
    props: {worker_id: "{{steps.trigger.event.worker_id}}"}
  - name: only_if_allowed
    filter: {rule_builder: {...}, registry: {...}}  # one or both kinds; setting filter_kind picks
  - name: write_record
    code: protected_write.mjs
    protected: true                   # the action the gate guards
```"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hallsim.emulator.files import YamlDocument, path_problem, read_text
from hallsim.harness._errors import InputError
from hallsim.harness.pipedream._registry import ActionRef
from hallsim.harness.problems import Problem, validation_problems
from hallsim.harness.stubs import StubError, Stubs, parse_stubs

PLACEHOLDERS = ("hall.url", "hall.token", "sink.url")
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_STEP_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"

#: components/filter/common/conditions.mjs in PipedreamHQ/pipedream (the registry Filter app)
RegistryCondition = Literal[
    "CONTAINS", "NOT_CONTAINS", "TEXT_EQUALS", "TEXT_NOT_EQUALS", "STARTS_WITH", "NOT_STARTS_WITH",
    "ENDS_WITH", "NOT_ENDS_WITH", "GREATER_THAN", "GREATER_THAN_EQUALS", "LESS_THAN", "LESS_THAN_EQUALS",
    "EQUALS", "TRUE", "FALSE", "IS_NULL", "NOT_NULL", "IN_ARRAY", "NOT_IN_ARRAY", "KEY_EXISTS",
    "KEY_NOT_EXISTS",
]  # fmt: skip
RuleOp = Literal[
    "exist", "!exist", "null", "!null", "str", "!str", "str ", "str! ", "str=", "str!=", "str^", "str/",
    "str!/", "str$", "num", "!num", "num=", "num!=", "num>", "num>=", "num<", "num<=", "true", "false",
    "bool", "!bool", "bool=",
]  # fmt: skip


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rule(_Strict):
    value: Any = None
    op: RuleOp
    to: Any = None
    match_case: bool = False


class RuleGroup(_Strict):
    match: Literal["all", "any"] = "all"
    rules: list[Union[Rule, RuleGroup]] = Field(min_length=1)  # noqa: UP007 (pydantic needs the name)


RuleGroup.model_rebuild()


class RuleBuilderFilter(RuleGroup):
    #: continue: the workflow goes on when the rules match; end: it ends when they match
    when_met: Literal["continue", "end"] = "continue"


class RegistryFilter(_Strict):
    #: "Continue execution if a condition Is met" or "End execution if a condition is met"
    action: Literal["continue", "end"] = "continue"
    condition: RegistryCondition
    value: Any = None
    compare_to: Any = None
    case_sensitive: bool = False
    message_on_continue: str | None = None
    message_on_end: str | None = None


class FilterModel(_Strict):
    rule_builder: RuleBuilderFilter | None = None
    registry: RegistryFilter | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> FilterModel:
        if self.rule_builder is None and self.registry is None:
            raise ValueError("give `rule_builder:` or `registry:` (or both; the setting filter_kind picks)")
        return self


class StepModel(_Strict):
    name: str = Field(pattern=_STEP_NAME)
    code: str | None = None
    source: str | None = None
    action: str | None = None
    filter: FilterModel | None = None
    props: dict[str, Any] = Field(default_factory=dict)
    protected: bool = False

    @model_validator(mode="after")
    def _one_kind(self) -> StepModel:
        given = [k for k in ("code", "source", "action", "filter") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "a step needs exactly one of `code: FILE.mjs`, `source: |` (inline code), `action: FILE.mjs` "
                f"or `filter:`; got {', '.join(given) or 'none'}"
            )
        if self.filter is not None and self.props:
            raise ValueError("a filter step takes no `props:`")
        return self


class TriggerModel(_Strict):
    type: Literal["http", "email", "cron"] = "http"
    event: Any = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)


class WorkflowModel(_Strict):
    name: str | None = None
    trigger: TriggerModel = Field(default_factory=TriggerModel)
    env: dict[str, Union[str, int, float, bool]] = Field(default_factory=dict)  # noqa: UP007
    settings: dict[str, Any] = Field(default_factory=dict)
    #: answers of the stub service for calls to anything but the Hall and the sink (hallsim.harness.stubs)
    stubs: Any = None
    steps: list[StepModel] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> WorkflowModel:
        seen: set[str] = set()
        for step in self.steps:
            if step.name == "trigger":
                raise ValueError("`trigger` is reserved for steps.trigger; name the step differently")
            if step.name in seen:
                raise ValueError(f"two steps are named {step.name!r}; step names must be unique")
            seen.add(step.name)
        return self


@dataclass(frozen=True)
class StepSpec:
    name: str
    kind: Literal["code", "action", "filter"]
    protected: bool = False
    file: Path | None = None
    source: str = ""
    #: for inline code: the YAML line before the code's first line (stack traces point into the YAML)
    line_offset: int = 0
    props: dict[str, Any] = field(default_factory=dict)
    filter: FilterModel | None = None
    #: a registry or private action named by key and version (a synced workflow's `uses:`), resolved for
    #: each run against the components copy the run's settings name
    ref: ActionRef | None = None


@dataclass(frozen=True)
class WorkflowSpec:
    path: Path
    name: str
    trigger_type: str
    event: Any
    context: dict[str, Any]
    env: dict[str, str]
    settings: dict[str, Any]
    steps: tuple[StepSpec, ...]
    #: "hallsim": hallsim's own YAML or one .mjs file; "sync": a GitHub-Sync workflow folder
    format: Literal["hallsim", "sync"] = "hallsim"
    #: the workflow's id (a synced folder's .workflow.state), shown as steps.trigger.context.workflow_id
    workflow_id: str | None = None
    #: connected accounts' local fake auth: authProvisionId -> what `this.<app>.$auth` holds
    auth: dict[str, Any] = field(default_factory=dict)
    #: data stores' initial contents: store id -> {key: value}
    data_stores: dict[str, Any] = field(default_factory=dict)
    #: what loading noticed but did not refuse (unknown keys of a synced workflow.yaml, ...)
    warnings: tuple[str, ...] = ()
    stubs: Stubs = field(default_factory=Stubs)

    @property
    def uses_sink(self) -> bool:
        return any("sink.url" in placeholders(value) for value in self.env.values())


def placeholders(text: str) -> list[str]:
    return _PLACEHOLDER.findall(text)


def _describe(err: ValidationError, doc: YamlDocument) -> list[Problem]:
    return validation_problems(
        err,
        where=doc.where,
        hints={
            "string_pattern_mismatch": "a step name is letters, digits and _ (like pyhall_gate); got {got}"
        },
        skip=lambda part: isinstance(part, str) and part in _UNION_TAGS,
        style="indexed",
        limit=5,
    )


_UNION_TAGS = {"Rule", "RuleGroup", "str", "int", "float", "bool"}


def _line_offset(doc: YamlDocument, index: int) -> int:
    node = doc.node
    for part in ("steps", index, "source"):
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next(
                (v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part), None
            )
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part]
        if child is None:
            return 0
        node = child
    if node is None:
        return 0
    start = int(node.start_mark.line)  # 0-based line of the value (the `|` of a block scalar)
    return start + 1 if getattr(node, "style", None) in ("|", ">") else start


def _read_step_file(doc: YamlDocument, index: int, key: str, relative: str) -> tuple[Path, str]:
    where = f"{doc.where(['steps', index, key])}: steps[{index}].{key}"
    problem = path_problem(relative)
    if problem is not None:
        raise InputError(f"{where}: {relative[:80]!r}: not a usable file name: {problem}")
    path = (doc.path.parent / relative).resolve()
    if not path.is_file():
        raise InputError(
            f"{where}: no such file {relative!r} (looked for {path}); paths are relative to the workflow file"
        )
    try:
        return path, read_text(path, error=InputError, what="step file")
    except InputError as err:
        raise InputError(f"{where}: {err}") from None


def load_workflow_file(path: Path) -> WorkflowSpec:
    doc = YamlDocument.read(path, error=InputError, what="workflow file")
    if not isinstance(doc.data, dict):
        raise InputError(
            f"{path}: expected a mapping with `steps:` (a Pipedream workflow); got {type(doc.data).__name__}"
        )
    try:
        model = WorkflowModel.model_validate(doc.data)
    except ValidationError as err:
        raise InputError(problems=_describe(err, doc)) from None
    env: dict[str, str] = {}
    for name, value in model.env.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        for placeholder in placeholders(text):
            if placeholder not in PLACEHOLDERS:
                raise InputError(
                    f"{doc.where(['env', name])}: env.{name}: unknown placeholder {{{{{placeholder}}}}}; "
                    f"expected one of {', '.join('{{' + p + '}}' for p in PLACEHOLDERS)}"
                )
        env[name] = text
    steps = []
    for index, step in enumerate(model.steps):
        if step.filter is not None:
            steps.append(StepSpec(step.name, "filter", step.protected, filter=step.filter))
        elif step.source is not None:
            offset = _line_offset(doc, index)
            steps.append(
                StepSpec(step.name, "code", step.protected, None, step.source, offset, dict(step.props))
            )
        else:
            key = "code" if step.code is not None else "action"
            file, source = _read_step_file(doc, index, key, str(step.code or step.action))
            kind: Literal["code", "action"] = "code" if key == "code" else "action"
            steps.append(StepSpec(step.name, kind, step.protected, file, source, 0, dict(step.props)))
    return WorkflowSpec(
        path=path,
        name=model.name or path.stem,
        trigger_type=model.trigger.type,
        event=model.trigger.event,
        context=dict(model.trigger.context),
        env=env,
        settings=dict(model.settings),
        steps=tuple(steps),
        stubs=_stubs(doc, model.stubs),
    )


def _stubs(doc: YamlDocument, value: Any) -> Stubs:
    try:
        return parse_stubs(value, "stubs")
    except StubError as err:
        raise InputError(f"{doc.where(['stubs'])}: {err}") from None


#: a single .mjs file gets the guide's environment variables (seed, Step 1 and Step 4)
SINGLE_STEP_ENV = {
    "PYHALL_HALL_URL": "{{hall.url}}",
    "HALL_SESSION_TOKEN": "{{hall.token}}",
    "AUDIT_LOG_WEBHOOK_URL": "{{sink.url}}/audit",
}


def load_step_file(path: Path) -> WorkflowSpec:
    """One .mjs file as a one-step workflow: a code step if it calls defineComponent, else an action."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read: {err}") from None
    is_action = "defineComponent(" not in source and re.search(r"type\s*:\s*['\"]action['\"]", source)
    name = re.sub(r"\W", "_", path.stem) or "step"
    if name[0].isdigit():
        name = f"_{name}"
    kind: Literal["code", "action"] = "action" if is_action else "code"
    return WorkflowSpec(
        path=path,
        name=path.stem,
        trigger_type="http",
        event={},
        context={},
        env=dict(SINGLE_STEP_ENV),
        settings={},
        steps=(StepSpec(name, kind, False, path.resolve(), source),),
    )


def fill_placeholders(text: str, values: dict[str, str | None]) -> str | None:
    """Replace {{hall.url}} etc.; None when the text is exactly a placeholder whose value is None (unset)."""
    whole = _PLACEHOLDER.fullmatch(text.strip())
    if whole and values.get(whole[1]) is None:
        return None
    return _PLACEHOLDER.sub(lambda m: values.get(m[1]) or "", text)
