"""The portal's two PostgreSQL roles (``gereedschapskist db init-roles``).

* The **owner role** owns the schema's tables: the migrations (``gereedschapskist db upgrade``) run as it.
* The **runtime role** is what the portal connects as. It owns nothing, so it cannot ``ALTER``, disable or
  drop the register's triggers, and it holds only ``SELECT`` and ``INSERT`` on the register (``SELECT`` on
  ``alembic_version``; ``SELECT, INSERT, UPDATE, DELETE`` on the other tables; ``USAGE, SELECT`` on sequences).

:func:`init_roles` runs as an administrator (a superuser, or a role with ``CREATEROLE`` that may grant on the
database and the schema, as the admin user of a managed PostgreSQL). It is idempotent: roles that exist are
kept (their password is set when one is given), and the privileges are granted again. It sets the owner's
default privileges, so tables a later migration creates are usable by the runtime role at once; a migration
that adds another append-only table narrows its privileges itself, as ``0002`` does for the register.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from gereedschapskist.core.refusal import Refusal

from .db import display_url

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
DEFAULT_OWNER_ROLE = "gereedschapskist_owner"
DEFAULT_RUNTIME_ROLE = "gereedschapskist_portal"

#: Privileges of the runtime role per table; every other table gets TABLE_PRIVILEGES.
RUNTIME_PRIVILEGES = {"register_entry": "SELECT, INSERT", "alembic_version": "SELECT"}
TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
SEQUENCE_PRIVILEGES = "USAGE, SELECT"


class RolesRefused(Refusal):
    """The roles cannot be set up as asked; the message says why and what to do."""

    reason = "roles-refused"

    def __init__(self, message: str):
        super().__init__(None, message)


@dataclass
class RolesReport:
    database: str
    schema: str
    done: list[str] = field(default_factory=list)


def _check_name(kind: str, name: str) -> None:
    if not ROLE_NAME.match(name):
        raise RolesRefused(f"{kind} role name {name!r}: use 1-63 lower-case letters, digits and _, "
                           "starting with a letter or _")


def _role(connection: Connection, name: str):
    return connection.execute(text("SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = :n"),
                              {"n": name}).one_or_none()


def _quoted(connection: Connection, template: str, *args: str) -> str:
    """A statement with identifiers (%I) and literals (%L) quoted by the server's own ``format()``."""
    params = {f"a{i}": arg for i, arg in enumerate(args)}
    placeholders = "".join(f", CAST(:a{i} AS text)" for i in range(len(args)))
    return connection.execute(text(f"SELECT format(CAST(:template AS text){placeholders})"),
                              {"template": template, **params}).scalar_one()


def _ensure_role(connection: Connection, report: RolesReport, kind: str, name: str, password: str | None) -> None:
    existing = _role(connection, name)
    if existing is None:
        options = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
        statement = _quoted(connection, f"CREATE ROLE %I {options}" + (" PASSWORD %L" if password else ""),
                            name, *([password] if password else []))
        connection.execute(text(statement))
        report.done.append(f"created the {kind} role {name}")
        return
    if kind == "runtime" and (existing.rolsuper or existing.rolbypassrls):
        raise RolesRefused(f"the runtime role {name} is a superuser or bypasses row security: it could wipe the "
                           "register. Name a plain role (or a new one, which init-roles creates).")
    if not existing.rolcanlogin:
        connection.execute(text(_quoted(connection, "ALTER ROLE %I LOGIN", name)))
    if password:
        connection.execute(text(_quoted(connection, "ALTER ROLE %I PASSWORD %L", name, password)))
        report.done.append(f"kept the {kind} role {name}, set its password")
    else:
        report.done.append(f"kept the {kind} role {name}")


def _tables(connection: Connection, schema: str) -> list[tuple[str, str]]:
    """(table, owner) of every table in the schema."""
    return [tuple(row) for row in connection.execute(text(
        "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = :s AND c.relkind IN ('r', 'p') ORDER BY c.relname"), {"s": schema})]


def _runtime_grants(connection: Connection, report: RolesReport, schema: str, runtime: str) -> None:
    """As the owner: default privileges for tables to come, and the privileges on the tables there are."""
    connection.execute(text(_quoted(connection, f"ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT {TABLE_PRIVILEGES} "
                                                "ON TABLES TO %I", schema, runtime)))
    connection.execute(text(_quoted(connection, f"ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT "
                                                f"{SEQUENCE_PRIVILEGES} ON SEQUENCES TO %I", schema, runtime)))
    tables = [name for name, _owner in _tables(connection, schema)]
    for table in tables:
        connection.execute(text(_quoted(connection, "REVOKE ALL ON %I.%I FROM %I", schema, table, runtime)))
        privileges = RUNTIME_PRIVILEGES.get(table, TABLE_PRIVILEGES)
        connection.execute(text(_quoted(connection, f"GRANT {privileges} ON %I.%I TO %I", schema, table, runtime)))
    connection.execute(text(_quoted(connection, f"GRANT {SEQUENCE_PRIVILEGES} ON ALL SEQUENCES IN SCHEMA %I TO %I",
                                    schema, runtime)))
    report.done.append(f"granted {runtime}: {TABLE_PRIVILEGES} on tables, "
                       + ", ".join(f"only {p} on {t}" for t, p in RUNTIME_PRIVILEGES.items())
                       + f" (now {len(tables)} tables, and tables the owner creates later)")


