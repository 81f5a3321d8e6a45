"""Honest sizes on the local backend: what this machine has, and whether a size's CPU and memory are enforced.

A size promises CPUs and memory. On Kubernetes the pod's requests and limits keep that promise. On one machine
the hub keeps it only where the kernel lets it: each server process is put, before it runs any code, into a
control group of its own whose CPU quota and memory limit are the size's. :func:`probe_limits` finds out, by
trying, which way works here (first that works):

1. **systemd-run** (PID 1 is systemd): the server runs in a transient scope, ``systemd-run --scope -p MemoryMax=…
   -p CPUQuota=…`` (``--user`` when the hub is not root: a user manager delegates cpu and memory);
2. **cgroup v2** (a writable unified hierarchy with the ``cpu`` and ``memory`` controllers delegated to the hub's
   own group): ``memory.max``, ``memory.swap.max`` and ``cpu.max`` in a child group;
3. **cgroup v1** (writable ``memory`` and ``cpu`` hierarchies, as on this project's build machines):
   ``memory.limit_in_bytes`` (and ``memory.memsw.limit_in_bytes``) and ``cpu.cfs_quota_us`` in child groups.

Where none works the hub still starts servers but says so: :attr:`Limits.enforced` is false with the reason, the
capabilities endpoint (:mod:`.api`) reports it, and the portal tells the user "sizes are not enforced on this
machine". ``prlimit`` / ``RLIMIT_AS`` is not used: it limits address space, not memory (JupyterLab reserves far
more address space than it uses), so it would fail healthy servers and protect nothing.

The probe creates a group, writes the limits and removes it again; the groups of servers live under
``<the hub's own group>/gereedschapskist-<hub>/<user>-<server>`` and are removed when the server stops (a hub that
starts removes the empty ones a killed hub left).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from gereedschapskist.core.capacity import Capacity

CPU_PERIOD_US = 100_000
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _group_name(key: str) -> str:
    return _SAFE.sub("_", key)[:100] or "_"


# -- what the machine has ----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CgroupMount:
    """One mounted hierarchy and the hub's own group in it."""

    version: int                  # 1 or 2
    controllers: frozenset[str]   # v1: the mount's controllers; v2: those enabled for the hub's group
    own: Path                     # the hub's own group directory

    def file(self, name: str) -> Path:
        return self.own / name


def cgroup_mounts(proc: Path = Path("/proc/self")) -> list[CgroupMount]:
    """The hierarchies this process sees, each with this process's own group (from ``mountinfo`` and ``cgroup``)."""
    try:
        membership = (proc / "cgroup").read_text().splitlines()
        mountinfo = (proc / "mountinfo").read_text().splitlines()
    except OSError:
        return []
    paths_v1: dict[str, str] = {}
    path_v2 = None
    for line in membership:
        hierarchy, controllers, path = line.split(":", 2)
        if hierarchy == "0" and controllers == "":
            path_v2 = path
        for controller in controllers.split(","):
            if controller:
                paths_v1[controller] = path
    mounts = []
    for line in mountinfo:
        fields = line.split()
        if " - " not in line:
            continue
        root, mount_point = fields[3], fields[4]
        fstype, _source, options = line.split(" - ", 1)[1].split()[:3]
        if fstype == "cgroup2" and path_v2 is not None:
            own = _inside(Path(mount_point), root, path_v2)
            try:
                enabled = frozenset((own / "cgroup.controllers").read_text().split())
            except OSError:
                enabled = frozenset()
            mounts.append(CgroupMount(2, enabled, own))
        elif fstype == "cgroup":
            controllers = frozenset(o for o in options.split(",") if o in paths_v1)
            if controllers:
                path = paths_v1[next(iter(controllers))]
                mounts.append(CgroupMount(1, controllers, _inside(Path(mount_point), root, path)))
    return mounts


def _inside(mount_point: Path, root: str, path: str) -> Path:
    relative = path[len(root):] if root != "/" and path.startswith(root) else path
    return mount_point / relative.lstrip("/")


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().split()[0]
    except (OSError, IndexError):
        return None
    return None if text == "max" else int(text)


