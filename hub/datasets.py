"""Granted datasets in workspaces (issue 15): the hub asks the portal, mounts exactly those read-only, and takes them
away again when a grant expires or is revoked.

- :class:`PortalGrants` asks the portal's JSON API with the hub's service token (the ``portal`` service's token,
  which the portal holds as its ``HUB_API_TOKEN``): ``POST /api/v1/hub/grants/{user}/start`` at a workspace start
  (the portal registers ``dataset-mounted`` per dataset) and ``GET /api/v1/hub/grants/{user}`` while it runs. Any
  failure (portal down, refused token, a malformed answer) raises :class:`GrantsUnavailable`: the start is refused
  rather than made without knowing (fail closed).
- :class:`LocalDataMounts` (local backend) puts one folder per dataset under ``~/data/<identifier>/`` with the
  dataset's files, plus ``~/data/GRANTS.json`` and ``~/data/README.txt`` (what is granted, until when, for which
  purpose and legal ground). The hub builds the user's view in its own state folder (``<hub state>/data-views/
  <user>/``; files hard-linked from the data store, or copied across file systems) and, where the kernel allows it
  (:func:`probe_read_only_mounts`), **bind-mounts that view read-only** on ``~/data``: every write into it fails
  with "Read-only file system", also for a server running as root. Taking a dataset away is removing its folder
  from the view: it vanishes from ``~/data`` at once (a file a program already holds open stays readable to that
  program until it closes it, as with any deleted file). Where bind mounts are not allowed, ``~/data`` is a plain
  folder with files of mode 0444 in folders of mode 0555: that stops a server running as another user, **not one
  running as root** (the local backend runs servers as the hub's own user) — the hub says which mechanism it uses.
- :func:`reconcile` is run by every running server's spawner every ``data_reconcile_seconds``: it keeps only
  datasets the portal still grants and whose expiry has not passed; when the portal cannot be asked, expired ones
  go at once and all data goes once the last answer is older than ``stale_after`` seconds. So data disappears
  within ``interval + stale_after`` (≤ 60 s with the defaults) of an expiry or a revocation. New datasets are not
  added to a running workspace (they come with its next start, where they are registered).

The local backend gives no isolation between users (the data store itself is readable by any local process); on
Kubernetes each pod gets only its own read-only volumes (:mod:`.kubernetes`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Literal

import httpx

from gereedschapskist.core.refusal import Refusal

DATA_FOLDER = "data"
GRANTS_FILE = "GRANTS.json"
README_FILE = "README.txt"
_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
ST_RDONLY = getattr(os, "ST_RDONLY", 1)


class GrantsUnavailable(Refusal):
    """The portal could not say which datasets a user may use; nothing is mounted on its account."""

    reason = "grants-unavailable"

    def __init__(self, message: str):
        super().__init__(None, message)


class DataMountFailed(Refusal):
    reason = "data-mount-failed"

    def __init__(self, message: str):
        super().__init__(None, message)


@dataclass(frozen=True)
class Grant:
    """One dataset a workspace may have (what the portal answers, checked)."""

    grant: int
    dataset: int
    identifier: str
    title: str
    files: tuple[str, ...]
    expires_at: datetime
    purpose_code: str
    legal_ground: str
    organisation: str

    def as_json(self) -> dict[str, Any]:
        return {"dataset": self.identifier, "title": self.title, "grant": self.grant, "folder": self.identifier,
                "files": [PurePosixPath(f).name for f in self.files],
                "expires_at": self.expires_at.isoformat(), "purpose_code": self.purpose_code,
                "legal_ground": self.legal_ground, "organisation": self.organisation}


def parse_grants(payload: Any) -> list[Grant]:
    """The portal's answer as :class:`Grant` objects; anything unexpected raises :class:`GrantsUnavailable` (an
    identifier or file name that could leave its folder above all)."""
    try:
        grants = []
        for item in payload["grants"]:
            identifier = str(item["identifier"])
            if not _IDENTIFIER.match(identifier) or identifier in (".", ".."):
                raise ValueError(f"dataset identifier {identifier!r} is not a safe folder name")
            files = tuple(str(f) for f in item["files"])
            for name in files:
                path = PurePosixPath(name)
                if path.is_absolute() or ".." in path.parts or not path.parts:
                    raise ValueError(f"data file {name!r} is not a path inside the data store")
            expires = datetime.fromisoformat(str(item["expires_at"]))
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=timezone.utc)
            grants.append(Grant(grant=int(item["grant"]), dataset=int(item["dataset"]), identifier=identifier,
                                title=str(item.get("title_en") or item["title_nl"]), files=files, expires_at=expires,
                                purpose_code=str(item["purpose_code"]), legal_ground=str(item["legal_ground"]),
                                organisation=str(item.get("organisation") or "")))
        return grants
    except (KeyError, TypeError, ValueError) as exc:
        raise GrantsUnavailable(f"the portal's answer about granted datasets is not understood ({exc})") from None


class PortalGrants:
    """The portal's grant endpoint, with the hub's service token (a small adapter: errors become
    :class:`GrantsUnavailable`)."""

    def __init__(self, api_url: str, token: str, *, timeout: float = 10.0):
        if not api_url or not token:
            raise ValueError("the portal's API URL and the hub's service token are both needed")
        self.api_url = api_url.rstrip("/")
        self._headers = {"Authorization": f"token {token}"}
        self.timeout = timeout

    async def _ask(self, method: str, path: str, body: dict | None = None) -> list[Grant]:
        url = f"{self.api_url}/api/v1/hub/grants/{path}"
        try:
            async with httpx.AsyncClient(timeout=self.timeout, trust_env=False) as client:
                response = await client.request(method, url, json=body, headers=self._headers)
        except httpx.HTTPError as exc:
            raise GrantsUnavailable(f"the portal at {self.api_url} could not be asked which datasets may be used "
                                    f"({type(exc).__name__}); try again when the portal is back") from None
        if response.status_code != 200:
            raise GrantsUnavailable(f"the portal answered {response.status_code} when asked which datasets may be "
                                    f"used ({response.text[:200]})")
        try:
            return parse_grants(response.json())
        except ValueError:
            raise GrantsUnavailable("the portal's answer about granted datasets is not JSON") from None

    async def start(self, user: str, server: str) -> list[Grant]:
        """A workspace starts: its grants (the portal registers each as ``dataset-mounted``)."""
        return await self._ask("POST", f"{user}/start", {"server": server})

    async def current(self, user: str) -> list[Grant]:
        """The user's grants now (reconciliation; nothing registered)."""
        return await self._ask("GET", user)


