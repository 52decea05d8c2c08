"""Bounded requests: a body over PARLEY_MAX_REQUEST_BYTES is refused with 413 before it is read.

The check runs before every other request hook, Flask-WTF's CSRF check included (it reads the
form): a declared Content-Length over the limit is refused at once, and a body that arrives
without one (chunked) as soon as reading it passes the limit. A view that takes files (the
contact-list upload, a picture) says how big with `@body_limit`; only a file upload (a multipart
form) of a live signed-in session gets that larger limit, so nobody can make the server parse it
unsigned, and any other body keeps the app's limit.

Then a request with a NUL character in its path or in a form or query value is refused with 400:
PostgreSQL cannot store or even compare one, and no person types one. A path with a NUL (`%00`)
gets 400 rather than 404: it is a malformed address that names nothing, and 404 would hide why.
A provider's webhook is not refused for one in its form (a text would be lost, its retries too):
the webhook drops NULs once it has checked the signature.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from webapp.services import sessions
from webapp.transactions import View
from webapp.web.errors import error_page

MIB = 1024 * 1024


def body_limit(max_bytes: int, message: str) -> Callable[[View], View]:
    """Mark a view that accepts bodies up to `max_bytes` (not the app's limit); `message` says
    what to do when a body is bigger."""

    def mark(view: View) -> View:
        view.body_limit = (max_bytes, message)  # type: ignore[attr-defined]
        return view

    return mark


def init_app(app: Flask) -> None:
    """Register before any other request hook, so that no hook reads a body first."""
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_REQUEST_BYTES"]
    # One limit for forms too: a url-encoded form is otherwise refused past Flask's own 500 kB.
    app.config["MAX_FORM_MEMORY_SIZE"] = app.config["MAX_REQUEST_BYTES"]
    app.before_request(refuse_oversized_body)
    app.before_request(refuse_nul_characters)  # after the size check: it reads the form
    app.register_error_handler(RequestEntityTooLarge, too_large)


def _upload_limit() -> tuple[int, str] | None:
    """The view's own limit, when it applies: to a file upload of a signed-in session."""
    view = current_app.view_functions.get(request.endpoint or "")
    custom = getattr(view, "body_limit", None)
    uploading = request.mimetype == "multipart/form-data"
    # A live session, not a cookie's token alone: a copy of the cookie kept after its session
    # ended (signed out, deactivated) is nobody's. The view still checks who may upload.
    if custom is not None and uploading and sessions.current_is_live():
        return custom
    return None


def _limit() -> tuple[int, str]:
    return _upload_limit() or _app_limit()


def _app_limit() -> tuple[int, str]:
    limit = current_app.config["MAX_REQUEST_BYTES"]
    return limit, (
        f"Parley accepts at most {describe_size(limit)} in one request. "
        "Nothing was saved; send less at once."
    )


# Werkzeug's multipart parser holds each piece it reads (64 KiB) against the form memory limit,
# file data included: an upload with a larger limit of its own needs at least that much room,
# whatever the app's limit. Werkzeug's own default, ample for a form field.
UPLOAD_FORM_MEMORY_BYTES = 500_000


def refuse_oversized_body() -> None:
    own = _upload_limit()
    if own is not None:
        memory = max(current_app.config["MAX_FORM_MEMORY_SIZE"], UPLOAD_FORM_MEMORY_BYTES)
        request.max_form_memory_size = memory
    limit, _message = own or _app_limit()
    if request.content_length is not None:
        request.max_content_length = limit
        if request.content_length > limit:
            raise RequestEntityTooLarge()
        return
    # Sent without Content-Length (chunked). Werkzeug's multipart parser raises 413 when it reads
    # past `max_content_length`, but reading a whole body (a url-encoded form, JSON) stops at it
    # without a word, so such a body is read here with one byte more allowed: a byte past the
    # limit is a 413, not a body cut short and taken as if whole.
    request.max_content_length = limit
    if "Transfer-Encoding" in request.headers and request.mimetype != "multipart/form-data":
        request.max_content_length = limit + 1
        if len(request.get_data(cache=True)) > limit:
            raise RequestEntityTooLarge()


NUL_MESSAGE = "The request contains a NUL character, which Parley does not accept."
NUL_IN_PATH_MESSAGE = (
    "The address contains a NUL character (%00), which Parley does not accept. "
    "Nothing was changed; check the link."
)


def refuse_nul_characters() -> Response | tuple[str, int, dict[str, str]] | None:
    # Runs for every route, unmatched ones too: a path segment (a phone, a token) reaches queries.
    if "\x00" in request.path:
        return error_page(400, "Request not accepted", NUL_IN_PATH_MESSAGE)
    if request.blueprint == "webhooks":
        return None  # a provider's text is kept: its NULs are dropped once its signature is checked
    for values in (request.args, request.form):
        for key, value in values.items(multi=True):
            if "\x00" in key or "\x00" in value:
                return error_page(400, "Request not accepted", NUL_MESSAGE + " Nothing was changed.")
    return None


def too_large(_error: RequestEntityTooLarge) -> Response | tuple[str, int, dict[str, str]]:
    _limit_bytes, message = _limit()
    return error_page(413, "Request too large", message)


def describe_size(size: int) -> str:
    """The limit as people read it, never rounded: 1 MB, 512 KB, or else its bytes (2,000 bytes):
    a rounded figure would let someone size a body to it and still be refused."""
    if size and size % MIB == 0:
        return f"{size // MIB} MB"
    if size and size % 1024 == 0:
        return f"{size // 1024} KB"
    return f"{size:,} byte{'' if size == 1 else 's'}"
