// The film viewer: one canvas that shows a radiograph once, at full resolution, with zoom, pan,
// window/level on the stored pixel values (16-bit where the film is), fit-to-height, full screen,
// and overlay layers (a raster heat-map now, vector drawings such as a Cobb measurement later).
//
// Every layer is drawn with the same image->screen transform as the film, so an overlay stays on
// the anatomy at every zoom and pan. Markup (see templates/viewer/_film_viewer.html):
//   <div class="film-viewer" data-film-viewer data-pixels-url=".." data-image-url=".."
//        data-width="W" data-height="H" data-bit-depth="8|16" data-radiograph-id="ID">
// The pixels URL answers raw little-endian samples with X-Image-Width/-Height, X-Bit-Depth and
// X-Channels headers (cases.downloads.radiograph_pixels_response).
//
// API (also what the browser tests use), on `element.filmViewer` or `FilmViewer.get(element)`:
//   imageBox(), layerBox(name)        -> {x, y, width, height} in CSS pixels of the viewport
//   zoomBy(factor[, clientX, clientY]), panBy(dx, dy), fit(), fitHeight(), reset(), toggleFullscreen()
//   setWindow(center, width), windowLevel() -> {center, width}
//   addLayer(name, spec), removeLayer(name), setLayerVisible(name, on), setLayerOpacity(name, 0..1)
//     spec: {label, opacity, visible, src: url}                     (raster, drawn over the film)
//       or  {label, opacity, visible, shapes: [                      (vector, image pixel coords)
//             {type: "polyline", points: [[x, y], ...], closed, color, width},
//             {type: "point", x, y, radius, color},
//             {type: "text", x, y, text, color, size}]}
//   setLayerShapes(name, shapes)      -> replace a vector layer's shapes (no control rebuild: for live edits)
//   toImage(clientX, clientY) -> [x, y] image pixels; toClient(x, y) -> [clientX, clientY]
//   whenReady() -> Promise resolved once the film is drawn
// A layer editor (static/reviews/cobb_editor.js) listens for pointerdown on the root in the
// capture phase and stops the event when it grabs a handle, so the viewer does not pan.
(function () {
  "use strict";

  var MAX_SCALE = 16; // screen pixels per image pixel
  var ZOOM_STEP = 1.25;
  var PAN_STEP = 60; // CSS pixels per arrow key press
  var LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  var instances = [];
  var lastPanel = {}; // radiograph id -> the prediction panel's latest announcement

  function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, v)); }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) node.textContent = text;
    return node;
  }

  function FilmViewer(root) {
    this.root = root;
    this.width = Number(root.dataset.width) || 0;
    this.height = Number(root.dataset.height) || 0;
    this.bitDepth = Number(root.dataset.bitDepth) || 8;
    this.maxValue = this.bitDepth === 16 ? 65535 : 255;
    this.view = { scale: 1, tx: 0, ty: 0 };
    this.fitMode = "fit"; // "fit", "height" or null once the reader zooms or pans
    this.layers = [];
    this.wl = { center: 127.5, width: 256 };
    this.defaultWl = { center: 127.5, width: 256 };
    this.pixels = null; // {values, channels}
    this.film = document.createElement("canvas");
    this.pending = false;
    this.pointers = {};
    var self = this;
    this.ready = new Promise(function (resolve) { self._resolveReady = resolve; });
    this._build();
    this._bind();
    this._load();
    root.filmViewer = this;
    instances.push(this);
    var announced = lastPanel[String(root.dataset.radiographId)];
    if (announced) this._applyPanel(announced);
  }

  FilmViewer.get = function (element) {
    if (typeof element === "string") element = document.getElementById(element);
    return element ? element.filmViewer || null : null;
  };
  FilmViewer.all = function () { return instances.slice(); };

  // --- markup -----------------------------------------------------------------------------

  FilmViewer.prototype._build = function () {
    var root = this.root;
    this.stage = root.querySelector(".fv-stage") || root.appendChild(el("div", { "class": "fv-stage" }));
    this.canvas = el("canvas", {
      "class": "fv-canvas", tabindex: "0", role: "img",
      "aria-label": root.dataset.label || "Radiograph. Keys: + and - zoom, arrows pan, 0 resets, h fits the height, f full screen.",
    });
    this.stage.appendChild(this.canvas);
    this.ctx = this.canvas.getContext("2d");
    this.status = root.querySelector(".fv-status") || root.appendChild(el("p", { "class": "fv-status", "aria-live": "polite" }));

    var bar = root.querySelector(".fv-toolbar") || root.insertBefore(el("div", { "class": "fv-toolbar" }), this.stage);
    bar.setAttribute("role", "toolbar");
    bar.setAttribute("aria-label", "Film viewer");
    var self = this;
    function button(text, title, action) {
      var b = el("button", { type: "button", "class": "fv-button", title: title, "aria-label": title }, text);
      b.addEventListener("click", function () { action(); self.canvas.focus({ preventScroll: true }); });
      bar.appendChild(b);
      return b;
    }
    button("\u2212", "Zoom out (-)", function () { self.zoomBy(1 / ZOOM_STEP); });
    button("+", "Zoom in (+)", function () { self.zoomBy(ZOOM_STEP); });
    button("Fit height", "Fit the film's height (h)", function () { self.fitHeight(); });
    button("Reset", "Reset zoom, pan and window (0)", function () { self.reset(); });
    this.fullscreenButton = button("Full screen", "Full screen (f)", function () { self.toggleFullscreen(); });

    var wl = el("span", { "class": "fv-group fv-wl" });
    this.windowInput = el("input", { type: "range", min: "1", max: String(this.maxValue + 1), step: "1", "aria-label": "Window width" });
    this.levelInput = el("input", { type: "range", min: "0", max: String(this.maxValue), step: "1", "aria-label": "Window level (centre)" });
    var wLabel = el("label", {}, "Window ");
    wLabel.appendChild(this.windowInput);
    var lLabel = el("label", {}, "Level ");
    lLabel.appendChild(this.levelInput);
    wl.appendChild(wLabel);
    wl.appendChild(lLabel);
    var auto = el("button", { type: "button", "class": "fv-button", title: "Stretch contrast to the film's 1st-99th percentile" }, "Auto");
    auto.addEventListener("click", function () { self.autoWindow(); });
    wl.appendChild(auto);
    bar.appendChild(wl);
    this.windowInput.addEventListener("input", function () { self.setWindow(self.wl.center, Number(self.windowInput.value)); });
    this.levelInput.addEventListener("input", function () { self.setWindow(Number(self.levelInput.value), self.wl.width); });

    this.layerBar = el("span", { "class": "fv-group fv-layers" });
    bar.appendChild(this.layerBar);
    this.readout = el("span", { "class": "fv-readout", "aria-live": "off" });
    bar.appendChild(this.readout);
  };

  FilmViewer.prototype._renderLayerControls = function () {
    var self = this;
    this.layerBar.textContent = "";
    this.layers.forEach(function (layer) {
      var box = el("span", { "class": "fv-layer", "data-layer": layer.name });
      var toggle = el("input", { type: "checkbox", "aria-label": "Show " + layer.label });
      toggle.checked = layer.visible;
      toggle.addEventListener("change", function () { self.setLayerVisible(layer.name, toggle.checked); });
      var name = el("label", {});
      name.appendChild(toggle);
      name.appendChild(document.createTextNode(" " + layer.label));
      var fade = el("input", { type: "range", min: "0", max: "100", step: "1", "class": "fv-opacity", "aria-label": layer.label + " opacity" });
      fade.value = String(Math.round(layer.opacity * 100));
      fade.addEventListener("input", function () { self.setLayerOpacity(layer.name, Number(fade.value) / 100); });
      box.appendChild(name);
      box.appendChild(fade);
      self.layerBar.appendChild(box);
    });
  };

  // --- input ------------------------------------------------------------------------------

  FilmViewer.prototype._bind = function () {
    var self = this, canvas = this.canvas;
    if (window.ResizeObserver) new ResizeObserver(function () { self._resize(); }).observe(this.stage);
    window.addEventListener("resize", function () { self._resize(); });
    document.addEventListener("fullscreenchange", function () {
      self.fullscreenButton.setAttribute("aria-pressed", String(document.fullscreenElement === self.root));
      self._resize();
    });
    canvas.addEventListener("wheel", function (event) {
      event.preventDefault();
      var delta = event.deltaMode === 1 ? event.deltaY * 16 : event.deltaY;
      self.zoomBy(Math.exp(-delta * 0.0015), event.clientX, event.clientY);
    }, { passive: false });
    canvas.addEventListener("pointerdown", function (event) {
      canvas.setPointerCapture(event.pointerId);
      self.pointers[event.pointerId] = { x: event.clientX, y: event.clientY };
      // Right button or Shift: drag adjusts window (horizontal) and level (vertical).
      self.dragWl = event.button === 2 || event.shiftKey;
      canvas.classList.add("fv-dragging");
    });
    canvas.addEventListener("pointermove", function (event) {
      var last = self.pointers[event.pointerId];
      if (!last) return;
      var ids = Object.keys(self.pointers);
      if (ids.length === 2) {
        var other = self.pointers[ids[0] === String(event.pointerId) ? ids[1] : ids[0]];
        var before = Math.hypot(last.x - other.x, last.y - other.y);
        var after = Math.hypot(event.clientX - other.x, event.clientY - other.y);
        if (before > 0) self.zoomBy(after / before, (event.clientX + other.x) / 2, (event.clientY + other.y) / 2);
      } else if (self.dragWl) {
        var per = (self.maxValue + 1) / 512;
        self.setWindow(self.wl.center + (event.clientY - last.y) * per, self.wl.width + (event.clientX - last.x) * per);
      } else {
        self.panBy(event.clientX - last.x, event.clientY - last.y);
      }
      self.pointers[event.pointerId] = { x: event.clientX, y: event.clientY };
    });
    function up(event) {
      delete self.pointers[event.pointerId];
      if (!Object.keys(self.pointers).length) canvas.classList.remove("fv-dragging");
    }
    canvas.addEventListener("pointerup", up);
    canvas.addEventListener("pointercancel", up);
    canvas.addEventListener("contextmenu", function (event) { event.preventDefault(); });
    canvas.addEventListener("dblclick", function () { self.reset(); });
    document.addEventListener("keydown", function (event) { self._key(event); });
  };

  FilmViewer.prototype._key = function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    var target = event.target || document.body;
    var inside = this.root.contains(target);
    if (instances.length > 1 && !inside) return;
    var tag = target.tagName, type = (target.type || "").toLowerCase();
    // Text entry keeps every key; other controls (the read form's radios, sliders) keep arrows.
    if (tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable) return;
    if (tag === "INPUT" && !/^(radio|checkbox|range|button|submit)$/.test(type)) return;
    var arrowsFree = !/^(INPUT|BUTTON|A)$/.test(tag) || (inside && tag !== "INPUT");
    var handled = true;
    switch (event.key) {
      case "+": case "=": this.zoomBy(ZOOM_STEP); break;
      case "-": case "_": this.zoomBy(1 / ZOOM_STEP); break;
      case "0": this.reset(); break;
      case "h": this.fitHeight(); break;
      case "f": this.toggleFullscreen(); break;
      case "ArrowLeft": if (arrowsFree) this.panBy(PAN_STEP, 0); else handled = false; break;
      case "ArrowRight": if (arrowsFree) this.panBy(-PAN_STEP, 0); else handled = false; break;
      case "ArrowUp": if (arrowsFree) this.panBy(0, PAN_STEP); else handled = false; break;
      case "ArrowDown": if (arrowsFree) this.panBy(0, -PAN_STEP); else handled = false; break;
      default: handled = false;
    }
    if (handled) event.preventDefault();
  };

  // --- loading ----------------------------------------------------------------------------

  FilmViewer.prototype._load = function () {
    var self = this;
    this.root.dataset.state = "loading";
    this.status.textContent = "Loading the film\u2026";
    fetch(this.root.dataset.pixelsUrl, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.arrayBuffer().then(function (buffer) { return { buffer: buffer, headers: response.headers }; });
      })
      .then(function (got) { self._setPixels(got.buffer, got.headers); })
      .catch(function (error) { self._fallback(error); });
  };

  FilmViewer.prototype._setPixels = function (buffer, headers) {
    var width = Number(headers.get("X-Image-Width")), height = Number(headers.get("X-Image-Height"));
    var depth = Number(headers.get("X-Bit-Depth")), channels = Number(headers.get("X-Channels")) || 1;
    var values;
    if (depth === 16) {
      values = new Uint16Array(buffer);
      if (!LITTLE_ENDIAN) {
        for (var i = 0; i < values.length; i++) values[i] = ((values[i] & 255) << 8) | (values[i] >> 8);
      }
    } else {
      values = new Uint8Array(buffer);
    }
    if (!width || !height || values.length !== width * height * channels) throw new Error("pixel data does not match its headers");
    this.width = width;
    this.height = height;
    this.bitDepth = depth;
    this.maxValue = depth === 16 ? 65535 : 255;
    this.pixels = { values: values, channels: channels };
    this.windowInput.max = String(this.maxValue + 1);
    this.levelInput.max = String(this.maxValue);
    this.defaultWl = this._defaultWindow();
    this.wl = { center: this.defaultWl.center, width: this.defaultWl.width };
    this._finishLoad("");
  };

  // The browser's own 8-bit decoding, when the raw pixels cannot be had: no 16-bit window.
  FilmViewer.prototype._fallback = function (error) {
    var self = this, img = new Image();
    img.onload = function () {
      self.width = img.naturalWidth;
      self.height = img.naturalHeight;
      self.film.width = self.width;
      self.film.height = self.height;
      self.film.getContext("2d").drawImage(img, 0, 0);
      self.pixels = null;
      self.root.querySelector(".fv-wl").hidden = true;
      self._finishLoad("Window/level is unavailable for this film (" + error.message + ").");
    };
    img.onerror = function () {
      self.root.dataset.state = "error";
      self.status.textContent = "The film could not be loaded.";
    };
    img.src = this.root.dataset.imageUrl;
  };

  FilmViewer.prototype._finishLoad = function (message) {
    this._resize();
    this.fit();
    if (this.pixels) this._renderFilm();
    this.root.dataset.state = "ready";
    this.status.textContent = message;
    this._draw();
    this._resolveReady(this);
  };

  FilmViewer.prototype.whenReady = function () { return this.ready; };

  // --- window / level ---------------------------------------------------------------------

  FilmViewer.prototype._histogramRange = function (lowShare, highShare) {
    var values = this.pixels.values, n = values.length;
    var counts = new Uint32Array(this.maxValue + 1);
    var step = Math.max(1, Math.floor(n / 2000000)); // a sample is enough for percentiles
    var total = 0;
    for (var i = 0; i < n; i += step) { counts[values[i]]++; total++; }
    var lo = 0, hi = this.maxValue, seen = 0;
    for (var v = 0; v <= this.maxValue; v++) { seen += counts[v]; if (seen > total * lowShare) { lo = v; break; } }
    seen = 0;
    for (v = this.maxValue; v >= 0; v--) { seen += counts[v]; if (seen > total * (1 - highShare)) { hi = v; break; } }
    return hi > lo ? [lo, hi] : [lo, lo + 1];
  };

  // 8-bit films open as stored; 16-bit films on their own value range (as the thumbnails are).
  FilmViewer.prototype._defaultWindow = function () {
    if (this.bitDepth !== 16) return { center: 127.5, width: 256 };
    var range = this._histogramRange(0, 1);
    return { center: (range[0] + range[1]) / 2, width: range[1] - range[0] + 1 };
  };

  FilmViewer.prototype.autoWindow = function () {
    if (!this.pixels) return;
    var range = this._histogramRange(0.01, 0.99);
    this.setWindow((range[0] + range[1]) / 2, range[1] - range[0] + 1);
  };

  FilmViewer.prototype.windowLevel = function () { return { center: this.wl.center, width: this.wl.width }; };

  FilmViewer.prototype.setWindow = function (center, width) {
    if (!this.pixels) return;
    this.wl = { center: clamp(center, 0, this.maxValue), width: clamp(width, 1, this.maxValue + 1) };
    var self = this;
    if (this.wlFrame) return;
    this.wlFrame = window.requestAnimationFrame(function () {
      self.wlFrame = 0;
      self._renderFilm();
      self._draw();
    });
  };

  // Map the stored values through the window into the 8-bit film canvas (a lookup table, so a
  // 16-bit film costs one table read per pixel).
  FilmViewer.prototype._renderFilm = function () {
    var values = this.pixels.values, channels = this.pixels.channels;
    var low = this.wl.center - this.wl.width / 2, scale = 255 / this.wl.width;
    var lut = new Uint8Array(this.maxValue + 1);
    for (var v = 0; v <= this.maxValue; v++) lut[v] = clamp(Math.round((v - low) * scale), 0, 255);
    if (this.film.width !== this.width || this.film.height !== this.height) {
      this.film.width = this.width;
      this.film.height = this.height;
    }
    var ctx = this.film.getContext("2d");
    var image = ctx.createImageData(this.width, this.height);
    var out = new Uint32Array(image.data.buffer), n = this.width * this.height, i, g;
    if (channels === 1) {
      var gray = new Uint32Array(this.maxValue + 1);
      for (v = 0; v <= this.maxValue; v++) {
        g = lut[v];
        gray[v] = LITTLE_ENDIAN ? (0xff000000 | (g << 16) | (g << 8) | g) >>> 0 : ((g << 24) | (g << 16) | (g << 8) | 0xff) >>> 0;
      }
      for (i = 0; i < n; i++) out[i] = gray[values[i]];
    } else {
      var bytes = image.data;
      for (i = 0; i < n; i++) {
        bytes[4 * i] = lut[values[3 * i]];
        bytes[4 * i + 1] = lut[values[3 * i + 1]];
        bytes[4 * i + 2] = lut[values[3 * i + 2]];
        bytes[4 * i + 3] = 255;
      }
    }
    ctx.putImageData(image, 0, 0);
    this.windowInput.value = String(Math.round(this.wl.width));
    this.levelInput.value = String(Math.round(this.wl.center));
  };

  // --- view -------------------------------------------------------------------------------

  FilmViewer.prototype._resize = function () {
    var rect = this.stage.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
    var w = Math.max(1, Math.round(rect.width * dpr)), h = Math.max(1, Math.round(rect.height * dpr));
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    this.stageSize = { width: rect.width, height: rect.height };
    if (this.fitMode === "fit") this.fit();
    else if (this.fitMode === "height") this.fitHeight();
    else this._draw();
  };

  FilmViewer.prototype._minScale = function () {
    return Math.min(this.stageSize.width / this.width, this.stageSize.height / this.height) / 4;
  };

  FilmViewer.prototype.fit = function () {
    if (!this.width || !this.stageSize) return;
    var s = Math.min(this.stageSize.width / this.width, this.stageSize.height / this.height);
    this.view = { scale: s, tx: (this.stageSize.width - this.width * s) / 2, ty: (this.stageSize.height - this.height * s) / 2 };
    this.fitMode = "fit";
    this._draw();
  };

  FilmViewer.prototype.fitHeight = function () {
    if (!this.width || !this.stageSize) return;
    var s = this.stageSize.height / this.height;
    this.view = { scale: s, tx: (this.stageSize.width - this.width * s) / 2, ty: 0 };
    this.fitMode = "height";
    this._draw();
  };

  FilmViewer.prototype.reset = function () {
    this.fit();
    if (this.pixels) this.setWindow(this.defaultWl.center, this.defaultWl.width);
  };

  FilmViewer.prototype.zoomBy = function (factor, clientX, clientY) {
    if (!this.width || !this.stageSize) return;
    var rect = this.canvas.getBoundingClientRect();
    var px = clientX === undefined ? this.stageSize.width / 2 : clientX - rect.left;
    var py = clientY === undefined ? this.stageSize.height / 2 : clientY - rect.top;
    var v = this.view, next = clamp(v.scale * factor, this._minScale(), MAX_SCALE);
    var k = next / v.scale;
    this.view = { scale: next, tx: px - (px - v.tx) * k, ty: py - (py - v.ty) * k };
    this.fitMode = null;
    this._draw();
  };

  FilmViewer.prototype.panBy = function (dx, dy) {
    if (!this.stageSize) return;
    var v = this.view, w = this.width * v.scale, h = this.height * v.scale;
    // Keep at least a quarter of the stage showing film, so the film cannot be lost off-screen.
    var keepX = Math.min(w, this.stageSize.width / 4), keepY = Math.min(h, this.stageSize.height / 4);
    this.view = {
      scale: v.scale,
      tx: clamp(v.tx + dx, keepX - w, this.stageSize.width - keepX),
      ty: clamp(v.ty + dy, keepY - h, this.stageSize.height - keepY),
    };
    this.fitMode = null;
    this._draw();
  };

  FilmViewer.prototype.toggleFullscreen = function () {
    if (document.fullscreenElement) document.exitFullscreen();
    else if (this.root.requestFullscreen) this.root.requestFullscreen();
  };

  // Image pixel coordinates -> CSS pixels of the viewport.
  FilmViewer.prototype._toClient = function (x, y) {
    var rect = this.canvas.getBoundingClientRect();
    return [rect.left + this.view.tx + x * this.view.scale, rect.top + this.view.ty + y * this.view.scale];
  };

  FilmViewer.prototype.toClient = function (x, y) { return this._toClient(x, y); };

  // CSS pixels of the viewport -> image pixel coordinates.
  FilmViewer.prototype.toImage = function (clientX, clientY) {
    var rect = this.canvas.getBoundingClientRect();
    return [(clientX - rect.left - this.view.tx) / this.view.scale, (clientY - rect.top - this.view.ty) / this.view.scale];
  };

  FilmViewer.prototype.imageBox = function () {
    var a = this._toClient(0, 0);
    return { x: a[0], y: a[1], width: this.width * this.view.scale, height: this.height * this.view.scale };
  };

  FilmViewer.prototype.layerBox = function (name) {
    var layer = this._layer(name);
    if (!layer || !layer.drawnBox) return null;
    var rect = this.canvas.getBoundingClientRect(), b = layer.drawnBox;
    return { x: rect.left + b.x, y: rect.top + b.y, width: b.width, height: b.height };
  };

  // --- layers -----------------------------------------------------------------------------

  FilmViewer.prototype._layer = function (name) {
    for (var i = 0; i < this.layers.length; i++) if (this.layers[i].name === name) return this.layers[i];
    return null;
  };

  FilmViewer.prototype.addLayer = function (name, spec) {
    var self = this, layer = this._layer(name);
    if (!layer) {
      layer = { name: name, visible: true, opacity: 1 };
      this.layers.push(layer);
    }
    layer.label = spec.label || layer.label || name;
    if (spec.opacity !== undefined) layer.opacity = clamp(Number(spec.opacity), 0, 1);
    if (spec.visible !== undefined) layer.visible = Boolean(spec.visible);
    layer.shapes = spec.shapes || null;
    layer.drawnBox = null;
    if (spec.src && spec.src !== layer.src) {
      layer.src = spec.src;
      layer.image = null;
      var img = new Image();
      img.onload = function () {
        if (layer.src !== spec.src) return;
        layer.image = img;
        self._draw();
      };
      img.src = spec.src;
    } else if (!spec.src) {
      layer.src = null;
      layer.image = null;
    }
    this._renderLayerControls();
    this._draw();
    return layer;
  };

  FilmViewer.prototype.setLayerShapes = function (name, shapes) {
    var layer = this._layer(name);
    if (!layer) return;
    layer.shapes = shapes;
    this._draw();
  };

  FilmViewer.prototype.removeLayer = function (name) {
    this.layers = this.layers.filter(function (l) { return l.name !== name; });
    this._renderLayerControls();
    this._draw();
  };

  FilmViewer.prototype.layerNames = function () { return this.layers.map(function (l) { return l.name; }); };

  FilmViewer.prototype.layerReady = function (name) {
    var layer = this._layer(name);
    return Boolean(layer && (layer.image || layer.shapes) && layer.drawnBox);
  };

  FilmViewer.prototype.setLayerVisible = function (name, on) {
    var layer = this._layer(name);
    if (!layer) return;
    layer.visible = Boolean(on);
    var box = this.layerBar.querySelector('[data-layer="' + name + '"] input[type="checkbox"]');
    if (box) box.checked = layer.visible;
    this._draw();
  };

  FilmViewer.prototype.setLayerOpacity = function (name, opacity) {
    var layer = this._layer(name);
    if (!layer) return;
    layer.opacity = clamp(Number(opacity), 0, 1);
    var fade = this.layerBar.querySelector('[data-layer="' + name + '"] .fv-opacity');
    if (fade) fade.value = String(Math.round(layer.opacity * 100));
    this._draw();
  };

  // --- drawing ----------------------------------------------------------------------------

  FilmViewer.prototype._draw = function () {
    var self = this;
    if (this.pending) return;
    this.pending = true;
    window.requestAnimationFrame(function () { self.pending = false; self._paint(); });
  };

  FilmViewer.prototype._paint = function () {
    var ctx = this.ctx, dpr = window.devicePixelRatio || 1, v = this.view;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.globalAlpha = 1;
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    if (this.root.dataset.state !== "ready") return;
    // The one image->screen transform: the film and every layer are drawn through it.
    ctx.setTransform(dpr * v.scale, 0, 0, dpr * v.scale, dpr * v.tx, dpr * v.ty);
    ctx.imageSmoothingEnabled = v.scale < 2; // magnified: show the film's own pixels
    ctx.drawImage(this.film, 0, 0, this.width, this.height);
    var box = { x: v.tx, y: v.ty, width: this.width * v.scale, height: this.height * v.scale };
    for (var i = 0; i < this.layers.length; i++) {
      var layer = this.layers[i];
      layer.drawnBox = null;
      if (!layer.visible) continue;
      ctx.globalAlpha = layer.opacity;
      if (layer.image) {
        // A raster layer covers the whole film, whatever its own pixel size.
        ctx.drawImage(layer.image, 0, 0, this.width, this.height);
        layer.drawnBox = box;
      } else if (layer.shapes) {
        layer.drawnBox = this._paintShapes(layer.shapes);
        ctx.setTransform(dpr * v.scale, 0, 0, dpr * v.scale, dpr * v.tx, dpr * v.ty);
      }
    }
    ctx.globalAlpha = 1;
    this.readout.textContent = Math.round(v.scale * 100) + " %" + (this.pixels ? " \u00b7 W " + Math.round(this.wl.width) + " L " + Math.round(this.wl.center) : "");
  };

  // Vector shapes: positions in image pixels through the view; strokes and text keep their
  // screen size at every zoom. Returns the drawn bounds in canvas CSS pixels.
  FilmViewer.prototype._paintShapes = function (shapes) {
    var ctx = this.ctx, dpr = window.devicePixelRatio || 1, v = this.view;
    var minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    function at(x, y) {
      var p = [v.tx + x * v.scale, v.ty + y * v.scale];
      minX = Math.min(minX, p[0]); maxX = Math.max(maxX, p[0]);
      minY = Math.min(minY, p[1]); maxY = Math.max(maxY, p[1]);
      return p;
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    shapes.forEach(function (shape) {
      var colour = shape.color || "#ffd400";
      ctx.strokeStyle = colour;
      ctx.fillStyle = colour;
      ctx.lineWidth = shape.width || 2;
      if (shape.type === "polyline" && shape.points && shape.points.length) {
        ctx.beginPath();
        shape.points.forEach(function (pt, i) {
          var p = at(pt[0], pt[1]);
          if (i === 0) ctx.moveTo(p[0], p[1]); else ctx.lineTo(p[0], p[1]);
        });
        if (shape.closed) ctx.closePath();
        ctx.stroke();
      } else if (shape.type === "point") {
        var c = at(shape.x, shape.y);
        ctx.beginPath();
        ctx.arc(c[0], c[1], shape.radius || 4, 0, 2 * Math.PI);
        ctx.fill();
      } else if (shape.type === "text") {
        var t = at(shape.x, shape.y);
        ctx.font = (shape.size || 14) + "px system-ui, sans-serif";
        ctx.lineWidth = 3;
        ctx.strokeStyle = "rgba(0,0,0,.8)";
        ctx.strokeText(shape.text, t[0], t[1]);
        ctx.fillText(shape.text, t[0], t[1]);
      }
    });
    if (minX === Infinity) return null;
    return { x: minX, y: minY, width: maxX - minX, height: maxY - minY };
  };

  // --- wiring -----------------------------------------------------------------------------

  // The prediction panel (static/inference/prediction.js) announces its heat-map, first on page
  // load and again whenever a poll brings a new answer.
  FilmViewer.prototype._applyPanel = function (detail) {
    if (detail.heatmapUrl) {
      this.addLayer("heatmap", { src: detail.heatmapUrl, label: "Heat-map (Grad-CAM)", opacity: this._layer("heatmap") ? undefined : 0.5 });
    } else if (this._layer("heatmap")) {
      this.removeLayer("heatmap");
    }
    // The Cobb measurement: a vector layer the clinician toggles; a later poll keeps the
    // clinician's choice of visibility. Its shapes are a reviewer's correction when the film has
    // one the reader may see, and its label says so ("Cobb (corrected)").
    if (detail.cobbShapes && detail.cobbShapes.length) {
      this.addLayer("cobb", { shapes: detail.cobbShapes, label: detail.cobbLabel || "Cobb" });
    } else if (this._layer("cobb")) {
      this.removeLayer("cobb");
    }
  };

  document.addEventListener("prediction:panel", function (event) {
    var detail = event.detail || {};
    lastPanel[String(detail.radiographId)] = detail;
    instances.forEach(function (viewer) {
      if (String(viewer.root.dataset.radiographId) === String(detail.radiographId)) viewer._applyPanel(detail);
    });
  });

  function start() {
    document.querySelectorAll("[data-film-viewer]").forEach(function (root) {
      if (!root.filmViewer) new FilmViewer(root);
    });
  }
  window.FilmViewer = FilmViewer;
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
