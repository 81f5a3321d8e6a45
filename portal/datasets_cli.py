"""``gereedschapskist datasets import SOURCE``: read dataset metadata (DCAT-AP JSON-LD or CKAN package_search JSON,
a file or an http(s) URL) into the portal (``services/dataset_import.py``)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .cli import UrlOpt
from .db import DatabaseNotMigrated, DatabaseUnavailable, check_migrated, make_engine, session_factory
from .settings import SettingsInvalid, load_settings

app = typer.Typer(help="Datasets: import metadata from a publication point (DCAT-AP or CKAN).",
                  no_args_is_help=True, pretty_exceptions_enable=False)


@app.callback()
def _datasets() -> None:
    """Datasets: import metadata from a publication point (DCAT-AP or CKAN)."""


@app.command("import")
def import_command(
    source: Annotated[str, typer.Argument(help="a DCAT-AP JSON-LD or CKAN package_search JSON file, or its URL")],
    organisation: Annotated[Optional[str], typer.Option(help="owner organisation (its id, e.g. cbs) for records "
                                                             "that name none")] = None,
    data_owner: Annotated[Optional[str], typer.Option(help="data owner (a user name) for records that name none")
                          ] = None,
    database_url: UrlOpt = None,
) -> None:
    """Create or update datasets by their source identifier; malformed records are reported and skipped.

    The owner organisation must be in the portal or one it serves (GEREEDSCHAPSKIST_PORTAL_ORGANISATIONS)."""
    from .services.dataset_import import SourceUnreadable, import_source

    try:
        settings = load_settings(**({"database_url": database_url} if database_url else {}))
    except SettingsInvalid as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    engine = make_engine(settings.resolved_database_url)
    try:
        check_migrated(engine)
        with session_factory(engine)() as session:
            summary = import_source(session, source=source, organisation=organisation, data_owner=data_owner,
                                    accepted=settings.accepted_organisations)
            session.commit()
    except SourceUnreadable as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    except (DatabaseNotMigrated, DatabaseUnavailable) as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    for problem in summary.problems:
        typer.secho(f"skipped {problem}", fg="yellow", err=True)
    typer.echo(f"{source}: {summary.created} created, {summary.updated} updated, {summary.skipped} skipped")
    if summary.skipped and not (summary.created or summary.updated):
        raise typer.Exit(1)
