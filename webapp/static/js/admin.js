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

  /* ---- A short field with a length limit gets its counter (limits.js fills it) near the limit ---- */
  function addCounter(field) {
    var id = field.id + "-length", max = parseInt(field.getAttribute("data-maxlength"), 10);
    if (field.hasAttribute("data-counter") || document.getElementById(id) ||
        Array.from(field.value).length <= max * 0.9) { return; }
    var counter = document.createElement("p");
    counter.className = "counter";
    counter.id = id;
    field.insertAdjacentElement("afterend", counter);
    field.setAttribute("aria-describedby", ((field.getAttribute("aria-describedby") || "") + " " + id).trim());
  }
  // Registered before limits.js's listener (this script comes first): the counter exists when it counts.
  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("[data-maxlength]")) { addCounter(event.target); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-maxlength]").forEach(addCounter);
  });

  document.addEventListener("DOMContentLoaded", markScrollables);
  document.addEventListener("htmx:afterSettle", markScrollables);

  /* ---- A file over its limit is refused before it is sent: sent, the server's answer (413) would
     replace the whole page and lose what was typed. The server checks it anyway. ---- */
  document.addEventListener("htmx:confirm", function (event) {
    var form = event.detail.elt;
    var field = form.matches("form") && form.querySelector("input[type=file][data-max-bytes]");
    var file = field && field.files[0];
    if (!file || file.size <= parseInt(field.getAttribute("data-max-bytes"), 10)) { return; }
    event.preventDefault();
    var id = field.name + "-error", note = document.getElementById(id) || document.createElement("p");  // as the server names it
    note.id = id;
    note.className = "field-error";
    note.textContent = field.getAttribute("data-too-large");
    field.parentNode.appendChild(note);
    field.setAttribute("aria-invalid", "true");
    var ids = (field.getAttribute("aria-describedby") || "").split(" ").filter(function (x) { return x && x !== id; });
    field.setAttribute("aria-describedby", ids.concat([id]).join(" "));
    field.focus();
  });

  /* ---- A save reloads the page: edits not yet saved in the page's other forms would be lost, so
     the admin is asked first. A form the server refused still holds what it refused. A form marked
     data-in-place answers in place (nothing else is lost); data-saves-nothing (a trial question)
     holds nothing to keep. ---- */
  function changed(field) {
    if (!field.name || field.disabled || field.type === "hidden") { return false; }
    if (field.type === "checkbox" || field.type === "radio") { return field.checked !== field.defaultChecked; }
    if (field.type === "file") { return field.files.length > 0; }
    if (field.tagName === "SELECT") {
      var options = Array.from(field.options), marked = options.some(function (o) { return o.defaultSelected; });
      return options.some(function (o, i) { return o.selected !== (marked ? o.defaultSelected : i === 0 && !field.multiple); });
    }
    return "defaultValue" in field && field.value !== field.defaultValue;
  }
  function unsavedName(form) {
    if (form.hasAttribute("data-saves-nothing")) { return null; }
    if (!form.querySelector("[aria-invalid=true]") && !Array.from(form.elements).some(changed)) { return null; }
    var section = form.closest("section"), heading = section && section.querySelector("h2, h3");
    return heading ? heading.textContent.trim() : "another form";
  }
  // Capturing, before htmx's own submit listener on the form: a declined save is never sent.
  document.addEventListener("submit", function (event) {
    if (event.target.hasAttribute("data-in-place")) { return; }
    var names = Array.from(document.querySelectorAll("#admin-main form[method=post]")).filter(function (form) {
      return form !== event.target;
    }).map(unsavedName).filter(Boolean);
    if (!names.length || window.confirm("Changes in " + names.join(" and ") + " are not saved yet and " +
        "will be lost. Go on anyway?")) { return; }
    event.preventDefault();
    event.stopPropagation();
  }, true);

  /* ---- A form sent in place (htmx) gets its own answer: the last change's confirmation above
     the page no longer describes the page, so it goes (a refusal under it would contradict it). ---- */
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (!event.detail.elt.matches("form")) { return; }
    document.querySelectorAll("#admin-main > .alert-success").forEach(function (alert) { alert.remove(); });
  });
})();
