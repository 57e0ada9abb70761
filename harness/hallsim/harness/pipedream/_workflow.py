"""A loaded Pipedream workflow and its `run()`: settings, environment, sink, Node host, Hall journal."""

from __future__ import annotations

import copy
import dataclasses
import functools
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from hallsim.harness._errors import InputError
from hallsim.harness.egress import EgressRule, Walls
from hallsim.harness.node import find_node
from hallsim.harness.pipedream._host import host_for
from hallsim.harness.pipedream._locate import locate_syntax_error
from hallsim.harness.pipedream._model import PLACEHOLDERS, WorkflowSpec, fill_placeholders, placeholders
from hallsim.harness.pipedream._platform import find_platform
from hallsim.harness.pipedream._registry import resolve_action
from hallsim.harness.pipedream._run import PipedreamRun, StepResult, StepStatus
from hallsim.harness.pipedream._settings import RunSettings, resolve_settings
from hallsim.harness.pipedream._sink import shared_sink
from hallsim.harness.stubs import StubCall, StubRun, Stubs
from hallsim.harness.workflow import HallEndpoint

#: wall seconds allowed, beyond the execution timeout, before the Node host itself is declared stuck
#: (it covers starting Node and a first worker on a slow, busy machine)
HOST_MARGIN_S = 20.0


def _context(spec: WorkflowSpec) -> dict[str, Any]:
    """steps.trigger.context (pipedream.md "The steps object"): made up here, overridable in the file."""
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    made_up = {
        "id": uuid.uuid4().hex[:27],
        "ts": now,
        "workflow_id": spec.workflow_id or "p_hallsim",
        "workflow_name": spec.name,
        "deployment_id": "d_hallsim",
        "source_type": "COMPONENT",
        "verified": False,
        "trace_id": uuid.uuid4().hex[:27],
        "platform_version": "hallsim",
    }
    return {**made_up, **spec.context}


def _event(spec: WorkflowSpec, event: Any) -> Any:
    chosen = spec.event if event is None else event
    # pipedream.md "The steps object": HTTP trigger header names are lower case
    if spec.trigger_type == "http" and isinstance(chosen, dict) and isinstance(chosen.get("headers"), dict):
        chosen = {**chosen, "headers": {str(k).lower(): v for k, v in chosen["headers"].items()}}
    return chosen


