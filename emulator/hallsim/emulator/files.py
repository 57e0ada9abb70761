"""Read a YAML file and find the line of a value inside it, so errors can say "file:line: field: ...".

Shared by the emulator (script files) and the harness (workflows, scenarios); each passes its own error
class."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

_Document = TypeVar("_Document", bound="YamlDocument")


class YamlDocument:
    """A parsed YAML file that remembers where each value came from.

    `error` is the exception class raised for a file that cannot be read or parsed (the caller's package
    error, so a CLI turns it into a message, not a traceback)."""

    def __init__(self, path: Path, text: str, *, error: type[Exception] = ValueError) -> None:
        self.path = path
        self.error = error
        try:
            self.node = yaml.compose(text, Loader=yaml.SafeLoader)
            self.data: Any = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f":{mark.line + 1}" if mark is not None else ""
            problem = getattr(err, "problem", None) or str(err)
            raise error(f"{path}{where}: not valid YAML: {problem}") from None

    @classmethod
    def read(
        cls: type[_Document], path: Path, *, error: type[Exception] = ValueError, what: str = "file"
    ) -> _Document:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise error(f"{path}: no such {what}") from None
        except (OSError, UnicodeDecodeError) as err:
            raise error(f"{path}: cannot read the {what}: {err}") from None
        return cls(path, text, error=error)

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """1-based line of the value at `loc` (or of its nearest existing parent); None for an empty file."""
        node = self.node
        if node is None:
            return None
        for part in loc:
            child = None
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                        child = value
                        break
            elif (
                isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value)
            ):
                child = node.value[part]
            if child is None:
                break
            node = child
        return int(node.start_mark.line) + 1

    def where(self, loc: Sequence[str | int]) -> str:
        line = self.line_of(loc)
        return f"{self.path}:{line}" if line is not None else str(self.path)

    def where_key(self, key: str) -> str:
        """The line of a top-level key itself (for a key that should not be there)."""
        if isinstance(self.node, yaml.MappingNode):
            for k, _ in self.node.value:
                if getattr(k, "value", None) == key:
                    return f"{self.path}:{k.start_mark.line + 1}"
        return str(self.path)
