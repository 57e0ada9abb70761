"""Project settings: the defaults a project keeps for every `hallsim` command, in one table.

The table is `[tool.hallsim]` in `pyproject.toml`, or the whole of a `hallsim.toml`, found from the current
directory upward (as ruff and pytest find theirs): the first directory holding a `hallsim.toml`, or a
`pyproject.toml` with a `[tool.hallsim]` table, wins; the search stops at a repository root (a folder with
`.git`), so a stray file above the checkout is never read. A `hallsim.toml` wins over a `pyproject.toml` in
the same folder. Relative paths in the table are relative to the file's folder.

Shared keys apply to every command that has the matching option; a per-command table
(`[tool.hallsim.matrix]`) may set any option of that command by its long name and wins over a shared key.
The command line wins over both. What this module hands the CLI is typed (`Project`, `Setting`); the CLI
matches them to its options and shows where each value came from.

TOML as read by tomllib (Python 3.11+) or tomli, its backport (https://toml.io/en/v1.0.0)."""

from __future__ import annotations

import difflib
import glob
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hallsim.harness._errors import InputError

PYPROJECT = "pyproject.toml"
HALLSIM_TOML = "hallsim.toml"

#: the commands a per-command table may name (the CLI checks its options against the command itself)
COMMANDS = ("behaviours", "matrix", "replay", "repro", "run", "serve")


#: shared keys that name a file or folder (resolved against the project file's folder)
_PATH_KEYS = ("components", "html", "junit")


@dataclass(frozen=True)
class Setting:
    """One value from the project file and where it is: `pyproject.toml:12 [tool.hallsim]`."""

    key: str
    value: Any
    file: Path
    line: int | None
    table: str

    @property
    def origin(self) -> str:
        where = f"{shown(self.file)}:{self.line}" if self.line else shown(self.file)
        return f"{where} [{self.table}]" if self.table else where

    def error(self, expected: str) -> InputError:
        """An error naming the file, the line, the key and what was expected."""
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        return InputError(f"{where}: {self.key}: {expected}")


@dataclass(frozen=True)
class Project:
    """A project file's settings: shared keys, and one table per command."""

    path: Path
    #: "tool.hallsim" in a pyproject.toml; "hallsim" for a hallsim.toml (its top level)
    table: str
    shared: Mapping[str, Setting] = field(default_factory=dict)
    #: `set` values, by setting name
    set_values: Mapping[str, Setting] = field(default_factory=dict)
    #: per-command tables: command -> option name (underscores) -> setting
    commands: Mapping[str, Mapping[str, Setting]] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.path.parent


