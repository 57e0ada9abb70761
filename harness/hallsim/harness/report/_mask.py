"""Secrets out of a report: everything written to the page or the JUnit file goes through the emulator's one
masking rule (`hallsim.emulator.secrets`: tokens, Authorization values, secret-named fields and labelled
secrets in free text), with the tokens the run used registered."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from hallsim.emulator.secrets import Masker as _SecretMasker


class Masker:
    """Masks known secret values (the tokens a run used) and anything that looks like a credential."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._masker = _SecretMasker([s for s in secrets if s])

    def text(self, value: str) -> str:
        return self._masker.mask_text(value)

    def value(self, value: Any) -> Any:
        """A JSON-like value with every credential masked (keys named like one, and known secrets)."""
        return self._masker.mask(value)

    def json(self, value: Any) -> str:
        """A value as the page shows it: pretty JSON (or the text itself), masked."""
        if value is None:
            return ""
        if isinstance(value, str):
            return self.text(value)
        return json.dumps(self.value(value), indent=2, ensure_ascii=False, default=str)
