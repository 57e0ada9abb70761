"""The date functions that change one part of a date or compare two (help.make.com "Date and time
functions"): setSecond, setMinute, setHour (0-23), setDay (a weekday: 1-7 with Sunday = 1... as moment.js
`day()`, or its English name), setDate (day of the month), setMonth (1-12 or its English name), setYear,
and dateDifference(date1; date2; unit) = date1 - date2 in milliseconds, seconds, minutes, hours or days.
A value out of range carries over as in moment.js (setSecond(d; 60) is the next minute)."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from hallsim.harness.make._dates import add_months, to_datetime
from hallsim.harness.make._values import to_number, to_text

_DAYS = [name.lower() for name in calendar.day_name]  # Monday first
_MONTHS = [name.lower() for name in calendar.month_name]


def _set(unit: str) -> Callable[..., Any]:
    def run(env: Any, date: Any, value: Any) -> datetime | None:
        moment = to_datetime(date)
        if moment is None:
            return None
        text = to_text(value).strip().lower()
        number = to_number(value)
        if unit == "day" and text in _DAYS:
            number = float((_DAYS.index(text) + 1) % 7 + 1)  # moment.js: Sunday = 1 when counted from 1
        if unit == "month" and text in _MONTHS:
            number = float(_MONTHS.index(text))
        if number is None:
            return None
        n = int(number)
        if unit == "second":
            return moment.replace(second=0, microsecond=moment.microsecond) + timedelta(seconds=n)
        if unit == "minute":
            return moment.replace(minute=0) + timedelta(minutes=n)
        if unit == "hour":
            return moment.replace(hour=0) + timedelta(hours=n)
        if unit == "date":
            return moment.replace(day=1) + timedelta(days=n - 1)
        if unit == "day":
            weekday = (moment.weekday() + 1) % 7 + 1  # Sunday = 1 ... Saturday = 7
            return moment + timedelta(days=n - weekday)
        if unit == "month":
            return add_months(moment, n - moment.month)
        return moment.replace(year=n, day=min(moment.day, calendar.monthrange(n, moment.month)[1]))

    return run


DATE_SETTERS: dict[str, Callable[..., Any]] = {
    "setSecond": _set("second"),
    "setMinute": _set("minute"),
    "setHour": _set("hour"),
    "setDay": _set("day"),
    "setDate": _set("date"),
    "setMonth": _set("month"),
    "setYear": _set("year"),
}

_UNITS = {"milliseconds": 0.001, "seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


def date_difference(env: Any, first: Any, second: Any, unit: Any = "milliseconds") -> Any:
    a, b = to_datetime(first), to_datetime(second)
    if a is None or b is None:
        return None
    size = _UNITS.get(to_text(unit).lower() or "milliseconds")
    if size is None:
        return None
    value = (a - b).total_seconds() / size
    return int(value) if value == int(value) else value
