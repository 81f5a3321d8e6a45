"""The ``gitops`` provisioner (supply model b, "standard definition files users can propose changes to"): a contract
becomes a stack file for the cloud in a pull request; CI's deploy job (``.github/workflows/deploy-contract.yml``)
runs ``pulumi up`` for it once merged, then activates the contract (:func:`activate`, through
``gereedschapskist contracts activate`` or the callback ``POST /api/v1/contracts/{id}/activate``).

Steps, each idempotent (a retry repeats them):

1. :func:`stack_text` writes ``infra/Pulumi.<environment>.yaml`` from the contract, its environment section through
   the typed model (:class:`~gereedschapskist.core.environment.EnvironmentSpec`), its cloud section from the
   contract and the ``GITOPS_*`` settings;
2. :func:`check_stack` checks it with the command CI runs, ``gereedschapskist infra preview-config`` (the portal
   does not import ``infra``: components never import each other);
3. a pull request with the contract's summary: through GitHub's REST API when ``GITOPS_GITHUB_TOKEN`` is set
   (:class:`GitHub`; one branch per contract, an open pull request for it is reused), otherwise a branch in the
   local repository ``GITOPS_REPO_DIR`` written with git plumbing (a separate index, ``commit-tree``,
   ``update-ref``: the working tree and index of whoever works in that checkout are never touched) and the pull
   request's text as a file in the portal's state folder. The contract page says which.

The contract then waits (``provisioning_status = waiting``) for the deploy's activation.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import yaml
from sqlalchemy.orm import Session

from gereedschapskist.core import paths
from gereedschapskist.core.environment import ENVIRONMENT_KEY, EnvironmentSpec, OidcSpec
from gereedschapskist.core.groups import ORG_ADMIN_PREFIX

from ..errors import Conflict, InvalidInput
from ..models import Contract, ContractState, EnvironmentKind, ProvisioningStatus
from .contracts import transition
from .environments import register_environment
from .provisioning import Provisioner, ProvisioningFailed, environment_name

CLOUD_KEY = "gereedschapskist:cloud"
#: ``EnvironmentSpec.contract`` of a stack the portal wrote: CI's deploy job reads the contract id from it.
CONTRACT_TAG = "portal-contract-{id}"
CONTRACT_TAG_PATTERN = re.compile(r"^portal-contract-([1-9][0-9]*)$")
DAYS_PER_MONTH = 365.25 / 12
BOT = {"GIT_AUTHOR_NAME": "Gereedschapskist portal", "GIT_AUTHOR_EMAIL": "portal@gereedschapskist.invalid",
       "GIT_COMMITTER_NAME": "Gereedschapskist portal", "GIT_COMMITTER_EMAIL": "portal@gereedschapskist.invalid"}


class GitopsFailed(ProvisioningFailed):
    reason = "gitops-failed"


def branch_of(contract: Contract) -> str:
    return f"contract/{environment_name(contract)}"


def _cost_centre(text: str) -> str:
    code = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:63].strip("-")
    return code or "unknown"


def stack_text(contract: Contract, *, settings) -> str:
    """The stack file of ``contract``'s cloud environment (``infra/Pulumi.<environment>.yaml``)."""
    name = environment_name(contract)
    issuer = settings.gitops_oidc_issuer or settings.oidc_issuer
    missing = [label for label, value in (
        ("GEREEDSCHAPSKIST_PORTAL_GITOPS_OIDC_ISSUER (or OIDC_ISSUER)", issuer),
        (f"GEREEDSCHAPSKIST_PORTAL_GITOPS_CLOUD_ACCOUNTS[{contract.partner!r}]",
         settings.gitops_cloud_accounts.get(contract.partner)),
        ("GEREEDSCHAPSKIST_PORTAL_GITOPS_ACME_EMAIL", settings.gitops_acme_email),
        ("GEREEDSCHAPSKIST_PORTAL_GITOPS_HUB_DOMAIN", settings.gitops_hub_domain)) if not value]
    if missing:
        raise GitopsFailed(f"the gitops provisioner cannot write the stack file of {name}: set {', '.join(missing)}",
                           reason="stack-file-invalid")
    environment = EnvironmentSpec(
        name=name, organisation=contract.organisation.slug, contract=CONTRACT_TAG.format(id=contract.id),
        stage=contract.stage.value, public_url=f"https://{name}.{settings.gitops_hub_domain}",
        portal_url=settings.public_url if settings.public_url.startswith("https://") else None,
        oidc=OidcSpec(issuer=issuer, client_id=settings.gitops_oidc_client_id),
        admin_group=f"{ORG_ADMIN_PREFIX}{contract.organisation.slug}", roles=tuple(contract.roles),
        bundles=tuple(contract.bundles))
    days = (contract.ends_on - contract.starts_on).days + 1
    per_month = math.ceil(float(contract.budget_eur) / max(1.0, days / DAYS_PER_MONTH))
    cloud = {"partner": contract.partner, "region": contract.region,
             "account": settings.gitops_cloud_accounts[contract.partner],
             "cost_centre": _cost_centre(contract.cost_centre), "budget_eur_per_month": max(per_month, 1),
             "tls": {"acme_email": settings.gitops_acme_email}}
    header = (f"# Contract {contract.id} of {contract.organisation.name} with {contract.partner} "
              f"({contract.stage.value}), {contract.starts_on.isoformat()} – {contract.ends_on.isoformat()}.\n"
              f"# Written by the portal's gitops provisioner; change it by a pull request.\n")
    config = {ENVIRONMENT_KEY: environment.model_dump(mode="json", exclude_defaults=True), CLOUD_KEY: cloud}
    config[ENVIRONMENT_KEY]["contract"] = environment.contract
    return header + yaml.safe_dump({"config": config}, sort_keys=False, allow_unicode=True)


