"""Parley inside a CRM: the launch, the cookie check with its new-tab fallback, embedded cookies.

`launch` checks the token completely (services/embedding.py), uses up its jti, starts a session and
redirects to the token's `next` (SPEC 8). What kind of session depends on where the browser says the
launch is loading (`Sec-Fetch-Dest`, sent by every current browser):

- `iframe`: the CRM frames Parley. The session is *embedded* (cookie `SameSite=None; Secure;
  Partitioned`), and the redirect goes through `check` first: the first request that shows whether
  the browser kept the cookie (in a third-party frame it may refuse it). Cookie back: on to `next`.
  Cookie missing: a page says so and offers "Open Parley in a new tab".
- `document`: a top-level tab (e.g. the new-tab fallback). A plain first-party session with the
  strict defaults (SameSite=Lax), straight to `next`.
- not sent (older browsers, scripts): embedded cookie, straight to `next`; should the cookie be
  refused, the login page inside the frame offers a new tab (templates/auth/login.html). On a
  server reached over plain HTTP (PUBLIC_BASE_URL) a first-party cookie instead: the embedded one
  must be Secure, and a script there, or a browser on a host other than localhost, would never
  send it back.

Why a *handoff* token for the fallback: the CRM's token is single use and already spent by the
launch, and without the cookie nothing ties the browser to the user, so the new tab needs its own
way in. The handoff is a launch token like the CRM's (HS256, EMBED_SECRET, single-use jti, 2-minute
lifetime, same `next`), minted by Parley only after a launch succeeded and carried only in the check
URL. It is burnt as soon as the check sees the cookie, so it stays usable only where the cookie
failed, and the session it starts in the new tab is a plain first-party one.
"""

from __future__ import annotations

from contextvars import ContextVar

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from flask_login import current_user, login_user, logout_user

from webapp.extensions import db
from webapp.models import User
from webapp.services import embedding, sessions
from webapp.transactions import discard_writes, writes

bp = Blueprint("embed", __name__)

EMBEDDED = "embedded"  # session key: this session lives in a CRM's iframe


@bp.get("/embed/launch")
@writes
def launch():
    secret = current_app.config.get("EMBED_SECRET", "")
    try:
        _check_framing_origin()
        result = embedding.verify_launch(request.args.get("token"), secret)
        db.session.commit()
    except embedding.LaunchRefused as refusal:
        discard_writes()
        end_session()
        db.session.commit()
        current_app.logger.warning("Embedded launch refused: %s", refusal.message)
        return render_template("embed/refused.html", reason=refusal.message), 403

    # A launch names the user afresh; nothing of an earlier session carries over.
    start_session(result.user, "embed", in_frame=False)  # where it loads decides, below
    db.session.commit()
    destination = request.headers.get("Sec-Fetch-Dest", "")
    # Served over plain HTTP, a Secure cookie would never come back (and browsers send no
    # Sec-Fetch-Dest to such a host but localhost): a first-party cookie then.
    plain_http = not destination and not current_app.config["SESSION_COOKIE_SECURE"]
    if result.handoff or destination == "document" or plain_http:  # first-party cookie
        return redirect(result.next_path)
    session[EMBEDDED] = True
    if destination in ("iframe", "frame"):
        handoff = embedding.mint_handoff(secret, result.user, result.next_path)
        return redirect(url_for("embed.check", next=result.next_path, handoff=handoff))
    return redirect(result.next_path)


@bp.get("/embed/check")
@writes
def check():
    """Did the session cookie come back? Go on to `next`, or offer the new-tab fallback."""
    try:
        next_path = embedding.safe_next_path(request.args.get("next"))
    except embedding.LaunchRefused:
        next_path = embedding.DEFAULT_NEXT
    token = request.args.get("handoff", "")
    handoff = embedding.read_handoff(token, current_app.config.get("EMBED_SECRET", ""))
    signed_in = current_user.is_authenticated and session.get(EMBEDDED)
    if signed_in and (handoff is None or handoff[2] == current_user.email):
        if handoff is not None:
            jti, expires_at, _email = handoff
            embedding.use_up(jti, expires_at)  # not needed: the cookie works
            db.session.commit()
        return redirect(next_path)
    new_tab_url = url_for("embed.launch", token=token) if handoff is not None else None
    return render_template("embed/cookies_blocked.html", new_tab_url=new_tab_url)


