"""Data store modules on an in-memory store (apps.make.com "Data store"): Add/replace a record, Get a record,
Search records, Update a record, Delete a record, Check the existence of a record, Count records.

Each store is `parameters.datastore` (its id); a record is a key and a collection of fields. A run seeds the
stores (setting `make.datastores`: JSON text or a JSON file `{store id: {key: {field: value}}}`) and its
result holds every store as the run left it (`MakeRun.datastores`, `to_json()["datastores"]`), for a
scenario to expect on. Search records outputs one bundle per record, `{key, data}`, filtered by its mapper's
`filter` (the OR-of-AND conditions of any Make filter, `a` naming a field or `key`) and cut at `limit`;
with no result it outputs nothing unless `continueWhenNoRes` is on (then one empty bundle). UNCONFIRMED
(no public statement; settings): what Get a record outputs for a missing key (`make.datastore.get_missing`)
and the error type of Add a record without overwrite on an existing key (DuplicateDataError)."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hallsim.emulator.files import parse_json, read_text
from hallsim.harness._errors import InputError
from hallsim.harness.make._filters import apply_operator
from hallsim.harness.make._http import ModuleError
from hallsim.harness.make._values import to_number, to_text

Records = dict[str, dict[str, Any]]

DATASTORE_MODULES = frozenset(
    {
        "datastore:AddRecord",
        "datastore:GetRecord",
        "datastore:SearchRecord",
        "datastore:UpdateRecord",
        "datastore:DeleteRecord",
        "datastore:ExistRecord",
        "datastore:CountRecords",
    }
)


_ABSENT = object()


@dataclass
class Change:
    """One write, kept so a Rollback can undo it (data store modules are transactional: make.md)."""

    module: int
    bundle: int
    store: str
    key: str
    previous: Any  # the record before the write, or _ABSENT


@dataclass
class DataStores:
    stores: dict[str, Records] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)

    def store_id(self, parameters: dict[str, Any]) -> str:
        return to_text(parameters.get("datastore")) or "default"

    def store(self, parameters: dict[str, Any]) -> Records:
        return self.stores.setdefault(self.store_id(parameters), {})

    def remember(self, module: int, bundle: int, store: str, key: str) -> None:
        previous = self.stores.get(store, {}).get(key, _ABSENT)
        kept = copy.deepcopy(previous) if previous is not _ABSENT else _ABSENT
        self.changes.append(Change(module, bundle, store, key, kept))

    def revert(self, modules: set[int], bundle: int | None) -> int:
        """Undo the writes of `modules` (for one bundle, or all when None); how many were undone."""
        undone = 0
        for change in reversed(self.changes):
            if change.module not in modules or (bundle is not None and change.bundle != bundle):
                continue
            records = self.stores.setdefault(change.store, {})
            if change.previous is _ABSENT:
                records.pop(change.key, None)
            else:
                records[change.key] = change.previous
            undone += 1
        self.changes = [c for c in self.changes if not (c.module in modules and bundle in (None, c.bundle))]
        return undone

    def snapshot(self) -> dict[str, Records]:
        return copy.deepcopy(self.stores)


def read_seed(value: str, *, where: str) -> DataStores:
    """The stores a run starts with: `make.datastores` as JSON text or the path of a JSON file."""
    if not value.strip():
        return DataStores()
    text = value
    source = "`make.datastores`"
    if not value.lstrip().startswith("{"):
        source = value
        text = read_text(Path(value), error=InputError, what="data store seed")
    try:
        document = parse_json(Path(source), text, error=InputError, what="data store seed")
    except InputError as err:
        raise InputError(f"{where}: {err}") from None
    if not isinstance(document, dict):
        raise InputError(f"{where}: {source}: expected {{store id: {{key: {{field: value}}}}}}")
    stores: dict[str, Records] = {}
    for store_id, records in document.items():
        if not isinstance(records, dict) or not all(isinstance(r, dict) for r in records.values()):
            raise InputError(
                f"{where}: {source}: store {store_id}: expected {{key: {{field: value}}}} "
                "(a record is an object)"
            )
        stores[str(store_id)] = {str(key): dict(record) for key, record in records.items()}
    return DataStores(stores)


def _matches(record_key: str, record: dict[str, Any], conditions: Any, coercion: str) -> bool:
    if not isinstance(conditions, list) or not conditions:
        return True
    for group in conditions:
        if not isinstance(group, list):
            continue
        passed = True
        for condition in group:
            if not isinstance(condition, dict):
                continue
            name = to_text(condition.get("a"))
            value = record_key if name == "key" else record.get(name)
            if not apply_operator(to_text(condition.get("o")), value, condition.get("b"), coercion)[0]:
                passed = False
                break
        if passed:
            return True
    return False


def run_datastore(
    name: str,
    parameters: dict[str, Any],
    mapper: dict[str, Any],
    stores: DataStores,
    settings: dict[str, Any],
    *,
    module: int = 0,
    bundle: int = 0,
) -> list[dict[str, Any]]:
    """The module's output bundles; raises ModuleError as Make would. Writes are remembered for Rollback."""
    records = stores.store(parameters)
    store_id = stores.store_id(parameters)
    key = to_text(mapper.get("key"))
    raw_data = mapper.get("data")
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    if name == "datastore:AddRecord":
        key = key or uuid.uuid4().hex
        if key in records and mapper.get("overwrite") is not True:
            raise ModuleError(
                "DuplicateDataError", f"The record with the key '{key}' already exists (overwrite is off)"
            )
        stores.remember(module, bundle, store_id, key)
        records[key] = dict(data)
        return [{"key": key, "data": dict(data)}]
    if name == "datastore:UpdateRecord":
        if key not in records and mapper.get("insert") is not True:
            raise ModuleError("DataError", f"The record with the key '{key}' does not exist")
        stores.remember(module, bundle, store_id, key)
        records.setdefault(key, {})
        records[key].update(data)
        return [{"key": key, "data": dict(records[key])}]
    if name == "datastore:GetRecord":
        if key in records:
            return [dict(records[key])]
        return [] if settings["make.datastore.get_missing"] == "none" else [{}]
    if name == "datastore:DeleteRecord":
        if key in records:
            stores.remember(module, bundle, store_id, key)
        records.pop(key, None)
        return [{}]
    if name == "datastore:ExistRecord":
        return [{"exist": key in records}]  # `exist`, singular, as public exports filter on it
    if name == "datastore:CountRecords":
        return [{"count": len(records)}]
    # datastore:SearchRecord
    coercion = str(settings["make.filter.boolean_coercion"])
    found = [
        {"key": record_key, "data": dict(record)}
        for record_key, record in records.items()
        if _matches(record_key, record, mapper.get("filter"), coercion)
    ]
    limit = to_number(mapper.get("limit") or parameters.get("limit"))
    if limit is not None and limit > 0:
        found = found[: int(limit)]
    if not found and parameters.get("continueWhenNoRes") is True:
        return [{}]
    return found
