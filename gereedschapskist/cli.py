"""The one operator CLI, ``gereedschapskist``.

Each component contributes its commands through the entry-point group
``gereedschapskist.commands``: a ``typer.Typer`` becomes a command group named after
the entry point (``catalogue``, ``hub``, ``db``…), a plain function a single command.

Components are imported only when their command runs: ``gereedschapskist catalogue check``
must not pay for importing JupyterHub or Pulumi, and a deployable installed without an
extra (the portal image has no ``hub`` extra) must still run its own commands. An entry
point may name the extra it needs (``hub = "gereedschapskist.hub.cli:app [hub]"``); when its
import fails, the command says which extra to install instead of showing a traceback.
"""

from __future__ import annotations

import sys
from functools import cache
from importlib.metadata import EntryPoint, entry_points

import click
import typer
from typer.core import TyperGroup

from . import __version__

COMMANDS_GROUP = "gereedschapskist.commands"


@cache
def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=COMMANDS_GROUP)}


def _load(ep: EntryPoint) -> click.Command:
    try:
        target = ep.load()
    except ImportError as exc:
        return _missing(ep, exc)
    if isinstance(target, typer.Typer):
        # mounted as a sub-app, so a Typer with a single command stays a group (`hub values`, not `hub`)
        wrapper = typer.Typer(pretty_exceptions_enable=False)
        wrapper.add_typer(target, name=ep.name)
        command = typer.main.get_command(wrapper).commands[ep.name]
    else:
        single = typer.Typer(pretty_exceptions_enable=False)
        single.command(name=ep.name)(target)
        command = typer.main.get_command(single)
    command.name = ep.name
    return command


def _missing(ep: EntryPoint, exc: ImportError) -> click.Command:
    extras = ", ".join(ep.extras) or "?"
    message = (f"`gereedschapskist {ep.name}` needs packages that are not installed here ({exc}); "
               f"install the project with the extra [{extras}], e.g. pip install 'gereedschapskist[{extras}]'")

    @click.command(name=ep.name, help=f"(unavailable: needs the extra [{extras}])",
                   context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                     "help_option_names": []})
    def unavailable() -> None:
        click.secho(f"error: {message}", fg="red", err=True)
        sys.exit(2)

    return unavailable


class ComponentGroup(TyperGroup):
    """The root group: its own commands plus one per entry point, each loaded on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_entry_points()))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is None and name in _entry_points():
            command = _load(_entry_points()[name])
            self.add_command(command, name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing must not import every component: describe them from their entry points.
        rows = []
        for name in self.list_commands(ctx):
            ep = _entry_points().get(name)
            module = ep.module.rsplit(".", 2)[-2] if ep else ""
            needs = f" (needs the extra [{', '.join(ep.extras)}])" if ep and ep.extras else ""
            rows.append((name, f"commands of the {module} component{needs}; see `{name} --help`"))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def build_app() -> typer.Typer:
    app = typer.Typer(cls=ComponentGroup, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                      add_completion=False,
                      help="Gereedschapskist: the workbench for data specialists — operator commands.")

    @app.callback(invoke_without_command=True)
    def _root(version: bool = typer.Option(False, "--version", help="print the version and stop")) -> None:
        if version:
            typer.echo(__version__)
            raise typer.Exit(0)

    return app


def main() -> None:
    """Console-script entry: never show a Python traceback to an operator."""
    app = build_app()
    try:
        app(standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        typer.secho("interrupted", fg="yellow", err=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the last line of defence for operators
        typer.secho(f"internal error: {type(exc).__name__}: {exc}\n"
                    "This is a bug in gereedschapskist; please report it with the command you ran.",
                    fg="red", err=True)
        sys.exit(3)
