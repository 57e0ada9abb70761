"""Dates in mappings: Make formats and parses them with moment.js tokens (Make help centre "Tokens for
date/time formatting"), e.g. `formatDate(now; "YYYY-MM-DDTHH:mm:ssZ")`."""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from hallsim.harness.make._iml import Env

_TOKENS = re.compile(
    r"\[[^\]]*\]|YYYY|YY|MMMM|MMM|MM|M|Do|DD|D|dddd|ddd|d|HH|H|hh|h|mm|m|ss|s|SSS|SS|S|A|a|ZZ|Z|X|x|Q|E"
)
_MONTHS = list(calendar.month_name)
_DAYS = list(calendar.day_name)


def _zone(name: str | None) -> timezone | ZoneInfo:
    if not name or name.upper() == "UTC":
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def to_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, timezone.utc)  # JS timestamps are milliseconds
    if isinstance(value, str) and value.strip():
        text = value.strip().replace("Z", "+00:00")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return None


def add_months(moment: datetime, months: int) -> datetime:
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _offset(moment: datetime, colon: bool) -> str:
    delta = moment.utcoffset() or timedelta(0)
    minutes = int(delta.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}" if colon else f"{sign}{hours:02d}{mins:02d}"


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _token(token: str, m: datetime) -> str:
    if token.startswith("["):
        return token[1:-1]
    hour12 = m.hour % 12 or 12
    table = {
        "YYYY": f"{m.year:04d}",
        "YY": f"{m.year % 100:02d}",
        "MMMM": _MONTHS[m.month],
        "MMM": _MONTHS[m.month][:3],
        "MM": f"{m.month:02d}",
        "M": str(m.month),
        "Do": _ordinal(m.day),
        "DD": f"{m.day:02d}",
        "D": str(m.day),
        "dddd": _DAYS[m.weekday()],
        "ddd": _DAYS[m.weekday()][:3],
        "d": str((m.weekday() + 1) % 7),
        "E": str(m.isoweekday()),
        "HH": f"{m.hour:02d}",
        "H": str(m.hour),
        "hh": f"{hour12:02d}",
        "h": str(hour12),
        "mm": f"{m.minute:02d}",
        "m": str(m.minute),
        "ss": f"{m.second:02d}",
        "s": str(m.second),
        "SSS": f"{m.microsecond // 1000:03d}",
        "SS": f"{m.microsecond // 10000:02d}",
        "S": str(m.microsecond // 100000),
        "A": "AM" if m.hour < 12 else "PM",
        "a": "am" if m.hour < 12 else "pm",
        "Z": _offset(m, True),
        "ZZ": _offset(m, False),
        "X": str(int(m.timestamp())),
        "x": str(int(m.timestamp() * 1000)),
        "Q": str((m.month - 1) // 3 + 1),
    }
    return table[token]


def format_date(value: Any, fmt: str, tz: str | None, env: Env | None = None) -> str | None:
    moment = to_datetime(value)
    if moment is None:
        return None
    zone = _zone(tz or (env.timezone if env is not None else None))
    local = moment.astimezone(zone)
    if not fmt:
        return local.isoformat()
    return _TOKENS.sub(lambda match: _token(match.group(0), local), fmt)


_PARSE = {
    "YYYY": r"(?P<Y>\d{4})",
    "YY": r"(?P<y>\d{2})",
    "MM": r"(?P<M>\d{2})",
    "M": r"(?P<M>\d{1,2})",
    "DD": r"(?P<D>\d{2})",
    "D": r"(?P<D>\d{1,2})",
    "HH": r"(?P<H>\d{2})",
    "H": r"(?P<H>\d{1,2})",
    "mm": r"(?P<m>\d{2})",
    "m": r"(?P<m>\d{1,2})",
    "ss": r"(?P<s>\d{2})",
    "s": r"(?P<s>\d{1,2})",
    "SSS": r"(?P<S>\d{3})",
    "Z": r"(?P<Z>Z|[+-]\d{2}:?\d{2})",
    "ZZ": r"(?P<Z>Z|[+-]\d{2}:?\d{2})",
    "X": r"(?P<X>\d+)",
    "x": r"(?P<x>\d+)",
}


def parse_date(value: Any, fmt: str, tz: str | None) -> datetime | None:
    if isinstance(value, datetime):
        return value
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    if not fmt:
        return to_datetime(text)
    pattern = ""
    last = 0
    for match in _TOKENS.finditer(fmt):
        pattern += re.escape(fmt[last : match.start()])
        token = match.group(0)
        pattern += re.escape(token[1:-1]) if token.startswith("[") else _PARSE.get(token, r".+?")
        last = match.end()
    pattern += re.escape(fmt[last:])
    found = re.fullmatch(pattern, text)
    if not found:
        return None
    parts = found.groupdict()
    if parts.get("X"):
        return datetime.fromtimestamp(int(parts["X"]), timezone.utc)
    if parts.get("x"):
        return datetime.fromtimestamp(int(parts["x"]) / 1000, timezone.utc)
    year = int(parts["Y"]) if parts.get("Y") else 2000 + int(parts.get("y") or 0)
    zone: Any = _zone(tz)
    if parts.get("Z"):
        offset = parts["Z"]
        if offset == "Z":
            zone = timezone.utc
        else:
            digits = offset.replace(":", "")
            delta = timedelta(hours=int(digits[1:3]), minutes=int(digits[3:5]))
            zone = timezone(delta if digits[0] == "+" else -delta)
    try:
        return datetime(
            year,
            int(parts.get("M") or 1),
            int(parts.get("D") or 1),
            int(parts.get("H") or 0),
            int(parts.get("m") or 0),
            int(parts.get("s") or 0),
            int(parts.get("S") or 0) * 1000,
            tzinfo=zone,
        )
    except ValueError:
        return None
