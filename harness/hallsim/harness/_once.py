"""A value of the process made when it is first asked for, exactly once however many threads ask at the same
time, and forgotten on demand (the next ask makes a new one).

Exactly once matters: two stub authorities, say, would give the Node host one certificate to trust and the
stub service another to present. Used for what every run shares: the stub authority and the loop accepting
for every run's stub service, the audit sink, the Make replay's keep-alive client and its TLS transport."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Once(Generic[T]):
    """`once()` is the value, made by `make()` on the first call."""

    __slots__ = ("_lock", "_make", "_value")

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._value: T | None = None
        self._lock = threading.Lock()

    def __call__(self) -> T:
        with self._lock:
            if self._value is None:
                self._value = self._make()
            return self._value

    @property
    def made(self) -> T | None:
        """The value if it has been made, without making it."""
        return self._value

    def forget(self) -> T | None:
        """Drop the value (the next call makes a new one); returns it, for its owner to close."""
        with self._lock:
            value, self._value = self._value, None
        return value
