"""Embedding in a CRM: launch tokens, the framing policy's origins.

A CRM signs a short-lived launch token (HS256 JWT, `EMBED_SECRET`) naming a user; Parley turns it
into a session. Every refusal raises LaunchRefused with a message a CRM administrator can act on;
none of them echoes the secret or the token.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import jwt
from sqlalchemy import delete, select

from webapp.config import without_default_port
from webapp.extensions import db
from webapp.models import UsedLaunchToken, User, utcnow
from webapp.services.dbutil import insert_ignoring_conflict, unstorable

ALGORITHM = "HS256"
MAX_LIFETIME_SECONDS = 300  # exp may be at most 5 minutes after iat
CLOCK_LEEWAY_SECONDS = 30  # how far ahead of Parley's the CRM's clock may be (iat, nbf)
MAX_TOKEN_BYTES = 4096
MAX_JTI_LENGTH = 255
MAX_NEXT_LENGTH = 2000
HANDOFF_LIFETIME_SECONDS = 120
HANDOFF_CLAIM = "parley_handoff"
DEFAULT_NEXT = "/inbox"
EXPIRED = "The launch token has expired. Open Parley from your CRM again."
WRONG_ALGORITHM = "The launch token must be signed with HS256; other algorithms are refused."

# A path inside the app: one leading slash (not "//", a scheme-relative URL), then printable ASCII
# without backslashes. Browsers drop tabs and newlines from URLs and read "\" as "/", so
# "/\t/evil.example" or "/\\evil.example" would leave the app; both are refused. Inner spaces are
# harmless (they stay in the path) and are sent on percent-encoded.
_SAFE_PATH = re.compile(r"/(?![/\\ ])[\x20-\x7e]*")


class LaunchRefused(Exception):
    """The launch token is not acceptable; `message` says why, safe to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def origin_of(url: str | None) -> str | None:
    """scheme://host[:port] of a URL (a Referer), in lower case; None for none or a malformed one."""
    try:
        parts = urlsplit(url or "")
        port = parts.port
    except ValueError:  # a port out of range
        return None
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        return None
    host = f"[{host}]" if ":" in host else host
    return without_default_port(f"{parts.scheme}://{host}{f':{port}' if port else ''}".lower())


def may_frame(origin: str, allowed: list[str], own: str) -> bool:
    """Whether `origin` is one that frame-ancestors lets frame Parley: its own, or one of
    EMBED_ALLOWED_ORIGINS (already checked and in lower case; `https://*.host` takes subdomains)."""
    return origin == own or any(_matches(origin, entry) for entry in allowed)


def _matches(origin: str, entry: str) -> bool:
    scheme, _, host = entry.partition("://")
    their_scheme, _, their_host = origin.partition("://")
    # As in CSP, an http: source lets the same host in over https: too.
    if their_scheme != scheme and (scheme, their_scheme) != ("http", "https"):
        return False
    if host.startswith("*."):
        return their_host.endswith(host[1:])
    return their_host == host


@dataclass(frozen=True)
class Launch:
    user: User
    next_path: str
    expires_at: datetime
    handoff: bool  # minted by Parley for the "open in a new tab" fallback


def safe_next_path(raw: object) -> str:
    """The `next` claim as a path inside the app; LaunchRefused for anything that could leave it."""
    if raw is None or raw == "":
        return DEFAULT_NEXT
    if not isinstance(raw, str) or len(raw) > MAX_NEXT_LENGTH:
        raise LaunchRefused("The token's next must be a path inside Parley, like /inbox.")
    parts = urlsplit(raw)
    if (
        not _SAFE_PATH.fullmatch(raw)
        or "\\" in raw
        or parts.scheme
        or parts.netloc
        or not parts.path.startswith("/")
    ):
        raise LaunchRefused(
            "The token's next must be a path inside Parley, like /inbox or "
            "/texts/new?to=2025550143; other sites and schemes are refused."
        )
    return raw.replace(" ", "%20")


