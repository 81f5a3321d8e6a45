"""``gereedschapskist db …``: migrate the portal database (SQLite by default, PostgreSQL in production)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .db import (
    DatabaseNotMigrated, DatabaseUnavailable, check_migrated, current_revision, display_url, head_revision, make_engine,
    session_factory, upgrade,
)
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
        raise typer.Exit(2) from None
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
        raise typer.Exit(1) from None
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
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    head = head_revision()
    typer.echo(f"{display_url(str(engine.url))}: revision {current or 'none'} (newest: {head})")
    if current != head:
        raise typer.Exit(1)


@db.command("register-environment")
def register_environment_command(
    name: Annotated[str, typer.Argument(help="the environment (Pulumi stack) name, e.g. cbs-prod")],
    infra_dir: Annotated[Optional[Path], typer.Option(help="folder with Pulumi.<name>.yaml (default: the "
                                                           "project's infra/)")] = None,
    api_url: Annotated[Optional[str], typer.Option(help="the hub's REST API when it is not <public_url>/hub/api "
                                                        "(e.g. reached inside the cluster)")] = None,
    database_url: UrlOpt = None,
) -> None:
    """Record a deployed (cloud) hub as an Environment of its organisation, from its infra/ definition.

    The portal then starts that organisation's workspaces there; its token goes in
    GEREEDSCHAPSKIST_PORTAL_HUB_TOKENS (a JSON object: environment name → token).
    """
    from gereedschapskist.core import paths
    from gereedschapskist.core.environment import EnvironmentInvalid, load_environment

    from .models import EnvironmentKind, EnvironmentStage, Organisation
    from .services.environments import register_environment

    try:
        spec = load_environment(name, paths.infra_dir(infra_dir))
    except EnvironmentInvalid as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    engine = _engine(database_url)
    try:
        check_migrated(engine)
        hub_url = str(spec.public_url).rstrip("/")
        with session_factory(engine)() as session:
            organisation = session.query(Organisation).filter_by(slug=spec.organisation).one_or_none()
            if organisation is None:
                organisation = Organisation(slug=spec.organisation, name=spec.organisation)
                session.add(organisation)
            register_environment(session, name=spec.name, kind=EnvironmentKind.CLOUD,
                                 stage=EnvironmentStage(spec.stage), hub_url=hub_url,
                                 hub_api_url=(api_url or f"{hub_url}/hub/api").rstrip("/"), organisation=organisation)
            session.commit()
    except (DatabaseNotMigrated, DatabaseUnavailable) as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    typer.echo(f"environment {spec.name}: {spec.stage} hub of organisation {spec.organisation} at {hub_url}")
