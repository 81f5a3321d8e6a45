"""Rules beyond the schema, checked across files in the loader's single pass."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from gereedschapskist.catalogue import CatalogueInvalid, LaunchRefused, Severity, Status, load, load_catalogue

from .conftest import TODAY, bundle


def problems(tree, today=TODAY):
    return load_catalogue(tree.root, today=today).problems


def codes(tree, today=TODAY):
    return {(p.file, p.path, p.code) for p in problems(tree, today)}


def test_fixture_tree_is_valid(tree):
    assert problems(tree) == []


def test_duplicate_bundle_ids_across_folders(tree):
    tree.write("roles/dev.yaml", {"id": "dev", "title": {"nl": "d", "en": "d"}, "description": {"nl": "d", "en": "d"}})
    tree.bundle(bundle("bi-sql", ["bi", "dev"]), folder="dev")
    found = [p for p in problems(tree) if p.code == "id.duplicate"]
    assert len(found) == 1
    assert "bundles/bi/bi-sql.yaml" in found[0].message


def test_id_must_equal_file_name(tree):
    tree.write("bundles/bi/other-name.yaml", bundle("bi-name", ["bi"]))
    assert ("bundles/bi/other-name.yaml", "$.id", "id.file-name") in codes(tree)


def test_roles_must_exist(tree):
    tree.bundle(bundle("bi-x", ["bi", "finance"]))
    assert ("bundles/bi/bi-x.yaml", "$.roles[1]", "role.unknown") in codes(tree)


def test_bundle_folder_must_be_one_of_its_roles(tree):
    tree.bundle(bundle("ml-in-bi", ["ml"]), folder="bi")
    assert ("bundles/bi/ml-in-bi.yaml", "$.roles", "role.folder") in codes(tree)


def test_deprecated_names_an_existing_successor(tree):
    tree.bundle(bundle("bi-old", ["bi"], lifecycle={"status": "deprecated", "since": "2026-10-01",
                                                    "successor": "bi-nope"}))
    found = [p for p in problems(tree) if p.file == "bundles/bi/bi-old.yaml"]
    assert [(p.path, p.code, p.value) for p in found] == [
        ("$.lifecycle.successor", "lifecycle.successor-unknown", "bi-nope")]


def test_successor_must_not_be_retired_or_itself(tree):
    tree.bundle(bundle("bi-gone", ["bi"], lifecycle={"status": "retired", "since": "2026-01-01"}))
    tree.bundle(bundle("bi-old", ["bi"], lifecycle={"status": "deprecated", "since": "2026-10-01",
                                                    "successor": "bi-gone"}))
    tree.bundle(bundle("bi-self", ["bi"], lifecycle={"status": "deprecated", "since": "2026-10-01",
                                                     "successor": "bi-self"}))
    found = codes(tree)
    assert ("bundles/bi/bi-old.yaml", "$.lifecycle.successor", "lifecycle.successor-retired") in found
    assert ("bundles/bi/bi-self.yaml", "$.lifecycle.successor", "lifecycle.successor-self") in found


def test_successor_in_another_role_is_a_warning(tree):
    tree.bundle(bundle("bi-old", ["bi"], lifecycle={"status": "deprecated", "since": "2026-10-01",
                                                    "successor": "ml-python"}))
    found = [p for p in problems(tree) if p.file == "bundles/bi/bi-old.yaml"]
    assert [(p.code, p.severity) for p in found] == [("lifecycle.successor-role", Severity.WARNING)]


def test_retired_bundles_are_never_offered_and_deprecated_ones_are(tree):
    tree.bundle(bundle("bi-gone", ["bi"], lifecycle={"status": "retired", "since": "2026-01-01"}))
    tree.bundle(bundle("bi-old", ["bi"], lifecycle={"status": "deprecated", "since": "2026-10-01",
                                                    "successor": "bi-sql"}))
    catalogue = load(tree.root, today=TODAY)
    offered = [b.id for b in catalogue.offered_for(["bi"])]
    assert offered == ["bi-old", "bi-sql"]
    assert catalogue.bundles["bi-gone"].lifecycle.status is Status.RETIRED
    with pytest.raises(LaunchRefused) as refused:
        catalogue.authorise_launch(["bi"], "bi-gone")
    assert refused.value.reason == "not-offered"


def test_security_review_expired_is_an_error_and_soon_a_warning(tree):
    tree.bundle(bundle("bi-due", ["bi"], security_review={"reviewer": "Sec", "date": "2025-11-01",
                                                          "valid_until": "2026-12-10"}))
    tree.bundle(bundle("bi-late", ["bi"], security_review={"reviewer": "Sec", "date": "2025-11-01",
                                                           "valid_until": "2026-11-22"}))
    found = {p.file: p for p in problems(tree) if p.code.startswith("review.")}
    assert found["bundles/bi/bi-due.yaml"].severity is Severity.WARNING
    assert "17 day(s)" in found["bundles/bi/bi-due.yaml"].message
    assert found["bundles/bi/bi-late.yaml"].severity is Severity.ERROR
    assert found["bundles/bi/bi-late.yaml"].code == "review.expired"
    assert found["bundles/bi/bi-late.yaml"].path == "$.security_review.valid_until"


def test_expired_review_withholds_the_bundle_but_services_still_start(tree):
    tree.bundle(bundle("bi-late", ["bi"], security_review={"reviewer": "Sec", "date": "2025-11-01",
                                                           "valid_until": "2026-11-22"}))
    catalogue = load(tree.root, today=TODAY)  # does not raise: one expired review must not take all down
    assert "bi-late" not in [b.id for b in catalogue.offered_for(["bi"])]
    with pytest.raises(LaunchRefused) as refused:
        catalogue.authorise_launch(["bi"], "bi-late")
    assert "security review has expired" in refused.value.message


def test_a_review_that_expires_while_the_service_runs_refuses_launches_from_then_on(tree):
    """Issue 11: the expiry is judged at launch, not once when the catalogue loads."""
    tree.bundle(bundle("bi-due", ["bi"], security_review={"reviewer": "Sec", "date": "2025-11-01",
                                                          "valid_until": "2026-12-10"}))
    catalogue = load(tree.root, today=TODAY)
    valid_until = catalogue.bundles["bi-due"].security_review.valid_until
    assert catalogue.authorise_launch(["bi"], "bi-due", today=valid_until)[0].id == "bi-due"
    with pytest.raises(LaunchRefused) as refused:
        catalogue.authorise_launch(["bi"], "bi-due", today=valid_until + timedelta(days=1))
    assert refused.value.reason == "not-offered" and "security review has expired" in refused.value.message


def test_retired_bundles_need_no_current_review(tree):
    tree.bundle(bundle("bi-gone", ["bi"], lifecycle={"status": "retired", "since": "2026-01-01"},
                       security_review={"reviewer": "Sec", "date": "2024-01-01", "valid_until": "2025-01-01"}))
    assert problems(tree) == []


def test_review_dates_must_make_sense(tree):
    tree.bundle(bundle("bi-odd", ["bi"], security_review={"reviewer": "Sec", "date": "2026-12-01",
                                                          "valid_until": "2026-11-30"}))
    found = codes(tree)
    assert ("bundles/bi/bi-odd.yaml", "$.security_review.date", "review.future") in found
    assert ("bundles/bi/bi-odd.yaml", "$.security_review.valid_until", "review.dates") in found


def test_sizes_must_fit_a_partner_machine(tree):
    tree.bundle(bundle("ml-huge", ["ml"], sizes=[{"id": "huge", "cpu": 64, "memory": "16Gi"},
                                                 {"id": "gpus", "cpu": 2, "memory": "8Gi", "gpu": 4},
                                                 {"id": "ok", "cpu": 6, "memory": "24Gi", "gpu": 1}]))
    found = [p for p in problems(tree) if p.file == "bundles/ml/ml-huge.yaml"]
    assert [(p.path, p.code) for p in found] == [("$.sizes[0]", "sizes.too-large"), ("$.sizes[1]", "sizes.too-large")]
    assert "64 CPU" in found[0].message and "choose a smaller size" in found[0].message


def test_a_size_that_exactly_fills_every_partners_machine_is_refused_naming_bundle_size_and_partner(tree):
    """Requests = limits: a node offers pods its allocatable capacity (the nominal size less kube-reserved,
    system-reserved, the eviction threshold and the DaemonSets), so 8 CPU / 32 GiB never schedules on an 8 CPU /
    32 GiB machine (the fixture partner's largest, on provider gcp)."""
    tree.bundle(bundle("ml-full", ["ml"], sizes=[{"id": "full", "cpu": 8, "memory": "32Gi"},
                                                 {"id": "cpu-full", "cpu": 8, "memory": "8Gi"},
                                                 {"id": "memory-full", "cpu": 2, "memory": "32Gi"},
                                                 {"id": "roomy", "cpu": 6, "memory": "24Gi"}]))
    found = [p for p in problems(tree) if p.file == "bundles/ml/ml-full.yaml"]
    assert [(p.path, p.code) for p in found] == [(f"$.sizes[{i}]", "sizes.too-large") for i in range(3)]
    message = found[0].message
    assert "bundle 'ml-full' size 'full'" in message and "partner cloud-a" in message and "m8" in message
    assert "reservations" in message


def test_gpu_sizes_need_a_partner_with_gpus(tree):
    tree.write("partners/cloud-a.yaml", __import__("tests.catalogue.conftest", fromlist=["partner"]).partner(gpu=False))
    found = [p for p in problems(tree) if p.file == "bundles/ml/ml-gpu.yaml"]
    assert [(p.path, p.code) for p in found] == [("$.sizes[0]", "sizes.too-large")]


def test_duplicate_size_ids_and_packages(tree):
    tree.bundle(bundle("bi-dups", ["bi"], sizes=[{"id": "sm", "cpu": 1, "memory": "1Gi"},
                                                 {"id": "sm", "cpu": 2, "memory": "2Gi"}],
                       packages={"pypi": ["pandas==2.3.3", "Pandas==2.2.0"]}))
    found = codes(tree)
    assert ("bundles/bi/bi-dups.yaml", "$.sizes[0].id", "sizes.duplicate") in found
    assert ("bundles/bi/bi-dups.yaml", "$.packages.pypi[0]", "packages.duplicate") in found


def test_image_tag_out_of_step_with_version_is_a_warning(tree):
    tree.bundle(bundle("bi-tag", ["bi"], version="1.1.0"))
    found = [p for p in problems(tree) if p.file == "bundles/bi/bi-tag.yaml"]
    assert [(p.code, p.severity) for p in found] == [("image.tag-version", Severity.WARNING)]


def test_a_role_without_bundles_is_a_warning(tree):
    tree.write("roles/dev.yaml", {"id": "dev", "title": {"nl": "d", "en": "d"}, "description": {"nl": "d", "en": "d"}})
    found = [p for p in problems(tree) if p.file == "roles/dev.yaml"]
    assert [(p.code, p.severity) for p in found] == [("role.no-bundles", Severity.WARNING)]


@pytest.mark.parametrize("rel, code", [
    ("bundles/bi/x.yml", "tree.not-yaml"),
    ("bundles/bi/notes.txt", "tree.not-yaml"),
    ("bundles/loose.yaml", "tree.misplaced"),
    ("roles/sub/x.yaml", "tree.unexpected-dir"),
])
def test_files_out_of_place_are_reported_not_ignored(tree, rel, code):
    tree.write(rel, "id: x\n")
    reported = {p.file.rstrip("/"): p.code for p in problems(tree)}
    assert reported[rel.rsplit("/", 1)[0] if code == "tree.unexpected-dir" else rel] == code


def test_missing_folder_is_reported(tree):
    import shutil
    shutil.rmtree(tree.root / "partners")
    assert ("partners/", "$", "tree.missing-dir") in codes(tree)


def test_strict_load_raises_with_every_problem(tree):
    tree.bundle(bundle("bi-x", ["bi", "finance"], version="one"))
    with pytest.raises(CatalogueInvalid) as raised:
        load(tree.root, today=TODAY)
    assert {p.path for p in raised.value.problems} == {"$.version"}  # schema errors stop the rules for that file
    assert "bi-x.yaml" in str(raised.value)


def test_authorise_launch_is_the_one_role_rule(tree):
    catalogue = load(tree.root, today=TODAY)
    assert catalogue.authorise_launch(["bi"], "bi-sql")[1].id == "small"
    assert catalogue.authorise_launch(["bi", "ml"], "ml-python", "large")[1].cpu == 4
    for roles, bundle_id, size, reason in [
        (["bi"], "ml-python", None, "role"),
        ([], "bi-sql", None, "role"),
        (["bi"], "bi-nope", None, "unknown-bundle"),
        (["bi"], "bi-sql", "xl", "unknown-size"),
    ]:
        with pytest.raises(LaunchRefused) as refused:
            catalogue.authorise_launch(roles, bundle_id, size)
        assert refused.value.reason == reason
        assert bundle_id in refused.value.message


def test_offered_for_merges_roles_once_in_id_order(tree):
    tree.bundle(bundle("bi-ml", ["bi", "ml"]))
    catalogue = load(tree.root, today=TODAY)
    assert [b.id for b in catalogue.offered_for(["ml", "bi"])] == ["bi-ml", "bi-sql", "ml-gpu", "ml-python"]
    assert [b.id for b in catalogue.offered_for(["unknown"])] == []


def test_today_defaults_to_the_real_date(tree):
    late = date.today() - timedelta(days=1)
    tree.bundle(bundle("bi-late", ["bi"], security_review={"reviewer": "Sec", "date": "2020-01-01",
                                                           "valid_until": late.isoformat()}))
    assert any(p.code == "review.expired" for p in load_catalogue(tree.root).problems)



def test_a_drafted_bundles_placeholders_are_refused_until_reviewed(tree):
    """A bundle drafted in the portal ("request a bundle") carries a pending review and no licence; the catalogue
    warns about both, naming the field, and never offers the bundle until a platform admin fills them in."""
    tree.bundle(bundle("bi-drafted", ["bi"], licence={"spdx": "NOASSERTION", "open_source": True},
                       security_review={"reviewer": "pending: the platform admins' review of this pull request",
                                        "date": "2026-11-20", "valid_until": "2027-11-20"}))
    found = {(p.code, p.path): p for p in problems(tree) if p.file == "bundles/bi/bi-drafted.yaml"}
    assert found[("review.pending", "$.security_review.reviewer")].severity is Severity.WARNING
    assert found[("licence.unknown", "$.licence.spdx")].severity is Severity.WARNING
    catalogue = load(tree.root, today=TODAY)
    assert [b.id for b in catalogue.offered_for(["bi"])] == ["bi-sql"]
    with pytest.raises(LaunchRefused) as refused:
        catalogue.authorise_launch(["bi"], "bi-drafted")
    assert refused.value.reason == "not-offered"
