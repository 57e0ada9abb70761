"""Stubs for everything that is not the Hall: a local service that answers, by rules, every outbound call the
egress guard keeps on the machine, and records it.

Its names are imported when first used (lazy_loader), so what reads stub rules (a workflow file's `stubs:`)
does not load the service (h11, sockets) or its TLS authority. Type checkers and IDEs read the names from the
imports below."""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
    from hallsim.harness.stubs._rules import AUTO as AUTO
    from hallsim.harness.stubs._rules import DEFAULT_ANSWER as DEFAULT_ANSWER
    from hallsim.harness.stubs._rules import REFUSE as REFUSE
    from hallsim.harness.stubs._rules import StubError as StubError
    from hallsim.harness.stubs._rules import Stubs as Stubs
    from hallsim.harness.stubs._rules import is_loopback_host as is_loopback_host
    from hallsim.harness.stubs._rules import parse_stub_default as parse_stub_default
    from hallsim.harness.stubs._rules import parse_stub_line as parse_stub_line
    from hallsim.harness.stubs._rules import parse_stub_rule as parse_stub_rule
    from hallsim.harness.stubs._rules import parse_stubs as parse_stubs
    from hallsim.harness.stubs._rules import stubs_from as stubs_from
    from hallsim.harness.stubs._server import TARGET_HEADER as TARGET_HEADER
    from hallsim.harness.stubs._server import StubCall as StubCall
    from hallsim.harness.stubs._server import StubRun as StubRun
    from hallsim.harness.stubs._tls import stub_authority as stub_authority

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_rules": [
            "AUTO",
            "DEFAULT_ANSWER",
            "REFUSE",
            "StubError",
            "Stubs",
            "is_loopback_host",
            "parse_stub_default",
            "parse_stub_line",
            "parse_stub_rule",
            "parse_stubs",
            "stubs_from",
        ],
        "_server": ["TARGET_HEADER", "StubCall", "StubRun"],
        "_tls": ["stub_authority"],
    },
)
