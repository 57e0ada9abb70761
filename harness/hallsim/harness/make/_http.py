"""The HTTP app's modules, over real sockets: v3 "Make a request" (`http:ActionSendData`), "Make an API key
Auth request" (`http:ActionSendDataAPIKeyAuth`), "Make a Basic Auth request" (`http:ActionSendDataBasicAuth`),
"Make an OAuth 2.0 request" (`http:ActionSendDataOAuth`), "Make a client certificate auth request"
(`http:ActionSendDataClientCertAuth`: the certificate stays in Make's keychain, so the request goes without
it and the trace says so), "Get a file" (`http:ActionGetFile`), "Resolve a target URL"
(`http:ActionResolveTargetURL`: follows the redirects, outputs `{url}`), and v4
`http:MakeRequest` with `parameters.authenticationType` noAuth | apiKey | basicAuth | oAuth (apps.make.com
"HTTP" and "HTTP (legacy)"; credentials: `_keychains`).

Rules (shared/reference/make.md "HTTP Make a request"): v3 output `statusCode`, `headers` (list of {name,
value}), `cookieHeaders`, `data` (parsed body when Parse response is on, else raw text), `fileSize`; v4
`data`, `statusCode`, `headers` (a collection keyed by name: public exports map `{{N.headers.etag}}`).
Parse response parses JSON and XML (apps.make.com "HTTP": it replaces the Parse JSON / Parse XML modules).
Error evaluation: v3 `parameters.handleErrors`, v4 `mapper.stopOnHttpError`; when off, a 4xx/5xx is an
ordinary output bundle. Timeout `mapper.timeout` in seconds, 1..300, stored as a string; empty means the
default (UNCONFIRMED, setting make.http.default_timeout). Status error types (help.make.com "Types of
errors", "Fixing connection errors"): 400/404 BundleValidationError, 401/403 AccountValidationError (fatal),
429 RateLimitError, 503/504 ConnectionError; any other 4xx/5xx is UNCONFIRMED (setting
make.http.other_status_error, default RuntimeError). Which type a socket timeout, refused connection or
reset raises is UNCONFIRMED: settings make.http.{timeout,refused,reset}_error.

Headers: Make's HTTP app sends no `Accept` header (shared/reference/make.md corrections); requests Make
sent, as captured in public repositories, carry `User-Agent: Make/production` (UNCONFIRMED as a rule:
setting make.http.user_agent). The client adds neither an `Accept` nor its own User-Agent."""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from hallsim.harness.make import _client
from hallsim.harness.make._keychains import Keychain, mask_key
from hallsim.harness.make._names import HTTP_GET_FILE, HTTP_RESOLVE_URL, HTTP_V3_CLIENT_CERT, HTTP_V4
from hallsim.harness.make._values import to_text
from hallsim.harness.make._waits import ModuleClock, ScriptedWaits, reset_clock, set_clock
from hallsim.harness.make._xml import XMLParseError, parse_xml


