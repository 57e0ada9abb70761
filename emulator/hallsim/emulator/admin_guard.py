"""The admin API's guard: who may read the journal and change the rules, safe by default.

- **Token**: `Authorization: Bearer <admin token>` on every `/__hall/` call once an admin token is set
  (`HallEmulator(admin_token=...)`, `hallsim serve --admin-token`, env `HALLSIM_ADMIN_TOKEN`). An
  emulator that listens beyond loopback (`--host 0.0.0.0`, a LAN address) always requires one: if none was
  set, a random one is generated (`HallEmulator.admin_token`; serve prints it masked and writes it to a
  file only its user can read). On loopback without a set token the admin API is open, as a local test
  tool's is.
- **Host**: the `Host` header must name the address the emulator is bound to (with or without its port; on
  loopback also `localhost`, `127.0.0.1`, `[::1]`), so a web page that rebinds its own domain name to
  127.0.0.1 (DNS rebinding) is refused with 421. Bound to a wildcard address (0.0.0.0, ::), any host is taken:
  the token is required there.
- **Content type**: calls that change state (PUT, POST, DELETE) need `Content-Type: application/json` (or
  `...+json`), refused with 415 otherwise: a browser page can only send a cross-origin request without a
  preflight with a form content type (the Fetch standard's "CORS-safelisted request-header"), so no page can
  change rules or empty the journal behind its user's back.
- **Size**: admin bodies over `MAX_ADMIN_BODY` get 413 (headers are limited on every route by the app).

WireMock and mountebank have admin auth and local-only binding as options; here they are the default.
`/openapi.json` is not guarded (it describes the API and holds nothing of a run)."""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from dataclasses import dataclass

#: admin bodies (rules lists, defaults) up to 1 MiB
MAX_ADMIN_BODY = 1024 * 1024
_WILDCARDS = frozenset({"0.0.0.0", "::", ""})
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
_STATE_CHANGING = frozenset({"PUT", "POST", "DELETE", "PATCH"})

#: the admin API's paths and methods (admin.py builds its routes from this table)
ADMIN_METHODS: dict[str, tuple[str, ...]] = {
    "/__hall/health": ("GET",),
    "/__hall/rules": ("GET", "PUT", "POST"),
    "/__hall/default": ("GET", "PUT"),
    "/__hall/reset": ("POST",),
    "/__hall/journal": ("GET", "DELETE"),
    "/__hall/time-scale": ("GET", "PUT"),
    "/__hall/": ("GET",),
    "/__hall/events": ("GET",),
}
#: the live journal page (live.py): a static file that holds nothing of a run, opened by a browser's
#: navigation, which cannot send a token; everything it shows comes through guarded calls (its events, the
#: rules), which send the token the page was opened with. The Host check still applies.
PUBLIC_PAGES = frozenset({"/__hall/"})


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class AdminRefusal:
    status: int
    error: str
    detail: str
    headers: tuple[tuple[bytes, bytes], ...] = ()


class AdminGuard:
    """The admin API's token, the Host names it answers to, and the checks every admin call goes through."""

    def __init__(self, token: str | None = None) -> None:
        self.token = _checked_token(token)
        #: whether the token was generated (the emulator listens beyond loopback and none was set)
        self.generated = False
        #: accepted `Host` values (lower-case); None: not checked (not bound yet, or a wildcard address)
        self.hosts: frozenset[str] | None = None
        self.bound: str | None = None

    def set_token(self, token: str | None) -> None:
        self.token = _checked_token(token)
        self.generated = False

    def bind(self, host: str, port: int) -> None:
        """Take the address the emulator listens on; beyond loopback, make sure a token is required."""
        self.bound = host
        if not is_loopback(host) and self.token is None:
            self.token = secrets.token_urlsafe(24)
            self.generated = True
        if host in _WILDCARDS:
            self.hosts = None
            return
        shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
        names = {shown.lower(), *(_LOOPBACK_NAMES if is_loopback(host) else ())}
        self.hosts = frozenset({*names, *(f"{name}:{port}" for name in names)})

    @property
    def required(self) -> bool:
        return self.token is not None

    def check(self, method: str, headers: list[tuple[bytes, bytes]], path: str = "") -> AdminRefusal | None:
        """Why this admin call is refused, or None."""
        host = authorization = content_type = None
        for name, value in headers:
            if name == b"host":
                host = value
            elif name == b"authorization":
                authorization = value
            elif name == b"content-type":
                content_type = value
        if self.hosts is not None and (host is None or host.decode("latin-1").lower() not in self.hosts):
            shown = host.decode("latin-1")[:100] if host is not None else "(none)"
            return AdminRefusal(
                421,
                "misdirected_request",
                f"Host {shown!r} is not an address this emulator listens on; expected one of "
                f"{', '.join(sorted(self.hosts))}",
            )
        if self.token is not None and not (path in PUBLIC_PAGES and method in ("GET", "HEAD")):
            if authorization is None:
                return AdminRefusal(
                    401,
                    "admin_token_required",
                    "the admin API needs `Authorization: Bearer <admin token>` (hallsim serve prints where "
                    "the token is; set one with --admin-token or HALLSIM_ADMIN_TOKEN)",
                    ((b"www-authenticate", b'Bearer realm="hallsim-admin"'),),
                )
            scheme, _, presented = authorization.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                presented.strip().encode("utf-8", "replace"), self.token.encode()
            ):
                return AdminRefusal(403, "admin_token_refused", "not the admin token of this emulator")
        allowed = ADMIN_METHODS.get(path)
        if allowed is not None and method not in allowed and not (method == "HEAD" and "GET" in allowed):
            return AdminRefusal(
                405,
                "method_not_allowed",
                f"{path} takes {', '.join(allowed)}; got {method[:20]}",
                ((b"allow", ", ".join(allowed).encode()),),
            )
        if method in _STATE_CHANGING:
            media = (content_type or b"").split(b";", 1)[0].strip().lower()
            if media != b"application/json" and not (
                media.startswith(b"application/") and media.endswith(b"+json")
            ):
                got = (content_type or b"none").decode("latin-1")[:100]
                return AdminRefusal(
                    415,
                    "json_required",
                    f"{method} on the admin API needs `Content-Type: application/json` (so a web page cannot "
                    f"send it cross-origin without a preflight); got {got!r}",
                )
        return None


def _checked_token(token: str | None) -> str | None:
    if token is None:
        return None
    from hallsim.emulator._errors import ScriptError

    if not isinstance(token, str) or len(token.strip()) < 8 or any(c.isspace() for c in token):
        raise ScriptError("admin_token: expected text of at least 8 characters without spaces")
    return token
