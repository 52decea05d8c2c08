"""Single sign-on with OpenID Connect: the issuer's discovery document, and who a verified email
signs in as.

The protocol itself (authorization code with PKCE, state, nonce, the ID token's signature and
claims) is Authlib's, driven from webapp/web/sso.py. This module holds Parley's rules around it:
what makes a discovery document usable, and which Parley user an email from the identity provider
is (an active one with that email; or, when provisioning is configured, a new one).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace
from typing import Any

import requests
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from webapp.config import secure_url
from webapp.extensions import db
from webapp.models import User
from webapp.services import audit, directory

DISCOVERY_PATH = "/.well-known/openid-configuration"
SCOPES = "openid email profile"
# Signature algorithms an ID token may use: asymmetric ones only (a public JWKS cannot hold an HMAC
# secret). RS256 is what every issuer supports (OpenID Connect makes it the default).
ASYMMETRIC_ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)  # fmt: skip
REQUIRED_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri")


class IssuerProblem(Exception):
    """The identity provider cannot be used now (unreachable, or a bad discovery document or key
    set). The message names what failed, for the page and the log; it holds no secret."""


class SignInRefused(Exception):
    """Single sign-on reached a verdict: nobody is signed in. `detail` is for the person."""

    def __init__(self, title: str, detail: str, email: str = "") -> None:
        super().__init__(detail)
        self.title = title
        self.detail = detail
        self.email = email


@dataclass(frozen=True)
class Settings:
    issuer: str
    client_id: str
    client_secret: str
    timeout_seconds: float
    provision_role: str
    provision_office: str

    @classmethod
    def from_config(cls, config: Any) -> Settings:
        return cls(
            issuer=config["OIDC_ISSUER"],
            client_id=config["OIDC_CLIENT_ID"],
            client_secret=config["OIDC_CLIENT_SECRET"],
            timeout_seconds=config["OIDC_TIMEOUT_SECONDS"],
            provision_role=config["OIDC_PROVISION_ROLE"],
            provision_office=config["OIDC_PROVISION_OFFICE"],
        )


def configured(config: Any) -> bool:
    """Single sign-on is on when an issuer and a client id are set."""
    return bool(config.get("OIDC_ISSUER") and config.get("OIDC_CLIENT_ID"))


def discover(settings: Settings) -> dict[str, Any]:
    """The issuer's discovery document, checked: the fields sign-in needs, for this issuer.
    Raises IssuerProblem naming what is wrong."""
    _check_url("OIDC_ISSUER", settings.issuer)
    url = settings.issuer.rstrip("/") + DISCOVERY_PATH
    try:
        response = requests.get(url, timeout=settings.timeout_seconds, allow_redirects=False)
    except requests.RequestException as exc:
        raise IssuerProblem(f"the discovery document at {url} could not be fetched ({reason(exc)})") from None
    if response.status_code != 200:
        raise IssuerProblem(f"the discovery document at {url} answered HTTP {response.status_code}")
    try:
        document = response.json()
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise IssuerProblem(f"the discovery document at {url} is not a JSON object")
    issuer = document.get("issuer")
    # OpenID Connect Discovery: the document's issuer is exactly the one configured (a trailing
    # slash aside); ID tokens are then checked against the document's.
    if not isinstance(issuer, str) or issuer.rstrip("/") != settings.issuer.rstrip("/"):
        raise IssuerProblem(f"the discovery document names issuer {issuer!r}, not {settings.issuer!r}")
    for field in REQUIRED_ENDPOINTS:
        value = document.get(field)
        if not isinstance(value, str) or not value:
            raise IssuerProblem(f"the discovery document at {url} has no {field}")
        _check_url(field, value)
    offered = document.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = [alg for alg in ASYMMETRIC_ALGORITHMS if alg in offered]
    if not algorithms:
        raise IssuerProblem(f"the issuer signs ID tokens with none of {', '.join(ASYMMETRIC_ALGORITHMS)}")
    methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    return {
        "issuer": issuer,
        **{field: document[field] for field in REQUIRED_ENDPOINTS},
        "id_token_signing_alg_values_supported": algorithms,
        # The client secret in an Authorization header unless the issuer only takes it in the body.
        "token_endpoint_auth_method": (
            "client_secret_post"
            if "client_secret_basic" not in methods and "client_secret_post" in methods
            else "client_secret_basic"
        ),
    }


def _check_url(name: str, url: str) -> None:
    """HTTPS, except on this machine's loopback (a local identity provider, tests)."""
    if not secure_url(url):
        raise IssuerProblem(f"{name} must be an https:// URL, not {url!r}")


