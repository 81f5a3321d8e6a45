"""Entry point for the Pulumi CLI: read this stack's configuration, then run the one program.

Everything lives in :mod:`gereedschapskist.infra.program`; this file only connects it to ``pulumi up``.
"""

from pathlib import Path

import pulumi

from gereedschapskist.infra.config import load_stack
from gereedschapskist.infra.program import run

run(load_stack(pulumi.get_stack(), Path(__file__).resolve().parent))
