"""Sizes that fit, live usage against the size, kept peaks and right-sizing advice in the portal.

The rules are tested as functions; the adapter against real HTTP answers; the pages with an in-memory hub that
reports usage (:class:`MeteredHub`, a subclass of the portal's own test double ``FakeHub``: the real hub's usage is
tested in ``tests/hub/test_usage.py`` and end to end in ``tests/e2e/test_sizes_usage.py``).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from http.server import ThreadingHTTPServer
from typing import Iterator

import pytest
from sqlalchemy import select

from gereedschapskist.catalogue import load
from gereedschapskist.core.capacity import Capacity
from gereedschapskist.portal.jupyterhub import JupyterHubAdapter
from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.models import Environment, Organisation, User, Workspace, WorkspaceStatus, WorkspaceUsage
from gereedschapskist.portal.services import usage_view
from gereedschapskist.portal.workspace_hub import HubSizing, WorkspaceUsage as HubUsage
from tests.portal.fakehub import FakeHub, FakeHubs
from tests.portal.test_hub_refusals import _Answers

CATALOGUE = load()
GIB = 2**30
ML = CATALOGUE.bundles["ml-python"]                        # medium 2/8Gi, large 4/16Gi, xlarge 8/64Gi
SIZES = {s.id: s for s in ML.sizes}
AWS = CATALOGUE.partners["aws"]
STARTED = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


# -- the rules -----------------------------------------------------------------------------------------------------

def test_a_workspace_near_its_limit_is_advised_the_next_larger_size():
    advice = usage_view.advise(ML, SIZES["medium"], peak_cpu_percent=50, peak_rss_bytes=int(7.5 * GIB))
    assert (advice.kind, advice.suggested.id) == ("larger", "large")
    busy = usage_view.advise(ML, SIZES["medium"], peak_cpu_percent=190, peak_rss_bytes=GIB)
    assert (busy.kind, busy.suggested.id) == ("larger", "large")          # 1.9 of 2 CPUs
    top = usage_view.advise(ML, SIZES["xlarge"], peak_cpu_percent=790, peak_rss_bytes=GIB)
    assert (top.kind, top.suggested) == ("largest", None)


def test_a_workspace_that_used_little_is_advised_the_smallest_size_that_holds_its_peak():
    advice = usage_view.advise(ML, SIZES["xlarge"], peak_cpu_percent=120, peak_rss_bytes=6 * GIB)
    assert (advice.kind, advice.suggested.id) == ("smaller", "large")     # medium's 8 GiB < 1.5 × 6 GiB
    little = usage_view.advise(ML, SIZES["xlarge"], peak_cpu_percent=80, peak_rss_bytes=2 * GIB)
    assert little.suggested.id == "medium"
    cpu_bound = usage_view.advise(ML, SIZES["large"], peak_cpu_percent=300, peak_rss_bytes=GIB)
    assert cpu_bound.kind == "fits"                                         # 3 CPUs do not fit medium's 2
    assert usage_view.advise(ML, SIZES["medium"], peak_cpu_percent=100, peak_rss_bytes=5 * GIB).kind == "fits"


def test_the_saving_is_the_difference_of_the_sizes_shares_of_the_cheapest_machine_they_fit():
    # aws: general-8 (8 CPU, 32 GiB, € 0.44) is the cheapest machine large fits on; xlarge (64 GiB) fits only
    # memory-16 (16 CPU, 128 GiB, € 1.13).
    assert usage_view.price_per_hour(ML, SIZES["large"], AWS) == pytest.approx(0.22)        # 4/16 CPU, 16/32 GiB: ½
    assert usage_view.price_per_hour(ML, SIZES["xlarge"], AWS) == pytest.approx(0.565)      # 64/128 GiB: ½
    advice = usage_view.advise(ML, SIZES["xlarge"], peak_cpu_percent=120, peak_rss_bytes=6 * GIB, partner=AWS)
    assert advice.saving_per_hour == pytest.approx(0.345)
    larger = usage_view.advise(ML, SIZES["large"], peak_cpu_percent=390, peak_rss_bytes=GIB, partner=AWS)
    assert larger.saving_per_hour == pytest.approx(-0.345)                  # an extra cost, shown as such
    assert usage_view.advise(ML, SIZES["xlarge"], peak_cpu_percent=120, peak_rss_bytes=6 * GIB).saving_per_hour \
        is None                                                             # no partner: no price, no amount


def test_sizes_larger_than_the_hubs_machine_are_not_available_and_say_why():
    options = usage_view.size_options(ML, HubSizing(Capacity(2.0, 24 * GIB), enforced=False))
    assert [(o.size.id, o.available) for o in options] == [("medium", True), ("large", False), ("xlarge", False)]
    assert options[2].shortfall.short == ("cpu", "memory")
    assert all(o.available for o in usage_view.size_options(ML, None))                 # the hub does not say
    assert all(o.available for o in usage_view.size_options(ML, HubSizing(None, enforced=True)))  # Kubernetes


def test_peaks_of_one_run_only_go_up_and_a_new_run_replaces_them():
    row = WorkspaceUsage(workspace_id=1, peak_cpu_percent=80.0, peak_rss_bytes=3 * GIB, samples=5,
                         run_started_at=STARTED)
    lower = HubUsage(running=True, peak_cpu_percent=50.0, peak_rss_bytes=GIB, samples=9, started=STARTED)
    assert usage_view.merged_peaks(row, lower) == (80.0, 3 * GIB, 9, STARTED)
    later = STARTED + timedelta(hours=2)
    again = HubUsage(running=True, peak_cpu_percent=10.0, peak_rss_bytes=GIB, samples=1, started=later)
    assert usage_view.merged_peaks(row, again) == (10.0, GIB, 1, later)
    assert usage_view.merged_peaks(row, HubUsage(running=False)) == (80.0, 3 * GIB, 5, STARTED)
    assert usage_view.merged_peaks(None, None) is None


# -- the adapter ---------------------------------------------------------------------------------------------------

@pytest.fixture
def fake_hub() -> Iterator[ThreadingHTTPServer]:
    """A real HTTP server answering ``server.answer`` (status, headers, JSON body) to every request."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def adapter(server) -> JupyterHubAdapter:
    return JupyterHubAdapter(api_url=f"http://127.0.0.1:{server.server_address[1]}/hub/api",
                             public_url="http://hub.test", token="t" * 40, timeout=5)


