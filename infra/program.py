"""The infrastructure program: a function of one typed stack configuration.

``__main__.py`` calls :func:`run` under the Pulumi CLI; the portal can call the same function inline through
Pulumi's Automation API. Plans (and with them every refusal) are made before the first resource is registered.
"""

from __future__ import annotations

import pulumi

from gereedschapskist.catalogue import Catalogue, load

from . import stages
from .config import ContractStack, StackConfig
from .plan import plan_environment, plan_platform
from .stages import CLOUD, Stage


def run(stack: StackConfig, catalogue: Catalogue | None = None, stage: Stage = CLOUD) -> pulumi.ComponentResource:
    """Create one stage's resources (:mod:`.stages`) and export its outputs; raises StackInvalid before creating
    anything (the cloud stage also when a secret is missing from the stack's configuration)."""
    catalogue = catalogue or load()
    if stage not in (stages.CLOUD, stages.CLUSTER):
        raise ValueError(f"stage must be {stages.CLOUD!r} or {stages.CLUSTER!r}, not {stage!r}")
    if isinstance(stack, ContractStack):
        from .workbench import ContractEnvironment, hub_values, registry_credentials_needed

        plan = plan_environment(stack, catalogue)
        values = hub_values(plan, catalogue)  # rendered before any resource: a bad environment creates nothing
        secrets = None
        if stage == CLOUD:
            secrets = stages.read_secrets(stages.CONTRACT_SECRETS, source=stack.source)
            secrets[stages.REGISTRY_CREDENTIALS] = stages.read_registry_credentials(  # type: ignore[assignment]
                registry_credentials_needed(plan), source=stack.source)
        component: pulumi.ComponentResource = ContractEnvironment(plan, values, stage=stage, secrets=secrets)
    else:
        from .platform import Platform

        platform_plan = plan_platform(stack, catalogue)
        secrets = (stages.read_secrets(stages.PLATFORM_SECRETS, source=stack.source) if stage == CLOUD else None)
        component = Platform(platform_plan, stage=stage, secrets=secrets)
    for key, value in component.outputs.items():
        pulumi.export(key, value)
    return component
