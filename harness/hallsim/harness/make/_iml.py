"""Make's mapping language (IML): `{{1.worker_id}}`, text with embedded mappings, functions and operators.

Rules (shared/reference/make.md "Blueprint JSON"): mappings name modules by id, not position
(`{{2.data.denied}}`); backticks quote odd keys (`{{1.`odd key`}}`, `{{`2`}}`); functions take `;`-separated
arguments; arrays are 1-indexed, and an empty index means the first element (`{{1.items[].name}}`,
help.make.com "Mapping arrays"); a missing value behaves as empty. Organization/team variables are
`{{var.organization.X}}` / `{{var.team.X}}`, scenario inputs `{{var.input.X}}`; the seed guide's
`{{variable.X}}` is UNCONFIRMED. System variables (help.make.com "System variables": the scenario's id,
name and URL; the execution's id, operations consumed and start; the team's and organization's ids and
names, operations and data left, zone) read as `{{executionId}}`, `{{scenario.id}}`, `{{scenario.name}}`,
`{{scenario.url}}`, `{{execution.id}}`, `{{execution.operationsConsumed}}`, `{{execution.startedAt}}`,
`{{team.id}}`, `{{team.name}}`, `{{organization.id}}`, `{{organization.name}}`,
`{{organization.operationsLeft}}`, `{{organization.dataLeft}}`, `{{organization.zoneDomain}}`, and
`{{operationsConsumed}}`; `{{executionId}}` and `{{scenario.id}}`/`{{scenario.name}}` are seen in public
exports, the other names are UNCONFIRMED (Make's mapping panel shows labels, not the names it stores).

Templates are compiled once when the blueprint loads and evaluated per bundle against an `Env`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hallsim.harness.make._values import arith, compare, is_empty, loose_equal, to_number, truthy


class IMLSyntaxError(Exception):
    """A mapping hallsim cannot parse; the loader turns it into an InputError naming the file and module."""


@dataclass
class MappingWarning:
    """A mapping that resolved to nothing, as Make resolves it: to empty (make.md "Blueprint JSON")."""

    module: int  # the module whose mapper or filter holds the expression
    context: str  # mapper | filter `NAME` | ...
    expression: str
    referenced: int | None
    message: str
    bundles: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "module": self.module,
            "in": self.context,
            "expression": self.expression,
            "referenced_module": self.referenced,
            "message": self.message,
            "bundles": list(self.bundles),
        }


class Env:
    """What a mapping can see while one bundle runs: module outputs, variables, the (virtual) clock."""

    __slots__ = (
        "bundle",
        "context",
        "now",
        "operations",
        "outputs",
        "quiet",
        "system",
        "timezone",
        "variable_form",
        "variables",
        "warn_sink",
        "where",
    )

    def __init__(
        self,
        outputs: dict[int, Any],
        variables: dict[str, dict[str, Any]],
        now: datetime,
        warn_sink: Callable[[MappingWarning], None],
        *,
        where: int = 0,
        context: str = "mapper",
        bundle: int = 0,
        variable_form: str = "resolve",
        timezone: str = "UTC",
        system: dict[str, Any] | None = None,
        operations: int = 0,
    ) -> None:
        self.outputs = outputs
        self.variables = variables
        self.now = now
        self.warn_sink = warn_sink
        self.where = where
        self.context = context
        self.bundle = bundle
        self.variable_form = variable_form
        self.timezone = timezone
        self.system = system if system is not None else {}
        self.operations = operations
        self.quiet = 0

    def warn(self, expression: str, referenced: int | None, message: str) -> None:
        if self.quiet:
            return
        self.warn_sink(
            MappingWarning(self.where, self.context, expression, referenced, message, [self.bundle])
        )


# --------------------------------------------------------------------------------------------------
# values


# --------------------------------------------------------------------------------------------------
# expression nodes


class Node:
    text = ""

    def eval(self, env: Env) -> Any:
        raise NotImplementedError

    def refs(self) -> Iterator[tuple[int, str]]:
        """Module ids this node reads, with the expression text that reads each."""
        return iter(())

    def functions(self) -> Iterator[str]:
        return iter(())


class Const(Node):
    __slots__ = ("bare", "value")

    def __init__(self, value: Any, *, bare: bool = False) -> None:
        self.value = value
        self.bare = bare  # an unquoted word Make would read as text

    def eval(self, env: Env) -> Any:
        return self.value


#: an empty array index, `items[]` (never a real index: arrays count from 1)
FIRST = -1

#: system variables a mapping names with a dotted path (help.make.com "System variables")
SYSTEM_HEADS = ("scenario", "execution", "team", "organization")
SYSTEM_WORDS = ("executionId", "operationsConsumed")


class Path(Node):
    __slots__ = ("module", "scope", "segments", "text")

    def __init__(self, module: int | None, scope: str | None, segments: list[str | int], text: str) -> None:
        self.module = module
        # organization | team | input | scenario | variable (the guide's form) | system
        self.scope = scope
        self.segments = segments
        self.text = text

    def refs(self) -> Iterator[tuple[int, str]]:
        if self.module is not None:
            yield self.module, self.text

    def eval(self, env: Env) -> Any:
        expression = "{{" + self.text + "}}"
        if self.module is not None:
            if self.module not in env.outputs:
                env.warn(
                    expression,
                    self.module,
                    f"mapping `{expression}` resolves to nothing; module {self.module} did not "
                    "run for this bundle",
                )
                return None
            current = env.outputs[self.module]
            trail = str(self.module)
        else:
            if self.scope == "system":
                return self._system(env, expression)
            return self._variable(env, expression)
        for segment in self.segments:
            if segment == FIRST:  # `items[]`: the first element (help.make.com "Mapping arrays")
                segment = 1
            if isinstance(segment, int):
                if isinstance(current, list) and 1 <= segment <= len(current):
                    current = current[segment - 1]  # arrays are 1-indexed (make.md)
                    trail += f"[{segment}]"
                    continue
                size = len(current) if isinstance(current, list) else 0
                env.warn(
                    expression,
                    self.module,
                    f"mapping `{expression}` resolves to nothing; {trail} has {size} item(s) "
                    "(arrays count from 1)",
                )
                return None
            if isinstance(current, dict) and segment in current:
                current = current[segment]
                trail += f".{segment}"
                continue
            env.warn(expression, self.module, _missing_message(expression, self.module, trail, current))
            return None
        return current

    def _system(self, env: Env, expression: str) -> Any:
        name = ".".join(str(s) for s in self.segments)
        if name in ("operationsConsumed", "execution.operationsConsumed"):
            return env.operations
        if name not in env.system:
            known = ", ".join(sorted(env.system)) or "none"
            env.warn(
                expression, None, f"mapping `{expression}` resolves to nothing; system variables: {known}"
            )
            return None
        return env.system[name]

    def _variable(self, env: Env, expression: str) -> Any:
        scope = self.scope or ""
        if scope == "variable" and env.variable_form == "empty":
            env.warn(
                expression, None, f"mapping `{expression}` resolves to nothing (make.variable_form=empty)"
            )
            return None
        values = env.variables.get(scope, {})
        name = self.segments[0] if self.segments else ""
        if name not in values:
            known = ", ".join(sorted(values)) or "none"
            env.warn(
                expression,
                None,
                f"mapping `{expression}` resolves to nothing; no {scope} variable `{name}` was supplied "
                f"(supplied: {known})",
            )
            return None
        current: Any = values[name]
        for segment in self.segments[1:]:
            if isinstance(current, dict) and segment in current:
                current = current[segment]
            else:
                return None
        return current


def _missing_message(expression: str, module: int | None, trail: str, current: Any) -> str:
    head = f"mapping `{expression}` resolves to nothing; "
    if isinstance(current, dict):
        fields = ", ".join(current) or "no fields"
        if trail == str(module):
            return head + f"module {module} outputs {fields}"
        return head + f"{trail} has {fields}"
    if current is None:
        return head + f"{trail} is empty"
    kind = "text" if isinstance(current, str) else type(current).__name__
    return head + f"{trail} is {kind}, not a collection"


class Call(Node):
    __slots__ = ("args", "impl", "name", "text")

    def __init__(self, name: str, args: list[Node], text: str, impl: Callable[..., Any]) -> None:
        self.name = name
        self.args = args
        self.text = text
        self.impl = impl

    def refs(self) -> Iterator[tuple[int, str]]:
        for arg in self.args:
            yield from arg.refs()

    def functions(self) -> Iterator[str]:
        yield self.name
        for arg in self.args:
            yield from arg.functions()

    def eval(self, env: Env) -> Any:
        name = self.name
        args = self.args
        # lazy functions: only the chosen branch is evaluated, so its warnings are the only ones raised
        if name == "if":
            condition = args[0].eval(env) if args else None
            chosen = args[1] if truthy(condition) else (args[2] if len(args) > 2 else None)
            return chosen.eval(env) if chosen is not None else None
        if name == "ifempty":
            env.quiet += 1  # ifempty(missing; B) is how Make users ask for a default: no warning for it
            try:
                first = args[0].eval(env) if args else None
            finally:
                env.quiet -= 1
            if not is_empty(first):
                return first
            return args[1].eval(env) if len(args) > 1 else None
        if name == "switch":
            subject = args[0].eval(env) if args else None
            rest = args[1:]
            for index in range(0, len(rest) - 1, 2):
                if loose_equal(subject, rest[index].eval(env)):
                    return rest[index + 1].eval(env)
            return rest[-1].eval(env) if len(rest) % 2 == 1 else None
        return self.impl(env, *[arg.eval(env) for arg in args])


class Op(Node):
    __slots__ = ("left", "op", "right", "text")

    def __init__(self, op: str, left: Node, right: Node, text: str) -> None:
        self.op = op
        self.left = left
        self.right = right
        self.text = text

    def refs(self) -> Iterator[tuple[int, str]]:
        yield from self.left.refs()
        yield from self.right.refs()

    def functions(self) -> Iterator[str]:
        yield from self.left.functions()
        yield from self.right.functions()

    def eval(self, env: Env) -> Any:
        op = self.op
        if op in ("&", "and"):
            return truthy(self.left.eval(env)) and truthy(self.right.eval(env))
        if op in ("|", "or"):
            return truthy(self.left.eval(env)) or truthy(self.right.eval(env))
        left = self.left.eval(env)
        right = self.right.eval(env)
        if op in ("+", "-", "*", "/", "%"):
            return arith(op, left, right)
        return compare(op, left, right)


class Neg(Node):
    __slots__ = ("inner", "text")

    def __init__(self, inner: Node, text: str) -> None:
        self.inner = inner
        self.text = text

    def refs(self) -> Iterator[tuple[int, str]]:
        return self.inner.refs()

    def functions(self) -> Iterator[str]:
        return self.inner.functions()

    def eval(self, env: Env) -> Any:
        number = to_number(self.inner.eval(env))
        return None if number is None else arith("-", 0, number)


class Keyword(Node):
    __slots__ = ("impl", "name", "text")

    def __init__(self, name: str, impl: Callable[[Env], Any]) -> None:
        self.name = name
        self.text = name
        self.impl = impl

    def eval(self, env: Env) -> Any:
        return self.impl(env)


# --------------------------------------------------------------------------------------------------
# parser

_OPERATORS = ("<=", ">=", "!=", "<>", "==", "=", "<", ">", "+", "-", "*", "/", "%", "&", "|")
_PRECEDENCE = {
    "|": 1,
    "or": 1,
    "&": 2,
    "and": 2,
    "=": 3,
    "==": 3,
    "!=": 3,
    "<>": 3,
    "<": 3,
    "<=": 3,
    ">": 3,
    ">=": 3,
    "+": 4,
    "-": 4,
    "*": 5,
    "/": 5,
    "%": 5,
}
_WORD = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_SEGMENT = re.compile(r"[A-Za-z0-9_$@#]+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_VAR_SCOPES = ("organization", "team", "input", "scenario")


class _Parser:
    def __init__(self, text: str, functions: dict[str, Callable[..., Any]], keywords: dict[str, Any]) -> None:
        self.text = text
        self.pos = 0
        self.functions = functions
        self.keywords = keywords

    # -- helpers
    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _peek(self) -> str:
        self._skip()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _fail(self, message: str) -> IMLSyntaxError:
        return IMLSyntaxError(f"{message} at character {self.pos + 1} of `{self.text}`")

    # -- grammar
    def parse(self) -> Node:
        node = self.expression(0)
        self._skip()
        if self.pos != len(self.text):
            raise self._fail(f"unexpected `{self.text[self.pos :]}`")
        return node

    def expression(self, min_prec: int) -> Node:
        start = self.pos
        left = self.unary()
        while True:
            op = self._operator()
            if op is None or _PRECEDENCE[op] < min_prec:
                break
            self.pos += len(op)
            right = self.expression(_PRECEDENCE[op] + 1)
            left = Op(op, left, right, self.text[start : self.pos].strip())
        return left

    def _operator(self) -> str | None:
        self._skip()
        rest = self.text[self.pos :]
        for op in _OPERATORS:
            if rest.startswith(op):
                return op
        for word in ("and", "or"):
            if rest.startswith(word) and (len(rest) == len(word) or not rest[len(word)].isalnum()):
                return word
        return None

    def unary(self) -> Node:
        char = self._peek()
        if char == "-":
            start = self.pos
            self.pos += 1
            inner = self.unary()
            return Neg(inner, self.text[start : self.pos])
        return self.primary()

    def primary(self) -> Node:
        char = self._peek()
        if not char:
            raise self._fail("expected a value")
        if char == "(":
            self.pos += 1
            node = self.expression(0)
            if self._peek() != ")":
                raise self._fail("expected `)`")
            self.pos += 1
            return node
        if char in "\"'":
            return Const(self._string(char))
        if char == "`":
            return self._path()
        if char.isdigit():
            digits = re.match(r"\d+", self.text[self.pos :])
            assert digits is not None
            end = self.pos + digits.end()
            after = self.text[end : end + 2]
            if after[:1] == "[" or (after[:1] == "." and not after[1:2].isdigit()):
                return self._path()  # `2.data.denied`, `1.items[1]`
            match = _NUMBER.match(self.text, self.pos)
            assert match is not None
            self.pos = match.end()
            number = float(match.group(0))
            return Const(int(number) if number == int(number) else number)
        match = _WORD.match(self.text, self.pos)
        if not match:
            raise self._fail(f"unexpected `{char}`")
        word = match.group(0)
        after_word = match.end()
        probe = after_word
        while probe < len(self.text) and self.text[probe].isspace():
            probe += 1
        if probe < len(self.text) and self.text[probe] == "(":
            return self._call(word, probe)
        if word in ("var", "variable") and self.text[after_word : after_word + 1] == ".":
            return self._path()
        if word in SYSTEM_HEADS and self.text[after_word : after_word + 1] == ".":
            return self._path()
        if word in SYSTEM_WORDS:
            self.pos = after_word
            return Path(None, "system", [word], word)
        if word in ("true", "false"):
            self.pos = after_word
            return Const(word == "true")
        if word == "null":
            self.pos = after_word
            return Const(None)
        if word in self.keywords:
            self.pos = after_word
            return Keyword(word, self.keywords[word])
        if self.text[after_word : after_word + 1] == ".":
            head = word
            raise IMLSyntaxError(
                f"`{head}` is not a module id: Make names modules by number (for example `2.data.denied`)"
            )
        self.pos = after_word
        return Const(word, bare=True)

    def _string(self, quote: str) -> str:
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if char == quote:
                self.pos += 1
                return "".join(out)
            out.append(char)
            self.pos += 1
        raise self._fail("unterminated string")

    def _segment(self) -> str:
        if self.text[self.pos : self.pos + 1] == "`":
            end = self.text.find("`", self.pos + 1)
            if end < 0:
                raise self._fail("unterminated backtick")
            value = self.text[self.pos + 1 : end]
            self.pos = end + 1
            return value
        match = _SEGMENT.match(self.text, self.pos)
        if not match:
            raise self._fail("expected a field name")
        self.pos = match.end()
        return match.group(0)

    def _path(self) -> Node:
        start = self.pos
        parts: list[str | int] = [self._segment()]
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == ".":
                self.pos += 1
                parts.append(self._segment())
            elif char == "[":
                end = self.text.find("]", self.pos)
                inner = self.text[self.pos + 1 : end] if end > 0 else ""
                if end > 0 and not inner.strip():
                    parts.append(FIRST)
                elif not inner.strip().isdigit():
                    raise self._fail(
                        "array index must be a number (arrays count from 1), or empty for the first"
                    )
                else:
                    parts.append(int(inner))
                self.pos = end + 1
            else:
                break
        text = self.text[start : self.pos]
        head = parts[0]
        if isinstance(head, str) and head.isdigit():
            return Path(int(head), None, parts[1:], text)
        if head == "var" and len(parts) >= 3 and parts[1] in _VAR_SCOPES:
            return Path(None, str(parts[1]), parts[2:], text)
        if head == "variable" and len(parts) >= 2:
            return Path(None, "variable", parts[1:], text)
        if head in SYSTEM_HEADS and len(parts) >= 2:
            return Path(None, "system", parts, text)
        raise IMLSyntaxError(
            f"`{text}` is not a mapping Make understands (expected `N.field`, `var.team.X`, ...)"
        )

    def _call(self, name: str, paren: int) -> Node:
        start = self.pos
        if name not in self.functions:
            raise UnknownFunction(name)
        self.pos = paren + 1
        raw_args = self._split_args()
        args = [parse_argument(raw, self.functions, self.keywords) for raw in raw_args]
        return Call(name, args, self.text[start : self.pos], self.functions[name])

    def _split_args(self) -> list[str]:
        """The raw text of each `;`-separated argument up to the closing `)`. Strings and backticked names
        are skipped with the same scanner that reads them as values, so `;` and `)` inside them never
        split: `if(true; 'a;b'; 'c')` has three arguments."""
        depth = 0
        begin = self.pos
        args: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in "\"'":
                self._string(char)
                continue
            if char == "`":
                self._segment()
                continue
            if char == "(":
                depth += 1
            elif char == ")":
                if depth == 0:
                    args.append(self.text[begin : self.pos])
                    self.pos += 1
                    if len(args) == 1 and not args[0].strip():
                        return []
                    return args
                depth -= 1
            elif char == ";" and depth == 0:
                args.append(self.text[begin : self.pos])
                begin = self.pos + 1
            self.pos += 1
        raise self._fail("expected `)`")


class UnknownFunction(IMLSyntaxError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _has_bare(node: Node) -> bool:
    if isinstance(node, Const):
        return node.bare
    if isinstance(node, Op):
        return _has_bare(node.left) or _has_bare(node.right)
    if isinstance(node, Neg):
        return _has_bare(node.inner)
    return False


def _is_dynamic(node: Node) -> bool:
    return any(True for _ in node.refs()) or any(True for _ in node.functions()) or _reads_variable(node)


def _reads_variable(node: Node) -> bool:
    if isinstance(node, Path):
        return node.module is None
    if isinstance(node, Op):
        return _reads_variable(node.left) or _reads_variable(node.right)
    if isinstance(node, Neg):
        return _reads_variable(node.inner)
    if isinstance(node, Call):
        return any(_reads_variable(arg) for arg in node.args)
    return False


def parse_argument(raw: str, functions: dict[str, Callable[..., Any]], keywords: dict[str, Any]) -> Node:
    """A function argument: an expression, or, as in Make, plain text (`formatDate(now; YYYY-MM-DD)`)."""
    text = raw.strip()
    if not text:
        return Const(None)
    try:
        node = _Parser(text, functions, keywords).parse()
    except UnknownFunction:
        raise
    except IMLSyntaxError:
        if re.search(r"(^|[^\w`])(\d+\.|var\.|variable\.)", text):
            raise
        return Const(text)
    if _has_bare(node) and not _is_dynamic(node):
        return Const(text)
    return node


def parse_expression(text: str, functions: dict[str, Callable[..., Any]], keywords: dict[str, Any]) -> Node:
    node = _Parser(text.strip(), functions, keywords).parse()
    if isinstance(node, Const) and node.bare:
        raise IMLSyntaxError(f"`{text.strip()}` is neither a mapping, a keyword nor a function call")
    return node
