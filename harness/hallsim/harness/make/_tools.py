"""Make's built-in apps other than HTTP and the data store, as the help centre documents them; each function
returns the module's output bundles (most modules output one; an iterator, a repeater, a global Match
pattern, a Parse JSON of an array output several).

- Tools (apps.make.com "Tools"): Set variable / Set multiple variables / Get variable(s) (the execution's
  variables), Increment function (`{i}`, 1 on its first run), Compose a string (`{value}`), Switch
  (`{output}`: the first case whose pattern equals the input, or matches it as a regular expression with
  `useRegExpMatch`; else `elseOutput`), Sleep (on the virtual clock: `_actions`).
- JSON (apps.make.com "JSON"): Parse JSON (an object is one bundle; an array at the top is one bundle per
  item, setting make.json.parse_array), Create JSON and Transform to JSON (`{json}`; `parameters.space`
  tab | 2 | 4 indents it).
- Text parser (apps.make.com "Text parser"): Match pattern (one bundle per match with `global`, else the
  first; captured groups as `$1`.. and by name; no match outputs nothing unless `continueWhenNoRes`),
  Replace (`{text}`), HTML to text (`{text}`).
- Flow control (help.make.com "Iterator", "Repeater"): an iterator outputs one bundle per array item (an item
  that is not a collection is `{value}`), with `__IMTINDEX__` and `__IMTLENGTH__`; a repeater outputs
  `{i}` for i = start, start + step, ... `repeats` times.
- Aggregators (help.make.com "Aggregator", apps.make.com "Tools"): array aggregator `{array,
  __IMTAGGLENGTH__}`, text aggregator `{text}` (rows joined by `parameters.rowSeparator`: empty, newline,
  tab or `other` = `otherRowSeparator`), numeric aggregator `{result}` (SUM, AVG, COUNT, MAX, MIN of
  `value`; the module name `util:NumericAggregator` and its `function` parameter are UNCONFIRMED)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hallsim.harness.make._http import ModuleError
from hallsim.harness.make._values import is_empty, to_number, to_text

if TYPE_CHECKING:
    from hallsim.harness.make._engine import Engine

Bundles = list[Any]
Tool = Callable[["Engine", dict[str, Any], dict[str, Any]], Bundles]


def _set_variable(engine: Engine, parameters: dict[str, Any], fields: dict[str, Any]) -> Bundles:
    name = to_text(fields.get("name"))
    engine.execution_variables[name] = fields.get("value")
    return [{name: fields.get("value")}]


def _set_variables(engine: Engine, parameters: dict[str, Any], fields: dict[str, Any]) -> Bundles:
    out = {}
    for item in fields.get("variables") or []:
        if isinstance(item, dict):
            out[to_text(item.get("name"))] = item.get("value")
    engine.execution_variables.update(out)
    return [out]


def _get_variable(engine: Engine, parameters: dict[str, Any], fields: dict[str, Any]) -> Bundles:
    name = to_text(fields.get("name"))
    return [{name: engine.execution_variables.get(name)}]


def _get_variables(engine: Engine, parameters: dict[str, Any], fields: dict[str, Any]) -> Bundles:
    names = [to_text(item.get("name")) for item in fields.get("variables") or [] if isinstance(item, dict)]
    return [{name: engine.execution_variables.get(name) for name in names}]


def _increment(engine: Engine, parameters: dict[str, Any], fields: dict[str, Any]) -> Bundles:
    # one replay is one execution, so "reset after one cycle/execution" and "never" agree within it
    key = id(parameters)
    engine.counters[key] = engine.counters.get(key, 0) + 1
    return [{"i": engine.counters[key]}]


def _compose(engine: Engine, parameters: dict[str, Any], fields: dict[str, Any]) -> Bundles:
    return [{"value": to_text(fields.get("value"))}]


def _switch(engine: Engine, parameters: dict[str, Any], fields: dict[str, Any]) -> Bundles:
    subject = to_text(fields.get("input"))
    regex = fields.get("useRegExpMatch") is True
    for case in fields.get("casesTable") or []:
        if not isinstance(case, dict):
            continue
        pattern = to_text(case.get("pattern"))
        if regex:
            try:
                hit = re.search(pattern, subject) is not None
            except re.error as err:
                raise ModuleError("DataError", f"Switch: {pattern!r} is not a valid pattern: {err}") from None
        else:
            hit = pattern == subject
        if hit:
            return [{"output": case.get("output")}]
    return [{"output": fields.get("elseOutput")}]


def _parse_json(engine: Engine, parameters: dict[str, Any], fields: dict[str, Any]) -> Bundles:
    try:
        parsed = json.loads(to_text(fields.get("json")))
    except json.JSONDecodeError as err:
        raise ModuleError("DataError", f"Source is not valid JSON: {err.msg}") from None
    if isinstance(parsed, list) and engine.settings["make.json.parse_array"] == "bundles":
        return [item if isinstance(item, dict) else {"value": item} for item in parsed]
    return [parsed if isinstance(parsed, dict) else {"value": parsed}]


def _indent(parameters: dict[str, Any]) -> int | str | None:
    space = to_text(parameters.get("space"))
    if space == "tab":
        return "\t"
    return int(space) if space.isdigit() else None


def _create_json(engine: Engine, parameters: dict[str, Any], fields: dict[str, Any]) -> Bundles:
    indent = _indent(parameters)
    separators = (",", ":") if indent is None else (",", ": ")
    return [{"json": json.dumps(fields, default=to_text, indent=indent, separators=separators)}]


def _transform_to_json(engine: Engine, parameters: dict[str, Any], fields: dict[str, Any]) -> Bundles:
    indent = _indent(parameters)
    separators = (",", ":") if indent is None else (",", ": ")
    value = fields.get("object")
    return [{"json": json.dumps(value, default=to_text, indent=indent, separators=separators)}]


def _flags(parameters: dict[str, Any]) -> int:
    flags = 0 if parameters.get("sensitive", True) is not False else re.I
    if parameters.get("multiline") is True:
        flags |= re.M
    if parameters.get("singleline") is True:
        flags |= re.S
    return flags


def _compile(pattern: str, parameters: dict[str, Any]) -> re.Pattern[str]:
    # JavaScript named groups are (?<name>...); Python spells them (?P<name>...)
    translated = re.sub(r"\(\?<(?![=!])", "(?P<", pattern)
    try:
        return re.compile(translated, _flags(parameters))
    except re.error as err:
        raise ModuleError(
            "DataError", f"Pattern {pattern!r} is not a valid regular expression: {err}"
        ) from None


def _match_pattern(engine: Engine, parameters: dict[str, Any], fields: dict[str, Any]) -> Bundles:
    regex = _compile(to_text(parameters.get("pattern")), parameters)
    text = to_text(fields.get("text"))
    matches = list(regex.finditer(text)) if parameters.get("global") is True else []
    if parameters.get("global") is not True:
        first = regex.search(text)
        matches = [first] if first else []
    bundles: Bundles = []
    for index, match in enumerate(matches, 1):
        bundle: dict[str, Any] = {f"${n}": group for n, group in enumerate(match.groups(), 1)}
        bundle.update(match.groupdict())
        bundle["i"] = index
        bundles.append(bundle)
    if not bundles and parameters.get("continueWhenNoRes") is True:
        return [{}]
    return bundles


def _replace(engine: Engine, parameters: dict[str, Any], fields: dict[str, Any]) -> Bundles:
    pattern = to_text(fields.get("pattern") or parameters.get("pattern"))
    options: dict[str, Any] = dict(parameters)
    options.update({k: fields[k] for k in ("global", "sensitive", "multiline") if k in fields})
    regex = _compile(pattern, options)
    replacement = re.sub(r"\$(\d)", r"\\\1", to_text(fields.get("value")))
    count = 0 if options.get("global") is True else 1
    return [{"text": regex.sub(replacement, to_text(fields.get("text")), count=count)}]


def _html_to_text(engine: Engine, parameters: dict[str, Any], fields: dict[str, Any]) -> Bundles:
    source = to_text(fields.get("html"))
    source = re.sub(r"(?is)<(script|style)\b.*?</\1>", "", source)
    source = re.sub(r"(?i)<br\s*/?>|</(p|div|li|h[1-6]|tr)>", "\n", source)
    text = html.unescape(re.sub(r"<[^>]+>", "", source))
    return [{"text": re.sub(r"\n{3,}", "\n\n", text).strip()}]


def _iterator(engine: Engine, parameters: dict[str, Any], fields: dict[str, Any]) -> Bundles:
    array = fields.get("array")
    items = array if isinstance(array, list) else ([] if is_empty(array) else [array])
    out = []
    for position, item in enumerate(items, 1):
        element = dict(item) if isinstance(item, dict) else {"value": item}
        element["__IMTINDEX__"] = position
        element["__IMTLENGTH__"] = len(items)
        out.append(element)
    return out


def _repeater(engine: Engine, parameters: dict[str, Any], fields: dict[str, Any]) -> Bundles:
    start = to_number(fields.get("start"))
    step = to_number(fields.get("step"))
    repeats = to_number(fields.get("repeats"))
    if repeats is None or repeats < 0 or repeats > 10000:
        raise ModuleError("BundleValidationError", f"Repeats {fields.get('repeats')!r}: expected 0 to 10000")
    first = 1.0 if start is None else start
    delta = 1.0 if step is None else step
    values = (first + delta * k for k in range(int(repeats)))
    return [{"i": int(v) if v == int(v) else v} for v in values]


TOOLS: dict[str, Tool] = {
    "util:SetVariable2": _set_variable,
    "util:SetVariables": _set_variables,
    "util:GetVariable2": _get_variable,
    "util:GetVariables": _get_variables,
    "util:FunctionIncrement": _increment,
    "util:ComposeTransformer": _compose,
    "util:Switcher": _switch,
    "json:ParseJSON": _parse_json,
    "json:CreateJSON": _create_json,
    "json:TransformToJSON": _transform_to_json,
    "regexp:Parser": _match_pattern,
    "regexp:Replace": _replace,
    "regexp:HTMLToText": _html_to_text,
    "builtin:BasicFeeder": _iterator,
    "builtin:BasicRepeater": _repeater,
}


def _row_separator(parameters: dict[str, Any]) -> str:
    choice = parameters.get("rowSeparator")
    if choice == "other":
        return to_text(parameters.get("otherRowSeparator"))
    return to_text(choice)


def _number(values: list[Any], function: str) -> Any:
    numbers = [n for n in (to_number(v) for v in values) if n is not None]
    if function == "COUNT":
        return len(values)
    if not numbers:
        return 0
    result = {
        "SUM": sum(numbers),
        "AVG": sum(numbers) / len(numbers),
        "MAX": max(numbers),
        "MIN": min(numbers),
    }.get(function, sum(numbers))
    return int(result) if result == int(result) else result


def aggregate(name: str, parameters: dict[str, Any], rows: list[Any]) -> dict[str, Any]:
    """One aggregator's output from the values its mapper gave for each bundle it received."""
    if name == "util:TextAggregator":
        values = [to_text(row.get("value") if isinstance(row, dict) else row) for row in rows]
        return {"text": _row_separator(parameters).join(values)}
    if name == "util:NumericAggregator":
        function = to_text(parameters.get("function") or parameters.get("fn") or "SUM").upper()
        numbers: list[Any] = [row.get("value") if isinstance(row, dict) else row for row in rows]
        return {"result": _number(numbers, function)}
    array = [row if row is not None else {} for row in rows]
    return {"array": array, "__IMTAGGLENGTH__": len(array)}
