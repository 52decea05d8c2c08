"""Search (`/search?q=`): conversations the user may see, by contact name, phone or message text."""

from __future__ import annotations

from flask import Blueprint, request

from webapp.services import search as search_service
from webapp.services.dbutil import row_id
from webapp.web import signed_in
from webapp.web.rendering import render_screen

bp = Blueprint("search", __name__)


def _before() -> int | None:
    """The "Older results" cursor; anything but a positive number starts from the newest."""
    return row_id(request.args.get("before")) or None


@bp.app_template_filter("highlight")
def highlight(text: str, words: tuple[str, ...], prefix: bool = False):
    return search_service.highlight(text, words, prefix)


@bp.get("/search")
def index():
    results = search_service.search(signed_in(), request.args.get("q", ""), _before())
    # A refused query is still a page that says why (422), never an error page.
    status = 422 if results.error else 200
    return render_screen("search/index.html", "search_results", status=status, results=results)
