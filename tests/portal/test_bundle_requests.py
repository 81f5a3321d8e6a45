"""Requesting a bundle (issue 17, supply model d): the form's draft is checked by the catalogue's one loader and every
problem comes back at its field (as the user types, through the check endpoint, and on a submit without
JavaScript); a request opens a pull request with the bundle file, its image definition (``gereedschapskist images
render``, run for real) and the ``catalogue diff`` text — through GitHub's REST API when a token is set, otherwise as
a local branch with the text in the state folder; its status (drafted, PR opened, merged, rejected) is the
requester's to follow and a platform admin's to set, each step in the register.

Stand-in, because the real thing cannot be reached here: GitHub's REST API is test_gitops's local HTTP server
(:class:`tests.portal.test_gitops.FakeGitHub`). The database is real (SQLite; PostgreSQL when the test URL is set)."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from gereedschapskist.catalogue import load, load_catalogue
from gereedschapskist.portal.models import BundleRequest, BundleRequestState, RegisterAction, RegisterEntry
from gereedschapskist.portal.services import bundle_requests as service
from gereedschapskist.portal.settings import PortalSettings
from tests.portal.test_gitops import FakeGitHub, GitHubHandler, git, repo  # noqa: F401  (fixture)

CATALOGUE = load()
ANNA = SimpleNamespace(username="anna", email="anna@minfin.example.nl", display_name=lambda: "Anna de Vries")
FORM = {"title": "Geodata met GeoPandas", "role": "bi", "packages": "geopandas==1.0.1\npandas==2.3.3\n",
        "interfaces": ["jupyterlab"], "sizes": "small 1 4Gi\nmedium 2 8Gi", "why": "Kaarten van gemeentegrenzen "
        "maken voor de begroting, met open data van het CBS."}
BUNDLE_ID = "bi-geodata-met-geopandas"
S = BundleRequestState


@pytest.fixture
def settings(database, tmp_path: Path, hub_port: int, repo: Path) -> PortalSettings:  # noqa: F811
    return PortalSettings(database_url=database.url, state_dir=tmp_path, session_secret="s" * 40,
                          organisations="cbs minfin", hub_url=f"http://127.0.0.1:{hub_port}", hub_api_token="t" * 40,
                          reconcile_interval_seconds=0, provisioning_interval_seconds=0, gitops_repo_dir=repo)


@pytest.fixture
def people(app, login):
    out = {}
    for name, groups in (("anna", ["org:minfin", "role:bi"]), ("bram", ["org:cbs", "role:ml"]),
                         ("femke", ["gereedschapskist:admins"])):
        out[name] = login(name, groups, on=TestClient(app, base_url="http://127.0.0.1", follow_redirects=False))
    return out


class PullsHandler(GitHubHandler):
    """test_gitops's stand-in for GitHub's REST API, with one call more: ``GET /pulls/{number}``."""

    def do_GET(self):
        prefix = "/repos/rijk/werkbank/pulls/"
        if self.path.startswith(prefix) and self.path[len(prefix):].isdigit():
            pulls = self.server.pulls
            number = int(self.path[len(prefix):])
            if 0 < number <= len(pulls):
                return self._answer(200, {"state": "open", "merged": False, **pulls[number - 1]})
            return self._answer(404, {"message": "Not Found"})
        return super().do_GET()


@pytest.fixture
def github():
    server = FakeGitHub()
    server.RequestHandlerClass = PullsHandler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


# -- validation ------------------------------------------------------------------------------------------------------

def test_a_good_form_drafts_a_file_the_one_loader_accepts(tmp_path):
    draft = service.check(CATALOGUE, data=FORM, requester=ANNA)
    assert draft.ok, draft.problems
    assert draft.bundle_id == BUNDLE_ID and draft.file == f"bundles/bi/{BUNDLE_ID}.yaml"
    # the file, put in a copy of the catalogue, passes the loader as a whole (what `catalogue check` runs)
    for name in ("roles", "bundles", "partners", "examples"):
        subprocess.run(["cp", "-r", str(CATALOGUE.root / name), str(tmp_path / name)], check=True)
    (tmp_path / draft.file).write_text(draft.text)
    result = load_catalogue(tmp_path)
    assert result.ok, [p.format() for p in result.errors]
    bundle = result.catalogue.bundles[BUNDLE_ID]
    assert bundle.supply_model.value == "custom" and [p.requirement for p in bundle.packages] == [
        "geopandas==1.0.1", "pandas==2.3.3"]
    assert [s.id for s in bundle.sizes] == ["small", "medium"] and bundle.maintainers[0].email == ANNA.email


def test_every_problem_is_named_at_its_field():
    bad = {"title": "x", "role": "kok", "packages": "geopandas>=1\nfoo==bar baz\nnpm: left-pad==1.0.0",
           "interfaces": ["excel"], "sizes": "small 1 4 GB\nhuge x 4Gi", "why": "nodig"}
    problems = service.check(CATALOGUE, data=bad, requester=ANNA).problems
    assert set(problems) == {"title", "role", "packages", "interfaces", "sizes", "why"}, problems
    packages = "\n".join(problems["packages"])
    assert "line 1 'geopandas>=1': pin one exact version" in packages
    assert "line 3 'npm: left-pad==1.0.0': the source must be one of pypi, cran, conda-forge" in packages
    assert "$.packages.pypi[0] = 'foo==barbaz'" in packages                       # the loader's own schema check
    assert any("$.interfaces[0] = 'excel'" in m for m in problems["interfaces"])
    assert any("line 1 'small 1 4 GB'" in m for m in problems["sizes"])
    assert any("$.sizes[0].cpu = 'x'" in m for m in problems["sizes"])
    assert any("'kok': choose one of the catalogue's roles: bi, dev, ml, streaming" in m for m in problems["role"])


def test_in_dutch_the_forms_own_problems_are_dutch_and_the_loaders_say_they_are_english():
    bad = {"title": "x", "role": "kok", "packages": "geopandas>=1\nfoo==bar\nnpm: left-pad==1.0.0",
           "interfaces": ["jupyterlab"], "sizes": "small 1 4 GB", "why": "nodig"}
    dutch = service.check(CATALOGUE, data=bad, requester=ANNA, language="nl").problems
    english = service.check(CATALOGUE, data=bad, requester=ANNA).problems
    assert set(dutch) == set(english) and all(len(dutch[k]) == len(english[k]) for k in dutch), (dutch, english)
    assert dutch["title"] == ["'x': geef een titel van 3–120 tekens, bijvoorbeeld 'Geodata met GeoPandas'"]
    assert dutch["role"] == ["'kok': kies een van de rollen van de catalogus: bi, dev, ml, streaming"]
    assert dutch["why"][0].startswith("zeg in 10–2000 tekens wat gebruikers")
    assert "regel 1 'geopandas>=1': zet precies één versie vast als naam==versie" in dutch["packages"][0]
    assert "regel 3 'npm: left-pad==1.0.0': de bron moet een van pypi, cran, conda-forge zijn" in dutch["packages"][1]
    assert dutch["sizes"][0] == ("regel 1 'small 1 4 GB': geef een naam, processoren en geheugen, bijvoorbeeld "
                                 "'basis 1 4Gi'")
    # the loader's schema message: the same words, led by a Dutch phrase that says they are the catalogue's English
    loader = [m for m in dutch["packages"] if "$.packages.pypi" in m]
    assert loader and loader[0] == "controle van de catalogus (in het Engels): " + next(
        m for m in english["packages"] if "$.packages.pypi" in m)
    taken = service.check(CATALOGUE, data={**FORM, "title": "SQL DuckDB"}, requester=ANNA, language="nl").problems
    assert taken["title"] == ["'bi-sql-duckdb': de catalogus heeft al een pakket met deze id "
                              "(bundles/bi/bi-sql-duckdb.yaml); kies een andere titel"]


def test_an_existing_bundle_id_is_refused_at_the_title_and_the_loaders_rules_reach_their_fields():
    existing = service.check(CATALOGUE, data={**FORM, "title": "SQL DuckDB"}, requester=ANNA).problems
    assert list(existing) == ["title"] and "bi-sql-duckdb" in existing["title"][0]
    # a cross-file rule of the loader (a default interface the role does not offer, or a size the rules refuse)
    sizes = service.check(CATALOGUE, data={**FORM, "sizes": "small 1 4Gi\nsmall 2 8Gi"}, requester=ANNA).problems
    assert list(sizes) == ["sizes"], sizes


def test_the_check_endpoint_answers_as_the_user_types_and_a_plain_submit_shows_the_same(people):
    anna = people["anna"]
    answer = anna.post_form("/bundle-requests/check", {**FORM, "sizes": "small x 4Gi"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["ok"] is False and list(body["problems"]) == ["sizes"] and "id: bi-geodata-met-geopandas" in body["yaml"]
    assert anna.client.post("/bundle-requests/check", data=FORM).status_code == 403     # no CSRF token
    api = anna.post_json("/api/v1/bundle-requests/check", {**FORM, "packages": "pandas"})
    assert api.status_code == 200 and list(api.json()["problems"]) == ["packages"]
    page = anna.post_form("/bundle-requests", {**FORM, "why": "kort"})                   # without JavaScript
    assert page.status_code == 422
    assert 'id="why" name="why" rows="3" maxlength="2000" aria-invalid="true"' in page.text
    assert "zeg in 10–2000 tekens" in page.text and "Geodata met GeoPandas" in page.text   # the page's Dutch; kept
    refused = anna.post_json("/api/v1/bundle-requests", {**FORM, "why": "kort"})
    assert refused.status_code == 422 and list(refused.json()["problems"]) == ["why"]
    with anna.client.app.state.portal.sessions() as session:
        assert session.scalar(select(BundleRequest)) is None                             # nothing stored
    assert body["problems"]["sizes"][0].startswith("controle van de catalogus (in het Engels): $.sizes[0].cpu")
    # the problems come in the page's language: English once the user chose it, as they type and on a submit
    assert anna.client.get("/language/en", params={"next": "/bundle-requests"}).status_code in (302, 303)
    english = anna.post_form("/bundle-requests/check", {**FORM, "sizes": "small"}).json()["problems"]
    assert list(english) == ["sizes"] and english["sizes"][0] == "line 1 'small': give an id, CPUs and memory, e.g. " \
                                                                 "'small 1 4Gi'"
    page = anna.post_form("/bundle-requests", {**FORM, "why": "kort"})
    assert page.status_code == 422 and "say in 10–2000 characters" in page.text
    page = anna.client.get("/bundle-requests")
    assert 'src="/static/bundle_request.js"' in page.text and 'data-check="/bundle-requests/check"' in page.text


# -- the pull request ------------------------------------------------------------------------------------------------

def test_without_a_token_a_local_branch_and_its_text_are_written_and_shown(people, repo, settings):  # noqa: F811
    anna = people["anna"]
    status_before = git(repo, "status", "--porcelain")
    answer = anna.post_form("/bundle-requests", FORM)
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    request_id = int(location.split("/")[2].split("?")[0])
    branch = f"bundle-request/{request_id}-{BUNDLE_ID}"
    files = git(repo, "ls-tree", "-r", "--name-only", branch).splitlines()
    assert f"catalogue-of-tools/bundles/bi/{BUNDLE_ID}.yaml" in files
    assert f"images/bundles/{BUNDLE_ID}/Dockerfile" in files and f"images/bundles/{BUNDLE_ID}/pypi.txt" in files
    assert "geopandas==1.0.1" in git(repo, "show", f"{branch}:images/bundles/{BUNDLE_ID}/pypi.txt")
    assert git(repo, "status", "--porcelain") == status_before                       # the checkout untouched
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    message = git(repo, "log", "-1", "--format=%B", branch)
    assert "## Catalogue changes for users" in message and "### New bundles" in message and BUNDLE_ID in message
    page = anna.client.get(location)
    assert 'data-state="pr-opened"' in page.text and 'id="pr-text"' in page.text and branch in page.text
    with anna.client.app.state.portal.sessions() as session:
        row = session.get(BundleRequest, request_id)
        assert row.state is S.PR_OPENED and row.pull_request["local_only"] is True
        assert Path(row.pull_request["text_file"]).read_text().startswith(f"# Bundle request {request_id}: ")
        actions = session.scalars(select(RegisterEntry.action).order_by(RegisterEntry.sequence)).all()
        assert actions == [RegisterAction.BUNDLE_REQUESTED, RegisterAction.BUNDLE_REQUEST_PR_OPENED]
    again = anna.post_form("/bundle-requests", FORM)                                  # one open request per bundle
    assert again.status_code == 409 and 'id="problem"' in again.text


def test_with_a_token_the_pull_request_goes_through_githubs_api_and_its_outcome_is_read_back(
        people, settings, github, repo, monkeypatch):  # noqa: F811
    anna = people["anna"]
    sessions = anna.client.app.state.portal.sessions
    with sessions() as session:
        row = service.create(session, catalogue=CATALOGUE, requester=_requester(session, anna.user_id), data=FORM)
        session.commit()
        request_id = row.id
    with_token = settings.model_copy(update={"gitops_github_token": SecretStr("ghp_" + "s" * 36),
                                             "gitops_github_repo": "rijk/werkbank",
                                             "gitops_github_api_url": github.url()})
    with sessions() as session:
        row = session.get(BundleRequest, request_id)
        service.open_pull_request(session, row=row, catalogue=CATALOGUE, settings=with_token, actor=None)
        session.commit()
        assert row.state is S.PR_OPENED and row.pull_request["url"] == "https://github.com/rijk/werkbank/pull/1"
    branch = f"bundle-request/{request_id}-{BUNDLE_ID}"
    assert [(p["head"], p["base"]) for p in github.pulls] == [(branch, "main")]
    pull = github.pulls[0]
    assert pull["title"] == f"Bundle request {request_id}: Geodata met GeoPandas ({BUNDLE_ID}, bi)"
    assert "## Catalogue changes for users" in pull["body"] and f"(`{BUNDLE_ID}` 0.1.0)" in pull["body"]
    assert "geopandas==1.0.1" in pull["body"] and "Anna" in pull["body"]
    tree = github.trees[github.commits[github.refs[branch]]]
    assert yaml.safe_load(tree[f"catalogue-of-tools/bundles/bi/{BUNDLE_ID}.yaml"])["supply_model"] == "custom"
    assert tree[f"images/bundles/{BUNDLE_ID}/Dockerfile"].startswith("# ")
    assert github.auth == {"Bearer ghp_" + "s" * 36}
    assert git(repo, "branch", "--list", branch) == ""                              # nothing local with a token
    # the outcome is read from GitHub when the request is looked at (with the token): open → unchanged, merged → merged
    monkeypatch.setattr(anna.client.app.state.portal, "settings", with_token)
    assert anna.client.get(f"/api/v1/bundle-requests/{request_id}").json()["state"] == "pr-opened"
    github.pulls[0].update(state="closed", merged=True)
    followed = anna.client.get(f"/api/v1/bundle-requests/{request_id}").json()
    assert followed["state"] == "merged" and followed["decided_by"] is None
    assert followed["decision_reason"] == "pull request #1 merged on GitHub"
    with sessions() as session:
        last = session.scalars(select(RegisterEntry).order_by(RegisterEntry.sequence.desc())).first()
        assert last.action is RegisterAction.BUNDLE_REQUEST_MERGED and last.actor_id is None
        assert last.details["source"] == "github"


def _requester(session, user_id):
    from gereedschapskist.portal.models import User
    return session.get(User, user_id)


def test_a_failed_attempt_stays_drafted_with_its_error_and_can_be_retried(people, settings, tmp_path):
    anna = people["anna"]
    sessions = anna.client.app.state.portal.sessions
    nowhere = settings.model_copy(update={"gitops_repo_dir": tmp_path / "not-a-repository"})
    (tmp_path / "not-a-repository").mkdir()
    with sessions() as session:
        row = service.create(session, catalogue=CATALOGUE, requester=_requester(session, anna.user_id), data=FORM)
        service.open_pull_request(session, row=row, catalogue=CATALOGUE, settings=nowhere, actor=None)
        session.commit()
        request_id = row.id
        assert row.state is S.DRAFTED and "not-a-repository" in row.pull_request_error
    page = anna.client.get(f"/bundle-requests/{request_id}")
    assert 'id="pr-error"' in page.text and 'id="retry"' in page.text
    retried = anna.post_form(f"/bundle-requests/{request_id}/pull-request", {})       # the app's settings: a repo
    assert retried.status_code == 303
    with sessions() as session:
        assert session.get(BundleRequest, request_id).state is S.PR_OPENED


# -- tracking --------------------------------------------------------------------------------------------------------

def test_the_requester_follows_the_status_and_a_platform_admin_sets_it(people):
    anna, bram, femke = people["anna"], people["bram"], people["femke"]
    created = anna.post_json("/api/v1/bundle-requests", FORM)
    assert created.status_code == 201, created.text
    request_id = created.json()["id"]
    assert created.json()["state"] == "pr-opened" and created.json()["pull_request"]["local_only"] is True
    assert bram.client.get(f"/api/v1/bundle-requests/{request_id}").status_code == 403
    assert bram.client.get(f"/bundle-requests/{request_id}").status_code == 403
    assert [r["id"] for r in bram.client.get("/api/v1/bundle-requests").json()] == []
    assert [r["id"] for r in femke.client.get("/api/v1/bundle-requests").json()] == [request_id]
    assert anna.post_json(f"/api/v1/bundle-requests/{request_id}/status", {"state": "merged"}).status_code == 403
    no_reason = femke.post_form(f"/bundle-requests/{request_id}/status", {"state": "rejected", "reason": ""})
    assert no_reason.status_code == 422 and 'id="problem"' in no_reason.text
    assert 'id="mark"' in femke.client.get(f"/bundle-requests/{request_id}").text
    assert 'id="mark"' not in anna.client.get(f"/bundle-requests/{request_id}").text
    merged = femke.post_form(f"/bundle-requests/{request_id}/status", {"state": "merged"})
    assert merged.status_code == 303
    followed = anna.client.get(f"/api/v1/bundle-requests/{request_id}").json()
    assert followed["state"] == "merged" and followed["decided_by"] == "femke"
    assert 'data-state="merged"' in anna.client.get("/bundle-requests").text
    assert femke.post_json(f"/api/v1/bundle-requests/{request_id}/status",
                           {"state": "rejected", "reason": "te laat"}).status_code == 409
    # a second request, rejected with a reason
    second = anna.post_json("/api/v1/bundle-requests", {**FORM, "title": "Geodata met Shapely"}).json()
    rejected = femke.post_json(f"/api/v1/bundle-requests/{second['id']}/status",
                               {"state": "rejected", "reason": "de bundel bi-geo dekt dit al"})
    assert rejected.status_code == 200 and rejected.json()["decision_reason"] == "de bundel bi-geo dekt dit al"
    with anna.client.app.state.portal.sessions() as session:
        entries = session.scalars(select(RegisterEntry).order_by(RegisterEntry.sequence)).all()
        assert [e.action for e in entries] == [
            RegisterAction.BUNDLE_REQUESTED, RegisterAction.BUNDLE_REQUEST_PR_OPENED,
            RegisterAction.BUNDLE_REQUEST_MERGED, RegisterAction.BUNDLE_REQUESTED,
            RegisterAction.BUNDLE_REQUEST_PR_OPENED, RegisterAction.BUNDLE_REQUEST_REJECTED]
        assert {e.person_id for e in entries} == {anna.user_id}
        assert entries[-1].details == {"reason": "de bundel bi-geo dekt dit al"}


def test_only_active_members_request(people):
    femke = people["femke"]                          # a platform admin, member of no organisation
    refused = femke.post_json("/api/v1/bundle-requests", FORM)
    assert refused.status_code == 403 and refused.json()["reason"] == "not-a-member"
    assert 'id="not-a-member"' in femke.client.get("/bundle-requests").text