# -- read-only mounts on one machine ---------------------------------------------------------------------------------

def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=30, check=False)


def is_read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & ST_RDONLY)
    except OSError:
        return False


def mount_points(proc: Path = Path("/proc/self/mountinfo")) -> list[Path]:
    try:
        lines = proc.read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split()
        if len(fields) > 4:     # octal escapes (\040 for a space) as the kernel writes them
            found.append(Path(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])))
    return found


def bind_read_only(source: Path, target: Path) -> None:
    """Bind-mount ``source`` on ``target`` read-only, and check that it is; raises :class:`DataMountFailed`."""
    first = _run("mount", "--bind", str(source), str(target))
    if first.returncode != 0:
        raise DataMountFailed(f"bind mount of {source} on {target} failed: {first.stderr.strip()}")
    second = _run("mount", "-o", "remount,bind,ro", str(target))
    if second.returncode != 0 or not is_read_only(target):
        unmount(target)
        raise DataMountFailed(f"{target} could not be made read-only: {second.stderr.strip() or 'still writable'}")


def unmount(target: Path) -> bool:
    """Detach a mount (lazily: programs holding files open keep them until they close them)."""
    return _run("umount", "-l", str(target)).returncode == 0


def probe_read_only_mounts(scratch: Path) -> tuple[str, str]:
    """Which mechanism this machine allows: ``("bind", why)`` when a read-only bind mount works here (root with
    CAP_SYS_ADMIN), else ``("copy", why)``."""
    if shutil.which("mount") is None or shutil.which("umount") is None:
        return "copy", "mount/umount are not installed"
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch) as folder:
        source, target = Path(folder) / "source", Path(folder) / "target"
        source.mkdir()
        target.mkdir()
        try:
            bind_read_only(source, target)
        except (DataMountFailed, OSError, subprocess.SubprocessError) as exc:
            return "copy", f"a read-only bind mount is not allowed here ({exc})"
        try:
            (target / "probe").write_text("x")
            ok = False
        except OSError:
            ok = True
        unmount(target)
        if not ok:
            return "copy", "a read-only bind mount was still writable"
    return "bind", "read-only bind mount (writes fail with 'Read-only file system', also as root)"


