"""Single sign-on (OpenID Connect): the **Sign in with SSO** link and the identity provider's answer.

`start` sends the browser to the identity provider with Authlib's authorization code flow (PKCE
S256, a fresh `state` and `nonce` kept in the session); `callback` exchanges the code, and Authlib
checks the state (used once: it leaves the session) and the ID token's signature against the
issuer's JWKS, with the issuer, audience, expiry and nonce this module asks for. Parley then checks
`email_verified` and finds (or provisions) the user (webapp/services/sso.py).

The issuer is contacted only when someone signs in, never at start-up: its discovery document is
kept for an hour; its JWKS is fetched at each **Sign in with SSO** (so rotated keys need no restart,
and an issuer that is down is named before anyone is sent to it), and again should an ID token name
a key it lacks. A document, key set or issuer that fails is forgotten at once, so the next attempt
asks again. Refusals are 403 pages; an unusable issuer is a 503 page naming what failed; both are
logged, and nobody is signed in. An answer for a sign-in this browser did not start (a replayed or
made-up callback) is refused without touching the session: it is no one's attempt to sign in.
A sign-in is pending for ten minutes at most; dropping one (too old, or beyond the five kept) also
drops Authlib's state data for it, so unfinished sign-ins do not grow the session cookie.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

import requests
from authlib.integrations.base_client import MismatchingStateError
from authlib.integrations.flask_client import FlaskIntegration, FlaskOAuth2App, OAuthError
from authlib.oauth2 import OAuth2Error
from flask import Blueprint, abort, current_app, redirect, request, session
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import KeySet

from webapp.extensions import db
from webapp.services import sso
from webapp.transactions import discard_writes, writes
from webapp.web import embed
from webapp.web.auth import safe_next
from webapp.web.embed import end_session, start_session
from webapp.web.errors import error_page

bp = Blueprint("sso", __name__)

CALLBACK_PATH = "/auth/oidc/callback"
# The session's key for the sign-ins this browser started, oldest first:
# [state, where to go after, started at (time.time())]. Entries without a start time (cookies made
# before it was kept) count as too old. A list: the session's serializer sorts a dict's keys, which
# would lose the order.
PENDING_KEY = "parley_sso_pending"
MAX_PENDING = 5  # e.g. two tabs that both clicked the link; older ones are dropped
PENDING_LIFETIME_SECONDS = 600  # a sign-in not finished within ten minutes is refused
METADATA_LIFETIME_SECONDS = 3600
LEEWAY_SECONDS = 60  # clock skew allowed between the identity provider and this server
REFUSED = "Single sign-on was refused"
NOT_STARTED_HERE = "This sign-in was already used or did not start here. Sign in again from the start."
TOO_OLD = "This sign-in was started too long ago. Sign in again from the start."
# Authlib's framework integration, shared by every client: it keeps each state's data in the session
# (`set_state_data`), and its public `clear_state_data` drops it when Parley drops the sign-in.
STATE_DATA = FlaskIntegration("oidc")


@dataclass
class _Issuer:
    client: FlaskOAuth2App
    fetched_at: float


def _client(settings: sso.Settings) -> FlaskOAuth2App:
    """This app's Authlib client for the issuer, built from a fresh enough discovery document."""
    state = current_app.extensions.setdefault("parley.oidc", {"lock": threading.Lock(), "issuer": None})
    with state["lock"]:  # one discovery at a time; the others then use its result
        issuer: _Issuer | None = state["issuer"]
        if issuer is None or time.monotonic() - issuer.fetched_at > METADATA_LIFETIME_SECONDS:
            metadata = sso.discover(settings)
            auth_method = metadata.pop("token_endpoint_auth_method")
            client = FlaskOAuth2App(
                STATE_DATA,
                name="oidc",
                client_id=settings.client_id,
                client_secret=settings.client_secret,
                client_kwargs={
                    "scope": sso.SCOPES,
                    "code_challenge_method": "S256",
                    "token_endpoint_auth_method": auth_method,
                    "default_timeout": settings.timeout_seconds,
                },
                **metadata,
            )
            issuer = state["issuer"] = _Issuer(client, time.monotonic())
        return issuer.client


