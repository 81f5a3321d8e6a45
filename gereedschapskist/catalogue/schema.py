"""The catalogue's JSON Schemas (draft 2020-12): loading, self-checks and friendly errors.

The schema files in ``catalogue-of-tools/schema/`` are the only definition of the
format. This module turns every schema violation into a :class:`Problem` that names
the field path, the bad value and what is expected (taken from the schema's own
``description`` and ``examples``), so the schema doubles as the documentation.
"""

from __future__ import annotations

import difflib
import json
import re
from functools import cache
from pathlib import Path
from importlib import resources
from typing import Any, Iterator

from typing import TYPE_CHECKING

import jsonschema_rs

if TYPE_CHECKING:  # python-jsonschema is imported only when a file fails (its import costs ~1.5 s)
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError
    from referencing import Registry

from .problems import Problem, json_path
from .safeyaml import Document

KINDS = ("role", "bundle", "partner")
_BASE = "https://gereedschapskist.nl/schema/"
_REQUIRED = re.compile(r"^'(.+)' is a required property")


def _schema_files():
    return resources.files("gereedschapskist.catalogue.schemas")


@cache
def raw_schemas() -> dict[str, dict[str, Any]]:
    """Every schema file by name (``bundle.schema.json`` → dict)."""
    out = {}
    for entry in _schema_files().iterdir():
        if entry.name.endswith(".schema.json"):
            out[entry.name] = json.loads(entry.read_text(encoding="utf-8"))
    return out


@cache
def _registry() -> Registry:
    from referencing import Registry, Resource

    return Registry().with_resources(
        (_BASE + name, Resource.from_contents(schema)) for name, schema in raw_schemas().items()
    )


@cache
def validator(kind: str) -> Draft202012Validator:
    """A validator for one kind, on the schema with its ``$ref``s inlined.

    The schema files keep shared definitions in ``common.schema.json``; inlining them once here
    (they are not recursive) spares the validator a registry lookup per reference, which halves
    the cost of checking a large catalogue. The registry stays for any reference left.
    """
    from jsonschema import Draft202012Validator, FormatChecker

    return Draft202012Validator(
        _inline(raw_schemas()[f"{kind}.schema.json"]), registry=_registry(), format_checker=FormatChecker()
    )


@cache
def fast_validator(kind: str) -> jsonschema_rs.Validator:
    """A compiled (Rust) validator for the same schema: answers "valid?" in microseconds.

    Most catalogue files are valid, so :func:`validate` asks this one first and only runs the
    (slower, ~1 ms per file) reference validator above for files that fail, to explain every
    problem. tests/catalogue/test_schema.py checks that both agree on every test document.
    """
    return jsonschema_rs.Draft202012Validator(_inline(raw_schemas()[f"{kind}.schema.json"]), validate_formats=True)


