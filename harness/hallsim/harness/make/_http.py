"""The HTTP app's "Make a request": v3 `http:ActionSendData` and v4 `http:MakeRequest`, over real sockets.

Rules (shared/reference/make.md "HTTP Make a request"): v3 output `statusCode`, `headers` (list of {name,
value}), `cookieHeaders`, `data` (parsed body when Parse response is on, else raw text), `fileSize`; v4
`data`, `statusCode`, `headers`. Error evaluation: v3 `parameters.handleErrors`, v4 `mapper.stopOnHttpError`;
when off, a 4xx/5xx is an ordinary output bundle. Timeout `mapper.timeout` in seconds, 1..300, stored as a
string; empty means the default (UNCONFIRMED, setting make.http.default_timeout). Status error types: 401/403
AccountValidationError (fatal), 429 RateLimitError, 503/504 ConnectionError, other 4xx/5xx RuntimeError. Which
type a socket timeout, refused connection or reset raises is UNCONFIRMED: settings
make.http.{timeout,refused,reset}_error.

v4 headers are a collection keyed by name: public exports map `{{N.headers.etag}}` from a v4 module."""

from __future__ import annotations

import atexit
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

from hallsim.emulator.journal import mask_token
from hallsim.harness.egress import EgressTransport
from hallsim.harness.make._names import HTTP_V3
from hallsim.harness.make._values import to_text

_CLIENT: httpx.Client | None = None
_LOCK = threading.Lock()


def shared_client() -> httpx.Client:
    """One keep-alive client for every replay in the process (replays are cheap when connections "
    "are reused)."""
    global _CLIENT
    with _LOCK:
        if _CLIENT is None:
            # hallsim.harness.egress: every module's request goes through the run's egress rule (the Hall and
            # sink for real, everything else to the run's stub service)
            limits = httpx.Limits(max_keepalive_connections=32, max_connections=64)
            _CLIENT = httpx.Client(transport=EgressTransport(httpx.HTTPTransport(limits=limits)))
            atexit.register(close_shared_client)
        return _CLIENT


def close_shared_client() -> None:
    global _CLIENT
    with _LOCK:
        if _CLIENT is not None:
            _CLIENT.close()
            _CLIENT = None


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


def _pairs(items: Any) -> list[tuple[str, str]]:
    pairs = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and to_text(item.get("name")).strip():
            # header values lose surrounding whitespace on the wire (RFC 9110 5.5): "Bearer " + empty is
            # "Bearer"
            pairs.append((to_text(item.get("name")).strip(), to_text(item.get("value")).strip()))
    return pairs


def mask(name: str, value: str) -> str:
    if name.lower() not in ("authorization", "x-api-key", "api-key"):
        return value
    scheme, _, secret = value.partition(" ")
    if not secret:
        scheme, secret = "", value
    shown = mask_token(secret) if secret.strip() else "(empty)"
    return f"{scheme} {shown}".strip()


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


def _status_error(status: int, body: str) -> ModuleError:
    snippet = body.strip().replace("\n", " ")[:200]
    message = f"[{status}] {snippet}" if snippet else f"[{status}]"
    if status in (401, 403):
        return ModuleError("AccountValidationError", message, status=status)
    if status == 429:
        return ModuleError("RateLimitError", message, status=status)
    if status in (503, 504):
        return ModuleError("ConnectionError", message, status=status)
    return ModuleError("RuntimeError", message, status=status)


