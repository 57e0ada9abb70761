"""Which `@pipedream/platform` a run's steps import: the real package when the workflow's own node_modules
(or the folder setting `platform_package` names) has it, as on Pipedream, which installs it with the
workflow; else hallsim's stand-in (platform.mjs), which matches the real package's version below on
everything a gate can observe (tests/pipedream/test_platform.py runs both side by side)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from hallsim.harness._errors import InputError

#: the version of the real package the stand-in is matched against
STAND_IN_MATCHES = "3.4.0"


@dataclass(frozen=True)
class PlatformModule:
    #: the package's entry file, or None for hallsim's stand-in
    entry: Path | None
    version: str | None

    @property
    def label(self) -> str:
        if self.entry is None:
            return f"hallsim stand-in (matches @pipedream/platform {STAND_IN_MATCHES})"
        return f"@pipedream/platform {self.version or '?'} ({self.entry.parent})"


def _entry(package_dir: Path) -> PlatformModule | None:
    manifest = package_dir / "package.json"
    if not manifest.is_file():
        return None
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("name") != "@pipedream/platform":
        return None
    main = str(data.get("main") or "index.js")
    entry = (package_dir / main).resolve()
    if entry.is_dir():
        entry = entry / "index.js"
    if not entry.is_file() and entry.with_suffix(".js").is_file():
        entry = entry.with_suffix(".js")
    return PlatformModule(entry, str(data.get("version") or "")) if entry.is_file() else None


def find_platform(workflow: Path, setting: str | None) -> PlatformModule:
    if setting:
        folder = Path(setting).expanduser()
        for candidate in (folder, folder / "node_modules" / "@pipedream" / "platform"):
            found = _entry(candidate)
            if found is not None:
                return found
        raise InputError(
            f"setting platform_package: {setting!r} holds no @pipedream/platform package (looked for "
            f"{folder}/package.json and {folder}/node_modules/@pipedream/platform/package.json)"
        )
    # asked before every run: plain string paths, one stat per folder up to the root
    start = workflow if os.path.isdir(workflow) else os.path.dirname(os.path.abspath(workflow))
    here = os.path.realpath(start)
    while True:
        package = os.path.join(here, "node_modules", "@pipedream", "platform")
        if os.path.isfile(os.path.join(package, "package.json")):
            found = _entry(Path(package))
            if found is not None:
                return found
        parent = os.path.dirname(here)
        if parent == here:
            return PlatformModule(None, None)
        here = parent