def verify_launch(token: str | None, secret: str) -> Launch:
    """Check a launch token completely and use it up. Call commit afterwards.

    Order: size and shape, algorithm, signature and times, lifetime, claims, user, then the jti
    (last, so a token refused for another reason is not burned).
    """
    if not secret:
        raise LaunchRefused(
            "Embedding is not set up on this Parley server: EMBED_SECRET is not configured."
        )
    if not token:
        raise LaunchRefused("The launch link carries no token.")
    if len(token.encode()) > MAX_TOKEN_BYTES:
        raise LaunchRefused("The launch token is too large (more than 4 KB).")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:  # undecodable, or a header PyJWT refuses (a kid that is no string)
        raise LaunchRefused("The launch token is malformed: it is not a signed JWT.") from None
    if header.get("alg") != ALGORITHM:
        raise LaunchRefused(WRONG_ALGORITHM)
    claims = _decode(token, secret)
    # JWT times are JSON numbers; PyJWT would also take a numeric string.
    for name in ("iat", "exp", "nbf"):
        value = claims.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise LaunchRefused(
                f"The launch token's {name} claim must be a JSON number (seconds since 1970)."
            )

    issued, expires = float(claims["iat"]), float(claims["exp"])
    # The leeway is for a token issued a moment "in the future"; its end is the one the CRM set.
    if expires <= utcnow().timestamp():
        raise LaunchRefused(EXPIRED)
    if expires - issued > MAX_LIFETIME_SECONDS:
        raise LaunchRefused(
            "The launch token lives too long: exp may be at most 5 minutes after iat."
        )
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti.strip() or len(jti) > MAX_JTI_LENGTH or unstorable(jti):
        raise LaunchRefused(
            "The launch token's jti must be a unique string of at most 255 characters."
        )
    next_path = safe_next_path(claims.get("next"))
    user = _active_user(claims["sub"])

    expires_at = datetime.fromtimestamp(expires, UTC)
    purge_expired()
    if not use_up(jti, expires_at):
        raise LaunchRefused(
            "This launch token was already used; each works once. Open Parley from your CRM again."
        )
    handoff = claims.get(HANDOFF_CLAIM) is True
    return Launch(user=user, next_path=next_path, expires_at=expires_at, handoff=handoff)


def _decode(token: str, secret: str) -> dict:
    try:
        return jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            leeway=CLOCK_LEEWAY_SECONDS,
            options={"require": ["sub", "iat", "exp", "jti"], "verify_aud": False},
        )
    except jwt.InvalidSignatureError:
        raise LaunchRefused(
            "The launch token's signature is not valid: it was not signed with this server's "
            "EMBED_SECRET, or it was changed."
        ) from None
    except jwt.ExpiredSignatureError:
        raise LaunchRefused(EXPIRED) from None
    except jwt.ImmatureSignatureError:
        raise LaunchRefused(
            "The launch token is not valid yet (iat or nbf is in the future); check the CRM "
            "server's clock."
        ) from None
    except jwt.MissingRequiredClaimError as exc:
        raise LaunchRefused(f"The launch token lacks the {exc.claim} claim.") from None
    except jwt.InvalidAlgorithmError:
        raise LaunchRefused(WRONG_ALGORITHM) from None
    except jwt.DecodeError as exc:
        # PyJWT checks the times after the signature, and says which one is no number.
        if "claim" not in str(exc):
            raise LaunchRefused("The launch token is malformed: it is not a signed JWT.") from None
        raise LaunchRefused(f"The launch token is not valid: {str(exc).rstrip('.')}.") from None
    except jwt.InvalidTokenError as exc:
        # The remaining PyJWT errors name a claim problem (e.g. "Subject must be a string"); they
        # never contain the key.
        raise LaunchRefused(f"The launch token is not valid: {str(exc).rstrip('.')}.") from None


def _active_user(subject: object) -> User:
    email = subject.strip().lower() if isinstance(subject, str) else ""
    if unstorable(email):
        raise LaunchRefused("The launch token's sub claim must be the user's email address.")
    user = db.session.scalar(select(User).where(User.email == email)) if email else None
    if user is None:
        raise LaunchRefused("No Parley user has the email in the token's sub claim.")
    if not user.active:
        raise LaunchRefused("The Parley user in the token's sub claim has been deactivated.")
    return user


def use_up(jti: str, expires_at: datetime) -> bool:
    """Record a jti as used; False when it already was. The primary key decides, not a check."""
    return insert_ignoring_conflict(UsedLaunchToken, ["jti"], jti=jti, expires_at=expires_at)


def purge_expired(now: datetime | None = None) -> None:
    """Forget used jtis whose tokens have expired (an indexed range delete; cheap)."""
    cutoff = now or utcnow()
    db.session.execute(delete(UsedLaunchToken).where(UsedLaunchToken.expires_at < cutoff))


def mint_handoff(secret: str, user: User, next_path: str, now: datetime | None = None) -> str:
    """A fresh single-use launch token for the "Open Parley in a new tab" fallback.

    Issued by Parley itself right after a successful launch, valid for 2 minutes. When the session
    cookie turns out to work, the check page burns it at once (see web/embed.py).
    """
    issued = int((now or utcnow()).timestamp())
    claims = {
        "sub": user.email,
        "iat": issued,
        "exp": issued + HANDOFF_LIFETIME_SECONDS,
        "jti": f"handoff-{uuid.uuid4().hex}",
        "next": next_path,
        HANDOFF_CLAIM: True,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_handoff(token: str, secret: str) -> tuple[str, datetime, str] | None:
    """(jti, expiry, email) of a valid Parley-minted handoff token, without using it; else None."""
    if not token or not secret or len(token) > MAX_TOKEN_BYTES:
        return None
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], leeway=CLOCK_LEEWAY_SECONDS,
            options={"require": ["sub", "exp", "jti"]},
        )
    except jwt.InvalidTokenError:
        return None
    if claims.get(HANDOFF_CLAIM) is not True:
        return None
    expires_at = datetime.fromtimestamp(float(claims["exp"]), UTC)
    if expires_at <= utcnow():
        return None
    return str(claims["jti"]), expires_at, str(claims["sub"])
