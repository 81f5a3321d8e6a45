"""Benchmark: from the click on "Start" to JupyterLab on screen, in Chromium — warm launches, hop by hop.

What a user feels (issue 13): after the click on "Start werkplek" on a bundle's page,

- **feedback**: the bundle page shows the workspace is being started (``static/launch.js``, in the next frame after
  the click), and then the workspace page with its live progress painted (first contentful paint); goal < 200 ms;
  The progress page's own time is printed too, from the browser's navigation and resource timing: the launch POST
  and its 303, the page's GET and HTML, parsing, and each file it loads;
- **ready**: the page shows the workspace is ready (progress.js un-hides "Open werkplek");
- **lab**: JupyterLab's UI visible (``#jp-main-dock-panel`` shown and JupyterLab's splash gone; the dock panel
  alone shows under the splash well before), goal ≤ floor + 1.5 s, where the **floor** is
  ``jupyter lab`` started directly from the same environment → ``/api/status`` 200, measured in the same run
  (interleaved with the launches, alternating which goes first).

The bench's page script clicks "Open werkplek" the moment it appears (an instant user), so click → lab is the
product's time alone. Every time is taken in the browser (``performance.timeOrigin + performance.now()``, reported
through an exposed binding), never by Python polling. Each navigation request from the click to the lab is listed
with its start offset, duration and status: the hops. Printed, never asserted on time (``make bench``).

Real parts: the shared development OIDC provider and JupyterHub (local backend) of ``tests/conftest.py``, the
portal under uvicorn on SQLite (the time here is the hub's and the browser's: the portal's database speed is
``test_portal_throughput.py``'s), Debian's Chromium. Round 0 is the user's first launch (the hub's single sign-on
and, if no earlier test built it, the bundle's environment) and is not counted; rounds 1..3 are warm.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import time
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.settings import PortalSettings
from tests.bench.test_hub_time_to_notebook import time_direct
from tests.e2e.conftest import browser_page, chromium, shots  # noqa: F401 - fixtures
from tests.portal.support import PortalServer, TestDatabase

ROUNDS = int(os.environ.get("GEREEDSCHAPSKIST_BENCH_ROUNDS", "1"))     # `make test`: a smoke round; `make bench`: 6
LAB_TIMES = ("html_start", "html", "dcl", "load", "last")    # keys of LAB_PAGE, in ms after 'ready'
BUNDLE, SIZE = "tiny-cowsay", "small"
FEEDBACK_GOAL_MS = 200
LAB_MARGIN_GOAL_S = 1.5

#: Runs in every page: reports moments to the bench (``window.benchMark``, an exposed binding) with the browser's
#: own clock. On the portal's workspace page it reports the first contentful paint, the moment the "open" link
#: appears, and then clicks it (an instant user); in JupyterLab, the moment its main dock panel is visible.
MARKS = """
(() => {
  const now = () => performance.timeOrigin + performance.now();
  const mark = (name, at) => { try { window.benchMark(name, at, location.href); } catch (e) {} };
  document.addEventListener('click', (e) => {
    const el = e.target.closest && e.target.closest('button, a');
    if (el) mark(el.id === 'open' ? 'click:open' : 'click', now());
  }, true);
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (entry.name !== 'first-contentful-paint') continue;
      mark('fcp', performance.timeOrigin + entry.startTime);
      const o = performance.timeOrigin, nav = performance.getEntriesByType('navigation')[0];
      try {      // where the painted page's own time went (absolute browser times, ms)
        window.benchPage(JSON.stringify({
          start: o + nav.startTime, redirect: o + nav.redirectEnd, get: o + nav.requestStart,
          html_start: o + nav.responseStart, html: o + nav.responseEnd, parsed: o + nav.domInteractive,
          fcp: o + entry.startTime,
          resources: performance.getEntriesByType('resource').map(r => [r.name, o + r.startTime, o + r.responseEnd,
                                                                         r.transferSize, r.renderBlockingStatus])}));
      } catch (e) {}
    }
  }).observe({type: 'paint', buffered: true});
  const seen = new Set();
  const visible = (sel) => { const el = document.querySelector(sel); return el && !el.hidden && el.offsetParent !== null; };
  const watch = () => {
    if (!seen.has('open') && visible('#workspace #open') && document.getElementById('workspace').dataset.status === 'running'
        && sessionStorage.getItem('bench.autoOpen') === 'yes') {
      seen.add('open'); mark('ready', now()); document.getElementById('open').click();
    }
    if (!seen.has('shown') && visible('#launch-progress')) {
      seen.add('shown'); requestAnimationFrame(() => mark('shown', now()));
    }
    if (!seen.has('dock') && visible('#jp-main-dock-panel')) { seen.add('dock'); mark('dock', now()); }
    if (seen.has('dock') && !seen.has('lab') && !document.getElementById('jupyterlab-splash')) {
      seen.add('lab'); mark('lab', now());
    }
    if (!seen.has('launcher') && visible('.jp-Launcher')) { seen.add('launcher'); mark('launcher', now()); }
  };
  new MutationObserver(watch).observe(document, {subtree: true, childList: true, attributes: true});
  document.addEventListener('DOMContentLoaded', watch);
})();
"""


#: Where the lab page's own time goes (absolute browser times, ms): its HTML, DOMContentLoaded, load, the last
#: resource, and how many resources came from the browser's cache (each server has its own URL prefix).
LAB_PAGE = """
(() => {
  const o = performance.timeOrigin, nav = performance.getEntriesByType('navigation')[0];
  const res = performance.getEntriesByType('resource');
  return {origin: o, html_start: o + nav.responseStart, html: o + nav.responseEnd, dcl: o + nav.domContentLoadedEventEnd,
          load: o + nav.loadEventEnd, last: o + Math.max(0, ...res.map(r => r.responseEnd)), resources: res.length,
          cached: res.filter(r => r.transferSize === 0 && r.decodedBodySize > 0).length,
          kb: Math.round(res.reduce((a, r) => a + r.transferSize, 0) / 1024),
          fetched: res.filter(r => !(r.transferSize === 0 && r.decodedBodySize > 0))
                      .map(r => [o + r.startTime, r.duration, r.name])};
})()
"""


class Recorder:
    """The browser's marks and the navigation requests of one round."""

    def __init__(self, page: Page):
        self.marks: dict[str, float] = {}
        self.requests: list = []
        self.lab_page: dict = {}
        self.painted: list[dict] = []       # the painted pages' own timings (see MARKS)
        page.expose_binding("benchMark", lambda _source, name, at, _url: self.marks.setdefault(name, at))
        page.expose_binding("benchPage", lambda _source, data: self.painted.append(json.loads(data)))
        page.on("request", lambda request: self.requests.append(request)
                if request.is_navigation_request() and request.frame == page.main_frame else None)

    def reset(self) -> None:
        self.marks.clear()
        self.requests.clear()
        self.painted.clear()

    def hops(self, since: float) -> list[tuple[float, float, int | None, str]]:
        """(start ms after ``since``, duration ms, status, method + shortened URL) of each navigation request."""
        rows = []
        for request in self.requests:
            timing = request.timing
            try:
                response = request.response()
            except Exception:  # noqa: BLE001 - a request without a response (aborted) has no status
                response = None
            end = timing.get("responseEnd", -1)
            rows.append((timing["startTime"] - since, end if end >= 0 else float("nan"),
                         response.status if response else None, f"{request.method} {shorten(request.url)}"))
        return rows


