"""Writing and comparing the images/ folder: generated folders are owned in full, others in part."""

from __future__ import annotations

import dataclasses

from gereedschapskist.catalogue import Size
from gereedschapskist.images.tree import compare, images_dir_for, render_all, write


def test_a_fresh_rendering_is_in_step(project):
    assert compare(project.images, render_all(project.load())) == []


def test_drift_is_found_and_write_repairs_it(project):
    rendered = render_all(project.load())
    folder = project.images / "bundles" / "ml-python"
    (folder / "pypi.txt").write_text("pandas==0.1\n", encoding="utf-8")
    (folder / "tooling.txt").unlink()
    (folder / "notes.md").write_text("hand-written\n", encoding="utf-8")
    drifts = compare(project.images, rendered)
    assert len(drifts) == 1
    drift = drifts[0]
    assert drift.changed == ("bundles/ml-python/pypi.txt",)
    assert drift.missing == ("bundles/ml-python/tooling.txt",)
    assert drift.extra == ("bundles/ml-python/notes.md",)
    assert "out of date: bundles/ml-python/pypi.txt" in drift.describe()
    assert write(project.images, rendered) == drifts
    assert compare(project.images, rendered) == []
    assert not (folder / "notes.md").exists()


def test_folders_of_retired_or_removed_bundles_are_removed(project):
    orphan = project.images / "bundles" / "bi-sql-classic"  # retired in the catalogue
    orphan.mkdir()
    (orphan / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    rendered = render_all(project.load())
    drifts = compare(project.images, rendered)
    assert [(d.folder, d.orphan) for d in drifts] == [("bundles/bi-sql-classic", True)]
    write(project.images, rendered)
    assert not orphan.exists()


def test_hand_written_files_beside_the_portal_definition_stay(project):
    readme = project.images / "portal" / "README.md"
    readme.write_text("notes\n", encoding="utf-8")
    assert compare(project.images, render_all(project.load())) == []
    write(project.images, render_all(project.load()))
    assert readme.read_text(encoding="utf-8") == "notes\n"


def test_an_unsupported_bundle_keeps_its_existing_definition(project):
    catalogue = project.load()
    r = catalogue.bundles["bi-r-analysis"]
    gpu_r = dataclasses.replace(r, sizes=(Size(id="gpu", cpu=4, memory="16Gi", gpu=1),))
    broken = dataclasses.replace(catalogue, bundles={**catalogue.bundles, r.id: gpu_r})
    rendered = render_all(broken)
    assert [e.bundle.id for e in rendered.unsupported] == ["bi-r-analysis"]
    write(project.images, rendered)
    assert (project.images / "bundles" / "bi-r-analysis" / "Dockerfile").is_file()


def test_images_folder_is_found_beside_the_catalogue_only(project, tmp_path):
    assert images_dir_for(project.catalogue) == project.images.resolve()
    lonely = tmp_path / "lonely" / "catalogue-of-tools"
    lonely.mkdir(parents=True)
    assert images_dir_for(lonely) is None
