"""TLS for the stub service: a local certificate authority made once per process (trustme), and a leaf
certificate per server name a client asks for (SNI), signed by it.

The Node host trusts the authority through NODE_EXTRA_CA_CERTS (nodejs.org/api/cli.html: "the well known
'root' CAs will be extended with the extra certificates in file"), so a step's `https` call that the egress
guard sends to the stub completes a real, verified handshake. The authority never leaves the machine and is
made fresh for every Python process; its file is deleted at exit."""

from __future__ import annotations

import atexit
import contextlib
import os
import ssl
import tempfile
import threading
from pathlib import Path

#: the name on the certificate a client gets when it sends no server name (an https URL with an IP address)
NO_NAME = "hallsim-stub.invalid"


class StubAuthority:
    def __init__(self) -> None:
        # imported here: trustme brings in cryptography (some 40 ms), which a run that never makes the
        # authority (a Make replay with no https stub call) should not pay for
        import trustme

        self._ca = trustme.CA(organization_name="hallsim stub service")
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._names: dict[int, str] = {}
        self._lock = threading.Lock()
        handle, name = tempfile.mkstemp(prefix="hallsim-stub-ca-", suffix=".pem")
        os.close(handle)
        self.ca_file = Path(name)
        self._ca.cert_pem.write_to_path(str(self.ca_file))
        atexit.register(self._remove)
        self.server_context = self._context(NO_NAME)
        self.server_context.sni_callback = self._pick

    def _remove(self) -> None:
        with contextlib.suppress(OSError):
            self.ca_file.unlink()

    def _context(self, name: str) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.set_alpn_protocols(["http/1.1"])
        self._ca.issue_cert(name).configure_cert(context)
        return context

    def context_for(self, name: str) -> ssl.SSLContext:
        key = name.lower().rstrip(".")
        with self._lock:
            context = self._contexts.get(key)
            if context is None:
                context = self._contexts[key] = self._context(key)
                self._names[id(context)] = key
            return context

    def name_of(self, sock: ssl.SSLSocket) -> str | None:
        """The server name the client sent (SNI), after the handshake; None when it sent none."""
        with self._lock:
            return self._names.get(id(sock.context))

    def _pick(self, sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: ssl.SSLContext) -> None:
        if name:
            sock.context = self.context_for(name)


_authority: StubAuthority | None = None
_lock = threading.Lock()


def stub_authority() -> StubAuthority:
    """The process's stub certificate authority, made on first use."""
    global _authority
    with _lock:
        if _authority is None:
            _authority = StubAuthority()
        return _authority
