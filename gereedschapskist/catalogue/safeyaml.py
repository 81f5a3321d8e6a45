"""Reading one catalogue file, defensively.

Catalogue files arrive by pull request from people outside the team, so this reader
treats them as hostile: size-capped, strict UTF-8, libyaml's safe composer only,
no anchors/aliases (no alias bombs), no tags beyond plain data, no duplicate keys,
bounded nesting, and symbolic links must stay inside the catalogue. It returns the
data together with a map from field path to line number, so that every later error
can point at a line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32

try:  # libyaml is bundled with PyYAML's wheels; it is ~10x faster than the pure parser.
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Loader = yaml.SafeLoader

_T = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_T + "str", _T + "int", _T + "float", _T + "bool", _T + "null", _T + "timestamp"}
_ALLOWED_TAGS = _SCALAR_TAGS | {_T + "map", _T + "seq"}
_CONSTRUCTOR = SafeConstructor()

Path_ = tuple[str | int, ...]


class UnsafeDocument(Exception):
    """The file cannot be read as catalogue data. Carries a line (1-based) where known."""

    def __init__(self, message: str, code: str, line: int | None = None, path: Path_ = ()):
        super().__init__(message)
        self.message = message
        self.code = code
        self.line = line
        self.path = path


@dataclass(frozen=True, slots=True)
class Document:
    data: Any
    lines: dict[Path_, int]

    def line_of(self, path: Path_) -> int | None:
        """The line of the field at ``path``, or of its nearest parent that has one."""
        path = tuple(path)
        while True:
            line = self.lines.get(path)
            if line is not None or not path:
                return line
            path = path[:-1]


def check_inside(path: Path, root: Path) -> None:
    """Refuse a path that is, or passes through, a symbolic link leading out of ``root``."""
    real_root = root.resolve()
    real = path.resolve()
    if real != real_root and real_root not in real.parents:
        raise UnsafeDocument(
            f"is a symbolic link to {real}, outside the catalogue; "
            "replace the link with the file itself",
            "file.symlink-outside",
        )


def read_document(path: Path, root: Path, *, may_be_link: bool = True) -> Document:
    """Read and compose one YAML file under ``root``; raise :class:`UnsafeDocument` on anything unsafe.

    ``may_be_link=False`` is for callers that have already seen (e.g. via ``os.scandir``) that ``path``
    is not a symbolic link and that its folder was checked; it saves resolving every path.
    """
    if may_be_link:
        check_inside(path, root)
    try:
        size = os.stat(path).st_size
        if size > MAX_BYTES:
            raise UnsafeDocument(
                f"file is {size:,} bytes, over the limit of {MAX_BYTES:,} bytes (1 MiB); "
                "a catalogue file is a few kilobytes",
                "file.too-large",
            )
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise UnsafeDocument(f"cannot be read: {exc.strerror or exc}", "file.unreadable") from exc
    if len(raw) > MAX_BYTES:  # grew while we looked
        raise UnsafeDocument(f"file is over the limit of {MAX_BYTES:,} bytes (1 MiB)", "file.too-large")
    return parse_document(raw)


def parse_document(raw: bytes) -> Document:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise UnsafeDocument(
            f"is not valid UTF-8: byte 0x{raw[exc.start]:02x} at position {exc.start}; "
            "save the file as UTF-8",
            "file.encoding",
            line=line,
        ) from exc
    if "\x00" in text:
        raise UnsafeDocument("contains a NUL character; save the file as plain UTF-8 text", "file.encoding",
                             line=text.count("\n", 0, text.index("\x00")) + 1)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "invalid YAML"
        raise UnsafeDocument(f"is not valid YAML: {what}", "yaml.syntax",
                             line=mark.line + 1 if mark else None) from exc
    except yaml.YAMLError as exc:
        raise UnsafeDocument(f"is not valid YAML: {exc}", "yaml.syntax") from exc
    finally:
        loader.dispose()
    if node is None:
        raise UnsafeDocument("is empty; a catalogue file holds one YAML mapping", "file.empty", line=1)
    lines: dict[Path_, int] = {}
    data = _build(node, (), lines, set(), 0, _first_alias_line(text))
    return Document(data, lines)


def _first_alias_line(text: str) -> int | None:
    """The line of the first ``*alias``: the composed tree shares the anchored node, so it only knows the anchor's."""
    if "*" not in text:
        return None
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            return event.start_mark.line + 1
    return None


def _build(node: yaml.Node, path: Path_, lines: dict[Path_, int], seen: set[int], depth: int,
           alias_line: int | None) -> Any:
    line = node.start_mark.line + 1
    lines.setdefault(path, line)
    if id(node) in seen:
        raise UnsafeDocument(
            "uses a YAML alias (*name); anchors and aliases are not allowed in the catalogue, "
            "write the value out in full",
            "yaml.alias", line=alias_line or line, path=path,
        )
    seen.add(id(node))
    if depth > MAX_DEPTH:
        raise UnsafeDocument(f"is nested more than {MAX_DEPTH} levels deep", "yaml.too-deep", line=line, path=path)
    if node.tag not in _ALLOWED_TAGS:
        raise UnsafeDocument(
            f"uses the tag {node.tag.replace(_T, '!!')}; only plain text, numbers, true/false, "
            "dates, lists and mappings are allowed",
            "yaml.tag", line=line, path=path,
        )
    if isinstance(node, yaml.ScalarNode):
        if node.tag == _T + "timestamp":
            return node.value  # dates stay text: the schema checks their format
        return _CONSTRUCTOR.yaml_constructors[node.tag](_CONSTRUCTOR, node)
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), lines, seen, depth + 1, alias_line) for i, item in enumerate(node.value)]
    result: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key_line = key_node.start_mark.line + 1
        if key_node.tag == _T + "merge":
            raise UnsafeDocument("uses a YAML merge key (<<); write the fields out in full",
                                 "yaml.merge", line=key_line, path=path)
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _T + "str":
            shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else "a list or mapping"
            raise UnsafeDocument(
                f"has a key {shown!r} that is not plain text; field names are words such as 'title' "
                "(quote a key like yes, no, on or a number)",
                "yaml.key-type", line=key_line, path=path,
            )
        key = key_node.value
        if key in result:
            first = lines.get(path + (key,))
            raise UnsafeDocument(
                f"has the key {key!r} twice (first on line {first}); keep one of them",
                "yaml.duplicate-key", line=key_line, path=path + (key,),
            )
        lines[path + (key,)] = key_line
        result[key] = _build(value_node, path + (key,), lines, seen, depth + 1, alias_line)
    return result
