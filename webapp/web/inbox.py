"""The inbox: two tabs over a list, and the open conversation beside it."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, request

from webapp.models import SignedInUser
from webapp.services import access, inbox, poll_versions
from webapp.services.dbutil import row_id
from webapp.web import polling, signed_in, user_read_with
from webapp.web.rendering import render_screen, wants_fragment

bp = Blueprint("inbox", __name__)

TEMPLATE = "inbox/inbox.html"
# The event that makes the open conversation refresh itself (its hx-trigger in the template).
OPEN_CONVERSATION_CHANGED = "open-conversation-changed"
MAX_REFRESHED_PAGES = 20


def inbox_context(
    tab: str,
    cursor: str | None = None,
    open_view=None,
    numbers: access.InboxNumbers | None = None,
    shown: tuple[int, datetime] | None = None,
    directory_version: int | None = None,
) -> dict:
    tab = tab if tab in inbox.TABS else inbox.NEEDS_ATTENTION
    user = signed_in()
    size = current_app.config["INBOX_PAGE_SIZE"]
    # A refresh after "Load more" reaches down to the last row shown (new rows come on top, up to a
    # bound), so that the rows the reader loaded stay.
    expanded = shown is not None and shown[0] > size
    limit = min(shown[0] + size, size * MAX_REFRESHED_PAGES) if expanded else size
    page = inbox.list_tab(
        user, tab, cursor, limit=limit, numbers=numbers, directory_version=directory_version
    )
    if expanded:
        page = inbox.down_to(page, shown[1], size)
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


def _signed_in_with_inbox(params: dict) -> SignedInUser | None:
    """The inbox's user loader: the user, with what their tabs' tags and the tag of the
    conversation the poll names as open depend on, in one statement."""
    return poll_versions.signed_in_with_inbox(params, _open_conversation_id())


def _open_conversation_id() -> int | None:
    """The conversation the list's poll names as open (`open`), which it checks on the side."""
    return row_id(request.args.get("open"))


@bp.get("/inbox")
@user_read_with(_signed_in_with_inbox)
def index():
    tab = request.args.get("tab", inbox.NEEDS_ATTENTION)
    cursor = request.args.get("cursor")
    if wants_fragment() and not cursor:
        return _list_pane(tab, _shown())
    user = signed_in()
    numbers, directory = poll_versions.inbox_numbers(user), poll_versions.directory_version(user)
    context = inbox_context(tab, cursor, numbers=numbers, directory_version=directory)
    # "Load more" asks for just the next rows; tab switches and polling for the whole list pane.
    block = "list_rows" if cursor else "list_pane"
    context["focus_first_row"] = bool(cursor) and wants_fragment()
    return render_screen(TEMPLATE, block, **context)


def _shown() -> tuple[int, datetime] | None:
    """What a refreshing list shows (static/js/app.js sends it): how many rows, and the last
    one's activity."""
    try:
        last = datetime.fromisoformat(request.args.get("through", ""))
    except ValueError:
        return None
    rows = request.args.get("rows", 0, type=int)
    return (rows, last) if last.tzinfo is not None else None


def _list_pane(tab: str, shown: tuple[int, datetime] | None) -> Response:
    """The list pane, polled: 304 while nothing it shows has changed.

    The poll also checks the conversation open beside the list (`open`, with the conversation's
    tag among If-None-Match's), so that the list and the open conversation take one poll, not
    two: when that conversation changed, the answer's `HX-Trigger` tells it to refresh itself
    (after the list's answer, so a slow list delays it)."""
    user = signed_in()
    tag = poll_versions.inbox_version(user, tab, polling.context(_list_url()))
    held = polling.held_tag(tag)
    conversation_changed = _open_conversation_changed(user, _open_conversation_id())
    if held:
        response = polling.not_modified(held)
    else:
        numbers, directory = poll_versions.inbox_numbers(user), poll_versions.directory_version(user)
        context = inbox_context(tab, numbers=numbers, shown=shown, directory_version=directory)
        response = polling.tagged(render_screen(TEMPLATE, "list_pane", **context), tag)
    if conversation_changed:
        response.headers["HX-Trigger"] = OPEN_CONVERSATION_CHANGED
    return response


def _list_url() -> str:
    """The list's URL without the open conversation it checks on the side: opening another one
    changes nothing the list shows."""
    query = [(key, value) for key, value in request.args.items(multi=True) if key != "open"]
    return f"{request.path}?{urlencode(query)}"


def _open_conversation_changed(user: SignedInUser, conversation_id: int | None) -> bool:
    """Whether the conversation the poll names as open (one the user may see) shows something
    its held tag does not."""
    if conversation_id is None:
        return False
    context = polling.conversation_context(conversation_id)
    tag = poll_versions.open_conversation_version(user, conversation_id, context)
    return tag is not None and polling.held_tag(tag) is None
