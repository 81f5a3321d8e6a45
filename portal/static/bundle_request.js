// Request a bundle: check the form as the user types. Posts the form to its data-check URL (the same checks as
// submitting: the catalogue's loader) and shows every problem at its field. Without this script, submitting shows
// them. Nothing is stored by a check.
(function () {
  "use strict";
  var form = document.getElementById("bundle-request-form");
  if (!form || !window.fetch) { return; }
  var fields = ["title", "role", "packages", "interfaces", "sizes", "why", "bundle"];
  var timer = null, sequence = 0;

  function show(problems) {
    fields.forEach(function (name) {
      var list = document.getElementById("problems-" + name);
      if (!list) { return; }
      var messages = problems[name] || [];
      while (list.firstChild) { list.removeChild(list.firstChild); }
      messages.forEach(function (message) {
        var item = document.createElement("li");
        item.textContent = message;
        list.appendChild(item);
      });
      var input = document.getElementById(name);
      if (input) {
        if (messages.length) { input.setAttribute("aria-invalid", "true"); } else { input.removeAttribute("aria-invalid"); }
      }
    });
  }

  function check() {
    var mine = ++sequence;
    fetch(form.getAttribute("data-check"), {method: "POST", body: new FormData(form), credentials: "same-origin",
                                            headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (draft) {
        if (!draft || mine !== sequence) { return; }
        show(draft.problems || {});
        var yaml = document.getElementById("draft-yaml");
        if (yaml) { yaml.textContent = draft.yaml; }
      })
      .catch(function () { /* the submit still checks everything */ });
  }

  function later() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(check, 400);
  }

  form.addEventListener("input", later);
  form.addEventListener("change", later);
}());
