"""Entry point for the Pulumi CLI: read this stack's configuration, then run the one program.

Everything lives in :mod:`gereedschapskist.infra.program`; this file only connects it to ``pulumi up``.
"""

from pathlib import Path

import pulumi

from gereedschapskist.infra.config import load_stack
from gereedschapskist.infra.program import run
from gereedschapskist.infra.stages import split_stack_name

# `<name>` is the cloud stage, `<name>.cluster` the cluster stage; both read Pulumi.<name>.yaml (stages.py).
name, stage = split_stack_name(pulumi.get_stack())
run(load_stack(name, Path(__file__).resolve().parent), stage=stage)
