"""TLS for the stub service: a local certificate authority (trustme), and one certificate it signed that the
stub service presents to every client, whatever server name it sent.

The Node host trusts the authority through NODE_EXTRA_CA_CERTS (nodejs.org/api/cli.html: "the well known
'root' CAs will be extended with the extra certificates in file"), so a step's `https` call that the egress
guard sends to the stub completes a real handshake whose chain Node verifies. Node reads that file once, when
it starts, so the authority's certificate must exist before the host does. The name check is the one thing
the stub service's certificate cannot pass for every name: the egress guard (netguard.cjs) accepts this
certificate, by its SHA-256 fingerprint (`fingerprint256`), in place of the name the step asked for, and
checks every other certificate as Node does.

One certificate for every name, rather than one issued per name during the handshake: no handshake waits for
a certificate to be made (a step's scaled clock counted that wait 100 times over, a second or more on a busy
machine), and no process needs cryptography once the authority is kept. Making one means importing trustme
and cryptography, some 60-140 ms of the GIL, which a fresh `hallsim replay` used to pay while it loaded the
workflow. So the authority and the service's certificate are kept per user, in
`$XDG_CACHE_HOME/hallsim/stub-ca/stub-tls.pem` (else `~/.cache/...`; `HALLSIM_STUB_CA_DIR` names another
folder, or `none` for a fresh authority in every process): both keys and both certificates in one file of
mode 0600, in a folder of mode 0700 owned by the user, made again when older than `MAX_AGE_S`, unreadable, or
open to others. The authority is trusted by nothing but the Node processes hallsim starts, and leaves the
machine never. Each process reads the file once, and writes its own copy of the authority's certificate for
Node, so another process renewing the file meanwhile changes nothing for it."""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import re
import ssl
import stat
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

from hallsim.harness._once import Once

#: the name on the stub service's certificate (RFC 6761: .invalid is never a real name)
SERVICE_NAME = "stub.hallsim.invalid"
#: how long a kept authority is used before a new one is made
MAX_AGE_S = 30 * 24 * 3600
# a name of its own: an older hallsim keeps the authority alone in stub-ca.pem; neither remakes the other's
_CACHE_FILE = "stub-tls.pem"
_MAX_FILE_BYTES = 64 * 1024
# RFC 7468 2: "-----BEGIN label-----", base64 lines, "-----END label-----"
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----\r?\n?", re.S)


@dataclass(frozen=True)
class KeptPems:
    """The authority's certificate and key, and the stub service's, as PEM: what the kept file holds."""

    ca_cert: bytes
    ca_key: bytes
    service_cert: bytes
    service_key: bytes

    def to_file(self) -> bytes:
        return self.ca_key + self.ca_cert + self.service_key + self.service_cert

    @classmethod
    def from_file(cls, data: bytes) -> KeptPems | None:
        """None unless the file holds exactly a key, a certificate, a key, a certificate (to_file's order)."""
        blocks = [(match.group(1), match.group(0)) for match in _PEM_BLOCK.finditer(data)]
        kinds = [b"KEY" if label.endswith(b"PRIVATE KEY") else label for label, _ in blocks]
        if kinds != [b"KEY", b"CERTIFICATE", b"KEY", b"CERTIFICATE"]:
            return None
        (_, ca_key), (_, ca_cert), (_, service_key), (_, service_cert) = blocks
        return cls(ca_cert, ca_key, service_cert, service_key)


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


def _read_kept(folder: Path) -> KeptPems | None:
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
            return KeptPems.from_file(file.read(_MAX_FILE_BYTES + 1))
    except OSError:
        return None


def _keep(folder: Path, pems: KeptPems) -> None:
    """Write the authority for the next processes (atomically; a folder that cannot be used is left be)."""
    with contextlib.suppress(OSError):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(folder.stat(), folder=True):
            return
        handle, name = tempfile.mkstemp(dir=folder, prefix=".stub-ca-", suffix=".tmp")  # mode 0600
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(pems.to_file())
            os.replace(name, folder / _CACHE_FILE)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(name)


def _new_pems() -> KeptPems:
    import trustme  # cryptography with it: only when no kept authority can be used

    ca = trustme.CA(organization_name="hallsim stub service")
    service = ca.issue_cert(SERVICE_NAME)
    return KeptPems(
        ca.cert_pem.bytes(),
        ca.private_key_pem.bytes(),
        service.cert_chain_pems[0].bytes(),
        service.private_key_pem.bytes(),
    )


def fingerprint256(cert_pem: bytes) -> str:
    """A certificate's SHA-256 fingerprint as Node's `getPeerCertificate().fingerprint256` spells it
    (nodejs.org/api/tls.html "Certificate object": colon-separated upper-case hex)."""
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(cert_pem.decode("ascii"))).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


class StubAuthority:
    """This process's authority: its certificate file (for Node), and the stub service's TLS context."""

    def __init__(self, pems: KeptPems) -> None:
        self.pems = pems
        #: what netguard.cjs accepts in place of the name a step asked for (the service's certificate)
        self.fingerprint256 = fingerprint256(pems.service_cert)
        self._server_context: ssl.SSLContext | None = None
        self._names: weakref.WeakKeyDictionary[ssl.SSLSocket, str] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        handle, name = tempfile.mkstemp(prefix="hallsim-stub-ca-", suffix=".pem")
        with os.fdopen(handle, "wb") as file:
            file.write(pems.ca_cert)
        self.ca_file = Path(name)
        atexit.register(self._remove)

    @classmethod
    def load(cls, folder: Path | None) -> StubAuthority:
        """The kept authority when there is a usable one; else a new one, kept for the next processes."""
        kept = _read_kept(folder) if folder is not None else None
        if kept is not None:
            return cls(kept)
        pems = _new_pems()
        if folder is not None:
            _keep(folder, pems)
        return cls(pems)

    def _remove(self) -> None:
        with contextlib.suppress(OSError):
            self.ca_file.unlink()

    def ready(self) -> None:
        """Make the stub service's TLS context (a millisecond; no cryptography): before a stub service
        serves, so no handshake waits for it."""
        with self._lock:
            if self._server_context is not None:
                return
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.set_alpn_protocols(["http/1.1"])
            # load_cert_chain reads files only: a private one of this process's, gone once read
            handle, name = tempfile.mkstemp(prefix="hallsim-stub-service-", suffix=".pem")  # mode 0600
            try:
                with os.fdopen(handle, "wb") as file:
                    file.write(self.pems.service_key + self.pems.service_cert + self.pems.ca_cert)
                context.load_cert_chain(name)
            finally:
                os.unlink(name)
            context.sni_callback = self._note_name
            self._server_context = context

    @property
    def server_context(self) -> ssl.SSLContext:
        self.ready()
        assert self._server_context is not None
        return self._server_context

    def name_of(self, sock: ssl.SSLSocket) -> str | None:
        """The server name the client sent (SNI), after the handshake; None when it sent none."""
        with self._lock:
            return self._names.get(sock)

    def _note_name(self, sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: ssl.SSLContext) -> None:
        if name and isinstance(sock, ssl.SSLSocket):
            with self._lock:
                self._names[sock] = name.lower().rstrip(".")


def _load_authority() -> StubAuthority:
    return StubAuthority.load(cache_dir())


#: the process's stub certificate authority, loaded (or made) on first use: `stub_authority()`
stub_authority = Once(_load_authority)