def reason(exc: requests.RequestException) -> str:
    """Why a request to the issuer failed, in a few words (no URL parameters, no secrets)."""
    if isinstance(exc, requests.Timeout):
        return "no answer in time"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__


def email_from_claims(claims: dict[str, Any]) -> str:
    """The ID token's email, if the identity provider says it verified it (`email_verified` true).
    Raises SignInRefused otherwise."""
    email = claims.get("email")
    if not isinstance(email, str) or not directory.EMAIL_PATTERN.match(email.strip()):
        raise SignInRefused(
            "Single sign-on gave no email",
            "Your identity provider did not say which email you use, so Parley cannot tell who you "
            "are. Ask your administrator to release the email claim to Parley.",
        )
    email = email.strip()
    if unicodedata.normalize("NFKC", email) != email:
        # A look-alike (the Kelvin sign for K, full-width letters) is another address to the
        # provider, but lowercasing, as matching does, would make some of them a Parley user's.
        raise SignInRefused(
            "Your email has look-alike characters",
            f"Your identity provider gave the email {email!a}, written with characters that only "
            "look like ordinary letters, so Parley cannot tell whose it is. Ask your administrator.",
        )
    email = email.lower()
    if len(email) > directory.MAX_EMAIL_LENGTH:
        raise SignInRefused(
            "Your email is too long for Parley",
            f"Your identity provider gave an email of {len(email)} characters; Parley keeps at most "
            f"{directory.MAX_EMAIL_LENGTH}. Ask your administrator.",
        )
    if not _verified(claims):
        raise SignInRefused(
            "Your email is not verified",
            f"Your identity provider has not verified {email}, so Parley cannot sign you in with it. "
            "Ask your administrator.",
            email,
        )
    return email


def _verified(claims: dict[str, Any]) -> bool:
    """`email_verified` is true. Microsoft Entra ID never sends it for work accounts; there its
    optional claim `xms_edov` (the email's domain is verified by the tenant that signed the person
    in) stands in, and only when `email_verified` is absent."""
    if "email_verified" in claims:
        return _true(claims["email_verified"])
    return _true(claims.get("xms_edov"))


def _true(value: Any) -> bool:
    """A boolean claim: JSON true, or the string "true" that some identity providers send."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return value is True


def user_for_email(email: str, name: str, settings: Settings) -> tuple[User, bool]:
    """The active user with this verified email (case-insensitive), or a new one when provisioning
    is configured (audited). Returns the user and whether it was created; the caller commits.
    Raises SignInRefused for anyone else."""
    user = db.session.scalar(select(User).where(func.lower(User.email) == email))
    if user is not None and user.active:
        return user, False
    if user is None and settings.provision_role:
        try:
            with db.session.begin_nested():  # a first sign-in racing this one made them already
                return _provision(email, name, settings), True
        except IntegrityError:
            return user_for_email(email, name, replace(settings, provision_role=""))
    raise SignInRefused(
        "You don't have access to Parley",
        f"{email} has no active Parley account. Ask an administrator to give you access.",
        email,
    )


def _provision(email: str, name: str, settings: Settings) -> User:
    try:
        office = directory.office_by_name(settings.provision_office)
    except directory.DirectoryError:
        # A configuration mistake, logged by the caller: the person can only ask an administrator.
        raise SignInRefused(
            "You don't have access to Parley",
            f"{email} has no Parley account, and new accounts cannot be created now (the office "
            f"{settings.provision_office!r} does not exist). Ask an administrator.",
            email,
        ) from None
    # Signs in only through the identity provider: no password (an admin can set one).
    user = directory.create_user(
        email,
        settings.provision_role,
        None,
        # A name that cannot be shown (a control character, nothing visible): the email's instead.
        name=name[:120] if name and not directory.name_problem(name) else None,
        office_names=[office.name],
    )
    audit.record(
        None,
        "user.created",
        f"{user.name} ({user.email}) created as {user.role_label} at their first single sign-on",
        [office],
        {"user_id": user.id, "via": "sso"},
    )
    return user
