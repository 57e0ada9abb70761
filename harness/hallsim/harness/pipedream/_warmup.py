"""Start the Node host early, in the background, while the command is still loading the workflow.

A fresh `hallsim replay` of a Pipedream workflow spends most of its time in two things that do not depend on
each other: Python importing and checking the workflow, and Node starting the host and its first worker. Run
one after the other they add up; started here first, the host comes up on the other core while Python works,
and the first run finds it ready (measured in benchmarks/compare.py).

Nothing here decides anything a run would see: the host started is the one `find_node()` picks with no
setting, the same shared host (`host_for`) the run asks for. When the run wants another Node (a `node`
setting), this host is simply not used, and ends with the process. A failure here is dropped: the run starts
the host itself and reports what went wrong, with its own message."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: how long the background start may take (wall); the run's own start has its own limit
_START_WALL_S = 30.0


def warm_host_in_background(workers: int = 1) -> threading.Thread:
    """Start the default Node host on a daemon thread, with `workers` workers started one after another (as
    many as the runs about to go side by side); returns the thread (callers need not join it)."""

    def start() -> None:
        from hallsim.harness.node import find_node
        from hallsim.harness.pipedream._host import host_for

        with contextlib.suppress(Exception):
            host = host_for(find_node())
            host.request("ping", wall_timeout=_START_WALL_S)
            if workers > 1:
                host.request("warm", {"workers": workers}, wall_timeout=_START_WALL_S)

    thread = threading.Thread(target=start, name="hallsim-node-warmup", daemon=True)
    thread.start()
    return thread


def warm_host_for(
    paths: Iterable[Path], settings: Mapping[str, Any], *, workers: int = 1
) -> threading.Thread | None:
    """warm_host_in_background() when a Pipedream workflow is among the paths and no `node` setting picks
    another Node; None otherwise (a path that cannot be read is left for the loader to report)."""
    from hallsim.harness._errors import InputError
    from hallsim.harness.workflow import detect_platform

    if "node" in settings:
        return None
    try:
        if not any(detect_platform(path) == "pipedream" for path in paths):
            return None
    except InputError:
        return None
    return warm_host_in_background(workers)
