"""What a user may choose, from the catalogue model: bundles of their roles, sizes, interfaces.

Used for the local backend's spawn form (:func:`render_form` / :func:`options_from_form`); the
Kubernetes backend shows the same choices through KubeSpawner's profile list
(:mod:`.kubernetes`). Retired bundles never appear, deprecated ones name their successor. Sizes larger than the
local machine (:mod:`gereedschapskist.core.capacity`) are left out, with a note saying which and why.

A member of an organisation that works under a standard contract (:mod:`.launch`) sees that contract's offer
(:func:`contract_choices`): its bundles, the sizes offered to them today, and the form sends the environment's name
and organisation with the launch; a contract that is not active shows why, and nothing to start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from html import escape
from typing import TYPE_CHECKING, Iterable, Mapping

from gereedschapskist.catalogue import Bundle, Catalogue, Size

from gereedschapskist.core.capacity import Capacity, Shortfall, shortfall
from gereedschapskist.core.contract_environment import ContractEnvironment
from gereedschapskist.core.groups import organisations_of, roles_of
from .interfaces import InterfaceAvailability, InterfaceStatus

if TYPE_CHECKING:
    from .launch import ContractEnvironments


@dataclass(frozen=True, slots=True)
class BundleChoice:
    bundle: Bundle
    sizes: tuple[Size, ...]
    interfaces: tuple[InterfaceStatus, ...]
    deprecation: str | None  # for people, Dutch / English; None when active
    too_large: tuple[Shortfall, ...] = ()   # sizes left out: larger than this machine

    @property
    def startable(self) -> bool:
        return bool(self.sizes) and any(i.available for i in self.interfaces)


def deprecation_note(bundle: Bundle, catalogue: Catalogue) -> str | None:
    if not bundle.deprecated:
        return None
    successor = bundle.lifecycle.successor
    if successor and successor in catalogue.bundles:
        title = catalogue.bundles[successor].title
        note = (f"Verouderd — gebruik liever {title.nl} ({successor}) / "
                f"Deprecated — use {title.en} ({successor}) instead")
    else:
        note = "Verouderd / Deprecated"
    if bundle.lifecycle.retires_on:
        note += f" · stopt op / retires on {bundle.lifecycle.retires_on.isoformat()}"
    return note


def choices_for(
    catalogue: Catalogue,
    groups: Iterable[str],
    interfaces: InterfaceAvailability,
    environment_bundles: Iterable[str] | None = None,
    capacity: Capacity | None = None,
    offered_sizes: Iterable[str] | None = None,
) -> list[BundleChoice]:
    """The bundles a user with these groups may start here, in catalogue order (``offered_sizes``: only these
    ``bundle/size``, a contract's offer; None: every size)."""
    allowed = None if environment_bundles is None else set(environment_bundles)
    sizes_allowed = None if offered_sizes is None else set(offered_sizes)
    choices = []
    for bundle in catalogue.offered_for(roles_of(groups)):
        if allowed is not None and bundle.id not in allowed:
            continue
        shortfalls = {size.id: shortfall(size, capacity) for size in bundle.sizes}
        choices.append(BundleChoice(
            bundle=bundle,
            sizes=tuple(size for size in bundle.sizes if shortfalls[size.id] is None
                        and (sizes_allowed is None or f"{bundle.id}/{size.id}" in sizes_allowed)),
            too_large=tuple(short for short in shortfalls.values() if short is not None),
            interfaces=tuple(interfaces.status(i, bundle) for i in bundle.interfaces),
            deprecation=deprecation_note(bundle, catalogue),
        ))
    return choices


@dataclass(frozen=True)
class ContractOffer:
    """What the spawn form offers a user: ``choices``, and — for a member of an organisation under a standard
    contract — the contract environment they start in, or why they cannot start (``refusal``)."""

    choices: list[BundleChoice]
    environment: ContractEnvironment | None = None
    refusal: str | None = None
    notes: tuple[str, ...] = field(default=())


def contract_choices(catalogue: Catalogue, groups: Iterable[str], interfaces: InterfaceAvailability,
                     contracts: "ContractEnvironments | None", *, username: str, capacity: Capacity | None = None,
                     today: date | None = None) -> ContractOffer:
    """The form's offer under the launch rule of :mod:`.launch`: the shared environment's choices for users of no
    organisation under contract; else the contract environment of their organisation (an active one first) with
    exactly what it offers this user today."""
    from .launch import LaunchForbidden

    groups = list(groups)
    today = today or date.today()
    try:
        environments = {} if contracts is None else contracts.load()
    except LaunchForbidden as refused:
        return ContractOffer([], refusal=refused.message)
    mine = set(organisations_of(groups))
    theirs = sorted((env for env in environments.values() if env.organisation in mine),
                    key=lambda env: (env.state != "active", env.name))
    if not theirs:
        return ContractOffer(choices_for(catalogue, groups, interfaces, capacity=capacity))
    environment = theirs[0]
    if environment.state != "active":
        why = f" {environment.reason}" if environment.reason else ""
        return ContractOffer([], environment=environment,
                             refusal=f"Contract {environment.contract} ({environment.name}) is {environment.state}: "
                                     f"no workspaces start in its environment.{why}")
    offered = set(environment.sizes) | {e.size for e in environment.extra_sizes
                                        if e.username == username and today <= e.ends_on}
    choices = choices_for(catalogue, groups, interfaces, environment_bundles=environment.bundles, capacity=capacity,
                          offered_sizes=offered)
    return ContractOffer(choices, environment=environment)


def _selected(flag: bool) -> str:
    return " selected" if flag else ""


def render_form(choices: list[BundleChoice], previous: Mapping[str, str] | None = None,
                contract: ContractOffer | None = None) -> str:
    """The HTML inside JupyterHub's spawn form: one radio per bundle, its sizes and interfaces (under a standard
    contract: which, and the environment's name and organisation as hidden fields)."""
    previous = previous or {}
    head = ""
    if contract is not None and contract.refusal is not None:
        return ('<p class="alert alert-danger gk-contract-refused" role="alert">Er kan nu geen werkplek starten / '
                f'No workspace can start now: {escape(contract.refusal)}</p>')
    if contract is not None and contract.environment is not None:
        env = contract.environment
        head = (f'<p class="gk-contract">Standaardcontract / Standard contract {env.contract} '
                f'(<code>{escape(env.name)}</code>): het aanbod van het contract / the contract\'s offer</p>\n'
                f'<input type="hidden" name="environment" value="{escape(env.name)}">\n'
                f'<input type="hidden" name="organisation" value="{escape(env.organisation)}">\n')
    if not choices:
        return head + ('<p class="alert alert-warning" role="alert">Je rollen geven geen toegang tot bundels. '
                       'Vraag je organisatiebeheerder om een rol. / Your roles give access to no bundles; ask your '
                       'organisation admin for a role.</p>')
    chosen = previous.get("bundle")
    if chosen not in {c.bundle.id for c in choices if c.startable}:
        chosen = next((c.bundle.id for c in choices if c.startable), None)
    parts = ['<fieldset class="gk-bundles"><legend>Bundel / Bundle</legend>']
    for choice in choices:
        b = choice.bundle
        bid = escape(b.id)
        disabled = "" if choice.startable else " disabled"
        checked = " checked" if b.id == chosen else ""
        parts.append('<div class="gk-bundle" style="margin-bottom:1em">')
        parts.append(f'<input type="radio" name="bundle" id="bundle-{bid}" value="{bid}"{checked}{disabled}> '
                     f'<label for="bundle-{bid}"><strong>{escape(b.title.nl)}</strong> / {escape(b.title.en)} '
                     f'<code>{bid} {escape(b.version)}</code></label>')
        if choice.deprecation:
            parts.append(f'<div class="gk-deprecated text-warning">{escape(choice.deprecation)}</div>')
        parts.append(f'<div class="gk-description text-muted">{escape(b.description.en)}</div>')
        parts.append(f'<label for="size-{bid}">Grootte / Size</label> '
                     f'<select name="size--{bid}" id="size-{bid}">')
        for size in choice.sizes:
            sel = _selected(b.id == previous.get("bundle") and size.id == previous.get("size"))
            parts.append(f'<option value="{escape(size.id)}"{sel}>{escape(size.id)} — {escape(size.label)}</option>')
        parts.append('</select> ')
        for short in choice.too_large:
            parts.append(f'<div class="gk-too-large text-muted">{escape(too_large_note(short))}</div>')
        parts.append(f'<label for="interface-{bid}">Omgeving / Interface</label> '
                     f'<select name="interface--{bid}" id="interface-{bid}">')
        for status in choice.interfaces:
            label = status.interface.label if status.available else f"{status.interface.label} — {status.note}"
            dis = "" if status.available else " disabled"
            parts.append(f'<option value="{status.interface.value}"{dis}>{escape(label)}</option>')
        parts.append('</select>')
        unavailable = [s.note for s in choice.interfaces if not s.available]
        for note in unavailable:
            parts.append(f'<div class="gk-unavailable text-muted">{escape(note)}</div>')
        parts.append('</div>')
    parts.append('</fieldset>')
    return head + "\n".join(parts)


def too_large_note(short: Shortfall) -> str:
    asked, has = short.asked.describe(), short.available.describe()
    return (f"Formaat {short.size_id} ({asked}) wordt hier niet aangeboden: deze machine heeft {has} / "
            f"Size {short.size_id} ({asked}) is not offered here: this machine has {has}")


def options_from_form(formdata: Mapping[str, list[str]]) -> dict[str, str]:
    """Form fields → user_options ``{"bundle", "size", "interface"[, "environment", "organisation"]}`` (validation
    happens at launch)."""
    def first(key: str) -> str | None:
        values = formdata.get(key) or [None]
        return values[0]

    bundle = first("bundle")
    options: dict[str, str] = {}
    if bundle:
        options["bundle"] = bundle
        for field in ("size", "interface"):
            value = first(f"{field}--{bundle}")
            if value:
                options[field] = value
    for where in ("environment", "organisation"):
        value = first(where)
        if value:
            options[where] = value
    return options