def shorten(url: str) -> str:
    """Host:port and path, with query values elided (codes, states and tokens are not for print)."""
    parts = urlsplit(url)
    query = "&".join(f"{pair.split('=')[0]}=…" for pair in parts.query.split("&")) if parts.query else ""
    return f"{parts.port}{parts.path}" + (f"?{query}" if query else "")


def find_env(state_dir: Path) -> Path:
    envs = [p for p in (state_dir / "envs").glob(f"{BUNDLE}-*") if (p / "bin" / "jupyter-lab").exists()]
    assert envs, f"no built {BUNDLE} environment under {state_dir / 'envs'}"
    return max(envs, key=lambda p: p.stat().st_mtime)


def log_in(page: Page, portal_url: str, issuer: str, account) -> None:
    page.goto(f"{portal_url}/")
    page.get_by_role("link", name="Inloggen").first.click()
    page.wait_for_url(re.compile(re.escape(issuer)))
    page.fill("#username", account.username)
    page.fill("#password", account.password)
    page.get_by_role("button", name="Inloggen / Log in").click()
    page.wait_for_url(f"{portal_url}/")


def launch_and_open(page: Page, portal_url: str, recorder: Recorder, shots=None) -> str:
    """One launch from the bundle page to JupyterLab; returns the workspace page's URL."""
    page.goto(f"{portal_url}/catalogue/{BUNDLE}")
    page.get_by_label("Formaat").select_option(SIZE)
    page.evaluate("sessionStorage.setItem('bench.autoOpen', 'yes')")
    recorder.reset()
    page.get_by_role("button", name="Start werkplek").click()
    page.wait_for_url(re.compile(rf"{re.escape(portal_url)}/workspaces/\d+$"), wait_until="commit", timeout=120_000)
    workspace_url = page.url
    if shots is not None:
        expect(page.locator("#workspace")).to_be_visible()
        shots(page, "progress")
    page.wait_for_url(re.compile(r"/user/[^/]+/[^/]+/lab"), timeout=600_000)
    expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=120_000)
    deadline = time.monotonic() + 30
    while "lab" not in recorder.marks and time.monotonic() < deadline:
        page.wait_for_timeout(20)
    recorder.lab_page = page.evaluate(LAB_PAGE)
    return workspace_url