def _readme(grants: list[Grant], mechanism: str) -> str:
    lines = ["Data granted to you / Data waartoe u toegang heeft", "",
             "Each folder here is one dataset. It is read-only, and it disappears within a minute when the access "
             "expires or is revoked. Elke map is een dataset: alleen-lezen, en binnen een minuut weg als de toegang "
             "verloopt of wordt ingetrokken.", "", f"Read-only by: {mechanism}", ""]
    for g in grants:
        lines.append(f"- {g.identifier}/: {g.title} — until {g.expires_at.isoformat(timespec='minutes')} "
                     f"(purpose {g.purpose_code}, legal ground {g.legal_ground})")
    if not grants:
        lines.append("(no datasets now / nu geen datasets)")
    return "\n".join(lines) + "\n"


class LocalDataMounts:
    """The local backend's ``~/data`` (this module's docstring): a per-user view, mounted read-only."""

    def __init__(self, *, store: Path, views: Path, mechanism: Literal["bind", "copy"], why: str = ""):
        self.store, self.views, self.mechanism, self.why = Path(store), Path(views), mechanism, why

    def _view(self, user: str) -> Path:
        return self.views / re.sub(r"[^A-Za-z0-9_.-]", "_", user)

    @staticmethod
    def target(home: Path) -> Path:
        return Path(home) / DATA_FOLDER

    def mounted(self, home: Path) -> bool:
        return self.target(home).resolve() in {p.resolve() for p in mount_points()}

    def shown(self, home: Path, user: str) -> list[str]:
        """The dataset folders the user's ``~/data`` holds now."""
        where = self._view(user) if self.mechanism == "bind" else self.target(home)
        try:
            return sorted(p.name for p in where.iterdir() if p.is_dir())
        except OSError:
            return []

    def _writable(self, folder: Path) -> None:
        if self.mechanism == "copy" and folder.exists():
            folder.chmod(0o755)

    def _place(self, source: Path, target: Path) -> None:
        if self.mechanism == "bind":
            try:
                os.link(source, target)        # the view is only ever seen through the read-only mount
                return
            except OSError:
                pass
        shutil.copyfile(source, target)       # a copy, never a link, where the folder itself is writable
        target.chmod(0o444)

    def _write_index(self, root: Path, grants: list[Grant]) -> None:
        self._writable(root)
        for name, text in ((GRANTS_FILE, json.dumps({"datasets": [g.as_json() for g in grants],
                                                     "read_only": self.mechanism}, indent=2) + "\n"),
                           (README_FILE, _readme(grants, self.why or self.mechanism))):
            path = root / name
            if path.exists():
                path.chmod(0o644)
            tmp = root / f".{name}.tmp"
            tmp.write_text(text, encoding="utf-8")
            tmp.chmod(0o444)
            tmp.replace(path)
        if self.mechanism == "copy":
            root.chmod(0o555)

    def _remove(self, folder: Path) -> None:
        if self.mechanism == "copy":
            for path in [folder, *folder.rglob("*")]:
                if path.is_dir():
                    path.chmod(0o755)
        shutil.rmtree(folder, ignore_errors=True)

    def show(self, home: Path, user: str, grants: list[Grant]) -> list[Grant]:
        """At a start: ``~/data`` holds exactly ``grants`` (read-only); returns those whose files exist. Raises
        :class:`DataMountFailed` (the start is refused) when a data file is missing or the mount fails."""
        root = self._view(user) if self.mechanism == "bind" else self.target(home)
        root.mkdir(parents=True, exist_ok=True)
        self._writable(root)
        wanted = {g.identifier: g for g in grants}
        for folder in [p for p in root.iterdir() if p.is_dir()]:
            self._remove(folder)                      # rebuilt from the grants (a file may have changed)
        for grant in grants:
            folder = root / grant.identifier
            folder.mkdir()
            for name in grant.files:
                source = self.store / name
                if not source.is_file():
                    self._remove(folder)
                    raise DataMountFailed(f"the data file of dataset {grant.identifier} ({source}) is missing from "
                                          "the data store")
                self._place(source, folder / PurePosixPath(name).name)
            if self.mechanism == "copy":
                folder.chmod(0o555)
        self._write_index(root, list(wanted.values()))
        if self.mechanism == "bind":
            target = self.target(home)
            if not self.mounted(home):
                if target.exists() and not target.is_dir():
                    raise DataMountFailed(f"{target} exists and is not a folder; move it away to get your data")
                target.mkdir(parents=True, exist_ok=True)
                bind_read_only(root, target)
        return grants

    def keep(self, home: Path, user: str, grants: Iterable[Grant], now: datetime | None = None) -> list[str]:
        """Reconciliation: remove every dataset folder not in ``grants`` or expired; returns the removed ones."""
        now = now or datetime.now(timezone.utc)
        keep = [g for g in grants if g.expires_at > now]
        names = {g.identifier for g in keep}
        root = self._view(user) if self.mechanism == "bind" else self.target(home)
        if not root.is_dir():
            return []
        removed = []
        self._writable(root)
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            if folder.name not in names:
                self._remove(folder)
                removed.append(folder.name)
        present = {p.name for p in root.iterdir() if p.is_dir()}
        self._write_index(root, [g for g in keep if g.identifier in present])
        return removed

    def release(self, home: Path, user: str) -> None:
        """The user's last server stopped: ``~/data`` is unmounted (or emptied) and the view removed."""
        target = self.target(home)
        if self.mechanism == "bind":
            if self.mounted(home):
                unmount(target)
            try:
                target.rmdir()
            except OSError:
                pass
            shutil.rmtree(self._view(user), ignore_errors=True)
        elif target.is_dir():
            self._writable(target)
            for folder in [p for p in target.iterdir() if p.is_dir()]:
                self._remove(folder)
            self._write_index(target, [])

    def release_leftovers(self, homes: Path) -> list[Path]:
        """At the hub's start: unmount every ``~/data`` under ``homes`` that a hub which was killed left."""
        homes = Path(homes).resolve()
        left = [p for p in mount_points() if p.name == DATA_FOLDER and homes in p.parents]
        for path in left:
            unmount(path)
        shutil.rmtree(self.views, ignore_errors=True)
        return left