class ModuleError(Exception):
    """A module's error as Make reports it: a type from help.make.com "Types of errors" and a message."""

    def __init__(self, error_type: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{error_type}: {message}")
        self.type = error_type
        self.message = message
        self.status = status

    @property
    def fatal(self) -> bool:
        # make.md "Error types": AccountValidationError is fatal and not handled by an error handler
        return self.type == "AccountValidationError"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.status is not None:
            out["statusCode"] = self.status
        return out


@dataclass
class HttpCall:
    output: dict[str, Any] | None
    error: ModuleError | None
    request: dict[str, Any]
    response: dict[str, Any] | None
    wall_s: float
    modelled_s: float
    #: of `modelled_s`, the seconds of waits the run scripted (the Hall's or a stub's `slow`, a timeout)
    scripted_s: float = 0.0
    #: why the timing reads as it does, when it is not plain (for the trace)
    timing_note: str | None = None


def _pairs(items: Any) -> list[tuple[str, str]]:
    pairs = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and to_text(item.get("name")).strip():
            # header values lose surrounding whitespace on the wire (RFC 9110 5.5): "Bearer " + empty is
            # "Bearer"
            pairs.append((to_text(item.get("name")).strip(), to_text(item.get("value")).strip()))
    return pairs


def mask(name: str, value: str, secret_names: frozenset[str] = frozenset()) -> str:
    lowered = name.lower()
    if lowered not in ("authorization", "x-api-key", "api-key") and lowered not in secret_names:
        return value
    return mask_key(value)


def _timeout_seconds(raw: Any, default: float) -> float:
    text = to_text(raw).strip()
    if not text:
        return default
    try:
        seconds = float(text)
    except ValueError:
        raise ModuleError(
            "BundleValidationError", f"Timeout {text!r} is not a number of seconds (1-300)"
        ) from None
    if not 1 <= seconds <= 300:
        raise ModuleError("BundleValidationError", f"Timeout {text} s is outside 1-300 seconds")
    return seconds


#: help.make.com "Types of errors" / "Fixing connection errors"; other statuses: make.http.other_status_error
STATUS_ERRORS = {
    400: "BundleValidationError",
    404: "BundleValidationError",
    401: "AccountValidationError",
    403: "AccountValidationError",
    429: "RateLimitError",
    503: "ConnectionError",
    504: "ConnectionError",
}


def status_error(status: int, body: str, settings: dict[str, Any]) -> ModuleError:
    snippet = body.strip().replace("\n", " ")[:200]
    message = f"[{status}] {snippet}" if snippet else f"[{status}]"
    error_type = STATUS_ERRORS.get(status) or str(settings["make.http.other_status_error"])
    return ModuleError(error_type, message, status=status)


def _file_name(response: httpx.Response, url: str) -> str:
    disposition = response.headers.get("content-disposition", "")
    for part in disposition.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "filename" and value:
            return str(value).strip('"')
    tail = str(httpx.URL(url).path).rstrip("/").rsplit("/", 1)[-1]
    return tail or "file"


def _parse_body(text: str, content_type: str, settings: dict[str, Any]) -> tuple[Any, ModuleError | None]:
    lowered = content_type.lower()
    if not text.strip():
        return text, None
    if "json" in lowered:
        try:
            return json.loads(text), None
        except json.JSONDecodeError as err:
            message = f"Failed to parse the response as JSON: {err.msg}"
            return None, ModuleError(settings["make.http.parse_error"], message)
    if "xml" in lowered:
        try:
            return parse_xml(text), None
        except XMLParseError as err:
            message = f"Failed to parse the response as XML: {err}"
            return None, ModuleError(settings["make.http.parse_error"], message)
    return text, None


def _failed(
    error: ModuleError, request: dict[str, Any], started: float | None, clock: ModuleClock
) -> HttpCall:
    wall = 0.0 if started is None else time.perf_counter() - started
    modelled, scripted = clock.modelled(wall) if started is not None else (0.0, 0.0)
    return HttpCall(None, error, request, None, wall, modelled, scripted)


@functools.lru_cache(maxsize=1024)
def _parsed_url(url: str) -> httpx.URL:
    """A module's URL, parsed once: a replay sends the same few URLs again and again (httpx.URL is
    immutable)."""
    return httpx.URL(url)


def _timeout_note(clock: ModuleClock, wall: float) -> str | None:
    if clock.hold() is not None:
        return None
    return (
        f"no scripted wait was known: the client waited {wall * 1000:.0f} ms of wall time (the scaled "
        "timeout plus make.http.latency_grace_s) and took the Hall as one that does not answer"
    )


def _timed_out(
    seconds: float, request: dict[str, Any], wall: float, settings: dict[str, Any], note: str | None
) -> HttpCall:
    error = ModuleError(
        settings["make.http.timeout_error"], f"ETIMEDOUT: no answer within the {seconds:g} s timeout"
    )
    return HttpCall(None, error, request, None, wall, seconds, seconds, note)


def _body_v3(mapper: dict[str, Any], headers: list[tuple[str, str]], has_type: bool) -> _Body:
    body = _Body()
    body_type = to_text(mapper.get("bodyType"))
    if body_type == "raw":
        body.content = to_text(mapper.get("data"))
        if mapper.get("contentType") and not has_type:
            headers.append(("Content-Type", to_text(mapper["contentType"])))
    elif body_type == "x_www_form_urlencoded":
        body.form = dict(_pairs(mapper.get("fields") or mapper.get("formFields")))
    elif body_type == "multipart_form_data":
        fields = _pairs(mapper.get("fields") or mapper.get("formFields"))
        body.files = {name: (None, value) for name, value in fields}
    return body


def _body_v4(mapper: dict[str, Any], headers: list[tuple[str, str]], has_type: bool) -> _Body:
    body = _Body()
    input_method = mapper.get("inputMethod", "jsonString")
    if input_method == "jsonString" and mapper.get("jsonStringBodyContent") is not None:
        body.content = to_text(mapper.get("jsonStringBodyContent"))
    elif input_method == "dataStructure" and mapper.get("dataStructureBodyContent") is not None:
        # the body's fields as mapped (exports hold them in `dataStructureBodyContent`); the data
        # structure that types them is not in the export, so values keep their mapped types
        body.content = json.dumps(mapper.get("dataStructureBodyContent"), default=to_text)
    content_type = to_text(mapper.get("contentType") or "json")
    if body.content is not None and content_type == "json" and not has_type:
        headers.append(("Content-Type", "application/json"))
    elif content_type == "urlEncoded":
        body.form = dict(_pairs(mapper.get("bodyParameters") or mapper.get("fields")))
    elif content_type == "multipart":
        fields = _pairs(mapper.get("bodyParameters") or mapper.get("fields"))
        body.files = {name: (None, value) for name, value in fields}
    return body


@dataclass
class _Body:
    content: str | None = None
    form: dict[str, str] | None = None
    files: dict[str, tuple[None, str]] | None = None


def call(
    module: str,
    parameters: dict[str, Any],
    mapper: dict[str, Any],
    settings: dict[str, Any],
    keychain: Keychain | None = None,
    waits: ScriptedWaits | None = None,
    cookies: httpx.Cookies | None = None,
) -> HttpCall:
    """Send the module's request and build its output bundle, or the error Make would raise. `waits`: where
    the run's scripted waits are recorded (the module clock, `_waits`); `cookies`: the run's shared cookies,
    which a module with `shareCookies` on sends and keeps (apps.make.com "HTTP": Share cookies with other
    HTTP modules)."""
    v4 = module == HTTP_V4
    get_file = module == HTTP_GET_FILE
    resolve = module == HTTP_RESOLVE_URL
    scale = float(settings["time_scale"])
    url = to_text(mapper.get("url")).strip()
    method = (to_text(mapper.get("method")) or "get").upper()
    headers = _pairs(mapper.get("headers"))
    params = _pairs(mapper.get("queryParameters") if v4 else mapper.get("qs"))
    request: dict[str, Any] = {"method": method, "url": url}
    if module == HTTP_V3_CLIENT_CERT:
        request["client_certificate"] = "not presented: the export holds only its keychain id"
    has_type = any(name.lower() == "content-type" for name, _ in headers)
    if get_file or resolve:
        body = _Body()
    else:
        body = _body_v4(mapper, headers, has_type) if v4 else _body_v3(mapper, headers, has_type)
    secret_names: set[str] = set()
    auth: tuple[str, str] | None = None
    if keychain is not None:
        request["keychain"] = keychain.shown()
        if keychain.kind == "basicAuth":
            auth = (keychain.username, keychain.password)
        elif keychain.placement == "query":
            params.append((keychain.name, keychain.key))
            secret_names.add(keychain.name.lower())
        else:
            headers = [(n, v) for n, v in headers if n.lower() != keychain.name.lower()]
            headers.append((keychain.name, keychain.key))
            secret_names.add(keychain.name.lower())
    elif not v4 and (mapper.get("authUser") or mapper.get("authPass")):
        auth = (to_text(mapper.get("authUser")), to_text(mapper.get("authPass")))
    agent = str(settings["make.http.user_agent"])
    if agent and not any(name.lower() == "user-agent" for name, _ in headers):
        headers.append(("User-Agent", agent))
    if v4:
        stop = mapper.get("stopOnHttpError")
        evaluate_errors = settings["make.http.v4_stop_on_http_error"] if stop is None else stop is True
        follow = mapper.get("allowRedirects", True) is not False
    else:
        evaluate_errors = parameters.get("handleErrors", settings["make.http.v3_handle_errors"]) is True
        follow = resolve or (
            mapper.get("followRedirect", True) is not False
            and (
                method in ("GET", "HEAD")
                or mapper.get("followAllRedirects") is True
                or settings["make.http.v3_redirect_methods"] == "all"
            )
        )
    shown_names = frozenset(secret_names)
    request["headers"] = {name: mask(name, value, shown_names) for name, value in headers}
    if auth is not None:
        request["headers"]["Authorization"] = "Basic " + mask_key(auth[1] or "")
    if params:
        request["query"] = {name: mask(name, value, shown_names) for name, value in params}
    if body.content is not None:
        request["body"] = body.content
    elif body.form is not None or body.files is not None:
        files = body.files or {}
        request["body"] = body.form if body.form is not None else {k: v[1] for k, v in files.items()}
    request["evaluate_errors"] = evaluate_errors
    request["follow_redirects"] = follow
    if not v4:
        request["follow_setting"] = mapper.get("followRedirect", True) is not False
    grace = float(settings["make.http.latency_grace_s"])
    try:
        seconds = _timeout_seconds(mapper.get("timeout"), float(settings["make.http.default_timeout"]))
    except ModuleError as err:
        return _failed(err, request, None, ModuleClock(0.0, scale, grace, None, ""))
    request["timeout_s"] = seconds
    if not url.lower().startswith(("http://", "https://")):
        error = ModuleError("BundleValidationError", f"URL {url!r} is not an absolute http(s) URL")
        return _failed(error, request, None, ModuleClock(seconds, scale, grace, None, ""))
    try:
        target = _parsed_url(url)
    except httpx.InvalidURL as err:
        error = ModuleError("BundleValidationError", f"URL {url!r} is not a valid URL: {err}")
        return _failed(error, request, None, ModuleClock(seconds, scale, grace, None, ""))
    clock = ModuleClock(seconds, scale, grace, waits, target.path)
    clock.start()
    token = set_clock(clock)
    started = time.perf_counter()
    try:
        response = _client.send(
            method,
            target,
            headers=headers,
            params=list(params) if params else None,
            content=body.content,
            data=body.form,
            files=body.files,
            auth=auth,
            # the reads wait as the module clock says; the connect and the write get the same wall cap
            timeout=httpx.Timeout(clock.unknown_budget_s),
            follow_redirects=follow,
            jar=cookies if mapper.get("shareCookies") is True else None,
        )
        raw = response.content
    except httpx.TimeoutException:
        wall = time.perf_counter() - started
        return _timed_out(seconds, request, wall, settings, _timeout_note(clock, wall))
    except httpx.ConnectError as err:
        message = f"ECONNREFUSED: cannot connect to {url} ({err})"
        return _failed(ModuleError(settings["make.http.refused_error"], message), request, started, clock)
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as err:
        message = f"ECONNRESET: the connection closed without an answer ({err})"
        failed = _failed(ModuleError(settings["make.http.reset_error"], message), request, started, clock)
        if failed.modelled_s >= seconds:  # a scripted wait longer than the timeout came first
            return _timed_out(seconds, request, failed.wall_s, settings, None)
        return failed
    except httpx.LocalProtocolError as err:
        return _failed(ModuleError("BundleValidationError", str(err)), request, started, clock)
    except httpx.TooManyRedirects:
        return _failed(ModuleError("RuntimeError", "too many redirects"), request, started, clock)
    except httpx.HTTPError as err:
        return _failed(ModuleError("ConnectionError", str(err)), request, started, clock)
    finally:
        reset_clock(token)
    wall = time.perf_counter() - started
    modelled, scripted = clock.modelled(wall)
    if modelled >= seconds:  # a scripted wait (with the real latency around it) reached the timeout
        return _timed_out(seconds, request, wall, settings, None)
    note = None
    if scripted == 0.0 and wall > seconds * scale:
        note = (
            f"answered after {wall * 1000:.0f} ms of wall time, past the scaled timeout "
            f"({seconds * scale * 1000:.0f} ms) but inside make.http.latency_grace_s: no scripted wait "
            "was known, so the wait counts as the machine's latency (x1), not x1/time_scale"
        )
    timing = (wall, modelled, scripted, note)
    text = raw.decode("utf-8", errors="replace")
    status = response.status_code
    response_record = {"status": status, "body": text[:500]}
    if evaluate_errors and status >= 400:
        return HttpCall(None, status_error(status, text, settings), request, response_record, *timing)
    if resolve:
        return HttpCall({"url": str(response.url)}, None, request, response_record, *timing)
    if get_file:
        output: dict[str, Any] = {"fileName": _file_name(response, url), "data": text, "fileSize": len(raw)}
        return HttpCall(output, None, request, response_record, *timing)
    data: Any = text
    if mapper.get("parseResponse") is True:
        data, parse_error = _parse_body(text, response.headers.get("content-type", ""), settings)
        if parse_error is not None:
            return HttpCall(None, parse_error, request, response_record, *timing)
    if v4:
        output = {"data": data, "statusCode": status, "headers": dict(response.headers.items())}
    else:
        output = {
            "statusCode": status,
            "headers": [{"name": name, "value": value} for name, value in response.headers.items()],
            "cookieHeaders": response.headers.get_list("set-cookie"),
            "data": data,
            "fileSize": len(raw),
        }
    return HttpCall(output, None, request, response_record, *timing)
