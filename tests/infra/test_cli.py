"""``gereedschapskist infra preview-config``: the operator's check before ``pulumi up``."""

from __future__ import annotations

import shutil

from typer.testing import CliRunner

from gereedschapskist.cli import build_app

from infra_harness import INFRA_DIR

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(build_app(), ["infra", "preview-config", *args])


def test_preview_of_a_contract_stack_shows_pools_from_the_catalogue():
    result = invoke("cbs-ml-prod")
    assert result.exit_code == 0, result.output
    assert "region eu-central-1 (Europe (Frankfurt), DE), production" in result.output
    assert "pool gpu        g4dn.2xlarge" in result.output
    assert "taint nvidia.com/gpu=present:NoSchedule" in result.output
    assert "egress allow-list: 145.21.0.0/16" in result.output  # PyPI's CDN by domain, not its /16 (issue 16)
    assert "egress domains (proxy): files.pythonhosted.org, pypi.org" in result.output


def test_preview_of_the_platform_stack():
    result = invoke("platform")
    assert result.exit_code == 0, result.output
    assert "portal: ghcr.io/gereedschapskist/portal:" in result.output and "× 3" in result.output


def test_a_refused_stack_exits_1_naming_file_field_and_value(tmp_path):
    shutil.copy(INFRA_DIR / "Pulumi.minfin-bi-dev.yaml", tmp_path / "Pulumi.minfin-bi-dev.yaml")
    path = tmp_path / "Pulumi.minfin-bi-dev.yaml"
    path.write_text(path.read_text().replace("region: westeurope", "region: eastus"))
    result = invoke("minfin-bi-dev", "--infra-dir", str(tmp_path))
    assert result.exit_code == 1
    assert f"{path}: config.gereedschapskist:cloud.region = 'eastus': not an EU region" in result.output
    assert "refused (region-not-allowed); nothing would be created" in result.output
