"""Decision ids (emulator/_ids.py): UUIDs version 4 made in batches, every one well-formed and fresh."""

from __future__ import annotations

import os
import re
import uuid
from collections import Counter

import pytest

from hallsim.emulator import _ids
from hallsim.emulator.contract import new_decision_id

_V4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def test_ids_across_several_batches_are_well_formed_uuid4_and_all_different() -> None:
    ids = [new_decision_id() for _ in range(3 * _ids.BATCH + 7)]
    assert all(_V4.fullmatch(i) for i in ids), [i for i in ids if not _V4.fullmatch(i)][:3]
    # RFC 9562 section 5.4: version 4, variant 10 (uuid.RFC_4122)
    assert {(uuid.UUID(i).version, uuid.UUID(i).variant) for i in ids} == {(4, uuid.RFC_4122)}
    assert len(set(ids)) == len(ids)


def test_every_random_digit_of_an_id_is_drawn() -> None:
    # a digit left from the batch's template, or one copied to two places, shows as a position that
    # takes fewer values than it should (4096 ids: each of 16 values is missed with chance ~1e-111)
    ids = [new_decision_id() for _ in range(8 * _ids.BATCH)]
    seen = [len(Counter(i[place] for i in ids)) for place in range(36)]
    fixed = {8: 1, 13: 1, 14: 1, 18: 1, 23: 1, 19: 4}  # the dashes, the version 4, the variant 8-b
    assert seen == [fixed.get(place, 16) for place in range(36)]
    # two digits drawn apart almost never agree on all ids: each place holds its own random digit
    columns = {place: "".join(i[place] for i in ids) for place in range(36) if fixed.get(place) is None}
    assert len(set(columns.values())) == len(columns)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
# Python 3.12+ warns when a process with threads forks (a test emulator may be serving); the child only
# draws ids, writes them to a pipe and exits
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_does_not_repeat_the_parents_ids() -> None:
    new_decision_id()  # the parent holds a part-used batch when it forks
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.close(read)
        os.write(write, " ".join(new_decision_id() for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        childs = set(pipe.read().split())
    os.waitpid(child, 0)
    parents = {new_decision_id() for _ in range(50)}
    assert len(childs) == 50
    assert not childs & parents
