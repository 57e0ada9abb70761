"""Secrets out of a report: tokens and credentials are masked before anything is written to the page."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

MASK = "***"

#: keys whose values are credentials wherever they appear (headers, bodies, variables, settings)
_SECRET_KEY = re.compile(r"(authorization|token|secret|password|passwd|api[_-]?key|cookie|credential)", re.I)
#: credentials written inline: `Bearer abc`, `token=abc`, `"api_key": "abc"`
_INLINE = re.compile(
    r"(?P<head>\b(?:Bearer|Basic)\s+)(?P<value>(?!\*\*\*)[A-Za-z0-9._~+/=-]+)"
    r"|(?P<khead>[\"']?(?:[A-Za-z_]*(?:token|secret|password|api[_-]?key))[\"']?\s*[:=]\s*[\"']?)"
    r"(?P<kvalue>(?!\*\*\*)[^\s\"',}&]+)",
    re.I,
)


class Masker:
    """Masks known secret values (the tokens a run used) and anything that looks like a credential."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # very short values ("t", the default token) would mask ordinary words; they are still masked where
        # they stand as a credential (a Bearer header, a token= field)
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self.secrets:
            value = value.replace(secret, MASK)
        return _INLINE.sub(self._inline, value)

    @staticmethod
    def _inline(found: re.Match[str]) -> str:
        if found.group("head"):
            return found.group("head") + MASK
        return found.group("khead") + MASK

    def value(self, value: Any) -> Any:
        """A JSON-like value with every credential masked (keys named like one, and known secrets)."""
        if isinstance(value, dict):
            return {
                k: MASK if _SECRET_KEY.search(str(k)) and v not in (None, "") else self.value(v)
                for k, v in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def json(self, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            return self.text(value)
        return json.dumps(self.value(value), indent=2, ensure_ascii=False, default=str)
