"""Branches inside a flow, as the public integromat/make-blueprints patterns use them (iterators and
aggregators: `Engine.fan_out`): an if-else (`builtin:BasicIfElse`) runs the first branch whose condition
passes, or the else branch, and a merge (`builtin:BasicMerge`) joins the merging branches back into the
flow (pattern `if-else-merge`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hallsim.harness.make._blueprint import Module
    from hallsim.harness.make._engine import Engine, OnEnd, Outputs


def if_else(
    engine: Engine,
    modules: Sequence[Module],
    index: int,
    outputs: Outputs,
    bundle: int,
    depth: int,
    on_end: OnEnd,
) -> None:
    module = modules[index]
    chosen = None
    decisions = []
    for branch in module.branches:
        if branch.kind == "else" or branch.filter is None:
            chosen = branch
            decisions.append({"branch": branch.index, "label": branch.label or "else", "passed": True})
            break
        result = engine.check(branch.filter, outputs, module.id, bundle)
        decisions.append(
            {
                "branch": branch.index,
                "label": branch.label,
                "passed": result.passed,
                "filter": result.to_dict(),
            }
        )
        if result.passed:
            chosen = branch
            break
    engine.event(
        "ifelse",
        bundle,
        depth,
        module.id,
        label=module.label,
        decisions=decisions,
        chosen=chosen.index if chosen else None,
    )
    engine.record(module, bundle, output={"branch": chosen.index if chosen else None})
    if chosen is None:
        return
    merge = (
        modules[index + 1]
        if index + 1 < len(modules) and modules[index + 1].module == "builtin:BasicMerge"
        else None
    )
    if not (chosen.merge and merge is not None):
        engine.flow(chosen.flow, dict(outputs), bundle, depth + 1)
        return
    ends: list[Outputs] = []
    engine.flow(chosen.flow, dict(outputs), bundle, depth + 1, on_end=ends.append)
    position = [b.index for b in module.branches if b.merge].index(chosen.index)
    for end in ends:
        env = engine.env(end, merge.id, bundle, "merge outputs")
        merged = {
            name: maps[position].eval(env) if position < len(maps) else None
            for name, maps in merge.merge_outputs
        }
        engine.record(merge, bundle, output=merged)
        engine.event(
            "module",
            bundle,
            depth,
            merge.id,
            name=merge.module,
            label=merge.label,
            output=merged,
            operations=0,
            kind="merge",
        )
        after = dict(end)
        after[merge.id] = merged
        engine.flow(modules[index + 2 :], after, bundle, depth, on_end=on_end)


# -- errors
