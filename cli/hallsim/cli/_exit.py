"""How the `hallsim` program ends once its command is done: as Python would, less the interpreter's own
teardown.

A normal exit joins the threads that are still running, runs the `atexit` functions (the Node hosts end,
temporary files go), and then tears the interpreter down: every module and object freed one by one, some
70-90 ms after a replay, with nothing left to write. So this does the first two the way the interpreter does
(threading's own shutdown, which also tells idle thread pools to end; then `atexit`), flushes stdout and
stderr, and ends the process with the command's status. Only the `hallsim` program does this (`main()`);
code that calls the commands in process (tests, CliRunner) exits as usual."""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from typing import NoReturn


def status_of(code: object) -> int:
    """The exit status `sys.exit(code)` gives (docs.python.org "sys.exit"): None is 0, an int is itself, any
    other object is printed to stderr and gives 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def exit_now(code: object) -> NoReturn:
    """End the process as `sys.exit(code)` would from the main thread, without the interpreter's teardown."""
    status = status_of(code)
    # threading's own step of Python's shutdown (Py_FinalizeEx calls it first): joins the threads that are not
    # daemons and runs what was registered with threading's own atexit (concurrent.futures ends its pools)
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is None:  # another Python: exit the usual way
        sys.exit(status)
    shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        # a closed pipe (`hallsim ... | head`): nothing more can be written
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)