def test_the_adapter_reads_capacity_limits_and_usage_and_refuses_other_shapes(fake_hub):
    fake_hub.answer = (200, {}, {"interfaces": {}, "capacity": {"cpu": 2, "memory_bytes": 8 * GIB, "gpu": 0},
                                 "limits": {"enforced": False, "mechanism": "none", "reason": "PID 1 is init"}})
    assert adapter(fake_hub).sizing() == HubSizing(Capacity(2.0, 8 * GIB, 0), enforced=False, mechanism="none")
    fake_hub.answer = (200, {}, {"interfaces": {}, "limits": {"enforced": True, "mechanism": "kubernetes"}})
    assert adapter(fake_hub).sizing() == HubSizing(None, enforced=True, mechanism="kubernetes")
    fake_hub.answer = (200, {}, {"interfaces": {}, "capacity": {"cpu": "lots", "memory_bytes": 1}})
    assert adapter(fake_hub).sizing() is None
    fake_hub.answer = (200, {}, {"server": "x", "running": True, "limits": {"enforced": True},
                                 "usage": {"cpu_percent": 12.5, "rss_bytes": 300, "peak_cpu_percent": 99.0,
                                           "peak_rss_bytes": 400, "samples": 3, "started": "2026-12-01T09:00:00Z"},
                                 "last_activity": "2026-12-01T09:30:00Z", "idle_cull_at": "2026-12-01T10:30:00Z",
                                 "idle_timeout_seconds": 3600, "cull_every_seconds": 300})
    usage = adapter(fake_hub).usage(username="anna", server_name="x")
    assert (usage.cpu_percent, usage.rss_bytes, usage.peak_rss_bytes, usage.samples) == (12.5, 300, 400, 3)
    assert usage.started == STARTED and usage.idle_cull_at == STARTED + timedelta(minutes=90)
    assert usage.enforced is True and usage.idle_timeout_seconds == 3600
    fake_hub.answer = (200, {}, {"usage": "lots"})
    assert adapter(fake_hub).usage(username="anna", server_name="x") is None
    fake_hub.answer = (404, {}, {"message": "No usage known"})
    assert adapter(fake_hub).usage(username="anna", server_name="x") is None


# -- the pages -----------------------------------------------------------------------------------------------------

class MeteredHub(FakeHub):
    """The in-memory hub, reporting a two-CPU machine that does not enforce sizes, and set usage per server."""

    reports: dict[str, HubUsage] = {}

    def sizing(self) -> HubSizing:
        return HubSizing(Capacity(2.0, 24 * GIB), enforced=False, mechanism="none")

    def usage(self, *, username: str, server_name: str) -> HubUsage | None:
        return self.reports.get(server_name)


@pytest.fixture
def app(settings):
    hubs = FakeHubs()
    hubs.factory = lambda **kwargs: hubs.made.append(MeteredHub(**kwargs)) or hubs.made[-1]
    MeteredHub.reports = {}
    return create_app(settings, catalogue_model=CATALOGUE, hub_factory=hubs.factory)


