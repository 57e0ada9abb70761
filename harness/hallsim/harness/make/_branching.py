"""Loops and branches inside a flow, as the public integromat/make-blueprints patterns use them: an iterator
(`builtin:BasicFeeder`) sends each array item down the flow and an array aggregator
(`builtin:BasicAggregator`, `parameters.feeder`) collects them back into one bundle (pattern
`iterator-aggregator`); an if-else (`builtin:BasicIfElse`) runs the first branch whose condition passes, or
the else branch, and a merge (`builtin:BasicMerge`) joins the merging branches back into the flow (pattern
`if-else-merge`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from hallsim.harness.make._values import is_empty

if TYPE_CHECKING:
    from hallsim.harness.make._blueprint import Module
    from hallsim.harness.make._engine import Engine, OnEnd, Outputs


def feeder(
    engine: Engine,
    modules: Sequence[Module],
    index: int,
    outputs: Outputs,
    bundle: int,
    depth: int,
    on_end: OnEnd,
) -> None:
    module = modules[index]
    env = engine.env(outputs, module.id, bundle)
    mapper = module.mapper.eval(env)
    array = mapper.get("array") if isinstance(mapper, dict) else None
    items = array if isinstance(array, list) else ([] if is_empty(array) else [array])
    engine.operations += 1
    engine.record(module, bundle, output={"items": len(items)})
    engine.event(
        "module",
        bundle,
        depth,
        module.id,
        name=module.module,
        label=module.label,
        mapper=mapper,
        output={"items": len(items)},
        operations=1,
        kind="iterator",
    )
    end = next(
        (
            j
            for j in range(index + 1, len(modules))
            if modules[j].module == "builtin:BasicAggregator"
            and modules[j].parameters.get("feeder") == module.id
        ),
        None,
    )
    segment = modules[index + 1 : end] if end is not None else modules[index + 1 :]
    collected: list[Outputs] = []
    for position, item in enumerate(items, 1):
        element = dict(item) if isinstance(item, dict) else {"value": item}
        element["__IMTINDEX__"] = position
        element["__IMTLENGTH__"] = len(items)
        inner = dict(outputs)
        inner[module.id] = element
        engine.event("feeder", bundle, depth + 1, module.id, item=position, of=len(items))
        engine.flow(segment, inner, bundle, depth + 1, on_end=collected.append if end is not None else on_end)
    if end is None:
        return
    aggregator = modules[end]
    array_out = []
    for inner in collected:
        value = aggregator.mapper.eval(engine.env(inner, aggregator.id, bundle, "aggregator mapper"))
        array_out.append(value if value is not None else {})
    output = {"array": array_out, "__IMTAGGLENGTH__": len(array_out)}
    engine.operations += 1
    engine.record(aggregator, bundle, output=output)
    engine.event(
        "module",
        bundle,
        depth,
        aggregator.id,
        name=aggregator.module,
        label=aggregator.label,
        output=output,
        operations=1,
        kind="aggregator",
    )
    after = dict(outputs)
    after[aggregator.id] = output
    engine.flow(modules[end + 1 :], after, bundle, depth, on_end=on_end)


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
