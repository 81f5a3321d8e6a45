"""Every page speaks one language (issue 12, defect 9): a Dutch page holds no English text of the portal's text
catalogue, and an English page no Dutch text.

Every page the portal has is rendered as each persona of the authorisation matrix, in that matrix's world (real
organisations, environments and workspaces in the test database), plus what that world lacks: workspaces of every
size the catalogue has, a failed one with the hub's English message, one in the shared local development
environment, the page of every bundle (those a persona may not start show the refusal), and the error pages.

What counts as the other language's text: the values of ``portal/texts.py`` that differ between the languages,
cut at placeholders and punctuation into phrases of two words or more ("Start workspace", "is not for your role"),
and the one-word values ("running", "small", "development") that are no word of the page's own language texts.
Words equal in both languages and proper names (JupyterLab, Gereedschapskist) are thereby left out. Text marked with
``lang`` of the other language (the hub's own message, shown as such) is the one exception. The failure lists each
page with what it found.
"""

from __future__ import annotations

import functools
import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from gereedschapskist.portal.models import Environment, Workspace, WorkspaceStatus
from gereedschapskist.portal.texts import TEXTS
from tests.portal.test_authorisation_matrix import (  # noqa: F401 - fixtures: the matrix's world
    CATALOGUE, PERSONAS, World, app, hubs, settings, world,
)

LANGUAGES = {"nl": 0, "en": 1}
_CUT = re.compile(r"\{[a-z_]+\}|[.,;:!?()—–…\"'/&]| - ")
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


@functools.lru_cache(maxsize=None)      # the same for every page: worked out once per language
def foreign_texts(language: str) -> tuple[frozenset[str], frozenset[str]]:
    """(phrases of 2+ words, single words) of the *other* language's texts that a page in ``language`` must not hold."""
    own, other = LANGUAGES[language], 1 - LANGUAGES[language]
    own_words = {w for pair in TEXTS.values() for w in _words(pair[own])}
    own_text = " ".join(" ".join(_words(pair[own])) for pair in TEXTS.values())
    phrases, single = set(), set()
    for pair in TEXTS.values():
        if pair[own] == pair[other]:
            continue
        for part in _CUT.split(pair[other]):
            words = _words(part)
            phrase = " ".join(words)
            if len(words) >= 2 and not re.search(rf"\b{re.escape(phrase)}\b", own_text):
                phrases.add(phrase)
        words = _words(pair[other])
        if len(words) == 1 and words[0] not in own_words:
            single.add(words[0])
    return frozenset(phrases), frozenset(single)


@functools.lru_cache(maxsize=None)
def _phrase_patterns(language: str) -> list[tuple[str, re.Pattern]]:
    return [(p, re.compile(rf"\b{re.escape(p)}\b")) for p in sorted(foreign_texts(language)[0])]


