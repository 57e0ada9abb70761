"""The Make replay's side of the egress rule (hallsim.harness.egress): the transport under every HTTP module's
request. A request for one of the run's endpoints goes to the address its name resolved to (checked); anything
else goes to the run's stub service, or is refused when there is none. Apart from the rule so that what does
not use httpx (the Pipedream harness) does not import it."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpcore  # noqa: F401  (see below)
import httpx

from hallsim.harness.egress import EgressRule, resolve
from hallsim.harness.stubs import TARGET_HEADER, StubRun

# httpcore is imported here, with hallsim, rather than lazily by httpx's first transport: a first import
# inside an in-process pytest run (pytester) is dropped from sys.modules afterwards, and httpx's exception
# map would then hold classes nobody raises (a timeout escaping as httpcore.ReadTimeout)


@dataclass(frozen=True)
class _Active:
    rule: EgressRule
    stub: StubRun | None
    #: attempts the rule kept from the network: (url, why), for the trace
    refused: list[tuple[str, str]] = field(default_factory=list)


_active: contextvars.ContextVar[_Active | None] = contextvars.ContextVar("hallsim_egress", default=None)


@contextlib.contextmanager
def egress_scope(rule: EgressRule, stub: StubRun | None) -> Iterator[_Active]:
    """While inside, EgressTransport applies `rule` and sends everything else to `stub` (None: refuses it)."""
    active = _Active(rule, stub)
    token = _active.set(active)
    try:
        yield active
    finally:
        _active.reset(token)


class EgressRefused(httpx.ConnectError):
    """A call the egress rule kept from the network with no stub service to answer it."""


class EgressTransport(httpx.BaseTransport):
    """Wraps the client's real transport: a request for an allowed endpoint goes to the address its name
    resolved to (checked), anything else to the run's stub service over plain HTTP, with the URL it was for
    in the `x-hallsim-target` header. Outside an `egress_scope` every request is refused."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        active = _active.get()
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        host = url.host.lower()
        if active is None:
            raise EgressRefused(
                f"hallsim refused a connection to {host}:{port}: no run is active", request=request
            )
        if host in active.rule.names:
            for address in resolve(host, port):
                if active.rule.allows(address, port):
                    return self._direct(request, address)
        elif active.rule.allows(host, port):
            return self.inner.handle_request(request)
        if active.stub is None:
            why = "not the run's Hall or sink, and no stub service is running"
            active.refused.append((str(url), why))
            raise EgressRefused(f"hallsim refused a connection to {host}:{port}: {why}", request=request)
        return self._stubbed(request, active.stub)

    def _direct(self, request: httpx.Request, address: str) -> httpx.Response:
        # connect to the address that was checked, not to whatever the name resolves to a moment later
        if request.url.host.lower() == address:
            return self.inner.handle_request(request)
        shown = f"[{address}]" if ":" in address else address
        extensions = dict(request.extensions)
        if request.url.scheme == "https":
            extensions["sni_hostname"] = request.headers.get("host", "").split(":")[0]
        return self._send(request, request.url.copy_with(host=shown.strip("[]")), {}, extensions)

    def _stubbed(self, request: httpx.Request, stub: StubRun) -> httpx.Response:
        original = str(request.url)
        url = httpx.URL(scheme="http", host=stub.address, port=stub.port, raw_path=request.url.raw_path)
        try:
            return self._send(request, url, {TARGET_HEADER: original}, dict(request.extensions))
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
            why = next((c.detail for c in reversed(stub.calls()) if c.refused and c.url == original), None)
            if why is not None:
                raise EgressRefused(
                    f"hallsim refused the call to {original}: {why}", request=request
                ) from None
            raise

    def _send(
        self, request: httpx.Request, url: httpx.URL, headers: dict[str, str], extensions: dict[str, Any]
    ) -> httpx.Response:
        """Send `request` to `url` instead, leaving the client's own request as it was: the client (and so a
        module's redirects and the URL it reports) goes on seeing the URL it asked for, never the stub's
        address or the resolved one."""
        forwarded = httpx.Request(
            request.method,
            url,
            headers=[*request.headers.raw, *((k.encode(), v.encode()) for k, v in headers.items())],
            stream=request.stream,
            extensions=extensions,
        )
        response = self.inner.handle_request(forwarded)
        response.request = request
        return response

    def close(self) -> None:
        self.inner.close()
