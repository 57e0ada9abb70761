"""The fail-closed matrix's report: one row per Hall behaviour, the verdict for the whole gate, the causes.

Row verdicts (verdict.py's rule, per row): FAIL-OPEN, blocked on a good allow, fail-closed, ran on allow, and
error (hallsim could not run the row). The gate's verdict (verdict.GateVerdict) reads every row: fail-open
when a row fails open; error when a row could not run; broken when the protected action does not run after a
good allow (the `allow` row is blocked, or the gate never reaches the Hall on it, or any row is blocked on a
good allow); else fail-closed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hallsim.harness.causes import Cause
from hallsim.harness.verdict import (
    BLOCKED_ON_ALLOW,
    ERROR,
    FAIL_CLOSED,
    FAIL_OPEN,
    FAILING,
    RAN_ON_ALLOW,
    ROW_VERDICTS,
    GateVerdict,
    exit_status,
    judge,
    overall_line,
    phrase,
)

if TYPE_CHECKING:
    from hallsim.harness.workflow import WorkflowRun

__all__ = [
    "ALLOW_ROW",
    "BLOCKED_ON_ALLOW",
    "ERROR",
    "FAIL_CLOSED",
    "FAIL_OPEN",
    "LEGEND",
    "RAN_ON_ALLOW",
    "ROW_VERDICTS",
    "UNREACHABLE",
    "CauseGroup",
    "MatrixReport",
    "MatrixResult",
    "MatrixRow",
    "behaviour_label",
    "judge",
    "short_behaviour",
]

#: the row for a Hall nobody answers at: a loopback port where nothing listens (connection refused)
UNREACHABLE = "unreachable"
#: the row that shows whether the protected action runs at all
ALLOW_ROW = "allow"

#: what the columns of the table mean
LEGEND = (
    "ran: the protected action ran; allow: the gate received a well-formed allow (200, JSON, denied: false), "
    "so it may run. A row fails open when it ran without one; blocked on a good allow: it did not run though "
    "it was allowed."
)

#: a behaviour spec longer than this is shown by a short label (its whole spec is in the row's details)
LABEL_WIDTH = 22


@dataclass(frozen=True)
class MatrixRow:
    behaviour: str
    #: what the Hall did, in words, from the journal
    hall_did: str
    outcome: str
    protected_ran: bool
    #: whether the gate got a well-formed allow, i.e. whether the protected action was allowed to run
    expected_protected: bool
    fail_open: bool
    verdict: str
    hall_calls: int = 0
    wall_ms: float = 0.0
    error: str | None = None
    #: each execution of the protected action that did not follow a well-formed allow, and what came before it
    unallowed: tuple[str, ...] = ()
    #: why a FAIL-OPEN or blocked row went that way, read from the run's record (None when not known)
    cause: Cause | None = None
    #: the run itself, for reports that show its full trace (`hallsim.harness.report`); not in `to_json()`
    run: WorkflowRun | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        out = asdict(replace(self, run=None))
        del out["run"]
        out["label"] = behaviour_label(self.behaviour)
        out["cause"] = self.cause.to_json() if self.cause is not None else None
        return out

    def details(self, sep: str) -> str:
        """What the Hall did, then why an allowed row still fails open, or the error that stopped it."""
        parts = [self.hall_did]
        if behaviour_label(self.behaviour) != self.behaviour:
            parts.append(f"scripted: {self.behaviour}")
        if self.expected_protected and self.unallowed:
            parts += self.unallowed
        if self.error is not None:
            parts.append(f"error: {self.error}")
        return sep.join(parts)


@dataclass(frozen=True)
class CauseGroup:
    """Rows that went wrong for one reason."""

    cause: Cause
    verdict: str
    behaviours: tuple[str, ...]

    def line(self) -> str:
        count = len(self.behaviours)
        rows = "1 row" if count == 1 else f"{count} rows"
        one = count == 1
        if self.verdict == FAIL_OPEN:
            what = "fails open" if one else "fail open for one reason"
        elif self.verdict == BLOCKED_ON_ALLOW:
            what = "is blocked on a good allow" if one else "are blocked on a good allow for one reason"
        else:
            what = "does not run the protected action on a good allow"
        return f"{rows} {what} ({', '.join(self.behaviours)}): {self.cause.line()}"

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "behaviours": list(self.behaviours), **self.cause.to_json()}


@dataclass(frozen=True)
class MatrixReport:
    workflow: Path
    platform: str
    protected: tuple[str, ...]
    rows: tuple[MatrixRow, ...]
    time_scale: float
    wall_s: float
    #: every setting the runs used (UNCONFIRMED platform choices included)
    settings: dict[str, Any] = field(default_factory=dict)
    #: the settings the caller chose (`--set`), shown with the verdict
    chosen: dict[str, Any] = field(default_factory=dict)
    #: the names of the settings that stand for a platform rule the references mark UNCONFIRMED
    unconfirmed: tuple[str, ...] = ()

    @property
    def fail_open(self) -> bool:
        return any(r.fail_open for r in self.rows)

    @property
    def errors(self) -> int:
        return sum(1 for r in self.rows if r.verdict == ERROR)

    @property
    def broken(self) -> str | None:
        """Why the gate is broken (it does not run the protected action after a good allow), or None."""
        allow = next((r for r in self.rows if r.behaviour == ALLOW_ROW), None)
        if allow is not None and allow.verdict != ERROR:
            if allow.hall_calls == 0:
                return "the gate never called the Hall on the allow row"
            if not allow.protected_ran:
                return f"the protected action did not run after a good allow (allow row: {allow.outcome})"
        blocked = [r.behaviour for r in self.rows if r.verdict == BLOCKED_ON_ALLOW]
        if blocked:
            return f"blocked on a good allow: {', '.join(blocked)}"
        called = [r for r in self.rows if r.behaviour != UNREACHABLE and r.verdict != ERROR]
        if allow is None and called and not any(r.hall_calls for r in called):
            return "the gate never called the Hall in any row"
        return None

    @property
    def verdict(self) -> GateVerdict:
        if self.fail_open:
            return "fail-open"
        if self.errors:
            return "error"
        if self.broken is not None:
            return "broken"
        return "fail-closed"

    def counts(self) -> dict[str, int]:
        counted: dict[str, int] = {}
        for row in self.rows:
            counted[row.verdict] = counted.get(row.verdict, 0) + 1
        return counted

    def cause_groups(self) -> list[CauseGroup]:
        """The FAIL-OPEN and blocked rows grouped by cause, in row order of each group's first row."""
        groups: dict[tuple[str, Cause], list[str]] = {}
        for row in self.rows:
            if row.cause is not None:
                groups.setdefault((row.verdict, row.cause), []).append(behaviour_label(row.behaviour))
        return [CauseGroup(cause, verdict, tuple(names)) for (verdict, cause), names in groups.items()]

    def summary(self) -> str:
        """The gate's verdict in one line, with the row counts."""
        counted = self.counts()
        parts = [f"{counted[v]} {v}" for v in ROW_VERDICTS if v in counted]
        chosen = "".join(f" with {k}={v}" for k, v in self.chosen.items())
        verdict = self.verdict
        head = phrase(verdict).upper() if verdict != "fail-closed" else phrase(verdict)
        why = ""
        if verdict == "broken":
            why = f": {self.broken}"
        elif verdict == "error":
            why = f": {self.errors} row(s) could not run, so no verdict can be given"
        return f"{self.workflow}{chosen}: {head} ({', '.join(parts)}){why}"

    def unconfirmed_line(self) -> str:
        """The UNCONFIRMED platform choices these verdicts rest on, with the values used; "" when none."""
        if not self.unconfirmed:
            return ""
        used = ", ".join(f"{name}={self.settings.get(name)}" for name in self.unconfirmed)
        return f"UNCONFIRMED platform choices used (change with --set NAME=VALUE): {used}"

    def to_json(self) -> dict[str, Any]:
        return {
            "workflow": str(self.workflow),
            "platform": self.platform,
            "protected": list(self.protected),
            "verdict": self.verdict,
            "summary": self.summary(),
            "fail_open": self.fail_open,
            "broken": self.broken,
            "errors": self.errors,
            "causes": [g.to_json() for g in self.cause_groups()],
            "time_scale": self.time_scale,
            "wall_s": round(self.wall_s, 3),
            "settings": self.settings,
            "chosen_settings": self.chosen,
            "unconfirmed_settings": {name: self.settings.get(name) for name in self.unconfirmed},
            "rows": [r.to_json() for r in self.rows],
        }

    def to_markdown(self) -> str:
        lines = [
            f"### `{self.workflow}` ({self.platform}, protected: {', '.join(self.protected) or '?'})"
            + "".join(f", {k}={v}" for k, v in self.chosen.items()),
            "",
            self.summary(),
            "",
            "| Hall behaviour | what the Hall did | outcome | protected ran | well-formed allow | verdict |",
            "|---|---|---|---|---|---|",
        ]
        for r in self.rows:
            verdict = f"**{r.verdict}**" if r.verdict in (FAIL_OPEN, BLOCKED_ON_ALLOW, ERROR) else r.verdict
            did = r.details("; ")
            lines.append(
                f"| `{behaviour_label(r.behaviour)}` | {_md(did)} | {r.outcome} | {_yes(r.protected_ran)} | "
                f"{_yes(r.expected_protected)} | {verdict} |"
            )
        groups = self.cause_groups()
        if groups:
            lines += ["", "Why, and what to change:", ""]
            lines += [f"- {_md(g.line())}" for g in groups]
        return "\n".join(lines)


