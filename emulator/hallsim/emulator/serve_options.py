"""The emulator `hallsim serve` runs, from its options: which option wins over what.

Precedence (docs/emulator.md "hallsim serve"): `--policy` replaces a script's `policy:` section and makes
`policy` the default behaviour unless the script names one; every other option (`--token`, `--env`,
`--behaviour`, `--capability-ids`, `--time-scale`, `--max-body`, `--admin-token`) wins over the script's
value. An error in an option's value names the option."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hallsim.emulator._errors import EmulatorError
from hallsim.emulator.app import HallApp
from hallsim.emulator.journal import Journal


@dataclass(frozen=True)
class ServeOptions:
    """What `hallsim serve` was given; None or empty: not given (the script's value, else the default)."""

    script: Path | None = None
    policy: Path | None = None
    tokens: tuple[str, ...] = ()
    envs: tuple[str, ...] = ()
    behaviour: str | None = None
    capability_ids: str | None = None
    time_scale: float | None = None
    max_body: int | None = None
    journal_size: int = 1000
    #: the journal's memory bound in bytes (None: the journal's default)
    journal_bytes: int | None = None
    admin_token: str | None = None


def build_app(options: ServeOptions) -> HallApp:
    """The HallApp the options describe, its state remembered as the one `reset` returns to."""
    from hallsim.emulator.script import load_script

    app = HallApp(journal_size=options.journal_size)
    if options.journal_bytes is not None:
        app.journal = Journal(options.journal_size, options.journal_bytes, app.masker)
    if options.policy is not None:
        from hallsim.emulator.policy import load_policy

        app.policy = load_policy(options.policy, where="--policy")
        app.set_default("policy")
    if options.script is not None:
        loaded = load_script(options.script)
        if options.policy is not None:
            # --policy wins over the script's `policy:`; it stays the default unless the script names one
            default = loaded.default if loaded.default is not None else app.default
            loaded = replace(loaded, policy=None, default=default)
        app.apply_script(loaded)
    # the command line wins over the script
    if options.tokens:
        _option("--token", app.set_tokens, options.tokens)
    if options.envs:
        _option("--env", app.set_envs, options.envs)
    if options.behaviour is not None:
        _option("--behaviour", app.set_default, options.behaviour)
    if options.capability_ids is not None:
        app.capability_ids = options.capability_ids
    if options.time_scale is not None:
        _option("--time-scale", app.set_time_scale, options.time_scale)
    if options.max_body is not None:
        app.max_body = options.max_body
    if options.admin_token is not None:
        _option("--admin-token", app.set_admin_token, options.admin_token)
    app.remember_as_initial()
    return app


def _option(name: str, apply: Callable[[Any], object], value: Any) -> None:
    """Apply a command-line value; an error says which option it came from."""
    try:
        apply(value)
    except EmulatorError as err:
        raise EmulatorError(f"{name}: {err}") from None
