"""Where a step's syntax error is: Node's module compiler reports no position, so after the run hallsim asks
`node --check` (reading the module's source on stdin), which prints it as Node reports a syntax error:
`[stdin]:LINE`, the line, and a caret under the column. Done outside the execution, so the check costs the
step none of its modelled time."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

_CHECK = re.compile(r"^\[stdin\]:(\d+)\r?\n(.*)\r?\n( *)\^", re.MULTILINE)


def locate_syntax_error(node: Path, error: dict[str, Any]) -> None:
    """Give `error` (a step's serialised SyntaxError) a `location` {file, line, column, code}, when found."""
    syntax = error.pop("syntax", None)
    if not isinstance(syntax, dict) or error.get("location") or not isinstance(syntax.get("source"), str):
        return
    try:
        done = subprocess.run(
            [str(node), "--input-type=module", "--check"],
            input=syntax["source"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return
    match = _CHECK.search(done.stderr)
    if not match:
        return
    offset = int(syntax.get("line_offset") or 0)
    line = int(match[1]) + offset
    code, column = match[2], len(match[3]) + 1
    file = str(syntax.get("file") or "")
    if offset:
        # inline code: show the workflow file's own (indented) line, the caret moved with it
        try:
            own = Path(file).read_text(encoding="utf-8").splitlines()[line - 1]
        except (OSError, IndexError, UnicodeDecodeError):
            own = None
        if own is not None and own.endswith(code):
            column += len(own) - len(code)
            code = own
    error["location"] = {"file": file, "line": line, "column": column, "code": code}