@dataclass(frozen=True)
class PipedreamWorkflow:
    spec: WorkflowSpec
    platform: Literal["pipedream"] = "pipedream"

    @property
    def path(self) -> Path:
        return self.spec.path

    @property
    def protected(self) -> tuple[str, ...]:
        return tuple(step.name for step in self.spec.steps if step.protected)

    @property
    def units(self) -> tuple[str, ...]:
        return tuple(step.name for step in self.spec.steps)

    def settings_for(self, settings: Mapping[str, Any] | None = None) -> RunSettings:
        where = f"{self.path / '.hallsim.yaml'}" if self.spec.format == "sync" else str(self.path)
        return resolve_settings([(f"{where}: settings", self.spec.settings), ("run settings", settings)])

    def _env(self, values: dict[str, str | None], variables: Mapping[str, str] | None) -> dict[str, str]:
        env: dict[str, str] = {}
        merged = {**self.spec.env, **{str(k): str(v) for k, v in (variables or {}).items()}}
        for name, text in merged.items():
            if name not in self.spec.env:
                for placeholder in placeholders(text):
                    if placeholder not in PLACEHOLDERS:
                        raise InputError(f"variable {name}: unknown placeholder {{{{{placeholder}}}}}")
            filled = fill_placeholders(text, values)
            if filled is not None:
                env[name] = filled
        return env

    @functools.cached_property
    def _resolved(self) -> str:
        return str(self.path.resolve())

    def _step_json(
        self, step: Any, settings: RunSettings, warnings: list[str], actions: dict[str, str]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"name": step.name, "kind": step.kind, "workflow": self._resolved}
        if step.ref is not None:
            # a registry action: found again with this run's components setting
            resolved = resolve_action(
                step.ref,
                components=settings.components,
                project=self.path.parent,
                where=f"{self.path}: {step.name}",
            )
            warnings.extend(w for w in resolved.warnings if w not in warnings)
            origin = "hallsim's built-in" if resolved.source == "builtin" else str(resolved.file)
            actions[step.name] = f"{step.ref.text} from {origin} (version {resolved.version or '?'})"
            out.update(
                file=str(resolved.file),
                source=resolved.file.read_text(encoding="utf-8"),
                line_offset=0,
                props=step.props,
                action={"uses": step.ref.text, "source": resolved.source, "version": resolved.version},
            )
            return out
        if step.kind == "filter":
            chosen = settings.filter_kind
            variant = getattr(step.filter, chosen)
            if variant is None:  # the step gives only the other kind
                chosen = "registry" if chosen == "rule_builder" else "rule_builder"
                variant = getattr(step.filter, chosen)
            config = variant.model_dump()
            for key in ("message_on_continue", "message_on_end"):
                if config.get(key) is None:
                    config.pop(key, None)
            out["filter"] = {"kind": chosen, **config}
            return out
        out.update(
            file=str(step.file) if step.file else None,
            source=step.source,
            line_offset=step.line_offset,
            props=step.props,
        )
        return out

    def run(
        self,
        hall: HallEndpoint,
        *,
        event: Any = None,
        variables: Mapping[str, str] | None = None,
        settings: Mapping[str, Any] | None = None,
        stubs: Stubs | None = None,
    ) -> PipedreamRun:
        """Run the workflow once against `hall`; returns what happened, step by step. Calls to anything but
        the Hall and the sink are answered by a stub service: by `stubs` (rules first), then the file's."""
        cfg = self.settings_for(settings)
        node = find_node(cfg.node)
        sink = None
        run_id = 0
        sink_url = cfg.sink_url
        if sink_url is None and self.spec.uses_sink:
            sink = shared_sink()
            run_id, sink_url = sink.open_run()
        env = self._env({"hall.url": hall.url, "hall.token": hall.token, "sink.url": sink_url}, variables)
        # hallsim.harness.egress: steps reach the run's own Hall and sink (and egress_allow), nothing else;
        # every other call is answered by the run's stub service
        rule = EgressRule.for_run([(hall.url, "hall url"), (sink_url, "setting sink_url")], cfg.egress_allow)
        timeout_s = cfg.timeout(self.spec.trigger_type)
        warnings = list(self.spec.warnings)
        platform = find_platform(self.path, cfg.platform_package)
        actions: dict[str, str] = {}
        spec: dict[str, Any] = {
            "steps": [self._step_json(step, cfg, warnings, actions) for step in self.spec.steps],
            "auth": self.spec.auth,
            "data_stores": self.spec.data_stores,
            "platform_module": str(platform.entry) if platform.entry else None,
            "trigger": {"event": _event(self.spec, event), "context": _context(self.spec)},
            "env": env,
            "settings": {
                "time_scale": cfg.time_scale,
                "timeout_ms": timeout_s * 1000,
                "action_env": cfg.action_env,
                "export_undefined": cfg.export_undefined,
                "unserialisable_export": cfg.unserialisable_export,
                "apply_prop_defaults": cfg.apply_prop_defaults,
                "check_prop_options": cfg.check_prop_options,
                "scale_timers": cfg.scale_timers,
                "suspend_outcome": cfg.suspend_outcome,
            },
        }
        emulator = hall.emulator
        seq = 0
        if emulator is not None:
            emulator.time_scale = cfg.time_scale
            seq = emulator.next_seq
        stub = StubRun(self.spec.stubs.merged(stubs), time_scale=cfg.time_scale)
        spec["egress"] = rule.to_node(stub)
        started = time.perf_counter()
        try:
            result = host_for(node).run(spec, wall_timeout=timeout_s * cfg.time_scale + HOST_MARGIN_S)
        finally:
            sink_requests = sink.close_run(run_id) if sink is not None else []
            stub_calls = stub.close()
        wall_ms = (time.perf_counter() - started) * 1000
        for raw in result["steps"]:
            if isinstance(raw.get("error"), dict) and "syntax" in raw["error"]:
                locate_syntax_error(node.path, raw["error"])
        hall_requests = (
            [copy.copy(entry) for entry in emulator.journal_since(seq)] if emulator is not None else []
        )
        return PipedreamRun(
            workflow=self.path,
            outcome=result["outcome"],
            steps=tuple(
                self._step_result(step, raw)
                for step, raw in zip(self.spec.steps, result["steps"], strict=True)
            ),
            hall_url=hall.url,
            hall_requests=hall_requests,
            sink_requests=sink_requests,
            sink_url=sink_url,
            settings=cfg.shown(self.spec.trigger_type),
            node={
                "path": str(node.path),
                "version": node.version_text,
                "source": node.source,
                "platform": platform.label,
                # one line per registry action step: which file ran it
                **({"actions": "\n".join(f"{k}: {v}" for k, v in actions.items())} if actions else {}),
            }
            | ({"note": node.note} if node.note else {}),
            event=spec["trigger"]["event"],
            wall_ms=result.get("wall_ms") or wall_ms,
            modelled_ms=result.get("modelled_ms") or wall_ms / cfg.time_scale,
            warnings=(*warnings, *(result.get("warnings") or ())),
            http=tuple(result.get("http") or ()),
            output=result.get("output") or "",
            journaled=emulator is not None,
            worker=dict(result.get("worker") or {}),
            stub_calls=_attributed(stub_calls, result),
            stubs=self.spec.stubs.merged(stubs),
            egress=rule,
            walls=Walls("node"),
        )

    @staticmethod
    def _step_result(step: Any, raw: dict[str, Any]) -> StepResult:
        # a step the host still saw running when the run ended (the time limit struck it) reads as an error
        status: StepStatus = raw["status"] if raw["status"] != "running" else "error"
        return StepResult(
            name=step.name,
            kind=step.kind,
            protected=step.protected,
            status=status,
            exports=raw["exports"],
            return_value=raw["return_value"],
            has_return_value=raw["has_return_value"],
            error=raw["error"],
            exit_reason=raw["exit_reason"],
            attempts=raw["attempts"],
            logs=tuple(raw["logs"]),
            http=tuple(raw["http"]),
            flow=tuple(raw["flow"]),
            warnings=tuple(raw["warnings"]),
            wall_ms=raw["wall_ms"],
            modelled_ms=raw["modelled_ms"],
        )


def _attributed(calls: tuple[StubCall, ...], result: dict[str, Any]) -> tuple[StubCall, ...]:
    """Each stub call with the step whose connection made it (the guard records each connection's port)."""
    by_port: dict[int, str] = {}
    for step in result["steps"]:
        for entry in step["http"]:
            if entry.get("stubbed") and entry.get("local_port"):
                by_port[int(entry["local_port"])] = step["name"]
    return tuple(dataclasses.replace(call, unit=by_port.get(call.peer_port)) for call in calls)
