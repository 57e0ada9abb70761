"""The stub service's certificate authority (harness/stubs/_tls.py): kept per user so a fresh process starts
its Node host without importing cryptography, never taken from a file or folder others can write or read,
renewed when old, and each process keeps the key and certificate it read together."""

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

from hallsim.harness.stubs import _tls
from hallsim.harness.stubs._tls import MAX_AGE_S, StubAuthority, cache_dir


def _handshake(authority: StubAuthority, name: str) -> str:
    """A verified TLS handshake with a server using the authority, the client trusting its ca_file only;
    returns the server name the server saw."""
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
    with (
        socket.create_connection(server.getsockname()) as raw,
        client.wrap_socket(raw, server_hostname=name) as tls,
    ):
        tls.sendall(b"x")
    thread.join(10)
    server.close()
    return str(seen[0])


def test_a_kept_authority_is_used_by_the_next_process_without_cryptography(tmp_path: Path) -> None:
    first = StubAuthority.load(tmp_path)
    kept = tmp_path / "stub-ca.pem"
    assert kept.stat().st_mode & 0o777 == 0o600
    assert tmp_path.stat().st_mode & 0o077 == 0
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from hallsim.harness.stubs._tls import StubAuthority\n"
        f"authority = StubAuthority.load(Path({str(tmp_path)!r}))\n"
        "print('cryptography' in sys.modules, 'trustme' in sys.modules)\n"
        "print(authority.ca_file.read_text(), end='')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded, cert = done.stdout.split("\n", 1)
    assert loaded == "False False"  # the Node host's certificate file, with no cryptography imported
    assert cert == first.ca_file.read_text()


def test_the_kept_authority_signs_what_its_certificate_verifies(tmp_path: Path) -> None:
    StubAuthority.load(tmp_path)
    again = StubAuthority.load(tmp_path)  # from the file: key and certificate read back
    assert _handshake(again, "crm.example.invalid") == "crm.example.invalid"


@pytest.mark.parametrize("opened", ["file", "folder"])
def test_an_authority_others_can_read_or_write_is_not_used(tmp_path: Path, opened: str) -> None:
    first = StubAuthority.load(tmp_path)
    (tmp_path / "stub-ca.pem" if opened == "file" else tmp_path).chmod(0o644 if opened == "file" else 0o755)
    second = StubAuthority.load(tmp_path)
    assert second.ca_file.read_bytes() != first.ca_file.read_bytes()
    assert _handshake(second, "a.invalid") == "a.invalid"


def test_an_old_or_broken_kept_authority_is_made_again(tmp_path: Path) -> None:
    first = StubAuthority.load(tmp_path)
    kept = tmp_path / "stub-ca.pem"
    old = time.time() - MAX_AGE_S - 60
    os.utime(kept, (old, old))
    renewed = StubAuthority.load(tmp_path)
    assert renewed.ca_file.read_bytes() != first.ca_file.read_bytes()
    assert kept.read_bytes().endswith(renewed.ca_file.read_bytes())  # the renewed one is kept
    kept.write_bytes(b"not a certificate")
    assert _handshake(StubAuthority.load(tmp_path), "b.invalid") == "b.invalid"


def test_a_process_keeps_the_pair_it_read_when_another_renews_the_file(tmp_path: Path) -> None:
    mine = StubAuthority.load(tmp_path)
    (tmp_path / "stub-ca.pem").unlink()
    StubAuthority.load(tmp_path)  # another process makes a new one meanwhile
    mine.ready()  # signs with the key read with its own certificate, which Node was given
    assert _handshake(mine, "c.invalid") == "c.invalid"


def test_the_folder_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert cache_dir({"HALLSIM_STUB_CA_DIR": "none"}) is None
    assert cache_dir({"HALLSIM_STUB_CA_DIR": str(tmp_path)}) == tmp_path
    assert cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "hallsim" / "stub-ca"
    monkeypatch.setenv("HALLSIM_STUB_CA_DIR", "none")
    monkeypatch.setattr(_tls, "_authority", None)
    fresh = _tls.stub_authority()  # not kept: made in this process only
    assert _handshake(fresh, "d.invalid") == "d.invalid"
    assert not any(tmp_path.iterdir())
