"""Hostile or broken catalogue files are rejected with a clear message, never a crash."""

from __future__ import annotations

import os

import pytest

from gereedschapskist.catalogue import load_catalogue
from gereedschapskist.catalogue.safeyaml import MAX_BYTES, parse_document, UnsafeDocument

from .conftest import TODAY, bundle


def problems_for(tree, rel):
    result = load_catalogue(tree.root, today=TODAY)
    return result, [p for p in result.problems if p.file == rel]


def only_problem(tree, rel):
    result, found = problems_for(tree, rel)
    assert len(found) == 1, [p.format() for p in found]
    # the rest of the catalogue still loads: one bad file loses nothing else
    assert {"bi-sql", "ml-python", "ml-gpu"} <= set(result.catalogue.bundles)
    return found[0]


def test_alias_bomb_is_refused_quickly(tree):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 12):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    tree.write("bundles/bi/bomb.yaml", "\n".join(lines) + "\n")
    problem = only_problem(tree, "bundles/bi/bomb.yaml")
    assert problem.code == "yaml.alias"
    assert problem.line == 2
    assert "aliases are not allowed" in problem.message


def test_single_alias_is_refused_with_its_line(tree):
    data = "id: x\ntitle: &t {nl: a, en: b}\ndescription: *t\n"
    tree.write("bundles/bi/x.yaml", data)
    problem = only_problem(tree, "bundles/bi/x.yaml")
    assert (problem.code, problem.line, problem.path) == ("yaml.alias", 3, "$.description")


def test_file_over_one_mebibyte_is_refused_without_parsing(tree):
    tree.write("bundles/bi/huge.yaml", "# " + "x" * MAX_BYTES + "\n")
    problem = only_problem(tree, "bundles/bi/huge.yaml")
    assert problem.code == "file.too-large"
    assert "1 MiB" in problem.message


def test_duplicate_keys_name_both_lines(tree):
    path = tree.bundle(bundle("bi-dup", ["bi"]))
    text = path.read_text()
    path.write_text(text + "version: '2.0.0'\n")
    problem = only_problem(tree, "bundles/bi/bi-dup.yaml")
    assert problem.code == "yaml.duplicate-key"
    assert problem.path == "$.version"
    first = text.splitlines().index("version: 1.0.0") + 1
    assert f"first on line {first}" in problem.message
    assert problem.line == len(text.splitlines()) + 1


def test_non_utf8_bytes_give_line_and_byte(tree):
    tree.write("bundles/bi/latin.yaml", "id: bi-latin\ntitle:\n  nl: caf\xe9\n".encode("latin-1"))
    problem = only_problem(tree, "bundles/bi/latin.yaml")
    assert problem.code == "file.encoding"
    assert problem.line == 3
    assert "0xe9" in problem.message and "UTF-8" in problem.message


def test_nul_character_is_refused(tree):
    tree.write("bundles/bi/nul.yaml", b"id: a\x00b\n")
    assert only_problem(tree, "bundles/bi/nul.yaml").code == "file.encoding"


@pytest.mark.parametrize("tag", [
    "!!python/object/apply:os.system ['echo pwned']",
    "!!python/name:os.system",
    "!!binary aGVsbG8=",
    "!!set {a, b}",
    "!custom value",
])
def test_python_and_other_tags_are_refused(tree, tag, tmp_path):
    marker = tmp_path / "pwned"
    tree.write("bundles/bi/tagged.yaml", f"id: bi-tagged\nversion: {tag.replace('echo pwned', f'touch {marker}')}\n")
    problem = only_problem(tree, "bundles/bi/tagged.yaml")
    assert problem.code in ("yaml.tag", "yaml.syntax")
    assert problem.line == 2
    assert not marker.exists()


def test_merge_keys_are_refused(tree):
    tree.write("bundles/bi/merge.yaml", "base: {a: 1}\nid: x\nsizes:\n  - <<: {cpu: 1}\n    id: s\n")
    problem = only_problem(tree, "bundles/bi/merge.yaml")
    assert problem.code in ("yaml.merge", "yaml.alias")


