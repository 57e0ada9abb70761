"""The egress rule, one for both platforms: a run may connect to its own Hall and sink (and the `HOST:PORT`
entries the user allows explicitly) and to nothing else. The rule is decided on the resolved address and port
at connect time: in Node by netguard.cjs at the native connect, in the Make replay by the transport of every
HTTP module (hallsim.harness.make._egress). Every other call is sent to the run's stub service
(hallsim.harness.stubs), which answers and records it.

A name is resolved only when it is the name of one of the run's endpoints (so no DNS query leaves for a
third-party host); a call by any other name, or to any other address or port, goes to the stub. `*.localhost`
names and other loopback addresses (127.0.0.2 on the Hall's port) are not the Hall."""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from hallsim.harness._errors import InputError

if TYPE_CHECKING:
    from hallsim.harness.stubs import StubRun


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


def resolve(host: str, port: int) -> tuple[str, ...]:
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
    return Endpoint(parts.hostname.lower(), port, resolve(parts.hostname, port), what)


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
            found.append(Endpoint(host, int(port), resolve(host, int(port)), "egress_allow"))
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
            "stub": (
                {"address": stub.address, "port": stub.port, "fingerprint256": stub.fingerprint256}
                if stub is not None
                else None
            ),
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