class _Visible(HTMLParser):
    """The text a visitor reads or hears: text nodes, the title, and the attributes shown or spoken (aria-label,
    title, alt, placeholder, and the data-text-* the page's script shows). Scripts and styles are left out, and so
    is text marked with ``lang`` of another language than the page's."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
    SHOWN = ("aria-label", "title", "alt", "placeholder")

    def __init__(self, language: str):
        super().__init__(convert_charrefs=True)
        self.language = language
        self.stack: list[tuple[str, bool]] = []     # (tag, hidden: script/style or another language)
        self.parts: list[str] = []

    def _hidden(self) -> bool:
        return any(hidden for _, hidden in self.stack)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        lang = attrs.get("lang")
        hidden = tag in ("script", "style") or (lang is not None and tag != "html" and lang != self.language)
        if not hidden and not self._hidden():
            self.parts += [v for k, v in attrs.items() if v and (k in self.SHOWN or k.startswith("data-text-"))]
        if tag not in self.VOID:
            self.stack.append((tag, hidden))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID and self.stack and self.stack[-1][0] == tag:
            self.stack.pop()

    def handle_endtag(self, tag):
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                return

    def handle_data(self, data):
        if not self._hidden():
            self.parts.append(data)


def visible_text(html: str, language: str) -> str:
    parser = _Visible(language)
    parser.feed(html)
    parser.close()
    return " ".join(" ".join(_words(part)) for part in parser.parts)


def foreign_in(text: str, language: str) -> list[str]:
    found = [phrase for phrase, pattern in _phrase_patterns(language) if pattern.search(text)]
    found += sorted(foreign_texts(language)[1] & set(text.split()))   # whole words: "Python-package" is Dutch
    return found


# ---------------------------------------------------------------------------------------------------- the world

def _more_workspaces(world: World) -> None:
    """Workspaces of every size the catalogue has, a failed one with the hub's (English) message, and one in the
    shared local development environment."""
    bundles = list(CATALOGUE.bundles.values())
    sizes = {size.id: (bundle, size) for bundle in bundles for size in bundle.sizes}
    with world.app.state.portal.sessions() as session:
        template = session.get(Workspace, world.workspaces["minfin"])
        shared = session.scalar(select(Environment).where(Environment.name == "shared"))
        for index, (bundle, size) in enumerate(sizes.values()):
            session.add(Workspace(
                user=template.user, organisation=template.organisation,
                environment=shared if index == 0 else template.environment, server_name=f"lang-{index}",
                bundle_id=bundle.id, bundle_version=bundle.version, size_id=size.id,
                interface=bundle.interfaces[-1].value,
                status=WorkspaceStatus.FAILED if index == 1 else WorkspaceStatus.STOPPED,
                status_message="the hub could not start the server: Spawner failed" if index == 1 else None))
        session.commit()


def _pages(world: World) -> list[str]:
    with world.app.state.portal.sessions() as session:
        workspaces = [str(w) for w in session.scalars(select(Workspace.id).order_by(Workspace.id)).all()]
    return (["/", "/catalogue", "/workspaces", "/organisations/minfin", "/organisations/cbs", "/login",
             "/organisations/minfin/roles", "/organisations/cbs/roles",
             "/auth/callback", "/no-such-page", "/catalogue/no-such-bundle", "/catalogue?role=no-such-role",
             "/workspaces/999999", "/workspaces/resume"]
            + [f"/catalogue?role={role}" for role in CATALOGUE.roles]
            + [f"/catalogue/{bundle}" for bundle in CATALOGUE.bundles]
            + [f"/workspaces/{w}" for w in workspaces] + [f"/workspaces/{w}/open" for w in workspaces[:2]])


@pytest.mark.one_database      # the language of the pages does not depend on the database (tests/portal/conftest.py)
@pytest.mark.parametrize("language", ["nl", "en"])
def test_every_page_speaks_one_language(world, language):
    _more_workspaces(world)
    pages, found = 0, []
    for persona in PERSONAS:
        client = world.clients[persona.key]
        for path in _pages(world):
            response = client.get(path, headers={"Accept-Language": language}, follow_redirects=True)
            if "text/html" not in response.headers.get("content-type", ""):
                continue
            assert f'<html lang="{language}">' in response.text, (persona.key, path)
            pages += 1
            foreign = foreign_in(visible_text(response.text, language), language)
            if foreign:
                found.append(f"{persona.key} {path} ({response.status_code}): {foreign}")
    assert pages > 100, pages
    assert not found, f"{len(found)} {language} pages hold the other language's texts:\n  " + "\n  ".join(found)


def test_the_check_finds_the_other_language():
    """The check itself: English phrases and words in a Dutch page are found, text marked as English is not."""
    page = ('<html lang="nl"><body><h1>Werkplek</h1><p>Start workspace</p><td>small</td>'
            '<button aria-label="Stop workspace">Stop werkplek</button>'
            '<details><p lang="en">Spawner failed to start</p></details><script>var x = "My workspaces";</script>'
            '</body></html>')
    assert foreign_in(visible_text(page, "nl"), "nl") == ["start workspace", "stop workspace", "small"]
    english = '<html lang="en"><body><p>Start werkplek</p><p>Open source · JupyterLab</p></body></html>'
    assert foreign_in(visible_text(english, "en"), "en") == ["start werkplek"]
