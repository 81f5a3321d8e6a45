"""What a user may choose, from the catalogue model: bundles of their roles, sizes, interfaces.

Used for the local backend's spawn form (:func:`render_form` / :func:`options_from_form`); the
Kubernetes backend shows the same choices through KubeSpawner's profile list
(:mod:`.kubernetes`). Retired bundles never appear, deprecated ones name their successor. Sizes larger than the
local machine (:mod:`gereedschapskist.core.capacity`) are left out, with a note saying which and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Iterable, Mapping

from gereedschapskist.catalogue import Bundle, Catalogue, Size

from gereedschapskist.core.capacity import Capacity, Shortfall, shortfall
from gereedschapskist.core.groups import roles_of
from .interfaces import InterfaceAvailability, InterfaceStatus


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
) -> list[BundleChoice]:
    """The bundles a user with these groups may start here, in catalogue order."""
    allowed = None if environment_bundles is None else set(environment_bundles)
    choices = []
    for bundle in catalogue.offered_for(roles_of(groups)):
        if allowed is not None and bundle.id not in allowed:
            continue
        shortfalls = {size.id: shortfall(size, capacity) for size in bundle.sizes}
        choices.append(BundleChoice(
            bundle=bundle,
            sizes=tuple(size for size in bundle.sizes if shortfalls[size.id] is None),
            too_large=tuple(short for short in shortfalls.values() if short is not None),
            interfaces=tuple(interfaces.status(i, bundle) for i in bundle.interfaces),
            deprecation=deprecation_note(bundle, catalogue),
        ))
    return choices


def _selected(flag: bool) -> str:
    return " selected" if flag else ""


def render_form(choices: list[BundleChoice], previous: Mapping[str, str] | None = None) -> str:
    """The HTML inside JupyterHub's spawn form: one radio per bundle, its sizes and interfaces."""
    previous = previous or {}
    if not choices:
        return ('<p class="alert alert-warning" role="alert">Je rollen geven geen toegang tot bundels. '
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
    return "\n".join(parts)


def too_large_note(short: Shortfall) -> str:
    asked, has = short.asked.describe(), short.available.describe()
    return (f"Formaat {short.size_id} ({asked}) wordt hier niet aangeboden: deze machine heeft {has} / "
            f"Size {short.size_id} ({asked}) is not offered here: this machine has {has}")


def options_from_form(formdata: Mapping[str, list[str]]) -> dict[str, str]:
    """Form fields → user_options ``{"bundle", "size", "interface"}`` (validation happens at launch)."""
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
    return options
