"""``gereedschapskist db …``: migrate the portal database (SQLite by default, PostgreSQL in production), set up
its PostgreSQL roles; ``gereedschapskist register …``: check the processing register's hash chain;
``gereedschapskist contracts activate``: a gitops contract's environment is deployed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from .db import (
    DatabaseNotMigrated, DatabaseUnavailable, check_migrated, current_revision, display_url, head_revision, make_engine,
    session_factory, upgrade,
)
from .roles import DEFAULT_OWNER_ROLE, DEFAULT_RUNTIME_ROLE
from .settings import SettingsInvalid, load_settings

db = typer.Typer(help="The portal database: apply migrations, show the revision, create its roles.",
                 no_args_is_help=True, pretty_exceptions_enable=False)
register = typer.Typer(help="The processing register: check that no entry was changed, removed or reordered; "
                       "export it.",
                       no_args_is_help=True, pretty_exceptions_enable=False)
contracts = typer.Typer(help="Standard contracts: mark one active once CI has deployed its environment.",
                        no_args_is_help=True, pretty_exceptions_enable=False)


@contracts.callback()
def _contracts() -> None:
    """Standard contracts: mark one active once CI has deployed its environment."""

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


def _password(kind: str, value: Optional[str], file: Optional[Path]) -> Optional[str]:
    if value and file:
        typer.secho(f"error: give --{kind}-password or --{kind}-password-file, not both", fg="red", err=True)
        raise typer.Exit(2)
    if file is None:
        return value or None
    try:
        secret = file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        typer.secho(f"error: --{kind}-password-file {file}: {exc.strerror}", fg="red", err=True)
        raise typer.Exit(2) from None
    if not secret:
        typer.secho(f"error: --{kind}-password-file {file} is empty", fg="red", err=True)
        raise typer.Exit(2)
    return secret


@db.command("init-roles")
def init_roles_command(
    database_url: Annotated[Optional[str], typer.Option(
        "--database-url", help="an administrator's SQLAlchemy URL of the portal's PostgreSQL database (a superuser, "
                               "or the managed server's admin role); default GEREEDSCHAPSKIST_PORTAL_DATABASE_URL",
        show_default=False)] = None,
    owner_role: Annotated[str, typer.Option(help="the role that owns the tables and runs `db upgrade`")] = (
        DEFAULT_OWNER_ROLE),
    runtime_role: Annotated[str, typer.Option(help="the role the portal connects as")] = DEFAULT_RUNTIME_ROLE,
    owner_password: Annotated[Optional[str], typer.Option(help="set the owner role's password",
                                                          show_default=False)] = None,
    owner_password_file: Annotated[Optional[Path], typer.Option(help="… read from this file",
                                                                show_default=False)] = None,
    runtime_password: Annotated[Optional[str], typer.Option(help="set the runtime role's password",
                                                            show_default=False)] = None,
    runtime_password_file: Annotated[Optional[Path], typer.Option(help="… read from this file",
                                                                  show_default=False)] = None,
) -> None:
    """Create the portal's two PostgreSQL roles (idempotent): an owner, which runs the migrations, and a runtime
    role for the portal, with only INSERT and SELECT on the register.

    Then run `gereedschapskist db upgrade` as the owner, and the portal as the runtime role.
    """
    from .roles import RolesRefused, init_roles

    owner, runtime = owner_role, runtime_role
    owner_secret = _password("owner", owner_password, owner_password_file)
    runtime_secret = _password("runtime", runtime_password, runtime_password_file)
    engine = _engine(database_url)
    try:
        report = init_roles(engine, owner=owner, runtime=runtime, owner_password=owner_secret,
                            runtime_password=runtime_secret)
    except RolesRefused as exc:
        typer.secho(f"error: {exc.message}", fg="red", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    for line in report.done:
        typer.echo(f"- {line}")
    as_owner = display_url(str(engine.url.set(username=owner, password=None)))
    as_runtime = display_url(str(engine.url.set(username=runtime, password=None)))
    typer.echo(f"roles ready in {report.database} (schema {report.schema}). Next:\n"
               f"  gereedschapskist db upgrade --database-url {as_owner}   (with the owner's password)\n"
               f"  the portal: GEREEDSCHAPSKIST_PORTAL_DATABASE_URL={as_runtime}   (with the runtime role's password)")


@register.command("verify")
def verify_command(database_url: UrlOpt = None,
                   expect_head: Annotated[Optional[str], typer.Option(
                       help="a head digest printed by an earlier verify: fail unless the chain still holds that "
                            "entry (so a removed tail or a rewritten chain shows)", show_default=False)] = None,
                   workers: Annotated[Optional[int], typer.Option(
                       min=1, max=256, help="walk the chain in this many processes, each over its own ranges of it "
                                            "(default: the machine's cores; a register of up to 10,000 entries is "
                                            "walked in one); the report is the same", show_default=False)] = None,
                   ) -> None:
    """Check the register's hash chain from the first entry to the last: print OK with the number of entries
    and the head digest (record it elsewhere to detect a rewrite later), or the first broken link (exit 1)."""
    from .services.register import verify_chain

    engine = _engine(database_url)
    try:
        check_migrated(engine)
        with session_factory(engine)() as session:
            report = verify_chain(session, expect_head=expect_head, workers=workers or os.cpu_count() or 1)
    except (DatabaseNotMigrated, DatabaseUnavailable) as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    where = display_url(str(engine.url))
    if report.ok:
        typer.echo(f"register OK: {report.entries} entries, chain intact, head {report.head} ({where})")
        return
    at = f" at entry id {report.entry_id} (sequence {report.sequence})" if report.entry_id is not None else ""
    typer.secho(f"register BROKEN{at}: {report.broken}", fg="red")
    typer.echo(f"the {report.entries} entries before it are intact (their head {report.head}); {where}")
    raise typer.Exit(1)


@register.command("export")
def export_command(
        organisation: Annotated[Optional[str], typer.Option(help="one organisation (its slug)",
                                                            show_default=False)] = None,
        dataset: Annotated[Optional[str], typer.Option(help="one dataset (its id or identifier)",
                                                       show_default=False)] = None,
        person: Annotated[Optional[str], typer.Option(help="one person (user name): their data use and what they "
                                                           "did", show_default=False)] = None,
        format: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
        output: Annotated[Optional[Path], typer.Option(help="write to this file (default: standard output)",
                                                       show_default=False)] = None,
        database_url: UrlOpt = None) -> None:
    """Export the register's entries of one organisation, dataset or person (none: the whole register) as CSV or
    JSON, oldest first, streamed: who, which dataset, how (workspace, bundle), when, purpose and legal ground,
    sequence and hashes. The export is written to the register first (register-exported)."""
    from .errors import PortalError
    from .services import register_export

    if format not in register_export.FORMATS:
        typer.secho(f"error: --format {format!r}: choose csv or json", fg="red", err=True)
        raise typer.Exit(2)
    engine = _engine(database_url)
    try:
        check_migrated(engine)
        sessions = session_factory(engine)
        with sessions() as session:
            chosen = register_export.selection(session, user=None, organisation=organisation, dataset=dataset,
                                               person=person)
            upto, entries = register_export.record_export(session, actor=None, chosen=chosen, fmt=format, via="cli")
            session.commit()
        chunks = register_export.stream(sessions, chosen=chosen, upto=upto, fmt=format)
        if output is None:
            for chunk in chunks:
                typer.echo(chunk, nl=False)
        else:
            with output.open("w", encoding="utf-8", newline="") as file:
                for chunk in chunks:
                    file.write(chunk)
    except (DatabaseNotMigrated, DatabaseUnavailable, PortalError) as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    if output is not None:
        typer.echo(f"register export: {entries} entries of {chosen.kind} {chosen.label} up to sequence {upto} "
                   f"written to {output}", err=True)


@contracts.command("activate")
def activate_command(
    contract_id: Annotated[int, typer.Argument(help="the contract's id in the portal")],
    hub_url: Annotated[str, typer.Option("--hub-url", help="the deployed hub's public URL (the stack's public_url)")],
    hub_api_url: Annotated[Optional[str], typer.Option("--hub-api-url", help="its REST API; default: hub URL + "
                                                                             "/hub/api", show_default=False)] = None,
    database_url: UrlOpt = None,
) -> None:
    """After ``pulumi up`` of a gitops contract's stack: register its cloud Environment and make it active (exit 1
    when the contract is unknown or not being provisioned). The same as CI's callback, for an operator."""
    from .errors import PortalError
    from .models import Contract
    from .services.gitops import activate

    engine = _engine(database_url)
    try:
        check_migrated(engine)
        with session_factory(engine)() as session:
            contract = session.get(Contract, contract_id)
            if contract is None:
                typer.secho(f"error: there is no contract {contract_id}", fg="red", err=True)
                raise typer.Exit(1)
            activate(session, contract=contract, hub_url=hub_url, hub_api_url=hub_api_url)
            session.commit()
            typer.echo(f"contract {contract_id} is {contract.state.value}: environment {contract.environment.name} "
                       f"at {contract.environment.hub_url}")
    except PortalError as exc:
        typer.secho(f"error: {exc.message}", fg="red", err=True)
        raise typer.Exit(1) from None
    except (DatabaseNotMigrated, DatabaseUnavailable) as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
