"""Contact lookup: a phone's name, opt-out status and visible conversations."""

from __future__ import annotations

from flask import Blueprint, request
from flask_login import current_user

from webapp.services import contacts
from webapp.services.phones import PhoneError, parse_any_phone
from webapp.web.rendering import render_screen

bp = Blueprint("contacts", __name__)


@bp.get("/contacts/lookup")
def lookup():  # noqa: ANN201
    query = (request.args.get("phone") or "").strip()[:40]
    result = error = None
    if query:
        try:
            result = contacts.lookup(current_user, parse_any_phone(query))
        except PhoneError as exc:
            error = str(exc)
    return render_screen(
        "contacts/lookup.html", "lookup_results", query=query, result=result, error=error
    )
