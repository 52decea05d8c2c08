"""The inbox: two tabs over a list, and the open conversation beside it."""

from __future__ import annotations

from flask import Blueprint, current_app, request

from webapp.services import inbox
from webapp.web import signed_in
from webapp.web.rendering import render_screen

bp = Blueprint("inbox", __name__)

TEMPLATE = "inbox/inbox.html"


def inbox_context(tab: str, cursor: str | None = None, open_view=None) -> dict:  # noqa: ANN001
    tab = tab if tab in inbox.TABS else inbox.NEEDS_ATTENTION
    user = signed_in()
    page = inbox.list_tab(user, tab, cursor, limit=current_app.config["INBOX_PAGE_SIZE"])
    return {
        "tab": tab,
        "page": page,
        # A first page brings the counts along; a later one ("Load more") shows none, but the
        # whole page (a reload with a cursor) does.
        "counts": page.counts if page.counts is not None else inbox.counts(user),
        "view": open_view,
        "poll_seconds": current_app.config["INBOX_POLL_SECONDS"],
        "cursor": cursor,
    }


@bp.get("/inbox")
def index():  # noqa: ANN201
    tab = request.args.get("tab", inbox.NEEDS_ATTENTION)
    cursor = request.args.get("cursor")
    context = inbox_context(tab, cursor)
    # "Load more" asks for just the next rows; tab switches and polling for the whole list pane.
    block = "list_rows" if cursor else "list_pane"
    return render_screen(TEMPLATE, block, **context)
