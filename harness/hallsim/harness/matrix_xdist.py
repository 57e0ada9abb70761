"""`pytest --hallsim-matrix -n N --dist loadgroup`: the scheduler that sends each group of workflows
(`matrix_items.deal_groups`) whole to one xdist worker, where `RowsAhead` starts the group's rows together.

pytest-xdist's own loadgroup scheduler reads a group from an `@name` suffix that its worker adds to each
marked item's node id. With pytest 9.2 that no longer happens: node ids are structured and xdist 3.8 still
writes the old `_nodeid` field, so `xdist_group` marks are silently ignored and every item is its own unit
(pytest-dev/pytest-xdist#1386, open; the fix, #1388, is not released). A worker that started a whole
workflow's rows would then run rows that xdist also sends to another worker. This scheduler works out the
groups itself, from the node ids every worker reports, the same way each worker does; node ids that are not
matrix rows keep xdist's own loadgroup rule (an `@name` suffix, else one unit each)."""

from __future__ import annotations

from typing import Any

import pytest
from xdist.scheduler import LoadGroupScheduling

from hallsim.harness.matrix_items import deal_groups, matrix_file_part


class MatrixGroupScheduling(LoadGroupScheduling):  # type: ignore[misc]  # (xdist is untyped)
    """LoadGroupScheduling whose unit for a matrix row is the row's group of workflows."""

    def __init__(self, config: pytest.Config, log: Any = None) -> None:
        super().__init__(config, log)
        self._groups: dict[str, str] | None = None

    def _split_scope(self, nodeid: str) -> str:
        # called by schedule() once every worker has reported the same collection (self.collection)
        if self._groups is None:
            self._groups = deal_groups(self.collection or [], self.numnodes)
        group = self._groups.get(matrix_file_part(nodeid) or "")
        return group if group is not None else super()._split_scope(nodeid)
