"""The one operator CLI, ``gereedschapskist``.

Each component contributes its commands through the entry-point group
``gereedschapskist.commands``: a ``typer.Typer`` becomes a command group named after
the entry point (``catalogue``, ``hub``, ``db``…), a plain function a single command.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

import typer

from . import __version__

COMMANDS_GROUP = "gereedschapskist.commands"


def build_app() -> typer.Typer:
    app = typer.Typer(help="Gereedschapskist: the workbench for data specialists — operator commands.",
                      no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)

    @app.callback(invoke_without_command=True)
    def _root(version: bool = typer.Option(False, "--version", help="print the version and stop")) -> None:
        if version:
            typer.echo(__version__)
            raise typer.Exit(0)

    for ep in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        target = ep.load()
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=ep.name)
        else:
            app.command(name=ep.name)(target)
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
