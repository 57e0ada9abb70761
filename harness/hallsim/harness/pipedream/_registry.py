"""Registry actions by key and version, as a synced workflow names them (`uses:
filter-continue-based-on-condition@0.0.2`, or `@workspace/key@version` for a workspace's private action),
found in a local copy of PipedreamHQ/pipedream's `components/` tree, else among hallsim's built-in control
actions (builtins/).

The registry's layout (PipedreamHQ/pipedream components/<app>/actions/<name>/<name>.mjs, the key being
`<app>-<name>`): the app folder is the longest `-`-separated prefix of the key that names a folder; the file
is checked for `key: "<key>"`, and the other action files of the app are searched when the folder name
differs."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hallsim.harness._errors import InputError

BUILTINS = Path(__file__).resolve().parent / "builtins"
#: the environment variable naming a components copy (the setting `components` wins over it)
COMPONENTS_ENV = "HALLSIM_PIPEDREAM_COMPONENTS"
_USES = re.compile(
    r"^(?P<private>@(?P<workspace>[^/@]+)/)?(?P<key>[a-z0-9_][a-z0-9_.-]*)@(?P<version>[^@\s]+)$"
)
_VERSION = re.compile(r"""\bversion\s*:\s*["']([^"']+)["']""")
_EXTENSIONS = (".mjs", ".js", ".ts")

Source = Literal["components", "builtin", "private"]


@dataclass(frozen=True)
class ActionRef:
    """What `uses:` names: a registry key and version, or a workspace's private action."""

    key: str
    version: str
    workspace: str | None = None

    @property
    def text(self) -> str:
        prefix = f"@{self.workspace}/" if self.workspace else ""
        return f"{prefix}{self.key}@{self.version}"


@dataclass(frozen=True)
class ResolvedAction:
    ref: ActionRef
    file: Path
    source: Source
    version: str | None
    #: e.g. "the components copy has version 0.0.3; the workflow pins 0.0.2"
    warnings: tuple[str, ...] = ()


def parse_uses(text: str) -> ActionRef | None:
    """A registry or private action reference; None when `text` is not one (a path, for instance)."""
    match = _USES.match(text.strip())
    if not match:
        return None
    return ActionRef(match["key"], match["version"], match["workspace"])


def components_roots(setting: str | None) -> list[Path]:
    """The components copies to search: the setting, else the environment variable (may list several)."""
    text = setting if setting else os.environ.get(COMPONENTS_ENV, "")
    roots = []
    for part in text.split(os.pathsep):
        if not part.strip():
            continue
        root = Path(part.strip()).expanduser()
        # accept the repository root as well as its components/ folder
        if (root / "components").is_dir():
            root = root / "components"
        roots.append(root)
    return roots


def _declares_key(path: Path, key: str) -> bool:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return re.search(rf"""\bkey\s*:\s*["']{re.escape(key)}["']""", text) is not None


def _version_of(path: Path) -> str | None:
    try:
        match = _VERSION.search(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    return match[1] if match else None


def _find_in_tree(root: Path, key: str) -> Path | None:
    parts = key.split("-")
    for cut in range(len(parts) - 1, 0, -1):
        app, name = "-".join(parts[:cut]), "-".join(parts[cut:])
        actions = root / app / "actions"
        if not actions.is_dir():
            continue
        for ext in _EXTENSIONS:
            candidate = actions / name / f"{name}{ext}"
            if candidate.is_file() and _declares_key(candidate, key):
                return candidate
        for candidate in sorted(actions.glob("*/*")):
            if candidate.suffix in _EXTENSIONS and _declares_key(candidate, key):
                return candidate
    return None


def _find_private(folders: list[Path], key: str) -> Path | None:
    for folder in folders:
        if not folder.is_dir():
            continue
        for candidate in sorted(folder.rglob("*")):
            inside = candidate.relative_to(folder).parts
            if "node_modules" in inside or any(part.startswith(".") for part in inside):
                continue
            if candidate.suffix not in _EXTENSIONS:
                continue
            if candidate.is_file() and _declares_key(candidate, key):
                return candidate
    return None


def resolve_action(ref: ActionRef, *, components: str | None, project: Path, where: str) -> ResolvedAction:
    """Find the action `ref` names; an InputError naming the key and every place looked in when none has it.

    Order: a registry key is looked up in the components copies, then among the built-ins; a private action
    (`@workspace/key@version`) in the project folder and the components copies."""
    roots = components_roots(components)
    looked: list[str] = []
    file: Path | None = None
    source: Source = "components"
    if ref.workspace is not None:
        file = _find_private([project, *roots], ref.key)
        source = "private"
        looked = [f"{project} (files declaring key {ref.key!r})", *(str(r) for r in roots)]
    else:
        for root in roots:
            looked.append(str(root))
            file = _find_in_tree(root, ref.key)
            if file is not None:
                break
        if file is None:
            looked.append(f"hallsim's built-in actions ({BUILTINS})")
            file = _find_in_tree(BUILTINS, ref.key)
            source = "builtin"
    if file is None:
        hint = (
            ""
            if roots
            else f"; no components copy is configured (setting components or env {COMPONENTS_ENV}, a "
            "checkout of PipedreamHQ/pipedream or its components/ folder)"
        )
        raise InputError(
            f"{where}: uses: {ref.text}: no action with key {ref.key!r} found; looked in: "
            f"{'; '.join(looked) or '(nowhere)'}{hint}"
        )
    version = _version_of(file)
    warnings: list[str] = []
    if version != ref.version:
        what = "hallsim's built-in" if source == "builtin" else str(file)
        warnings.append(
            f"{ref.text}: {what} has version {version or '(none)'}; the workflow pins {ref.version} "
            "(the run uses the version found)"
        )
    return ResolvedAction(ref, file, source, version, tuple(warnings))
