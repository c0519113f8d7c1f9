// Progressive enhancement for the prediction panel: poll the fragment until the model is done
// (the page also refreshes itself without JavaScript), and announce the panel's heat-map to the
// film viewer (static/viewer/viewer.js), which draws it as a layer over the film; likewise the
// Cobb measurement's vector shapes (vertebra outlines, endplates, angle; in image pixels), which
// the panel carries as JSON once the measurement has arrived, with the layer's label ("Cobb", or
// "Cobb (corrected)" when the shapes are a reviewer's correction rather than the model's).
(function () {
  "use strict";
  function cobbShapes(panel) {
    var data = panel.querySelector("#cobb-layer-" + panel.dataset.radiographId);
    if (!data) return null;
    try { return JSON.parse(data.textContent); } catch (e) { return null; }
  }
  function announce(panel) {
    document.dispatchEvent(new CustomEvent("prediction:panel", {
      detail: {
        radiographId: panel.dataset.radiographId,
        heatmapUrl: panel.dataset.heatmapUrl || null,
        cobbShapes: cobbShapes(panel),
        cobbLabel: panel.dataset.cobbLabel || null,
        finished: panel.dataset.finished === "true",
      },
    }));
  }
  function poll() {
    var panel = document.getElementById("prediction-panel");
    if (!panel) return;
    announce(panel);
    if (panel.dataset.finished === "true") return;
    // The script took over: stop the no-JS meta refresh.
    document.querySelectorAll('meta[http-equiv="refresh"]').forEach(function (m) { m.remove(); });
    window.setTimeout(function () {
      fetch(panel.dataset.panelUrl, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) { panel.outerHTML = html; poll(); })
        .catch(function () { window.setTimeout(poll, 5000); });
    }, 1000);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", poll);
  else poll();
})();
