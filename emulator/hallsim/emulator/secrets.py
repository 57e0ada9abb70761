"""Masking secrets in everything hallsim shows: journals, traces, logs, banners, reports, JUnit XML.

One rule, used by every output:
- a token is shown as `***`, after its first character when it has at least 8 characters (the hint tells a
  real token from, say, `Bearer undefined`, and gives nothing away); shorter tokens are masked whole;
- an `Authorization` (or `Proxy-Authorization`) value `Bearer <token>` keeps its scheme: `Bearer s***`; any
  other scheme (Basic, ...) becomes `***`; `Cookie`, `Set-Cookie`, `X-Api-Key`, `Api-Key` values become `***`;
- a value under a name that says TOKEN, KEY, SECRET or PASSWORD (any case, anywhere in the name: `--var`
  names, env vars, JSON keys, query parameters) is masked as a token;
- every secret given to a `Masker` (accepted tokens, secret-named variables, the token a request presented)
  is masked wherever it appears inside any text, when it has at least `MIN_FREE_TEXT` characters (a
  one-letter test token such as `t` cannot be told from the letters around it; it is still masked where its
  position says it is a secret: Authorization values and secret-named fields);
- in free text, `Bearer <token>`, `Authorization: <value>` and `name=value` / `"name": "value"` pairs whose
  name says secret are masked too, so a secret nobody registered is still hidden when it is labelled.

    masker = Masker(["sk_live_abcdef"])
    masker.add_named("API_KEY", "k-123456789")      # only kept because the name says KEY
    masker.mask({"headers": {"authorization": "Bearer sk_live_abcdef"}, "url": "/x?token=abc"})
    mask_secrets("GET /x?key=sk_live_abcdef", ["sk_live_abcdef"])

A value that is not text, a list/tuple or a mapping is returned as it is (numbers, booleans, None).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "MIN_FREE_TEXT",
    "SECRET_NAME_WORDS",
    "Masker",
    "is_secret_name",
    "mask_authorization",
    "mask_header",
    "mask_secrets",
    "mask_token",
]

#: a name containing one of these words (any case) holds a secret
SECRET_NAME_WORDS = ("TOKEN", "KEY", "SECRET", "PASSWORD")
#: secrets shorter than this are masked only where their position says they are secrets, not inside text
MIN_FREE_TEXT = 4
#: tokens shorter than this are masked whole: their first character would give away too much of them
_HINT_MIN_LENGTH = 8

_AUTH_HEADERS = frozenset({"authorization", "proxy-authorization"})
_OPAQUE_HEADERS = frozenset({"cookie", "set-cookie", "x-api-key", "api-key"})

# "Bearer xyz" anywhere; "Authorization: xyz" (the whole value up to the end of the line or a quote)
_BEARER = re.compile(r"(?i)\b(bearer)([ \t]+)([^\s\"',;]+)")
_AUTH_LINE = re.compile(
    r"(?i)\b((?:proxy-)?authorization\"?'?[ \t]*[:=][ \t]*\"?'?)(?!bearer\b)([^\r\n\"',;]+)"
)
# name=value (query strings, env lines, --var) and "name": "value" (JSON text)
# possessive quantifiers (no backtracking): linear time on any text; the callback checks the name
_NAMED_PAIR = re.compile(
    r"(?<![A-Za-z0-9_.\-])([A-Za-z0-9_.\-]++)(\"?'?[ \t]*+[=:][ \t]*+\"?'?)([^\s\"'&,;{}\[\]#()]++)"
)


def mask_token(token: str) -> str:
    """A secret as outputs show it: `***`, after its first character when it is long enough."""
    token = token.strip()
    if token.endswith("***"):  # already masked: masking twice gives the same
        return token
    return (token[0] if len(token) >= _HINT_MIN_LENGTH else "") + "***"


def mask_authorization(value: str) -> str:
    """An Authorization value: `Bearer <token>` keeps its scheme (`Bearer s***`); anything else is `***`."""
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return "***"
    return f"{scheme} {mask_token(token)}"


def is_secret_name(name: str) -> bool:
    """Whether a variable, env var, field or parameter name says it holds a secret (token, key, ...)."""
    upper = name.upper()
    return any(word in upper for word in SECRET_NAME_WORDS)


def mask_header(name: str, value: str, masker: Masker | None = None) -> str:
    """A header value as outputs show it (names compared case-insensitively)."""
    lower = name.lower()
    if lower in _AUTH_HEADERS:
        return mask_authorization(value)
    if lower in _OPAQUE_HEADERS:
        return "***"
    if is_secret_name(lower):  # X-Hall-Token, X-Auth-Token, ...
        return mask_token(value) if value.strip() else value
    return masker.mask_text(value) if masker is not None else _mask_labelled(value)


class Masker:
    """The secrets of one run or server, and the masking rule applied to any text or JSON-like value."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._dirty = False
        self.update(secrets)

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(self._secrets)

    def add(self, secret: str | None) -> None:
        """Remember a secret (surrounding whitespace ignored); empty values are ignored."""
        if secret is None:
            return
        secret = secret.strip()
        if secret and secret not in self._secrets:
            self._secrets.add(secret)
            self._dirty = True

    def update(self, secrets: Iterable[str]) -> None:
        for secret in secrets:
            self.add(secret)

    def add_named(self, name: str, value: Any) -> None:
        """Remember `value` if `name` says it is a secret (a `--var`, an env var, a setting)."""
        if isinstance(value, str) and is_secret_name(name):
            self.add(value)

    def add_named_values(self, values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            self.add_named(str(name), value)

    def add_authorization(self, value: str | None) -> None:
        """Remember the token of an Authorization value (`Bearer <token>`, or the whole value)."""
        if not value:
            return
        scheme, _, token = value.strip().partition(" ")
        self.add(token if scheme.lower() in ("bearer", "basic", "token") and token.strip() else value)

    def copy(self) -> Masker:
        return Masker(self._secrets)

    def _compiled(self) -> re.Pattern[str] | None:
        if self._dirty or (self._pattern is None and self._secrets):
            long_enough = sorted((s for s in self._secrets if len(s) >= MIN_FREE_TEXT), key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, long_enough))) if long_enough else None
            self._dirty = False
        return self._pattern

    def mask_text(self, text: str, also: Iterable[str] = ()) -> str:
        """`text` with every known secret (and those in `also`) and every labelled secret masked."""
        pattern = self._compiled()
        if pattern is not None:
            text = pattern.sub(_masked_match, text)
        for secret in also:
            if len(secret) >= MIN_FREE_TEXT and secret in text:
                text = text.replace(secret, mask_token(secret))
        return _mask_labelled(text)

    def mask(self, value: Any, name: str | None = None, *, also: Iterable[str] = ()) -> Any:
        """A copy of a JSON-like value (mappings, lists, tuples, text) with secrets masked; `name` is the key
        the value sits under, if any; `also`: more secrets for this call only."""
        also = tuple(also)
        return self._mask(value, name, also)

    def _mask(self, value: Any, name: str | None, also: tuple[str, ...]) -> Any:
        if isinstance(value, str):
            if name is not None:
                lower = name.lower()
                if lower in _AUTH_HEADERS:
                    return mask_authorization(value)
                if lower in _OPAQUE_HEADERS:
                    return "***"
                if is_secret_name(lower) and value.strip():
                    return mask_token(value)
            return self.mask_text(value, also)
        if isinstance(value, Mapping):
            return {
                (self.mask_text(k, also) if isinstance(k, str) else k): self._mask(
                    v, k if isinstance(k, str) else None, also
                )
                for k, v in value.items()
            }
        # items of a list or tuple sit under the list's name (`tokens: [...]`)
        if isinstance(value, list):
            return [self._mask(item, name, also) for item in value]
        if isinstance(value, tuple):
            return tuple(self._mask(item, name, also) for item in value)
        if isinstance(value, bytes):
            return self.mask_text(value.decode("utf-8", errors="replace"), also)
        return value


