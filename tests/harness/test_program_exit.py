"""How the `hallsim` program ends (cli/_exit.py): as `sys.exit` would (threads joined, atexit run, output
flushed, the same status) without the interpreter's teardown."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hallsim.cli._exit import status_of

_SCRIPT = """
import atexit, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from hallsim.cli._exit import exit_now

out = Path(sys.argv[1])
atexit.register(lambda: (out / "atexit").write_text("ran"))
def late():
    time.sleep(0.2)
    (out / "thread").write_text("joined")
threading.Thread(target=late).start()  # not a daemon: a normal exit waits for it
pool = ThreadPoolExecutor(2)  # never shut down: threading's own shutdown ends its idle threads
pool.submit(lambda: None).result()
sys.stdout.write("no newline, still buffered")
exit_now(eval(sys.argv[2]))
"""


@pytest.mark.parametrize(("code", "status"), [("None", 0), ("3", 3), ("'bad input'", 1)])
def test_it_ends_as_sys_exit_would(tmp_path: Path, code: str, status: int) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path), code], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == status
    assert done.stdout == "no newline, still buffered"
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "thread").read_text() == "joined"
    assert done.stderr == ("bad input\n" if status == 1 else "")


def test_the_hallsim_program_keeps_its_statuses(tmp_path: Path) -> None:
    program = [sys.executable, "-c", "from hallsim.cli import main; main()"]
    assert subprocess.run([*program, "--version"], capture_output=True, timeout=60).returncode == 0
    missing = subprocess.run(
        [*program, "replay", str(tmp_path / "nope.yaml"), "--hall", "allow"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2
    assert "nope.yaml" in missing.stderr


def test_status_of() -> None:
    assert status_of(None) == 0
    assert status_of(7) == 7
