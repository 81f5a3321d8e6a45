"""Honest sizes on the local backend: the machine's capacity, limits enforced by the kernel, sizes that do not fit.

The enforcement tests use this machine's real control groups (:func:`probe_limits` tries them for real); the
probe's "not enforced" answer is checked with the machine's facts given to it (no systemd, no cgroup mounts), since
this machine does have working control groups.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from gereedschapskist.catalogue import load
from gereedschapskist.core.capacity import SIZE_TOO_LARGE, Capacity, shortfall
from gereedschapskist.core.refusal import REASON_HEADER
from gereedschapskist.hub.interfaces import LocalInterfaces
from gereedschapskist.hub.launch import LaunchForbidden, authorise_request
from gereedschapskist.hub.limits import Limits, machine_capacity, probe_limits, systemd_run_prefix
from gereedschapskist.hub.options import choices_for, render_form
from tests.devclient import end_servers_started_ahead

CATALOGUE = load()
GIB = 2**30
TWO_CORES = Capacity(cpu=2.0, memory_bytes=24 * GIB)
NO_PROXY = LocalInterfaces(which=lambda name: None)


def test_capacity_is_what_this_process_may_use():
    capacity = machine_capacity()
    assert 0 < capacity.cpu <= len(os.sched_getaffinity(0))
    assert 0 < capacity.memory_bytes <= os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert capacity.gpu == 0      # local servers never get a GPU


def test_shortfall_names_what_is_short_and_kubernetes_has_no_capacity_to_check():
    sizes = {s.id: s for s in CATALOGUE.bundles["ml-python"].sizes}
    xlarge = shortfall(sizes["xlarge"], TWO_CORES)
    assert xlarge is not None and xlarge.short == ("cpu", "memory")
    assert "8 CPU" in xlarge.message and "2 CPU" in xlarge.message
    assert shortfall(sizes["large"], TWO_CORES).short == ("cpu",)
    assert shortfall(sizes["medium"], TWO_CORES) is None
    assert shortfall(sizes["xlarge"], None) is None
    gpu = CATALOGUE.bundles["ml-pytorch-gpu"].sizes[0]
    assert "gpu" in shortfall(gpu, Capacity(64, 512 * GIB)).short


def test_capacity_from_the_hub_is_checked():
    assert Capacity.from_json({"cpu": 2, "memory_bytes": 1024, "gpu": 0}) == Capacity(2.0, 1024, 0)
    for bad in ({"cpu": "2", "memory_bytes": 1}, {"cpu": 0, "memory_bytes": 1}, {"memory_bytes": 1},
                {"cpu": True, "memory_bytes": 1}):
        with pytest.raises((TypeError, ValueError, KeyError)):
            Capacity.from_json(bad)


def test_launch_of_a_size_larger_than_the_machine_is_refused_with_its_reason():
    groups = ["org:minfin", "role:ml"]
    with pytest.raises(LaunchForbidden) as refused:
        authorise_request(CATALOGUE, groups, {"bundle": "ml-python", "size": "xlarge"}, interfaces=NO_PROXY,
                          capacity=TWO_CORES)
    assert refused.value.refusal == SIZE_TOO_LARGE and refused.value.status_code == 409
    assert refused.value.headers == {REASON_HEADER: SIZE_TOO_LARGE}
    assert "'xlarge' asks for 8 CPU, 64.0 GiB; this machine has 2 CPU, 24.0 GiB" in refused.value.message
    fits = authorise_request(CATALOGUE, groups, {"bundle": "ml-python", "size": "medium"}, interfaces=NO_PROXY,
                             capacity=TWO_CORES)
    assert fits.size.id == "medium"
    anywhere = authorise_request(CATALOGUE, groups, {"bundle": "ml-python", "size": "xlarge"}, interfaces=NO_PROXY)
    assert anywhere.size.id == "xlarge"      # Kubernetes: no capacity here, node pools decide


def test_the_hubs_own_form_leaves_out_sizes_larger_than_the_machine():
    html = render_form(choices_for(CATALOGUE, ["role:ml"], NO_PROXY, capacity=TWO_CORES))
    assert 'value="medium"' in html
    assert 'value="xlarge"' not in html and 'value="large"' not in html
    assert "Size xlarge (8 CPU, 64.0 GiB) is not offered here: this machine has 2 CPU, 24.0 GiB" in html
    gpu_only = next(c for c in choices_for(CATALOGUE, ["role:ml"], NO_PROXY, capacity=TWO_CORES)
                    if c.bundle.id == "ml-pytorch-gpu")
    assert gpu_only.sizes == () and not gpu_only.startable      # nothing of it fits: not startable here
    everything = render_form(choices_for(CATALOGUE, ["role:ml"], NO_PROXY))
    assert 'value="xlarge"' in everything


def test_probe_says_why_sizes_are_not_enforced_where_nothing_works():
    limits = probe_limits("nothing", mounts=[], pid1="init")
    assert not limits.enforced and limits.mechanism == "none"
    assert "PID 1 is init, not systemd" in limits.reason
    assert "no cgroup hierarchy with cpu and memory controllers" in limits.reason
    assert limits.as_json() == {"enforced": False, "mechanism": "none", "reason": limits.reason}
    assert Limits("x").for_server("a/b", cpu=1, memory_bytes=GIB).command(["jupyter"]) == ["jupyter"]


def test_systemd_run_keeps_the_command_and_sets_the_size():
    prefix = systemd_run_prefix("/usr/bin/systemd-run", user=True, cpu=1.5, memory_bytes=4 * GIB)
    assert prefix == ("/usr/bin/systemd-run", "--user", "--scope", "--quiet", "--collect",
                      f"--property=MemoryMax={4 * GIB}", "--property=MemorySwapMax=0", "--property=CPUQuota=150%",
                      "--")


ALLOCATE = ("import sys\nblocks = []\nfor i in range(40):\n    blocks.append(bytearray(16 * 2**20))\n"
            "print('survived', flush=True)\n")
BUSY = "import time\nend = time.monotonic() + 1.0\nwhile time.monotonic() < end:\n    pass\n"


@pytest.fixture
def limits():
    found = probe_limits(f"test-{uuid.uuid4().hex[:8]}")
    yield found
    for base in getattr(found, "bases", {}).values():
        if base.is_dir():
            found.remove_stale()
            base.rmdir()


def test_where_the_machine_allows_it_memory_and_cpu_limits_are_real(limits):
    """On this machine (root, writable control groups) the probe finds a mechanism; a process over its memory is
    killed by the kernel and a busy one is throttled. Elsewhere the probe must say why not."""
    if not limits.enforced:
        assert limits.reason, "not enforced, and no reason given"
        return
    server = limits.for_server("anna/small", cpu=0.2, memory_bytes=128 * 2**20)
    try:
        hog = subprocess.run([sys.executable, "-c", ALLOCATE], preexec_fn=server.join, capture_output=True,
                             text=True, timeout=60)
        assert hog.returncode == -9 and "survived" not in hog.stdout      # 640 MiB asked, 128 MiB allowed
        busy = subprocess.Popen([sys.executable, "-c", BUSY], preexec_fn=server.join)
        assert server.holds(busy.pid)
        assert busy.wait(timeout=60) == 0
        cpu_group = next(g for g in server.groups if (g / "cpu.stat").exists())
        stat = dict(line.split() for line in (cpu_group / "cpu.stat").read_text().splitlines())
        assert int(stat["nr_throttled"]) > 0        # a second of busy loop at 0.2 CPU is throttled
        assert not server.holds(os.getpid())
    finally:
        server.release()
    assert not any(Path(g).exists() for g in server.groups)


def test_the_hub_reports_capacity_and_limits_and_enforces_a_size(hub_stack, hub_user):
    """The real hub: its capabilities answer carries this machine's capacity and how sizes are enforced; a server
    of size small (1 CPU, 1 GiB) runs inside a group with exactly those limits."""
    portal = httpx.Client(base_url=f"{hub_stack.hub.api_url}", trust_env=False,
                          headers={"Authorization": f"token {hub_stack.portal_api_token}"})
    with portal:
        document = portal.get("/gereedschapskist/interfaces").json()
    assert document["capacity"] == machine_capacity().as_json()
    enforced = document["limits"]["enforced"]
    assert document["limits"]["mechanism"] in ({"cgroup-v1", "cgroup-v2", "systemd-run"} if enforced else {"none"})
    if not enforced:
        assert document["limits"]["reason"]
        return
    anna = hub_user("anna")
    end_servers_started_ahead(hub_stack.state_dir)      # a new process: the progress shows every step
    anna.start_server("sized", {"bundle": "tiny-cowsay", "size": "small"})
    events = anna.wait_until_ready("sized")
    assert any(e.get("message", "").startswith("Size small enforced: 1 CPU · 1 GiB") for e in events), events
    try:
        pid = server_pid(hub_stack, "anna/sized")
        memberships = dict(line.split(":", 2)[1:] for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines())
        if document["limits"]["mechanism"] == "cgroup-v1":
            memory = Path("/sys/fs/cgroup/memory") / memberships["memory"].lstrip("/")
            assert memberships["memory"].endswith("/anna_sized")
            assert int((memory / "memory.limit_in_bytes").read_text()) == GIB
    finally:
        anna.stop_server("sized", remove=True)


def server_pid(hub_stack, server: str) -> int:
    import json

    for pid_file in (Path(hub_stack.state_dir) / "hub" / "servers").glob("*.pid"):
        if json.loads(pid_file.read_text())["server"] == server:
            return int(pid_file.stem)
    raise AssertionError(f"no pid file for {server}")
