"""How much of a scenario a replay's verdict covers: which modules ran with Make's semantics (emulated),
which are third-party actions the replay only records (their output is what the run sets), and which are
modules of Make's own apps that hallsim does not know -- those run as recorded actions too, and the run says
so loudly (setting make.unknown_builtin=error refuses them instead)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hallsim.harness.make._actions import BUILT_IN, WEBHOOK_RESPOND
from hallsim.harness.make._names import AGGREGATORS, BUILT_IN_APPS, FEEDER, FREE

if TYPE_CHECKING:
    from hallsim.harness.make._blueprint import LoadedBlueprint, Module

EMULATED = "emulated"
RECORDED = "recorded"
UNKNOWN = "unknown"


def classify(module: Module, *, trigger: bool) -> str:
    name = module.module
    app = module.app
    if trigger:
        # the run's event is the trigger's output; Make's own webhooks do nothing more
        return EMULATED if app == "gateway" else RECORDED
    if name in BUILT_IN or name in FREE or name in AGGREGATORS or name in (FEEDER, WEBHOOK_RESPOND):
        return EMULATED
    return UNKNOWN if app in BUILT_IN_APPS else RECORDED


@dataclass(frozen=True)
class ModuleCoverage:
    id: int
    module: str
    label: str
    how: str  # emulated | recorded | unknown
    executions: int
    output: Any = None  # a recorded module's last output

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "module": self.module,
            "label": self.label,
            "how": self.how,
            "executions": self.executions,
        }
        if self.how != EMULATED and self.executions:
            out["output"] = self.output
        return out


@dataclass(frozen=True)
class Coverage:
    modules: tuple[ModuleCoverage, ...]

    def of(self, how: str) -> tuple[ModuleCoverage, ...]:
        return tuple(m for m in self.modules if m.how == how)

    def line(self) -> str:
        emulated, recorded, unknown = self.of(EMULATED), self.of(RECORDED), self.of(UNKNOWN)
        ran = sum(1 for m in emulated if m.executions)
        parts = [f"{len(emulated)} of {len(self.modules)} modules emulated ({ran} ran)"]
        parts.append(
            f"{len(recorded)} recorded" + (": " + ", ".join(_short(m) for m in recorded) if recorded else "")
        )
        parts.append(
            f"{len(unknown)} unknown to hallsim"
            + (": " + ", ".join(_short(m) for m in unknown) if unknown else "")
        )
        return "Coverage: " + "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line(),
            "emulated": [m.id for m in self.of(EMULATED)],
            "recorded": [m.to_dict() for m in self.of(RECORDED)],
            "unknown": [m.to_dict() for m in self.of(UNKNOWN)],
            "modules": [m.to_dict() for m in self.modules],
        }


def _short(module: ModuleCoverage) -> str:
    if not module.executions:
        return f"[{module.id}] {module.module} (did not run)"
    output = json.dumps(module.output if module.output is not None else {}, default=str, ensure_ascii=False)
    return f"[{module.id}] {module.module} → {output if len(output) <= 60 else output[:57] + '...'}"


def unknown_modules(blueprint: LoadedBlueprint) -> list[Module]:
    return [
        module
        for module in blueprint.modules.values()
        if classify(module, trigger=module is blueprint.trigger) == UNKNOWN
    ]


def coverage(blueprint: LoadedBlueprint, executions: dict[int, list[dict[str, Any]]]) -> Coverage:
    out = []
    for module_id, module in sorted(blueprint.modules.items()):
        runs = executions.get(module_id, [])
        last = runs[-1] if runs else {}
        out.append(
            ModuleCoverage(
                module_id,
                module.module,
                module.label,
                classify(module, trigger=module is blueprint.trigger),
                len(runs),
                last.get("output", last.get("error")),
            )
        )
    return Coverage(tuple(out))
