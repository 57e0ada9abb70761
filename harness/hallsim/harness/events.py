"""Generated trigger events (faker), for checking that a gate's expectations hold over many inputs.

Events carry what the documented gates read from the trigger (`worker_id`, `data_label`) plus a tenant and a
record, and every third one is an edge case: a field missing, empty, null, of the wrong type, lower-case or
unknown labels, unicode, a very long id, or text that breaks a JSON template. The same seed gives the same
events (with the same Faker version installed)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from faker import Faker

#: hall-contract.md "Request": data_label values in the guides
DATA_LABELS = ("PUBLIC", "INTERNAL", "CONFIDENTIAL", "RESTRICTED")
_LOCALES = ("en_US", "de_DE", "ja_JP", "fr_FR")


@dataclass(frozen=True)
class GeneratedEvent:
    """One trigger event and the case it stands for (`normal` or the edge case's name)."""

    case: str
    event: dict[str, Any]


def _drop(*keys: str) -> Callable[[dict[str, Any], Faker, random.Random], dict[str, Any]]:
    def edit(event: dict[str, Any], fake: Faker, rng: random.Random) -> dict[str, Any]:
        return {k: v for k, v in event.items() if k not in keys}

    return edit


def _set(**values: Any) -> Callable[[dict[str, Any], Faker, random.Random], dict[str, Any]]:
    def edit(event: dict[str, Any], fake: Faker, rng: random.Random) -> dict[str, Any]:
        return {**event, **values}

    return edit


def _unicode_worker(event: dict[str, Any], fake: Faker, rng: random.Random) -> dict[str, Any]:
    return {**event, "worker_id": f"wrk_{fake['ja_JP'].company()}_ünïcødé_🚀"}


def _long_worker(event: dict[str, Any], fake: Faker, rng: random.Random) -> dict[str, Any]:
    return {**event, "worker_id": "wrk_" + "x" * 2000}


def _template_breaker(event: dict[str, Any], fake: Faker, rng: random.Random) -> dict[str, Any]:
    # a quote in the value: a text JSON template such as Make's `"worker_id": "{{1.worker_id}}"` no longer
    # parses, or gains a field the sender never meant to send
    return {**event, "worker_id": 'wrk_evil", "data_label": "PUBLIC'}


def _nested_event(event: dict[str, Any], fake: Faker, rng: random.Random) -> dict[str, Any]:
    # the fields one level down, where the gate does not look
    return {"body": dict(event)}


#: edge case name -> how it changes a normal event
EDGE_CASES: dict[str, Callable[[dict[str, Any], Faker, random.Random], dict[str, Any]]] = {
    "missing worker_id": _drop("worker_id"),
    "missing data_label": _drop("data_label"),
    "empty event": _drop("worker_id", "data_label", "tenant_id", "record"),
    "empty worker_id": _set(worker_id=""),
    "empty data_label": _set(data_label=""),
    "null worker_id": _set(worker_id=None),
    "numeric worker_id": _set(worker_id=12345),
    "boolean data_label": _set(data_label=True),
    "lower-case data_label": _set(data_label="restricted"),
    "unknown data_label": _set(data_label="TOP_SECRET"),
    "padded data_label": _set(data_label=" PUBLIC "),
    "unicode worker_id": _unicode_worker,
    "very long worker_id": _long_worker,
    "quote in worker_id": _template_breaker,
    "fields nested under body": _nested_event,
}


def _normal_event(fake: Faker, rng: random.Random, platform: str) -> dict[str, Any]:
    company = fake.unique.slug().replace("-", "_")[:24] or "acme"
    env = rng.choice(("prod", "prod", "dev"))
    return {
        "worker_id": f"wrk_{platform}_{company}_{env}",
        "data_label": rng.choice(DATA_LABELS),
        "tenant_id": f"org.{company}",
        "record": {
            "id": fake.uuid4(),
            "customer": fake.name(),
            "email": fake.email(),
            "amount": round(rng.uniform(1, 5000), 2),
        },
    }


def generate_cases(count: int, seed: int, *, platform: str = "pipedream") -> list[GeneratedEvent]:
    """`count` events from `seed`; every third one is an edge case, cycling through all of EDGE_CASES."""
    fake = Faker(list(_LOCALES))
    fake.seed_instance(seed)
    rng = random.Random(seed)
    edges = list(EDGE_CASES)
    rng.shuffle(edges)
    cases = []
    for index in range(count):
        event = _normal_event(fake, rng, platform)
        if index % 3 == 2:
            name = edges[(index // 3) % len(edges)]
            cases.append(GeneratedEvent(name, EDGE_CASES[name](event, fake, rng)))
        else:
            cases.append(GeneratedEvent("normal", event))
    return cases


def generate_events(count: int, seed: int, *, platform: str = "pipedream") -> list[dict[str, Any]]:
    """Just the events of `generate_cases`."""
    return [case.event for case in generate_cases(count, seed, platform=platform)]
