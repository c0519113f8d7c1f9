// Progressive enhancement for the prediction panel: poll the fragment until the model is done
// (the page also refreshes itself without JavaScript), and drive the heat-map opacity slider.
(function () {
  "use strict";
  function bindOpacity(root) {
    root.querySelectorAll("input.opacity").forEach(function (slider) {
      var overlay = slider.closest("figure").querySelector("img.overlay");
      if (!overlay) return;
      var apply = function () { overlay.style.opacity = String(slider.value / 100); };
      slider.addEventListener("input", apply);
      apply();
    });
  }
  function poll() {
    var panel = document.getElementById("prediction-panel");
    if (!panel) return;
    bindOpacity(panel);
    if (panel.dataset.finished === "true") return;
    // The script took over: stop the no-JS meta refresh.
    document.querySelectorAll('meta[http-equiv="refresh"]').forEach(function (m) { m.remove(); });
    window.setTimeout(function () {
      fetch(panel.dataset.panelUrl, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) { panel.outerHTML = html; poll(); })
        .catch(function () { window.setTimeout(poll, 5000); });
    }, 1500);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", poll);
  else poll();
})();
