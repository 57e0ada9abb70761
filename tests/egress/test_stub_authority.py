"""The stub service's certificate authority and certificate (harness/stubs/_tls.py): kept per user so a fresh
process starts its Node host and serves TLS without importing cryptography, never taken from a file or folder
others can write or read, renewed when old, and each process keeps the certificates and keys it read
together."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hallsim.harness._once import Once
from hallsim.harness.stubs import _tls
from hallsim.harness.stubs._tls import MAX_AGE_S, KeptPems, StubAuthority, cache_dir


def _handshake(authority: StubAuthority, name: str) -> str:
    """A TLS handshake with a server using the authority, the client verifying the chain against its ca_file
    only; checks the server presented the service certificate netguard.cjs accepts, and returns the server
    name the server saw. (The name check is netguard.cjs's: tests/pipedream/test_netguard_tls.py.)"""
    server = socket.create_server(("127.0.0.1", 0))
    seen: list[str | None] = []

    def serve() -> None:
        conn, _ = server.accept()
        with authority.server_context.wrap_socket(conn, server_side=True) as tls:
            seen.append(authority.name_of(tls))
            tls.recv(1)

    thread = threading.Thread(target=serve)
    thread.start()
    client = ssl.create_default_context(cafile=str(authority.ca_file))
    client.check_hostname = False  # verify_mode stays CERT_REQUIRED: the chain must lead to the authority
    with (
        socket.create_connection(server.getsockname()) as raw,
        client.wrap_socket(raw, server_hostname=name) as tls,
    ):
        presented = tls.getpeercert(binary_form=True)
        tls.sendall(b"x")
    thread.join(10)
    server.close()
    assert presented is not None
    assert _tls.fingerprint256(ssl.DER_cert_to_PEM_cert(presented).encode()) == authority.fingerprint256
    return str(seen[0])


def test_a_kept_authority_is_used_by_the_next_process_without_cryptography(tmp_path: Path) -> None:
    first = StubAuthority.load(tmp_path)
    kept = tmp_path / _tls._CACHE_FILE
    assert kept.stat().st_mode & 0o777 == 0o600
    assert tmp_path.stat().st_mode & 0o077 == 0
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from hallsim.harness.stubs._tls import StubAuthority\n"
        f"authority = StubAuthority.load(Path({str(tmp_path)!r}))\n"
        "authority.ready()\n"
        "print('cryptography' in sys.modules, 'trustme' in sys.modules)\n"
        "print(authority.ca_file.read_text(), end='')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded, cert = done.stdout.split("\n", 1)
    # the Node host's certificate file and the stub service's TLS context, with no cryptography imported
    assert loaded == "False False"
    assert cert == first.ca_file.read_text()


def test_the_kept_authority_signs_what_its_certificate_verifies(tmp_path: Path) -> None:
    StubAuthority.load(tmp_path)
    again = StubAuthority.load(tmp_path)  # from the file: key and certificate read back
    assert _handshake(again, "crm.example.invalid") == "crm.example.invalid"


@pytest.mark.parametrize("opened", ["file", "folder"])
def test_an_authority_others_can_read_or_write_is_not_used(tmp_path: Path, opened: str) -> None:
    first = StubAuthority.load(tmp_path)
    (tmp_path / _tls._CACHE_FILE if opened == "file" else tmp_path).chmod(
        0o644 if opened == "file" else 0o755
    )
    second = StubAuthority.load(tmp_path)
    assert second.ca_file.read_bytes() != first.ca_file.read_bytes()
    assert _handshake(second, "a.invalid") == "a.invalid"


def test_an_old_or_broken_kept_authority_is_made_again(tmp_path: Path) -> None:
    first = StubAuthority.load(tmp_path)
    kept = tmp_path / _tls._CACHE_FILE
    old = time.time() - MAX_AGE_S - 60
    os.utime(kept, (old, old))
    renewed = StubAuthority.load(tmp_path)
    assert renewed.ca_file.read_bytes() != first.ca_file.read_bytes()
    assert KeptPems.from_file(kept.read_bytes()) == renewed.pems  # the renewed one is kept
    kept.write_bytes(b"not a certificate")
    assert _handshake(StubAuthority.load(tmp_path), "b.invalid") == "b.invalid"
    # the authority alone (what an older hallsim keeps, in stub-ca.pem) is replaced, not half-used
    kept.write_bytes(renewed.pems.ca_key + renewed.pems.ca_cert)
    again = StubAuthority.load(tmp_path)
    assert again.pems != renewed.pems
    assert KeptPems.from_file(kept.read_bytes()) == again.pems


def test_a_process_keeps_the_pair_it_read_when_another_renews_the_file(tmp_path: Path) -> None:
    mine = StubAuthority.load(tmp_path)
    (tmp_path / _tls._CACHE_FILE).unlink()
    StubAuthority.load(tmp_path)  # another process makes a new one meanwhile
    mine.ready()  # serves the certificate read with its own authority's, which Node was given
    assert _handshake(mine, "c.invalid") == "c.invalid"


def test_the_folder_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert cache_dir({"HALLSIM_STUB_CA_DIR": "none"}) is None
    assert cache_dir({"HALLSIM_STUB_CA_DIR": str(tmp_path)}) == tmp_path
    assert cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "hallsim" / "stub-ca"
    monkeypatch.setenv("HALLSIM_STUB_CA_DIR", "none")
    monkeypatch.setattr(_tls, "stub_authority", Once(_tls._load_authority))
    fresh = _tls.stub_authority()  # not kept: made in this process only
    assert _handshake(fresh, "d.invalid") == "d.invalid"
    assert not any(tmp_path.iterdir())