def _inline(node: Any) -> Any:
    if isinstance(node, list):
        return [_inline(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node and node["$ref"].split("#")[0] in raw_schemas():
        target = _inline(_target(node["$ref"]))
        siblings = {k: _inline(v) for k, v in node.items() if k != "$ref"}
        return {"allOf": [target], **siblings} if siblings.keys() - {"description", "examples"} else target
    return {key: _inline(value) for key, value in node.items()}


def _target(ref: str) -> Any:
    name, _, pointer = ref.partition("#")
    target: Any = raw_schemas()[name]
    for part in pointer.strip("/").split("/") if pointer else []:
        target = target[part]
    return target


def check_schemas() -> list[Problem]:
    """Self-check of the schema files: valid draft 2020-12, closed objects, a description on every field.

    ``file`` of these problems is the schema file's absolute path (the schema is the project's, not the tree's).
    """
    problems = []
    folder = Path(str(_schema_files()))
    for name, schema in sorted(raw_schemas().items()):
        file = str(folder / name)
        try:
            jsonschema_rs.meta.validate(schema)
        except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError) as exc:
            problems.append(Problem(file=file, code="schema.self-check",
                                    message=f"not a valid draft 2020-12 schema: {str(exc).splitlines()[0]}"))
            continue
        if schema.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
            problems.append(Problem(file=file, code="schema.self-check", message="$schema must be draft 2020-12"))
        problems.extend(Problem(file=file, path=where, message=message, code="schema.self-check")
                        for where, message in _walk_schema(schema, "$"))
    return problems


def _walk_schema(node: Any, where: str) -> Iterator[tuple[str, str]]:
    """Yield (schema path, message) for every field definition lacking a description or a closed object."""
    if not isinstance(node, dict):
        return
    if node.get("type") == "object" and "properties" in node and node.get("additionalProperties") is not False:
        yield where, "objects must set additionalProperties: false"
    for name, sub in node.get("properties", {}).items():
        if isinstance(sub, dict) and "description" not in sub:
            yield f"{where}.properties.{name}", "has no description"
        yield from _walk_schema(sub, f"{where}.properties.{name}")
    # ``if`` holds conditions, not field definitions, so it is not walked
    for key in ("items", "then", "else", "not"):
        yield from _walk_schema(node.get(key), f"{where}.{key}")
    for key in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(node.get(key, [])):
            yield from _walk_schema(sub, f"{where}.{key}[{i}]")
    for name, sub in node.get("$defs", {}).items():
        yield from _walk_schema(sub, f"{where}.$defs.{name}")


# --------------------------------------------------------------------------- describing fields


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not ref:
        return schema
    base = _resolve(_target(ref))
    merged = dict(base)
    merged.update({k: v for k, v in schema.items() if k != "$ref"})
    if "description" in schema and "description" in base and schema["description"] != base["description"]:
        # the field's own meaning first, then the shared rule for its form
        merged["description"] = f"{schema['description']}: {base['description']}"
    return merged


def describe(kind: str, path: tuple[str | int, ...]) -> dict[str, Any]:
    """The (resolved) schema of the field at ``path``; ``{}`` if the path is not in the schema."""
    node = _resolve(raw_schemas()[f"{kind}.schema.json"])
    for part in path:
        if isinstance(part, int):
            sub = node.get("items")
        else:
            sub = node.get("properties", {}).get(part)
        if not isinstance(sub, dict):
            return {}
        node = _resolve(sub)
    return node


def expected(schema: dict[str, Any]) -> str:
    text = schema.get("description", "")
    examples = schema.get("examples")
    if examples:
        text += f", for example {json.dumps(examples[0], ensure_ascii=False)}"
    return f"expected {text}" if text else ""


# --------------------------------------------------------------------------- validation


def validate(kind: str, document: Document, file: str) -> list[Problem]:
    if fast_validator(kind).is_valid(document.data):
        return []
    errors = sorted(validator(kind).iter_errors(document.data), key=lambda e: list(map(str, e.absolute_path)))
    problems: list[Problem] = []
    for error in errors:
        problems.extend(_translate(kind, error, document, file))
    if not problems:  # the two validators disagree: never let a file through unexplained
        for error in fast_validator(kind).iter_errors(document.data):
            path = tuple(error.instance_path)
            problems.append(Problem(file=file, line=document.line_of(path), path=json_path(path),
                                    message=error.message, code="schema.invalid"))
    return problems


def _type_name(value: Any) -> str:
    if value is None:
        return "empty (null)"
    return {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list", dict: "a mapping"}.get(
        type(value), type(value).__name__
    )


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _translate(kind: str, error: ValidationError, document: Document, file: str) -> Iterator[Problem]:
    path = tuple(error.absolute_path)
    field = describe(kind, path)
    keyword = error.validator
    instance = error.instance

    def problem(message: str, code: str, at: tuple = path, value: Any = instance, with_value: bool = True) -> Problem:
        kwargs = {"value": value} if with_value else {}
        return Problem(file=file, line=document.line_of(at), path=json_path(at), message=message,
                       code=f"schema.{code}", **kwargs)

    if keyword == "required":
        match = _REQUIRED.match(error.message)
        name = match.group(1) if match else "?"
        at = path + (name,)
        condition = " for this status" if "then" in error.absolute_schema_path else ""
        yield problem(_join(f"is missing{condition}", expected(describe(kind, at))), "required",
                      at=at, with_value=False)
    elif keyword == "additionalProperties":
        allowed = sorted(field.get("properties", {}))
        for name in sorted(set(instance) - set(allowed)):
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"allowed here: {', '.join(allowed)}"
            yield problem(f"unknown field; {hint}", "unknown-field", at=path + (name,), with_value=False)
    elif keyword == "type":
        want = error.validator_value
        hint = ""
        if want == "string" and isinstance(instance, (int, float, bool)):
            hint = "write the value in quotes"
        yield problem(_join(f"is {_type_name(instance)}, not {_human_type(want)}", hint, expected(field)), "type")
    elif keyword == "enum":
        choices = ", ".join(json.dumps(c) for c in error.validator_value)
        yield problem(f"is not one of {choices}", "enum")
    elif keyword in ("pattern", "format"):
        yield problem(_join("has the wrong form", expected(field)), keyword)
    elif keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        bound = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "more than",
                 "exclusiveMaximum": "less than"}[keyword]
        yield problem(_join(f"must be {bound} {error.validator_value}", expected(field)), "range")
    elif keyword in ("minLength", "maxLength"):
        bound = "at least" if keyword == "minLength" else "at most"
        yield problem(_join(f"must be {bound} {error.validator_value} characters long", expected(field)), "length")
    elif keyword in ("minItems", "maxItems"):
        bound = "at least" if keyword == "minItems" else "at most"
        yield problem(_join(f"must list {bound} {error.validator_value} item(s)", expected(field)), "items")
    elif keyword == "uniqueItems":
        seen, dups = [], []
        for item in instance:
            (dups if item in seen else seen).append(item)
        yield problem(f"lists {json.dumps(dups[0], ensure_ascii=False)} more than once; keep one", "duplicate-item")
    elif keyword == "minProperties":
        yield problem(_join("is empty", expected(field)), "empty")
    elif keyword == "not":
        yield problem(f"is not allowed here: {error.schema.get('description', 'remove it')}", "not-allowed")
    else:  # a keyword this translator does not know yet: still name the place
        yield problem(error.message, keyword or "invalid")


def _human_type(want: Any) -> str:
    names = {"string": "text", "number": "a number", "integer": "a whole number", "boolean": "true or false",
             "array": "a list", "object": "a mapping (field: value lines)", "null": "empty"}
    if isinstance(want, list):
        return " or ".join(names.get(w, w) for w in want)
    return names.get(want, str(want))
