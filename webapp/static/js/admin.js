/* The admin console's small behaviours (after app.js). No inline scripts: the CSP forbids them. */
(function () {
  "use strict";

  /* ---- A table wider than the screen scrolls sideways: keyboard users reach it too ---- */
  function tableName(wrap) {
    var table = wrap.querySelector("table");
    var label = table && table.getAttribute("aria-labelledby");
    var named = label ? document.getElementById(label) : table && table.querySelector("caption");
    if (!named) { named = (wrap.closest("section, .card, main") || document).querySelector("h1, h2, h3"); }
    return named ? named.textContent.trim() : "Table";
  }
  function markScrollables() {
    document.querySelectorAll(".table-wrap").forEach(function (wrap) {
      if (wrap.scrollWidth > wrap.clientWidth + 1) {
        wrap.setAttribute("tabindex", "0");
        wrap.setAttribute("role", "region");
        wrap.setAttribute("aria-label", tableName(wrap) + " (scrolls sideways)");
      } else if (wrap.getAttribute("role") === "region") {
        wrap.removeAttribute("tabindex");
        wrap.removeAttribute("role");
        wrap.removeAttribute("aria-label");
      }
    });
  }
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(markScrollables, 150);
  });

  document.addEventListener("DOMContentLoaded", markScrollables);
  document.addEventListener("htmx:afterSettle", markScrollables);
})();
