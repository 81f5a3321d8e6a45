"""Reading dataset metadata from a publication point (issue 15): DCAT-AP (DCAT-AP-NL fields, JSON-LD) and CKAN's
``package_search`` JSON, from a file or an http(s) URL.

One pass: :func:`parse` turns the document into :class:`Record` values and :class:`Problem` values (the record's
position and the field); :func:`store` writes the records, one transaction: a dataset is found by its source
identifier and updated, else created, so re-importing never duplicates. Records that cannot be stored (an unknown
organisation: fail closed) become problems too; nothing already stored is removed.

Fields read (DCAT-AP / CKAN): identifier (``dct:identifier`` / ``name``), title and description in Dutch and
English (``dct:title``/``dct:description`` with ``@language`` / ``title``, ``notes``, extras ``title_en``,
``notes_en``), the publisher as the owner organisation (``dct:publisher`` with ``skos:notation`` or
``foaf:name`` / ``organization.name``), the data owner (``dcat:contactPoint`` ``vcard:hasUID`` / extra
``data_owner``: a user name), keywords (``dcat:keyword``/``dcat:theme`` / ``tags``), the source URL
(``dcat:landingPage`` or ``@id`` / ``url``), category and sensitivity level (``gk:category``,
``gk:sensitivity`` / extras ``category``, ``sensitivity``; else from ``dct:accessRights``: PUBLIC → public,
RESTRICTED → internal, NON_PUBLIC → confidential, and the category ``other``), the data file (``gk:dataPath`` / extra
``data_path``, relative to the data store).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Dataset, DatasetCategory, MemberRoleName, Organisation, SensitivityLevel, User, utcnow


class SourceUnreadable(Exception):
    """The source could not be read or is no DCAT-AP/CKAN document (``reason`` says which)."""

    def __init__(self, message: str, *, reason: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class Record:
    position: int
    identifier: str
    title_nl: str
    title_en: str | None = None
    description_nl: str = ""
    description_en: str | None = None
    organisation: str | None = None
    data_owner: str | None = None
    category: DatasetCategory = DatasetCategory.OTHER
    sensitivity: SensitivityLevel = SensitivityLevel.INTERNAL
    keywords: list[str] = field(default_factory=list)
    source_url: str | None = None
    data_path: str | None = None


@dataclass(frozen=True)
class Problem:
    position: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"record {self.position} ({self.field}): {self.message}"


@dataclass
class Summary:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    problems: list[Problem] = field(default_factory=list)


ACCESS_RIGHTS = {"PUBLIC": SensitivityLevel.PUBLIC, "RESTRICTED": SensitivityLevel.INTERNAL,
                 "NON_PUBLIC": SensitivityLevel.CONFIDENTIAL}


def read_source(source: str, *, timeout: float = 30.0) -> Any:
    """The JSON document at ``source``: an http(s) URL (httpx) or a file."""
    if source.startswith(("http://", "https://")):
        import httpx
        try:
            response = httpx.get(source, timeout=timeout, follow_redirects=True)
            response.raise_for_status()
            text = response.text
        except httpx.HTTPError as exc:
            raise SourceUnreadable(f"{source}: {exc}", reason="source-unreachable") from None
    else:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise SourceUnreadable(f"{source}: {exc.strerror or exc}", reason="source-unreadable") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise SourceUnreadable(f"{source}: not JSON ({exc})", reason="source-not-json") from None


def _value(node: Any) -> str | None:
    if isinstance(node, list):
        node = node[0] if node else None
    if isinstance(node, dict):
        node = node.get("@value", node.get("@id"))
    return None if node is None else str(node).strip() or None


def _languages(node: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in node if isinstance(node, list) else [node]:
        if isinstance(item, dict) and "@value" in item:
            out.setdefault(str(item.get("@language") or "nl")[:2], str(item["@value"]).strip())
        elif isinstance(item, str):
            out.setdefault("nl", item.strip())
    return out


def _is_dataset(node: Any) -> bool:
    kinds = node.get("@type") if isinstance(node, dict) else None
    kinds = kinds if isinstance(kinds, list) else [kinds]
    return any(k in ("dcat:Dataset", "Dataset", "http://www.w3.org/ns/dcat#Dataset") for k in kinds)


def _enum(problems: list[Problem], position: int, name: str, enum: type, value: Any, default: Any) -> Any:
    if value in (None, ""):
        return default
    try:
        return enum(str(value).strip().lower())
    except ValueError:
        problems.append(Problem(position, name, f"{value!r}: expected one of {', '.join(e.value for e in enum)}"))
        return None


def _dcat_records(document: Any) -> list[Any]:
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        for key in ("@graph", "dcat:dataset", "dataset"):
            if isinstance(document.get(key), list):
                nodes = document[key]
                return [n for n in nodes if not isinstance(n, dict) or _is_dataset(n) or "@type" not in n]
        if _is_dataset(document):
            return [document]
    raise SourceUnreadable("no dcat:Dataset records found (a JSON-LD @graph, a dcat:Catalog's dcat:dataset, a list, "
                           "or CKAN's {\"result\": {\"results\": [...]}})", reason="source-not-dcat-or-ckan")


def _dcat(position: int, node: Any, problems: list[Problem]) -> Record | None:
    if not isinstance(node, dict):
        problems.append(Problem(position, "@type", "not a JSON object"))
        return None
    identifier = _value(node.get("dct:identifier"))
    if not identifier or len(identifier) > 255:
        problems.append(Problem(position, "dct:identifier", f"{identifier!r}: missing or longer than 255"))
        return None
    titles = _languages(node.get("dct:title"))
    if not titles.get("nl") and not titles.get("en"):
        problems.append(Problem(position, "dct:title", "missing (a title with @language nl or en)"))
        return None
    descriptions = _languages(node.get("dct:description"))
    publisher = node.get("dct:publisher")
    organisation = None
    if isinstance(publisher, dict):
        organisation = _value(publisher.get("skos:notation")) or _value(publisher.get("foaf:name"))
    elif publisher is not None:
        organisation = _value(publisher)
    contact = node.get("dcat:contactPoint")
    owner = _value(contact.get("vcard:hasUID")) if isinstance(contact, dict) else None
    keywords = [k for k in (_value(k) for k in _list(node.get("dcat:keyword"))) if k]
    keywords += [t.rsplit("/", 1)[-1] for t in (_value(t) for t in _list(node.get("dcat:theme"))) if t]
    rights = (_value(node.get("dct:accessRights")) or "").rsplit("/", 1)[-1].upper()
    before = len(problems)
    category = _enum(problems, position, "gk:category", DatasetCategory, _value(node.get("gk:category")),
                     DatasetCategory.OTHER)
    sensitivity = _enum(problems, position, "gk:sensitivity", SensitivityLevel, _value(node.get("gk:sensitivity")),
                        ACCESS_RIGHTS.get(rights, SensitivityLevel.INTERNAL))
    if len(problems) > before:
        return None
    return Record(position=position, identifier=identifier, title_nl=(titles.get("nl") or titles["en"])[:500],
                  title_en=(titles.get("en") or None) and titles["en"][:500],
                  description_nl=descriptions.get("nl") or descriptions.get("en") or "",
                  description_en=descriptions.get("en"), organisation=organisation, data_owner=owner,
                  category=category, sensitivity=sensitivity, keywords=keywords[:50],
                  source_url=(_value(node.get("dcat:landingPage")) or _value(node.get("@id")) or None),
                  data_path=_value(node.get("gk:dataPath")))


def _list(node: Any) -> list[Any]:
    return node if isinstance(node, list) else [] if node is None else [node]


def _ckan(position: int, node: Any, problems: list[Problem]) -> Record | None:
    if not isinstance(node, dict):
        problems.append(Problem(position, "name", "not a JSON object"))
        return None
    identifier = str(node.get("name") or node.get("id") or "").strip()
    if not identifier or len(identifier) > 255:
        problems.append(Problem(position, "name", f"{identifier!r}: missing or longer than 255"))
        return None
    title = str(node.get("title") or "").strip()
    if not title:
        problems.append(Problem(position, "title", "missing"))
        return None
    extras = {str(e.get("key")): e.get("value") for e in _list(node.get("extras")) if isinstance(e, dict)}
    organisation = node.get("organization")
    before = len(problems)
    category = _enum(problems, position, "extras.category", DatasetCategory, extras.get("category"),
                     DatasetCategory.OTHER)
    sensitivity = _enum(problems, position, "extras.sensitivity", SensitivityLevel, extras.get("sensitivity"),
                        SensitivityLevel.INTERNAL)
    if len(problems) > before:
        return None
    return Record(position=position, identifier=identifier, title_nl=title[:500],
                  title_en=(str(extras["title_en"])[:500] if extras.get("title_en") else None),
                  description_nl=str(node.get("notes") or ""), description_en=extras.get("notes_en"),
                  organisation=(organisation.get("name") if isinstance(organisation, dict) else None),
                  data_owner=extras.get("data_owner"), category=category, sensitivity=sensitivity,
                  keywords=[str(t.get("name")) for t in _list(node.get("tags")) if isinstance(t, dict)][:50],
                  source_url=node.get("url") or None, data_path=extras.get("data_path"))


def parse(document: Any) -> tuple[list[Record], list[Problem]]:
    """The records of a DCAT-AP or CKAN document, and the problems of those that cannot be read (1-based)."""
    problems: list[Problem] = []
    if isinstance(document, dict) and isinstance(document.get("result"), dict) \
            and isinstance(document["result"].get("results"), list):
        nodes, reader = document["result"]["results"], _ckan
    else:
        nodes, reader = _dcat_records(document), _dcat
    records = [r for r in (reader(i, node, problems) for i, node in enumerate(nodes, start=1)) if r is not None]
    return records, problems


def store(session: Session, *, records: list[Record], organisation: str | None = None,
          data_owner: str | None = None, accepted: frozenset[str] = frozenset()) -> Summary:
    """Create or update the datasets (by identifier); ``organisation``/``data_owner`` apply where a record names
    none. The owner organisation is one in the portal, or one the portal serves (``accepted``: its configured
    organisations, whose row is made here as on its first member's login); any other is refused per record (fail
    closed), and so is a data owner who is no data owner of it."""
    summary = Summary()
    organisations = {o.slug: o for o in session.scalars(select(Organisation))}
    by_name = {o.name.lower(): o for o in organisations.values()}
    for record in records:
        name = record.organisation or organisation
        owner_org = organisations.get(name or "") or by_name.get((name or "").lower())
        if owner_org is None and name in accepted:
            owner_org = organisations[name] = Organisation(slug=name, name=name)
            session.add(owner_org)
        if owner_org is None:
            summary.problems.append(Problem(record.position, "organisation", f"{name!r}: no such organisation in the "
                                            "portal (give --organisation, or add it first)"))
            continue
        owner = None
        username = record.data_owner or data_owner
        if username:
            owner = session.scalar(select(User).where(User.username == username))
            member = owner.membership(owner_org.id) if owner else None
            if owner is not None and (member is None or not member.has_role(MemberRoleName.DATA_OWNER)):
                summary.problems.append(Problem(record.position, "data_owner", f"{username!r} is no data owner of "
                                                f"{owner_org.slug!r}"))
                continue
        dataset = session.scalar(select(Dataset).where(Dataset.identifier == record.identifier))
        now = utcnow()
        if dataset is None:
            dataset = Dataset(identifier=record.identifier, auto_approval=True, imported_at=now)
            session.add(dataset)
            summary.created += 1
        else:
            summary.updated += 1
        dataset.title_nl, dataset.title_en = record.title_nl, record.title_en
        dataset.description_nl, dataset.description_en = record.description_nl, record.description_en
        dataset.organisation, dataset.data_owner = owner_org, owner
        dataset.category, dataset.sensitivity = record.category, record.sensitivity
        dataset.keywords, dataset.source_url, dataset.data_path = record.keywords, record.source_url, record.data_path
        dataset.updated_at = now
        session.flush()
    summary.skipped = len(summary.problems)
    return summary


def import_source(session: Session, *, source: str, organisation: str | None = None,
                  data_owner: str | None = None, accepted: frozenset[str] = frozenset()) -> Summary:
    """:func:`read_source`, :func:`parse` and :func:`store` (the caller commits); problems of both passes, by
    position."""
    records, problems = parse(read_source(source))
    summary = store(session, records=records, organisation=organisation, data_owner=data_owner, accepted=accepted)
    summary.problems = sorted(problems + summary.problems, key=lambda p: p.position)
    summary.skipped = len(summary.problems)
    return summary