def init_roles(engine: Engine, *, owner: str = DEFAULT_OWNER_ROLE, runtime: str = DEFAULT_RUNTIME_ROLE,
               owner_password: str | None = None, runtime_password: str | None = None) -> RolesReport:
    """Create (or bring in line) the owner and the runtime role of the database ``engine`` points at."""
    where = display_url(str(engine.url))
    if engine.dialect.name != "postgresql":
        raise RolesRefused(f"{where}: database roles exist on PostgreSQL only; SQLite has none (there the "
                           "register's hash chain is the tamper evidence)")
    _check_name("owner", owner)
    _check_name("runtime", runtime)
    if owner == runtime:
        raise RolesRefused(f"the owner and the runtime role are both {owner}: they must differ, or the portal "
                           "could drop the register's triggers")
    try:
        with engine.begin() as connection:
            return _init_roles(connection, owner=owner, runtime=runtime, owner_password=owner_password,
                               runtime_password=runtime_password)
    except DBAPIError as exc:
        if exc.connection_invalidated or exc.orig is None or "permission" not in str(exc.orig).lower():
            raise RolesRefused(f"{where}: {exc.orig or exc}".strip()) from exc
        raise RolesRefused(f"{where}: {str(exc.orig).strip()} — run init-roles as a superuser or as the "
                           "database's admin role (CREATEROLE, owner of the database and the schema)") from exc
    except SQLAlchemyError as exc:
        raise RolesRefused(f"{where}: {exc}") from exc


def _init_roles(connection: Connection, *, owner: str, runtime: str, owner_password: str | None,
                runtime_password: str | None) -> RolesReport:
    database, schema, admin, superuser = connection.execute(text(
        "SELECT current_database(), current_schema(), current_user, "
        "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)")).one()
    if schema is None:
        raise RolesRefused(f"database {database}: no schema on the search_path exists; create it first")
    report = RolesReport(database=database, schema=schema)
    _ensure_role(connection, report, "owner", owner, owner_password)
    _ensure_role(connection, report, "runtime", runtime, runtime_password)
    member = text("SELECT pg_has_role(:member, :role, 'MEMBER')")
    if connection.execute(member, {"member": runtime, "role": owner}).scalar_one():
        raise RolesRefused(f"the runtime role {runtime} is a member of the owner role {owner}: it could act as "
                           f"the owner. Revoke it first (REVOKE {owner} FROM {runtime}).")
    if not superuser and not connection.execute(member, {"member": admin, "role": owner}).scalar_one():
        connection.execute(text(_quoted(connection, "GRANT %I TO %I", owner, admin)))
        report.done.append(f"made {admin} a member of {owner}, so it can set the owner's privileges")
    connection.execute(text(_quoted(connection, "GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I", database, owner)))
    connection.execute(text(_quoted(connection, "GRANT CONNECT ON DATABASE %I TO %I", database, runtime)))
    connection.execute(text(_quoted(connection, "GRANT USAGE, CREATE ON SCHEMA %I TO %I", schema, owner)))
    connection.execute(text(_quoted(connection, "GRANT USAGE ON SCHEMA %I TO %I", schema, runtime)))
    connection.execute(text(_quoted(connection, "REVOKE CREATE ON SCHEMA %I FROM %I", schema, runtime)))
    report.done.append(f"granted {owner} USAGE, CREATE and {runtime} USAGE on schema {schema} of {database}")
    for table, table_owner in _tables(connection, schema):
        if table_owner == runtime:
            raise RolesRefused(f"table {schema}.{table} is owned by the runtime role {runtime}: the roles are the "
                               f"wrong way round. Use --owner-role {runtime} (it ran the migrations so far) and a "
                               "new runtime role.")
        if table_owner != owner:
            connection.execute(text(_quoted(connection, "ALTER TABLE %I.%I OWNER TO %I", schema, table, owner)))
            report.done.append(f"table {schema}.{table}: owner {table_owner} → {owner}")
    for function in ("register_entry_append_only",):
        found = connection.execute(text(
            "SELECT pg_get_userbyid(p.proowner) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = :s AND p.proname = :f"), {"s": schema, "f": function}).scalar_one_or_none()
        if found is not None and found != owner:
            connection.execute(text(_quoted(connection, "ALTER FUNCTION %I.%I() OWNER TO %I", schema, function, owner)))
    connection.execute(text(_quoted(connection, "SET LOCAL ROLE %I", owner)))
    _runtime_grants(connection, report, schema, runtime)
    connection.execute(text("RESET ROLE"))
    return report
