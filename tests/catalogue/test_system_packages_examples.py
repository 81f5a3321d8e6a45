"""Issue 17's catalogue additions: a bundle's Debian ``system_packages``, Spark's ``max_executors`` per size, and
its example notebooks from ``examples/<bundle id>/`` — checked, in the model, in ``catalogue diff``; old bundles
without them stay valid (the fields are optional)."""

from __future__ import annotations

import json
import shutil

from gereedschapskist.catalogue import load_catalogue
from gereedschapskist.catalogue.diff import diff_catalogues, render_markdown

from .conftest import TODAY, Tree, bundle


def load(tree: Tree):
    return load_catalogue(tree.root, today=TODAY)


def notebook(cells=None) -> str:
    cells = cells if cells is not None else [{"cell_type": "code", "metadata": {}, "source": ["1 + 1"],
                                              "execution_count": None, "outputs": []}]
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def test_bundles_without_the_new_fields_load_as_before(tree):
    result = load(tree)
    assert result.ok, result.problems
    ml = result.catalogue.bundles["ml-python"]
    assert ml.system_packages == () and ml.examples == () and all(s.max_executors == 0 for s in ml.sizes)


def test_system_packages_and_max_executors_reach_the_model(tree):
    tree.bundle(bundle("ml-spark", ["ml"], system_packages=["openjdk-17-jre-headless", "git"],
                       sizes=[{"id": "medium", "cpu": 2, "memory": "8Gi", "max_executors": 4}]))
    result = load(tree)
    assert result.ok, result.problems
    spark = result.catalogue.bundles["ml-spark"]
    assert spark.system_packages == ("openjdk-17-jre-headless", "git")
    assert spark.sizes[0].max_executors == 4


def test_bad_system_package_names_and_caps_are_reported_at_their_field(tree):
    tree.bundle(bundle("ml-spark", ["ml"], system_packages=["openjdk-17-jre-headless", "Java 17; rm -rf /"],
                       sizes=[{"id": "medium", "cpu": 2, "memory": "8Gi", "max_executors": 0}]))
    found = {(p.path, p.code) for p in load(tree).errors}
    assert ("$.system_packages[1]", "schema.pattern") in found
    assert any(path == "$.sizes[0].max_executors" for path, _ in found), found


def test_example_notebooks_come_from_the_tree_and_are_checked(tree):
    tree.write("examples/ml-python/groupby.ipynb", notebook())
    result = load(tree)
    assert result.ok, result.problems
    assert result.catalogue.bundles["ml-python"].examples == ("examples/ml-python/groupby.ipynb",)

    tree.write("examples/ml-python/notes.txt", "not a notebook")
    tree.write("examples/ml-python/broken.ipynb", "{not json")
    tree.write("examples/ml-python/old.ipynb", json.dumps({"nbformat": 3, "worksheets": []}))
    tree.write("examples/ml-python/run.ipynb", notebook([{"cell_type": "code", "metadata": {}, "source": ["1"],
                                                          "execution_count": 3, "outputs": [{"x": 1}]}]))
    tree.write("examples/ml-nothing/a.ipynb", notebook())
    codes = {(p.file, p.code) for p in load(tree).errors}
    assert codes == {
        ("examples/ml-python/notes.txt", "examples.not-notebook"),
        ("examples/ml-python/broken.ipynb", "examples.invalid"),
        ("examples/ml-python/old.ipynb", "examples.invalid"),
        ("examples/ml-python/run.ipynb", "examples.outputs"),
        ("examples/ml-nothing/", "examples.unknown-bundle"),
    }


def test_diff_shows_system_packages_and_examples(tree, tmp_path):
    shutil.copytree(tree.root, tmp_path / "head")
    head = Tree(tmp_path / "head")
    head.edit("bundles/ml/ml-python.yaml", lambda d: d.update(system_packages=["openjdk-17-jre-headless"]))
    head.write("examples/ml-python/groupby.ipynb", notebook())
    head.bundle(bundle("ml-spark", ["ml"], system_packages=["git"]))
    text = render_markdown(diff_catalogues(load(tree).catalogue, load(head).catalogue),
                           base_label="main", head_label="pr")
    assert "New system package (Debian): `openjdk-17-jre-headless`." in text
    assert "New example notebook: `examples/ml-python/groupby.ipynb`." in text
    assert "System packages (Debian): git" in text     # a new bundle's summary lists them
    back = render_markdown(diff_catalogues(load(head).catalogue, load(tree).catalogue),
                           base_label="pr", head_label="main")
    assert "System package (Debian) removed: `openjdk-17-jre-headless`." in back
    assert "Example notebook removed: `examples/ml-python/groupby.ipynb`." in back
