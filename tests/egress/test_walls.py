"""The second wall: `hallsim replay --netns on` runs inside a loopback-only network namespace (Linux with
unprivileged user namespaces; skipped elsewhere), and every trace says which walls were in force."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hallsim.harness.netns import NamespaceError, enter_namespace

from .conftest import Canary

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
GATE = ROOT / "fixtures" / "make" / "gate_ignore.blueprint.json"


def _namespaces_work() -> bool:
    unshare = shutil.which("unshare")
    if not sys.platform.startswith("linux") or unshare is None:
        return False
    return subprocess.run([unshare, "-rn", "true"], capture_output=True, check=False).returncode == 0


def _replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hallsim", "replay", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.skipif(not _namespaces_work(), reason="no unprivileged user + network namespaces here")
def test_replay_in_a_namespace_reaches_nothing_of_the_machine(tmp_path: Path, canary: Canary) -> None:
    # even a loopback port allowed explicitly is out of reach: the namespace's loopback is a fresh one
    result = _replay(
        str(ROOT / "fixtures" / "pipedream" / "inline_option_a.yaml"),
        "--hall",
        "allow",
        "--netns",
        "on",
        "--set",
        f"egress_allow=127.0.0.1:{canary.port}",
        "--set",
        "timeout_s=750",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["egress"]["walls"] == {"guard": "node", "network_namespace": True}
    assert run["outcome"] == "completed"  # the Hall, the sink and the Node host all run inside
    assert canary.received() == []
    make = _replay(str(GATE), "--hall", "deny", "--netns", "on", "--json")
    assert make.returncode == 0, make.stderr
    assert json.loads(make.stdout)["egress"]["walls"] == {"guard": "httpx", "network_namespace": True}


def test_without_the_namespace_the_trace_says_so(tmp_path: Path) -> None:
    result = _replay(str(GATE), "--hall", "deny", "--netns", "off")
    assert result.returncode == 0, result.stderr
    assert "Egress: the Hall only; walls: in-process guard (httpx), no network namespace" in result.stdout


def test_on_fails_clearly_when_the_process_already_has_threads() -> None:
    import threading

    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        with pytest.raises(NamespaceError, match="single-threaded process"):
            enter_namespace("on")
        assert enter_namespace("auto") is False
    finally:
        stop.set()
        thread.join()