def _forget_issuer() -> None:
    """After a failure: the next attempt fetches the discovery document and keys again."""
    state = current_app.extensions.get("parley.oidc")
    if state is not None:
        with state["lock"]:
            state["issuer"] = None


def _check_keys(client: FlaskOAuth2App) -> None:
    """The issuer's JWKS answers and holds keys, before anyone is sent to sign in with it."""
    uri = client.server_metadata["jwks_uri"]
    try:
        jwks = client.fetch_jwk_set(force=True)  # asked each time: a provider that is down says so here
        if isinstance(jwks, dict) and jwks.get("keys") == []:
            raise sso.IssuerProblem(f"the key set (JWKS) at {uri} holds no keys")
        KeySet.import_key_set(jwks)
    except requests.JSONDecodeError:
        raise sso.IssuerProblem(f"the key set (JWKS) at {uri} is not a valid JSON Web Key Set") from None
    except requests.RequestException as exc:
        why = sso.reason(exc)
        raise sso.IssuerProblem(f"the key set (JWKS) at {uri} could not be fetched ({why})") from None
    except (ValueError, TypeError, KeyError, AttributeError, JoseError):
        raise sso.IssuerProblem(f"the key set (JWKS) at {uri} is not a valid JSON Web Key Set") from None


def _settings() -> sso.Settings:
    if not sso.configured(current_app.config):
        abort(404)
    return sso.Settings.from_config(current_app.config)


@bp.get("/auth/oidc/login")
def start():
    settings = _settings()
    try:
        client = _client(settings)
        _check_keys(client)
    except sso.IssuerProblem as problem:
        return _unavailable(problem)
    state = secrets.token_urlsafe(24)
    now = time.time()
    pending = [*_pending(), [state, safe_next(request.args.get("next")), int(now)]]
    kept = [entry for entry in pending[-MAX_PENDING:] if not _too_old(entry, now)]
    _drop(pending, kept)
    session[PENDING_KEY] = kept
    if embed.framed_cross_site():  # in the CRM's frame only its cookie keeps the state
        embed.mark_embedded()
    return client.authorize_redirect(current_app.config["PUBLIC_BASE_URL"] + CALLBACK_PATH, state=state)


@bp.get(CALLBACK_PATH)
@writes
def callback():
    settings = _settings()
    pending = _pending()
    state = request.args.get("state", "")
    this = next((entry for entry in pending if entry[0] == state), None)
    if this is None:
        # Nothing this browser started: whoever may be signed in here stays, and a link made
        # elsewhere (its error text included) neither signs them out nor speaks on Parley's page.
        current_app.logger.warning("Single sign-on refused: an answer for a sign-in that did not start here")
        return error_page(403, REFUSED, f"{NOT_STARTED_HERE} Nothing was changed.")
    now = time.time()
    others = [entry for entry in pending if entry is not this and not _too_old(entry, now)]
    if _too_old(this, now):  # forgotten, with its state data; whoever may be signed in here stays
        _drop(pending, others)
        session[PENDING_KEY] = others
        current_app.logger.warning("Single sign-on refused: an answer for a sign-in started too long ago")
        return error_page(403, REFUSED, f"{TOO_OLD} Nothing was changed.")
    _drop(pending, [this, *others])  # this state's data Authlib clears once it has checked it
    next_path = safe_next(this[1])
    session[PENDING_KEY] = others
    try:
        client = _client(settings)
        claims = _verified_claims(client, settings)
        email = sso.email_from_claims(claims)
        user, created = sso.user_for_email(email, str(claims.get("name") or ""), settings)
    except sso.IssuerProblem as problem:
        STATE_DATA.clear_state_data(session, state)  # if Authlib had not yet: this sign-in is over
        return _unavailable(problem)
    except sso.SignInRefused as refusal:
        current_app.logger.warning("Single sign-on refused for %s: %s", refusal.email or "?", refusal.detail)
        return _refuse(refusal.title, refusal.detail)
    if created:
        current_app.logger.info("Single sign-on created the user %s", email)
    start_session(user, "sso")
    db.session.commit()
    return redirect(next_path)