def find_project(start: Path | None = None) -> Path | None:
    """The project file that applies in `start` (default: the current directory), or None."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / HALLSIM_TOML
        if candidate.is_file():
            return Path(shown(candidate))
        candidate = folder / PYPROJECT
        if candidate.is_file() and _has_table(candidate):
            return Path(shown(candidate))
        if (folder / ".git").exists():
            return None
    return None


def _has_table(pyproject: Path) -> bool:
    # a pyproject.toml that does not parse is reported only when it holds our table
    try:
        text = pyproject.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return re.search(r"^\s*\[\s*tool\s*\.\s*hallsim\s*[\].]", text, re.MULTILINE) is not None


def load_project(path: Path) -> Project:
    """Read and check a project file; a mistake names the file, the line, the key and what was expected."""
    # imported here: finding no project file (most runs of `hallsim serve`) costs no pydantic or TOML import
    from pydantic import ValidationError

    from hallsim.harness._project_table import Table as _Table

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read it as a UTF-8 text file: {err}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        message = str(err)
        found = re.search(r"\(at line (\d+), column \d+\)", message)
        if found:
            line = f":{found.group(1)}"
        else:  # "(at end of document)"
            line = f":{max(1, len(text.splitlines()))}" if "end of document" in message else ""
        message = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", message)
        raise InputError(f"{path}{line}: not valid TOML: {message}") from None
    if path.name == HALLSIM_TOML:
        prefix: tuple[str, ...] = ()
        table_name = "hallsim"
        raw: Any = document
    else:
        prefix = ("tool", "hallsim")
        table_name = "tool.hallsim"
        raw = document.get("tool", {}).get("hallsim")
        if raw is None:
            raise InputError(f"{path}: no [tool.hallsim] table")
        if not isinstance(raw, dict):
            raise InputError(f"{path}: tool.hallsim: expected a table")
    lines = key_lines(text)

    def line_of(*keys: str) -> int | None:
        for depth in range(len(keys), 0, -1):
            found = lines.get((*prefix, *keys[:depth]))
            if found is not None:
                return found
        return lines.get(prefix)

    try:
        table = _Table.model_validate(raw)
    except ValidationError as err:
        problem = err.errors()[0]
        keys = tuple(str(part) for part in problem["loc"])
        key = ".".join((*prefix, *keys))
        if problem["type"] == "extra_forbidden":
            close = difflib.get_close_matches(keys[-1], list(_Table.model_fields), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            expected = f"not a setting hallsim knows{hint} (known: {', '.join(_Table.model_fields)})"
        else:
            expected = f"expected {_expected(problem)}, got {problem.get('input')!r}"
        where = line_of(*keys)
        raise InputError(f"{path}{f':{where}' if where else ''}: {key}: {expected}") from None

    def setting(value: Any, *keys: str) -> Setting:
        return Setting(
            ".".join((*prefix, *keys)), value, path, line_of(*keys), ".".join((*prefix, *keys[:-1]))
        )

    shared: dict[str, Setting] = {}
    for name in ("token", "time_scale", "stubs", "components", "format", "html", "junit"):
        value = getattr(table, name)
        if value is None:
            continue
        if name in _PATH_KEYS:
            value = _resolve(path.parent, value)
        shared[name] = setting(value, name)
    if table.workflows is not None:
        shared["workflows"] = setting(
            _expand(path, table.workflows, ".".join((*prefix, "workflows")), line_of("workflows")),
            "workflows",
        )
    if table.scenarios is not None:
        shared["scenarios"] = setting([_resolve(path.parent, p) for p in table.scenarios], "scenarios")
    set_values: dict[str, Setting] = {}
    for name, value in table.set.items():
        if not isinstance(value, (str, int, float)):  # bool is an int
            raise setting(value, "set", name).error(f"expected a string, number or boolean, got {value!r}")
        set_values[name] = setting(_set_text(value), "set", name)
    commands: dict[str, dict[str, Setting]] = {}
    for command in COMMANDS:
        options = getattr(table, command)
        if options is None:
            continue
        commands[command] = {
            name.replace("-", "_"): setting(value, command, name) for name, value in options.items()
        }
    return Project(path, table_name, shared, set_values, commands)


def _expected(problem: Mapping[str, Any]) -> str:
    kind = str(problem["type"])
    message = str(problem.get("msg", kind))
    return {
        "string_type": "a string",
        "list_type": "a list",
        "dict_type": "a table",
        "float_type": "a number",
        "int_type": "a number",
        "greater_than": "a number above 0",
        "literal_error": message.removeprefix("Input should be ").replace("'", '"'),
    }.get(kind, message[:1].lower() + message[1:])


def _set_text(value: Any) -> str:
    """A `set` value as `--set NAME=VALUE` would give it: booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _resolve(root: Path, value: str) -> str:
    return shown(root / os.path.expanduser(value))


def _expand(path: Path, patterns: Sequence[str], key: str, where: int | None) -> list[str]:
    """Glob patterns relative to the project file's folder, each expanded in sorted order."""
    found: list[str] = []
    for pattern in patterns:
        full = str(path.parent / os.path.expanduser(pattern))
        matches = sorted(glob.glob(full)) if glob.has_magic(full) else [full]
        if not matches:
            raise InputError(
                f"{path}{f':{where}' if where else ''}: {key}: {pattern!r} matches no file "
                f"(patterns are relative to {shown(path.parent) or '.'})"
            )
        found.extend(shown(Path(m)) for m in matches)
    return found


def shown(path: Path) -> str:
    """A path as a user reads it: relative to the current directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(
    r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*="
)


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Line numbers (1-based) of the tables and keys of a TOML text, by dotted path.

    A plain scan, enough to point an error at its line: tomllib reports no positions for values."""
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    in_multiline = False
    for number, line in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if line.count('"""') % 2 or line.count("'''") % 2:
                in_multiline = False
            continue
        header = _HEADER.match(line)
        if header:
            table = _split_key(header.group(1))
            lines.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            lines.setdefault((*table, *_split_key(key.group(1))), number)
            rest = line[key.end() :]
            if rest.count('"""') % 2 or rest.count("'''") % 2:
                in_multiline = True
    return lines


def _split_key(dotted: str) -> tuple[str, ...]:
    parts = re.findall(r"\"([^\"]*)\"|'([^']*)'|([A-Za-z0-9_-]+)", dotted)
    return tuple(next(p for p in part if p) if any(part) else "" for part in parts)


