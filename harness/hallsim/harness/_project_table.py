"""The shape of `[tool.hallsim]` (see `hallsim.harness.project`), validated by pydantic."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

OutputFormat = Literal["text", "json", "markdown"]


class Table(BaseModel):
    """The shape of `[tool.hallsim]`; each key documents the options it feeds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: --token: the token the emulator accepts (replay; serve's first accepted token)
    token: StrictStr | None = None
    #: --time-scale (matrix, serve), or `--set time_scale=` (replay)
    time_scale: float | None = Field(None, gt=0, strict=True)
    #: --set NAME=VALUE for every command that takes it (matrix, replay); merged name by name with the
    #: command line's, which wins
    set: dict[str, Any] = Field(default_factory=dict)
    #: --stub SPEC for every command that takes it
    stubs: list[StrictStr] | None = None
    #: where the PipedreamHQ/pipedream components tree is (HALLSIM_PIPEDREAM_COMPONENTS, unless already set)
    components: StrictStr | None = None
    #: the workflows `hallsim matrix` runs when none is named (glob patterns)
    workflows: list[StrictStr] | None = None
    #: the scenario files or folders `hallsim run` runs when none is named
    scenarios: list[StrictStr] | None = None
    #: how matrix, run and replay print: text (the default), json or markdown (matrix only)
    format: OutputFormat | None = None
    #: --html FILE and --junit FILE for every command that writes them
    html: StrictStr | None = None
    junit: StrictStr | None = None
    behaviours: dict[str, Any] | None = None
    matrix: dict[str, Any] | None = None
    replay: dict[str, Any] | None = None
    repro: dict[str, Any] | None = None
    run: dict[str, Any] | None = None
    serve: dict[str, Any] | None = None
