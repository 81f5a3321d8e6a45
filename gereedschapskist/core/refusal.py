"""The base of every domain error, and the one formatter for validation errors.

A :class:`Refusal` carries a machine-readable ``reason`` (stable, kebab-case, e.g. ``not-in-role``) from
where it is decided — catalogue, hub, provisioner, policy — to the page a person reads; nobody parses
a message text to find out why. Components subclass it (``StackInvalid``, ``PortalError`` …).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

from pydantic import ValidationError

#: The HTTP response header that carries a refusal's ``reason`` between services (the hub sends it with every
#: launch it refuses; the portal's hub adapter reads it). One name, here, for both sides.
REASON_HEADER = "X-Gereedschapskist-Reason"


class Refusal(Exception):
    """Something was refused or is invalid. ``reason`` is for machines, ``message`` for people."""

    reason: str = "refused"

    def __init__(self, reason: str | None, message: str):
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return self.message


class _HasErrors(Protocol):
    """pydantic's ``ValidationError`` and anything shaped like it (FastAPI's ``RequestValidationError``)."""

    def errors(self) -> Sequence[Mapping[str, Any]]: ...


def _dotted(loc: Iterable[Any]) -> str:
    return ".".join(str(part) for part in loc)


def format_validation_errors(
    exc: ValidationError | _HasErrors,
    *,
    name: Callable[[str], str] = lambda field: field,
    show_value: Callable[[str, Any], bool] = lambda field, value: not isinstance(value, Mapping),
) -> list[str]:
    """One line per problem: ``<name(field)> = <value>: <message>``, for every error, not just the first
    (``= (missing)`` for a field that is not there).

    ``name`` turns the dotted field path into what the reader knows (a variable name, a YAML path in a
    file); ``show_value`` hides values that are secrets or whole sections.
    """
    lines = []
    for err in exc.errors():
        field = _dotted(err["loc"])
        value = err.get("input")
        if err["type"] == "missing":
            shown = " = (missing)"  # the input is the surrounding section, not this field's value
        else:
            shown = f" = {value!r}" if field and show_value(field, value) else ""
        message = err["msg"].removeprefix("Value error, ")  # a validator's own text reads on its own
        lines.append(f"{name(field) if field else name('')}{shown}: {message}")
    return lines
