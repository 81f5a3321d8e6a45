// Back from the hub's single sign-on: submit the launch (or the app's publish) this session asked for (the form
// carries the session's CSRF token; the portal shows this page only for what the session itself posted). Without
// JavaScript the user presses the button.
(function () {
  "use strict";
  var form = document.getElementById("resume-form");
  if (!form || form.dataset.autosubmit !== "true") { return; }
  var status = document.getElementById("resume-status");
  if (status && form.dataset.textStarting) { status.textContent = form.dataset.textStarting; }
  form.dataset.autosubmit = "done";
  form.submit();
})();