def machine_capacity(mounts: list[CgroupMount] | None = None) -> Capacity:
    """CPUs and memory the hub's workspaces can have: the CPUs this process may run on and the machine's memory,
    each lowered by a quota or limit on the hub's own group (a container, a VM slice). Local servers get no GPU."""
    mounts = cgroup_mounts() if mounts is None else mounts
    cpu = float(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for mount in mounts:
        if mount.version == 2:
            try:
                quota, period = mount.file("cpu.max").read_text().split()
                if quota != "max":
                    cpu = min(cpu, int(quota) / int(period))
            except (OSError, ValueError):
                pass
            limit = _read_int(mount.file("memory.max"))
        else:
            if "cpu" in mount.controllers:
                quota, period = _read_int(mount.file("cpu.cfs_quota_us")), _read_int(mount.file("cpu.cfs_period_us"))
                if quota and quota > 0 and period:
                    cpu = min(cpu, quota / period)
            limit = _read_int(mount.file("memory.limit_in_bytes")) if "memory" in mount.controllers else None
        if limit:
            memory = min(memory, limit)
    return Capacity(cpu=round(cpu, 2), memory_bytes=int(memory), gpu=0)


# -- enforcing a size --------------------------------------------------------------------------------------------

@dataclass
class ServerLimits:
    """The limits of one server: how to start it inside them, and how to clean up afterwards."""

    groups: tuple[Path, ...] = ()             # group directories the process joins (cgroup mechanisms)
    prefix: tuple[str, ...] = ()              # a command to run it through (systemd-run)
    created: list[Path] = field(default_factory=list)

    def command(self, cmd: list[str]) -> list[str]:
        return [*self.prefix, *cmd]

    def join(self) -> None:
        """In the child, after fork and before exec: move this process into its groups (fail: no start)."""
        for group in self.groups:
            with open(group / "cgroup.procs", "w") as procs:
                procs.write("0")      # "0": the writing process itself

    def holds(self, pid: int) -> bool:
        """Whether ``pid`` runs inside every group (checked after the start: a limit is never assumed)."""
        for group in self.groups:
            try:
                members = (group / "cgroup.procs").read_text().split()
            except OSError:
                return False
            if str(pid) not in members:
                return False
        return True

    def release(self) -> None:
        """Remove the groups once the server has stopped (left in place while processes remain)."""
        for group in reversed(self.created):
            try:
                group.rmdir()
            except OSError:
                pass
        self.created = []


class Limits:
    """No enforcement: the base, used where nothing else works (``reason`` says why) and on Kubernetes."""

    mechanism = "none"
    enforced = False

    def __init__(self, reason: str = ""):
        self.reason = reason

    def for_server(self, key: str, *, cpu: float, memory_bytes: int) -> ServerLimits:
        return ServerLimits()

    def remove_stale(self) -> None:
        """Remove the empty groups of servers a killed hub left."""

    def as_json(self) -> dict:
        document = {"enforced": self.enforced, "mechanism": self.mechanism}
        if not self.enforced and self.reason:
            document["reason"] = self.reason
        return document


class KubernetesLimits(Limits):
    """Pods get their size as requests and limits (:mod:`.kubernetes`)."""

    mechanism = "kubernetes"
    enforced = True


class _CgroupLimits(Limits):
    enforced = True

    def __init__(self, bases: dict[str, Path]):
        super().__init__()
        self.bases = bases  # controller ("memory", "cpu", or "cpu+memory" on v2) → this hub's parent group

    def _make(self, base: Path, key: str, created: list[Path]) -> Path:
        base.mkdir(exist_ok=True)
        group = base / _group_name(key)
        group.mkdir(exist_ok=True)      # a group a killed hub left for the same server is reused
        created.append(group)
        return group

    def remove_stale(self) -> None:
        for base in set(self.bases.values()):
            for group in base.glob("*/") if base.is_dir() else ():
                try:
                    group.rmdir()
                except OSError:
                    pass


class CgroupV2Limits(_CgroupLimits):
    mechanism = "cgroup-v2"

    def for_server(self, key: str, *, cpu: float, memory_bytes: int) -> ServerLimits:
        created: list[Path] = []
        base = self.bases["cpu+memory"]
        if not base.is_dir():   # the controllers must be enabled for the children of the hub's group and of base
            (base.parent / "cgroup.subtree_control").write_text("+cpu +memory")
            base.mkdir()
            (base / "cgroup.subtree_control").write_text("+cpu +memory")
        group = self._make(base, key, created)
        (group / "memory.max").write_text(str(memory_bytes))
        if (group / "memory.swap.max").exists():
            (group / "memory.swap.max").write_text("0")
        (group / "cpu.max").write_text(f"{max(1000, int(cpu * CPU_PERIOD_US))} {CPU_PERIOD_US}")
        return ServerLimits(groups=(group,), created=created)


class CgroupV1Limits(_CgroupLimits):
    mechanism = "cgroup-v1"

    def for_server(self, key: str, *, cpu: float, memory_bytes: int) -> ServerLimits:
        created: list[Path] = []
        memory = self._make(self.bases["memory"], key, created)
        (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
        if (memory / "memory.memsw.limit_in_bytes").exists():   # no swapping past the limit
            try:
                (memory / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
            except OSError:
                pass  # swap accounting off: there is no swap to escape to
        cpu_group = self._make(self.bases["cpu"], key, created)
        (cpu_group / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
        (cpu_group / "cpu.cfs_quota_us").write_text(str(max(1000, int(cpu * CPU_PERIOD_US))))
        return ServerLimits(groups=(memory, cpu_group), created=created)


class SystemdRunLimits(Limits):
    mechanism = "systemd-run"
    enforced = True

    def __init__(self, systemd_run: str, user: bool):
        super().__init__()
        self.systemd_run, self.user = systemd_run, user

    def for_server(self, key: str, *, cpu: float, memory_bytes: int) -> ServerLimits:
        return ServerLimits(prefix=systemd_run_prefix(self.systemd_run, user=self.user, cpu=cpu,
                                                      memory_bytes=memory_bytes))


def systemd_run_prefix(systemd_run: str, *, user: bool, cpu: float, memory_bytes: int) -> tuple[str, ...]:
    """``systemd-run --scope`` runs the command itself (same pid) in a transient scope with these limits."""
    return (systemd_run, *(["--user"] if user else []), "--scope", "--quiet", "--collect",
            f"--property=MemoryMax={memory_bytes}", "--property=MemorySwapMax=0",
            f"--property=CPUQuota={max(1, round(cpu * 100))}%", "--")


# -- finding out what works here ---------------------------------------------------------------------------------

PROBE_KEY = "probe"
PROBE_MEMORY = 256 * 2**20


def probe_limits(hub_name: str, *, mounts: list[CgroupMount] | None = None, pid1: str | None = None,
                 run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> Limits:
    """The first mechanism that works here, tried for real (a group made, limits written, removed); else
    :class:`Limits` with every reason it found, for people."""
    reasons = []
    pid1 = _pid1() if pid1 is None else pid1
    systemd_run = shutil.which("systemd-run")
    if pid1 == "systemd" and systemd_run:
        user = hasattr(os, "geteuid") and os.geteuid() != 0
        prefix = systemd_run_prefix(systemd_run, user=user, cpu=0.5, memory_bytes=PROBE_MEMORY)
        try:
            done = run([*prefix, "true"], capture_output=True, text=True, timeout=20)
            if done.returncode == 0:
                return SystemdRunLimits(systemd_run, user)
            reasons.append(f"systemd-run failed: {(done.stderr or '').strip()[:200]}")
        except (OSError, subprocess.TimeoutExpired) as exc:
            reasons.append(f"systemd-run failed: {exc}")
    else:
        reasons.append(f"PID 1 is {pid1 or 'unknown'}, not systemd (no systemd-run)")
    mounts = cgroup_mounts() if mounts is None else mounts
    name = _group_name(f"gereedschapskist-{hub_name}")
    v2 = next((m for m in mounts if m.version == 2), None)
    if v2 is not None and {"cpu", "memory"} <= v2.controllers:
        candidate: Limits = CgroupV2Limits({"cpu+memory": v2.own / name})
        why = _try(candidate)
        if why is None:
            return candidate
        reasons.append(f"cgroup v2 at {v2.own}: {why}")
    elif v2 is not None:
        reasons.append(f"cgroup v2 at {v2.own}: the cpu and memory controllers are not delegated "
                       f"(has: {' '.join(sorted(v2.controllers)) or 'none'})")
    v1 = {c: m for m in mounts if m.version == 1 for c in m.controllers if c in ("cpu", "memory")}
    if set(v1) == {"cpu", "memory"}:
        candidate = CgroupV1Limits({c: v1[c].own / name for c in ("cpu", "memory")})
        why = _try(candidate)
        if why is None:
            return candidate
        reasons.append(f"cgroup v1: {why}")
    elif not v2:
        reasons.append("no cgroup hierarchy with cpu and memory controllers is mounted")
    return Limits("; ".join(reasons))


def _try(limits: Limits) -> str | None:
    try:
        server = limits.for_server(PROBE_KEY, cpu=0.5, memory_bytes=PROBE_MEMORY)
    except OSError as exc:
        return f"cannot create a group with limits ({exc.strerror or exc})"
    try:   # and move a process into it, as a server's start will
        subprocess.run(["true"], preexec_fn=server.join, check=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as exc:
        server.release()
        return f"cannot move a process into a group ({exc})"
    server.release()
    for base in getattr(limits, "bases", {}).values():
        try:
            base.rmdir()   # made again for the first server; gone now if nothing else uses it
        except OSError:
            pass
    return None


def _pid1() -> str:
    try:
        return Path("/proc/1/comm").read_text().strip()
    except OSError:
        return ""
