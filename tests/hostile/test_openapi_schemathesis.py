"""schemathesis against the emulator's own /openapi.json (route and admin API), a small fixed budget.

Every generated request, valid or not, must get an answer the document describes (status, content type,
schema), never a 500, and invalid ones must be refused; the emulator is reset after each case so a generated
rule or default does not carry over."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")

from hallsim.emulator import HallEmulator  # noqa: E402
from hallsim.emulator.openapi import openapi_document  # noqa: E402

#: examples per operation: enough to meet every refusal path, small enough for CI
EXAMPLES = 12

schema = schemathesis.openapi.from_dict(openapi_document())


@pytest.fixture(scope="module")
def hall() -> Iterator[HallEmulator]:
    with HallEmulator(tokens=("t",)) as running:
        yield running


@schema.parametrize()
@hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_the_emulator_follows_its_openapi_document(case: schemathesis.Case, hall: HallEmulator) -> None:
    try:
        case.call_and_validate(
            base_url=hall.url,
            headers={"Authorization": "Bearer t"},
            timeout=10,
            # the document describes shapes, not every rule (a rule's `respond` must name a behaviour, a
            # worker_id must not be blank): a schema-valid body may still be refused, with a 4xx it documents
            excluded_checks=[schemathesis.checks.positive_data_acceptance],
        )
    finally:
        hall.reset()
    hall.check_handler_errors()
