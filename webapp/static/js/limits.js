/* Length limits and the SMS counter, for pages with such a field: compose, a conversation (loaded
   with it, as workspace.js is) and the admin console. app.js comes first on every page.

   No field cuts what is typed or pasted (no maxlength): a field with data-maxlength counts past
   its limit in its counter (#data-counter, or #ID-length, which admin.js adds to short fields),
   and its form is not sent while it is over; the server refuses it too. */
(function () {
  "use strict";
  if (window.parleyLimits) { return; }  // a conversation opened later may bring it again
  window.parleyLimits = true;

  /* ---- SMS counter (mirrors webapp/services/segments.py) ---- */
  var GSM7 = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var GSM7_EXT = "^{}\\[~]|€\f";

  function countSegments(text) {
    var gsm = true, units = 0, i, ch;
    for (i = 0; i < text.length; i++) {
      ch = text.charAt(i);
      if (GSM7.indexOf(ch) >= 0) { units += 1; }
      else if (GSM7_EXT.indexOf(ch) >= 0) { units += 2; }
      else { gsm = false; break; }
    }
    var single = 160, multi = 153;
    if (!gsm) { units = text.length; single = 70; multi = 67; } // UTF-16 code units
    var segments = units === 0 ? 0 : (units <= single ? 1 : Math.ceil(units / multi));
    return { characters: Array.from(text).length, segments: segments, encoding: gsm ? "GSM-7" : "UCS-2" };
  }

  /* ---- Length limits ---- */
  function fmt(n) { return n.toLocaleString("en-US"); }
  function lengthOf(field) { return Array.from(field.value.replace(/\r\n/g, "\n")).length; }
  function overBy(field, max) { return max ? Math.max(0, lengthOf(field) - max) : 0; }
  function maxOf(field) { return parseInt(field.getAttribute("data-maxlength"), 10) || 0; }
  function fieldName(field) {
    var label = field.labels && field.labels[0];
    return label ? label.textContent.replace(/\(optional\)/i, "").trim() : "This field";
  }
  function describedBy(field, id, add) {
    var ids = (field.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (x) { return x && x !== id; });
    if (add) { ids.push(id); }
    if (ids.length) { field.setAttribute("aria-describedby", ids.join(" ")); } else { field.removeAttribute("aria-describedby"); }
  }

  function updateCounter(field) {
    var counter = document.getElementById(field.getAttribute("data-counter") || field.id + "-length");
    var error = document.getElementById(field.id + "-too-long");
    var max = maxOf(field), over = overBy(field, max);
    if (error && !over) {  // shortened enough: the refusal goes
      error.remove();
      describedBy(field, error.id, false);
      if (field.hasAttribute("data-limit-invalid")) { field.removeAttribute("aria-invalid"); field.removeAttribute("data-limit-invalid"); }
    }
    if (!counter) { return; }
    max = max || parseInt(counter.getAttribute("data-max") || "1600", 10);
    over = overBy(field, max);
    var text = fmt(lengthOf(field)) + " / " + fmt(max) + " characters" + (over ? " · " + fmt(over) + " over the limit" : "");
    if (field.hasAttribute("data-counter")) {
      var c = countSegments(field.value.replace(/\r\n/g, "\n"));
      text += " · " + c.segments + (c.segments === 1 ? " segment" : " segments") + (c.encoding === "UCS-2" ? " (Unicode)" : "");
    }
    counter.textContent = text;
    if (over && !counter.classList.contains("is-over")) { window.parleyAnnounce(fieldName(field) + " is over its " + fmt(max) + "-character limit."); }
    counter.classList.toggle("is-over", over > 0);
  }

  function showLimitError(field) {
    var id = field.id + "-too-long", error = document.getElementById(id);
    if (!error) {
      error = document.createElement("p");
      error.className = "field-error";
      error.id = id;
      error.setAttribute("role", "alert");
      (document.getElementById(field.getAttribute("data-counter") || field.id + "-length") || field).insertAdjacentElement("afterend", error);
      describedBy(field, id, true);
    }
    error.textContent = fieldName(field) + " can be at most " + fmt(maxOf(field)) + " characters; this has " +
      fmt(lengthOf(field)) + " (" + fmt(overBy(field, maxOf(field))) + " too many). Shorten it.";
    if (field.getAttribute("aria-invalid") !== "true") { field.setAttribute("aria-invalid", "true"); field.setAttribute("data-limit-invalid", ""); }
  }

  var COUNTED = "textarea[data-counter], [data-maxlength]";
  function initCounters(root) { root.querySelectorAll(COUNTED).forEach(updateCounter); }
  document.addEventListener("input", function (event) {
    if (event.target.matches(COUNTED)) { updateCounter(event.target); }
  });
  /* Capture phase: runs before htmx's own submit listener on the form, which then never fires. */
  document.addEventListener("submit", function (event) {
    var over = Array.prototype.filter.call(event.target.querySelectorAll("[data-maxlength]"), function (field) {
      return overBy(field, maxOf(field)) > 0;
    });
    if (!over.length) { return; }
    event.preventDefault();
    event.stopImmediatePropagation();
    over.forEach(showLimitError);
    over[0].focus();
  }, true);

  /* Counters of what is on the page now (this file may come after it, with a conversation htmx
     brought), again once admin.js has added its own at DOMContentLoaded, and of what htmx brings. */
  initCounters(document);
  document.addEventListener("DOMContentLoaded", function () { initCounters(document); });
  document.addEventListener("htmx:afterSettle", function (event) { initCounters(event.target); });
})();
