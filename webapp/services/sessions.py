"""Signed-in sessions kept on the server, so that they can be ended for good.

The session cookie is signed but lives in the browser: a copy of it would sign its holder in for as
long as the cookie is valid. So every signed-in session also carries a random token whose SHA-256
is a `UserSession` row, and a request is signed in only while that row exists and is younger than
PERMANENT_SESSION_LIFETIME (the user loader in webapp/web/__init__.py checks it in the same
statement that loads the user). Ending a session
deletes its row; the caller commits, with the change that ended it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import fields
from datetime import datetime

from flask import current_app, session
from sqlalchemy import and_, bindparam, delete, exists, select

from webapp.extensions import db
from webapp.models import SignedInUser, User, UserSession, utcnow

TOKEN_KEY = "_session_token"  # the Flask session's key for this session's token


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# For the user loader: this request's session is still live for the user being loaded. Its
# parameters are `token_hash`, the hash of the Flask session's token, and `started_after`,
# `oldest_live()`.
_sessions = UserSession.__table__.c
_LIVE_TOKEN = and_(
    _sessions.token_hash == bindparam("token_hash"), _sessions.created_at > bindparam("started_after")
)
LIVE_SESSION = exists().where(_LIVE_TOKEN, _sessions.user_id == User.__table__.c.id)

# For the user loader: the user `id`, active, with this session live (LIVE_SESSION's parameters).
SIGNED_IN = and_(User.__table__.c.id == bindparam("id"), User.__table__.c.active.is_(True), LIVE_SESSION)
# The signed-in user's columns, as a request that only reads loads them (`SignedInUser`).
SIGNED_IN_USER_COLUMNS = tuple(User.__table__.c[f.name] for f in fields(SignedInUser))

# Expired rows deleted per session started: bounded work per login, yet more than one, so the
# table shrinks back after a busy month.
PRUNE_BATCH = 50


def oldest_live() -> datetime:
    """Sessions started before this no longer sign anyone in: as long as Flask's signed cookie
    stays valid (PERMANENT_SESSION_LIFETIME), and not a moment longer."""
    return utcnow() - current_app.permanent_session_lifetime


def current_token() -> str | None:
    """This request's session token, or None (not signed in, or a cookie from before tokens)."""
    token = session.get(TOKEN_KEY)
    return token if isinstance(token, str) and token else None


# This request's session is live, whoever's it is (LIVE_SESSION's parameters).
IS_LIVE = select(exists().where(_LIVE_TOKEN))


def current_is_live() -> bool:
    """Is this request's session live (signed in, not ended)? Read on a connection of its own:
    asked before a request's body is read, it starts no transaction that would stay open while
    the body arrives."""
    token = current_token()
    if token is None:
        return False
    params = {"token_hash": token_hash(token), "started_after": oldest_live()}
    with db.engine.connect() as connection:
        return bool(connection.scalar(IS_LIVE, params))


def live_session_params(user_id: int) -> dict | None:
    """The bound values of a statement that loads user `user_id` with `LIVE_SESSION` (the id as
    `id`), or None when this request's session has no token."""
    token = current_token()
    if token is None:
        return None
    return {"id": user_id, "token_hash": token_hash(token), "started_after": oldest_live()}


def start(user: User, method: str) -> str:
    """Record a new session for `user` ("password", "embed" or "sso") and put its token in the
    Flask session. Call it right after `login_user`."""
    expired = (
        select(UserSession.token_hash)
        .where(UserSession.created_at <= oldest_live())
        .limit(PRUNE_BATCH)
        .scalar_subquery()
    )
    db.session.execute(delete(UserSession).where(UserSession.token_hash.in_(expired)))
    token = secrets.token_urlsafe(32)
    started = utcnow()
    db.session.add(
        UserSession(token_hash=token_hash(token), user_id=user.id, method=method, created_at=started)
    )
    user.last_sign_in_at = started
    user.last_sign_in_method = method
    session[TOKEN_KEY] = token
    return token


def end_current() -> None:
    """End this request's session: a copy of its cookie no longer signs anyone in."""
    token = session.pop(TOKEN_KEY, None)
    if isinstance(token, str) and token:
        db.session.execute(delete(UserSession).where(UserSession.token_hash == token_hash(token)))


def end_others(user_id: int, keep_token: str | None = None) -> None:
    """End every session of the user except the one whose token is `keep_token`."""
    statement = delete(UserSession).where(UserSession.user_id == user_id)
    if keep_token:
        statement = statement.where(UserSession.token_hash != token_hash(keep_token))
    db.session.execute(statement)


def end_all(user_id: int) -> None:
    """End every session of the user, in every browser."""
    end_others(user_id)
