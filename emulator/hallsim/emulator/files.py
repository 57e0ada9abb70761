"""Read an input file (YAML or JSON) once, within limits, and find the line of a value inside it, so errors
can say "file:line: field: ...".

Shared by the emulator (script files) and the harness (workflows, scenarios, blueprints); each passes its own
error class. A hostile file gets that error, naming the file (and the line or the path inside it), never a
traceback, a hang or unbounded memory:

- at most `MAX_BYTES` bytes, valid UTF-8 (the error names the line of the first bad byte);
- values nested at most `MAX_DEPTH` deep;
- YAML aliases may add at most `MAX_ALIAS_VALUES` values when expanded (a "billion laughs" file of 700 bytes
  would otherwise grow without bound in whatever walks the data), and may not refer to a collection from
  inside itself;
- integers of at most `MAX_DIGITS` digits (Python refuses to convert longer ones), no lone surrogate
  (`"\\ud800"`) and no NUL character in any string, no NaN or Infinity in JSON;
- a file name with a NUL byte, longer than the system allows, or not readable is an error too.

YAML is parsed once: the events of libyaml's C parser when PyYAML has it (pure Python otherwise) are composed
into nodes here, without recursion, checking the limits as they come; the data is built from those nodes."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import yaml

#: the largest input file read (bytes)
MAX_BYTES = 16 * 1024 * 1024
#: how deep values may nest (mappings and lists inside each other)
MAX_DEPTH = 100
#: how many values YAML aliases may add when expanded, beyond the values written in the file
MAX_ALIAS_VALUES = 100_000
#: the longest integer (digits); Python's own limit for str -> int is 4,300
MAX_DIGITS = 4000
#: the longest path accepted (characters), whatever the system allows
MAX_PATH = 4096

_Document = TypeVar("_Document", bound="YamlDocument")
_BAD_CHARS = re.compile("[\ud800-\udfff\x00]")
# PyYAML's loader, found when the first YAML file is read: PyYAML is some 16 ms of imports, which a command
# that reads JSON only (a Make replay, `hallsim serve` without a script) never needs
_Loader: Any = None
_INT_TAG = "tag:yaml.org,2002:int"


def _loader() -> Any:
    global _Loader
    if _Loader is None:
        import yaml

        _Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return _Loader


def yaml_parser() -> str:
    """The YAML parser in use: "libyaml" (PyYAML's C parser) or "pure Python" (shown by benchmarks)."""
    import yaml

    return "pure Python" if _loader() is yaml.SafeLoader else "libyaml"


def _describe_char(text: str) -> str:
    found = _BAD_CHARS.search(text)
    assert found is not None
    char = found.group()
    if char == "\x00":
        return "a NUL character"
    return f"a lone surrogate (\\u{ord(char):04x}), not valid Unicode"


def path_problem(path: Path | str) -> str | None:
    """Why a file name cannot be used (a NUL byte, too long, a lone surrogate), or None."""
    text = str(path)
    if "\x00" in text:
        return "the name holds a NUL byte"
    longest = max((len(part) for part in Path(text).parts), default=0)
    try:
        name_max = os.pathconf("/" if os.path.isabs(text) else ".", "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        name_max = 255
    if len(text) > MAX_PATH or longest > name_max:
        return (
            f"the name has {len(text)} characters, a part of {longest}; at most {MAX_PATH}, and {name_max} "
            "per part"
        )
    if _BAD_CHARS.search(text):
        return f"the name holds {_describe_char(text)}"
    return None


def _check_path(path: Path, error: type[Exception], what: str) -> None:
    problem = path_problem(path)
    if problem is not None:
        raise error(f"{str(path)[:120]!r}: not a usable {what} name: {problem}")


def _too_big(path: Path, what: str) -> str:
    return f"{path}: the {what} is larger than {MAX_BYTES // (1024 * 1024)} MB; hallsim reads no more"


def read_text(path: Path, *, error: type[Exception] = ValueError, what: str = "file") -> str:
    """The text of a UTF-8 file of at most MAX_BYTES bytes; `error` names the file and what went wrong."""
    _check_path(path, error, what)
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not a {what}") from None
    except (OSError, ValueError) as err:
        raise error(f"{path}: cannot read the {what}: {getattr(err, 'strerror', None) or err}") from None
    if len(raw) > MAX_BYTES:
        raise error(_too_big(path, what))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise error(
            f"{path}: cannot read it as text: not valid UTF-8 at line {line} (byte {raw[err.start]:#04x} at "
            f"offset {err.start}; a {what} must be UTF-8)"
        ) from None


# --- YAML ---------------------------------------------------------------------------------------------------


class _Refused(Exception):
    def __init__(self, mark: Any, problem: str) -> None:
        super().__init__(problem)
        self.mark = mark
        self.problem = problem


def _compose(loader: Any) -> yaml.Node | None:
    """The single document of the stream as nodes, built without recursion, within the limits above."""
    import yaml

    loader.get_event()  # StreamStartEvent
    if loader.check_event(yaml.StreamEndEvent):
        loader.get_event()
        return None
    loader.get_event()  # DocumentStartEvent
    anchors: dict[str, yaml.Node] = {}
    weight: dict[int, int] = {}  # id(collection node) -> how many values it holds once aliases are expanded
    open_anchors: set[str] = set()
    stack: list[tuple[yaml.Node, list[Any], str | None]] = []  # (node, pending mapping key, anchor)
    written = 0
    root: yaml.Node | None = None

    def attach(node: yaml.Node) -> None:
        nonlocal root
        if not stack:
            root = node
            return
        parent, pending, _ = stack[-1]
        if isinstance(parent, yaml.SequenceNode):
            parent.value.append(node)
        elif pending:
            parent.value.append((pending.pop(), node))
        else:
            pending.append(node)

    event: Any  # PyYAML's events and marks (the C parser's marks are their own class)
    node: Any
    while True:
        event = loader.get_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in open_anchors:
                problem = f"alias *{event.anchor} refers to a collection from inside it"
                raise _Refused(event.start_mark, problem)
            if event.anchor not in anchors:
                raise _Refused(event.start_mark, f"found undefined alias *{event.anchor}")
            attach(anchors[event.anchor])
        elif isinstance(event, yaml.ScalarEvent):
            written += 1
            value = event.value
            tag = event.tag
            if tag is None or tag == "!":
                tag = loader.resolve(yaml.ScalarNode, value, event.implicit)
            if _BAD_CHARS.search(value):
                raise _Refused(event.start_mark, f"a value holds {_describe_char(value)}")
            if tag == _INT_TAG and len(value) > MAX_DIGITS:
                raise _Refused(event.start_mark, f"a number of {len(value)} digits; at most {MAX_DIGITS}")
            start: Any = event.start_mark
            end: Any = event.end_mark
            node = yaml.ScalarNode(tag, value, start, end, style=event.style)
            if event.anchor is not None:
                anchors[event.anchor] = node
            attach(node)
        elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            written += 1
            if len(stack) >= MAX_DEPTH:
                raise _Refused(event.start_mark, f"values nested more than {MAX_DEPTH} deep")
            kind: Any = yaml.SequenceNode if isinstance(event, yaml.SequenceStartEvent) else yaml.MappingNode
            tag = event.tag
            if tag is None or tag == "!":
                tag = loader.resolve(kind, None, event.implicit)
            node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
            if event.anchor is not None:
                open_anchors.add(event.anchor)
            attach(node)
            stack.append((node, [], event.anchor))
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            node, _, anchor = stack.pop()
            node.end_mark = event.end_mark
            if isinstance(node, yaml.SequenceNode):
                children = node.value
            else:
                children = [child for pair in node.value for child in pair]
            weight[id(node)] = 1 + sum(weight.get(id(child), 1) for child in children)
            if weight[id(node)] > written + MAX_ALIAS_VALUES:
                raise _Refused(
                    node.start_mark,
                    f"aliases expand to {weight[id(node)]:,} values or more, from {written:,} written; at "
                    f"most {MAX_ALIAS_VALUES:,} more than written (an alias bomb?)",
                )
            if anchor is not None:
                open_anchors.discard(anchor)
                anchors[anchor] = node
        elif isinstance(event, yaml.DocumentEndEvent):
            break
    if not loader.check_event(yaml.StreamEndEvent):
        extra = loader.get_event()
        raise _Refused(extra.start_mark, "expected a single document in the file, but found another")
    return root


class YamlDocument:
    """A parsed YAML file that remembers where each value came from.

    `error` is the exception class raised for a file that cannot be read or parsed (the caller's package
    error, so a CLI turns it into a message, not a traceback)."""

    def __init__(self, path: Path, text: str, *, error: type[Exception] = ValueError) -> None:
        self.path = path
        self.error = error
        if len(text) > MAX_BYTES:
            raise error(_too_big(path, "file"))
        import yaml

        loader = _loader()(text)
        try:
            self.node: yaml.Node | None = _compose(loader)
            self.data: Any = None if self.node is None else loader.construct_document(self.node)
        except _Refused as err:
            where = f":{err.mark.line + 1}" if err.mark is not None else ""
            raise error(f"{path}{where}: refused: {err.problem}") from None
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f":{mark.line + 1}" if mark is not None else ""
            problem = getattr(err, "problem", None) or str(err)
            raise error(f"{path}{where}: not valid YAML: {problem}") from None
        except (ValueError, OverflowError, TypeError, RecursionError) as err:
            # a value YAML accepts but Python cannot build (a date like 2024-13-45)
            raise error(f"{path}: not valid YAML: {err}") from None
        finally:
            loader.dispose()

    @classmethod
    def read(
        cls: type[_Document], path: Path, *, error: type[Exception] = ValueError, what: str = "file"
    ) -> _Document:
        return cls(path, read_text(path, error=error, what=what), error=error)

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """1-based line of the value at `loc` (or of its nearest existing parent); None for an empty file."""
        import yaml

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
        import yaml

        if isinstance(self.node, yaml.MappingNode):
            for k, _ in self.node.value:
                if getattr(k, "value", None) == key:
                    return f"{self.path}:{k.start_mark.line + 1}"
        return str(self.path)


# --- JSON ---------------------------------------------------------------------------------------------------


def _refuse_constant(name: str) -> Any:
    raise _Refused(None, f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


def _checked_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise _Refused(None, f"a number of {len(text)} digits; at most {MAX_DIGITS}")
    return int(text)


def _json_path(parts: Sequence[str | int]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".") or "(top)"


def check_tree(data: Any, fail: Callable[[str, str], Exception]) -> None:
    """Check parsed data against the depth and string limits, without recursion; `fail(where, problem)` makes
    the error for the first value that breaks one (`where` is a path such as `flow[2].mapper.url`)."""
    todo: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while todo:
        value, where = todo.pop()
        if isinstance(value, str):
            if "\x00" in value or (not value.isascii() and _BAD_CHARS.search(value)):
                raise fail(_json_path(where), f"a string holds {_describe_char(value)}")
            continue
        if not isinstance(value, (dict, list)):
            continue
        if len(where) >= MAX_DEPTH:
            raise fail(_json_path(where), f"values nested more than {MAX_DEPTH} deep")
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and _BAD_CHARS.search(key):
                    raise fail(_json_path(where), f"a key holds {_describe_char(key)}")
                todo.append((item, (*where, str(key))))
        else:
            todo.extend((item, (*where, i)) for i, item in enumerate(value))


def parse_json(path: Path, text: str, *, error: type[Exception] = ValueError, what: str = "file") -> Any:
    """Parse JSON text within the limits above; `error` names the file and the line or the path inside it."""
    if len(text) > MAX_BYTES:
        raise error(_too_big(path, what))
    try:
        data = json.loads(text, parse_int=_checked_int, parse_constant=_refuse_constant)
    except json.JSONDecodeError as err:
        raise error(f"{path}: not valid JSON (line {err.lineno}, column {err.colno}): {err.msg}") from None
    except _Refused as err:
        raise error(f"{path}: refused: {err.problem}") from None
    except RecursionError:
        raise error(f"{path}: refused: values nested more than {MAX_DEPTH} deep") from None
    except ValueError as err:
        raise error(f"{path}: not valid JSON: {err}") from None
    check_tree(data, lambda where, problem: error(f"{path}: {where}: refused: {problem}"))
    return data


def read_json(path: Path, *, error: type[Exception] = ValueError, what: str = "file") -> Any:
    """Read and parse a JSON file once, within the limits above."""
    return parse_json(path, read_text(path, error=error, what=what), error=error, what=what)
