"""The processing register per dataset and per person (issue 15): ``register_entry`` gains

- ``dataset_id`` (the dataset an entry concerns) and ``person_id`` (whose data use or request it is), nullable, with
  foreign keys, each indexed together with ``sequence`` (as is ``actor_id``), so the register is read and exported
  per dataset and per person in chain order without a scan;
- ``digest_version`` (1 for every entry already written; new entries are written with version 2, whose digest
  covers the two new columns — ``models/register.py``).

Entries already written are left exactly as they are (the register is append-only; their digests stay version 1 and
keep verifying). As in 0006/0008/0009/0010, SQLite rebuilds the register (alembic's batch mode) with its append-only
triggers dropped and recreated around the rebuild and the action CHECK constraint carried over; PostgreSQL only adds
columns (its triggers and the runtime role's INSERT/SELECT grant stay).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_0006 = importlib.import_module("gereedschapskist.portal.migrations.versions.0006_role_grants")
_0010 = importlib.import_module("gereedschapskist.portal.migrations.versions.0010_access_system")
#: The actions 0010 allows (0011 adds none).
REGISTER_ACTION = tuple(dict.fromkeys(_0010.REGISTER_ACTION + _0010.NEW_ACTIONS))
INDEXES = (("ix_register_entry_dataset_id_sequence", ["dataset_id", "sequence"]),
           ("ix_register_entry_person_id_sequence", ["person_id", "sequence"]),
           ("ix_register_entry_actor_id_sequence", ["actor_id", "sequence"]))


def _rebuild(change) -> None:
    """Run ``change(batch)`` on register_entry; on SQLite around a rebuild that keeps the action CHECK constraint
    and the append-only triggers."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        for statement in _0006.SQLITE_DROP_TRIGGERS:
            op.execute(statement)
    constraint = op.f("ck_register_entry_register_action")
    with op.batch_alter_table("register_entry") as batch:
        change(batch)
        if sqlite:            # the rebuilt table carries the action CHECK constraint named as before
            batch.drop_constraint(constraint, type_="check")
            batch.create_check_constraint(constraint, _0006._in("action", REGISTER_ACTION))
    if sqlite:
        for statement in _0006.SQLITE_TRIGGERS:
            op.execute(statement)


def upgrade() -> None:
    def change(batch) -> None:
        batch.add_column(sa.Column("dataset_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("person_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("digest_version", sa.SmallInteger(), server_default="1", nullable=False))
        batch.create_foreign_key("fk_register_entry_dataset_id_dataset", "dataset", ["dataset_id"], ["id"])
        batch.create_foreign_key("fk_register_entry_person_id_app_user", "app_user", ["person_id"], ["id"])

    _rebuild(change)
    for name, columns in INDEXES:
        op.create_index(name, "register_entry", columns)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM register_entry WHERE digest_version <> 1 OR dataset_id IS NOT NULL "
                            "OR person_id IS NOT NULL")).scalar():
        raise RuntimeError("the register holds entries written with digest version 2 (which cover dataset_id and "
                           "person_id), which 0010 cannot store or check; the register is append-only, so 0011 "
                           "cannot be downgraded on this database")
    for name, _ in INDEXES:
        op.drop_index(name, table_name="register_entry")

    def change(batch) -> None:
        batch.drop_constraint("fk_register_entry_person_id_app_user", type_="foreignkey")
        batch.drop_constraint("fk_register_entry_dataset_id_dataset", type_="foreignkey")
        batch.drop_column("digest_version")
        batch.drop_column("person_id")
        batch.drop_column("dataset_id")

    _rebuild(change)