def workspace_of(app, username: str, *, status: WorkspaceStatus, size: str = "xlarge") -> int:
    with app.state.portal.sessions() as session:
        user = session.scalar(select(User).where(User.username == username))
        organisation = session.scalar(select(Organisation).where(Organisation.slug == "minfin"))
        environment = session.scalars(select(Environment)).first()
        count = len(session.scalars(select(Workspace.id)).all())
        workspace = Workspace(user=user, organisation=organisation, environment=environment,
                              server_name=f"ml-python-{count}", bundle_id="ml-python", bundle_version=ML.version,
                              size_id=size, interface="jupyterlab", status=status, started_at=STARTED,
                              url=f"/user/{username}/ml-python-{count}/")
        session.add(workspace)
        session.commit()
        if status.active:   # the hub runs it too
            app.state.portal.hubs.for_environment(environment).start(username=username,
                                                                     server_name=workspace.server_name, options={})
        return workspace.id


def test_the_bundle_page_offers_only_sizes_that_fit_and_says_sizes_are_not_enforced(app, client, login):
    login("bram", ["org:minfin", "role:ml"])
    client.get("/language/nl")
    page = client.get("/catalogue/ml-python").text
    assert '<option value="medium">' in page
    assert '<option value="xlarge" disabled>' in page and '<option value="large" disabled>' in page
    assert "niet beschikbaar hier: vraagt 8 CPU, 64.0 GiB, deze machine heeft 2 CPU, 24.0 GiB" in page
    assert "Formaten worden op deze machine niet afgedwongen" in page
    client.get("/language/en")
    english = client.get("/catalogue/ml-python").text
    assert "not available here: asks for 8 CPU, 64.0 GiB, this machine has 2 CPU, 24.0 GiB" in english
    assert "Sizes are not enforced on this machine" in english
    gpu = client.get("/catalogue/ml-pytorch-gpu").text
    assert 'id="sizes-none-fit"' in gpu and 'class="primary" disabled' in gpu.replace("\n", " ")


def test_a_running_workspace_shows_live_usage_against_its_size_and_the_api_keeps_the_peaks(app, client, login):
    me = login("bram", ["org:minfin", "role:ml"])
    workspace_id = workspace_of(app, "bram", status=WorkspaceStatus.RUNNING)
    with app.state.portal.sessions() as session:
        server = session.get(Workspace, workspace_id).server_name
    MeteredHub.reports[server] = HubUsage(
        running=True, cpu_percent=50.0, rss_bytes=3 * GIB, peak_cpu_percent=120.0, peak_rss_bytes=5 * GIB,
        samples=4, started=STARTED, last_activity=STARTED, idle_cull_at=STARTED + timedelta(hours=1),
        idle_timeout_seconds=3600, cull_every_seconds=300, enforced=False)
    page = client.get(f"/workspaces/{workspace_id}").text
    assert 'id="usage-cpu">0.50 CPU</span> / 8 CPU' in page
    assert 'id="usage-memory">3.0 GiB</span> / 64.0 GiB' in page
    assert 'id="usage-memory-peak">5.0 GiB' in page
    assert f'data-cull-at="{(STARTED + timedelta(hours=1)).isoformat()}"' in page
    assert 'id="sizes-not-enforced"' in page and "/static/usage.js" in page
    assert 'id="advice"' not in page                                   # advice after the run, not during it

    data = me.client.get(f"/api/v1/workspaces/{workspace_id}/usage").json()
    assert data["running"] is True and data["peak_rss_bytes"] == 5 * GIB and data["enforced"] is False
    assert data["size"] == {"id": "xlarge", "cpu": 8.0, "memory_bytes": 64 * GIB}

    # the workspace stops, the hub forgets it (restarted): the kept peaks give the advice
    with app.state.portal.sessions() as session:
        session.get(Workspace, workspace_id).status = WorkspaceStatus.STOPPED
        session.commit()
    del MeteredHub.reports[server]
    client.get("/language/nl")
    stopped = client.get(f"/workspaces/{workspace_id}").text
    assert 'data-advice="smaller"' in stopped
    assert "Uw werkplek gebruikte veel minder dan" in stopped and "Een bedrag volgt zodra" in stopped
    assert 'id="usage-memory-peak">5.0 GiB' in stopped
    with app.state.portal.sessions() as session:
        kept = session.get(WorkspaceUsage, workspace_id)
        assert (kept.peak_cpu_percent, kept.peak_rss_bytes, kept.run_started_at) == (120.0, 5 * GIB, STARTED)
