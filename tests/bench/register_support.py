"""Seeding a large processing register fast, for the register benchmarks (issue 15): organisations, users and
datasets by Core bulk inserts, then ``entries`` register entries whose hash chain is computed here in Python with the
portal's own digest (version 2) — SQLite through executemany, PostgreSQL through COPY — in chunks, so a million
entries take seconds and little memory. The chain is real: ``verify_chain`` checks every link and digest."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Iterator

from sqlalchemy import Engine, insert, select

from gereedschapskist.portal.models import Dataset, Organisation, User, utcnow
from gereedschapskist.portal.models.dataset import DatasetCategory, SensitivityLevel
from gereedschapskist.portal.models.register import GENESIS, entry_digest_v2

COLUMNS = ("at", "actor_id", "organisation_id", "action", "workspace_id", "subject", "purpose", "details", "sequence",
           "previous_hash", "entry_hash", "dataset_id", "person_id", "digest_version")
ACTIONS = ("access-requested", "access-approved", "access-granted", "dataset-mounted")


def seed_people(engine: Engine, *, organisations: int = 10, users: int = 100, datasets: int = 50
                ) -> tuple[list[int], list[int], list[int]]:
    """Organisations, users and datasets (ids returned in that order)."""
    now = utcnow()
    with engine.begin() as db:
        db.execute(insert(Organisation), [{"slug": f"org{i:03d}", "name": f"Organisation {i}", "created_at": now}
                                          for i in range(organisations)])
        org_ids = list(db.scalars(select(Organisation.id).order_by(Organisation.id)))
        db.execute(insert(User), [{"issuer": "https://bench", "subject": f"s{i}", "username": f"user{i:05d}",
                                   "platform_admin": False, "created_at": now} for i in range(users)])
        user_ids = list(db.scalars(select(User.id).order_by(User.id)))
        db.execute(insert(Dataset), [
            {"identifier": f"bench-{i}", "title_nl": f"Dataset {i}", "description_nl": "", "keywords": [],
             "organisation_id": org_ids[i % len(org_ids)], "category": DatasetCategory.OTHER,
             "sensitivity": SensitivityLevel.INTERNAL, "auto_approval": True, "imported_at": now, "updated_at": now}
            for i in range(datasets)])
        dataset_ids = list(db.scalars(select(Dataset.id).order_by(Dataset.id)))
    return org_ids, user_ids, dataset_ids


def _entries(count: int, *, start: int, previous: str, org_ids: list[int], user_ids: list[int],
             dataset_ids: list[int]) -> Iterator[tuple]:
    base = utcnow() - timedelta(days=30)
    for sequence in range(start, start + count):
        person = user_ids[sequence % len(user_ids)]
        dataset = dataset_ids[sequence % len(dataset_ids)]
        organisation = org_ids[sequence % len(org_ids)]
        action = ACTIONS[sequence % len(ACTIONS)]
        at = base + timedelta(microseconds=sequence * 1000)
        details = {"dataset_id": dataset, "purpose_code": "statistics", "legal_ground": "avg-6-1-e-cbs-wet",
                   "access_request": sequence // 4}
        subject = f"dataset bench-{dataset} for user{person:05d}: {action}"
        purpose = "Onderzoek naar regionale verschillen"
        digest = entry_digest_v2(sequence=sequence, at=at, actor_id=person, organisation_id=organisation,
                                 action=action, workspace_id=None, subject=subject, purpose=purpose, details=details,
                                 previous_hash=previous, dataset_id=dataset, person_id=person)
        yield (at, person, organisation, action, None, subject, purpose, details, sequence, previous, digest, dataset,
               person, 2)
        previous = digest


def seed_register(engine: Engine, entries: int, *, org_ids: list[int], user_ids: list[int], dataset_ids: list[int],
                  chunk: int = 50_000) -> str:
    """Append ``entries`` chained entries after the register's head (empty register assumed); returns the head."""
    previous, done = GENESIS, 0
    raw = engine.raw_connection()
    try:
        while done < entries:
            rows = list(_entries(min(chunk, entries - done), start=done + 1, previous=previous, org_ids=org_ids,
                                 user_ids=user_ids, dataset_ids=dataset_ids))
            previous, done = rows[-1][10], done + len(rows)
            cursor = raw.cursor()
            if engine.dialect.name == "postgresql":
                with cursor.copy(f"COPY register_entry ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row[:7] + (json.dumps(row[7]),) + row[8:])
            else:
                cursor.executemany(
                    f"INSERT INTO register_entry ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                    [(row[0].replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds"),) + row[1:7]
                     + (json.dumps(row[7]),) + row[8:] for row in rows])
            cursor.close()
            raw.commit()
    finally:
        raw.close()
    return previous
