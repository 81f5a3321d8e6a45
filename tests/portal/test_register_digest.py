"""The register's digests (issue 15): ``verify`` computes them from plain rows with its own canonical JSON writer
(services/register.py, for speed over a million entries); it must agree with the frozen ``entry_digest`` (version
1) and ``entry_digest_v2`` on every entry — unicode, quotes, control characters, NULLs, nested and empty details,
large numbers — else a verify would report an intact register as changed or, worse, miss a change. Also: a version-1
entry that names a dataset or person, and an unknown digest version, count as changed."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from gereedschapskist.portal.models.register import (
    DIGEST_VERSION, UnknownDigestVersion, digest_of, entry_digest, entry_digest_v2,
)
from gereedschapskist.portal.services.register import _COLUMNS, _fast_digest, _row_digest

TEXTS = ["", "bundle bi-sql-duckdb 1.0.0 (small) in local", 'quote " and \\ backslash', "één, ĳssel, 😀, \u2028",
         "tab\tnew\nline\x01", "=SUM(A1)", "a" * 300]
DETAILS = [{}, None, {"n": 1}, {"z": [1, 2.5, None, True, {"b": "x", "a": "é"}], "a": -3},
           {"dataset_id": 2**40, "legal_ground": "avg-6-1-e", "nested": {"k": ["\"", "\\"]}}, [1, "two"], "text"]


def _entries(count: int):
    rng = random.Random(15)
    for sequence in range(1, count + 1):
        at = datetime(2026, 12, 1, tzinfo=timezone.utc) + timedelta(microseconds=rng.randrange(10**12))
        yield dict(sequence=sequence, at=at, actor_id=rng.choice([None, 1, 123456]),
                   organisation_id=rng.choice([None, 7]), action=rng.choice(["access-granted", "workspace-started"]),
                   workspace_id=rng.choice([None, 42]), subject=rng.choice(TEXTS),
                   purpose=rng.choice([None, *TEXTS]), details=rng.choice(DETAILS),
                   previous_hash=rng.choice(["0" * 64, "ab" * 32, 'x"y']))


def _row(entry: dict, *, version: int, dataset_id=None, person_id=None, sqlite: bool = True) -> SimpleNamespace:
    """A row as verify reads it: the time as text (SQLite's stored form or PostgreSQL's to_char), details as JSON."""
    at = entry["at"]
    text = (at.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds") if sqlite
            else at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    return SimpleNamespace(**{**entry, "at": text, "details": json.dumps(entry["details"]), "id": entry["sequence"],
                              "digest_version": version, "dataset_id": dataset_id, "person_id": person_id})


def test_verify_computes_exactly_the_frozen_digests():
    for entry in _entries(400):
        sqlite = entry["sequence"] % 2 == 0
        assert _row_digest(None, _row(entry, version=1, sqlite=sqlite)) == entry_digest(**entry)
        assert _row_digest(None, _row(entry, version=2, dataset_id=entry["actor_id"], person_id=5, sqlite=sqlite)) \
            == entry_digest_v2(**entry, dataset_id=entry["actor_id"], person_id=5)
        assert digest_of(digest_version=1, **entry) == entry_digest(**entry)


def _tuple(row: SimpleNamespace) -> tuple:
    """The row as the fast path reads it: a plain DBAPI tuple in the statement's column order."""
    return tuple(getattr(row, name) if name != "entry_hash" else None for name in _COLUMNS)


def test_the_fast_path_computes_exactly_the_frozen_digests():
    """verify's fast path (the C encoder called directly on the whole content) gives the frozen digests for every
    entry the exact path does, in SQLite's and PostgreSQL's time forms."""
    for entry in _entries(400):
        for sqlite in (True, False):
            assert _fast_digest(_tuple(_row(entry, version=1, sqlite=sqlite))) == entry_digest(**entry)
            assert _fast_digest(_tuple(_row(entry, version=2, dataset_id=entry["actor_id"], person_id=5,
                                            sqlite=sqlite))) \
                == entry_digest_v2(**entry, dataset_id=entry["actor_id"], person_id=5)


def test_the_fast_path_leaves_what_it_does_not_know_to_the_exact_path():
    """None (not a digest) where the fast path does not apply; verify then computes the exact digest (or none)."""
    entry = next(_entries(1))
    row = _row(entry, version=2)
    for changed in (dict(at=row.at.replace(" ", "T")), dict(at="0999" + row.at[4:]), dict(details=" {}"),
                    dict(details="{} x"), dict(details="{"), dict(details="NaN"), dict(digest_version=3),
                    dict(digest_version=1, dataset_id=3), dict(digest_version=1, person_id=3)):
        assert _fast_digest(_tuple(SimpleNamespace(**{**vars(row), **changed}))) is None, changed


def test_version_1_with_a_dataset_or_person_and_unknown_versions_have_no_digest():
    entry = next(_entries(1))
    assert DIGEST_VERSION == 2
    assert _row_digest(None, _row(entry, version=1, dataset_id=3)) is None
    assert _row_digest(None, _row(entry, version=1, person_id=3)) is None
    assert _row_digest(None, _row(entry, version=3)) is None
    assert digest_of(digest_version=1, dataset_id=3, **entry) == "v1-with-v2-columns"
    with pytest.raises(UnknownDigestVersion, match="digest_version = 3"):
        digest_of(digest_version=3, **entry)
    # the two versions differ, so an entry cannot pass as the other version
    assert entry_digest_v2(**entry, dataset_id=None, person_id=None) != entry_digest(**entry)
