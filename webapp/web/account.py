"""The signed-in user's own page: who they are, their password, their sessions elsewhere."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from webapp.extensions import db
from webapp.services import account, directory, sessions
from webapp.transactions import discard_writes
from webapp.web import plain_user, signed_in
from webapp.web.errors import error_page

bp = Blueprint("account", __name__)

NO_PASSWORD_TEXT = (
    "You sign in through your institution's single sign-on and have no Parley password. "
    "An administrator can set one if you need to log in with a password."
)


def _page(
    status: int = 200, password_errors: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> tuple[str, int, dict[str, str]]:
    user = signed_in()
    return (
        render_template(
            "account/index.html",
            offices=account.offices_of(user.id),
            password_errors=password_errors or {},
            has_password=account.has_password(user.id),
            no_password_text=NO_PASSWORD_TEXT,
            min_password_length=directory.MIN_PASSWORD_LENGTH,
        ),
        status,
        headers or {},
    )


@bp.get("/account")
def index():
    return _page()


@bp.post("/account/password")
def change_password():
    if not current_app.config["PASSWORD_LOGIN"]:
        return error_page(
            403, "Password sign-in is off", "You sign in with single sign-on; there is no password to change."
        )
    if not signed_in().has_password:
        return error_page(403, "No password to change", NO_PASSWORD_TEXT)
    try:
        account.change_password(
            signed_in(),
            request.form.get("current_password", ""),
            request.form.get("new_password", ""),
            keep_token=sessions.current_token(),
            # Behind a reverse proxy, remote_addr is the client's only with PARLEY_TRUSTED_PROXIES set.
            ip=request.remote_addr or "",
        )
    except account.PasswordRefused as refused:
        discard_writes()
        return _page(422, refused.errors)
    except account.TooManyChecks as refused:
        discard_writes()
        retry_after = {"Retry-After": str(refused.retry_after_seconds)}
        return _page(429, {"current_password": refused.message}, retry_after)
    db.session.commit()
    flash("Password changed. You stay signed in here; every other session has been signed out.")
    return redirect(url_for("account.index"), 303)


@bp.post("/account/sign-out-everywhere")
@plain_user
def sign_out_everywhere() -> Response:
    sessions.end_others(current_user.id, keep_token=sessions.current_token())
    db.session.commit()
    flash("Signed out everywhere else. This session stays signed in.")
    return redirect(url_for("account.index"), 303)
