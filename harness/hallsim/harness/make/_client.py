"""The HTTP modules' client: one keep-alive transport for the process (the run's egress rule over httpx's own
transport, its reads under the module clock, `_waits`) and the send loop over it: Basic auth, redirects.

The send loop is httpx.Client's, without what a Make module does not use and a replay pays for on every
request (a client-wide cookie jar, URL merging, event hooks, the log line): 2-3 times cheaper per request.
What it keeps is what httpx.Client does (httpx/_client.py `_send_handling_redirects`,
`_build_redirect_request`): at most 20 redirects; 301 turns POST into GET, 302 and 303 turn anything but
HEAD into GET, and a request turned into GET loses its body and its Content-Length / Transfer-Encoding;
a redirect to another origin drops Authorization (except http -> https on the same host) and sets Host;
cookies an answer sets go with the redirects of the same request.

Cookies do not outlive the request: Make's HTTP modules do not share cookies unless "Share cookies with
other HTTP modules" (`shareCookies`) is on (apps.make.com "HTTP"); those that have it on send and keep the
run's shared cookies (`jar`). One run's cookies never reach the next run."""

from __future__ import annotations

import atexit
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from hallsim.harness._once import Once
from hallsim.harness.make._egress import EgressTransport
from hallsim.harness.make._waits import ClockedBackend
from hallsim.harness.make._wire import WireTransport

#: httpx.Client's default (Client.max_redirects)
MAX_REDIRECTS = 20
_REDIRECTS = frozenset((301, 302, 303, 307, 308))


class _ClockedTransport(httpx.HTTPTransport):
    """httpx's own transport whose connections read under the module clock (`_waits`): a module's timeout
    fires on a scripted wait, not on the machine's latency."""

    def __init__(self, limits: httpx.Limits) -> None:
        ssl_context = httpx.create_ssl_context()
        super().__init__(verify=ssl_context, limits=limits)
        self._pool.close()
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=ClockedBackend(),
        )


class _OnFirstUse(httpx.BaseTransport):
    """A transport made when the first request needs it: httpx's own makes its TLS context when it is made
    (some 35 ms, certifi's bundle loaded), and a replay whose calls are all plain HTTP (WireTransport)
    never uses it."""

    def __init__(self, make: Callable[[], httpx.BaseTransport]) -> None:
        self._made = Once(make)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._made().handle_request(request)

    def close(self) -> None:
        made = self._made.forget()
        if made is not None:
            made.close()


@dataclass(frozen=True)
class ModuleClient:
    """The transport every module request goes through, and the headers every request starts from."""

    transport: EgressTransport
    #: what httpx.Client sends by default, less `Accept: */*` and its own User-Agent: Make's HTTP app sends
    #: neither (the run's User-Agent is added per request)
    default_headers: tuple[tuple[str, str], ...]

    def close(self) -> None:
        self.transport.close()


def new_client() -> ModuleClient:
    """The one place the Make modules' client is made."""
    # hallsim.harness.egress: every module's request goes through the run's egress rule (the Hall and sink
    # for real, everything else to the run's stub service)
    limits = httpx.Limits(max_keepalive_connections=32, max_connections=64)
    # httpx.Client's default headers, from a client that sends nothing
    with httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(500))) as empty:
        headers = httpx.Headers(empty.headers)
    del headers["accept"]
    del headers["user-agent"]
    defaults = tuple((name.decode("latin-1"), value.decode("latin-1")) for name, value in headers.raw)
    tls = _OnFirstUse(lambda: _ClockedTransport(limits))
    return ModuleClient(EgressTransport(WireTransport(tls)), defaults)


def _new_shared_client() -> ModuleClient:
    atexit.register(close_shared_client)
    return new_client()


#: one keep-alive client for every replay in the process (replays are cheap when connections are reused;
#: its TLS context costs tens of ms): `shared_client()`
shared_client = Once(_new_shared_client)


def close_shared_client() -> None:
    client = shared_client.forget()
    if client is not None:
        client.close()


