"""Stubs for everything that is not the Hall: a local service that answers, by rules, every outbound call the
egress guard keeps on the machine, and records it."""

from __future__ import annotations

from hallsim.harness.stubs._rules import (
    AUTO,
    DEFAULT_ANSWER,
    REFUSE,
    StubError,
    Stubs,
    is_loopback_host,
    parse_stub_default,
    parse_stub_line,
    parse_stub_rule,
    parse_stubs,
    stubs_from,
)
from hallsim.harness.stubs._server import TARGET_HEADER, StubCall, StubRun
from hallsim.harness.stubs._tls import stub_authority

__all__ = [
    "AUTO",
    "DEFAULT_ANSWER",
    "REFUSE",
    "TARGET_HEADER",
    "StubCall",
    "StubError",
    "StubRun",
    "Stubs",
    "is_loopback_host",
    "parse_stub_default",
    "parse_stub_line",
    "parse_stub_rule",
    "parse_stubs",
    "stub_authority",
    "stubs_from",
]
