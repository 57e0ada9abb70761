"""The emulator's settings checks, shared by HallApp (Python, admin API, CLI) and script files: a value is
refused the same way, with the same message, wherever it comes from. Each raises ScriptError
`<setting>: expected ...; got ...`; a script file puts its file and line in front."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hallsim.emulator._errors import ScriptError
from hallsim.emulator.contract import CAPABILITY_IDS

#: the largest time scale: 1000 wall seconds per modelled second is already far past any use
MAX_TIME_SCALE = 1000


def _texts(value: Any) -> tuple[Any, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Iterable) and not isinstance(value, (bytes, dict)):
        return tuple(value)
    return None


def check_tokens(value: Any) -> tuple[str, ...]:
    tokens = _texts(value)
    if not tokens or not all(
        isinstance(t, str) and t.strip() and not any(c.isspace() for c in t) for t in tokens
    ):
        raise ScriptError(
            f"tokens: expected one or more tokens (non-empty text without spaces); got {value!r}"
        )
    return tokens


def check_envs(value: Any) -> tuple[str, ...]:
    envs = _texts(value)
    if not envs or not all(isinstance(e, str) and e.strip() for e in envs):
        raise ScriptError(f"envs: expected one or more env names (non-empty text); got {value!r}")
    return envs


def check_capability_ids(value: Any) -> str:
    """`guide` or `any` (contract.py CAPABILITY_IDS says why this is a setting)."""
    if not isinstance(value, str) or value not in CAPABILITY_IDS:
        raise ScriptError(
            "capability_ids: expected guide (ids shaped `cap.<area>.<verb>.v<N>`, as the guides document) "
            f"or any (any non-empty string, as pyhall's RouteInput); got {value!r}"
        )
    return value


def check_time_scale(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_TIME_SCALE:
        raise ScriptError(
            f"time_scale: expected a number > 0 and <= {MAX_TIME_SCALE} "
            f"(modelled seconds x time_scale = wall seconds); got {value!r}"
        )
    return float(value)


def _whole(name: str, value: Any, unit: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ScriptError(f"{name}: expected a whole number{unit} >= 1; got {value!r}")
    return value


def check_max_body(value: Any) -> int:
    return _whole("max_body", value, " of bytes")


def check_journal_size(value: Any) -> int:
    return _whole("journal_size", value)


def check_journal_bytes(value: Any) -> int:
    return _whole("journal_bytes", value, " of bytes")


def check_max_header_bytes(value: Any) -> int:
    return _whole("max_header_bytes", value, " of bytes")