def send(
    method: str,
    url: httpx.URL,
    *,
    headers: list[tuple[str, str]],
    params: list[tuple[str, str]] | None,
    content: str | None,
    data: dict[str, str] | None,
    files: dict[str, tuple[None, str]] | None,
    auth: tuple[str, str] | None,
    timeout: httpx.Timeout,
    follow_redirects: bool,
    jar: httpx.Cookies | None = None,
) -> httpx.Response:
    """Send one module request (and its redirects, when followed); the answer's body is read. `jar`: the
    run's shared cookies, for a module that shares them."""
    client = shared_client()
    # httpx.Client's merge (Headers.update): a default the module sets itself goes, the module's follow
    given = {name.lower() for name, _ in headers}
    merged = [pair for pair in client.default_headers if pair[0].lower() not in given]
    merged.extend(headers)
    request = httpx.Request(
        method,
        url,
        params=tuple(params) if params else None,
        headers=merged,
        content=content,
        data=data,
        files=files,
        extensions={"timeout": timeout.as_dict()},
    )
    if auth is None and (url.username or url.password):
        auth = (url.username, url.password)  # httpx.Client: credentials in the URL are Basic auth
    if auth is not None:
        request = next(httpx.BasicAuth(*auth).sync_auth_flow(request))
    cookies = jar
    if jar is not None:
        jar.set_cookie_header(request)
    history: list[httpx.Response] = []
    while True:
        if len(history) > MAX_REDIRECTS:
            raise httpx.TooManyRedirects("Exceeded maximum allowed redirects.", request=request)
        response = client.transport.handle_request(request)
        response.request = request
        try:
            response.history = list(history)
            if "set-cookie" in response.headers:
                cookies = cookies if cookies is not None else httpx.Cookies()
                cookies.extract_cookies(response)
            response.read()
        finally:
            response.close()
        if not follow_redirects or not (
            response.status_code in _REDIRECTS and "location" in response.headers
        ):
            return response
        request = _redirected(request, response, cookies)
        history.append(response)


def _redirected(
    request: httpx.Request, response: httpx.Response, cookies: httpx.Cookies | None
) -> httpx.Request:
    status = response.status_code
    method = request.method
    if status in (302, 303) and method != "HEAD":
        method = "GET"
    if status == 301 and method == "POST":
        method = "GET"
    url = _location(request, response)
    headers = httpx.Headers(request.headers)
    if not _same_origin(url, request.url):
        if not _https_upgrade(request.url, url):
            headers.pop("Authorization", None)
        headers["Host"] = url.netloc.decode("ascii")
    to_get = method != request.method and method == "GET"
    if to_get:
        headers.pop("Content-Length", None)
        headers.pop("Transfer-Encoding", None)
    headers.pop("Cookie", None)
    stream: Any = None if to_get else request.stream
    redirected = httpx.Request(method, url, headers=headers, stream=stream, extensions=request.extensions)
    if cookies is not None:
        cookies.set_cookie_header(redirected)
    return redirected


def _location(request: httpx.Request, response: httpx.Response) -> httpx.URL:
    try:
        url = httpx.URL(response.headers["location"])
    except httpx.InvalidURL as err:
        raise httpx.RemoteProtocolError(f"Invalid URL in location header: {err}.", request=request) from None
    if url.scheme and not url.host:
        url = url.copy_with(host=request.url.host)
    if url.is_relative_url:
        url = request.url.join(url)
    if request.url.fragment and not url.fragment:
        url = url.copy_with(fragment=request.url.fragment)
    return url


def _port(url: httpx.URL) -> int | None:
    return url.port or {"http": 80, "https": 443}.get(url.scheme)


def _same_origin(url: httpx.URL, other: httpx.URL) -> bool:
    return url.scheme == other.scheme and url.host == other.host and _port(url) == _port(other)


def _https_upgrade(url: httpx.URL, location: httpx.URL) -> bool:
    if url.host != location.host:
        return False
    return url.scheme == "http" and _port(url) == 80 and location.scheme == "https" and _port(location) == 443