@dataclass
class DataAccess:
    """What the local spawner needs: the portal, the mounts and the timing (one object per hub)."""

    portal: PortalGrants
    mounts: LocalDataMounts
    interval: float = 15.0
    stale_after: float = 40.0


@dataclass
class Reconciled:
    removed: list[str]
    portal_answered: bool


async def reconcile(access: DataAccess, *, home: Path, user: str, last_answer: float,
                    now: float | None = None) -> tuple[Reconciled, float]:
    """One reconciliation of a user's ``~/data``: returns what was removed and the time of the portal's last
    answer (``time.monotonic()``)."""
    now = time.monotonic() if now is None else now
    try:
        grants = await access.portal.current(user)
    except GrantsUnavailable:
        if now - last_answer > access.stale_after:
            grants = []                                  # fail closed: not confirmed for too long
        else:
            shown = set(access.mounts.shown(home, user))
            grants = [g for g in _last_known(home, access, user) if g.identifier in shown]
        return Reconciled(access.mounts.keep(home, user, grants), False), last_answer
    return Reconciled(access.mounts.keep(home, user, grants), True), now


def _last_known(home: Path, access: DataAccess, user: str) -> list[Grant]:
    """The grants the index file lists (with their expiry), so expiry is enforced while the portal is away."""
    root = access.mounts._view(user) if access.mounts.mechanism == "bind" else access.mounts.target(home)
    try:
        data = json.loads((root / GRANTS_FILE).read_text(encoding="utf-8"))
        return [Grant(grant=int(d["grant"]), dataset=0, identifier=d["dataset"], title=d["title"], files=(),
                      expires_at=datetime.fromisoformat(d["expires_at"]), purpose_code=d["purpose_code"],
                      legal_ground=d["legal_ground"], organisation=d.get("organisation", ""))
                for d in data["datasets"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def environment(grants: list[Grant], data_dir: str) -> dict[str, str]:
    """The variables a server gets: where the data is, what was granted at its start and the first expiry."""
    env = {"GEREEDSCHAPSKIST_DATA_DIR": data_dir,
           "GEREEDSCHAPSKIST_GRANTS": json.dumps([{"dataset": g.identifier, "expires_at": g.expires_at.isoformat()}
                                                  for g in grants])}
    if grants:
        env["GEREEDSCHAPSKIST_DATA_EXPIRES"] = min(g.expires_at for g in grants).isoformat()
    return env
