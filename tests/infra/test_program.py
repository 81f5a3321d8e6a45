"""``infra/__main__.py`` as the Pulumi CLI runs it: it reads the stack file named by the stack and runs the program.

Run under Pulumi's mock engine (no Pulumi CLI here, see infra_harness.py).
"""

from __future__ import annotations

import asyncio
import runpy

import pulumi

from infra_harness import INFRA_DIR, Recorder


def test_main_reads_the_stack_file_of_the_current_stack():
    recorder = Recorder()
    asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.settings.set_root_resource(None)  # type: ignore[arg-type]
    pulumi.runtime.set_mocks(recorder, project="gereedschapskist", stack="platform", preview=False)

    @pulumi.runtime.test
    def program():
        runpy.run_path(str(INFRA_DIR / "__main__.py"), run_name="__main__")

    program()
    components = [r for r in recorder.resources if not r.custom and r.typ.startswith("gereedschapskist:")]
    assert [(c.typ, c.name) for c in components] == [("gereedschapskist:infra:Platform", "platform")]
    assert recorder.one("pulumi:providers:azure-native").inputs["location"] == "westeurope"
