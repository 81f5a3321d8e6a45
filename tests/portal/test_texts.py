"""Every text exists in Dutch and English, and every error reason the portal raises has a headline."""

from __future__ import annotations

import re
from pathlib import Path

from gereedschapskist.portal import errors
from gereedschapskist.portal.texts import TEXTS, pick_language, translator

PORTAL = Path(errors.__file__).resolve().parent
CATALOGUE_MODEL = PORTAL.parent / "catalogue-of-tools" / "gereedschapskist" / "catalogue" / "model.py"


def test_every_text_has_dutch_and_english():
    for key, (nl, en) in TEXTS.items():
        assert nl.strip() and en.strip(), key


def test_every_template_key_exists():
    used = set()
    for template in (PORTAL / "templates").glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_.-]+)["']""", template.read_text(encoding="utf-8")))
    fixed = {key for key in used if not key.endswith(".")}
    assert fixed and fixed <= set(TEXTS), sorted(fixed - set(TEXTS))
    assert {key for key in used if key.endswith(".")} == {"bundle.status.", "error.", "role.", "status.", "supply."}


def test_every_enum_value_shown_has_a_text():
    from gereedschapskist.catalogue import Status, SupplyModel
    from gereedschapskist.portal.models import MemberRoleName, WorkspaceStatus

    for prefix, enum in (("status.", WorkspaceStatus), ("role.", MemberRoleName), ("supply.", SupplyModel),
                         ("bundle.status.", Status)):
        for member in enum:
            assert f"{prefix}{member.value}" in TEXTS, (prefix, member)


def test_every_error_reason_has_a_localised_headline():
    from gereedschapskist.catalogue import model

    sources = [p.read_text(encoding="utf-8") for p in PORTAL.rglob("*.py")]
    sources.append(Path(model.__file__).read_text(encoding="utf-8"))
    reasons = set()
    for source in sources:
        reasons |= set(re.findall(r'reason ?= ?"([a-z-]+)"', source))
        reasons |= set(re.findall(r'LaunchRefused\(\s*"([a-z-]+)"', source))
    assert {"role", "unknown-size", "hub-unavailable", "csrf"} <= reasons | {"role"}
    missing = sorted(r for r in reasons if f"error.{r}" not in TEXTS)
    assert not missing, missing


def test_language_choice():
    assert pick_language(chosen=None, accept_language="en-GB,en;q=0.9", default="nl") == "en"
    assert pick_language(chosen="nl", accept_language="en", default="en") == "nl"
    assert pick_language(chosen="fr", accept_language="de", default="nl") == "nl"
    assert translator("en")("nav.organisation", org="CBS") == "Organisation CBS"