def _pending() -> list[list]:
    """The sign-ins this browser started, oldest first, each [state, next, started at]; an entry
    without a usable start time (an older cookie's) gets 0: too old."""
    stored = session.get(PENDING_KEY)
    pending = []
    for item in stored if isinstance(stored, list) else []:
        entry = item if isinstance(item, list) else [item]  # a plain state, from an older cookie
        if not entry or not isinstance(entry[0], str):
            continue
        path = entry[1] if len(entry) > 1 and isinstance(entry[1], str) else None
        started = entry[2] if len(entry) > 2 and isinstance(entry[2], (int, float)) else 0
        pending.append([entry[0], path, started])
    return pending


def _too_old(entry: list, now: float) -> bool:
    return now - entry[2] > PENDING_LIFETIME_SECONDS


def _drop(pending: list[list], kept: list[list]) -> None:
    """Authlib's state data goes with each sign-in of `pending` that is not `kept`."""
    for entry in pending:
        if entry not in kept:
            STATE_DATA.clear_state_data(session, entry[0])


def _verified_claims(client: FlaskOAuth2App, settings: sso.Settings) -> dict:
    """The ID token's claims, once Authlib has checked the state, exchanged the code (with the PKCE
    verifier) and verified the token. Raises SignInRefused or IssuerProblem."""
    metadata = client.server_metadata
    claims_options = {
        "iss": {"essential": True, "values": [metadata["issuer"]]},
        "aud": {"essential": True, "values": [settings.client_id]},
        "sub": {"essential": True},
        "exp": {"essential": True},
        "iat": {"essential": True},
    }
    try:
        token = client.authorize_access_token(claims_options=claims_options, leeway=LEEWAY_SECONDS)
    except MismatchingStateError:
        raise sso.SignInRefused(REFUSED, NOT_STARTED_HERE) from None
    except (OAuthError, OAuth2Error) as exc:  # the provider's error, or an answer without a code
        why = f"{exc.error}: {exc.description or 'no reason given'}"
        raise sso.SignInRefused(REFUSED, f"The identity provider did not sign you in ({why}).") from None
    except JoseError as exc:
        if isinstance(exc, BadSignatureError):
            # Perhaps a new key under an old key id since the link fetched the keys: the next
            # attempt starts from fresh discovery too.
            _forget_issuer()
        raise sso.SignInRefused(REFUSED, _token_problem(exc)) from None
    except (requests.JSONDecodeError, ValueError):  # the token endpoint's answer is not JSON
        raise sso.IssuerProblem("the token endpoint's answer is not a valid token response") from None
    except requests.RequestException as exc:
        why = sso.reason(exc)
        raise sso.IssuerProblem(f"the issuer could not be reached to finish signing in ({why})") from None
    claims = token.get("userinfo")
    if not claims:
        raise sso.SignInRefused(REFUSED, "The identity provider sent no ID token.")
    return dict(claims)


def _token_problem(exc: JoseError) -> str:
    """What was wrong with the ID token, in words for the page (the log gets the same)."""
    if isinstance(exc, ExpiredTokenError):
        problem = "has expired"
    elif isinstance(exc, UnsupportedAlgorithmError):
        problem = "is signed with an algorithm the issuer does not use"
    elif isinstance(exc, (BadSignatureError, InvalidKeyIdError)):
        problem = "is not signed with the identity provider's keys"
    elif isinstance(exc, ClaimError) and exc.claim == "aud":
        problem = "was issued for another application (audience)"
    elif isinstance(exc, ClaimError) and exc.claim == "nonce":
        problem = "does not belong to this sign-in (nonce)"
    elif isinstance(exc, ClaimError):
        problem = f"has a missing or wrong {exc.claim} claim"
    else:
        problem = f"could not be read ({exc.__class__.__name__})"
    return f"The identity provider's answer {problem}, so it cannot be trusted."


def _refuse(title: str, detail: str):
    """Nobody is signed in after a refusal, whoever was before."""
    discard_writes()
    end_session()
    db.session.commit()
    return error_page(403, title, f"{detail} Nobody was signed in.")


def _unavailable(problem: sso.IssuerProblem):
    _forget_issuer()
    current_app.logger.error("Single sign-on unavailable: %s", problem)
    password = " You can still log in with your password." if current_app.config["PASSWORD_LOGIN"] else ""
    response = error_page(
        503,
        "Single sign-on is unavailable",
        f"Parley cannot use the identity provider right now: {problem}.{password}",
    )
    return response
