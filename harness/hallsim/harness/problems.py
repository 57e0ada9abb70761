"""One way to report bad input: "file:line: field: what was expected", with the location kept as data.

Every loader that validates with pydantic (scenarios, Pipedream workflows and settings, decision records)
turns its `ValidationError` into `Problem`s here, so they all read alike: an unknown field names the fields
that exist there (and the closest one, "did you mean"), a missing field says it is required, a wrong value
says what was expected and what was given."""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError

Location = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where (file and line), which field, what was expected."""

    #: "path/to/file.yaml:12", or the file alone when the line is not known
    where: str
    #: the field's path: `expect.steps.gate.status`, `steps[0].name`; "" for the input as a whole
    field: str
    expected: str
    #: the field's path as data (keys and list indexes)
    loc: Location = ()

    def __str__(self) -> str:
        if not self.field:
            return f"{self.where}: {self.expected}"
        return f"{self.where}: {self.field}: {self.expected}"


def field_path(loc: Sequence[str | int], *, style: str = "dotted") -> str:
    """`("steps", 0, "name")` as `steps.0.name` (dotted) or `steps[0].name` (indexed)."""
    if style == "indexed":
        return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    return ".".join(str(p) for p in loc)


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """ "; did you mean `x`?" when a known name is close to `name`, else ""."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""


def validation_problems(
    err: ValidationError,
    *,
    where: Callable[[Location], str],
    known_fields: Callable[[Location], Sequence[str]] = lambda loc: (),
    hints: Mapping[str, str] | None = None,
    skip: Callable[[str | int], bool] = lambda part: False,
    style: str = "dotted",
    limit: int | None = None,
) -> list[Problem]:
    """Each error pydantic found, as a Problem.

    `where(loc)` gives "file:line" for a location; `known_fields(loc)` the field names that exist in the
    mapping at `loc` (for an unknown field); `hints` a message per error type that says what is expected
    better than pydantic does (`string_pattern_mismatch`, ...); `skip` drops location parts pydantic adds
    for unions (model and type names)."""
    problems = []
    for item in err.errors()[:limit]:
        loc: Location = tuple(part for part in item["loc"] if not skip(part))
        kind = item["type"]
        given = item.get("input")
        if hints and kind in hints:
            what = hints[kind].format(got=_short(given))
        elif kind == "extra_forbidden":
            known = known_fields(loc[:-1])
            what = "unknown field"
            if known and loc:
                what += f"; expected one of: {', '.join(known)}" + did_you_mean(str(loc[-1]), known)
        elif kind == "missing":
            what = "missing; this field is required"
        elif kind == "value_error":
            what = str(item.get("ctx", {}).get("error", item["msg"])).removeprefix("Value error, ")
        else:
            what = f"{_expected(item['msg'])}; got {_short(given)}"
        problems.append(Problem(where(loc), field_path(loc, style=style), what, loc))
    return problems


def format_problems(problems: Iterable[Problem]) -> str:
    return "\n".join(str(p) for p in problems)


def _expected(text: str) -> str:
    text = text.removeprefix("Value error, ")
    if text.startswith("Input should be "):
        return "expected " + text.removeprefix("Input should be ")
    return text[:1].lower() + text[1:]


def _short(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False) if value is not None else "nothing"
    return text if len(text) <= 60 else text[:57] + "..."
