"""Contact lookup by phone (any format) or name: name, opt-out status, visible conversations."""

from __future__ import annotations

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for

from webapp.services import access, contacts
from webapp.web import signed_in
from webapp.web.rendering import render_screen, wants_fragment

bp = Blueprint("contacts", __name__)

HEADER_RESULTS = 4


def _query() -> str:
    # `phone` is the deep-link parameter (SPEC 8); `q` is what the search boxes send.
    return (request.args.get("q") or request.args.get("phone") or "").strip()[:80]


@bp.get("/contacts/lookup")
def lookup():
    return lookup_page(_query())


def lookup_page(query: str, compose_refused: bool = False) -> Response:
    """The lookup page for `query`; `compose_refused`: as the 403 answer to a Limited user's link
    to compose a text to that contact (a CRM's deep link), saying why, with what Parley knows."""
    search = contacts.search(signed_in(), query)
    return render_screen(
        "contacts/lookup.html",
        "lookup_results",
        status=403 if compose_refused else 200,
        search=search,
        query=search.query,
        compose_refused=compose_refused,
    )


@bp.get("/contacts/search")
def search():
    """The header search box's dropdown (an htmx partial); without htmx, the lookup page."""
    query = _query()
    if not wants_fragment():
        return redirect(url_for("contacts.lookup", q=query or None))
    found = contacts.search(signed_in(), query, limit=HEADER_RESULTS)
    response = render_template("contacts/partials/header_results.html", search=found)
    return response, 200, {"Vary": "HX-Request"}


@bp.get("/conversations/<int:conversation_id>/contact")
def panel(conversation_id: int):
    """The contact panel beside an open conversation (wide screens load it once, by htmx)."""
    user = signed_in()
    try:
        conversation = access.visible_conversation(user, conversation_id)
    except access.AccessDenied:
        abort(404)
    found = contacts.panel(user, conversation)
    response = render_template("contacts/partials/panel.html", panel=found)
    return response, 200, {"Vary": "HX-Request"}
