/* The agent's workspace (loaded with an open conversation and on compose, not with the inbox):
   the Saved replies list and its merge fields, and who else is in the conversation.
   A conversation's pane keeps this file across swaps (hx-preserve); it still sets itself up once,
   since compose and a conversation opened later can bring it again. */
(function () {
  "use strict";
  if (window.parleyWorkspace) { return; }
  window.parleyWorkspace = true;

  /* ---- Saved replies: a combobox; type to filter, arrows to choose, Enter inserts, Escape closes ---- */
  function partsOf(el) {
    var box = el && el.closest ? el.closest("[data-saved-replies]") : null;
    if (!box) { return null; }
    return {
      box: box,
      button: box.querySelector("button[aria-haspopup]"),
      popup: box.querySelector(".saved-replies-popup"),
      field: document.getElementById(box.getAttribute("data-saved-replies"))
    };
  }
  function close(parts, focusButton) {
    parts.popup.innerHTML = "";
    parts.button.setAttribute("aria-expanded", "false");
    if (focusButton) { parts.button.focus(); }
  }
  function options(parts) {
    return Array.prototype.filter.call(parts.popup.querySelectorAll("[role=option]"), function (o) { return !o.hidden; });
  }
  function choose(parts, option) {
    var filter = parts.popup.querySelector("[data-saved-filter]");
    parts.popup.querySelectorAll("[role=option]").forEach(function (o) {
      o.setAttribute("aria-selected", o === option ? "true" : "false");
    });
    if (!filter) { return; }
    if (option) {
      filter.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({ block: "nearest" });
    } else {
      filter.removeAttribute("aria-activedescendant");
    }
  }
  function applyFilter(parts) {
    var filter = parts.popup.querySelector("[data-saved-filter]");
    var words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    var all = parts.popup.querySelectorAll("[role=option]");
    all.forEach(function (o) {
      var text = o.textContent.toLowerCase();
      o.hidden = !words.every(function (w) { return text.indexOf(w) >= 0; });
    });
    var shown = options(parts);
    var none = parts.popup.querySelector("[data-saved-none]");
    if (none && all.length) {
      if (none.hidden && !shown.length) { say(none.textContent); }  // the list going empty is silent
      none.hidden = shown.length > 0;
    }
    choose(parts, shown[0] || null);
  }
  function insert(parts, option) {
    var field = parts.field, text = option.getAttribute("data-text"), unnamed = option.getAttribute("data-unnamed");
    var list = parts.popup.querySelector("[data-merged-for]"), to = contactField(field);
    var mergedFor = list ? list.getAttribute("data-merged-for") : "";
    // On compose the list was filled for the phone To had when it opened; another phone since, no names.
    if (unnamed !== null && to && !samePhone(to.value, mergedFor)) { text = unnamed; }
    var start = field.selectionStart, end = field.selectionEnd;
    if (typeof start !== "number") { start = end = field.value.length; }
    var before = field.value.slice(0, start), after = field.value.slice(end);
    field.value = before + text + after;
    if (unnamed !== null && text !== unnamed) {
      rememberNames(field, before + unnamed + after, mergedFor, list.getAttribute("data-merged-names").split("\n"));
    }
    close(parts, false);
    field.focus();
    field.setSelectionRange(start + text.length, start + text.length);
    field.dispatchEvent(new Event("input", { bubbles: true }));
    var gap = firstGap(field);
    if (gap) { field.setSelectionRange(gap.start, gap.end); }  // the first field to fill, selected
  }

  /* Opening asks the server for the list (htmx, on the button); a second press closes it. */
  document.addEventListener("htmx:beforeRequest", function (event) {
    var parts = partsOf(event.detail.elt);
    if (!parts || event.detail.elt !== parts.button) { return; }
    if (parts.button.getAttribute("aria-expanded") === "true") {
      event.preventDefault();
      close(parts, false);
    } else {
      parts.button.setAttribute("aria-expanded", "true");
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var parts = partsOf(event.detail.target);
    if (!parts || event.detail.target !== parts.popup) { return; }
    if (parts.button.getAttribute("aria-expanded") !== "true") { parts.popup.innerHTML = ""; return; }  // closed while loading
    var filter = parts.popup.querySelector("[data-saved-filter]");
    if (filter) { filter.focus(); applyFilter(parts); return; }
    // No saved replies: the button keeps focus (disabled while loading, it dropped it) and the
    // hint is read out.
    window.setTimeout(function () { parts.button.focus(); }, 0);
    var hint = parts.popup.querySelector(".hint");
    if (hint) { say(hint.textContent); }
  });
  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("[data-saved-filter]")) { applyFilter(partsOf(event.target)); }
  });
  document.addEventListener("keydown", function (event) {
    var parts = partsOf(event.target);
    if (!parts || parts.button.getAttribute("aria-expanded") !== "true") { return; }
    if (event.key === "Escape") { close(parts, true); event.preventDefault(); return; }
    if (!event.target.matches("[data-saved-filter]")) { return; }
    var shown = options(parts);
    var current = parts.popup.querySelector("[role=option][aria-selected=true]:not([hidden])");
    var index = shown.indexOf(current);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      var step = event.key === "ArrowDown" ? 1 : -1;
      if (shown.length) { choose(parts, shown[(index + step + shown.length) % shown.length]); }
      event.preventDefault();
    } else if (event.key === "Enter") {
      event.preventDefault();  // never submits the form around it
      if (current) { insert(parts, current); }
    }
  });
  /* Tabbing out closes the list (a click elsewhere does, below); focus lost to nothing, as when
     an option is pressed with the mouse, leaves it open for that click. */
  document.addEventListener("focusout", function (event) {
    var parts = partsOf(event.target), next = event.relatedTarget;
    if (!parts || !next || parts.box.contains(next)) { return; }
    if (parts.button.getAttribute("aria-expanded") === "true") { close(parts, false); }
  });
  document.addEventListener("click", function (event) {
    var option = event.target.closest ? event.target.closest("[data-saved-replies] [role=option]") : null;
    if (option) { insert(partsOf(option), option); return; }
    document.querySelectorAll("[data-saved-replies]").forEach(function (box) {
      var parts = partsOf(box);
      if (!box.contains(event.target) && parts.button.getAttribute("aria-expanded") === "true") { close(parts, false); }
    });
  });

  /* ---- Merge fields left unfilled: flagged under the field, and the form is not sent ----
     (the server refuses such a message too). */
  var GAP = /\{(first_name|last_name|agent_first_name)\}/g;
  function gaps(field) { return field.value.match(GAP) || []; }
  function firstGap(field) {
    GAP.lastIndex = 0;
    var match = GAP.exec(field.value);
    GAP.lastIndex = 0;
    return match ? { start: match.index, end: match.index + match[0].length } : null;
  }
  function describe(field, id, add) {
    var ids = (field.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (x) { return x && x !== id; });
    if (add) { ids.push(id); }
    if (ids.length) { field.setAttribute("aria-describedby", ids.join(" ")); } else { field.removeAttribute("aria-describedby"); }
  }
  /* The note under the field with this id, says `text`; none when text is empty. */
  function noteUnder(field, id, text) {
    var note = document.getElementById(id);
    if (!text) {
      if (note) { note.remove(); describe(field, id, false); }
      return null;
    }
    if (!note) {
      note = document.createElement("p");
      note.id = id;
      note.className = "merge-unfilled";
      field.insertAdjacentElement("afterend", note);
      describe(field, id, true);
    }
    note.textContent = text;
    return note;
  }
  function flag(field, refusing) {
    var left = gaps(field);
    if (!left.length) {
      noteUnder(field, field.id + "-unfilled", "");
      if (field.hasAttribute("data-merge-invalid")) { field.removeAttribute("aria-invalid"); field.removeAttribute("data-merge-invalid"); }
      return false;
    }
    var text, unique = left.filter(function (x, i) { return left.indexOf(x) === i; });
    var its = unique.length === 1 ? "it" : "them";
    var to = contactField(field);
    if (to && unique.every(function (x) { return CONTACT_GAP.test(x); })) {
      // As the server says it (saved_replies.compose_unfilled_message).
      var known = contact.to === to.value.trim() && contact.known;
      text = "The message still has " + unique.join(", ") + ": " +
        (known ? "replace " + its + " with the contact's name" : "enter a phone with a known contact") + ", or edit the text.";
    } else {
      text = "Fill in " + unique.join(", ") + " before sending: the saved reply had no value for " + its + ".";
    }
    var note = noteUnder(field, field.id + "-unfilled", text);
    if (refusing) {
      note.setAttribute("role", "alert");
      if (field.getAttribute("aria-invalid") !== "true") { field.setAttribute("aria-invalid", "true"); field.setAttribute("data-merge-invalid", ""); }
    }
    return true;
  }
  /* ---- On compose, the To phone brings the contact's {first_name} and {last_name}: a saved reply
     inserted before the phone was entered is filled in once it is. ---- */
  var CONTACT_GAP = /\{(first_name|last_name)\}/;
  var contact = { to: null, known: false, values: {}, pending: null };  // the last phone looked up
  var lookupTimer = null;
  function contactField(field) {
    var id = field.getAttribute("data-merge-contact");
    return id ? document.getElementById(id) : null;
  }
  function fillFromContact(field) {
    var filled = field.value.replace(/\{(first_name|last_name)\}/g, function (gap, name) { return contact.values[name] || gap; });
    if (filled === field.value) { return; }
    var end = field.selectionEnd + filled.length - field.value.length;  // the caret stays after what it followed
    var unnamed = field.value;
    field.value = filled;
    rememberNames(field, unnamed, contact.to, [contact.values.first_name, contact.values.last_name]);
    if (document.activeElement === field) { field.setSelectionRange(end, end); }
    field.dispatchEvent(new Event("input", { bubbles: true }));  // the counter and the note follow
  }
  /* ---- A name filled in for one phone does not stay quietly when To changes: an untouched message
     gets its fields back (and the new phone's names, if it has a contact); a name still in it then
     (the agent edited the text, or an earlier fill put it there) is said under the field, since
     only the agent knows what to keep. Kept by the field's id: a refused send re-renders the form. ---- */
  var fills = {};  // field id -> {phones: [{to, names}], last: {to, unnamed, filled} or null}
  function samePhone(a, b) {
    function digits(s) { return (s || "").replace(/\D/g, "").replace(/^1(?=\d{10}$)/, ""); }
    return digits(a) === digits(b);
  }
  function holdsName(text, name) {  // as a whole word: "Al" is not in "All set"
    var escaped = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    return new RegExp("(?<![\\p{L}\\p{N}])" + escaped + "(?![\\p{L}\\p{N}])", "u").test(text);
  }
  function rememberNames(field, unnamed, to, names) {
    names = names.filter(Boolean);
    if (!names.length) { return; }
    var state = fills[field.id] = fills[field.id] || { phones: [], last: null };
    var same = state.phones.filter(function (fill) { return samePhone(fill.to, to); })[0];
    if (same) {
      names.forEach(function (name) { if (same.names.indexOf(name) < 0) { same.names.push(name); } });
    } else {
      state.phones.push({ to: to, names: names });
    }
    state.last = { to: to, unnamed: unnamed, filled: field.value };
    checkNames(field);
  }
  function checkNames(field) {
    var state = fills[field.id], to = contactField(field);
    if (!state || !to) { return; }
    var last = state.last;
    if (last && !samePhone(to.value, last.to) && field.value === last.filled) {
      var caret = last.unnamed.length - (field.value.length - field.selectionEnd);  // before what followed it
      field.value = last.unnamed;
      state.last = null;
      if (document.activeElement === field) { field.setSelectionRange(caret, caret); }
      field.dispatchEvent(new Event("input", { bubbles: true }));  // the counter, this check and the lookup follow
      return;
    }
    // Names filled in for the current phone are right; another phone's, still in the text, are said
    // (a phone none of whose names is left is forgotten).
    var current = state.phones.filter(function (fill) { return samePhone(fill.to, to.value); })[0];
    var kept = [], said = [];
    state.phones.forEach(function (fill) {
      if (fill === current) { kept.push(fill); return; }
      var left = fill.names.filter(function (name) { return holdsName(field.value, name); });
      if (!left.length) { return; }
      kept.push(fill);
      var wrong = left.filter(function (name) { return !current || current.names.indexOf(name) < 0; });
      if (wrong.length) { said.push(wrong.join(" ") + ", filled in for " + fill.to.trim()); }
    });
    state.phones = kept;
    noteUnder(field, field.id + "-named", said.length ?
      "The message still has " + said.join("; ") + ": check the name before sending to this phone." : "");
  }
  /* A refused send brings the form again, without the notes the page added: say them again. */
  document.addEventListener("htmx:afterSettle", function () {
    Object.keys(fills).forEach(function (id) {
      var field = document.getElementById(id);
      if (field) { checkNames(field); }
    });
  });
  /* Looks the phone's contact up when the message waits for a name; the answer's promise, or null
     when there is nothing to wait for. */
  function lookUpContact(field) {
    var toField = contactField(field), to = toField ? toField.value.trim() : "";
    if (!toField || !CONTACT_GAP.test(field.value)) { return null; }
    if (to === contact.to) {
      if (!contact.pending) { fillFromContact(field); }
      return contact.pending;
    }
    var asked = contact = { to: to, known: false, values: {}, pending: null };
    if (!to) { flag(field, false); return null; }
    var url = field.getAttribute("data-merge-contact-url") + "?to=" + encodeURIComponent(to);
    asked.pending = fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : {}; })
      .catch(function () { return {}; })
      .then(function (found) {
        asked.pending = null;
        if (contact !== asked) { return; }  // the phone changed meanwhile
        asked.known = !!found.known;
        asked.values = { first_name: found.first_name || "", last_name: found.last_name || "" };
        fillFromContact(field);
        flag(field, false);
      });
    return asked.pending;
  }
  function lookUpSoon(field) {
    clearTimeout(lookupTimer);
    lookupTimer = setTimeout(function () { lookUpContact(field); }, 300);
  }
  document.addEventListener("input", function (event) {
    var target = event.target;
    if (!target.matches) { return; }
    if (target.matches("[data-merge-check]")) {
      flag(target, false);
      if (target.hasAttribute("data-merge-contact")) { checkNames(target); lookUpSoon(target); }
    } else if (target.id) {
      var field = document.querySelector("[data-merge-contact='" + target.id + "']");
      if (field) { checkNames(field); lookUpSoon(field); }
    }
  });
  /* Capture phase, as the length check in app.js: htmx never sees a refused submit. A send that
     waits for the contact's name goes once it has come (or is refused if it has none). */
  document.addEventListener("submit", function (event) {
    var form = event.target, field = form.querySelector("[data-merge-check]");
    if (!field) { return; }
    clearTimeout(lookupTimer);
    var waiting = lookUpContact(field);
    if (waiting) {
      event.preventDefault();
      event.stopImmediatePropagation();
      if (form.hasAttribute("data-merge-waiting")) { return; }  // a double click sends once
      form.setAttribute("data-merge-waiting", "");
      waiting.then(function () { form.removeAttribute("data-merge-waiting"); form.requestSubmit(); });
      return;
    }
    if (!flag(field, true)) { return; }
    event.preventDefault();
    event.stopImmediatePropagation();
    field.focus();
    var gap = firstGap(field);
    if (gap) { field.setSelectionRange(gap.start, gap.end); }
  }, true);
  /* ---- Presence: the conversation's light poll says whether this agent is typing a reply ---- */
  var typedAt = 0;
  document.addEventListener("input", function (event) {
    if (event.target.id === "reply-body" && !event.restoredDraft) { typedAt = Date.now(); }
  });
  document.addEventListener("submit", function (event) {
    if (event.target.id === "reply-form") { typedAt = 0; }  // sent: no longer typing it
  });
  document.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.elt.id === "presence") {
      event.detail.parameters.typing = Date.now() - typedAt < 5000 ? "1" : "";
    }
  });
  // An answer for a pane since replaced (a reply answered after another conversation was opened)
  // is not drawn, so neither is its title nor its address. htmx asks the old pane, out of the page
  // (so the document hears nothing): the pane is told how to answer when its request starts.
  function dropIfGone(event) { if (!event.detail.target.isConnected) { event.detail.shouldSwap = false; } }
  document.addEventListener("htmx:beforeRequest", function (event) {
    event.detail.target.addEventListener("htmx:beforeSwap", dropIfGone);  // once: the same function
  });
  // The line is a live region: the same words swapped in again would be read out at every poll.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var line = event.detail.target, answer = document.createElement("template");
    if (line.id !== "presence") { return; }
    answer.innerHTML = event.detail.serverResponse;  // a template's content is inert
    if (answer.content.textContent === line.textContent) { event.detail.shouldSwap = false; }
  });

  /* ---- Read out by the page's polite live region: what an action did (its answer's
     HX-Trigger-After-Settle, "action-done"), and that a text of this conversation did not go out
     since the pane was last drawn (its status changes where no one may be looking). The words are
     not the thread's own, which would then be on the page twice. ---- */
  function say(text) {  // as app.js's announce (this file loads only with a conversation)
    var region = document.getElementById("announcer");  // base.html's polite live region
    if (!region) { return; }
    region.textContent = "";
    window.setTimeout(function () { region.textContent = text; }, 50);
  }
  document.addEventListener("action-done", function (event) { say(event.detail.value); });
  function failures() {
    var thread = document.getElementById("thread"), found = {};
    if (!thread) { return null; }
    thread.querySelectorAll(".status-failed, .status-undelivered").forEach(function (status) { found[status.id] = true; });
    return { conversation: thread.getAttribute("data-conversation"), found: found };
  }
  var failedBefore = null;
  document.addEventListener("htmx:beforeSwap", function () { failedBefore = failedBefore || failures(); });
  document.addEventListener("htmx:afterSettle", function () {
    var before = failedBefore, now = failures();
    failedBefore = null;
    if (!before || !now || before.conversation !== now.conversation) { return; }
    if (Object.keys(now.found).some(function (id) { return !(id in before.found); })) {
      say("A text in this conversation did not go out.");
    }
  });

  /* ---- A STOP or START, or the number deactivated or activated again, that a refresh brings
     while the conversation is open: the reply box says so and Send follows at once, keeping what
     was typed (the server refuses such a send anyway). Each state: the refreshed part's attribute
     and its notice's id (a <template> "-later" until first said). ---- */
  var CANNOT_SEND = [["data-opted-out", "reply-opted-out"], ["data-number-off", "reply-number-off"]];
  document.addEventListener("htmx:afterSettle", function () {
    var live = document.getElementById("conversation-live");
    var field = document.getElementById("reply-body"), send = document.getElementById("reply-send");
    if (!live || !field || !send) { return; }
    var blocked = false, changed = false, said = [];
    CANNOT_SEND.forEach(function (state) {
      var on = live.hasAttribute(state[0]), notice = document.getElementById(state[1]);
      blocked = blocked || on;
      if (on === !!(notice && !notice.hidden)) { return; }  // already as it should be
      if (!notice) {
        var later = document.getElementById(state[1] + "-later");
        if (!later) { return; }
        later.replaceWith(later.content.cloneNode(true));
        notice = document.getElementById(state[1]);
      }
      notice.hidden = !on;
      changed = true;
      var ids = field.getAttribute("aria-describedby").split(" ").filter(function (id) { return id && id !== notice.id; });
      field.setAttribute("aria-describedby", (on ? [notice.id] : []).concat(ids).join(" "));
      if (on) { said.push(notice.textContent); }
    });
    if (!changed) { return; }
    var pressing = document.activeElement === send;
    send.disabled = blocked;
    // A disabled button drops focus: to the field, read with the notice that now describes it.
    if (blocked && pressing) { field.focus(); }
    if (said.length) { say(said.join(" ")); }
  });

  /* ---- On a phone, "← Inbox" goes back as the browser's Back does when a row of the list opened
     the conversation (htmx pushed its address), and focus returns to the row left, scrolled into
     view: the agent goes on down the list. A row that left the list meanwhile (answered, cleared)
     gives focus to the first of the rows that were below it still there, else the tab. Opened any
     other way, the link loads the inbox. ---- */
  var leftRow = null, below = { row: null, next: [] };
  function openRowId() {
    var thread = document.getElementById("thread");
    return thread ? "conv-link-" + thread.getAttribute("data-conversation") : null;
  }
  // The (hidden) list keeps polling: note the rows below the open one while it is there.
  function noteRowBelow() {
    var id = openRowId(), row = id && document.getElementById(id);
    if (!row) { return; }
    var next = [];
    for (var li = row.closest("li").nextElementSibling; li && next.length < 5; li = li.nextElementSibling) {
      var link = li.querySelector("a[id^='conv-link-']");
      if (link) { next.push(link.id); }
    }
    below = { row: id, next: next };
  }
  noteRowBelow();
  document.addEventListener("htmx:afterSettle", noteRowBelow);
  document.addEventListener("click", function (event) {
    var back = event.target.closest ? event.target.closest("#back-link") : null;
    if (!back || !openRowId() || !(history.state && history.state.htmx)) { return; }
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) { return; }
    event.preventDefault();
    noteRowBelow();
    leftRow = { row: openRowId(), next: below.row === openRowId() ? below.next : [] };
    history.back();
  });
  document.addEventListener("htmx:historyRestore", function () {
    var left = leftRow;
    leftRow = null;
    if (!left) { return; }
    var target = [left.row].concat(left.next).map(function (id) { return document.getElementById(id); })
      .filter(Boolean)[0] || document.querySelector("#list-pane [role=tab][aria-selected=true]");
    if (target) { target.focus(); }  // scrolls it into view when it is not
  });

  /* ---- The contact panel says the same: it is loaded once, so it is asked again, once per change
     (a panel that comes back still behind, a refresh racing a START, is not asked in a loop). ---- */
  document.addEventListener("htmx:afterSettle", function () {
    var live = document.getElementById("conversation-live"), panel = document.getElementById("contact-panel");
    var state = panel && panel.querySelector(".panel-state");
    if (!live || !state) { return; }  // no conversation open, or its panel not loaded (a phone)
    var out = live.hasAttribute("data-opted-out") ? "out" : "in";
    var shown = state.querySelector(".tag-danger") ? "out" : "in";
    if (out === shown || panel.getAttribute("data-asked") === out) { return; }
    panel.setAttribute("data-asked", out);
    htmx.trigger(panel, "opt-out-changed");
  });

  /* ---- A form that cannot reach Parley, or fails there (htmx swaps nothing then): say so by it,
     as an alert, and keep what was typed for another try. Refusals that say where they go
     (HX-Retarget), the session's end (HX-Redirect) and a colleague's reply (200) never get here. */
  function failed(event) {
    var form = event.detail.elt, status = event.detail.xhr.status;
    if (!form.matches("form")) { return; }
    var typed = form.querySelector("textarea");
    var note = document.getElementById("action-failed") || document.createElement("p");
    note.id = "action-failed";
    note.className = "alert alert-error";
    note.setAttribute("role", "alert");
    note.tabIndex = -1;
    note.textContent = (!status ? "Parley could not be reached." : status >= 500 ?
      "Something went wrong on our side (" + status + ")." : "Parley refused this (" + status + ").") +
      (typed ? " Your text is kept — try again." : " Try again.");
    // By the form with the text; a button's form (Does Not Need Attention) has its note above the reply box.
    var reply = !typed && document.getElementById("reply-form");
    if (reply) { reply.insertAdjacentElement("beforebegin", note); } else { form.appendChild(note); }
    window.setTimeout(function () {  // once htmx gives the pressed button back
      if (!document.activeElement || document.activeElement === document.body) { note.focus(); }
    }, 0);
  }
  document.addEventListener("htmx:sendError", failed);
  document.addEventListener("htmx:responseError", failed);
  document.addEventListener("htmx:beforeRequest", function (event) {
    var note = document.getElementById("action-failed");
    if (note && event.detail.elt.matches("form")) { note.remove(); }  // a new try: a new answer
  });

  /* ---- Ctrl+Enter (⌘+Enter on a Mac) in compose's Message, a reply or a note presses its form's
     Send (or Add note), as the button's aria-keyshortcuts says; not while that button is disabled
     (opted out) nor while a form of the page is being sent. ---- */
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey) || event.isComposing) { return; }
    var form = event.target.matches("textarea") && event.target.form;
    var buttons = form && form.matches("#compose-form, #reply-form, #note-form") && form.querySelectorAll("button[type=submit]");
    var send = buttons && buttons[buttons.length - 1];  // after a colleague's reply, Send, not Send anyway
    if (!send) { return; }
    event.preventDefault();
    // Not while a form is under way: a note sent with the reply box's text would bring it back.
    if (!send.disabled && !document.querySelector("form.htmx-request")) { form.requestSubmit(send); }
  });

  /* ---- Drafts: what is typed in compose, a reply or a note stays in this tab (sessionStorage)
     until it is sent, so that opening another conversation, a reload, or signing in again after
     the session ended loses nothing. A form[data-draft] names its record ("user id:what"): another
     person signed in in this tab never sees it, and a page of theirs forgets it; logging out
     clears the tab's storage. ---- */
  var TEXTS = "textarea, input[type=tel], input[type=datetime-local]";  // the texts, To, Send later
  // With them, compose's From and the form's key: sent again after an answer that never came,
  // a text is not sent twice.
  var ALONG = "select, input[name=idempotency_key]";
  var DRAFT = "parley-draft:";
  var sending = {};  // the records of the forms being sent
  function fieldsOf(form, selector) { return Array.prototype.slice.call(form.querySelectorAll(selector)); }
  function keepDraft(form) {
    var record = {}, typed = false;
    fieldsOf(form, TEXTS + ", " + ALONG).forEach(function (field) {
      record[field.name] = field.value;
      typed = typed || (field.matches("textarea, input[type=tel]") && !!field.value.trim());
    });
    try {
      if (typed) { sessionStorage.setItem(DRAFT + form.dataset.draft, JSON.stringify(record)); }
      else { sessionStorage.removeItem(DRAFT + form.dataset.draft); }
    } catch (e) { /* storage full or refused (private mode): the text is only where it is typed */ }
  }
  function forgetOthers(user) {
    try {
      Object.keys(sessionStorage).forEach(function (name) {
        if (name.indexOf(DRAFT) === 0 && name.split(":")[1] !== user) { sessionStorage.removeItem(name); }
      });
    } catch (e) { /* as above */ }
  }
  /* After a submit, the form that was sent shows what the server kept: that is its draft. The
     pane's other forms show what went along with it, and what was typed in them meanwhile is in
     their drafts. A form opened anew gets its draft back only where each field is empty or
     already says the same: compose opened for another contact (a CRM's link) never gets a text
     meant for someone else. `sent` is the id of the form sent, or null after a GET. */
  function restoreDrafts(root, sent) {
    var forms = Array.prototype.slice.call(root.querySelectorAll("form[data-draft]"));
    if (root.matches && root.matches("form[data-draft]")) { forms.push(root); }  // compose redraws itself
    forms.forEach(function (form) {
      if (sent !== null && form.id === sent) { keepDraft(form); return; }
      if (sending[form.dataset.draft]) { form.setAttribute("data-draft-waits", ""); return; }  // its answer says
      forgetOthers(form.dataset.draft.split(":")[0]);
      var record = null;
      try { record = JSON.parse(sessionStorage.getItem(DRAFT + form.dataset.draft)); } catch (e) { return; }
      if (!record) { return; }
      var fields = fieldsOf(form, TEXTS), along = sent !== null;
      if (!along && !fields.every(function (f) { return !f.value || f.value === record[f.name]; })) { return; }
      fields = fields.filter(function (f) {
        return along ? f.name in record && f.value !== record[f.name] : !f.value && record[f.name];
      });
      if (!along && fields.length) {
        fieldsOf(form, ALONG).forEach(function (field) {
          var known = field.tagName !== "SELECT" || Array.prototype.some.call(field.options, function (o) {
            return o.value === record[field.name];
          });
          if (record[field.name] && known) { field.value = record[field.name]; }
        });
      }
      fields.forEach(function (field) {
        field.value = record[field.name];
        if (field.type === "datetime-local" && field.value) { field.closest("details").open = true; }  // shown set
        var input = new Event("input", { bubbles: true });  // its counter and checks follow
        input.restoredDraft = true;  // not typing: colleagues are not told so
        field.dispatchEvent(input);
      });
    });
  }
  document.addEventListener("input", function (event) {
    var form = event.target.form;
    if (form && form.dataset.draft && event.target.matches(TEXTS + ", " + ALONG)) { keepDraft(form); }
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt, xhr = event.detail.xhr;
    if (!form.matches("form[data-draft]")) { return; }
    var name = form.dataset.draft, texts = fieldsOf(form, "textarea");
    keepDraft(form);  // with the key this send carries
    sending[name] = true;
    // What is being sent stays as it is until the answer redraws it: words typed on meanwhile
    // would be lost when a sent form comes back empty.
    texts.forEach(function (text) { text.readOnly = true; });
    /* Answered after the agent moved on (another conversation opened meanwhile, or this one
       again), the answer is not swapped in, nor said to this page; its redraw of the form still
       says what was kept: for the draft, and for this form opened again since. */
    xhr.addEventListener("loadend", function () {
      delete sending[name];
      texts.forEach(function (text) { text.readOnly = false; });  // not redrawn: no answer came
      var live = document.querySelector('form[data-draft="' + name + '"]');
      if (document.contains(form) || (live && !live.hasAttribute("data-draft-waits"))) { return; }  // swapped in
      if (xhr.status >= 200 && xhr.status < 300) {
        var drawn = new DOMParser().parseFromString(xhr.responseText, "text/html").getElementById(form.id);
        if (drawn && drawn.dataset.draft === name) { keepDraft(drawn); }
      }
      if (live) {
        live.removeAttribute("data-draft-waits");
        restoreDrafts(live, null);
      }
    });
  });
  function forgetDraft(form) {
    try { sessionStorage.removeItem(DRAFT + form.dataset.draft); } catch (e) { /* as above */ }
  }
  document.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail.xhr, form = event.detail.elt;
    // Sent, and the page goes on without drawing the form again (compose, to the conversation).
    if (xhr.status >= 200 && xhr.status < 300 && xhr.getResponseHeader("HX-Redirect") && form.matches("form[data-draft]")) {
      forgetDraft(form);
    }
  });
  document.addEventListener("click", function (event) {  // compose's Cancel: the text is not wanted
    var cancel = event.target.closest && event.target.closest("[data-discard-draft]");
    var form = cancel && cancel.closest("form[data-draft]");
    if (form) { forgetDraft(form); }
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    var config = event.detail.requestConfig;
    restoreDrafts(event.target, config && config.verb !== "get" ? config.elt.id : null);
  });
  restoreDrafts(document, null);

  /* ---- On a phone the page scrolls, not the thread (app.css): a conversation opened there starts
     at its newest message, as the thread's own scroller does on a wider screen. ---- */
  function pageScrolls() { return document.documentElement.scrollHeight > window.innerHeight + 1; }
  var shownConversation = null;
  function toNewest() {
    var thread = document.getElementById("thread");
    var id = thread && thread.getAttribute("data-conversation");
    if (!id || id === shownConversation) { return; }
    shownConversation = id;
    var scroller = thread.parentElement, newest = thread.lastElementChild;
    if (newest && scroller.scrollHeight <= scroller.clientHeight + 1 && pageScrolls()) {
      // The browser's own autofocus (the heading, on a page load) may come later and scroll back
      // to the top: focus goes there first, without scrolling, and the browser then leaves it.
      var autofocus = document.querySelector("#conversation-pane [autofocus]");
      if (autofocus && document.activeElement !== autofocus) { autofocus.focus({ preventScroll: true }); }
      newest.scrollIntoView({ block: "start" });
    }
  }
  document.addEventListener("htmx:afterSettle", toNewest);
  if (document.readyState === "complete") { toNewest(); } else { window.addEventListener("load", toNewest); }

  function flagAll(root) { root.querySelectorAll("[data-merge-check]").forEach(function (f) { flag(f, false); }); }
  document.addEventListener("htmx:afterSettle", function (event) { flagAll(event.detail.elt || document); });
  flagAll(document);
})();
