"""``gereedschapskist db …``: migrate the portal database (SQLite by default, PostgreSQL in production)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .db import DatabaseUnavailable, current_revision, display_url, head_revision, make_engine, upgrade
from .settings import SettingsInvalid, load_settings

db = typer.Typer(help="The portal database: apply migrations, show the revision.", no_args_is_help=True,
                 pretty_exceptions_enable=False)

UrlOpt = Annotated[Optional[str], typer.Option(
    "--database-url", help="SQLAlchemy URL; default GEREEDSCHAPSKIST_PORTAL_DATABASE_URL, else SQLite in the "
                           "state folder", show_default=False)]


def _engine(url: Optional[str]):
    try:
        settings = load_settings(**({"database_url": url} if url else {}))
    except SettingsInvalid as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2)
    return make_engine(settings.resolved_database_url)


@db.command("upgrade")
def upgrade_command(database_url: UrlOpt = None,
                    revision: Annotated[str, typer.Option(help="target revision")] = "head") -> None:
    """Apply the portal's migrations (creates the SQLite file and its folder when needed)."""
    engine = _engine(database_url)
    where = display_url(str(engine.url))
    try:
        before, after = upgrade(engine, revision)
    except DatabaseUnavailable as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1)
    finally:
        engine.dispose()
    if before == after:
        typer.echo(f"{where}: already at revision {after}")
    else:
        typer.echo(f"{where}: migrated {before or 'empty'} → {after}")


@db.command("current")
def current_command(database_url: UrlOpt = None) -> None:
    """Show the database's revision and the newest one this portal needs; exit 1 when they differ."""
    engine = _engine(database_url)
    try:
        current = current_revision(engine)
    except DatabaseUnavailable as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1)
    finally:
        engine.dispose()
    head = head_revision()
    typer.echo(f"{display_url(str(engine.url))}: revision {current or 'none'} (newest: {head})")
    if current != head:
        raise typer.Exit(1)
