"""A workflow as a small diagram: Pipedream steps in a row, Make modules with a lane per router route (and per
error handler), and the path one run took through it, drawn as inline SVG (no script, no fetch)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hallsim.harness.record import RunRecord
    from hallsim.harness.workflow import Workflow


@dataclass(frozen=True)
class Lane:
    """A router's route, or a module's error handler route: its own row of nodes."""

    key: str
    label: str
    nodes: tuple[Node, ...]


@dataclass(frozen=True)
class Node:
    """A step (Pipedream) or a module (Make)."""

    key: str
    label: str
    detail: str = ""
    protected: bool = False
    lanes: tuple[Lane, ...] = ()
    #: error handler routes, drawn under the module
    handlers: tuple[Lane, ...] = ()


@dataclass(frozen=True)
class Shape:
    platform: str
    nodes: tuple[Node, ...]


@dataclass(frozen=True)
class PathTaken:
    """Which nodes ran and which lanes were taken in one run; `stopped` is where the run ended early."""

    ran: frozenset[str] = frozenset()
    lanes: frozenset[str] = frozenset()
    stopped: str | None = None


def shape_of(workflow: Workflow) -> Shape:
    from hallsim.harness.make import MakeBlueprint
    from hallsim.harness.pipedream import PipedreamWorkflow

    if isinstance(workflow, MakeBlueprint):
        return Shape("make", _make_nodes(workflow.loaded.flow))
    if isinstance(workflow, PipedreamWorkflow):
        steps = tuple(
            Node(f"step:{step.name}", step.name, step.kind, step.protected) for step in workflow.spec.steps
        )
        return Shape("pipedream", (Node("step:trigger", "trigger", "event"), *steps))
    return Shape(workflow.platform, tuple(Node(f"unit:{u}", u) for u in workflow.units))


def _make_nodes(flow: Iterable[Any]) -> tuple[Node, ...]:
    nodes = []
    for module in flow:
        lanes = tuple(
            Lane(
                f"route:{module.id}:{route.index}",
                route.label or f"route {route.index}" + (" (fallback)" if route.fallback else ""),
                _make_nodes(route.flow),
            )
            for route in module.routes
        )
        handlers: tuple[Lane, ...] = ()
        if module.onerror:
            handlers = (Lane(f"onerror:{module.id}", "error handler", _make_nodes(module.onerror)),)
        nodes.append(
            Node(
                f"module:{module.id}",
                f"[{module.id}] {module.label}",
                module.module,
                module.marked_protected,
                lanes,
                handlers,
            )
        )
    return tuple(nodes)


def path_of(record: RunRecord | None) -> PathTaken:
    """The path a run took, read from its typed record."""
    if record is None:
        return PathTaken()
    prefix = "module" if record.platform == "make" else "step"
    ran = {f"{prefix}:{unit.name}" for unit in record.units if unit.ran}
    lanes = {f"route:{d.router}:{d.route}" for d in record.route_decisions() if d.taken}
    stopped = None
    if record.platform != "make":
        ran.add("step:trigger")
        stopped = next(
            (f"step:{u.name}" for u in record.units if u.status in ("exited", "error", "timeout")), None
        )
    return PathTaken(frozenset(ran), frozenset(lanes), stopped)


# the drawing: boxes W x H, GAP apart, one row per lane
W, H, GAP, ROW = 150, 40, 26, 58


@dataclass(frozen=True)
class _Box:
    x: float
    y: float
    node: Node


def _size(nodes: tuple[Node, ...]) -> tuple[float, float]:
    """Width and height of a row of nodes and everything hanging from it."""
    width = 0.0
    height = float(ROW)
    for node in nodes:
        width += W + GAP
        below = sum(_size(h.nodes)[1] for h in node.handlers)
        if node.lanes:
            lane_sizes = [_size(lane.nodes) for lane in node.lanes]
            width += max((w for w, _ in lane_sizes), default=0.0) + GAP
            height = max(height, sum(h for _, h in lane_sizes) + below)
        else:
            height = max(height, ROW + below)
    return width, height


def render_svg(shape: Shape, path: PathTaken, title: str = "") -> str:
    """The diagram with the path highlighted: nodes that ran are filled, lanes taken are drawn bold."""
    parts: list[str] = []
    width, height = _size(shape.nodes)
    _draw(shape.nodes, 10.0, 10.0, path, parts, None)
    label = escape(title or "workflow diagram", quote=True)
    return (
        f'<svg class="flow" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{label}" '
        f'width="{width + 20:.0f}" height="{height + 10:.0f}" '
        f'viewBox="0 0 {width + 20:.0f} {height + 10:.0f}">' + "".join(parts) + "</svg>"
    )


def _draw(
    nodes: tuple[Node, ...],
    x: float,
    y: float,
    path: PathTaken,
    parts: list[str],
    entry: tuple[float, float, bool] | None,
) -> None:
    """Draw a row starting at (x, y); `entry` is where the arrow into its first node comes from."""
    previous = entry
    for node in nodes:
        ran = node.key in path.ran
        if previous is not None:
            px, py, taken = previous
            cls = "edge taken" if taken and ran else "edge"
            parts.append(
                f'<path class="{cls}" d="M{px:.0f},{py:.0f} C{px + GAP / 2:.0f},{py:.0f} '
                f'{x - GAP / 2:.0f},{y + H / 2:.0f} {x:.0f},{y + H / 2:.0f}"/>'
            )
        classes = ["node"]
        if ran:
            classes.append("ran")
        if node.protected:
            classes.append("protected")
        if node.key == path.stopped:
            classes.append("stopped")
        label = node.label if len(node.label) <= 22 else node.label[:21] + "…"
        detail = node.detail if len(node.detail) <= 24 else node.detail[:23] + "…"
        star = "★ " if node.protected else ""
        tip = escape(f"{node.label} ({node.detail})" if node.detail else node.label)
        parts.append(
            f'<g class="{" ".join(classes)}" data-key="{escape(node.key, quote=True)}"><title>{tip}'
            + (" — protected action" if node.protected else "")
            + ("" if ran else " — did not run")
            + f'</title><rect x="{x:.0f}" y="{y:.0f}" width="{W}" height="{H}" rx="6"/>'
            f'<text x="{x + 8:.0f}" y="{y + 17:.0f}">{escape(star + label)}</text>'
            f'<text class="detail" x="{x + 8:.0f}" y="{y + 32:.0f}">{escape(detail)}</text></g>'
        )
        below = y + ROW
        for handler in node.handlers:
            # a handler's modules run only when it fires
            taken = handler.key in path.lanes or any(n.key in path.ran for n in handler.nodes)
            parts.append(
                f'<text class="lane{" taken" if taken else ""}" x="{x + W / 2 + 6:.0f}" y="{below - 2:.0f}">'
                f"{escape(handler.label)}</text>"
            )
            _draw(handler.nodes, x + 20, below + 6, path, parts, (x + W / 2, y + H, taken and ran))
            below += _size(handler.nodes)[1]
        previous = (x + W, y + H / 2, ran)
        x += W + GAP
        if node.lanes:
            lane_y = y
            for lane in node.lanes:
                taken = lane.key in path.lanes
                parts.append(
                    f'<text class="lane{" taken" if taken else ""}" '
                    f'x="{x + 4:.0f}" y="{lane_y + H + 13:.0f}">'
                    f"{escape(lane.label)}{' ✓' if taken else ''}</text>"
                )
                _draw(lane.nodes, x + GAP, lane_y, path, parts, (x - GAP, y + H / 2, taken and ran))
                lane_y += _size(lane.nodes)[1]
            return