def mask_secrets(value: Any, secrets: Iterable[str] = (), named: Mapping[str, Any] | None = None) -> Any:
    """Mask `secrets` (and values of `named` whose names say secret) in any text or JSON-like value."""
    masker = Masker(secrets)
    if named:
        masker.add_named_values(named)
    return masker.mask(value)


def _masked_match(match: re.Match[str]) -> str:
    return mask_token(match.group(0))


def _bearer(match: re.Match[str]) -> str:
    token = match.group(3)
    return match.group(0) if token.endswith("***") else f"{match.group(1)}{match.group(2)}{mask_token(token)}"


def _auth_line(match: re.Match[str]) -> str:
    value = match.group(2)
    return match.group(0) if value.endswith("***") else f"{match.group(1)}***"


def _named_pair(match: re.Match[str]) -> str:
    value = match.group(3)
    name = match.group(1).lower()
    if not (is_secret_name(name) or name in _AUTH_HEADERS) or value.endswith("***"):
        return match.group(0)
    if value.lower() in ("bearer", "null", "true", "false"):
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}{mask_token(value)}"


def _mask_labelled(text: str) -> str:
    if not text:
        return text
    lowered = text.lower()
    if "bearer" in lowered:
        text = _BEARER.sub(_bearer, text)
    if "authorization" in lowered:
        text = _AUTH_LINE.sub(_auth_line, text)
    if any(word in lowered for word in ("token", "key", "secret", "password")):
        text = _NAMED_PAIR.sub(_named_pair, text)
    return text
