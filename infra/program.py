"""The infrastructure program: a function of one typed stack configuration.

``__main__.py`` calls :func:`run` under the Pulumi CLI; the portal can call the same function inline through
Pulumi's Automation API. Plans (and with them every refusal) are made before the first resource is registered.
"""

from __future__ import annotations

import pulumi

from gereedschapskist.catalogue import Catalogue, load

from .config import ContractStack, StackConfig
from .plan import plan_environment, plan_platform


def run(stack: StackConfig, catalogue: Catalogue | None = None) -> pulumi.ComponentResource:
    """Create the stack's resources and export its outputs; raises StackInvalid before creating anything."""
    catalogue = catalogue or load()
    if isinstance(stack, ContractStack):
        from .workbench import ContractEnvironment, hub_values

        plan = plan_environment(stack, catalogue)
        values = hub_values(plan, catalogue)  # rendered before any resource: a bad environment creates nothing
        component: pulumi.ComponentResource = ContractEnvironment(plan, values)
    else:
        from .platform import Platform

        component = Platform(plan_platform(stack, catalogue))
    for key, value in component.outputs.items():
        pulumi.export(key, value)
    return component
