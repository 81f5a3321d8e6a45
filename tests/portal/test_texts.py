"""Every text exists in Dutch and English, and every error reason the portal raises has a headline."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from gereedschapskist.catalogue import model
from gereedschapskist.hub import launch
from gereedschapskist.portal import errors
from gereedschapskist.portal.texts import TEXTS, pick_language, reason_title, translator

PORTAL = Path(errors.__file__).resolve().parent
HUB = Path(launch.__file__).resolve().parent


def test_every_text_has_dutch_and_english():
    for key, (nl, en) in TEXTS.items():
        assert nl.strip() and en.strip(), key


def test_every_template_key_exists():
    used = set()
    for template in (PORTAL / "templates").glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_.-]+)["']""", template.read_text(encoding="utf-8")))
    fixed = {key for key in used if not key.endswith(".")}
    assert fixed and fixed <= set(TEXTS), sorted(fixed - set(TEXTS))
    assert {key for key in used if key.endswith(".")} == {"action.", "bundle.status.", "environment.kind.",
                                                          "environment.stage.", "error.", "role.", "status.", "supply.",
                                                          "why.", "contract.state.", "contract.stage.",
                                                          "contract.provisioner.", "contract.done.", "order.",
                                                          "sizes_on_request.field.", "sizes_on_request.state.", "bundle_request.state.", "bundle_request.done.",
                                                          "sizes_on_request.done.", "datasets.category.",
                                                          "datasets.sensitivity.", "access.state.", "access.field.",
                                                          "access.done.", "apps.audience.", "apps.done."}


def test_every_apps_text_built_from_a_value_exists():
    """The apps pages build keys from an app's audience and from what was just done (routes/apps.py's DONE)."""
    from gereedschapskist.portal.models import AudienceKind
    from gereedschapskist.portal.routes.apps import DONE

    assert {f"apps.audience.{kind.value}" for kind in AudienceKind} <= set(TEXTS)
    assert {f"apps.done.{done}" for done in DONE} <= set(TEXTS)


def test_every_access_text_built_from_a_value_exists():
    """The dataset and access-request pages build keys from a dataset's category and sensitivity level, a request's
    state, the decision reached (``?done=``) and the field a refusal names."""
    from gereedschapskist.portal.models import AccessRequestState, DatasetCategory, SensitivityLevel
    from gereedschapskist.portal.routes.datasets import DONE
    from gereedschapskist.portal.services.access import FIELDS

    keys = ([f"datasets.category.{c.value}" for c in DatasetCategory]
            + [f"datasets.sensitivity.{s.value}" for s in SensitivityLevel]
            + [f"access.state.{s.value}" for s in AccessRequestState] + [f"access.done.{d}" for d in DONE]
            + [f"access.field.{f}" for f in FIELDS])
    assert not [key for key in keys if key not in TEXTS]


def test_every_size_request_text_built_from_a_value_exists():
    """The sizes-on-request page builds keys from a request's state, the decision reached (``?done=``, a fixed set)
    and the field a refusal names."""
    from gereedschapskist.portal.models import SizeRequestState
    from gereedschapskist.portal.routes.size_requests import DONE
    from gereedschapskist.portal.services.size_requests import FIELDS

    keys = ([f"sizes_on_request.state.{s.value}" for s in SizeRequestState] + [f"sizes_on_request.done.{d}" for d in DONE]
            + [f"sizes_on_request.field.{f}" for f in FIELDS])
    assert not [key for key in keys if key not in TEXTS]


def test_every_contract_text_built_from_a_value_exists():
    """The contract pages build keys from a contract's state, stage and provisioner, the state a decision reached
    (``?done=``, only from a fixed set) and the order field a refusal names."""
    from gereedschapskist.portal.models import EnvironmentStage
    from gereedschapskist.portal.models.contract import ContractState
    from gereedschapskist.portal.routes.contracts import DONE
    from gereedschapskist.portal.services.contract_order import fields

    keys = ([f"contract.state.{s.value}" for s in ContractState] + [f"contract.stage.{s.value}" for s in EnvironmentStage]
            + ["contract.provisioner.local"] + [f"contract.done.{d}" for d in DONE] + [f"order.{f}" for f in fields()])
    assert not [key for key in keys if key not in TEXTS]


