"""Writing a pushed image's digest back into the bundle file: one line, nothing else touched."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from gereedschapskist.cli import build_app
from gereedschapskist.images.digest import DigestError, set_digest
from gereedschapskist.images.tree import compare, render_all

DIGEST = "sha256:" + "0123456789abcdef" * 4
OTHER = "sha256:" + "f" * 64
FILE = "bundles/ml/ml-python.yaml"


def test_the_digest_is_inserted_below_the_tag_and_nothing_else_changes(project):
    path = project.bundle_file(FILE)
    project.edit(path, "image:\n", "# reviewed by the CISO office\nimage:   # built by CI\n")
    before = path.read_text(encoding="utf-8").splitlines(keepends=True)
    written, changed = set_digest(project.catalogue, "ml-python", DIGEST, built_tag="2.1.0")
    assert written == path and changed
    after = path.read_text(encoding="utf-8").splitlines(keepends=True)
    tag_index = next(i for i, line in enumerate(before) if line.strip() == 'tag: "2.1.0"')
    assert after[tag_index + 1] == f"  digest: {DIGEST}\n"
    assert after[: tag_index + 1] + after[tag_index + 2:] == before
    bundle = project.load().bundles["ml-python"]
    assert bundle.image.digest == DIGEST
    assert bundle.image.reference == f"ghcr.io/gereedschapskist/ml-python:2.1.0@{DIGEST}"


def test_an_existing_digest_is_replaced_and_writing_again_changes_nothing(project):
    set_digest(project.catalogue, "ml-python", DIGEST)
    set_digest(project.catalogue, "ml-python", OTHER)
    text = project.bundle_file(FILE).read_text(encoding="utf-8")
    assert text.count("digest:") == 1 and OTHER in text
    assert set_digest(project.catalogue, "ml-python", OTHER)[1] is False


def test_the_digest_does_not_change_the_image_definition(project):
    set_digest(project.catalogue, "ml-python", DIGEST)
    assert compare(project.images, render_all(project.load())) == []


@pytest.mark.parametrize("digest, reason", [
    ("sha256:abc", "digest.format"),
    ("SHA256:" + "a" * 64, "digest.format"),
    ("latest", "digest.format"),
])
def test_anything_but_a_sha256_digest_is_refused(project, digest, reason):
    before = project.bundle_file(FILE).read_bytes()
    with pytest.raises(DigestError) as caught:
        set_digest(project.catalogue, "ml-python", digest)
    assert caught.value.reason == reason
    assert project.bundle_file(FILE).read_bytes() == before


def test_a_digest_for_a_tag_the_bundle_moved_away_from_is_refused(project):
    before = project.bundle_file(FILE).read_bytes()
    with pytest.raises(DigestError) as caught:
        set_digest(project.catalogue, "ml-python", DIGEST, built_tag="1.9.0")
    assert caught.value.reason == "digest.tag-moved"
    assert "'1.9.0'" in caught.value.message and "'2.1.0'" in caught.value.message
    assert project.bundle_file(FILE).read_bytes() == before


def test_an_unknown_bundle_is_refused(project):
    with pytest.raises(DigestError) as caught:
        set_digest(project.catalogue, "no-such-bundle", DIGEST)
    assert caught.value.reason == "digest.unknown-bundle"


def test_a_flow_style_image_is_refused_and_left_alone(project):
    path = project.bundle_file(FILE)
    project.edit(path, 'image:\n  repository: ghcr.io/gereedschapskist/ml-python\n  tag: "2.1.0"\n',
                 'image: {repository: ghcr.io/gereedschapskist/ml-python, tag: "2.1.0"}\n')
    before = path.read_bytes()
    with pytest.raises(DigestError) as caught:
        set_digest(project.catalogue, "ml-python", DIGEST)
    assert caught.value.reason == "digest.layout"
    assert path.read_bytes() == before


def test_the_cli_writes_the_digest_and_reports_refusals(project):
    runner = CliRunner()
    ok = runner.invoke(build_app(), ["images", "set-digest", "ml-python", DIGEST, "--tag", "2.1.0",
                                     "--catalogue", str(project.catalogue)])
    assert ok.exit_code == 0, ok.output
    assert f"wrote {DIGEST}" in ok.output
    bad = runner.invoke(build_app(), ["images", "set-digest", "ml-python", "sha256:nope",
                                      "--catalogue", str(project.catalogue)])
    assert bad.exit_code == 1
    assert "not an image digest" in bad.output and "digest.format" in bad.output
