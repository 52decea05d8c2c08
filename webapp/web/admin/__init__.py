"""The admin console (/admin/): offices, users, reusable numbers, campaign records, audit log.

Only Texting - Administrative users get in (checked here, on the server, for every route), and they
see only their own offices: everything else answers 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn, TypeVar

from flask import Blueprint, Response, abort, flash, make_response, request
from flask_login import current_user

from webapp.extensions import db
from webapp.services.admin import Forbidden, NotFound, read_ids
from webapp.services.dbutil import row_id
from webapp.transactions import discard_writes
from webapp.web.errors import error_page
from webapp.web.rendering import redirect_to, render_screen

bp = Blueprint("admin", __name__, url_prefix="/admin")

T = TypeVar("T")


@bp.before_request
def require_admin():
    if not current_user.is_authenticated:
        from webapp.web import unauthorized

        return unauthorized()
    if not current_user.is_admin:
        abort(403, "The admin console is for Texting - Administrative users only.")
    return None


def owned(lookup: Callable[..., T], *args: object) -> T:
    """An object of the admin's offices, or 404."""
    try:
        return lookup(current_user, *args)
    except NotFound:
        abort(404)


def forbidden(exc: Forbidden) -> NoReturn:
    """A change the admin may not make: drop anything half-made, answer 403 with the reason."""
    discard_writes()
    abort(403, str(exc))


def form_ids(name: str) -> list[str]:
    """A form's chosen ids as sent: the service reads them and refuses any that names no row."""
    return request.form.getlist(name)


def checked_ids(values: list[str]) -> set[int]:
    """The chosen ids a form shows checked again when it comes back with errors."""
    return read_ids(values)[0]


def form_id(name: str) -> int | None:
    return row_id(request.form.get(name))


def form_choice(name: str, choices: tuple[str, ...]) -> str:
    """The form's `name`, one of `choices` (what Parley's own form sends); anything else, missing
    included, is refused with 400 and nothing changes: never taken for the most drastic choice."""
    value = request.form.get(name, "")
    if value not in choices:
        discard_writes()
        detail = f"The form's {name} must be one of: {', '.join(choices)}. Nothing was changed."
        abort(make_response(error_page(400, "Request not understood", detail)))
    return value


def rejected() -> int:
    """After bad input: drop any half-made change. Returns the status for the form with errors:
    200 for htmx (it swaps only 2xx answers), 422 for a plain form post."""
    discard_writes()
    return 200 if request.headers.get("HX-Request") else 422


def conflicted() -> int:
    """After a change that no longer applies: drop any half-made change. Returns the status for
    the page that says why: 200 for htmx (it swaps only 2xx answers), 409 for a plain form post."""
    discard_writes()
    return 200 if request.headers.get("HX-Request") else 409


def unavailable() -> int:
    """After work that could not be started (the queue is down): drop any half-made change.
    Returns the status for the page that says so: 200 for htmx (it swaps only 2xx answers), 503
    for a plain form post (see retry_later)."""
    discard_writes()
    return 200 if request.headers.get("HX-Request") else 503


def retry_later(response: Response) -> Response:
    """A 503 says when trying again may work, as the app's other 503s do."""
    if response.status_code == 503:
        response.headers["Retry-After"] = "5"
    return response


def invalid(template: str, block: str, **context: object) -> Response:
    """A form with errors: the fragment for htmx, the whole page otherwise."""
    return render_screen(template, block, status=rejected(), **context)


def done(message: str, url: str) -> Response:
    """After a change: commit, say what happened on the next page, go there."""
    db.session.commit()
    flash(message)
    return redirect_to(url)


from webapp.web.admin import (  # noqa: E402, F401
    api_keys,
    audit,
    campaigns,
    compliance,
    home,
    numbers,
    offices,
    saved_replies,
    users,
    webhooks,
)
