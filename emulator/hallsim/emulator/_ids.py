"""Decision ids: random UUIDs version 4 (RFC 9562 section 5.4), made in batches so one costs a list pop.

A batch is one draw of 122 random bits per id from a Mersenne Twister seeded from the OS (as unique as
`uuid.uuid4()`'s; an emulator's ids need not be unguessable), laid out as text by C-level copies: each of
the 31 random hex digits of an id goes to its place in every id of the batch with one strided slice
assignment, the version digit is fixed in the template and the variant digit (8, 9, a or b) is mapped from a
random one with `bytes.translate`. Formatting ids one by one (`"%032x"` and five slices) cost about ten times
as much. A forked child draws from a fresh seed and drops the parent's batch, so the two never share ids.
"""

from __future__ import annotations

import os
import random
import uuid

#: ids per batch: big enough that the per-batch work vanishes, small enough that a batch costs ~0.1 ms
BATCH = 512
_TEXT = 36
#: each id is followed by one space, so `str.split()` cuts the batch into ids in one C call
_STRIDE = _TEXT + 1
_TEMPLATE = b"xxxxxxxx-xxxx-4xxx-xxxx-xxxxxxxxxxxx " * BATCH
#: where hex digit i of the 32 drawn for an id goes in its text; digit 12 is the version (always 4) and
#: digit 16 the variant, both handled apart
_PLACES = tuple(
    (digit, digit + (digit >= 8) + (digit >= 12) + (digit >= 16) + (digit >= 20))
    for digit in range(32)
    if digit not in (12, 16)
)
_VARIANT_AT = 19
#: RFC 9562 section 4.1: the variant's two top bits are 10, so its hex digit is 8, 9, a or b
_VARIANT = bytes.maketrans(b"0123456789abcdef", b"89ab89ab89ab89ab")

_random = random.Random(uuid.uuid4().int)
_pool: list[str] = []


def _batch() -> list[str]:
    drawn = _random.randbytes(16 * BATCH).hex().encode("ascii")
    text = bytearray(_TEMPLATE)
    for digit, place in _PLACES:
        text[place::_STRIDE] = drawn[digit::32]
    text[_VARIANT_AT::_STRIDE] = drawn[16::32].translate(_VARIANT)
    ids = text.decode("ascii").split()
    ids.reverse()  # popped from the end: handed out in the order drawn
    return ids


def new_decision_id() -> str:
    """A fresh decision id: a UUID v4 (version 4, variant 10), as pyhall issues them."""
    try:
        return _pool.pop()
    except IndexError:
        _pool.extend(_batch())
        return _pool.pop()


def _reseed_after_fork() -> None:
    _random.seed(uuid.uuid4().int)
    _pool.clear()


os.register_at_fork(after_in_child=_reseed_after_fork)
