"""The inbox: two tabs over a list, and the open conversation beside it."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from webapp.services import access, inbox, poll_versions
from webapp.web import polling, signed_in, user_read_with
from webapp.web.rendering import render_screen, wants_fragment

bp = Blueprint("inbox", __name__)

TEMPLATE = "inbox/inbox.html"


def inbox_context(
    tab: str,
    cursor: str | None = None,
    open_view=None,
    numbers: access.InboxNumbers | None = None,
) -> dict:
    tab = tab if tab in inbox.TABS else inbox.NEEDS_ATTENTION
    user = signed_in()
    size = current_app.config["INBOX_PAGE_SIZE"]
    page = inbox.list_tab(user, tab, cursor, limit=size, numbers=numbers)
    # A first page brings the counts along; a later one ("Load more") shows none, but the
    # whole page (a reload with a cursor) does.
    counts = page.counts if page.counts is not None else inbox.counts(user, numbers)
    return {
        "tab": tab,
        "page": page,
        "counts": counts,
        # An empty Participating says where the user's conversations went when a contact replied.
        "mine_waiting": tab == inbox.PARTICIPATING and not page.rows and counts[inbox.NEEDS_ATTENTION] > 0
        and inbox.mine_need_attention(user, numbers),
        "view": open_view,
        "poll_seconds": current_app.config["INBOX_POLL_SECONDS"],
        "cursor": cursor,
        "focus_first_row": False,
    }


@bp.get("/inbox")
@user_read_with(poll_versions.signed_in_with_inbox)
def index():
    tab = request.args.get("tab", inbox.NEEDS_ATTENTION)
    cursor = request.args.get("cursor")
    if wants_fragment() and not cursor:
        return _list_pane(tab)
    context = inbox_context(tab, cursor, numbers=poll_versions.inbox_numbers(signed_in()))
    # "Load more" asks for just the next rows; tab switches and polling for the whole list pane.
    block = "list_rows" if cursor else "list_pane"
    context["focus_first_row"] = bool(cursor) and wants_fragment()
    return render_screen(TEMPLATE, block, **context)


def _list_pane(tab: str) -> Response:
    """The list pane, polled: 304 while nothing it shows has changed."""
    user = signed_in()
    tag = poll_versions.inbox_version(user, tab, polling.context())
    held = polling.held_tag(tag)
    if held:
        return polling.not_modified(held)
    numbers = poll_versions.inbox_numbers(user)
    response = render_screen(TEMPLATE, "list_pane", **inbox_context(tab, numbers=numbers))
    return polling.tagged(response, tag)
