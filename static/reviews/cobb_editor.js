// The Cobb layer a reviewer edits on the reading page (a vector layer of static/viewer/viewer.js).
//
// Markup (templates/review/_cobb_editor.html):
//   <section data-cobb-editor data-landmarks='[[x, y] x 68]' data-upper="T5" data-lower="T12">
//     <form> <input name="landmarks"> <input name="upper"> <input name="lower"> </form>
//     <output data-field="cobb-angle"></output> <span data-field="cobb-ends"></span>
//   </section>
// Landmarks are the stored film's pixels: 4 corners (top-left, top-right, bottom-left,
// bottom-right) for each of the 17 vertebrae T1-L5.
//
// Mouse: drag any corner (the end vertebrae's endplate ends are drawn larger); Shift-drag and
// dragging elsewhere keep the viewer's window/level and pan. Keys: [ and ] move the upper end
// vertebra up and down, { and } the lower one.
//
// The angle shown is computed here with the server's formula (inference/engine/cobb.py): the
// angle between the two end vertebrae's axes, each joining the midpoints of a vertebra's left
// and right sides. The server recomputes it from the saved landmarks; what is shown is never sent.
(function () {
  "use strict";

  var VERTEBRAE = ["T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9", "T10", "T11", "T12",
                   "L1", "L2", "L3", "L4", "L5"];
  var HIT_RADIUS = 12; // CSS pixels around a corner that grab it
  var OUTLINE = "#00d0ff", ENDPLATE = "#ffd400", HANDLE = "#ff4fa3";

  function axis(points, v) {
    var c = 4 * v;
    return [(points[c + 1][0] + points[c + 3][0] - points[c][0] - points[c + 2][0]) / 2,
            (points[c + 1][1] + points[c + 3][1] - points[c][1] - points[c + 2][1]) / 2];
  }

  // Degrees between the axes of vertebrae u and l (0-180, as the engine's pairwise_angles).
  function cobbAngle(points, u, l) {
    var a = axis(points, u), b = axis(points, l);
    var na = Math.hypot(a[0], a[1]), nb = Math.hypot(b[0], b[1]);
    if (na < 1e-9 || nb < 1e-9) return NaN;
    var cos = Math.max(-1, Math.min(1, (a[0] * b[0] + a[1] * b[1]) / (na * nb)));
    return Math.acos(cos) * 180 / Math.PI;
  }

  // An endplate line, drawn past the vertebra so its slope reads at a glance.
  function extended(p, q, factor) {
    var dx = (q[0] - p[0]) * factor, dy = (q[1] - p[1]) * factor;
    return [[p[0] - dx, p[1] - dy], [q[0] + dx, q[1] + dy]];
  }

  function CobbEditor(section, viewer) {
    this.section = section;
    this.viewer = viewer;
    this.points = JSON.parse(section.dataset.landmarks);
    this.upper = Math.max(0, VERTEBRAE.indexOf(section.dataset.upper));
    this.lower = VERTEBRAE.indexOf(section.dataset.lower);
    if (this.lower <= this.upper) this.lower = VERTEBRAE.length - 1;
    this.dragging = null;
    this.form = section.querySelector("form");
    this.output = section.querySelector('[data-field="cobb-angle"]');
    this.ends = section.querySelector('[data-field="cobb-ends"]');
    viewer.addLayer("cobb-edit", { label: "Cobb (edit)", shapes: [] });
    this.modelLayerHidden = false;
    this._hideModelLayer();
    this._bind();
    this.update();
    section.cobbEditor = this;
  }

  // The model's own Cobb layer (viewer.js, "cobb") starts hidden under the editor's, once: the
  // reviewer may turn it back on to compare.
  CobbEditor.prototype._hideModelLayer = function () {
    if (this.modelLayerHidden || !this.viewer._layer("cobb")) return;
    this.viewer.setLayerVisible("cobb", false);
    this.modelLayerHidden = true;
  };

  CobbEditor.prototype.angle = function () { return cobbAngle(this.points, this.upper, this.lower); };

  CobbEditor.prototype.endpointIndices = function () {
    var u = 4 * this.upper, l = 4 * this.lower;
    return [u, u + 1, l + 2, l + 3]; // upper endplate of the upper, lower endplate of the lower
  };

  CobbEditor.prototype.shapes = function () {
    var shapes = [], pts = this.points, i;
    for (i = 0; i < VERTEBRAE.length; i++) {
      var c = 4 * i, end = i === this.upper || i === this.lower;
      shapes.push({ type: "polyline", closed: true, color: OUTLINE, width: end ? 2 : 1,
                    points: [pts[c], pts[c + 1], pts[c + 3], pts[c + 2]] });
    }
    var u = 4 * this.upper, l = 4 * this.lower;
    shapes.push({ type: "polyline", color: ENDPLATE, width: 2, points: extended(pts[u], pts[u + 1], 0.6) });
    shapes.push({ type: "polyline", color: ENDPLATE, width: 2, points: extended(pts[l + 2], pts[l + 3], 0.6) });
    pts.forEach(function (p) { shapes.push({ type: "point", x: p[0], y: p[1], radius: 2.5, color: HANDLE }); });
    this.endpointIndices().forEach(function (k) {
      shapes.push({ type: "point", x: pts[k][0], y: pts[k][1], radius: 5, color: ENDPLATE });
    });
    var angle = this.angle();
    shapes.push({ type: "text", x: pts[u + 1][0] + 12, y: (pts[u + 1][1] + pts[l + 3][1]) / 2,
                  text: (isNaN(angle) ? "?" : angle.toFixed(1)) + "\u00b0", color: ENDPLATE, size: 16 });
    return shapes;
  };

  CobbEditor.prototype.update = function () {
    var angle = this.angle();
    this.viewer.setLayerShapes("cobb-edit", this.shapes());
    this.output.textContent = isNaN(angle) ? "not computable" : angle.toFixed(1) + "\u00b0";
    this.output.dataset.value = isNaN(angle) ? "" : angle.toFixed(2);
    this.ends.textContent = VERTEBRAE[this.upper] + "\u2013" + VERTEBRAE[this.lower];
    this.form.elements.landmarks.value = JSON.stringify(this.points.map(function (p) {
      return [Math.round(p[0] * 100) / 100, Math.round(p[1] * 100) / 100];
    }));
    this.form.elements.upper.value = VERTEBRAE[this.upper];
    this.form.elements.lower.value = VERTEBRAE[this.lower];
    this.section.dispatchEvent(new CustomEvent("cobb:change", { detail: { angle: angle } }));
  };

  // The corner nearest the pointer within HIT_RADIUS CSS pixels, or -1.
  CobbEditor.prototype.hit = function (clientX, clientY) {
    var best = -1, bestDistance = HIT_RADIUS, viewer = this.viewer;
    this.points.forEach(function (p, k) {
      var c = viewer.toClient(p[0], p[1]);
      var d = Math.hypot(c[0] - clientX, c[1] - clientY);
      if (d <= bestDistance) { best = k; bestDistance = d; }
    });
    return best;
  };

  CobbEditor.prototype.visible = function () {
    var layer = this.viewer._layer("cobb-edit");
    return Boolean(layer && layer.visible);
  };

  CobbEditor.prototype._bind = function () {
    var self = this, root = this.viewer.root;
    root.addEventListener("pointerdown", function (event) {
      if (event.button !== 0 || event.shiftKey || !self.visible()) return;
      var k = self.hit(event.clientX, event.clientY);
      if (k < 0) return; // not on a handle: the viewer pans as usual
      event.stopPropagation();
      event.preventDefault();
      self.dragging = { index: k, pointerId: event.pointerId };
    }, true);
    window.addEventListener("pointermove", function (event) {
      if (!self.dragging || event.pointerId !== self.dragging.pointerId) return;
      self.points[self.dragging.index] = self.viewer.toImage(event.clientX, event.clientY);
      self.update();
    });
    function release(event) {
      if (self.dragging && event.pointerId === self.dragging.pointerId) self.dragging = null;
    }
    window.addEventListener("pointerup", release);
    window.addEventListener("pointercancel", release);
    document.addEventListener("keydown", function (event) { self._key(event); });
    // The viewer's own listener (registered first) has added the model's layer by now.
    document.addEventListener("prediction:panel", function () { self._hideModelLayer(); });
  };

  CobbEditor.prototype._key = function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    var target = event.target || document.body, tag = target.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable) return;
    if (tag === "INPUT" && !/^(radio|checkbox|range|button|submit|hidden)$/i.test(target.type || "")) return;
    var last = VERTEBRAE.length - 1;
    switch (event.key) {
      case "[": this.upper = Math.max(0, this.upper - 1); break;
      case "]": this.upper = Math.min(this.lower - 1, this.upper + 1); break;
      case "{": this.lower = Math.max(this.upper + 1, this.lower - 1); break;
      case "}": this.lower = Math.min(last, this.lower + 1); break;
      default: return;
    }
    event.preventDefault();
    this.update();
  };

  function start() {
    document.querySelectorAll("[data-cobb-editor]").forEach(function (section) {
      var root = document.getElementById(section.dataset.viewer || "film-viewer");
      if (!root || !root.filmViewer || section.cobbEditor) return;
      root.filmViewer.whenReady().then(function () { new CobbEditor(section, root.filmViewer); });
    });
  }
  window.CobbEditor = CobbEditor;
  window.cobbAngle = cobbAngle;
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
