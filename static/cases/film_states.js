// Live film badges: every element with data-case-status-url polls that case's JSON status and
// updates its case status and each film's badge and detail line in place (no reload).
// The server computes the words (one selector); this script only copies them into the page.
(function () {
  "use strict";
  var BUSY_SECONDS = 2;

  function update(root, data) {
    root.querySelectorAll('[data-role="case-status"]').forEach(function (el) {
      el.textContent = data.case.status_display;
      el.className = "badge badge-" + data.case.status;
    });
    data.films.forEach(function (film) {
      var item = root.querySelector('[data-film="' + film.id + '"]');
      if (!item) return;
      var badge = item.querySelector('[data-role="badge"]');
      if (badge) {
        badge.textContent = film.badge;
        badge.className = "film-badge film-" + film.state;
      }
      var detail = item.querySelector('[data-role="detail"]');
      if (detail) detail.textContent = film.detail;
    });
  }

  function watch(root) {
    var url = root.dataset.caseStatusUrl;
    var idle = Math.max(1, Number(root.dataset.pollSeconds) || 5);
    function tick() {
      if (document.hidden) { window.setTimeout(tick, idle * 1000); return; }
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) {
          // A redirect means the session ended (sign-in page): stop, as for 403/404.
          if (r.redirected) return Promise.reject(401);
          return r.ok ? r.json() : Promise.reject(r.status);
        })
        .then(function (data) {
          update(root, data);
          window.setTimeout(tick, (data.model_busy ? Math.min(BUSY_SECONDS, idle) : idle) * 1000);
        })
        .catch(function (status) {
          // Signed out or the case is gone: stop; a network hiccup: try again later.
          if (status === 401 || status === 403 || status === 404) return;
          window.setTimeout(tick, idle * 3000);
        });
    }
    window.setTimeout(tick, idle * 1000);
  }

  function start() {
    document.querySelectorAll("[data-case-status-url]").forEach(watch);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
