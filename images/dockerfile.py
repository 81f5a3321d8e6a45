"""Small, deterministic pieces of Dockerfile text (quoting, continued lines, LABEL/ENV blocks)."""

from __future__ import annotations

from typing import Iterable

INDENT = "    "


def quote(value: str) -> str:
    """A double-quoted Dockerfile word: backslashes, quotes and ``$`` escaped, one line."""
    text = " ".join(str(value).split())  # labels are one line; newlines would end the instruction
    for char in ("\\", '"', "$"):
        text = text.replace(char, "\\" + char)
    return f'"{text}"'


def key_values(instruction: str, pairs: Iterable[tuple[str, str]], *, quoted: bool = True) -> str:
    """``LABEL a="1" \\`` + one pair per continued line (keys in the given order)."""
    items = [f"{key}={quote(value) if quoted else value}" for key, value in pairs]
    if not items:
        raise ValueError(f"{instruction} needs at least one key=value pair")
    pad = " " * (len(instruction) + 1)
    return f"{instruction} " + f" \\\n{pad}".join(items)


def run(*commands: str, mounts: Iterable[str] = ()) -> str:
    """One ``RUN`` joining ``commands`` with ``&&``, one command per line."""
    if not commands:
        raise ValueError("RUN needs at least one command")
    head = "RUN " + "".join(f"--mount={mount} \\\n{INDENT}" for mount in mounts)
    return head + " \\\n && ".join(commands)


def words(*parts: str) -> str:
    """A long command broken over continued lines, one option (group) per line."""
    return f" \\\n{INDENT}{INDENT}".join(parts)


def exec_form(*argv: str) -> str:
    """JSON array form (``CMD ["a", "b"]``) — no shell, signals reach the process."""
    return "[" + ", ".join('"' + a.replace("\\", "\\\\").replace('"', '\\"') + '"' for a in argv) + "]"
