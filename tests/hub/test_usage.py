"""Live usage of a server's process tree, its peaks, and the hub's usage endpoint (real processes, real hub)."""

from __future__ import annotations

import copy
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

import httpx

from gereedschapskist.hub.usage import UsageBook, UsageTracker, usage_document

MIB = 2**20
HOLD_300_MIB = ("import time\nblock = bytearray(300 * 2**20)\nfor i in range(0, len(block), 4096):\n    block[i] = 1\n"
                "time.sleep(6)\nprint('held')")

#: A parent that starts a child; the child holds 200 MiB and keeps a CPU busy until its stdin closes.
TREE = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", '''
import sys, threading
block = bytearray(200 * 2**20)
for i in range(0, len(block), 4096):
    block[i] = 1
print("ready", flush=True)
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
while not done.is_set():
    pass
'''], stdin=sys.stdin, stdout=sys.stdout)
child.wait()
"""


def test_a_process_tree_is_measured_with_its_children_and_peaks_are_kept():
    tree = subprocess.Popen([sys.executable, "-c", TREE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        tracker = UsageTracker(tree.pid)
        assert tree.stdout.readline().strip() == "ready"
        time.sleep(0.3)   # let the child burn some CPU between two samples (the figure is CPU time / wall time)
        sample = tracker.sample()
        assert sample.processes == 2                      # the parent and its busy child
        assert sample.rss_bytes >= 200 * MIB
        assert sample.cpu_percent > 0
        tree.stdin.close()
        tree.wait(timeout=30)
        assert tracker.sample() is None                   # gone: nothing more to sample
        document = tracker.document()
        assert document["peak_rss_bytes"] >= 200 * MIB and document["peak_cpu_percent"] > 0
        assert document["samples"] == 1 and document["rss_bytes"] == sample.rss_bytes
    finally:
        tree.kill()


def test_the_book_keeps_the_newest_stopped_servers_and_is_shared_not_copied():
    book = UsageBook(size=2)
    for name in ("a/1", "a/2", "a/3"):
        book.keep(name, {"server": name})
    assert book.get("a/1") is None and book.get("a/3") == {"server": "a/3"}
    assert copy.deepcopy(book) is book     # traitlets deep-copies config values into each spawner


def test_the_idle_countdown_ends_a_timeout_after_the_last_activity():
    last = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
    document = usage_document(server="x", running=True, tracker=None, size=None, limits={"enforced": False},
                              last_activity=last, idle_timeout_seconds=3600, cull_every_seconds=300)
    assert document["idle_cull_at"] == "2026-12-01T11:00:00Z"
    assert document["last_activity"] == "2026-12-01T10:00:00Z"
    stopped = usage_document(server="x", running=False, tracker=None, size=None, limits={}, last_activity=last,
                             idle_timeout_seconds=3600, cull_every_seconds=300)
    assert "idle_cull_at" not in stopped


def test_the_hub_reports_a_servers_usage_to_the_portal_and_its_owner_only(hub_stack, hub_user):
    anna, bram = hub_user("anna"), hub_user("bram")
    anna.start_server("meter", {"bundle": "tiny-cowsay", "size": "small"})
    anna.wait_until_ready("meter")
    portal = httpx.Client(base_url=hub_stack.hub.api_url, trust_env=False, timeout=30,
                          headers={"Authorization": f"token {hub_stack.portal_api_token}"})
    path = "/gereedschapskist/usage/anna/meter"
    try:
        # a kernel holds 300 MiB for a few seconds (run_code ends the kernel afterwards); meanwhile we look
        holder = threading.Thread(target=anna.run_code, args=("meter", HOLD_300_MIB), daemon=True)
        holder.start()
        deadline = time.monotonic() + 60
        while True:
            running = portal.get(path)
            assert running.status_code == 200, running.text
            document = running.json()
            if document["usage"]["rss_bytes"] >= 300 * MIB or time.monotonic() > deadline or not holder.is_alive():
                break
            time.sleep(0.5)
        holder.join(timeout=60)
        assert document["running"] is True and document["server"] == "meter"
        assert document["size"] == {"id": "small", "cpu": 1.0, "memory_bytes": 2**30}
        assert document["usage"]["rss_bytes"] >= 300 * MIB       # the kernel holding 300 MiB counts
        assert document["usage"]["processes"] >= 2               # the server and its kernel
        assert document["idle_timeout_seconds"] > 0 and document["usage"]["started"]
        assert set(document["limits"]) >= {"enforced", "mechanism"}
        assert anna.api.get(path).status_code == 200             # her own token: her own server
        assert bram.api.get(path).status_code in (403, 404)      # not someone else's
        assert portal.get("/gereedschapskist/usage/anna/nothing-here").status_code == 404
    finally:
        anna.stop_server("meter", remove=True)
    try:
        after = portal.get(path)
        assert after.status_code == 200                          # the last figures outlive the server
        kept = after.json()
        assert kept["running"] is False and kept["usage"]["peak_rss_bytes"] >= 300 * MIB
    finally:
        portal.close()
