"""Rule regexes (`re:` patterns) that cannot stall the emulator.

A backtracking engine takes exponential time on patterns such as `(a+)+$` against `aaaa...b`, and a rule is
matched on every request, so one careless rule would stall every answer. Rule regexes are compiled by RE2
(`google-re2`, linear time in the text: https://github.com/google/re2/wiki/WhyRE2) when it is installed; its
syntax is Python's without backreferences and lookaround (https://github.com/google/re2/wiki/Syntax). Where
it is not installed, Python's `re` is used and a pattern with a quantified group that itself contains a
quantifier (the shape of every catastrophic pattern: `(a+)+`, `(a|aa)*`, `(.*a){3}`) is refused with a
message, as are backreferences."""

from __future__ import annotations

import re
from typing import Any

from hallsim.emulator._errors import ScriptError

try:
    import re2 as _re2  # pyright: ignore[reportMissingTypeStubs]
except ImportError:  # pragma: no cover - google-re2 is a dependency where it builds
    _re2 = None

#: which engine compiles rule regexes: "re2" (linear time) or "re" (nested quantifiers refused)
ENGINE = "re2" if _re2 is not None else "re"

_QUANTIFIER = re.compile(r"(?<!\\)(?:[*+?]|\{\d+(?:,\d*)?\})")


def compile_rule_regex(pattern: str, where: str) -> Any:
    """A compiled pattern with `search(text)`; ScriptError names `where` and what is wrong."""
    try:
        re.compile(pattern)
    except re.error as err:
        raise ScriptError.at(where, f"'re:{pattern}' is not a valid regular expression: {err}") from None
    if _re2 is not None:
        options: Any = _re2.Options()
        options.log_errors = False  # the error is ours to report, not absl's on stderr
        try:
            return _re2.compile(pattern, options)
        except Exception as err:  # re2's own error type: syntax RE2 lacks
            reason = err.args[0].decode() if err.args and isinstance(err.args[0], bytes) else str(err)
            raise ScriptError(
                f"{where}: 're:{pattern}' uses syntax the linear-time engine (RE2) does not have: {reason}; "
                "expected RE2 syntax: no backreferences or lookaround (https://github.com/google/re2/wiki/Syntax)"
            ) from None
    problem = _backtracking_risk(pattern)  # pragma: no cover - only without google-re2
    if problem is not None:  # pragma: no cover
        raise ScriptError.at(where, f"'re:{pattern}' {problem}")
    return re.compile(pattern)  # pragma: no cover


def _backtracking_risk(pattern: str) -> str | None:
    if re.search(r"\\[1-9]|\(\?P=", pattern):
        return "uses a backreference, which can take exponential time; expected a pattern without one"
    # find groups whose body holds a quantifier and which are quantified themselves
    stack: list[int] = []
    escaped = False
    for i, char in enumerate(pattern):
        if escaped:
            escaped = False
            continue
        if char == "\\":
            escaped = True
        elif char == "(":
            stack.append(i)
        elif char == ")" and stack:
            start = stack.pop()
            body = pattern[start + 1 : i]
            after = pattern[i + 1 : i + 2]
            inner = _QUANTIFIER.search(body.lstrip("?:"))
            if after and after in "*+{" and (inner or "|" in body):
                return (
                    f"repeats the group ({body}) that itself repeats or alternates (nested quantifiers take "
                    "exponential time on some texts); expected a pattern without a quantifier on such a group"
                )
    return None
