"""The infrastructure program's own error: a stack that must not be deployed.

Every check that refuses a stack runs before any resource is registered, so a refused
stack creates nothing. ``reason`` is for machines (the portal, CI), ``message`` for people.
"""

from __future__ import annotations

from gereedschapskist.core.refusal import Refusal


class StackInvalid(Refusal):
    """A stack file or its combination with the catalogue is not deployable.

    ``problems`` lists every problem found (file, field, value and what to do), not just the first.
    """

    def __init__(self, reason: str, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__(reason, "\n".join(self.problems))


# Machine-readable reasons, one place so callers (CLI, portal) can branch on them.
INVALID_CONFIG = "invalid-config"
UNKNOWN_PARTNER = "unknown-partner"
REGION_NOT_ALLOWED = "region-not-allowed"
GPU_UNAVAILABLE = "gpu-unavailable"
NO_MACHINE = "no-machine"
UNKNOWN_BUNDLE = "unknown-bundle"
UNKNOWN_ROLE = "unknown-role"
NO_RECIPE = "no-recipe"
