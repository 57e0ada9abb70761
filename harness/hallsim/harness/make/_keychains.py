"""The credentials ("keys", keychains) the HTTP app's authenticated modules use, supplied with a run.

An export names a keychain by id only (`parameters.auth` of `http:ActionSendDataAPIKeyAuth`,
`parameters.apiKeyKeychain` / `basicAuthKeychain` of v4 `http:MakeRequest`); the secret never leaves Make.
A run supplies it:

- a keychain file (setting `make.keychains=FILE`, JSON): `{"14964": {"type": "apiKey", "key": "Bearer t",
  "placement": "header", "name": "Authorization"}, "7": {"type": "basicAuth", "username": "u",
  "password": "p"}}`;
- or variables: `--var keychain.14964.key=...` (and `.placement`, `.name`, `.username`, `.password`), which
  win over the file.

apps.make.com "API key authentication type": a key is the full value sent, prefix included ("Bearer 1234");
its placement is the request header or the query string; its parameter name says which header or query
parameter carries it. An API key (or OAuth) keychain the run does not supply defaults to
`Authorization: Bearer <the Hall token>`, and the trace says so; a basic-auth keychain must be supplied.
Secrets are masked wherever a run shows them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hallsim.emulator.files import read_json
from hallsim.emulator.journal import mask_token
from hallsim.harness._errors import InputError

KINDS = ("apiKey", "basicAuth", "oAuth")
_FIELDS = ("type", "key", "placement", "name", "username", "password", "token")


@dataclass(frozen=True)
class Keychain:
    id: str
    kind: str  # apiKey | basicAuth | oAuth
    source: str  # "keychain file FILE" | "--var keychain.ID.*" | "defaulted from the Hall endpoint"
    key: str = ""
    placement: str = "header"  # header | query
    name: str = "Authorization"
    username: str = ""
    password: str = ""

    def shown(self) -> dict[str, Any]:
        """What a trace may show: everything but the secrets, which are masked."""
        out: dict[str, Any] = {"id": self.id, "type": self.kind, "source": self.source}
        if self.kind == "basicAuth":
            out["username"] = self.username
            out["password"] = mask_token(self.password) if self.password else "(empty)"
        else:
            out["placement"] = self.placement
            out["name"] = self.name
            out["key"] = mask_key(self.key)
        return out


def mask_key(value: str) -> str:
    scheme, _, secret = value.partition(" ")
    if not secret:
        scheme, secret = "", value
    shown = mask_token(secret) if secret.strip() else "(empty)"
    return f"{scheme} {shown}".strip()


def _entry(key_id: str, raw: Mapping[str, Any], source: str, where: str) -> Keychain:
    unknown = [name for name in raw if name not in _FIELDS]
    if unknown:
        raise InputError(f"{where}: keychain {key_id}: unknown field `{unknown[0]}`; expected {_FIELDS}")
    kind = str(raw.get("type") or ("basicAuth" if "username" in raw else "apiKey"))
    if kind not in KINDS:
        raise InputError(f"{where}: keychain {key_id}: `type` = {kind!r}: expected one of {', '.join(KINDS)}")
    placement = str(raw.get("placement") or "header")
    if placement not in ("header", "query"):
        raise InputError(f"{where}: keychain {key_id}: `placement` = {placement!r}: expected header or query")
    key = str(raw.get("key") or raw.get("token") or "")
    if kind == "oAuth" and key and " " not in key:
        key = f"Bearer {key}"
    return Keychain(
        id=key_id,
        kind=kind,
        source=source,
        key=key,
        placement=placement,
        name=str(raw.get("name") or "Authorization"),
        username=str(raw.get("username") or ""),
        password=str(raw.get("password") or ""),
    )


def read_keychain_file(path: Path) -> dict[str, Keychain]:
    document = read_json(path, error=InputError, what="keychain file")
    if not isinstance(document, dict):
        raise InputError(f"{path}: expected an object {{keychain id: {{type, key, ...}}}}")
    out = {}
    for key_id, raw in document.items():
        if not isinstance(raw, dict):
            raise InputError(f"{path}: keychain {key_id}: expected an object {{type, key, placement, name}}")
        out[str(key_id)] = _entry(str(key_id), raw, f"keychain file {path}", str(path))
    return out


def split_keychain_vars(given: Mapping[str, str] | None) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Separate `keychain.ID.FIELD=VALUE` variables from the scenario variables."""
    variables: dict[str, str] = {}
    keychains: dict[str, dict[str, str]] = {}
    for name, value in (given or {}).items():
        head, _, rest = name.partition(".")
        key_id, _, field_name = rest.partition(".")
        if head == "keychain" and key_id and field_name:
            keychains.setdefault(key_id, {})[field_name] = value
        else:
            variables[name] = value
    return variables, keychains


def resolve_keychains(
    file: str, from_vars: Mapping[str, Mapping[str, str]], *, where: str
) -> dict[str, Keychain]:
    """The run's keychains: the file's, then the variables' (which win, field by field)."""
    keychains = read_keychain_file(Path(file)) if file else {}
    for key_id, fields in from_vars.items():
        base = keychains.get(key_id)
        merged: dict[str, Any] = {}
        if base is not None:
            merged = {"type": base.kind, "key": base.key, "placement": base.placement, "name": base.name}
            merged.update({"username": base.username, "password": base.password})
        merged.update(fields)
        keychains[key_id] = _entry(key_id, merged, f"--var keychain.{key_id}.*", where)
    return keychains


def hall_default(key_id: str, kind: str, token: str | None) -> Keychain | None:
    """An API key or OAuth keychain the run did not supply: the Hall's own bearer token."""
    if kind == "basicAuth" or token is None:
        return None
    return Keychain(key_id, kind, "defaulted from the Hall endpoint", key=f"Bearer {token}")


def keychain_ref(module: str, parameters: Mapping[str, Any]) -> tuple[str, str] | None:
    """(keychain id, kind) an HTTP module authenticates with, or None. v3: `parameters.auth` (exports type it
    `keychain:apikeyauth`); v4: `authenticationType` with `apiKeyKeychain` / `basicAuthKeychain` /
    `oAuthAccount` (apps.make.com "HTTP")."""

    def ref(*names: str) -> str:
        return next((str(parameters[n]) for n in names if parameters.get(n) not in (None, "")), "")

    if module == "http:ActionSendDataAPIKeyAuth":
        return ref("auth", "key"), "apiKey"
    if module == "http:ActionSendDataBasicAuth":
        return ref("auth", "key"), "basicAuth"
    if module == "http:ActionSendDataOAuth":
        return ref("account", "auth", "__IMTCONN__"), "oAuth"
    if module == "http:MakeRequest":
        kind = parameters.get("authenticationType") or "noAuth"
        if kind == "apiKey":
            return ref("apiKeyKeychain"), "apiKey"
        if kind == "basicAuth":
            return ref("basicAuthKeychain"), "basicAuth"
        if kind == "oAuth":
            return ref("oAuthAccount", "oAuthKeychain", "account"), "oAuth"
    return None
