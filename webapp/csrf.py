"""CSRF protection: Flask-WTF's check, remembering the tokens it has found valid (issue 8)."""

from __future__ import annotations

from flask import current_app, g, request, session
from flask_wtf import csrf as flask_wtf_csrf

# At most this many checked tokens are remembered per process (a few hundred bytes each).
CHECKED_TOKENS = 1024


class CSRFProtect(flask_wtf_csrf.CSRFProtect):
    """Flask-WTF's protection, except that a token already found valid for the same session and
    secret key is not verified again: verifying its signature took about 45 µs of every form post,
    and a page posts the same token until its session ends.

    Only when tokens live as long as their session (WTF_CSRF_TIME_LIMIT None, Parley's setting):
    a remembered token is then valid exactly when a verified one would be. The HTTPS referrer
    check runs on every request, remembered token or not.
    """

    def __init__(self, app=None) -> None:  # noqa: ANN001
        self._checked: set[tuple[str, str, str]] = set()
        super().__init__(app)

    def protect(self, apply_exemptions: bool = False) -> None:
        if apply_exemptions and (not request.endpoint or self._is_exempt()):
            return
        config = current_app.config
        if request.method not in config["WTF_CSRF_METHODS"]:
            return
        token = self._get_csrf_token()
        stored = session.get(config["WTF_CSRF_FIELD_NAME"])
        key = (current_app.secret_key, stored, token)
        if token and stored and key in self._checked:
            self._check_referrer()
            g.csrf_valid = True
            return
        super().protect()  # raises CSRFError on a bad token
        if token and stored and config["WTF_CSRF_TIME_LIMIT"] is None:
            if len(self._checked) >= CHECKED_TOKENS:
                self._checked.clear()
            self._checked.add(key)

    def _check_referrer(self) -> None:
        """Flask-WTF's strict HTTPS check: the post must come from a page of this host."""
        if not (request.is_secure and current_app.config["WTF_CSRF_SSL_STRICT"]):
            return
        if not request.referrer:
            self._error_response("The referrer header is missing.")
        if not flask_wtf_csrf.same_origin(request.referrer, f"https://{request.host}/"):
            self._error_response("The referrer does not match the host.")
