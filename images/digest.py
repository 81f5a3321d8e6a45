"""Write the digest of a pushed image back into its bundle file (``image.digest``).

Only CI calls this, with the digest the registry returned for the push; a digest is never typed
in or guessed. The bundle file is edited as text, one line, so comments and layout stay as the
author wrote them; the line to change is found through the catalogue's own reader, and the result
is loaded again through the catalogue loader — if that fails the file is restored and nothing is
lost.
"""

from __future__ import annotations

import re
from pathlib import Path

from gereedschapskist.catalogue import load_catalogue
from gereedschapskist.catalogue.safeyaml import UnsafeDocument, read_document

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_TAG_LINE = re.compile(r"^(?P<indent>[ ]+)tag:[ ]*\S")
_DIGEST_LINE = re.compile(r"^(?P<indent>[ ]+)digest:[ ]*(?P<value>\S.*?)?\s*$")


class DigestError(Exception):
    """The digest cannot be written; ``reason`` is machine-readable, the message names the file and fix."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def set_digest(catalogue_root: Path, bundle_id: str, digest: str, *, built_tag: str | None = None) -> tuple[Path, bool]:
    """Write ``digest`` into the bundle's ``image.digest``; returns (file, whether it changed)."""
    root = Path(catalogue_root)
    if not DIGEST.match(digest):
        raise DigestError("digest.format", f"{digest!r} is not an image digest like sha256:<64 hex digits>")
    result = load_catalogue(root)
    bundle = result.catalogue.bundles.get(bundle_id)
    if bundle is None:
        raise DigestError("digest.unknown-bundle", f"there is no bundle {bundle_id!r} in the catalogue at {root}")
    if built_tag is not None and built_tag != bundle.image.tag:
        raise DigestError("digest.tag-moved",
                          f"{bundle.file}: the image was built as tag {built_tag!r} but the bundle now says "
                          f"image.tag {bundle.image.tag!r}; the digest belongs to the old tag and is not written")
    if bundle.image.digest == digest:
        return root / bundle.file, False
    path = root / bundle.file
    original = path.read_bytes()
    try:
        document = read_document(path, root)
    except UnsafeDocument as exc:
        raise DigestError("digest.unreadable", f"{bundle.file}: {exc.message}") from exc
    lines = original.decode("utf-8").splitlines(keepends=True)
    tag_line = document.lines.get(("image", "tag"))
    digest_line = document.lines.get(("image", "digest"))
    if digest_line is not None:
        index = digest_line - 1
        match = _DIGEST_LINE.match(lines[index].rstrip("\r\n"))
        if not match:
            raise DigestError("digest.layout", f"{bundle.file}:{digest_line}: image.digest is not written as "
                                               "'digest: sha256:…' on its own line; fix it by hand")
        lines[index] = f"{match.group('indent')}digest: {digest}{_newline(lines[index])}"
    else:
        if tag_line is None or not _TAG_LINE.match(lines[tag_line - 1]):
            raise DigestError("digest.layout", f"{bundle.file}: image.tag is not written as 'tag: …' on its own "
                                               "line inside an 'image:' block; write image as a block mapping")
        indent = _TAG_LINE.match(lines[tag_line - 1]).group("indent")
        if not lines[tag_line - 1].endswith("\n"):
            lines[tag_line - 1] += "\n"
        lines.insert(tag_line, f"{indent}digest: {digest}{_newline(lines[tag_line - 1])}")
    path.write_bytes("".join(lines).encode("utf-8"))
    check = load_catalogue(root)
    written = check.catalogue.bundles.get(bundle_id)
    new_errors = [p for p in check.errors if p.file == bundle.file]
    old_errors = [p for p in result.errors if p.file == bundle.file]
    if written is None or written.image.digest != digest or len(new_errors) > len(old_errors):
        path.write_bytes(original)
        details = "; ".join(p.format() for p in new_errors) or "the digest did not read back"
        raise DigestError("digest.invalid-result", f"{bundle.file}: writing the digest broke the file ({details}); "
                                                   "the file is unchanged")
    return path, True


def _newline(line: str) -> str:
    return "\r\n" if line.endswith("\r\n") else "\n"
