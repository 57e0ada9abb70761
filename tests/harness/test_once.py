"""hallsim.harness._once: a process's shared value (the stub authority, the audit sink, the Make client...),
made exactly once however many threads ask for it at the same time."""

from __future__ import annotations

import threading
import time

from hallsim.harness._once import Once


def test_threads_asking_at_once_get_one_value_made_once() -> None:
    made: list[object] = []

    def make() -> object:
        time.sleep(0.05)  # long enough for every thread to ask while the first one makes it
        made.append(object())
        return made[-1]

    once = Once(make)
    assert once.made is None  # looking does not make it
    start = threading.Barrier(8)
    got: list[object] = []

    def ask() -> None:
        start.wait()
        got.append(once())

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(made) == 1
    assert got == made * 8
    assert once.made is made[0]


def test_a_forgotten_value_is_handed_back_and_the_next_call_makes_a_new_one() -> None:
    counter = iter(range(10))
    once = Once(lambda: next(counter))
    assert once() == 0
    assert once() == 0
    assert once.forget() == 0
    assert once.made is None
    assert once.forget() is None  # nothing to hand back twice
    assert once() == 1
