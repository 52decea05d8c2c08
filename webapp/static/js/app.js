/* Parley's small behaviours: the Create Content menu, the header lookup, inbox niceties.
   No inline scripts anywhere (the Content-Security-Policy forbids them). */
(function () {
  "use strict";

  /* ---- The server's error about a field goes once it is edited: it was about what was there.
     (Length limits and the SMS counter: limits.js, loaded where a field has them.) ---- */
  function describedBy(field, id, add) {
    var ids = (field.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (x) { return x && x !== id; });
    if (add) { ids.push(id); }
    if (ids.length) { field.setAttribute("aria-describedby", ids.join(" ")); } else { field.removeAttribute("aria-describedby"); }
  }
  document.addEventListener("input", function (event) {
    var field = event.target;  // an element: input events come from fields
    if (field.matches("[aria-invalid=true]:not([data-limit-invalid],[data-merge-invalid])")) {
      field.removeAttribute("aria-invalid");
      field.getAttribute("aria-describedby").split(" ").forEach(function (id) {
        var error = document.getElementById(id);
        if (error && error.matches(".field-error")) { error.remove(); describedBy(field, id, false); }
      });
    }
  });

  /* ---- One polite live region for short announcements (limits, new replies, counts) ---- */
  function announce(text) {
    var region = document.getElementById("announcer");
    if (!region) { return; }
    region.textContent = "";
    window.setTimeout(function () { region.textContent = text; }, 50);
  }
  window.parleyAnnounce = announce;  // limits.js's too

  /* ---- Create Content menu (WAI-ARIA menu button) ---- */
  function menuParts(el) {
    var menu = el.closest("[data-menu]");
    if (!menu) { return null; }
    return { button: menu.querySelector("[data-menu-button]"), list: menu.querySelector("[role=menu]") };
  }
  function openMenu(parts, focusFirst) {
    parts.list.hidden = false;
    parts.button.setAttribute("aria-expanded", "true");
    var first = parts.list.querySelector("[role=menuitem]");
    if (focusFirst && first) { first.focus(); }
  }
  function closeMenu(parts, focusButton) {
    parts.list.hidden = true;
    parts.button.setAttribute("aria-expanded", "false");
    if (focusButton) { parts.button.focus(); }
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-menu-button]");
    document.querySelectorAll("[data-menu]").forEach(function (menu) {
      var parts = menuParts(menu);
      if (button && menu.contains(button)) {
        if (parts.list.hidden) { openMenu(parts, false); } else { closeMenu(parts, false); }
      } else if (!menu.contains(event.target)) {
        closeMenu(parts, false);
      }
    });
  });
  document.addEventListener("keydown", function (event) {
    var parts = event.target.closest ? menuParts(event.target) : null;
    if (!parts) { return; }
    var items = Array.prototype.slice.call(parts.list.querySelectorAll("[role=menuitem]"));
    var index = items.indexOf(document.activeElement);
    if (event.key === "Escape") { closeMenu(parts, true); event.preventDefault(); }
    else if (event.target === parts.button && (event.key === "ArrowDown" || event.key === "Enter" || event.key === " ")) {
      openMenu(parts, true); event.preventDefault();
    } else if (index >= 0 && event.key === "ArrowDown") { items[(index + 1) % items.length].focus(); event.preventDefault(); }
    else if (index >= 0 && event.key === "ArrowUp") { items[(index - 1 + items.length) % items.length].focus(); event.preventDefault(); }
    else if (event.key === "Tab") { closeMenu(parts, false); }
  });

  /* ---- Inbox tabs: arrow keys move between tabs, Home and End to the first and last ---- */
  document.addEventListener("keydown", function (event) {
    var tab = event.target.closest ? event.target.closest("[role=tab]") : null;
    if (!tab) { return; }
    var tabs = Array.prototype.slice.call(tab.parentNode.querySelectorAll("[role=tab]")), i = tabs.indexOf(tab), n = tabs.length;
    var next = tabs[{ ArrowRight: i + 1, ArrowLeft: i + n - 1, Home: 0, End: n - 1 }[event.key] % n];
    if (!next) { return; }
    next.focus();
    next.click();
    event.preventDefault();
  });

  /* ---- Times in the reader's own time zone ---- */
  var timeFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" });
  function localiseTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var moment = new Date(el.getAttribute("datetime"));
      if (!isNaN(moment)) { el.textContent = timeFormat.format(moment); el.title = moment.toString(); }
    });
  }

  /* ---- Mark the open conversation in the list ----
     By the open conversation, not the URL: a tab switch changes the URL while the conversation
     stays open, and its row stays marked in whichever tab it now is. */
  function markCurrent(root) {
    var thread = document.getElementById("thread");
    var path = thread ? "/conversations/" + thread.getAttribute("data-conversation") : window.location.pathname;
    root.querySelectorAll(".conv-row a").forEach(function (a) {
      if (a.getAttribute("href") === path) { a.setAttribute("aria-current", "true"); }
      else { a.removeAttribute("aria-current"); }
    });
  }

  /* ---- Narrow screens: the search and the menu unfold from their header buttons ---- */
  function setFold(button, open) {
    document.getElementById("app-header").classList.toggle(button.getAttribute("data-fold"), open);
    button.setAttribute("aria-expanded", open ? "true" : "false");
  }
  document.addEventListener("click", function (event) {
    var header = document.getElementById("app-header");
    var button = event.target.closest ? event.target.closest("[data-fold]") : null;
    document.querySelectorAll("[data-fold][aria-expanded=true]").forEach(function (open) {
      if (open !== button && (button || !header.contains(event.target))) { setFold(open, false); }
    });
    if (!button) { return; }
    var opening = button.getAttribute("aria-expanded") !== "true";
    setFold(button, opening);
    var region = document.getElementById(button.getAttribute("aria-controls").split(" ")[0]);
    var first = opening && region.querySelector("input, a, button");
    if (first) { first.focus(); }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || !event.target.closest) { return; }
    document.querySelectorAll("[data-fold][aria-expanded=true]").forEach(function (button) {
      var inside = button.getAttribute("aria-controls").split(" ").some(function (id) {
        return document.getElementById(id).contains(event.target);
      });
      if (inside) { setFold(button, false); button.focus(); }
    });
  });

  /* ---- Refreshes must not move what the reader is looking at ----
     htmx runs beforeSwap, the swap and afterSwap in one go, so a position noted in beforeSwap
     belongs to that very swap (noting it earlier raced with other swaps). Focus comes back by
     element id (htmx does that), hence the ids on rows and buttons in the templates.
     The thread's scroller is a reversed column (app.css): a conversation opens at its newest
     message by itself, and scrollTop is 0 there and negative above. A reader who scrolled up is
     kept at the same distance from the top, since new messages come at the end.
     The list's refresh keeps the rows in view where they were on the screen, rows coming or
     going above them (in the list's scroller, or the page's on a phone): it keeps the first row
     in view that still has the same row after it (one that moved to the top, its contact having
     written, does not pull the view along). A reader at the very top sees new rows come in there. */
  function rowAfter(link) {
    var next = link.parentNode.nextElementSibling, a = next && next.querySelector("a[id]");
    return a ? a.id : null;
  }
  function rowsInView(panel) {
    var links = panel.querySelectorAll(".conv-row > a[id]"), top = Math.max(panel.getBoundingClientRect().top, 0);
    var seen = [];
    for (var i = 0; i < links.length && seen.length < 5; i++) {
      var box = links[i].getBoundingClientRect();
      if (box.bottom > top && box.top < window.innerHeight) {
        seen.push({ id: links[i].id, top: box.top, after: rowAfter(links[i]) });
      }
    }
    return seen;
  }
  function anchorMoved(seen) {
    for (var i = 0; i < seen.length; i++) {
      var row = document.getElementById(seen[i].id);
      if (row && isShown(row) && rowAfter(row) === seen[i].after) { return row.getBoundingClientRect().top - seen[i].top; }
    }
    return 0;
  }
  function snapshot(listSwap) {
    var thread = document.getElementById("thread");
    var scroller = thread && thread.parentNode;
    var panel = document.getElementById("inbox-tabpanel");
    var tab = document.querySelector("#list-pane [role=tab][aria-selected=true]");
    var scrolled = panel && (panel.scrollTop > 0 || window.scrollY > 0);
    return {
      conversation: thread ? thread.getAttribute("data-conversation") : null,
      threadTop: thread ? scroller.scrollHeight - scroller.clientHeight + scroller.scrollTop : 0,
      threadAtEnd: !thread || scroller.scrollTop > -40,
      tab: tab ? tab.id : null,
      listTop: panel ? panel.scrollTop : 0,
      inView: listSwap && scrolled && isShown(panel) ? rowsInView(panel) : []
    };
  }
  function restore(state) {
    var thread = document.getElementById("thread");
    if (thread && state && !state.threadAtEnd && state.conversation === thread.getAttribute("data-conversation")) {
      var scroller = thread.parentNode;
      scroller.scrollTop = state.threadTop - (scroller.scrollHeight - scroller.clientHeight);
    }
    var panel = document.getElementById("inbox-tabpanel");
    var tab = document.querySelector("#list-pane [role=tab][aria-selected=true]");
    if (!panel || !state || !tab || tab.id !== state.tab) { return; }
    panel.scrollTop = state.listTop;
    var moved = anchorMoved(state.inView);
    if (!moved) { return; }
    if (panel.scrollHeight > panel.clientHeight) { panel.scrollTop += moved; } else { window.scrollBy(0, moved); }
  }

  var beforeSwap = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    beforeSwap = snapshot(event.detail.target.id === "list-pane");
  });
  document.addEventListener("htmx:afterSwap", function () {
    restore(beforeSwap);
    beforeSwap = null;
  });

  /* ---- Where focus goes after a swap ----
     htmx gives focus back to the element of the same id. When the focused element is gone (a
     button that no longer applies) or hidden (the list on a phone, once a conversation opens),
     focus moves to the swapped region's [data-swap-focus] field, else its heading. Focus never
     moves when it was elsewhere (polls). Where an answer says otherwise (an error, a conversation
     just opened), its `autofocus` field has taken focus already. */
  var focusPlans = {};
  function isShown(el) { return !!(el && el !== document.body && el.getClientRects().length); }
  function focusInto(region) {
    var target = region.querySelector("[data-swap-focus]");
    if (!isShown(target)) {
      target = region.querySelector("[data-heading], h1, h2");  // the first in the region
      if (target) { target.tabIndex = -1; }  // a heading: focusable by script only
    }
    if (target) { target.focus(); }
  }
  var focusAtRequest = {};  // hx-disabled-elt blurs a pressed button before its answer comes
  document.addEventListener("htmx:beforeRequest", function (event) {
    var target = event.detail.target;
    if (target && target.id) { focusAtRequest[target.id] = target.contains(document.activeElement); }
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!target.id) { return; }
    var pressed = focusAtRequest[target.id] && !isShown(document.activeElement);
    delete focusAtRequest[target.id];
    focusPlans[target.id] = target.contains(document.activeElement) || pressed;
  });
  document.addEventListener("htmx:afterSettle", function () {
    Object.keys(focusPlans).forEach(function (id) {
      var hadFocus = focusPlans[id], region = document.getElementById(id);
      delete focusPlans[id];
      if (region && hadFocus && !isShown(document.activeElement)) { focusInto(region); }
    });
  });

  /* ---- Announced without moving focus: a new reply, a change of the Needs Attention count ----
     The count also leads the page title, "(3) Inbox · Parley". */
  function attentionCount() {
    var count = document.querySelector("#tab-attention .count");
    return count ? count.textContent.trim() : null;
  }
  function lastReply() {
    var thread = document.getElementById("thread");
    var replies = thread ? thread.querySelectorAll(".msg-in") : [];
    var last = replies.length ? replies[replies.length - 1] : null;
    return { conversation: thread && thread.getAttribute("data-conversation"), id: last && last.id, el: last };
  }
  var heard = null;
  document.addEventListener("htmx:beforeSwap", function () {
    heard = heard || { count: attentionCount(), reply: lastReply() };
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (!heard) { return; }
    var before = heard, count = attentionCount(), reply = lastReply();
    heard = null;
    if (count !== null) {
      // The count is at most "99+": a title named by a phone, "(202) 555-0143", keeps its area code.
      document.title = (count !== "0" ? "(" + count + ") " : "") + document.title.replace(/^\(\d\d?\+?\) /, "");
    }
    if (reply.id && before.reply.conversation === reply.conversation && before.reply.id !== reply.id) {
      // Not the text itself: the thread holds it, and a second copy would confuse text searches.
      var author = reply.el.querySelector(".msg-author");
      announce("New reply from " + (author ? author.textContent.trim() : "the contact"));
    } else if (count !== null && before.count !== null && count !== before.count) {
      announce("Needs Attention: " + count);
    }
  });

  /* ---- Header contact lookup: a dropdown that Escape, a click elsewhere or focus moving on closes ---- */
  function closeLookups(except) {
    document.querySelectorAll("[data-lookup] .lookup-dropdown").forEach(function (results) {
      if (!except || !except.contains(results)) { results.innerHTML = ""; }
    });
  }
  document.addEventListener("click", function (event) {
    closeLookups(event.target.closest ? event.target.closest("[data-lookup]") : null);
  });
  // Tabbed past, it would cover what has focus now (focus to another window keeps it open).
  document.addEventListener("focusout", function (event) {
    var lookup = event.target.closest ? event.target.closest("[data-lookup]") : null;
    if (lookup && event.relatedTarget && !lookup.contains(event.relatedTarget)) { closeLookups(null); }
  });
  document.addEventListener("keydown", function (event) {
    var lookup = event.key === "Escape" && event.target.closest ? event.target.closest("[data-lookup]") : null;
    if (!lookup) { return; }
    closeLookups(null);
    lookup.querySelector("input").focus();
    event.preventDefault();
  });

  /* ---- A refusal (403, 404, 413 …) whose page says where it goes: show it (htmx swaps no 4xx) ---- */
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr.status >= 400 && event.detail.xhr.getResponseHeader("HX-Retarget")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  /* ---- Conditional polls ----
     A poll sends back the ETag of what it shows (If-None-Match); while nothing changed the server
     answers 304 with no body, and htmx swaps nothing (base.html's responseHandling). Only an
     element refreshing itself sends it: a tab click must get its content whatever the tag.
     The list's poll also names the open conversation and sends its tag (which the conversation
     carries, as rendered): one request every few seconds checks both, and the conversation
     refreshes itself when the answer says it changed. */
  var pollTags = {};
  function isPoll(elt) { return elt.id === "list-pane" || elt.id === "conversation-live"; }
  document.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.verb !== "get" || !isPoll(event.detail.elt)) { return; }
    var elt = event.detail.elt;
    var tags = [elt.id === "conversation-live" ? elt.dataset.pollTag : pollTags[event.detail.path]];
    if (elt.id === "list-pane") {
      // How far down the list shows (webapp/web/inbox.py): rows from "Load more" stay.
      var times = document.querySelectorAll(".conv-row time");
      if (times.length) {
        event.detail.parameters.rows = times.length;
        event.detail.parameters.through = times[times.length - 1].getAttribute("datetime");
      }
      var open = document.getElementById("conversation-live");
      if (open) {
        event.detail.parameters.open = open.dataset.conversationId;
        tags.push(open.dataset.pollTag);
      }
    }
    tags = tags.filter(Boolean);
    if (tags.length) { event.detail.headers["If-None-Match"] = tags.join(", "); }
  });
  // The list's tag is its last answer's ETag (the conversation's is in its markup).
  document.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail.xhr, config = event.detail.requestConfig;
    if (!xhr || !config || config.verb !== "get" || xhr.status === 304) { return; }
    var tag = xhr.status === 200 ? xhr.getResponseHeader("ETag") : null;
    if (tag) { pollTags[config.path] = tag; } else { delete pollTags[config.path]; }
  });

  /* A request that fails (offline, a restart, an error on our side), since htmx swaps nothing:
     - a poll shows one quiet "Reconnecting…" until one gets through;
     - a link that loads part of the page (a tab, a conversation, Load more) says so where that
       part would have come, as the click would seem ignored; the part's next load replaces it.
     Not on afterRequest alone: an aborted poll (its element replaced) ends there too. */
  function failed(event) {
    var elt = event.detail.elt, status = event.detail.xhr.status, note;
    if (isPoll(elt)) {
      if ((status && status < 500) || document.getElementById("reconnecting")) { return; }
      note = document.createElement("p");
      note.id = "reconnecting";
      note.setAttribute("role", "status");
      announce(note.textContent = "Reconnecting…");
      document.body.appendChild(note);
    } else if (elt.matches("a")) {
      note = document.getElementById("load-failed") || document.createElement("p");
      note.id = "load-failed";
      note.className = "alert alert-error";
      note.setAttribute("role", "alert");
      note.textContent = (!status ? "Parley could not be reached" : status >= 500 ?
        "Something went wrong on our side (" + status + ")" : "Parley refused this (" + status + ")") +
        ", so this did not load. Try again.";
      event.detail.target.prepend(note);
    }
  }
  document.addEventListener("htmx:sendError", failed);
  document.addEventListener("htmx:responseError", failed);
  document.addEventListener("htmx:afterRequest", function (event) {
    var status = event.detail.xhr.status, note = document.getElementById("reconnecting");
    if (note && isPoll(event.detail.elt) && status && status < 500) { note.remove(); }
  });

  function refresh(root) {
    localiseTimes(root);
    markCurrent(document);
  }
  document.addEventListener("DOMContentLoaded", function () { refresh(document); });
  document.addEventListener("htmx:afterSettle", function (event) { refresh(event.target); });
  document.addEventListener("htmx:pushedIntoHistory", function () { markCurrent(document); });
})();
