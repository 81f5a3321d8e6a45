// The workspace page's usage section: refreshes CPU and memory from the portal's JSON API every few seconds while
// the workspace runs, and ticks the uptime and the idle countdown every second. No libraries, text only.
(function () {
  "use strict";
  var section = document.getElementById("usage");
  if (!section) { return; }
  var url = section.getAttribute("data-usage-url");
  var uptime = document.getElementById("usage-uptime");
  var idle = document.getElementById("usage-idle");
  var box = document.getElementById("workspace");   // the status section: starting, running, …
  function starting() { return box !== null && box.getAttribute("data-status") === "starting"; }
  // the user is leaving the page (they clicked "Open workspace", say): never reload over their navigation
  var leaving = false;
  window.addEventListener("beforeunload", function () { leaving = true; });
  window.addEventListener("pageshow", function () { leaving = false; });   // back again (the back button's cache)

  function clock(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    return h + ":" + (m < 10 ? "0" : "") + m + ":" + (s < 10 ? "0" : "") + s;
  }
  function cpus(percent) { return percent === null || percent === undefined ? "—" : (percent / 100).toFixed(2) + " CPU"; }
  function gib(bytes) { return bytes === null || bytes === undefined ? "—" : (bytes / 1073741824).toFixed(1) + " GiB"; }
  function set(id, text) { var el = document.getElementById(id); if (el) { el.textContent = text; } }
  function meter(id, value) { var el = document.getElementById(id); if (el && value !== null) { el.value = value; } }

  function tick() {
    var now = Date.now();
    if (uptime && uptime.getAttribute("data-started")) {
      uptime.textContent = clock((now - Date.parse(uptime.getAttribute("data-started"))) / 1000);
    }
    if (idle && idle.getAttribute("data-cull-at")) {
      idle.textContent = clock((Date.parse(idle.getAttribute("data-cull-at")) - now) / 1000);
    }
  }

  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data || leaving) { return; }
        if (data.running && section.getAttribute("data-running") !== "true") {
          // it runs now: the page shows its live figures; a start this page showed keeps saying it is ready
          if (box !== null && box.getAttribute("data-shown-start") === "true") {
            var next = new URL(window.location.href);
            next.searchParams.set("ready", "1");
            window.location.replace(next.toString());
          } else {
            window.location.reload();
          }
          return;
        }
        set("usage-cpu", cpus(data.cpu_percent));
        set("usage-cpu-peak", cpus(data.peak_cpu_percent));
        set("usage-memory", gib(data.rss_bytes));
        set("usage-memory-peak", gib(data.peak_rss_bytes));
        if (data.size) {
          meter("usage-cpu-meter", data.cpu_percent === null ? null : Math.round(data.cpu_percent / data.size.cpu));
          meter("usage-memory-meter", data.rss_bytes === null ? null : Math.round(100 * data.rss_bytes / data.size.memory_bytes));
        }
        if (data.started && uptime) { uptime.setAttribute("data-started", data.started); }
        if (data.idle_cull_at && idle) { idle.setAttribute("data-cull-at", data.idle_cull_at); }
        section.setAttribute("data-refreshed", new Date().toISOString());
        if (!data.running) { section.setAttribute("data-running", "false"); }
      })
      .catch(function () { /* the next refresh tries again */ });
  }

  tick();
  refresh();   // also stores the peaks of a run that just ended (the page's first look after a stop)
  if (section.getAttribute("data-running") === "true") {
    setInterval(tick, 1000);
    setInterval(function () {
      if (section.getAttribute("data-running") === "true") { refresh(); }
    }, 5000);
  } else if (starting()) {   // until it runs (then the page reloads) or fails; progress.js may mark it running first
    var tries = 0;
    var waiting = setInterval(function () {
      var status = box.getAttribute("data-status");
      tries += 1;
      if ((status === "starting" || status === "running") && tries < 300) { refresh(); } else { clearInterval(waiting); }
    }, 3000);
  }
}());
