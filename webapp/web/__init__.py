"""Blueprints, and what every response shares: the login guard, security headers, error pages."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, make_response, redirect, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from jinja2.utils import urlize
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter, Map, RequestRedirect

from webapp.extensions import db, login_manager
from webapp.models import SignedInUser, User
from webapp.queue import QueueUnavailable
from webapp.services import sessions
from webapp.services.dbutil import MAX_ROW_ID
from webapp.services.phones import format_phone
from webapp.transactions import View, out_of_reach, read_first, request_only_reads
from webapp.web.errors import error_page
from webapp.web.rendering import DedentHtml

# Endpoints anyone may reach; every other route needs a signed-in user.
# (media.public: a picture's signed, expiring link, which the provider fetches without a session.)
PUBLIC_ENDPOINTS = {
    "auth.login", "sso.start", "sso.callback", "static", "health.healthz", "health.readyz", "media.public",
}  # fmt: skip
# The API authenticates every request by its key (webapp.web.api), never by the session.
PUBLIC_PREFIXES = ("webhooks.", "embed.", "api.")


class RowIdConverter(IntegerConverter):
    """`<int:…>` in Parley's routes: a row's id. A larger number names no row (404), where the
    database refused it with a 500; `<int(max=…):…>` may still say otherwise."""

    def __init__(self, map: Map, *args: Any, max: int = MAX_ROW_ID, **kwargs: Any) -> None:
        super().__init__(map, *args, max=max, **kwargs)


def register(app: Flask) -> None:
    app.url_map.converters["int"] = RowIdConverter  # before any route is added
    from webapp.web import (
        account,
        admin,
        auth,
        compose,
        contacts,
        conversations,
        embed,
        health,
        home,
        inbox,
        knowledge_base,
        media,
        optouts_admin,
        reports,
        search,
        sso,
        webhooks,
        workspace,
    )

    blueprints = (
        account, admin, auth, compose, contacts, conversations, health, home, inbox, knowledge_base,
        media, optouts_admin, reports, search, sso, webhooks,
        workspace,
    )  # fmt: skip
    for module in blueprints:
        app.register_blueprint(module.bp)
    _register_embedding(app, embed)
    from webapp.web import fragments, static_assets, ui

    static_assets.register(app)
    ui.register(app)
    fragments.register(app)
    from webapp.web import api

    api.init_app(app)

    app.before_request(_require_login)
    app.after_request(_security_headers)
    app.jinja_env.add_extension(DedentHtml)
    app.jinja_env.filters["phone"] = format_phone
    app.jinja_env.filters["time_tag"] = time_tag
    app.jinja_env.filters["tab_count"] = format_tab_count
    app.jinja_env.filters["message_links"] = message_links
    app.jinja_env.globals["htmx_version"] = "2.0.11"

    @app.errorhandler(403)
    def forbidden(error):
        return _error_page(403, "You don't have access to this", getattr(error, "description", ""))

    @app.errorhandler(404)
    def not_found(error):
        return _error_page(404, "Not found", "There is nothing here, or it is not visible to you.")

    @app.errorhandler(405)
    def method_not_allowed(error):
        response = make_response(
            _error_page(405, "Not allowed", "That action is not available here.")
        )
        if getattr(error, "valid_methods", None):
            response.headers["Allow"] = ", ".join(error.valid_methods)  # as RFC 9110 asks
        return response

    @app.errorhandler(CSRFError)
    def csrf_failed(error):
        if embed.framed() and not embed.embedded_session():
            # Inside another site's frame without an embedded cookie: a reload cannot help.
            detail = (
                "Parley is open inside another site, and your browser did not keep its sign-in"
                " there, so nothing was changed. Reopen Parley from your CRM, or open Parley in"
                " a new tab."
            )
            new_tab = url_for("auth.login")
            return error_page(400, "This form cannot be sent from here", detail, new_tab)
        return _error_page(
            400, "This form has expired", "Reload the page and try again; nothing was changed."
        )

    @app.errorhandler(QueueUnavailable)
    def queue_unavailable(error):
        db.session.rollback()
        # A retry will work once the queue is back: 503 says so, like a database out of reach.
        detail = "Parley's background queue could not be reached, so the work was not started."
        response = make_response(_error_page(503, "Try again in a moment", detail))
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(500)
    def server_error(error):
        db.session.rollback()
        if database_unavailable(getattr(error, "original_exception", None)):
            # A retry will work: 503 says so to browsers, load balancers and providers alike.
            detail = "The database could not be reached; nothing was changed."
            response = make_response(_error_page(503, "Try again in a moment", detail))
            response.headers["Retry-After"] = "1"
            return response
        return _error_page(500, "Something went wrong", "Nothing was lost; please try again.")


def database_unavailable(error: BaseException | None) -> bool:
    """A request that failed only because the database was out of reach for a moment: no
    connection could be made (a restart, a failover), one was lost (the pool replaces it) or
    SQLite's write lock stayed taken past the busy timeout. Its transaction was rolled back."""
    if not isinstance(error, DBAPIError):
        return False
    return out_of_reach(error) or "database is locked" in str(error.orig)


