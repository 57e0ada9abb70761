"""TLS for the stub service: a local certificate authority, and a leaf certificate per server name a client
asks for (SNI), signed by it (trustme).

The Node host trusts the authority through NODE_EXTRA_CA_CERTS (nodejs.org/api/cli.html: "the well known
'root' CAs will be extended with the extra certificates in file"), so a step's `https` call that the egress
guard sends to the stub completes a real, verified handshake. Node reads that file once, when it starts, so
the authority's certificate must exist before the host does.

Making an authority means importing trustme and cryptography, some 140 ms, and a fresh `hallsim replay`
used to pay them before its Node host could start. So the authority is kept per user, in
`$XDG_CACHE_HOME/hallsim/stub-ca/stub-ca.pem` (else `~/.cache/...`; `HALLSIM_STUB_CA_DIR` names another
folder, or `none` for a fresh authority in every process): key and certificate in one file of mode 0600, in a
folder of mode 0700 owned by the user, made again when older than `MAX_AGE_S`, unreadable, or open to
others. The host
then starts from the certificate alone, and cryptography is imported only to issue leaf certificates
(`ready()`, before a run's stub service serves). The authority is trusted by nothing but the Node processes
hallsim starts, and leaves the machine never. Each process reads key and certificate together once and
writes its own copy of the certificate for Node, so another process renewing the file meanwhile changes
nothing for it."""

from __future__ import annotations

import atexit
import contextlib
import os
import ssl
import stat
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

#: the name on the certificate a client gets when it sends no server name (an https URL with an IP address)
NO_NAME = "hallsim-stub.invalid"
#: how long a kept authority is used before a new one is made
MAX_AGE_S = 30 * 24 * 3600
_CACHE_FILE = "stub-ca.pem"
_MAX_FILE_BYTES = 64 * 1024
_CERT_BEGIN = b"-----BEGIN CERTIFICATE-----"


def cache_dir(environ: dict[str, str] | os._Environ[str] | None = None) -> Path | None:
    """Where the authority is kept; None when it is not kept (HALLSIM_STUB_CA_DIR=none)."""
    env = os.environ if environ is None else environ
    given = env.get("HALLSIM_STUB_CA_DIR")
    if given is not None:
        return None if given.strip().lower() in ("", "none") else Path(given)
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hallsim" / "stub-ca"


def _private(st: os.stat_result, *, folder: bool) -> bool:
    """Owned by this user and open to nobody else (the key signs certificates hallsim's Node trusts)."""
    kind = stat.S_ISDIR(st.st_mode) if folder else stat.S_ISREG(st.st_mode)
    return kind and st.st_uid == os.getuid() and not st.st_mode & 0o077


def _split(pem: bytes) -> tuple[bytes, bytes] | None:
    """(certificate PEM, private key PEM) from the kept file, or None when it does not hold both."""
    at = pem.find(_CERT_BEGIN)
    if at <= 0 or b"PRIVATE KEY-----" not in pem[:at]:
        return None
    return pem[at:], pem[:at]


def _read_kept(folder: Path) -> tuple[bytes, bytes] | None:
    path = folder / _CACHE_FILE
    try:
        if not _private(folder.stat(), folder=True):
            return None
        with path.open("rb") as file:
            st = os.fstat(file.fileno())
            if not _private(st, folder=False) or st.st_size > _MAX_FILE_BYTES:
                return None
            if time.time() - st.st_mtime > MAX_AGE_S:
                return None
            return _split(file.read(_MAX_FILE_BYTES + 1))
    except OSError:
        return None


def _keep(folder: Path, cert_pem: bytes, key_pem: bytes) -> None:
    """Write the authority for the next processes (atomically; a folder that cannot be used is left be)."""
    with contextlib.suppress(OSError):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(folder.stat(), folder=True):
            return
        handle, name = tempfile.mkstemp(dir=folder, prefix=".stub-ca-", suffix=".tmp")  # mode 0600
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(key_pem + cert_pem)
            os.replace(name, folder / _CACHE_FILE)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(name)


def _new_authority() -> Any:
    import trustme  # cryptography with it: only when no kept authority can be used

    return trustme.CA(organization_name="hallsim stub service")


class StubAuthority:
    """This process's authority: its certificate file (for Node) at once, its signing parts on ready()."""

    def __init__(self, cert_pem: bytes, key_pem: bytes, ca: Any = None) -> None:
        self._pems = (cert_pem, key_pem)
        self._ca = ca
        self._server_context: ssl.SSLContext | None = None
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._names: dict[int, str] = {}
        self._lock = threading.Lock()
        handle, name = tempfile.mkstemp(prefix="hallsim-stub-ca-", suffix=".pem")
        with os.fdopen(handle, "wb") as file:
            file.write(cert_pem)
        self.ca_file = Path(name)
        atexit.register(self._remove)

    @classmethod
    def load(cls, folder: Path | None) -> StubAuthority:
        """The kept authority when there is a usable one; else a new one, kept for the next processes."""
        kept = _read_kept(folder) if folder is not None else None
        if kept is not None:
            return cls(*kept)
        ca = _new_authority()
        cert_pem, key_pem = ca.cert_pem.bytes(), ca.private_key_pem.bytes()
        if folder is not None:
            _keep(folder, cert_pem, key_pem)
        return cls(cert_pem, key_pem, ca)

    def _remove(self) -> None:
        with contextlib.suppress(OSError):
            self.ca_file.unlink()

    def ready(self) -> None:
        """Import what issuing certificates takes and make the context for clients that send no name: done
        before a stub service serves, so no run's handshake waits for it."""
        with self._lock:
            if self._server_context is not None:
                return
            if self._ca is None:
                import trustme

                self._ca = trustme.CA.from_pem(*self._pems)
            context = self._issue(NO_NAME)
            context.sni_callback = self._pick
            self._server_context = context

    @property
    def server_context(self) -> ssl.SSLContext:
        self.ready()
        assert self._server_context is not None
        return self._server_context

    def _issue(self, name: str) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.set_alpn_protocols(["http/1.1"])
        self._ca.issue_cert(name).configure_cert(context)
        return context

    def context_for(self, name: str) -> ssl.SSLContext:
        self.ready()
        key = name.lower().rstrip(".")
        with self._lock:
            context = self._contexts.get(key)
            if context is None:
                context = self._contexts[key] = self._issue(key)
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
    """The process's stub certificate authority, loaded (or made) on first use."""
    global _authority
    with _lock:
        if _authority is None:
            _authority = StubAuthority.load(cache_dir())
        return _authority