def test_every_reason_whose_message_pages_hide_has_a_text_to_show_instead():
    """Hub errors name internal addresses: pages show ``why.<reason>`` instead of the message."""
    hidden = {"hub-error", "hub-unavailable", "hub-not-configured", "hub-token", "start-failed"}
    assert not errors.HubError.public_message and not errors.HubUnavailable.public_message
    assert not errors.HubStartFailed.public_message and errors.HubRefused.public_message
    for reason in hidden:
        assert f"why.{reason}" in TEXTS, reason


def test_every_enum_value_shown_has_a_text():
    from gereedschapskist.catalogue import Status, SupplyModel
    from gereedschapskist.portal.models import EnvironmentKind, EnvironmentStage, MemberRoleName, WorkspaceStatus

    for prefix, enum in (("status.", WorkspaceStatus), ("role.", MemberRoleName), ("supply.", SupplyModel),
                         ("bundle.status.", Status), ("environment.kind.", EnvironmentKind),
                         ("environment.stage.", EnvironmentStage)):
        for member in enum:
            assert f"{prefix}{member.value}" in TEXTS, (prefix, member)


def test_every_size_of_the_catalogue_has_a_name():
    """Pages name a size by its title in the catalogue, else by its text ``size.<id>``: never by the bare id."""
    from gereedschapskist.catalogue import load

    for bundle in load().bundles.values():
        for size in bundle.sizes:
            assert size.title is not None or f"size.{size.id}" in TEXTS, (bundle.id, size.id)


def test_every_error_reason_has_a_localised_headline():
    sources = [p.read_text(encoding="utf-8") for p in PORTAL.rglob("*.py")]
    sources.append(Path(model.__file__).read_text(encoding="utf-8"))
    reasons = set()
    for source in sources:
        reasons |= set(re.findall(r'reason ?= ?"([a-z-]+)"', source))
        reasons |= set(re.findall(r'LaunchRefused\(\s*"([a-z-]+)"', source))
    assert {"role", "unknown-size", "hub-unavailable", "csrf"} <= reasons | {"role"}
    missing = sorted(r for r in reasons if f"error.{r}" not in TEXTS)
    assert not missing, missing


def refusal_reasons(files: list[Path], raisers: set[str]) -> set[str]:
    """The literal reasons given to ``raisers`` (as first argument or ``reason=``) in ``files``, read with ast."""
    found = set()
    for file in files:
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            name = getattr(node, "func", None)
            if not isinstance(node, ast.Call) or getattr(name, "id", getattr(name, "attr", None)) not in raisers:
                continue
            args = node.args[:1] + [k.value for k in node.keywords if k.arg == "reason"]
            found |= {a.value for a in args if isinstance(a, ast.Constant) and isinstance(a.value, str)}
    return found


def test_every_reason_the_hub_can_send_has_a_localised_headline():
    """The hub refuses launches with a reason header (its own reasons and the catalogue's); the portal passes the
    reason on to the user, so each one needs a Dutch and English headline — a new reason without one fails here."""
    reasons = refusal_reasons(sorted(HUB.rglob("*.py")), {"LaunchForbidden"})
    reasons |= refusal_reasons([Path(model.__file__)], {"LaunchRefused"})
    assert {"role", "unknown-bundle", "not-offered", "unknown-size", "unknown-interface", "interface-unavailable",
            "not-in-environment", "no-bundle", "bad-options"} <= reasons, reasons
    missing = sorted(r for r in reasons if f"error.{r}" not in TEXTS)
    assert not missing, missing
    for reason in reasons:
        for language in ("nl", "en"):
            assert reason_title(language, reason) != reason_title(language, "no-such-reason"), (language, reason)


def test_reason_title():
    assert reason_title("en", "role") == "This bundle is not for your role"
    assert reason_title("nl", "not-in-environment").startswith("Dit pakket wordt in de omgeving")
    assert reason_title("en", "never-heard-of-it") == "Something went wrong"


def test_language_choice():
    assert pick_language(chosen=None, accept_language="en-GB,en;q=0.9", default="nl") == "en"
    assert pick_language(chosen="nl", accept_language="en", default="en") == "nl"
    assert pick_language(chosen="fr", accept_language="de", default="nl") == "nl"
    assert translator("en")("nav.organisation", org="CBS") == "Organisation CBS"