def test_symlink_out_of_the_catalogue_is_refused(tree, tmp_path):
    outside = tmp_path / "outside.yaml"
    outside.write_text(tree.read("bundles/bi/bi-sql.yaml").__repr__())
    os.symlink(outside, tree.root / "bundles/bi/escape.yaml")
    problem = only_problem(tree, "bundles/bi/escape.yaml")
    assert problem.code == "file.symlink-outside"
    assert str(outside) in problem.message


def test_symlinked_folder_out_of_the_catalogue_is_refused(tree, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tree.root / "bundles/dev")
    _, found = problems_for(tree, "bundles/dev/")
    assert [p.code for p in found] == ["file.symlink-outside"]


def test_symlink_inside_the_catalogue_is_followed(tree):
    tree.bundle(bundle("bi-real", ["bi"]))
    os.symlink(tree.root / "bundles/bi/bi-real.yaml", tree.root / "bundles/bi/bi-link.yaml")
    _, found = problems_for(tree, "bundles/bi/bi-link.yaml")
    # the link is read (it stays inside), and then fails only because its id is not its file name
    assert [p.code for p in found] == ["id.file-name"]


@pytest.mark.parametrize("bad_id", ["../etc/passwd", "bi/sql", "bi\\sql", "..", "/abs", "a", "Bi-Sql", "bi_sql",
                                    "bi--sql", "-bi", "bi-", "x" * 64])
def test_ids_with_path_separators_or_odd_characters_are_refused(tree, bad_id):
    data = bundle("bi-odd", ["bi"])
    data["id"] = bad_id
    tree.write("bundles/bi/bi-odd.yaml", data)
    _, found = problems_for(tree, "bundles/bi/bi-odd.yaml")
    assert [(p.code, p.path) for p in found] == [("schema.pattern", "$.id")]
    assert found[0].value == bad_id
    assert "lowercase letters" in found[0].message


@pytest.mark.parametrize("content", ["", "   \n\n", "# only a comment\n", "---\n"])
def test_empty_files_are_refused(tree, content):
    tree.write("roles/empty.yaml", content)
    problem = only_problem(tree, "roles/empty.yaml")
    assert problem.code in ("file.empty", "schema.type")
    assert "empty" in problem.message or "mapping" in problem.message


@pytest.mark.parametrize("content, what", [
    ("- just\n- a list\n", "list"),
    ("just text\n", "str"),
    ("42\n", "int"),
])
def test_a_document_that_is_not_a_mapping_is_refused(tree, content, what):
    tree.write("partners/odd.yaml", content)
    problem = only_problem(tree, "partners/odd.yaml")
    assert problem.code == "schema.type"
    assert what in problem.message


def test_two_documents_in_one_file_are_refused(tree):
    tree.write("roles/two.yaml", "id: a\n---\nid: b\n")
    problem = only_problem(tree, "roles/two.yaml")
    assert problem.code == "yaml.syntax"
    assert problem.line == 2


def test_syntax_error_names_the_line(tree):
    tree.write("roles/broken.yaml", "id: broken\ntitle: {nl: a, en: b\ndescription: x\n")
    problem = only_problem(tree, "roles/broken.yaml")
    assert problem.code == "yaml.syntax"
    assert problem.line in (2, 3)


def test_non_text_keys_are_refused(tree):
    tree.write("roles/keys.yaml", "id: keys\n1: one\n")
    problem = only_problem(tree, "roles/keys.yaml")
    assert (problem.code, problem.line) == ("yaml.key-type", 2)


def test_deep_nesting_is_refused():
    text = "a: " + "[" * 200 + "]" * 200 + "\n"
    with pytest.raises(UnsafeDocument) as caught:
        parse_document(text.encode())
    assert caught.value.code == "yaml.too-deep"


def test_dates_stay_text_and_yaml_booleans_stay_booleans():
    doc = parse_document(b"d: 2026-01-02\nb: true\nn: 1.5\nv: '1.0'\n")
    assert doc.data == {"d": "2026-01-02", "b": True, "n": 1.5, "v": "1.0"}
    assert doc.lines[("n",)] == 3


def test_byte_order_mark_is_accepted():
    assert parse_document("\ufeffid: x\n".encode()).data == {"id": "x"}
