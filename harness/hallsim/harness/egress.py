"""The egress rule, one for both platforms: a run may connect to its own Hall and sink (and the `HOST:PORT`
entries the user allows explicitly) and to nothing else. The rule is decided on the resolved address and port
at connect time: in Node by netguard.cjs at the native connect, in the Make replay by `EgressTransport`, the
httpx transport of every HTTP module. Every other call is sent to the run's stub service
(hallsim.harness.stubs), which answers and records it.

A name is resolved only when it is the name of one of the run's endpoints (so no DNS query leaves for a
third-party host); a call by any other name, or to any other address or port, goes to the stub. `*.localhost`
names and other loopback addresses (127.0.0.2 on the Hall's port) are not the Hall."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import ipaddress
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpcore  # noqa: F401  (see below)
import httpx

from hallsim.harness._errors import InputError
from hallsim.harness.stubs import TARGET_HEADER, StubRun

# httpcore is imported here, with hallsim, rather than lazily by httpx's first transport: a first import
# inside an in-process pytest run (pytester) is dropped from sys.modules afterwards, and httpx's exception
# map would then hold classes nobody raises (a timeout escaping as httpcore.ReadTimeout)


@dataclass(frozen=True)
class Endpoint:
    """One place a run may reach: the name it was given by, its port, and the addresses that name has now."""

    host: str
    port: int
    addresses: tuple[str, ...]
    what: str

    def to_json(self) -> dict[str, Any]:
        return {"what": self.what, "host": self.host, "port": self.port, "addresses": list(self.addresses)}


@functools.lru_cache(maxsize=1024)
def _normalise(address: str) -> str:
    text = address.lower().strip("[]")
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        return text
    mapped = getattr(parsed, "ipv4_mapped", None)
    return str(mapped or parsed)


@functools.lru_cache(maxsize=1024)
def _literal(host: str) -> str | None:
    """The address an IP-literal host names (normalised), None for a name."""
    try:
        return _normalise(ipaddress.ip_address(host.strip("[]")).compressed)
    except ValueError:
        return None


def _resolve(host: str, port: int) -> tuple[str, ...]:
    literal = _literal(host)
    if literal is not None:
        return (literal,)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return ()  # a Hall that does not resolve stays unreachable: its calls fail as they would
    return tuple(dict.fromkeys(_normalise(str(info[4][0])) for info in infos))


def endpoint(url: str, what: str) -> Endpoint | None:
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InputError(f"{what}: {url!r} has an invalid port") from None
    return Endpoint(parts.hostname.lower(), port, _resolve(parts.hostname, port), what)


@dataclass(frozen=True)
class EgressRule:
    endpoints: tuple[Endpoint, ...] = ()

    @classmethod
    def for_run(cls, urls: Iterable[tuple[str | None, str]], allow: Iterable[str] = ()) -> EgressRule:
        """The run's endpoints: (url, what) pairs (None skipped), then the `HOST:PORT` entries allowed. A rule
        that names only IP addresses resolves nothing, so the same URLs give the same rule: it is made once
        (a name is resolved again for every run)."""
        key = (tuple(urls), tuple(allow))
        known = _RULES.get(key)
        if known is not None:
            return known
        rule = cls._made(*key)
        if all(_literal(point.host) is not None for point in rule.endpoints):
            if len(_RULES) >= 256:
                _RULES.clear()
            _RULES[key] = rule
        return rule

    @classmethod
    def _made(cls, urls: Iterable[tuple[str | None, str]], allow: Iterable[str]) -> EgressRule:
        found: list[Endpoint] = []
        for url, what in urls:
            if url:
                point = endpoint(url, what)
                if point is not None:
                    found.append(point)
        for entry in allow:
            host, _, port = entry.rpartition(":")
            host = host.strip("[]").lower()
            found.append(Endpoint(host, int(port), _resolve(host, int(port)), "egress_allow"))
        return cls(tuple(found))

    @functools.cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(point.host for point in self.endpoints))

    @functools.cached_property
    def _allowed(self) -> frozenset[tuple[str, int]]:
        return frozenset((address, point.port) for point in self.endpoints for address in point.addresses)

    def allows(self, address: str, port: int) -> bool:
        return (_normalise(address), port) in self._allowed

    def to_node(self, stub: StubRun | None) -> dict[str, Any]:
        """The rule as netguard.cjs takes it."""
        return {
            "allow": [{"address": a, "port": p.port} for p in self.endpoints for a in p.addresses],
            "names": list(self.names),
            "stub": {"address": stub.address, "port": stub.port} if stub is not None else None,
        }

    def to_json(self) -> list[dict[str, Any]]:
        return [point.to_json() for point in self.endpoints]


#: rules made from IP-literal URLs only, by their (urls, allow) (EgressRule.for_run)
_RULES: dict[tuple[tuple[tuple[str | None, str], ...], tuple[str, ...]], EgressRule] = {}


@dataclass(frozen=True)
class Walls:
    """Which walls kept a run's traffic on the machine, for the trace."""

    #: the in-process guard: "node" (netguard.cjs), "httpx" (EgressTransport)
    guard: str
    #: a network namespace with only loopback up (hallsim.harness.netns), when the run is inside one
    network_namespace: bool = field(default_factory=lambda: _in_namespace())

    def to_json(self) -> dict[str, Any]:
        return {"guard": self.guard, "network_namespace": self.network_namespace}

    def describe(self) -> str:
        parts = [f"in-process guard ({self.guard})"]
        parts.append(
            "network namespace (loopback only)" if self.network_namespace else "no network namespace"
        )
        return ", ".join(parts)


def _in_namespace() -> bool:
    from hallsim.harness.netns import inside_namespace

    return inside_namespace()


# -- the Make replay's HTTP modules ------------------------------------------------------------------------


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
            for address in _resolve(host, port):
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
