"""The JSON Schemas: self-consistent, and every violation reported with path, value and what is expected."""

from __future__ import annotations

import copy
from typing import Any, Iterator

import pytest

from gereedschapskist.catalogue import load_catalogue
from gereedschapskist.catalogue.schema import check_schemas, fast_validator, raw_schemas, validator

from .conftest import TODAY, bundle, partner, role


def test_schemas_pass_their_own_checks():
    assert check_schemas() == []
    assert set(raw_schemas()) == {"common.schema.json", "role.schema.json", "bundle.schema.json",
                                  "partner.schema.json"}


def test_self_check_catches_a_property_without_description(monkeypatch):
    broken = copy.deepcopy(raw_schemas())
    del broken["role.schema.json"]["properties"]["id"]["description"]
    broken["role.schema.json"]["properties"]["extra"] = {"type": "object", "properties": {"x": {"description": "x"}}}
    monkeypatch.setattr("gereedschapskist.catalogue.schema.raw_schemas", lambda: broken)
    messages = {(p.path, p.message) for p in check_schemas()}
    assert ("$.properties.id", "has no description") in messages
    assert ("$.properties.extra", "has no description") in messages
    assert ("$.properties.extra", "objects must set additionalProperties: false") in messages


def _leaves(data: Any, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _leaves(value, path + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _leaves(value, path + (i,))


def _wrong(value: Any) -> Any:
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, (int, float)):
        return "lots"
    if isinstance(value, str):
        return ["a", "list"]
    if isinstance(value, list):
        return "not a list"
    return 42


def _set(data: Any, path: tuple, value: Any) -> Any:
    data = copy.deepcopy(data)
    if not path:
        return value
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return data


def _json_path(path: tuple) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


DOCUMENTS = {
    "bundle": ("bundles/bi/bi-typed.yaml", bundle("bi-typed", ["bi"])),
    "role": ("roles/typed.yaml", role("typed")),
    "partner": ("partners/typed.yaml", partner("typed")),
}
CASES = [(kind, path) for kind, (_, doc) in DOCUMENTS.items() for path in _leaves(doc) if path]


@pytest.mark.parametrize("kind, path", CASES, ids=[f"{k}:{_json_path(p)}" for k, p in CASES])
def test_wrong_type_anywhere_is_reported_at_that_field(tree, kind, path):
    rel, document = DOCUMENTS[kind]
    original = document
    for part in path:
        original = original[part]
    tree.write(rel, _set(document, path, _wrong(original)))
    result = load_catalogue(tree.root, today=TODAY)
    found = [p for p in result.problems if p.file == rel]
    assert found, f"no problem reported for {_json_path(path)}"
    at_field = [p for p in found if p.path == _json_path(path)]
    assert at_field, [p.format() for p in found]
    problem = at_field[0]
    assert problem.code.startswith("schema.")
    assert problem.line is not None
    assert problem.has_value and problem.value == _wrong(original)
    assert "expected" in problem.message or "not one of" in problem.message or "is not" in problem.message
    # the other files are untouched by one broken file
    assert {"bi-sql", "ml-python", "ml-gpu"} <= set(result.catalogue.bundles)
    assert_engines_agree(kind, _set(document, path, _wrong(original)))


def assert_engines_agree(kind: str, data: Any) -> None:
    """The compiled gate and the reference validator must give the same verdict."""
    assert fast_validator(kind).is_valid(data) == (not list(validator(kind).iter_errors(data)))


@pytest.mark.parametrize("kind, data", [
    ("bundle", bundle("bi-ok", ["bi"])),
    ("bundle", bundle("bi-ok", ["bi"], lifecycle={"status": "deprecated", "since": "2026-01-01", "successor": "x-y"})),
    ("bundle", bundle("bi-ok", ["bi"], lifecycle={"status": "active", "since": "2026-01-01"})),
    ("bundle", bundle("bi-ok", ["bi"], security_review={"reviewer": "Sec", "date": "2026-02-30",
                                                       "valid_until": "2027-01-01"})),
    ("bundle", bundle("bi--ok", ["bi"])),
    ("bundle", bundle("bi-ok", ["bi"], licence={"spdx": "X", "open_source": False})),
    ("partner", partner("ok")),
    ("role", role("ok")),
])
def test_fast_gate_and_reference_validator_agree(kind, data):
    assert_engines_agree(kind, data)


def test_every_problem_is_reported_not_just_the_first(tree):
    data = bundle("bi-many", ["bi"], version=1.1, supply_model="cheap", colour="blue")
    data["sizes"][1]["memory"] = "4 GB"
    del data["maintainers"]
    path = tree.bundle(data)
    memory_line = path.read_text().splitlines().index("  memory: 4 GB") + 1
    found = {p.path: p for p in load_catalogue(tree.root, today=TODAY).problems if p.file.endswith("bi-many.yaml")}
    assert set(found) == {"$.version", "$.supply_model", "$.colour", "$.sizes[1].memory", "$.maintainers"}
    assert "write the value in quotes" in found["$.version"].message
    assert found["$.sizes[1].memory"].format() == (
        f'bundles/bi/bi-many.yaml:{memory_line}: $.sizes[1].memory = "4 GB": has the wrong form; expected memory '
        "for the workspace (its limit and request), such as 4Gi: an amount of memory as a Kubernetes quantity in "
        'binary units (Mi, Gi or Ti), for example "4Gi"'
    )
    assert "is missing" in found["$.maintainers"].message
    assert found["$.colour"].message.startswith("unknown field")
    assert '"standard-contract"' in found["$.supply_model"].message


def test_unknown_field_suggests_the_close_name(tree):
    data = bundle("bi-typo", ["bi"])
    data["licence"]["opensource"] = data["licence"].pop("open_source")
    tree.bundle(data)
    found = [p for p in load_catalogue(tree.root, today=TODAY).problems if p.file.endswith("bi-typo.yaml")]
    messages = {p.path: p.message for p in found}
    assert messages["$.licence.opensource"] == "unknown field; did you mean 'open_source'?"
    assert messages["$.licence.open_source"].startswith("is missing")


def test_closed_source_needs_a_justification(tree):
    tree.bundle(bundle("bi-closed", ["bi"], licence={"spdx": "LicenseRef-Proprietary", "open_source": False}))
    found = [p for p in load_catalogue(tree.root, today=TODAY).problems if p.file.endswith("bi-closed.yaml")]
    assert [(p.path, p.code) for p in found] == [("$.licence.justification", "schema.required")]
    assert "open, unless" in found[0].message


def test_lifecycle_fields_depend_on_status(tree):
    tree.bundle(bundle("bi-a", ["bi"], lifecycle={"status": "active", "successor": "bi-sql"}))
    tree.bundle(bundle("bi-d", ["bi"], lifecycle={"status": "deprecated"}))
    tree.bundle(bundle("bi-r", ["bi"], lifecycle={"status": "retired", "since": "2026-01-01",
                                                  "retires_on": "2026-02-01"}))
    found = {(p.file.split("/")[-1], p.path, p.code) for p in load_catalogue(tree.root, today=TODAY).problems}
    assert ("bi-a.yaml", "$.lifecycle.successor", "schema.not-allowed") in found
    assert ("bi-d.yaml", "$.lifecycle.since", "schema.required") in found
    assert ("bi-d.yaml", "$.lifecycle.successor", "schema.required") in found
    assert ("bi-r.yaml", "$.lifecycle.retires_on", "schema.not-allowed") in found


@pytest.mark.parametrize("tag", ["latest", "", "has space", "x" * 129])
def test_image_tag_latest_and_odd_tags_are_refused(tree, tag):
    tree.bundle(bundle("bi-img", ["bi"], image={"repository": "ghcr.io/x/bi-img", "tag": tag}))
    found = [p for p in load_catalogue(tree.root, today=TODAY).problems if p.file.endswith("bi-img.yaml")]
    assert [(p.path, p.code) for p in found] == [("$.image.tag", "schema.pattern")]


def test_a_digest_must_be_a_real_sha256(tree):
    tree.bundle(bundle("bi-dig", ["bi"], image={"repository": "ghcr.io/x/bi-dig", "tag": "1.0.0",
                                                "digest": "sha256:abc"}))
    found = [p for p in load_catalogue(tree.root, today=TODAY).problems if p.file.endswith("bi-dig.yaml")]
    assert [(p.path, p.code) for p in found] == [("$.image.digest", "schema.pattern")]


@pytest.mark.parametrize("requirement", ["pandas", "pandas>=2", "pandas==2.*", "pandas~=2.3", "pandas==latest",
                                         "pandas ==2.3.3", "pandas==2.3.3; python_version<'3.12'"])
def test_unpinned_packages_are_refused(tree, requirement):
    tree.bundle(bundle("bi-pin", ["bi"], packages={"pypi": [requirement]}))
    found = [p for p in load_catalogue(tree.root, today=TODAY).problems if p.file.endswith("bi-pin.yaml")]
    assert [(p.path, p.code, p.value) for p in found] == [("$.packages.pypi[0]", "schema.pattern", requirement)]


def test_regions_outside_the_eu_are_refused(tree):
    data = partner("cloud-b")
    data["regions"].append({"id": "us-east-1", "name": "Virginia", "country": "US"})
    tree.write("partners/cloud-b.yaml", data)
    found = [p for p in load_catalogue(tree.root, today=TODAY).problems if p.file == "partners/cloud-b.yaml"]
    assert [(p.path, p.code, p.value) for p in found] == [("$.regions[1].country", "schema.enum", "US")]
