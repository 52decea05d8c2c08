"""Sign in and out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from webapp.extensions import csrf, db
from webapp.models import User
from webapp.services import login_throttle, sso
from webapp.transactions import read_first
from webapp.web import embed
from webapp.web.embed import end_session, start_session
from webapp.web.errors import error_page

bp = Blueprint("auth", __name__)

# Hashed once so an unknown email costs as much as a wrong password (no user enumeration by timing).
_DUMMY = User(email="", name="", password_hash="")
_DUMMY.set_password("not-a-real-password")


def safe_next(target: str | None) -> str:
    """A redirect target inside this app; anything else becomes the inbox."""
    if not target:
        return url_for("inbox.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("inbox.index")
    # A backslash reads as a slash to browsers; a control character (which urlsplit drops) cannot
    # be in a Location header.
    if "\\" in target or any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return url_for("inbox.index")
    return target


def _login_page(
    error: str | None = None, email: str = "", errors: dict | None = None, **context
) -> str:
    """The login page: the password form unless PASSWORD_LOGIN is off, and the single sign-on
    link when an issuer is configured (it keeps `next`)."""
    config = current_app.config
    sso_url = None
    if sso.configured(config):
        sso_url = url_for("sso.start", next=request.args.get("next") or None)
    # Sent here because the session ended elsewhere (a password change, a logout): say so.
    ended = request.method == "GET" and request.args.get("ended") == "1"
    return render_template(
        "auth/login.html",
        error=error,
        errors=errors or {},
        session_ended=ended,
        email=email,
        password_login=config["PASSWORD_LOGIN"],
        sso_url=sso_url,
        framed=embed.framed(),
        **context,
    )


def _framed_login_check():
    """A login page framed by another site (a CRM) works only if the browser keeps an embedded
    session cookie there: a Lax one is never sent back, so the form would always fail as expired.
    The first visit asks for an embedded cookie and comes back once to see whether it stuck;
    if it did not, the page offers a new tab instead of a form that cannot work."""
    if embed.embedded_session():
        return None
    if request.args.get("framed") != "1":
        embed.mark_embedded()
        return redirect(url_for("auth.login", **{**request.args.to_dict(), "framed": "1"}))
    new_tab = url_for("auth.login", next=request.args.get("next") or None)
    return _login_page(cookie_refused=True, new_tab_url=new_tab)


@bp.route("/login", methods=["GET", "POST"])
@csrf.exempt  # checked below, once a password login turned off has been refused as such (403)
def login():
    # GET first: on a POST nothing may load the user before the reads below (no write lock yet).
    if request.method == "GET" and current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    if request.method == "POST" and not current_app.config["PASSWORD_LOGIN"]:
        detail = "Password sign-in is turned off here. Use Sign in with SSO on the login page."
        return error_page(403, "Password sign-in is off", detail)
    framed_get = request.method == "GET" and embed.framed_cross_site()
    # Either way in needs the session cookie to stick in the frame (the SSO link keeps its state there).
    if framed_get and (current_app.config["PASSWORD_LOGIN"] or sso.configured(current_app.config)):
        checked = _framed_login_check()
        if checked is not None:
            return checked
    if request.method == "POST":
        csrf.protect()
    error = None
    email = ""
    if request.method == "POST":
        email = (request.form.get("email") or "").strip().lower()
        password = request.form.get("password") or ""
        missing = {}
        if not email:
            missing["email"] = "Enter your email."
        if not password:
            missing["password"] = "Enter your password."
        if missing:  # nothing to check yet: not a failed login, so nothing counts towards throttling
            return _login_page(email=email, errors=missing), 422
        # Behind a reverse proxy, remote_addr is the client's only with PARLEY_TRUSTED_PROXIES set.
        ip = request.remote_addr or ""
        with read_first():  # no write lock held while the password is hashed
            throttled = login_throttle.check(email, ip)
            if throttled:  # refused before any password work
                page = _login_page(throttled.message, email)
                return page, 429, {"Retry-After": str(throttled.retry_after_seconds)}
            user = db.session.scalar(select(User).where(User.email == email)) if email else None
        with login_throttle.password_check_slot() as may_check:
            if not may_check:
                page = _login_page(login_throttle.BUSY_MESSAGE, email)
                return page, 429, {"Retry-After": str(login_throttle.BUSY_RETRY_AFTER_SECONDS)}
            # An unknown email costs the same hash as a known one: no enumeration by timing.
            # ...and so does one made at its first single sign-on, which has no password to check.
            checked = user if user is not None and user.has_password else _DUMMY
            password_ok = checked.check_password(password) and checked is user
        if password_ok and user.active:
            login_throttle.forget_failures(email)
            start_session(user, "password")
            db.session.commit()
            return redirect(safe_next(request.args.get("next")))
        error = "This account has been deactivated." if password_ok else "Email or password is incorrect."
        login_throttle.record_failure(email, ip)
    status = 401 if error else 200
    return _login_page(error, email), status


@bp.post("/logout")
def logout():
    end_session()
    db.session.commit()
    response = redirect(url_for("auth.login"))
    # What this browser kept for the user goes with the session: unsent drafts (workspace.js) and
    # cached pictures of contacts (a shared computer).
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response
