// Feedback at once (issue 13): the moment "Start" is clicked, the bundle page says the workspace is being started,
// with a progress bar, while the portal asks the hub (the workspace's own progress page follows as soon as the hub
// has accepted the start). A second click does not start a second workspace. Without JavaScript the form works as
// before: the browser shows its own loading indicator.
(function () {
  "use strict";
  var form = document.querySelector("form[data-launch]");
  var box = document.getElementById("launch-progress");
  if (!form || !box) { return; }
  var button = form.querySelector("button[type=submit]");
  form.addEventListener("submit", function (event) {
    if (form.dataset.submitted === "yes") { event.preventDefault(); return; }
    form.dataset.submitted = "yes";
    box.hidden = false;
    if (button) { button.setAttribute("aria-disabled", "true"); button.classList.add("busy"); }
  });
  // back to this page from the history (the browser's page cache): ready for another launch
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) { return; }
    form.dataset.submitted = "";
    box.hidden = true;
    if (button) { button.removeAttribute("aria-disabled"); button.classList.remove("busy"); }
  });
})();
