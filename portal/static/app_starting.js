// The "starting" page of a published app that was stopped (idle): ask the portal every second whether the hub
// reports it ready, then go to the app.
(function () {
  const box = document.getElementById('app-starting');
  if (!box) return;
  const ask = () => fetch(box.dataset.status, {credentials: 'same-origin'})
    .then((r) => r.ok ? r.json() : null)
    .then((s) => { if (s && s.ready) { window.location.assign(s.url); } else { setTimeout(ask, 1000); } })
    .catch(() => setTimeout(ask, 2000));
  setTimeout(ask, 500);
})();
