"""Conditional polls: a poll whose tag the client already holds gets a bodiless 304.

The tag (a weak ETag: the markup differs in its CSRF tokens' signatures, not in meaning) comes
from `webapp.services.poll_versions`; a thread that will read differently at a known time
("sending is delayed") carries that time, and the tag stops matching then. static/js/app.js
remembers each poll's tag and sends it back in If-None-Match.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime

from flask import Response, current_app, request, url_for
from werkzeug.http import quote_etag

from webapp.models import SignedInUser
from webapp.services import poll_versions, sessions

# Revalidated every time, kept by the browser only (never by a shared cache): the answer is one
# user's, and is only ever reused after the server said 304.
CACHE_CONTROL = "no-cache, private"
VARY = ("HX-Request", "Cookie")


def _markup_version() -> str:
    """What the fragments' markup depends on besides the data: the templates (all of them: the
    fragments include rows, macros and partials from several) and the settings. The same on
    every server running the same code, so a tag from one is good at another; a deploy that
    changes any template makes every held tag stale once."""
    version = current_app.extensions.get("parley.poll_markup")
    if version is None:
        env = current_app.jinja_env
        digest = hashlib.sha256()
        for name in sorted(env.list_templates()):
            digest.update(f"{name}\0{env.loader.get_source(env, name)[0]}\0".encode())
        settings = (current_app.config["INBOX_POLL_SECONDS"], current_app.config["INBOX_PAGE_SIZE"])
        digest.update(repr(settings).encode())
        version = digest.hexdigest()
        current_app.extensions["parley.poll_markup"] = version
    return version


def context(url: str) -> str:
    """Everything a poll's answer depends on besides the database: the markup, the signed-in
    session (its forms carry the session's CSRF token) and the poll's URL (as its own request
    asks it, whichever request checks it)."""
    return f"{_markup_version()}|{sessions.current_token() or ''}|{url}"


def conversation_context(conversation_id: int) -> str:
    """The context of an open conversation's refresh, the same whether its own poll asks or the
    inbox's poll asks on its behalf: tags from either hold at both."""
    return context(url_for("conversations.live", conversation_id=conversation_id))


def conversation_tag(user: SignedInUser, conversation_id: int) -> str | None:
    """The tag the conversation's refresh would answer now (None when the user may not see it),
    read apart from that refresh: for the conversation's pane, which carries it."""
    context = conversation_context(conversation_id)
    return poll_versions.conversation_version_now(user, conversation_id, context)


def held_tag(tag: str) -> str | None:
    """The request's If-None-Match entry that is still `tag`, or None: the client must get the
    content. An entry with a time (`tag-1700000000`) matches only until then."""
    for held in request.if_none_match.as_set(include_weak=True):
        digest, _, until = held.partition("-")
        if digest != tag:
            continue
        a_time = until.isascii() and until.isdigit() and len(until) <= 12  # int() reads 4,300 digits at most
        if not until or (a_time and time.time() < int(until)):
            return held
    return None


def _cache_headers(response: Response, etag: str) -> Response:
    response.set_etag(etag, weak=True)
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.vary.update(VARY)
    return response


def not_modified(held: str) -> Response:
    """304: what the client shows is current. No body, the same validators."""
    return _cache_headers(Response(status=304), held)


def _until(tag: str, until: datetime | None) -> str:
    return f"{tag}-{int(until.timestamp())}" if until is not None else tag


def tagged(response: Response, tag: str, until: datetime | None = None) -> Response:
    """A poll's fresh answer with its tag (and the time it stops holding, if any)."""
    return _cache_headers(response, _until(tag, until))


def etag(tag: str, until: datetime | None = None) -> str:
    """The ETag `tagged` would send, for markup that carries it (the open conversation does)."""
    return quote_etag(_until(tag, until), weak=True)
