"""Mapper values compiled once: plain values, text with embedded `{{...}}` mappings, collections of them.

A field whose whole value is one mapping keeps the mapped value's type (`{{1.items}}` stays an array); text
with embedded mappings is text (make.md "Blueprint JSON")."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hallsim.harness.make._functions import FUNCTIONS, KEYWORDS, supported_functions
from hallsim.harness.make._iml import Env, IMLSyntaxError, Node, UnknownFunction, parse_expression
from hallsim.harness.make._values import to_text


class Template:
    """A compiled mapper value."""

    __slots__ = ()

    def eval(self, env: Env) -> Any:
        raise NotImplementedError

    def refs(self) -> Iterator[tuple[int, str]]:
        return iter(())

    def expressions(self) -> Iterator[str]:
        return iter(())


class ConstTemplate(Template):
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def eval(self, env: Env) -> Any:
        return self.value


class ExprTemplate(Template):
    __slots__ = ("node", "source")

    def __init__(self, node: Node, source: str) -> None:
        self.node = node
        self.source = source

    def eval(self, env: Env) -> Any:
        return self.node.eval(env)

    def refs(self) -> Iterator[tuple[int, str]]:
        return self.node.refs()

    def expressions(self) -> Iterator[str]:
        yield self.source


class TextTemplate(Template):
    __slots__ = ("parts", "sources")

    def __init__(self, parts: list[str | Node], sources: list[str]) -> None:
        self.parts = parts
        self.sources = sources

    def eval(self, env: Env) -> str:
        return "".join(part if isinstance(part, str) else to_text(part.eval(env)) for part in self.parts)

    def refs(self) -> Iterator[tuple[int, str]]:
        for part in self.parts:
            if not isinstance(part, str):
                yield from part.refs()

    def expressions(self) -> Iterator[str]:
        yield from self.sources


class DictTemplate(Template):
    __slots__ = ("items",)

    def __init__(self, items: dict[str, Template]) -> None:
        self.items = items

    def eval(self, env: Env) -> dict[str, Any]:
        return {key: value.eval(env) for key, value in self.items.items()}

    def refs(self) -> Iterator[tuple[int, str]]:
        for value in self.items.values():
            yield from value.refs()

    def expressions(self) -> Iterator[str]:
        for value in self.items.values():
            yield from value.expressions()


class ListTemplate(Template):
    __slots__ = ("items",)

    def __init__(self, items: list[Template]) -> None:
        self.items = items

    def eval(self, env: Env) -> list[Any]:
        return [value.eval(env) for value in self.items]

    def refs(self) -> Iterator[tuple[int, str]]:
        for value in self.items:
            yield from value.refs()

    def expressions(self) -> Iterator[str]:
        for value in self.items:
            yield from value.expressions()


def _split_text(text: str) -> list[tuple[bool, str]]:
    """Split text into literal pieces and `{{...}}` expression bodies, honouring quotes inside expressions."""
    pieces: list[tuple[bool, str]] = []
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            if pos < len(text):
                pieces.append((False, text[pos:]))
            return pieces
        if start > pos:
            pieces.append((False, text[pos:start]))
        index = start + 2
        quote = ""
        escaped = False  # exports write \" for quotes inside mappings in JSON bodies (public patterns do)
        while index < len(text):
            char = text[index]
            if quote:
                if escaped and text.startswith('\\"', index):
                    quote = ""
                    index += 1
                elif char == "\\":
                    index += 1
                elif char == quote:
                    quote = ""
            elif text.startswith('\\"', index):
                quote, escaped = '"', True
                index += 1
            elif char in "\"'`":  # the quotes the expression scanner reads (_iml._Parser._string)
                quote = char
            elif text.startswith("}}", index):
                break
            index += 1
        else:
            raise TemplateError(text[start : start + 40], "opens `{{` without a closing `}}`")
        body = text[start + 2 : index]
        pieces.append((True, body.replace('\\"', '"') if escaped else body))
        pos = index + 2


class TemplateError(IMLSyntaxError):
    """A mapping that cannot be compiled: `expression` is the `{{...}}` text, `problem` says why."""

    def __init__(self, expression: str, problem: str) -> None:
        super().__init__(f"`{expression}` {problem}")
        self.expression = expression
        self.problem = problem


def _parse(body: str) -> Node:
    expression = "{{" + body + "}}"
    try:
        return parse_expression(body, FUNCTIONS, KEYWORDS)
    except UnknownFunction as err:
        raise TemplateError(
            expression,
            f"uses the function `{err.name}`, which hallsim does not support (supported: "
            f"{supported_functions()})",
        ) from None
    except IMLSyntaxError as err:
        raise TemplateError(expression, f"cannot be read: {err}") from None


def compile_text(text: str) -> Template:
    if "{{" not in text:
        return ConstTemplate(text)
    pieces = _split_text(text)
    if len(pieces) == 1 and pieces[0][0]:
        body = pieces[0][1]
        return ExprTemplate(_parse(body), "{{" + body + "}}")
    parts: list[str | Node] = []
    sources: list[str] = []
    for is_expression, body in pieces:
        if is_expression:
            parts.append(_parse(body))
            sources.append("{{" + body + "}}")
        else:
            parts.append(body)
    return TextTemplate(parts, sources)


def compile_value(value: Any) -> Template:
    """Compile a mapper value; raises IMLSyntaxError (with the failing expression) on a mapping "
    "it cannot read."""
    if isinstance(value, str):
        return compile_text(value)
    if isinstance(value, dict):
        items = {key: compile_value(item) for key, item in value.items()}
        if all(isinstance(item, ConstTemplate) for item in items.values()):
            return ConstTemplate(value)
        return DictTemplate(items)
    if isinstance(value, list):
        elements = [compile_value(item) for item in value]
        if all(isinstance(item, ConstTemplate) for item in elements):
            return ConstTemplate(value)
        return ListTemplate(elements)
    return ConstTemplate(value)
