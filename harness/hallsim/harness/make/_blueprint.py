"""Load a Make blueprint export into modules, routes, filters and error routes, and check its structure.

Shape (shared/reference/make.md "Blueprint JSON"): top level `name`, `flow`, `metadata` (`scenario` settings);
each module `id` (unique across the whole blueprint, routes and error routes included), `module` (`app:Name`),
`version`, `parameters`, `mapper`, `metadata`, optional `filter`, `routes` (routers), `onerror` (error route
ending in a directive). Also read: `builtin:BasicIfElse` `branches` and `builtin:BasicMerge` `outputs` (as in
the public integromat/make-blueprints pattern `if-else-merge`), an aggregator's `parameters.feeder` (its
source module, earlier in the same flow).

Two export shapes load: the editor's "Export blueprint" (`{name, flow, metadata}`) and the Make API's
`GET /scenarios/{id}/blueprint` answer, which wraps it: `{"code": "OK", "response": {"blueprint": {...},
"scheduling": {...}, "idSequence": N}}` (integromat/make-typescript-sdk). `metadata.designer.orphans`
holds modules the editor shows unconnected; Make never runs them, so neither does the replay (a note says
how many were left out)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hallsim.emulator.files import read_json
from hallsim.harness._errors import InputError
from hallsim.harness.make._filters import OPERATORS, Condition, Filter
from hallsim.harness.make._names import AGGREGATORS, DIRECTIVES, ROUTER, display_name, is_trigger
from hallsim.harness.make._template import ConstTemplate, Template, TemplateError, compile_value


@dataclass(frozen=True)
class Route:
    index: int  # 1-based, as the Make editor numbers routes
    flow: tuple[Module, ...]
    label: str | None
    fallback: bool


@dataclass(frozen=True)
class Branch:
    index: int
    kind: str  # condition | else
    label: str | None
    filter: Filter | None
    merge: bool
    flow: tuple[Module, ...]


@dataclass(frozen=True, eq=False)
class Module:
    id: int
    module: str
    version: int | None
    label: str
    where: str  # JSON path inside the blueprint, e.g. flow[2].routes[0].flow[0]
    parameters: dict[str, Any]
    raw_mapper: Any
    mapper: Template
    metadata: dict[str, Any]
    filter: Filter | None = None
    routes: tuple[Route, ...] = ()
    onerror: tuple[Module, ...] = ()
    branches: tuple[Branch, ...] = ()
    merge_outputs: tuple[tuple[str, tuple[Template, ...]], ...] = ()
    marked_protected: bool = False
    #: an aggregator's Group by (`parameters.groupBy`, or its mapper's), compiled
    group_by: Template | None = None

    @property
    def app(self) -> str:
        return self.module.split(":", 1)[0]


@dataclass(frozen=True)
class ScenarioSettings:
    """metadata.scenario (make.md "Blueprint JSON"): dlq = allow storing incomplete executions."""

    roundtrips: int = 1
    max_errors: int = 3
    auto_commit: bool = True
    dlq: bool = False
    sequential: bool = False


@dataclass
class LoadedBlueprint:
    path: Path
    name: str
    flow: tuple[Module, ...]
    scenario: ScenarioSettings
    modules: dict[int, Module] = field(default_factory=dict)
    trigger: Module | None = None
    #: source module id -> the id of the aggregator whose `parameters.feeder` it is
    aggregator_of: dict[int, int] = field(default_factory=dict)
    #: what loading noticed and left out (orphans, the API wrapper), for the run's notes
    notes: tuple[str, ...] = ()


class _Loader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.modules: dict[int, Module] = {}
        self.where_by_id: dict[int, str] = {}
        self.aggregator_of: dict[int, int] = {}

    def fail(self, message: str) -> InputError:
        return InputError(f"{self.path}: {message}")

    # -- modules
    def flow(self, items: Any, where: str, *, error_route: bool = False) -> tuple[Module, ...]:
        if not isinstance(items, list):
            raise self.fail(f"{where}: expected a list of modules, got {type(items).__name__}")
        if (
            error_route
            and len(items) == 1
            and isinstance(items[0], dict)
            and "flow" in items[0]
            and "id" not in items[0]
        ):
            items = items[0]["flow"]  # some exports wrap an error route as [{"flow": [...]}]
            where = f"{where}[0].flow"
        modules = tuple(self.module(item, f"{where}[{index}]") for index, item in enumerate(items))
        for index, module in enumerate(modules):
            if module.module in DIRECTIVES and not error_route:
                raise self.fail(
                    f"module {module.id}: {module.module} is an error-handler directive; it belongs at "
                    "the end of an `onerror` route"
                )
            if module.module in DIRECTIVES and index != len(modules) - 1:
                raise self.fail(f"module {module.id}: the directive {module.module} must end its error route")
            if module.module == ROUTER and index != len(modules) - 1:
                after = modules[index + 1].id
                raise self.fail(
                    f"module {module.id}: a router ends its flow; module {after} after it can never run "
                    "(put it inside a route)"
                )
        return modules

    def module(self, raw: Any, where: str) -> Module:
        if not isinstance(raw, dict):
            raise self.fail(f"{where}: expected a module object, got {type(raw).__name__}")
        module_id = raw.get("id")
        if isinstance(module_id, bool) or not isinstance(module_id, int) or module_id < 1:
            raise self.fail(f"{where}: `id` must be a whole number >= 1 (got {module_id!r})")
        if module_id in self.where_by_id:
            raise self.fail(
                f"module {module_id}: duplicate id (at {self.where_by_id[module_id]} and at "
                f"{where}); ids are unique "
                "across the whole blueprint, routes and error routes included"
            )
        self.where_by_id[module_id] = where
        name = raw.get("module")
        if not isinstance(name, str) or ":" not in name:
            raise self.fail(f"module {module_id}: `module` must be `app:Name` (got {name!r})")
        metadata: dict[str, Any] = _dict(raw.get("metadata"))
        parameters: dict[str, Any] = _dict(raw.get("parameters"))
        mapper_raw = raw.get("mapper")
        mapper = self.template(module_id, "mapper", mapper_raw)
        if name == "builtin:Break":
            self.check_break(module_id, mapper_raw)
        flt = self.filter(module_id, raw.get("filter")) if raw.get("filter") else None
        routes: tuple[Route, ...] = ()
        if name == ROUTER:
            routes = self.routes(module_id, raw.get("routes"), where)
        elif raw.get("routes"):
            raise self.fail(f"module {module_id}: only a router ({ROUTER}) has `routes`; {name} has them")
        onerror: tuple[Module, ...] = ()
        if raw.get("onerror"):
            onerror = self.flow(raw["onerror"], f"{where}.onerror", error_route=True)
        branches = self.branches(module_id, raw, where) if name == "builtin:BasicIfElse" else ()
        merge_outputs = self.merge_outputs(module_id, raw) if name == "builtin:BasicMerge" else ()
        group_by = None
        if name in AGGREGATORS:
            raw_group = parameters.get("groupBy")
            if raw_group in (None, "") and isinstance(mapper_raw, dict):
                raw_group = mapper_raw.get("groupBy")
            if isinstance(raw_group, str) and raw_group.strip():
                group_by = self.template(module_id, "groupBy", raw_group)
        designer = _dict(metadata.get("designer"))
        hallsim_meta = _dict(metadata.get("hallsim"))
        version = raw.get("version") if isinstance(raw.get("version"), int) else None
        module = Module(
            id=module_id,
            module=name,
            version=version,
            label=str(designer.get("name") or display_name(name)),
            where=where,
            parameters=parameters,
            raw_mapper=mapper_raw,
            mapper=mapper,
            metadata=metadata,
            filter=flt,
            routes=routes,
            onerror=onerror,
            branches=branches,
            merge_outputs=merge_outputs,
            marked_protected=hallsim_meta.get("protected") is True,
            group_by=group_by,
        )
        self.modules[module_id] = module
        return module

    def check_break(self, module_id: int, mapper: Any) -> None:
        """Break's retry settings (help.make.com "Break error handler": number of attempts, interval in
        minutes) must be numbers when the export holds them as constants."""
        for key, what in (("count", "a whole number of attempts"), ("interval", "a number of minutes")):
            value = mapper.get(key) if isinstance(mapper, dict) else None
            if value is None or value == "" or (isinstance(value, str) and "{{" in value):
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = -1.0
            if not math.isfinite(number) or isinstance(value, bool) or number < 0:
                number = -1.0
            if number < 0 or (key == "count" and number != int(number)):
                raise self.fail(
                    f"module {module_id}: builtin:Break mapper.{key} = {value!r}: expected {what}"
                )

    def template(self, module_id: int, field_name: str, value: Any) -> Template:
        try:
            return compile_value(value)
        except TemplateError as err:
            raise self.fail(f"module {module_id}: {field_name}: {err}") from None

    def routes(self, module_id: int, raw: Any, where: str) -> tuple[Route, ...]:
        if not isinstance(raw, list) or not raw:
            raise self.fail(
                f"module {module_id}: a router needs `routes`, a non-empty list of {{flow: [...]}}"
            )
        routes = []
        for index, route in enumerate(raw):
            if not isinstance(route, dict) or not isinstance(route.get("flow"), list) or not route["flow"]:
                raise self.fail(
                    f"module {module_id}: route {index + 1}: expected {{flow: [modules...]}} with at "
                    "least one module"
                )
            flow = self.flow(route["flow"], f"{where}.routes[{index}].flow")
            first = flow[0]
            label = first.filter.name if first.filter else None
            fallback = route.get("fallback") is True or bool(first.filter and first.filter.fallback)
            routes.append(Route(index + 1, flow, label, fallback))
        return tuple(routes)

    def branches(self, module_id: int, raw: dict[str, Any], where: str) -> tuple[Branch, ...]:
        items = raw.get("branches")
        if not isinstance(items, list) or not items:
            raise self.fail(f"module {module_id}: an if-else needs `branches`, a non-empty list")
        out = []
        for index, item in enumerate(items):
            if not isinstance(item, dict) or item.get("type") not in ("condition", "else"):
                raise self.fail(f"module {module_id}: branch {index + 1}: `type` must be condition or else")
            flt = None
            if item["type"] == "condition":
                flt = self.filter(
                    module_id, {"name": item.get("label"), "conditions": item.get("conditions")}
                )
            flow = self.flow(item.get("flow"), f"{where}.branches[{index}].flow")
            out.append(
                Branch(index + 1, item["type"], item.get("label"), flt, item.get("merge") is True, flow)
            )
        return tuple(out)

    def merge_outputs(
        self, module_id: int, raw: dict[str, Any]
    ) -> tuple[tuple[str, tuple[Template, ...]], ...]:
        outputs = raw.get("outputs")
        if not isinstance(outputs, list) or not outputs:
            raise self.fail(f"module {module_id}: a merge needs `outputs`, a list of {{name, mappings}}")
        result = []
        for index, output in enumerate(outputs):
            if not isinstance(output, dict) or not isinstance(output.get("name"), str):
                raise self.fail(f"module {module_id}: outputs[{index}]: expected {{name, mappings: [...]}}")
            mappings: list[Any] = output["mappings"] if isinstance(output.get("mappings"), list) else []
            result.append(
                (output["name"], tuple(self.template(module_id, f"outputs[{index}]", m) for m in mappings))
            )
        return tuple(result)

    def filter(self, module_id: int, raw: Any) -> Filter:
        if not isinstance(raw, dict):
            raise self.fail(f"module {module_id}: filter: expected {{name, conditions: [[{{a, o, b}}]]}}")
        conditions = raw.get("conditions")
        if conditions is None:
            conditions = []
        if not isinstance(conditions, list) or not all(isinstance(group, list) for group in conditions):
            raise self.fail(
                f"module {module_id}: filter `{raw.get('name')}`: `conditions` must be a list of lists "
                "(outer OR, inner AND)"
            )
        groups = []
        for g, group in enumerate(conditions):
            items = []
            for c, condition in enumerate(group):
                where = f"filter `{raw.get('name')}` condition [{g + 1}][{c + 1}]"
                if not isinstance(condition, dict) or "o" not in condition:
                    raise self.fail(f"module {module_id}: {where}: expected {{a, o, b}}")
                operator = condition["o"]
                if operator not in OPERATORS:
                    raise self.fail(
                        f"module {module_id}: {where}: unknown operator {operator!r}; Make's operators: "
                        + ", ".join(sorted(OPERATORS))
                    )
                a = self.template(module_id, where, condition.get("a"))
                b = (
                    None
                    if operator in ("exist", "notexist")
                    else self.template(module_id, where, condition.get("b"))
                )
                items.append(Condition(a, operator, b, condition.get("a"), condition.get("b")))
            groups.append(tuple(items))
        name = raw.get("name") if isinstance(raw.get("name"), str) else None
        return Filter(name, tuple(groups), raw.get("fallback") is True)

    # -- mapping references
    def check_refs(self, flow: tuple[Module, ...], available: frozenset[int]) -> frozenset[int]:
        seen = set(available)
        for index, module in enumerate(flow):
            if module.filter:
                for group in module.filter.groups:
                    for condition in group:
                        self.refs_ok(module, condition.a, seen, "filter")
                        if condition.b is not None:
                            self.refs_ok(module, condition.b, seen, "filter")
            self.refs_ok(module, module.mapper, seen, "mapper")
            if module.onerror:
                self.check_refs(module.onerror, frozenset(seen | {module.id}))
            if module.module in AGGREGATORS:
                self.check_feeder(module, flow[:index])
            if module.routes:
                for route in module.routes:
                    self.check_refs(route.flow, frozenset(seen | {module.id}))
            if module.branches:
                merged: set[int] = set()
                for branch in module.branches:
                    if branch.filter:
                        for group in branch.filter.groups:
                            for condition in group:
                                self.refs_ok(module, condition.a, seen, "branch filter")
                    inner = self.check_refs(branch.flow, frozenset(seen | {module.id}))
                    if branch.merge:
                        merged |= inner
                seen |= merged
            if module.merge_outputs:
                for _, mappings in module.merge_outputs:
                    for mapping in mappings:
                        self.refs_ok(module, mapping, seen, "merge output")
            seen.add(module.id)
        return frozenset(seen)

    def refs_ok(self, module: Module, template: Template, seen: set[int], field_name: str) -> None:
        if isinstance(template, ConstTemplate):
            return
        for ref, text in template.refs():
            expression = "{{" + text + "}}"
            if ref == module.id:
                raise self.fail(
                    f"module {module.id}: {field_name}: mapping `{expression}` refers to module "
                    f"{module.id} itself"
                )
            if ref not in self.where_by_id:
                ids = ", ".join(str(i) for i in sorted(self.where_by_id))
                raise self.fail(
                    f"module {module.id}: {field_name}: mapping `{expression}` refers to module {ref}, "
                    f"which does not exist (module ids: {ids})"
                )
            if ref not in seen:
                before = ", ".join(str(i) for i in sorted(seen)) or "none"
                raise self.fail(
                    f"module {module.id}: {field_name}: mapping `{expression}` refers to module {ref}, "
                    f"which has not run yet when module {module.id} runs (modules before it: {before})"
                )

    def check_feeder(self, module: Module, before: tuple[Module, ...]) -> None:
        """An aggregator's source (help.make.com "Aggregator": "Source module") is a module before it in
        the same flow: an iterator, a repeater, a search, the trigger, or any module whose bundles it
        collects."""
        feeder = module.parameters.get("feeder")
        source = next((m for m in before if m.id == feeder), None)
        if source is None:
            ids = ", ".join(str(m.id) for m in before) or "none"
            raise self.fail(
                f"module {module.id}: {module.module} parameters.feeder must name its source module, "
                f"earlier in the same flow (got {feeder!r}; modules before it: {ids})"
            )
        if source.id in self.aggregator_of:
            raise self.fail(
                f"module {module.id}: module {source.id} is already the source of aggregator "
                f"{self.aggregator_of[source.id]}"
            )
        self.aggregator_of[source.id] = module.id


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _scenario(metadata: Any) -> ScenarioSettings:
    raw = metadata.get("scenario") if isinstance(metadata, dict) else None
    if not isinstance(raw, dict):
        return ScenarioSettings()

    def number(key: str, default: int) -> int:
        value = raw.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    return ScenarioSettings(
        roundtrips=number("roundtrips", 1),
        max_errors=number("maxErrors", 3),
        auto_commit=raw.get("autoCommit", True) is not False,
        dlq=raw.get("dlq") is True,
        sequential=raw.get("sequential") is True,
    )


def _unwrap(document: Any) -> tuple[Any, list[str]]:
    """The blueprint inside a Make API answer ({"code": "OK", "response": {"blueprint": ...}})."""
    if not isinstance(document, dict) or "flow" in document:
        return document, []
    response = document.get("response")
    if isinstance(response, dict) and isinstance(response.get("blueprint"), dict):
        note = "the file is a Make API answer: its `response.blueprint` was replayed"
        if "scheduling" in response:
            note += " (its `response.scheduling` is not used: a replay runs once)"
        return response["blueprint"], [note]
    return document, []


def read_blueprint(path: Path) -> LoadedBlueprint:
    """Parse and check a blueprint export; every structural problem is an InputError naming the module id."""
    # read and parsed once, within hostile-file limits (depth, size, UTF-8, numbers, strings)
    document = read_json(path, error=InputError, what="blueprint")
    document, notes = _unwrap(document)
    if not isinstance(document, dict) or not isinstance(document.get("flow"), list):
        raise InputError(
            f"{path}: not a Make blueprint export: expected a top-level `flow` list (an editor export) or "
            '`response.blueprint.flow` (a Make API answer {"code": "OK", "response": {"blueprint": ...}})'
        )
    if not document["flow"]:
        raise InputError(f"{path}: `flow` is empty: a scenario needs at least one module")
    metadata = _dict(document.get("metadata"))
    orphans = _dict(metadata.get("designer")).get("orphans")
    if isinstance(orphans, list) and orphans:
        notes.append(
            f"metadata.designer.orphans holds {len(orphans)} unconnected module(s); Make does not run "
            "them, so they were left out"
        )
    loader = _Loader(path)
    flow = loader.flow(document["flow"], "flow")
    loader.check_refs(flow, frozenset())
    trigger = flow[0] if is_trigger(flow[0]) else None
    name = document["name"] if isinstance(document.get("name"), str) else path.stem
    return LoadedBlueprint(
        path,
        name,
        flow,
        _scenario(metadata),
        loader.modules,
        trigger,
        loader.aggregator_of,
        tuple(notes),
    )
