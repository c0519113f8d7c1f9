// Keyboard reading: number keys / "u" pick a label, Enter saves, "n" goes to the next item.
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target && (target.tagName === "TEXTAREA" || (target.tagName === "INPUT" && target.type === "text"))) return;
    // The film viewer's own controls keep Enter (a focused button presses itself).
    if (target && target.closest && target.closest(".film-viewer") && event.key === "Enter") return;
    var form = document.getElementById("review-form");
    if (!form) return;
    var choice = form.querySelector('input[name="label"][data-key="' + event.key.toLowerCase() + '"]');
    if (choice) { choice.checked = true; choice.focus(); event.preventDefault(); return; }
    if (event.key === "Enter" && form.querySelector('input[name="label"]:checked')) {
      event.preventDefault(); form.requestSubmit(); return;
    }
    if (event.key === "n") {
      var next = document.getElementById("next-link");
      if (next) { event.preventDefault(); window.location.href = next.href; }
    }
  });
})();