@dataclass(frozen=True)
class OptionSpec:
    """What the settings need to know of one command-line parameter (the CLI builds these from Click's)."""

    #: the parameter's name, as the command's function receives it ("tokens")
    name: str
    #: its long flags ("--token",); empty for an argument
    flags: tuple[str, ...] = ()
    multiple: bool = False
    is_flag: bool = False

    @property
    def keys(self) -> tuple[str, ...]:
        """The names a per-command table may give it: each long flag with underscores, and its own name."""
        names = [flag.lstrip("-").replace("-", "_") for flag in self.flags if flag.startswith("--")]
        return (*dict.fromkeys([*names, self.name]),)


@dataclass(frozen=True)
class CommandDefaults:
    """The project's defaults for one command: parameter name -> setting, and the `--set` values apart."""

    command: str
    values: Mapping[str, Setting] = field(default_factory=dict)
    #: the `--set NAME=VALUE` defaults, by NAME; merged with the command line's, which wins name by name
    set_values: Mapping[str, Setting] = field(default_factory=dict)
    #: the parameter that takes `--set`, when the command has one
    set_param: str | None = None


#: shared key -> the long option it feeds, in every command that has that option
_SHARED_OPTIONS = {
    "token": "--token",
    "time_scale": "--time-scale",
    "stubs": "--stub",
    "html": "--html",
    "junit": "--junit",
}
#: shared key -> (command, argument) it fills when the command line names none
_SHARED_ARGUMENTS = {"workflows": ("matrix", "workflows"), "scenarios": ("run", "paths")}


def defaults_for(project: Project, command: str, options: Sequence[OptionSpec]) -> CommandDefaults:
    """Match the project's settings to `command`'s parameters; a per-command key no parameter takes is an
    error naming its line and the command's options."""
    by_flag = {flag: option for option in options for flag in option.flags}
    by_key = {key: option for option in options for key in option.keys}
    set_option = by_flag.get("--set")
    values: dict[str, Setting] = {}
    set_values = dict(project.set_values) if set_option else {}

    for key, flag in _SHARED_OPTIONS.items():
        setting = project.shared.get(key)
        option = by_flag.get(flag)
        if setting is None:
            continue
        if option is not None:
            values[option.name] = _shaped(setting, option)
        elif key == "time_scale" and set_option is not None:
            set_values.setdefault("time_scale", _with(setting, _set_text(setting.value)))
    output = project.shared.get("format")
    if output is not None and output.value != "text":
        option = by_flag.get(f"--{output.value}")
        if option is not None and option.is_flag:
            values[option.name] = _with(output, True)
    for key, (name, argument) in _SHARED_ARGUMENTS.items():
        setting = project.shared.get(key)
        if setting is not None and name == command and any(o.name == argument for o in options):
            values[argument] = setting

    for key, setting in (project.commands.get(command) or {}).items():
        option = by_key.get(key)
        if option is None:
            known = sorted({k for o in options for k in o.keys[:1]})
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise setting.error(
                f"`hallsim {command}` has no such option; {hint}its options are {', '.join(known)}"
            )
        if option is set_option:
            set_values.update(_set_table(setting))
            continue
        values[option.name] = _shaped(setting, option)
    return CommandDefaults(command, values, set_values, set_option.name if set_option else None)


def _with(setting: Setting, value: Any) -> Setting:
    return Setting(setting.key, value, setting.file, setting.line, setting.table)


def _shaped(setting: Setting, option: OptionSpec) -> Setting:
    """A value in the shape the parameter takes: a list for a repeatable option, one value otherwise."""
    value = setting.value
    if option.multiple and not isinstance(value, list):
        value = [value]
    if not option.multiple and isinstance(value, list) and option.flags:
        raise setting.error(f"expected one value for {option.flags[0]}, got a list")
    return _with(setting, value)


def _set_table(setting: Setting) -> dict[str, Setting]:
    """A per-command `set`: a table of NAME = VALUE, or a list of "NAME=VALUE" strings."""
    value = setting.value
    pairs: dict[str, Any] = {}
    if isinstance(value, dict):
        pairs = dict(value)
    elif isinstance(value, list) and all(isinstance(v, str) and "=" in v for v in value):
        pairs = dict(v.split("=", 1) for v in value)
    else:
        raise setting.error('expected a table of NAME = VALUE, or a list of "NAME=VALUE" strings')
    return {name: _with(setting, _set_text(v)) for name, v in pairs.items()}