def call(
    module: str, parameters: dict[str, Any], mapper: dict[str, Any], settings: dict[str, Any]
) -> HttpCall:
    """Send the module's request and build its output bundle, or the error Make would raise."""
    v3 = module == HTTP_V3
    scale = float(settings["time_scale"])
    url = to_text(mapper.get("url")).strip()
    method = (to_text(mapper.get("method")) or "get").upper()
    headers = _pairs(mapper.get("headers"))
    params = _pairs(mapper.get("qs") if v3 else mapper.get("queryParameters"))
    request: dict[str, Any] = {"method": method, "url": url}
    content: str | None = None
    form: dict[str, str] | None = None
    files: dict[str, tuple[None, str]] | None = None
    has_type = any(name.lower() == "content-type" for name, _ in headers)
    if v3:
        body_type = to_text(mapper.get("bodyType"))
        if body_type == "raw":
            content = to_text(mapper.get("data"))
            if mapper.get("contentType") and not has_type:
                headers.append(("Content-Type", to_text(mapper["contentType"])))
        elif body_type == "x_www_form_urlencoded":
            form = dict(_pairs(mapper.get("fields")))
        elif body_type == "multipart_form_data":
            files = {name: (None, value) for name, value in _pairs(mapper.get("fields"))}
        evaluate_errors = parameters.get("handleErrors", settings["make.http.v3_handle_errors"]) is True
        follow = mapper.get("followRedirect", True) is not False and (
            method in ("GET", "HEAD")
            or mapper.get("followAllRedirects") is True
            or settings["make.http.v3_redirect_methods"] == "all"
        )
    else:
        input_method = mapper.get("inputMethod", "jsonString")
        if input_method == "jsonString" and mapper.get("jsonStringBodyContent") is not None:
            content = to_text(mapper.get("jsonStringBodyContent"))
        elif input_method == "dataStructure" and mapper.get("dataStructureBodyContent") is not None:
            # the body's fields as mapped (exports hold them in `dataStructureBodyContent`); the data
            # structure that types them is not in the export, so values keep their mapped types
            content = json.dumps(mapper.get("dataStructureBodyContent"), default=to_text)
        if content is not None and to_text(mapper.get("contentType") or "json") == "json" and not has_type:
            headers.append(("Content-Type", "application/json"))
        stop = mapper.get("stopOnHttpError")
        evaluate_errors = settings["make.http.v4_stop_on_http_error"] if stop is None else stop is True
        follow = mapper.get("allowRedirects", True) is not False
    request["headers"] = {name: mask(name, value) for name, value in headers}
    if params:
        request["query"] = dict(params)
    if content is not None:
        request["body"] = content
    elif form is not None or files is not None:
        request["body"] = form if form is not None else {k: v[1] for k, v in (files or {}).items()}
    request["evaluate_errors"] = evaluate_errors
    request["follow_redirects"] = follow
    if v3:
        request["follow_setting"] = mapper.get("followRedirect", True) is not False
    try:
        seconds = _timeout_seconds(mapper.get("timeout"), float(settings["make.http.default_timeout"]))
    except ModuleError as err:
        return HttpCall(None, err, request, None, 0.0, 0.0)
    request["timeout_s"] = seconds
    if not url.lower().startswith(("http://", "https://")):
        error = ModuleError("BundleValidationError", f"URL {url!r} is not an absolute http(s) URL")
        return HttpCall(None, error, request, None, 0.0, 0.0)
    client = shared_client()  # created once per process (its TLS context costs tens of ms): not timed
    started = time.perf_counter()
    try:
        response = client.request(
            method,
            url,
            headers=headers,
            params=list(params) if params else None,
            content=content,
            data=form,
            files=files,
            timeout=httpx.Timeout(seconds * scale),
            follow_redirects=follow,
        )
        body = response.content
    except httpx.TimeoutException:
        wall = time.perf_counter() - started
        error = ModuleError(
            settings["make.http.timeout_error"], f"ETIMEDOUT: no answer within the {seconds:g} s timeout"
        )
        return HttpCall(None, error, request, None, wall, seconds)
    except httpx.ConnectError as err:
        wall = time.perf_counter() - started
        error = ModuleError(
            settings["make.http.refused_error"], f"ECONNREFUSED: cannot connect to {url} ({err})"
        )
        return HttpCall(None, error, request, None, wall, wall / scale)
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as err:
        wall = time.perf_counter() - started
        error = ModuleError(
            settings["make.http.reset_error"], f"ECONNRESET: the connection closed without an answer ({err})"
        )
        return HttpCall(None, error, request, None, wall, wall / scale)
    except httpx.LocalProtocolError as err:
        wall = time.perf_counter() - started
        return HttpCall(
            None, ModuleError("BundleValidationError", str(err)), request, None, wall, wall / scale
        )
    except httpx.TooManyRedirects:
        wall = time.perf_counter() - started
        return HttpCall(
            None, ModuleError("RuntimeError", "too many redirects"), request, None, wall, wall / scale
        )
    except httpx.HTTPError as err:
        wall = time.perf_counter() - started
        return HttpCall(None, ModuleError("ConnectionError", str(err)), request, None, wall, wall / scale)
    wall = time.perf_counter() - started
    modelled = wall / scale
    text = body.decode("utf-8", errors="replace")
    status = response.status_code
    response_record = {"status": status, "body": text[:500]}
    if evaluate_errors and status >= 400:
        return HttpCall(None, _status_error(status, text), request, response_record, wall, modelled)
    data: Any = text
    content_type = response.headers.get("content-type", "")
    if mapper.get("parseResponse") is True and "json" in content_type.lower() and text.strip():
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            error = ModuleError(
                settings["make.http.parse_error"], f"Failed to parse the response as JSON: {err.msg}"
            )
            return HttpCall(None, error, request, response_record, wall, modelled)
    if v3:
        output: dict[str, Any] = {
            "statusCode": status,
            "headers": [{"name": name, "value": value} for name, value in response.headers.items()],
            "cookieHeaders": response.headers.get_list("set-cookie"),
            "data": data,
            "fileSize": len(body),
        }
    else:
        output = {"data": data, "statusCode": status, "headers": dict(response.headers.items())}
    return HttpCall(output, None, request, response_record, wall, modelled)
