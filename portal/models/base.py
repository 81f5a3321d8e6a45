"""Declarative base, naming convention and the column types shared by every model."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from sqlalchemy import ColumnElement, DateTime, Enum as SAEnum, MetaData, TypeDecorator, case, literal_column
from sqlalchemy.orm import DeclarativeBase

#: Stable constraint names, so migrations read the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timestamp that is always timezone-aware UTC in Python, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware UTC time")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


#: What :func:`one_of` writes into SQL as it is: an enum's value in this schema (letters, digits, ``-`` and ``_``).
_SQL_WORD = re.compile(r"[a-z0-9_-]+")


def one_of(column: Any, values: tuple[Enum | str, ...]) -> ColumnElement[bool]:
    """``column IN ('a', 'b', …)`` for a fixed tuple of the schema's own enum values, written into the statement: it is
    compiled once and has nothing to bind. SQLAlchemy's ``in_()`` of values uses an expanding parameter that it
    renders again at every execution (issue 13: the busiest reads have three). Only for constants of the code: a
    value that is not a plain word is refused."""
    return column.in_([literal_column(f"'{word}'") for word in _words(values)])


def rank_of(column: Any, values: tuple[Enum | str, ...]) -> ColumnElement[int]:
    """``CASE column WHEN 'a' THEN 0 WHEN 'b' THEN 1 … END``, written into the statement as :func:`one_of` is."""
    return case({literal_column(f"'{word}'"): literal_column(str(rank)) for rank, word in enumerate(_words(values))},
                value=column)


def _words(values: tuple[Enum | str, ...]) -> list[str]:
    words = [value.value if isinstance(value, Enum) else value for value in values]
    for word in words:
        if not isinstance(word, str) or not _SQL_WORD.fullmatch(word):
            raise ValueError(f"one_of and rank_of take the schema's own enum values only, not {word!r}")
    return words


def enum_column(enum: type[Enum], name: str) -> SAEnum:
    """A portable enum: VARCHAR + CHECK constraint of the enum's *values* (no native PostgreSQL type)."""
    return SAEnum(enum, name=name, native_enum=False, create_constraint=True, length=32,
                  values_callable=lambda members: [m.value for m in members], validate_strings=True)
