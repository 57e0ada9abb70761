"""The project settings (`hallsim.harness.project`) as Click defaults, set once in the group.

The group's callback reads the project file and hands the invoked command its defaults through Click's
`default_map`, so every command takes them without code of its own and the command line still wins
(https://click.palletsprojects.com/en/stable/commands/#overriding-defaults). A hidden last parameter then
merges the `--set` values name by name and prints where each value came from
(`Context.get_parameter_source`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from hallsim.cli.commands._errors import UserError

_META = "hallsim.project"
_REPORT_PARAM = "hallsim_project_sources"

HELP_NOTE = (
    "Defaults may come from a [tool.hallsim] table in pyproject.toml, or from hallsim.toml, found from the "
    "current directory upward (`hallsim --no-project` ignores it); the command line wins, and each run lists "
    "on stderr where its settings came from. See docs/settings.md."
)


def apply(ctx: click.Context, project_file: Path | None, no_project: bool) -> None:
    """Load the project file and give the invoked command its defaults (call from the group's callback)."""
    from hallsim.harness import InputError
    from hallsim.harness.project import defaults_for, find_project, load_project, shown

    name = ctx.invoked_subcommand
    group = ctx.command
    if name is None or not isinstance(group, click.Group):
        return
    command = group.get_command(ctx, name)
    if command is None:
        return
    _note_in_help(command, None)
    if no_project:
        return
    path = project_file or find_project()
    if path is None:
        return
    try:
        project = load_project(path)
        params = [p for p in command.params if p.name and p.name != _REPORT_PARAM]
        defaults = defaults_for(project, name, [_spec(p) for p in params])
        by_name = {p.name: p for p in params}
        checking = click.Context(command, info_name=name)
        values: dict[str, Any] = {}
        for param_name, setting in defaults.values.items():
            param = by_name[param_name]
            value = setting.value
            if isinstance(param.type, click.Path):
                value = _relative_to(project.root, value)
            try:
                param.type_cast_value(checking, value)
            except click.BadParameter as err:
                raise setting.error(f"{err.message} ({_flag(param)})") from None
            values[param_name] = value
    except InputError as err:
        raise UserError(str(err)) from None
    components = project.shared.get("components")
    if components is not None and "HALLSIM_PIPEDREAM_COMPONENTS" not in os.environ:
        os.environ["HALLSIM_PIPEDREAM_COMPONENTS"] = str(components.value)
    ctx.default_map = {name: values}
    sets = [f"{_flag(by_name[n])} {_show(v)}" for n, v in values.items()]
    sets += [f"--set {k}={s.value}" for k, s in defaults.set_values.items()]
    _note_in_help(
        command, f"This project ({shown(path)} [{project.table}]) sets: {'; '.join(sets) or 'nothing'}."
    )
    ctx.meta[_META] = (project, defaults, components)
    if not any(p.name == _REPORT_PARAM for p in command.params):
        # processed last (not eager, never on the command line): every other value is known by then
        command.params.append(
            click.Option([f"--{_REPORT_PARAM}"], hidden=True, expose_value=False, callback=_sources)
        )


_own_epilogs: dict[int, str | None] = {}


def _note_in_help(command: click.Command, this_project: str | None) -> None:
    """Say in `--help` that defaults may come from the table, and which ones this project's table sets."""
    base = _own_epilogs.setdefault(id(command), command.epilog)
    notes = [part for part in (base, HELP_NOTE, this_project) if part]
    command.epilog = "\n\n".join(notes)


def _spec(param: click.Parameter) -> Any:
    from hallsim.harness.project import OptionSpec

    assert param.name is not None
    if isinstance(param, click.Option):
        flags = tuple(f for f in (*param.opts, *param.secondary_opts) if f.startswith("--"))
        return OptionSpec(param.name, flags, multiple=param.multiple, is_flag=param.is_flag)
    return OptionSpec(param.name, (), multiple=param.nargs == -1)


def _relative_to(root: Path, value: Any) -> Any:
    if isinstance(value, list):
        return [_relative_to(root, v) for v in value]
    if isinstance(value, str) and not os.path.isabs(value):
        from hallsim.harness.project import shown

        return shown(root / value)
    return value


def _flag(param: click.Parameter) -> str:
    if isinstance(param, click.Option) and param.opts:
        return max(param.opts, key=len)
    return (param.name or "?").upper()


def _sources(ctx: click.Context, _param: click.Parameter, _value: Any) -> None:
    """Merge the project's `--set` values with the command line's, then list where each setting came from."""
    state = ctx.meta.get(_META)
    if state is None:
        return
    project, defaults, components = state
    lines: list[str] = []
    set_param = defaults.set_param
    if set_param is not None:
        given = tuple(ctx.params.get(set_param) or ())
        named = {pair.partition("=")[0] for pair in given}
        from_file = tuple(f"{k}={s.value}" for k, s in defaults.set_values.items() if k not in named)
        ctx.params[set_param] = from_file + given
        for pair in given:
            lines.append(f"--set {pair}  (command line)")
        for key, setting in defaults.set_values.items():
            if key not in named:
                lines.append(f"--set {key}={setting.value}  ({setting.origin})")
    for param in ctx.command.get_params(ctx):
        name = param.name
        if name is None or name in (_REPORT_PARAM, set_param) or name == "help":
            continue
        value = ctx.params.get(name)
        if value is None or value == () or value is False:
            continue
        source = ctx.get_parameter_source(name)
        if source == ParameterSource.DEFAULT_MAP and name in defaults.values:
            origin = defaults.values[name].origin
        elif source == ParameterSource.COMMANDLINE:
            origin = "command line"
        elif source == ParameterSource.ENVIRONMENT:
            origin = "environment"
        else:
            origin = "default"
        lines.append(f"{_flag(param)} {_show(value)}  ({origin})")
    if components is not None:
        env = os.environ.get("HALLSIM_PIPEDREAM_COMPONENTS")
        origin = components.origin if env == components.value else "environment"
        lines.append(f"HALLSIM_PIPEDREAM_COMPONENTS={env}  ({origin})")
    from hallsim.harness.project import shown

    click.echo(
        f"hallsim: project settings from {shown(project.path)} [{project.table}]; the command line wins:",
        err=True,
    )
    for line in lines:
        click.echo(f"  {line}", err=True)


def _show(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return " ".join(str(v) for v in value)
    if value is True:
        return "(on)"
    return str(value)