def format_tab_count(count: int) -> str:
    """Tab counts stop at inbox.COUNT_CAP: "99+" says there are at least that many."""
    from webapp.services.inbox import COUNT_CAP

    return f"{COUNT_CAP - 1}+" if count >= COUNT_CAP else str(count)


def format_when(moment: datetime | None) -> str:
    """The moment in UTC, e.g. "Mar 5, 9:07 UTC": a server-side fallback; static/js/app.js shows it
    in the reader's own time zone."""
    if moment is None:
        return ""
    moment = moment.astimezone(UTC)
    # Day and hour without a leading zero; strftime's "%-d" and "%-H" are not portable.
    return moment.strftime(f"%b {moment.day}, {moment.hour}:%M UTC")


# Jinja's urlize takes a scheme written in capitals ("Https://", as phones capitalise a text's first
# word) for a bare domain and puts "https://" before it: that href could never load.
_DOUBLED_SCHEME = re.compile(r'href="https://(https?://)', re.IGNORECASE)


def message_links(text: str) -> Markup:
    """A message's text, escaped, with its web addresses as links opened in a new tab."""
    linked = urlize(text, target="_blank", rel="noopener noreferrer nofollow")
    return Markup(_DOUBLED_SCHEME.sub(r'href="\1', linked))


def time_tag(moment: datetime | None, css_class: str = "") -> Markup:
    """`<time datetime="…">Mar 5, 9:07 UTC</time>`, the element static/js/app.js localises."""
    if moment is None:
        return Markup("")
    attributes = f' class="{escape(css_class)}"' if css_class else ""
    # Both texts of a moment are digits, letters, spaces and ":-.": nothing in them to escape. In
    # UTC with a Z: the shortest form, and a full inbox page has one per row.
    stamp = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Markup(f'<time{attributes} datetime="{stamp}">{format_when(moment)}</time>')


# Built once: every signed-in request loads its user, only while its session is live (one
# statement: the user and the session's row together).
ACTIVE_USER = select(User).where(sessions.SIGNED_IN)
ACTIVE_USER_ROW = select(*sessions.SIGNED_IN_USER_COLUMNS).where(sessions.SIGNED_IN)


def signed_in() -> User | SignedInUser:
    """The signed-in user itself, to hand to services: `current_user` is a proxy that looks the
    user up again on every attribute read."""
    return current_user._get_current_object()


def plain_user(view: View) -> View:
    """Mark a view that writes but uses the signed-in user by its columns alone (id, name, role),
    never linking it to other rows: it gets a `SignedInUser`, as a read-only request does, without
    loading the ORM `User`."""
    view.plain_user = True  # type: ignore[attr-defined]
    return view


def _read_signed_in_user(params: dict) -> SignedInUser | None:
    row = db.session.execute(ACTIVE_USER_ROW, params).first()
    return SignedInUser(*row) if row else None


def user_read_with(reader: Callable[..., SignedInUser | None]) -> Callable[[View], View]:
    """Mark a view whose user, in a request that only reads, `reader` loads together with what
    the view reads next (a poll's version): one statement where there were two. `reader` gets
    ACTIVE_USER_ROW's parameters, then the URL's as keywords (`conversation_id=`), and returns
    None when ACTIVE_USER_ROW would find no row. What it read besides the user waits in `g` for
    the view (see webapp/services/poll_versions.py)."""

    def mark(view: View) -> View:
        view.user_reader = reader  # type: ignore[attr-defined]
        return view

    return mark


@login_manager.user_loader
def load_user(user_id: str) -> User | SignedInUser | None:
    # Nobody is signed in by an id that is not a number, or by a cookie from before sessions had
    # tokens.
    params = sessions.live_session_params(int(user_id)) if user_id.isdecimal() else None
    if params is None:
        return None
    view = current_app.view_functions.get(request.endpoint or "")
    if request_only_reads():
        reader = getattr(view, "user_reader", None)
        if reader is not None:
            return reader(params, **(request.view_args or {}))
        return _read_signed_in_user(params)
    if getattr(view, "plain_user", False):
        return _read_signed_in_user(params)
    return db.session.scalar(ACTIVE_USER, params)