def reload_lab(page: Page, recorder: Recorder) -> float:
    """The same server's lab once more, its files now in the browser's cache: navigation start → UI (s)."""
    recorder.reset()
    page.reload()
    deadline = time.monotonic() + 60
    while "lab" not in recorder.marks and time.monotonic() < deadline:
        page.wait_for_timeout(20)
    return (recorder.marks["lab"] - page.evaluate(LAB_PAGE)["origin"]) / 1000


def stop(page: Page, workspace_url: str) -> None:
    page.evaluate("sessionStorage.removeItem('bench.autoOpen')")
    page.goto(f"{workspace_url}/stop")
    page.get_by_role("button", name="Ja, stop de werkplek").click()
    page.wait_for_url(workspace_url)


def summary(name: str, values: list[float], unit: str = "s", scale: float = 1.0) -> str:
    shown = [v * scale for v in values]
    return (f"  {name:<44} min {min(shown):7.2f}  median {statistics.median(shown):7.2f}  max {max(shown):7.2f} {unit}"
            f"   [{', '.join(f'{v:.2f}' for v in shown)}]")


def test_click_to_jupyterlab_warm(browser_page: Page, shots, hub_stack, new_account, tmp_path):
    page = browser_page
    database = TestDatabase.sqlite(tmp_path / "db")
    settings = PortalSettings(
        database_url=database.url, state_dir=tmp_path / "portal", session_secret="b" * 40,
        public_url=f"http://127.0.0.1:{hub_stack.ports.portal}", oidc_issuer=hub_stack.provider.issuer,
        oidc_client_id="portal", oidc_client_secret=hub_stack.secrets.portal_client_secret,
        organisations="cbs minfin", hub_url=hub_stack.url, hub_api_token=hub_stack.portal_api_token,
        catalogue_dir=hub_stack.catalogue_dir, reconcile_interval_seconds=0)
    account = new_account("anna")
    recorder = Recorder(page)
    page.add_init_script(MARKS)
    rows: dict[str, list[float]] = {"shown": [], "feedback": [], "ready": [], "open": [], "lab": [], "floor": [],
                                    "dock": [], "reload": []}
    redirects: list[int] = []
    last_hops: list = []
    lab_pages: list[dict] = []
    fetched: list = []
    progress_pages: list[dict] = []
    clicks: list[float] = []
    with PortalServer(create_app(settings), hub_stack.ports.portal) as portal, shots.on_failure(page):
        log_in(page, portal.url, hub_stack.provider.issuer, account)
        # round 0: the first launch (the hub's single sign-on; maybe the environment's build): not counted
        stop(page, launch_and_open(page, portal.url, recorder, shots=shots))
        env_dir = find_env(Path(hub_stack.state_dir))
        time_direct(env_dir, tmp_path)          # warm the direct path too (page cache, first-run files)
        for round_no in range(1, ROUNDS + 1):
            if round_no % 2:
                rows["floor"].append(time_direct(env_dir, tmp_path))
            workspace_url = launch_and_open(page, portal.url, recorder)
            marks = dict(recorder.marks)
            click = marks["click"]
            clicks.append(click)
            rows["shown"].append((marks["shown"] - click) / 1000)
            rows["feedback"].append((marks["fcp"] - click) / 1000)
            rows["ready"].append((marks["ready"] - click) / 1000)
            rows["open"].append((marks["lab"] - marks["ready"]) / 1000)
            rows["lab"].append((marks["lab"] - click) / 1000)
            rows["dock"].append((marks["dock"] - click) / 1000)
            last_hops = recorder.hops(click)
            progress_pages.append(recorder.painted[0])
            fetched = [(start - marks["ready"], duration, shorten(name))
                       for start, duration, name in recorder.lab_page.pop("fetched")]
            lab_pages.append({k: (v - marks["ready"] if k in LAB_TIMES else v) for k, v in recorder.lab_page.items()}
                             | {"dock": marks["dock"] - marks["ready"], "ui": marks["lab"] - marks["ready"]})
            open_at = next(i for i, hop in enumerate(last_hops) if "/open" in hop[3])
            redirects.append(sum(1 for hop in last_hops[open_at:] if hop[2] in (301, 302, 303, 307)))
            if round_no == ROUNDS:
                shots(page, "jupyterlab")
            rows["reload"].append(reload_lab(page, recorder))
            stop(page, workspace_url)
            if not round_no % 2:
                rows["floor"].append(time_direct(env_dir, tmp_path))

    floor = statistics.median(rows["floor"])
    lab = statistics.median(rows["lab"])
    print(f"\nclick → JupyterLab, warm, {ROUNDS} rounds (bundle {BUNDLE}, Chromium, portal on SQLite):")
    print(summary("feedback: click → 'starting' shown (same page)", rows["shown"], "ms", 1000))
    print(summary("click → progress page painted", rows["feedback"], "ms", 1000))
    print(summary("click → page shows the workspace ready", rows["ready"]))
    print(summary("ready → JupyterLab visible (open + redirects)", rows["open"]))
    print(summary("click → JupyterLab's dock panel (splash still on)", rows["dock"]))
    print(summary("click → JupyterLab visible (splash gone)", rows["lab"]))
    print(summary("the same lab reloaded, files cached → visible", rows["reload"]))
    print(summary("floor: jupyter lab start → /api/status 200", rows["floor"]))
    print(f"  redirects from 'open' to /lab: {redirects}")
    print(f"  feedback median {statistics.median(rows['shown']) * 1000:.0f} ms, progress page "
          f"{statistics.median(rows['feedback']) * 1000:.0f} ms (goal < {FEEDBACK_GOAL_MS} ms); "
          f"lab median {lab:.2f} s = floor {floor:.2f} s + {lab - floor:.2f} s (goal ≤ floor + {LAB_MARGIN_GOAL_S} s); "
          f"ratio lab / floor {lab / floor:.2f}")
    print("  the progress page, ms after the click: the navigation's start, the launch's 303 received, the GET sent, "
          "its HTML started–ended, parsed (DOM interactive), each resource (start–end, bytes transferred: 0 = from "
          "the browser's cache; render-blocking or not), first contentful paint:")
    for click, painted in zip(clicks, progress_pages):
        print(f"    nav {painted['start'] - click:.0f}  post→303 {painted['redirect'] - click:.0f}  "
              f"get {painted['get'] - click:.0f}  html {painted['html_start'] - click:.0f}–{painted['html'] - click:.0f}  "
              f"parsed {painted['parsed'] - click:.0f}  "
              + "  ".join(f"{shorten(name).split('/')[-1]} {start - click:.0f}–{end - click:.0f} {size} B {blocking}"
                          for name, start, end, size, blocking in painted["resources"])
              + f"  fcp {painted['fcp'] - click:.0f}")
    print("  the lab page, ms after 'ready' (its HTML started / ended, DOMContentLoaded, load, last resource, dock "
          "panel) and its resources (from the browser's cache / all, KB transferred):")
    for lab_page in lab_pages:
        print("    " + "  ".join(f"{k} {lab_page[k]:.0f}" for k in (*LAB_TIMES, "dock", "ui"))
              + f"  resources {lab_page['cached']}/{lab_page['resources']}  {lab_page['kb']} KB")
    print("  the last round's lab page: what it fetched (not from the cache), ms after 'ready', by start:")
    for start, duration, what in sorted(fetched):
        print(f"    {start:8.0f} ms  {duration:7.0f} ms  {what}")
    print("  hops of the last round (start after the click, duration, status):")
    for start, duration, status, what in last_hops:
        print(f"    {start:8.0f} ms  {duration:7.0f} ms  {status or '-':>4}  {what}")
    assert len(rows["lab"]) == ROUNDS and all(0 < s < f < la for s, f, la in zip(rows["shown"], rows["feedback"],
                                                                                rows["lab"]))
    assert all(t > 0 for t in rows["floor"])
