"""Shared helpers for the scenario, matrix, repro and plugin tests: the repository's paths, one emulator per
test session (xdist worker) reset for each test, and scenario files written on the fly."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from hallsim.emulator import HallEmulator

ROOT = Path(__file__).resolve().parents[2]
PIPEDREAM = ROOT / "fixtures" / "pipedream"
MAKE = ROOT / "fixtures" / "make"
OPTION_A = PIPEDREAM / "inline_option_a.yaml"
GATE_IGNORE = MAKE / "gate_ignore.blueprint.json"

WriteScenario = Callable[..., Path]


@pytest.fixture
def hall(hall_emulator: HallEmulator) -> HallEmulator:
    """The plugin's emulator (one per session, reset around each test)."""
    return hall_emulator


@pytest.fixture
def write_scenario(tmp_path: Path) -> WriteScenario:
    """Write a scenario file into tmp_path; `{option_a}`, `{gate_ignore}`, `{root}` are filled in."""

    def write(text: str, name: str = "case.scenario.yaml") -> Path:
        path = tmp_path / name
        body = textwrap.dedent(text).format(option_a=OPTION_A, gate_ignore=GATE_IGNORE, root=ROOT)
        path.write_text(body, encoding="utf-8")
        return path

    return write
