"""What every deployable's settings object shares: refusing variables with its prefix that name no setting.

pydantic-settings ignores unknown variables (``extra="forbid"`` only covers keyword arguments), so a
misspelt or renamed variable would silently leave its default in place. Hub and portal both call
:func:`unknown_variables` at start.
"""

from __future__ import annotations

import difflib
from typing import Iterable, Mapping


def unknown_variables(environ: Mapping[str, str], *, prefix: str, fields: Iterable[str], what: str,
                      renamed: Mapping[str, str] | None = None) -> list[str]:
    """``<prefix>*`` variables of ``environ`` that name none of ``fields``, each as a line saying what was
    probably meant (an entry of ``renamed``, old name → new name, or the closest field name)."""
    known = {name.upper() for name in fields}
    problems = []
    for variable in sorted(environ):
        if not variable.upper().startswith(prefix):
            continue
        name = variable[len(prefix):].upper()
        if name in known:
            continue
        guess = (renamed or {}).get(name) or next(iter(difflib.get_close_matches(name, sorted(known), n=1)), None)
        hint = f"; did you mean {prefix}{guess}?" if guess else ""
        problems.append(f"{variable} is not a {what} setting{hint}")
    return problems
