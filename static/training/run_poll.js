// Live progress of training runs: polls the run API while a run is queued or running and reloads
// the page when it ends (the page also refreshes itself without JavaScript).
(function () {
  var rows = document.querySelectorAll("[data-live-run]");
  if (!rows.length) { return; }
  function pct(p) { return Math.round(p * 100) + " %"; }
  function poll() {
    var pending = 0;
    rows.forEach(function (row) {
      pending += 1;
      fetch(row.getAttribute("data-live-run"), {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (run) {
          if (!run) { return; }
          var bar = row.querySelector("progress");
          if (bar) { bar.value = run.progress; }
          var text = row.querySelector("[data-field=progress]");
          if (text) { text.textContent = pct(run.progress); }
          var status = row.querySelector("[data-field=status]");
          if (status) { status.textContent = run.status; }
          var epoch = row.querySelector("[data-field=epoch]");
          if (epoch) { epoch.textContent = run.epoch + " / " + run.total_epochs; }
          var log = document.querySelector("[data-field=log_tail]");
          if (log) { log.textContent = run.log_tail; }
          if (run.status !== "queued" && run.status !== "running") { window.location.reload(); }
        })
        .catch(function () {});
    });
    if (pending) { window.setTimeout(poll, 2000); }
  }
  // Live updates replace the no-JavaScript refresh.
  var meta = document.querySelector("meta[http-equiv=refresh]");
  if (meta) { meta.parentNode.removeChild(meta); }
  window.setTimeout(poll, 1000);
})();