def behaviour_label(spec: str) -> str:
    """A behaviour spec as a table shows it: whole, unless it carries a long scripted body (an HTML 502),
    shown as `http-502:<html…>` with the whole spec in the row's details."""
    if len(spec) <= LABEL_WIDTH:
        return spec
    name, _, argument = spec.partition(":")
    if not argument:
        return spec
    room = LABEL_WIDTH - len(name) - 2
    return f"{name}:{argument[: max(room, 1)]}…"


def short_behaviour(spec: str, width: int = LABEL_WIDTH) -> str:
    """A behaviour spec cut to `width` (kept for callers; tables use `behaviour_label`)."""
    return spec if len(spec) <= width else spec[: width - 1] + "…"


@dataclass(frozen=True)
class MatrixResult:
    """The matrix over one or more gates: one answer for all, one line per gate, the exit status."""

    reports: tuple[MatrixReport, ...]
    #: which gate verdicts make the exit status non-zero (`--fail-on`)
    fail_on: tuple[GateVerdict, ...] = FAILING

    @property
    def verdicts(self) -> list[GateVerdict]:
        return [r.verdict for r in self.reports]

    @property
    def exit_status(self) -> int:
        return exit_status(self.verdicts, self.fail_on)

    def overall(self) -> str:
        """ "2 of 6 gates fail open, 1 is broken, 3 fail closed"."""
        return overall_line(self.verdicts)

    def verdict_lines(self) -> list[str]:
        """One line per gate, then the answer for all."""
        return [r.summary() for r in self.reports] + [self.overall()]

    def unconfirmed_lines(self) -> list[str]:
        """The UNCONFIRMED settings each platform's rows used, once per distinct line."""
        return list(dict.fromkeys(r.unconfirmed_line() for r in self.reports if r.unconfirmed))

    def to_json(self) -> dict[str, Any]:
        """One shape for one gate or many: the answer first, then each gate's report."""
        return {
            "summary": self.overall(),
            "exit_status": self.exit_status,
            "fail_on": list(self.fail_on),
            "verdicts": {str(r.workflow): r.verdict for r in self.reports},
            "fail_open": any(r.fail_open for r in self.reports),
            "workflows": [r.to_json() for r in self.reports],
        }

    def to_markdown(self) -> str:
        lines = [f"**{self.overall()}**", ""]
        lines += [f"- {_md(r.summary())}" for r in self.reports]
        lines += ["", f"_{LEGEND}_"]
        for report in self.reports:
            lines += ["", report.to_markdown()]
        unconfirmed = self.unconfirmed_lines()
        if unconfirmed:
            lines += ["", *unconfirmed]
        return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
