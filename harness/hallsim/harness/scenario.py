"""The scenario file: one workflow, its trigger event(s), what the Hall does, and what must happen.

A scenario is a YAML file named `*.scenario.yaml` (or `.yml`); that suffix is what `pytest` and `hallsim run`
collect, so other YAML (workflows, Hall scripts) next to it is left alone. Paths inside it are relative to the
scenario file. The format is documented in docs/scenarios.md."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hallsim.emulator.files import YamlDocument, parse_json, read_text
from hallsim.harness._errors import InputError
from hallsim.harness.matchers import matcher_problem
from hallsim.harness.problems import Problem, validation_problems
from hallsim.harness.record import DEFAULT_TIME_SCALE
from hallsim.harness.stubs import StubError, Stubs, parse_stubs
from hallsim.harness.workflow import Platform, detect_platform

#: the file names scenario collection picks up
SCENARIO_SUFFIXES = (".scenario.yaml", ".scenario.yml")

StepStatus = Literal["success", "exited", "error", "timeout", "not_run"]
#: pipedream.md: a Pipedream run ends completed, exited, errored or timed_out
PIPEDREAM_OUTCOMES = ("completed", "exited", "errored", "timed_out")
#: make.md "Error handlers": a Make run's status is success, warning or error
MAKE_OUTCOMES = ("success", "warning", "error")


class ScenarioError(InputError):
    """A scenario file that cannot be used: names the file, line, field and what was expected."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class HallSpec(_Model):
    """What the emulator does during the run: one behaviour, a script file, or inline rules."""

    #: a behaviour spec (`deny:reason`) or its mapping form (`{behaviour: deny, reason: ...}`)
    behaviour: str | dict[str, Any] | None = None
    script: str | None = None
    rules: list[dict[str, Any]] | None = None
    default: str | dict[str, Any] | None = None
    #: the token the workflow sends; by default one the emulator accepts
    token: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `hall: deny` is short for `hall: {behaviour: deny}`
        return {"behaviour": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_source(self) -> HallSpec:
        given = [name for name in ("behaviour", "script", "rules") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                "expected exactly one of `behaviour`, `script` or `rules`"
                + (f"; got {', '.join(given)}" if given else "")
            )
        if self.default is not None and self.rules is None:
            raise ValueError("`default` goes with `rules` (the behaviour for requests no rule matches)")
        return self


class EventsSpec(_Model):
    """Generated trigger events (faker): `count` events from `seed`; the same seed gives the same events."""

    count: int = Field(ge=1, le=10_000)
    seed: int = 0


class StepExpect(_Model):
    status: StepStatus | None = None
    exports: dict[str, Any] | None = None
    return_value: Any = None
    exit_reason: Any = None
    error: Any = None


class ModuleExpect(_Model):
    executed: bool | None = None
    output: Any = None
    error: Any = None


class HallCallsExpect(_Model):
    count: int | None = Field(default=None, ge=0)
    #: every request body must match these fields
    with_: dict[str, Any] | None = Field(default=None, alias="with")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `hall_calls: 1` is short for `hall_calls: {count: 1}`
        return {"count": value} if isinstance(value, int) and not isinstance(value, bool) else value


class AuditExpect(_Model):
    #: how many audit records the run wrote
    count: int | None = Field(default=None, ge=0)
    #: each record's decision_id and artifact_hash equal what the emulator issued in this run
    matches_decision: bool = False
    #: each record must match these fields
    fields: dict[str, Any] | None = None
    #: Make: the ids of the modules that write the audit record (default: every recorded action whose row
    #: carries a decision_id). Pipedream: records are what the local audit sink received.
    modules: list[int] | None = None
    #: Make: names for a spreadsheet row's columns, in order (default: the guide's Step 4 columns)
    columns: list[str] | None = None


class Expectations(_Model):
    outcome: list[str] | None = None
    #: Make's word for the outcome; same check
    status: list[str] | None = None
    protected_ran: bool | None = None
    steps: dict[str, StepExpect] | None = None
    modules: dict[str, ModuleExpect] | None = None
    #: routes taken, one list of route labels per bundle
    routes: list[list[str]] | None = None
    hall_calls: HallCallsExpect | None = None
    audit: AuditExpect | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        value = dict(value)
        for key in ("outcome", "status"):
            if isinstance(value.get(key), str):
                value[key] = [value[key]]
        routes = value.get("routes")
        if isinstance(routes, list) and routes and all(isinstance(r, str) for r in routes):
            value["routes"] = [routes]  # one bundle: `routes: [Allowed]`
        if isinstance(value.get("modules"), dict):
            value["modules"] = {str(k): v for k, v in value["modules"].items()}
        return value


class ScenarioFile(_Model):
    name: str | None = None
    description: str | None = None
    workflow: str
    event: Any = None
    event_file: str | None = None
    events: EventsSpec | None = None
    hall: HallSpec
    time_scale: float = Field(default=DEFAULT_TIME_SCALE, gt=0, le=1)
    settings: dict[str, Any] = Field(default_factory=dict)
    variables: dict[str, str] = Field(default_factory=dict)
    #: answers of the stub service for the run's calls to anything but the Hall (hallsim.harness.stubs)
    stubs: Any = None
    expect: Expectations
    #: the scenario records a fail-open run on purpose (today's documented behaviour); needs a `note`
    pins_fail_open: bool = False
    note: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _lenient_numbers(cls, value: Any) -> Any:
        # strict mode would refuse `time_scale: 1`
        if isinstance(value, dict) and isinstance(value.get("time_scale"), int):
            value = {**value, "time_scale": float(value["time_scale"])}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ScenarioFile:
        given = [n for n in ("event", "event_file", "events") if getattr(self, n) is not None]
        if len(given) > 1:
            raise ValueError(
                f"expected at most one of `event`, `event_file` or `events`; got {', '.join(given)}"
            )
        if self.pins_fail_open and not (self.note and self.note.strip()):
            raise ValueError("`pins_fail_open: true` needs a `note:` saying why this fail-open run is pinned")
        return self


@dataclass(frozen=True)
class Scenario:
    """A loaded, validated scenario with its paths resolved."""

    path: Path
    name: str
    description: str | None
    workflow: Path
    platform: Platform
    #: the trigger events, one run each; `(None,)` runs once with the workflow's own sample event
    events: tuple[Any, ...]
    #: what each event stands for: "inline event", an event file, or a generated case ("event 3 (normal)")
    event_labels: tuple[str, ...]
    #: set when `events` were generated (the CLI can override them)
    generated: EventsSpec | None
    hall: HallSpec
    time_scale: float
    settings: dict[str, Any]
    variables: dict[str, str]
    expect: Expectations
    pins_fail_open: bool
    note: str | None
    stubs: Stubs = field(default_factory=Stubs)

    @property
    def hall_script(self) -> Path | None:
        return (self.path.parent / self.hall.script) if self.hall.script else None

    def with_generated_events(self, count: int, seed: int) -> Scenario:
        """The same scenario over `count` faker events from `seed` instead of its own event(s)."""
        from dataclasses import replace

        from hallsim.harness.events import generate_cases

        cases = generate_cases(count, seed, platform=self.platform)
        return replace(
            self,
            events=tuple(c.event for c in cases),
            event_labels=tuple(f"event {i + 1} ({c.case})" for i, c in enumerate(cases)),
            generated=EventsSpec(count=count, seed=seed),
        )


def is_scenario_file(path: Path) -> bool:
    return path.name.endswith(SCENARIO_SUFFIXES)


def find_scenarios(paths: Iterable[Path | str]) -> list[Path]:
    """Scenario files under the given files and folders, sorted; a file given by name is taken as is."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and is_scenario_file(p)))
        elif path.is_file():
            found.append(path)
        else:
            raise ScenarioError(f"{path}: no such file or folder")
    return found


def load_scenario(path: Path | str) -> Scenario:
    """Read and validate a scenario file; every mistake is a ScenarioError naming file, line and field."""
    path = Path(path)
    doc = YamlDocument.read(path, error=ScenarioError, what="scenario file")
    if not isinstance(doc.data, dict):
        raise ScenarioError(
            f"{doc.where(())}: expected a mapping with at least `workflow`, `hall` and `expect`"
        )
    try:
        model = ScenarioFile.model_validate(doc.data)
    except ValidationError as err:
        raise ScenarioError(problems=_describe(err, doc)) from None
    _check_matchers(doc, model)

    workflow = path.parent / model.workflow
    try:
        platform = detect_platform(workflow)
    except InputError as err:
        raise ScenarioError(
            f"{doc.where(('workflow',))}: workflow: {err} (paths are relative to the scenario file)"
        ) from None
    _check_platform_fields(doc, model.expect, platform)
    _check_hall(doc, model.hall, path.parent)

    events: tuple[Any, ...] = (model.event,)
    labels: tuple[str, ...] = ("inline event" if model.event is not None else "the workflow's sample event",)
    if model.event_file is not None:
        events, labels = (_read_event_file(doc, path.parent / model.event_file),), (model.event_file,)
    scenario = Scenario(
        path=path,
        name=model.name or path.name.split(".scenario.")[0],
        description=model.description,
        workflow=workflow,
        platform=platform,
        events=events,
        event_labels=labels,
        generated=None,
        hall=model.hall,
        time_scale=model.time_scale,
        settings=dict(model.settings),
        variables=dict(model.variables),
        expect=model.expect,
        pins_fail_open=model.pins_fail_open,
        note=model.note,
        stubs=_stubs(doc, model.stubs),
    )
    if model.events is not None:
        scenario = scenario.with_generated_events(model.events.count, model.events.seed)
    return scenario


def _stubs(doc: YamlDocument, value: Any) -> Stubs:
    try:
        return parse_stubs(value, "stubs")
    except StubError as err:
        raise ScenarioError(f"{doc.where(('stubs',))}: {err}") from None


def behaviour_problem(spec: str | dict[str, Any]) -> str | None:
    """Why the emulator would refuse this behaviour name, or None when it is fine."""
    from hallsim.emulator import EmulatorError, parse_behaviour

    try:
        parse_behaviour(spec)
    except EmulatorError as err:
        return str(err)
    return None


def _check_hall(doc: YamlDocument, hall: HallSpec, base: Path) -> None:
    """Refuse what the emulator would refuse at run time, here, with the scenario's file and line."""
    from hallsim.emulator import EmulatorError, load_script, parse_rule

    if hall.script is not None:
        script = base / hall.script
        if not script.is_file():
            raise ScenarioError(
                f"{doc.where(('hall', 'script'))}: hall.script: {script}: no such file "
                "(paths are relative to the scenario file)"
            )
        try:
            load_script(script)
        except EmulatorError as err:
            raise ScenarioError(f"{doc.where(('hall', 'script'))}: hall.script: {err}") from None
    for key in ("behaviour", "default"):
        problem = behaviour_problem(getattr(hall, key)) if getattr(hall, key) is not None else None
        if problem:
            raise ScenarioError(f"{doc.where(('hall', key))}: hall.{key}: {problem}")
    for index, rule in enumerate(hall.rules or ()):
        try:
            parse_rule(rule, f"hall.rules[{index}]")
        except EmulatorError as err:
            raise ScenarioError(f"{doc.where(('hall', 'rules', index))}: {err}") from None


def _read_event_file(doc: YamlDocument, event_path: Path) -> Any:
    where = doc.where(("event_file",))
    try:
        text = read_text(event_path, error=ScenarioError, what="event file")
    except ScenarioError as err:
        if not str(err).endswith("no such event file"):
            raise ScenarioError(f"{where}: event_file: {err}") from None
        raise ScenarioError(
            f"{where}: event_file: {event_path}: no such file (paths are relative to the scenario file)"
        ) from None
    if event_path.suffix == ".json":
        return parse_json(event_path, text, error=ScenarioError, what="event file")
    return YamlDocument(event_path, text, error=ScenarioError).data


def _check_platform_fields(doc: YamlDocument, expect: Expectations, platform: Platform) -> None:
    allowed = PIPEDREAM_OUTCOMES if platform == "pipedream" else MAKE_OUTCOMES
    for key in ("outcome", "status"):
        for value in getattr(expect, key) or ():
            if value not in allowed:
                raise ScenarioError(
                    f"{doc.where(('expect', key))}: expect.{key}: expected one of {', '.join(allowed)} for a "
                    f"{platform} workflow; got {value!r}"
                )
    wrong = ("modules", "routes", "status") if platform == "pipedream" else ("steps",)
    for key in wrong:
        if getattr(expect, key) is not None:
            other = "Make blueprints" if platform == "pipedream" else "Pipedream workflows"
            raise ScenarioError(
                f"{doc.where(('expect', key))}: expect.{key}: only for {other}; this workflow is {platform}"
            )


def _check_matchers(doc: YamlDocument, model: ScenarioFile) -> None:
    expect = doc.data.get("expect") or {}

    def walk(value: Any, loc: tuple[str | int, ...]) -> None:
        problem = matcher_problem(value)
        if problem:
            raise ScenarioError(f"{doc.where(loc)}: {'.'.join(map(str, loc))}: {problem}")
        if isinstance(value, dict) and not any(str(k).startswith("$") for k in value):
            for key, item in value.items():
                walk(item, (*loc, str(key)))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, (*loc, index))

    if isinstance(expect, dict):
        walk(expect, ("expect",))


def _describe(err: ValidationError, doc: YamlDocument) -> list[Problem]:
    return validation_problems(
        err,
        where=doc.where,
        known_fields=lambda loc: _known_fields(ScenarioFile, loc),
        # pydantic names union members in the location (`function-after[...]`, `list[...]`)
        skip=lambda part: isinstance(part, str) and "[" in part,
    )


def _known_fields(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """Field names of the model found at `loc` inside `model`, walking dicts and lists."""
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part)) or next(
                (f for f in current.model_fields.values() if f.alias == part), None
            )
            if field is None:
                return []
            current = _unwrap(field.annotation)
        elif get_origin(current) in (dict, list):
            current = _unwrap(get_args(current)[-1])
        else:
            return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) not in (dict, list) and len(args) == 1:
        return _unwrap(args[0])
    return annotation
