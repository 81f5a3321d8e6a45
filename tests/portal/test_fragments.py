"""Page parts kept in memory (issue 13, ``portal/fragments.py``): the catalogue's shelves per language and role set,
the site's navigation per language, path and kind of user. Kept or not, every user sees exactly their own page:
their roles' shelves, their links (admin, organisation), their language, their name — tested by alternating users
and languages on one portal, where a wrong key would show one user's part to another. Real portal and database."""

from __future__ import annotations

import re

from jinja2 import DictLoader, Environment

from gereedschapskist.portal.fragments import Fragments

EN, NL = {"Accept-Language": "en"}, {"Accept-Language": "nl"}


def _shelves(html: str) -> list[str]:
    return re.findall(r'<h2 id="role-([a-z-]+)">', html)


def _without_token(html: str) -> str:
    """The page less its CSRF token (each login has its own)."""
    return re.sub(r'(<input type="hidden" name="[^"]+" value=")[^"]+(">)', r"\1\2", html)


def _nav(html: str) -> str:
    return html[html.index("<nav"):html.index("</nav>")]


def test_each_user_sees_their_own_shelves_and_links_in_their_language_however_often_kept(app, client, login):
    fragments = app.state.portal.fragments
    people = {"ben": ["role:bi", "org:cbs"], "mia": ["role:ml", "role:dev", "org:minfin", "org-admin:minfin"],
              "pim": ["gereedschapskist:admins"]}
    seen: dict[tuple[str, str], str] = {}
    for _round in range(2):                            # the second round is served from what the first kept
        for name, groups in people.items():
            login(name, groups)
            for lang, headers in (("en", EN), ("nl", NL)):
                page = client.get("/catalogue", headers=headers)
                assert page.status_code == 200
                html = page.text
                assert f'<html lang="{lang}">' in html and f'<span class="who">{name.title()}</span>' in html, html[:400]
                nav = _nav(html)
                shelves = _shelves(html)
                if name == "ben":
                    assert shelves == ["bi"] and "/admin" not in nav and "/organisations/" not in nav, nav
                elif name == "mia":
                    assert shelves == ["dev", "ml"], shelves
                    assert 'href="/organisations/minfin"' in nav and "/organisations/minfin/contracts" in nav, nav
                    assert 'href="/admin"' not in nav
                else:
                    assert shelves == [] and 'href="/admin"' in nav and 'href="/admin/contracts"' in nav, nav
                assert re.search(r'<a href="/catalogue" aria-current="page">', nav), nav
                assert ("Mijn werkplekken" in nav) == (lang == "nl") and ("My workspaces" in nav) == (lang == "en")
                if _round == 0:
                    seen[(name, lang)] = _without_token(html)
                else:
                    assert _without_token(html) == seen[(name, lang)]   # the same page, kept parts and all
        if _round == 0:
            rendered = fragments.rendered
    assert fragments.rendered == rendered              # nothing rendered again in the second round
    # on another path the same user's navigation marks that page, not the catalogue
    login("mia", people["mia"])
    nav = _nav(client.get("/workspaces", headers=EN).text)
    assert '<a href="/workspaces" aria-current="page">' in nav and '<a href="/catalogue" aria-current' not in nav


def test_at_the_limit_everything_kept_is_let_go_and_rendered_again_as_asked():
    env = Environment(loader=DictLoader({"x.html": "{{ t('nav.home') }} {{ n }}"}), autoescape=True)
    fragments = Fragments(env, limit=2)
    assert fragments.render("x.html", 1, lang="en", n=1) == "Home 1"
    assert fragments.render("x.html", 1, lang="nl", n=1) == "Start 1"          # the language is in the key
    assert len(fragments) == 2 and fragments.rendered == 2
    assert fragments.render("x.html", 1, lang="en", n=1) == "Home 1" and fragments.rendered == 2   # kept
    fragments.render("x.html", 2, lang="en", n=2)         # a third key at the limit: the kept ones go
    assert len(fragments) == 1 and fragments.rendered == 3
    assert fragments.render("x.html", 1, lang="en", n=1) == "Home 1" and fragments.rendered == 4
