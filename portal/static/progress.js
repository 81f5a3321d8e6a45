// Live start progress of a workspace: follows the portal's server-sent events (relayed from the hub).
// Without JavaScript the page refreshes itself instead (see the <noscript> refresh in workspace.html).
(function () {
  "use strict";
  var box = document.getElementById("workspace");
  if (!box || !window.EventSource) { return; }
  var bar = document.getElementById("progress");
  var message = document.getElementById("progress-message");
  var status = document.getElementById("status");
  var open = document.getElementById("open");
  var source = new EventSource(box.dataset.progressUrl);

  function show(data) {
    if (typeof data.progress === "number" && bar) { bar.value = data.progress; }
    if (data.message && message) { message.textContent = data.message; }
  }
  source.addEventListener("progress", function (e) { show(JSON.parse(e.data)); });
  source.addEventListener("ready", function (e) {
    var data = JSON.parse(e.data);
    show(data);
    source.close();
    box.dataset.status = "running";
    status.textContent = box.dataset.textRunning;
    status.className = "status status-running";
    if (message) { message.textContent = box.dataset.textReady; }
    if (open) { open.hidden = false; open.focus(); }
  });
  source.addEventListener("failed", function (e) {
    var data = JSON.parse(e.data);
    source.close();
    // refused by the hub (its launch rule, its server limit, …): the reloaded page says why, in the page's language
    if (data.reason && data.reason !== "start-failed") { window.location.reload(); return; }
    box.dataset.status = "failed";
    status.textContent = box.dataset.textFailedStatus;
    status.className = "status status-failed";
    if (bar) { bar.value = 100; }
    // the hub's own message is English: other languages show the page's text (the reloaded page has the message)
    var english = document.documentElement.lang === "en";
    if (message) { message.textContent = box.dataset.textFailed + (english && data.message ? " (" + data.message + ")" : ""); }
  });
  source.addEventListener("status", function () {
    source.close();
    window.location.reload();
  });
  source.addEventListener("unavailable", function (e) {
    var data = JSON.parse(e.data);
    source.close();
    if (message) { message.textContent = box.dataset.textUnavailable || data.message; }
  });
  source.onerror = function () {
    // The portal closes the stream after the last event; a dropped connection is retried by the browser.
    if (box.dataset.status !== "starting") { source.close(); }
  };
})();
