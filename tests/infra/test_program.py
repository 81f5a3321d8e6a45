"""``infra/__main__.py`` as the Pulumi CLI runs it: it reads the stack file named by the stack and runs the program.

Run under Pulumi's mock engine (no Pulumi CLI here, see infra_harness.py). The stack name says the stage
(issue 16, item 1): ``platform`` is the cloud stage, ``platform.cluster`` the cluster stage.
"""

from __future__ import annotations

import runpy

import pulumi
import pytest

from gereedschapskist.infra.config import load_stack
from gereedschapskist.infra.errors import StackInvalid
from gereedschapskist.infra.stages import split_stack_name

from infra_harness import INFRA_DIR, Recorder, deploy, secrets_config, use_mocks


def run_main(recorder: Recorder, stack_name: str, config: dict[str, str]) -> None:
    use_mocks(recorder, stack_name, config)

    @pulumi.runtime.test
    def program():
        runpy.run_path(str(INFRA_DIR / "__main__.py"), run_name="__main__")

    program()


def components(recorder: Recorder) -> list[tuple[str, str]]:
    return [(c.typ, c.name) for c in recorder.resources if not c.custom and c.typ.startswith("gereedschapskist:")]


def test_main_reads_the_stack_file_of_the_current_stack():
    recorder = Recorder()
    run_main(recorder, "platform", secrets_config(load_stack("platform", INFRA_DIR)))
    assert components(recorder) == [("gereedschapskist:infra:Platform", "platform")]
    assert recorder.one("pulumi:providers:azure-native").inputs["location"] == "westeurope"
    assert not [r for r in recorder.resources if r.typ.startswith("kubernetes:")]  # the cloud stage only


def test_the_cluster_stage_reads_the_same_file_and_creates_only_kubernetes_objects(catalogue):
    recorder = Recorder()
    deploy(load_stack("platform", INFRA_DIR), catalogue, recorder, stages_to_run=("cloud",))  # its exports
    recorder.resources.clear()
    recorder.stage = "cluster"
    run_main(recorder, "platform.cluster", {})  # no secrets in the cluster stage's configuration
    assert components(recorder) == [("gereedschapskist:infra:Platform", "platform")]
    reference = recorder.one("pulumi:pulumi:StackReference")
    assert reference.inputs["name"].endswith("/gereedschapskist/platform")
    clouds = [r.typ for r in recorder.resources if r.typ.split(":")[0] in {"azure-native", "aws", "gcp", "random"}
              or r.typ.startswith("pulumi:providers:") and not r.typ.endswith(":kubernetes")]
    assert clouds == []
    assert recorder.of("kubernetes:apps/v1:Deployment")


def test_stage_names():
    assert split_stack_name("cbs-ml-prod") == ("cbs-ml-prod", "cloud")
    assert split_stack_name("cbs-ml-prod.cluster") == ("cbs-ml-prod", "cluster")
    with pytest.raises(StackInvalid, match="cbs-ml-prod.kube"):
        split_stack_name("cbs-ml-prod.kube")
