"""Rendered page parts kept in memory (issue 13: "a short in-process cache where it is safe").

A fragment is a template whose output depends on nothing but the values its key names: the catalogue's shelves of
a set of roles in a language, the site's navigation of a kind of user on a path. The catalogue is loaded once per
portal process and the texts are part of the code, so a kept fragment never goes stale; no user's data is in one
(names, tokens and workspaces are rendered per request around them). At most ``limit`` fragments are kept: when
that is reached they are all let go and rendered again as asked (a bound, not an eviction policy: the keys in use
are few — languages × roles × a handful of paths).
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from .texts import translator


class Fragments:
    def __init__(self, env: Environment, *, limit: int = 2048):
        self._env = env
        self._limit = limit
        self._kept: dict[tuple[str, Hashable], Markup] = {}
        self._lock = threading.Lock()
        self.rendered = 0           # fragments rendered, not taken from memory (tests read it)

    def render(self, template: str, key: Hashable, *, lang: str, **values: Any) -> Markup:
        """``template`` rendered with ``lang``, its ``t()`` and ``values`` — which must be what ``key`` (with the
        language) names and nothing else — or the same output kept from an earlier call with that key."""
        full = (template, lang, key)
        html = self._kept.get(full)
        if html is None:
            html = Markup(self._env.get_template(template).render(lang=lang, t=translator(lang), **values))
            with self._lock:
                self.rendered += 1
                if len(self._kept) >= self._limit:
                    self._kept.clear()
                self._kept[full] = html
        return html

    def __len__(self) -> int:
        return len(self._kept)