def _page_of(url: str | None) -> str:
    """The page `url` names (htmx's HX-Current-URL, a form's Referer), as a path (and query)
    inside the app; else the inbox."""
    fallback = url_for("inbox.index")
    try:
        parts = urlsplit(url or "")
    except ValueError:
        return fallback
    hosts = {request.host, urlsplit(current_app.config["PUBLIC_BASE_URL"]).netloc}
    root = request.script_root
    if parts.netloc not in hosts or not parts.path.startswith(root + "/"):
        return fallback
    path = parts.path[len(root) :]
    if path.startswith("//") or "\\" in path or not _a_page(path):
        return fallback
    return path + (f"?{parts.query}" if parts.query else "")


def _a_page(path: str) -> bool:
    """Whether a GET of `path` is answered: a refused form is shown at its action's address, which
    may take POSTs alone (a 405 after logging in)."""
    try:
        current_app.url_map.bind_to_environ(request.environ).match(path, method="GET")
    except RequestRedirect:  # "/admin" for "/admin/"
        return True
    except HTTPException:
        return False
    return True


@login_manager.unauthorized_handler
def unauthorized() -> Response:
    htmx = bool(request.headers.get("HX-Request"))
    # Where to come back to after logging in: a page asked for, else the page the request came
    # from (an htmx fragment or a form's action is no page, and a GET of the action is a 405).
    if htmx:
        target = _page_of(request.headers.get("HX-Current-URL"))
    elif request.method in ("GET", "HEAD"):
        target = request.full_path.rstrip("?")
    else:
        target = _page_of(request.referrer)
    # The cookie still holds a session token: that session ended (logout clears the token).
    ended = "1" if sessions.current_token() is not None else None
    login_url = url_for("auth.login", next=target, ended=ended)
    if htmx:
        # htmx follows redirects inside the page; ask it to load the login page instead.
        return Response(status=401, headers={"HX-Redirect": login_url})
    return redirect(login_url)


def _require_login():
    endpoint = request.endpoint or ""
    if endpoint in PUBLIC_ENDPOINTS or endpoint.startswith(PUBLIC_PREFIXES):
        return None
    if not endpoint and request.path.startswith(("/api/", "/webhooks/")):
        # No such operation (a 404, or a 405 for a provider set up to GET): never signed in, these
        # are answered as such, not sent to the login page (a provider following it loses a text).
        return None
    with read_first():
        signed_in = current_user.is_authenticated
    if not signed_in:
        return unauthorized()
    return None


def _register_embedding(app: Flask, embed) -> None:
    """Embedding in a CRM: the launch blueprint, embedded-aware session cookies, framing origins."""
    from webapp.config import frame_origins

    app.register_blueprint(embed.bp)
    app.session_interface = embed.EmbedAwareSessionInterface()
    app.jinja_env.globals["embedded_session"] = embed.embedded_session
    # Checked once at start-up: an entry that is not an origin could inject a CSP directive.
    app.config["EMBED_ALLOWED_ORIGINS"] = frame_origins(app.config.get("EMBED_ALLOWED_ORIGINS", []))


def _security_headers(response: Response) -> Response:
    # One pass over the response's headers, not one scan per `setdefault`.
    present = {key.lower() for key, _value in response.headers.items()}
    if "x-frame-options" in present:
        # frame-ancestors is the framing policy; X-Frame-Options cannot list origins and would
        # contradict it, so it is never sent.
        del response.headers["X-Frame-Options"]
    defaults = _default_headers(tuple(current_app.config.get("EMBED_ALLOWED_ORIGINS", [])))
    for name, value in defaults:
        if name.lower() not in present:
            response.headers.add(name, value)
    if request.is_secure and "strict-transport-security" not in present:
        response.headers.add("Strict-Transport-Security", "max-age=31536000")
    if request.endpoint != "static" and "cache-control" not in present:
        response.headers.add("Cache-Control", "no-store")
    return response


@lru_cache(maxsize=8)
def _default_headers(frame_origins: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """The headers every response gets unless its view set them. Only the app itself and the
    configured CRM origins may frame it."""
    ancestors = " ".join(["'self'", *frame_origins])
    return (
        (
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
            f"frame-ancestors {ancestors}",
        ),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
    )


def _error_page(status: int, title: str, detail: str) -> Response | tuple[str, int, dict[str, str]]:
    return error_page(status, title, detail)