def check_stack(name: str, text: str, *, timeout: float = 120) -> str:
    """Check a stack file with ``gereedschapskist infra preview-config`` (what CI runs first); its output, or
    :class:`ProvisioningFailed` (``stack-file-invalid``) with every problem it listed."""
    with tempfile.TemporaryDirectory(prefix="gitops-") as folder:
        (Path(folder) / f"Pulumi.{name}.yaml").write_text(text, encoding="utf-8")
        try:
            result = subprocess.run([sys.executable, "-m", "gereedschapskist", "infra", "preview-config", name,
                                     "--infra-dir", folder], capture_output=True, text=True, timeout=timeout,
                                    stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise ProvisioningFailed(f"infra preview-config {name} did not finish within {timeout:.0f} s",
                                     reason="stack-file-invalid") from None
    output = (result.stdout + result.stderr).replace(folder, "infra")
    if result.returncode != 0:
        raise ProvisioningFailed(f"infra preview-config refused the stack file of {name}:\n{output.strip()}",
                                 reason="stack-file-invalid")
    return output


def pr_title(contract: Contract) -> str:
    return (f"Contract {contract.id}: {contract.organisation.name} on {contract.partner} "
            f"({contract.stage.value}, {contract.region})")


def pr_body(contract: Contract, *, name: str, preview: str) -> str:
    """The pull request's text: the contract's summary and what preview-config said."""
    sizes = ", ".join(contract.sizes) or "—"
    return "\n".join([
        f"Standard contract {contract.id} of **{contract.organisation.name}** (`{contract.organisation.slug}`), "
        f"approved in the portal.", "",
        "| | |", "|---|---|",
        f"| partner, region | {contract.partner}, {contract.region} |",
        f"| stage | {contract.stage.value} |",
        f"| roles | {', '.join(contract.roles)} |",
        f"| bundles | {', '.join(contract.bundles)} |",
        f"| sizes | {sizes} |",
        f"| users × hours per week | {contract.expected_users} × {contract.hours_per_week} |",
        f"| budget | EUR {contract.budget_eur} |",
        f"| period | {contract.starts_on.isoformat()} – {contract.ends_on.isoformat()} |",
        f"| cost centre | {contract.cost_centre} |", "",
        f"Stack file: `infra/Pulumi.{name}.yaml`. Merging it lets CI's deploy job (deploy-contract) run "
        f"`pulumi up --stack {name}` and then activate contract {contract.id} in the portal.", "",
        "`gereedschapskist infra preview-config`:", "", "```", preview.strip(), "```", ""])


@dataclass(frozen=True)
class PullRequest:
    branch: str
    url: str | None = None        # GitHub's pull request
    number: int | None = None
    text_file: str | None = None  # the local pull request text (no token)
    commit: str | None = None


# -- GitHub's REST API -----------------------------------------------------------------------------------------------

class GitHub:
    """The few calls of GitHub's REST API a pull request takes (git data API for the commit, then pulls). Every
    failure becomes :class:`GitopsFailed` naming the call and GitHub's message; the token never appears in one."""

    def __init__(self, *, api_url: str, repo: str, token: str, timeout: float = 30):
        self.repo = repo
        self._client = httpx.Client(base_url=api_url.rstrip("/"), timeout=timeout, headers={
            "Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "gereedschapskist-portal"})

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201), **kwargs) -> httpx.Response:
        try:
            response = self._client.request(method, f"/repos/{self.repo}{path}", **kwargs)
        except httpx.HTTPError as exc:
            raise GitopsFailed(f"GitHub {method} {path}: {type(exc).__name__}: {exc}") from None
        if response.status_code not in ok:
            try:
                message = response.json().get("message", "")
            except ValueError:
                message = response.text[:200]
            raise GitopsFailed(f"GitHub {method} {path}: {response.status_code} {message}")
        return response

    def open_pull_request(self, *, base: str, branch: str, title: str, body: str, path: str | None = None,
                          content: str | None = None, files: dict[str, str] | None = None) -> PullRequest:
        """One commit on ``branch`` (from ``base``) with ``files`` (path → text; or the one ``path`` and
        ``content``), and an open pull request for it (an open one for the branch is reused)."""
        files = dict(files or {path: content})
        base_sha = self._call("GET", f"/git/ref/heads/{base}").json()["object"]["sha"]
        base_tree = self._call("GET", f"/git/commits/{base_sha}").json()["tree"]["sha"]
        existing = self._call("GET", f"/git/ref/heads/{branch}", ok=(200, 404))
        if existing.status_code == 200:
            head = existing.json()["object"]["sha"]
            same = True
            for one, text in files.items():
                current = self._call("GET", f"/contents/{one}", ok=(200, 404), params={"ref": head})
                same = same and current.status_code == 200 and current.json().get("sha") == _blob_sha(text)
        else:
            head, same = None, False
        if not same:
            tree = self._call("POST", "/git/trees", json={"base_tree": base_tree, "tree": [
                {"path": one, "mode": "100644", "type": "blob", "content": text}
                for one, text in files.items()]}).json()["sha"]
            head = self._call("POST", "/git/commits", json={"message": title, "tree": tree,
                                                            "parents": [base_sha]}).json()["sha"]
            if existing.status_code == 200:
                self._call("PATCH", f"/git/refs/heads/{branch}", json={"sha": head, "force": True})
            else:
                self._call("POST", "/git/refs", json={"ref": f"refs/heads/{branch}", "sha": head})
        owner = self.repo.split("/")[0]
        open_ones = self._call("GET", "/pulls", params={"head": f"{owner}:{branch}", "state": "open"}).json()
        if open_ones:
            pull = open_ones[0]
        else:
            pull = self._call("POST", "/pulls", json={"title": title, "head": branch, "base": base,
                                                      "body": body}).json()
        return PullRequest(branch=branch, url=pull["html_url"], number=pull["number"], commit=head)

    def pull_state(self, number: int) -> str:
        """``open``, ``merged`` or ``closed`` (closed without merging): a pull request's state on GitHub."""
        pull = self._call("GET", f"/pulls/{int(number)}").json()
        if pull.get("merged") or pull.get("merged_at"):
            return "merged"
        return "closed" if pull.get("state") == "closed" else "open"


def _blob_sha(content: str) -> str:
    import hashlib
    data = content.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


# -- a local branch --------------------------------------------------------------------------------------------------

def _git(repo: Path, *args: str, env: dict | None = None, input: str | None = None) -> str:
    try:
        result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, input=input,
                                env={**os.environ, **BOT, **(env or {})}, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitopsFailed(f"git {' '.join(args)} in {repo}: {exc}") from None
    if result.returncode != 0:
        raise GitopsFailed(f"git {' '.join(args)} in {repo}: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout.strip()


def local_branch(*, repo: Path, base: str, branch: str, message: str, path: str | None = None,
                 content: str | None = None, files: dict[str, str] | None = None) -> str:
    """Commit ``files`` (path → text; or ``content`` at ``path``) on ``branch`` (made from ``base``) in ``repo``
    without touching its working tree or index: a separate index file, ``commit-tree`` and ``update-ref``. The
    commit, reused when the branch already holds exactly these files."""
    files = dict(files or {path: content})
    base_sha = _git(repo, "rev-parse", "--verify", f"refs/heads/{base}^{{commit}}")
    with tempfile.TemporaryDirectory(prefix="gitops-index-") as folder:
        index = {"GIT_INDEX_FILE": str(Path(folder) / "index")}
        _git(repo, "read-tree", base_sha, env=index)
        for one, text in files.items():
            blob = _git(repo, "hash-object", "-w", "--stdin", input=text)
            _git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{one}", env=index)
        tree = _git(repo, "write-tree", env=index)
    try:
        current = _git(repo, "rev-parse", "--verify", f"refs/heads/{branch}^{{commit}}")
    except GitopsFailed:
        current = None
    if current and _git(repo, "rev-parse", f"{current}^{{tree}}") == tree:
        return current
    commit = _git(repo, "commit-tree", tree, "-p", base_sha, "-m", message)
    _git(repo, "update-ref", f"refs/heads/{branch}", commit)
    return commit


# -- a pull request, or a local branch ------------------------------------------------------------------------------

def propose(*, settings, branch: str, files: dict[str, str], title: str, body: str, text_file: Path,
            what: str) -> dict:
    """Propose ``files`` (path → text) on ``branch`` from ``GITOPS_BASE_BRANCH``: a pull request on GitHub
    (:class:`GitHub`) when ``GITOPS_GITHUB_TOKEN`` and ``GITOPS_GITHUB_REPO`` are set, otherwise a branch in the local
    repository (:func:`local_branch`; ``GITOPS_REPO_DIR`` or this checkout) with the pull request's text written to
    ``text_file``. What was done: ``url``, ``number``, ``commit``, ``repository`` for GitHub; ``local_only``,
    ``repository``, ``commit``, ``text_file`` for a local branch. No repository at all: :class:`GitopsFailed`
    naming ``what`` the branch is for."""
    token = settings.gitops_github_token.get_secret_value() if settings.gitops_github_token else None
    if token and settings.gitops_github_repo:
        github = GitHub(api_url=settings.gitops_github_api_url, repo=settings.gitops_github_repo, token=token)
        try:
            pull = github.open_pull_request(base=settings.gitops_base_branch, branch=branch, files=files,
                                            title=title, body=body)
        finally:
            github.close()
        return {"url": pull.url, "number": pull.number, "commit": pull.commit,
                "repository": settings.gitops_github_repo}
    repo = settings.gitops_repo_dir or paths.repository()
    if repo is None:
        raise GitopsFailed(f"no repository for {what}: set GEREEDSCHAPSKIST_PORTAL_GITOPS_REPO_DIR or "
                           "GITOPS_GITHUB_TOKEN and GITOPS_GITHUB_REPO")
    commit = local_branch(repo=Path(repo), base=settings.gitops_base_branch, branch=branch, files=files,
                          message=f"{title}\n\n{body}")
    text_file = text_file.resolve()
    text_file.parent.mkdir(parents=True, exist_ok=True)
    text_file.write_text(f"# {title}\n\nbase: {settings.gitops_base_branch} ← {branch} ({commit[:12]}) in "
                         f"{Path(repo).resolve()}\n\n{body}", encoding="utf-8")
    return {"local_only": True, "repository": str(Path(repo).resolve()), "commit": commit,
            "text_file": str(text_file)}


#: :func:`propose`'s keys as a contract's ``provisioning_detail`` names them (the contract page, the API).
CONTRACT_DETAIL_KEYS = {"url": "pull_request_url", "number": "pull_request", "text_file": "pr_text_file"}


# -- the provisioner -------------------------------------------------------------------------------------------------

class GitopsProvisioner(Provisioner):
    name = "gitops"
    immediate = False          # preview-config and GitHub take seconds: the worker runs it, not the approving request

    def check(self, name: str, text: str) -> str:
        """What ``gereedschapskist infra preview-config`` says of the stack file (:func:`check_stack`)."""
        return check_stack(name, text)

    def provision(self, session: Session, *, contract: Contract, now: datetime) -> None:
        settings = self.settings
        name = environment_name(contract)
        path = f"infra/Pulumi.{name}.yaml"
        text = stack_text(contract, settings=settings)
        preview = self.check(name, text)
        branch = branch_of(contract)
        title, body = pr_title(contract), pr_body(contract, name=name, preview=preview)
        detail = {"provisioner": self.name, "environment": name, "stack_file": path, "branch": branch}
        proposed = propose(settings=settings, branch=branch, files={path: text}, title=title, body=body,
                           text_file=settings.state_dir / "gitops" / f"{name}.md", what="the gitops branch")
        detail.update({CONTRACT_DETAIL_KEYS.get(key, key): value for key, value in proposed.items()})
        contract.provisioning_detail = detail
        contract.provisioning_status = ProvisioningStatus.WAITING
        contract.provisioning_error = None
        contract.provisioning_next_at = None
        session.flush()


# -- activation, after CI's deploy -----------------------------------------------------------------------------------

def activate(session: Session, *, contract: Contract, hub_url: str, hub_api_url: str | None = None) -> Contract:
    """The deploy finished: register the contract's cloud Environment and make the contract active (the portal
    itself). Again for an active contract with the same hub: nothing changes (CI may repeat it)."""
    for label, url in (("hub_url", hub_url), ("hub_api_url", hub_api_url)):
        if url is not None and not re.match(r"^https?://[^\s/]+", url):
            raise InvalidInput(f"{label} = {url!r}: expected an http(s) URL like https://hub.example.nl",
                               reason="invalid-hub-url")
    hub_url = hub_url.rstrip("/")
    api = (hub_api_url or f"{hub_url}/hub/api").rstrip("/")
    if contract.state is ContractState.ACTIVE and contract.environment is not None \
            and (contract.environment.hub_url, contract.environment.hub_api_url) == (hub_url, api):
        return contract
    if contract.state is not ContractState.PROVISIONING:
        raise Conflict(f"contract {contract.id} is {contract.state.value}; only a contract being provisioned is "
                       "activated", reason="contract-not-provisioning")
    name = (contract.provisioning_detail or {}).get("environment") or environment_name(contract)
    environment = register_environment(session, name=name, kind=EnvironmentKind.CLOUD, stage=contract.stage,
                                       hub_url=hub_url, hub_api_url=api, organisation=contract.organisation)
    environment.contract_id = contract.id
    contract.environment = environment
    contract.provisioning_detail = {**(contract.provisioning_detail or {}), "environment": name}
    contract.provisioning_status = ProvisioningStatus.DONE
    contract.provisioning_error = None
    contract.provisioning_next_at = None
    transition(session, contract=contract, to=ContractState.ACTIVE, actor=None)
    return contract
