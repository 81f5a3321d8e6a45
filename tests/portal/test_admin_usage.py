"""Usage (``/admin/usage`` and :mod:`gereedschapskist.portal.services.usage`): hours per bundle, per organisation and
per day from the workspace rows, clipped to the chosen period; running workspaces; the server-side SVG plot with its
table; scoped to the caller's organisations.

Runs in the authorisation matrix's world (real database; workspaces on the in-memory fake hub: the hub plays no
part in counting hours). Times are set on the rows, so every figure below is exact.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from gereedschapskist.portal.errors import InvalidInput
from gereedschapskist.portal.models import Environment, Organisation, User, Workspace, WorkspaceStatus
from gereedschapskist.portal.services.admin_scope import AdminScope
from gereedschapskist.portal.services.usage import Period, chart, nice_ceiling, parse_period, usage
from tests.portal.test_authorisation_matrix import (  # noqa: F401 - fixtures: the matrix's world
    World, app, hubs, settings, world,
)

UTC = timezone.utc
DAY = date(2026, 11, 10)


def at(day: int, hour: float) -> datetime:
    return datetime(2026, 11, day, tzinfo=UTC) + timedelta(hours=hour)


def _workspace(session, *, owner: str, org: str, bundle: str, status: WorkspaceStatus, started: datetime | None,
               stopped: datetime | None = None, updated: datetime | None = None) -> None:
    user = session.scalar(select(User).where(User.username == owner))
    organisation = session.scalar(select(Organisation).where(Organisation.slug == org))
    environment = session.scalar(select(Environment).where(Environment.name == f"{org}-env"))
    count = len(session.scalars(select(Workspace.id)).all())
    session.add(Workspace(user=user, organisation=organisation, environment=environment, server_name=f"u-{count}",
                          bundle_id=bundle, bundle_version="1", size_id="small", interface="jupyterlab",
                          status=status, started_at=started, stopped_at=stopped, created_at=started or at(1, 0),
                          updated_at=updated or stopped or started or at(1, 0)))


@pytest.fixture
def hours(world: World) -> World:
    """Workspaces with known hours around 9–11 November 2026."""
    with world.app.state.portal.sessions() as session:
        S, R, F = WorkspaceStatus.STOPPED, WorkspaceStatus.RUNNING, WorkspaceStatus.FAILED
        _workspace(session, owner="anna", org="minfin", bundle="bi-a", status=S, started=at(10, 9), stopped=at(10, 12))
        # across midnight: 2 hours on the 10th, 3 on the 11th
        _workspace(session, owner="anna", org="minfin", bundle="bi-b", status=S, started=at(10, 22), stopped=at(11, 3))
        # started before the period (the 8th): only the 9th counts, 1.5 hours
        _workspace(session, owner="bram", org="cbs", bundle="bi-a", status=S, started=at(8, 20), stopped=at(9, 1.5))
        # failed after it started, no stop time: counts until its last update (1 hour)
        _workspace(session, owner="bram", org="cbs", bundle="ml-x", status=F, started=at(11, 8), updated=at(11, 9))
        # never started: no hours
        _workspace(session, owner="anna", org="minfin", bundle="bi-a", status=F, started=None)
        # after the period
        _workspace(session, owner="anna", org="minfin", bundle="bi-a", status=S, started=at(12, 1), stopped=at(12, 5))
        session.commit()
    return world


def _scope(world: World, *slugs: str) -> AdminScope:
    with world.app.state.portal.sessions() as session:
        orgs = session.scalars(select(Organisation).where(Organisation.slug.in_(slugs))).all()
        session.expunge_all()
    return AdminScope(tuple(orgs), everything=not slugs)


def test_hours_are_split_per_day_and_clipped_to_the_period(hours):
    period = Period(date(2026, 11, 9), date(2026, 11, 11))
    with hours.app.state.portal.sessions() as session:
        report = usage(session, scope=_scope(hours), period=period, now=at(20, 0))
    assert report.by_day == [(date(2026, 11, 9), 1.5), (date(2026, 11, 10), 5.0), (date(2026, 11, 11), 4.0)]
    assert report.total_hours == 10.5
    assert {s.key: (s.hours, s.workspaces) for s in report.by_bundle} == {
        "bi-a": (4.5, 2), "bi-b": (5.0, 1), "ml-x": (1.0, 1)}
    assert [s.key for s in report.by_bundle] == ["bi-b", "bi-a", "ml-x"]          # most hours first
    assert {s.key: (s.hours, s.workspaces) for s in report.by_organisation} == {"minfin": (8.0, 2),
                                                                               "cbs": (2.5, 2)}


def test_a_running_workspace_counts_until_now(world):
    with world.app.state.portal.sessions() as session:
        _workspace(session, owner="anna", org="minfin", bundle="bi-a", status=WorkspaceStatus.RUNNING,
                   started=at(10, 6))
        session.commit()
        report = usage(session, scope=_scope(world, "minfin"), period=Period(DAY, DAY), now=at(10, 8.25))
    # the matrix world's own running workspace has no start time: it counts nothing
    assert report.by_day == [(DAY, 2.25)]


def test_an_organisation_admin_counts_only_their_organisation(hours):
    period = Period(date(2026, 11, 9), date(2026, 11, 11))
    with hours.app.state.portal.sessions() as session:
        report = usage(session, scope=_scope(hours, "minfin"), period=period, now=at(20, 0))
    assert report.total_hours == 8.0
    assert {s.key for s in report.by_organisation} == {"minfin"}
    assert {s.key for s in report.by_bundle} == {"bi-a", "bi-b"}


def test_the_page_shows_running_workspaces_hours_and_an_accessible_plot(hours):
    femke = hours.clients["platform-admin"]
    page = femke.get("/admin/usage?from=2026-11-09&to=2026-11-11", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    html = page.text
    assert "Total: 10.5 hours" in html
    assert re.search(r'data-bundle="bi-b"><td>.*?</td><td class="num">5\.0</td><td class="num">1</td>', html)
    assert re.search(r'data-organisation="cbs"><td>.*?</td><td class="num">2\.5</td>', html)
    # the plot: SVG drawn by the server, named and described, one bar per day, with the same figures as a table
    svg = re.search(r"<svg id=\"usage-chart\".*?</svg>", html, re.S).group(0)
    assert 'role="img"' in svg and 'aria-labelledby="usage-chart-title usage-chart-desc"' in svg
    assert '<title id="usage-chart-title">Workspace hours per day' in svg and "<desc" in svg
    bars = re.findall(r'<rect [^>]*data-day="([\d-]+)" data-hours="([\d.]+)"', svg)
    assert bars == [("2026-11-09", "1.5"), ("2026-11-10", "5.0"), ("2026-11-11", "4.0")]
    assert "<script" not in html.split("<main")[1] and "http" not in svg.replace("http://www.w3.org/2000/svg", "")
    table = re.search(r'<details id="usage-table">.*?</details>', html, re.S).group(0)
    assert "<td>2026-11-10</td><td class=\"num\">5.0</td>" in table
    # running now: the matrix world's two running workspaces (minfin and cbs)
    assert "Workspaces running now: 2" in html


def test_the_organisation_admins_page_is_scoped(hours):
    dana = hours.clients["organisation-admin"]
    page = dana.get("/admin/usage?from=2026-11-09&to=2026-11-11", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert "Total: 8.0 hours" in page.text and 'data-organisation="cbs"' not in page.text
    assert "Workspaces running now: 1" in page.text
    assert dana.get("/admin/usage?organisation=cbs").status_code == 403
    assert hours.clients["data-scientist"].get("/admin/usage").status_code == 403


@pytest.mark.parametrize("query, message", [
    ("from=2026-11-31", "from = '2026-11-31': expected a date like 2026-11-30 (YYYY-MM-DD)"),
    ("to=yesterday", "to = 'yesterday'"),
    ("from=2026-11-12&to=2026-11-01", "from = '2026-11-12' is after to = '2026-11-01'"),
    ("from=2024-01-01&to=2026-11-01", "choose at most 366 days"),
])
def test_a_bad_period_is_refused_naming_the_field(world, query, message):
    response = world.clients["platform-admin"].get(f"/admin/usage?{query}", headers={"Accept-Language": "en"})
    assert response.status_code == 422
    assert message in response.text.replace("&#39;", "'")


def test_the_default_period_is_the_last_thirty_days():
    period = parse_period(start=None, end=None, today=date(2026, 11, 30))
    assert (period.start, period.end, len(period.days)) == (date(2026, 11, 1), date(2026, 11, 30), 30)
    with pytest.raises(InvalidInput):
        parse_period(start="2026-11-30", end="2026-11-29", today=date(2026, 11, 30))


def test_the_plot_scales_to_a_round_top():
    assert [nice_ceiling(v) for v in (0, 0.4, 1, 1.5, 3, 7, 13.5, 20, 51, 740)] == [1, 1, 1, 2, 5, 10, 20, 20, 100,
                                                                                     1000]
    drawn = chart([(DAY, 10.0), (DAY + timedelta(days=1), 5.0), (DAY + timedelta(days=2), 0.0)])
    tallest, half, empty = drawn.bars
    assert tallest.y == drawn.top and tallest.height == drawn.plot_height           # 10 of a 10-hour axis
    assert half.height == drawn.plot_height / 2 and empty.height == 0
    assert [value for value, _y in drawn.ticks] == [0, 2.5, 5, 7.5, 10]