def _check_framing_origin() -> None:
    """A launch in a frame of a page whose origin the browser names (Referer) and that may not
    frame Parley is refused before its token is spent: the browser would not show Parley there
    (frame-ancestors), and the refusal's log line tells the administrator which origin to allow."""
    if request.headers.get("Sec-Fetch-Dest", "") not in ("iframe", "frame"):
        return
    framer = embedding.origin_of(request.referrer)
    own = embedding.origin_of(current_app.config["PUBLIC_BASE_URL"]) or ""
    allowed = current_app.config["EMBED_ALLOWED_ORIGINS"]
    if framer is not None and not embedding.may_frame(framer, allowed, own):
        raise embedding.LaunchRefused(
            f"{framer} may not show Parley: it is not in EMBED_ALLOWED_ORIGINS. Open Parley from "
            "your CRM's page, or ask the administrator to allow this one."
        )


def framed() -> bool:
    """Whether this request comes from inside a frame: the browser says so of a page it loads
    there (Sec-Fetch-Dest), a page served to an embedded session of its htmx requests
    (Parley-Framed, base.html)."""
    return (
        request.headers.get("Sec-Fetch-Dest", "") in ("iframe", "frame")
        or request.headers.get("Parley-Framed") == "1"
    )


def framed_cross_site() -> bool:
    """Whether this page loads in a frame of another site: a SameSite=Lax cookie never comes back
    there, so only an embedded session's cookie can carry a form's CSRF token."""
    return framed() and request.headers.get("Sec-Fetch-Site", "") == "cross-site"


def embedded_session() -> bool:
    """Whether this request carried an embedded session's cookie."""
    return bool(session.get(EMBEDDED))


def mark_embedded() -> None:
    """Have this session saved with the embedded cookie (works inside a third-party frame)."""
    session[EMBEDDED] = True


def start_session(user: User, method: str, in_frame: bool | None = None) -> None:
    """Sign `user` in with a new session. Whatever this browser's session held ends first, its
    CSRF token too: a token seen (or planted) before sign-in is worth nothing after it, and a
    session id fixed beforehand by someone else signs nobody in. The new session is embedded when
    `in_frame`, by default when the one before was (a sign-in inside the CRM's frame must go on
    working there). The caller commits."""
    if in_frame is None:
        in_frame = embedded_session()
    sessions.end_current()
    session.clear()
    login_user(user)
    sessions.start(user, method)
    if in_frame:
        mark_embedded()


def end_session() -> None:
    """Sign out and forget the session, its CSRF token too: after a logout or a refused launch
    nobody is signed in, in this frame or otherwise, nor with a copy of its cookie (its server-side
    row is deleted; the caller commits)."""
    embedded = bool(session.get(EMBEDDED))
    sessions.end_current()
    logout_user()
    session.clear()
    if embedded:
        # Keep the flag so the emptied session is written back with the partitioned cookie's
        # attributes; a Lax cookie would not replace the partitioned one.
        session[EMBEDDED] = True


# Set while a response saves its session: whether that session is an embedded one.
_embedded_cookie: ContextVar[bool] = ContextVar("parley_embedded_cookie", default=False)


class EmbedAwareSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the app's strict cookie defaults (SameSite=Lax,
    unpartitioned) for plain use and `SameSite=None; Secure; Partitioned` for sessions started by an
    embedded launch.

    A third-party iframe only gets its cookie back with SameSite=None (which requires Secure), and
    Partitioned (CHIPS) keeps it working where browsers block unpartitioned third-party cookies: the
    cookie is stored per top-level site, so it is only ever sent inside that CRM.
    """

    def get_cookie_samesite(self, app: Flask) -> str | None:
        return "None" if _embedded_cookie.get() else super().get_cookie_samesite(app)

    def get_cookie_secure(self, app: Flask) -> bool:
        return True if _embedded_cookie.get() else super().get_cookie_secure(app)

    def get_cookie_partitioned(self, app: Flask) -> bool:
        return True if _embedded_cookie.get() else super().get_cookie_partitioned(app)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        marker = _embedded_cookie.set(bool(session.get(EMBEDDED)))
        try:
            super().save_session(app, session, response)
        finally:
            _embedded_cookie.reset(marker)
        if not session and session.modified:
            # Emptied (logged out): also delete a partitioned cookie, which only a deletion that
            # is itself Partitioned removes.
            response.delete_cookie(
                self.get_cookie_name(app),
                domain=self.get_cookie_domain(app),
                path=self.get_cookie_path(app),
                secure=True,
                partitioned=True,
                samesite="None",
                httponly=self.get_cookie_httponly(app),
            )
