"""Problems found in the catalogue: one record per problem, every one of them reported."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

_NO_VALUE = object()


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in one file.

    ``file`` is relative to the catalogue root, ``path`` a JSONPath-like field path
    (``$.sizes[1].memory``), ``code`` a stable machine-readable reason.
    """

    file: str
    message: str
    code: str
    path: str = "$"
    line: int | None = None
    value: Any = field(default=_NO_VALUE)
    severity: Severity = Severity.ERROR

    @property
    def has_value(self) -> bool:
        return self.value is not _NO_VALUE

    def location(self, root: Path | None = None) -> str:
        name = self.file
        if root is not None:
            name = display_path(root / self.file)
        return f"{name}:{self.line}" if self.line else name

    def format(self, root: Path | None = None) -> str:
        where = self.location(root)
        field_part = self.path
        if self.has_value:
            field_part += f" = {short_json(self.value)}"
        prefix = "warning: " if self.severity is Severity.WARNING else ""
        return f"{where}: {prefix}{field_part}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "severity": str(self.severity),
            "file": self.file,
            "line": self.line,
            "path": self.path,
            "code": self.code,
            "message": self.message,
        }
        if self.has_value:
            data["value"] = _jsonable(self.value)
        return data


def display_path(path: Path) -> str:
    """A path relative to the working directory when it lies below it, else absolute."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # different drive
        return str(path)
    return str(path) if rel.startswith("..") else rel


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def short_json(value: Any, limit: int = 80) -> str:
    text = json.dumps(_jsonable(value), ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_path(parts: tuple[str | int, ...] | list[str | int]) -> str:
    """``("sizes", 1, "memory")`` → ``$.sizes[1].memory``."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier() or part.replace("-", "_").isidentifier():
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out
