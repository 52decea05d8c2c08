"""Configuration, read once from the environment (a `.env` file may supply it)."""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from limits import parse_many
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

log = logging.getLogger(__name__)

# The longest duration a setting may give: later it becomes a timedelta or a thread's wait, which
# refuse infinity, NaN or spans past their range only when a request or task uses them.
MAX_SECONDS = 366 * 24 * 3600
# The largest count: what a database integer holds (a count may be bound in a query).
MAX_COUNT = 2**31 - 1


class ConfigurationError(ValueError):
    """A setting Parley refuses at start. Its message names the variable and says what it must be:
    all the operator needs, so the command line shows it alone, without a traceback."""


def _list(value: str | None, default: str) -> list[str]:
    raw = value if value is not None else default
    return [item for item in raw.replace(",", " ").split() if item]


# An origin as CSP frame-ancestors accepts it: scheme://host[:port], host may start with "*.".
_ORIGIN = re.compile(r"https?://(\*\.)?[a-z0-9.-]+(:\d{1,5})?")


def frame_origins(origins: list[str]) -> list[str]:
    """EMBED_ALLOWED_ORIGINS, checked: only origins, so nothing can inject a CSP directive.
    Schemes and host names are case-insensitive, so they are kept in lower case."""
    checked = []
    for origin in origins:
        candidate = origin.rstrip("/").lower()
        if not _ORIGIN.fullmatch(candidate):
            raise ConfigurationError(
                f"EMBED_ALLOWED_ORIGINS: {origin!r} is not an origin like https://crm.example.edu"
            )
        checked.append(without_default_port(candidate))
    return checked


def without_default_port(origin: str) -> str:
    """https://host:443 is https://host (and http's :80): browsers leave the default out."""
    for scheme, port in (("https://", ":443"), ("http://", ":80")):
        if origin.startswith(scheme) and origin.endswith(port):
            return origin.removesuffix(port)
    return origin


class Config:
    """Production defaults: embedded SQLite database and queue in the instance folder."""

    TESTING = False

    def __init__(self, instance_path: str) -> None:
        env = os.environ
        instance = Path(instance_path)
        self.SECRET_KEY = env.get("SECRET_KEY") or _instance_secret(instance)
        default_db = f"sqlite:///{instance / 'parley.db'}"
        self.SQLALCHEMY_DATABASE_URI = _database_url(env, "DATABASE_URL", default_db)
        self.QUEUE_URL = env.get("QUEUE_URL") or f"sqlite:///{instance / 'queue.db'}"
        # Uploaded contact lists wait here between preview and import (shared by web and worker).
        self.IMPORT_FOLDER = env.get("PARLEY_IMPORT_FOLDER") or str(instance / "imports")
        # Office exports (CSV files the worker writes, admins download; shared by web and worker).
        self.EXPORT_FOLDER = env.get("PARLEY_EXPORT_FOLDER") or str(instance / "exports")
        self.PUBLIC_BASE_URL = _base_url(env, "PUBLIC_BASE_URL", "http://127.0.0.1:5000")
        # Pictures agents attach (MMS), and how long the link a provider fetches one by stays valid.
        self.MEDIA_FOLDER = env.get("PARLEY_MEDIA_FOLDER") or str(instance / "media")
        self.MEDIA_URL_SECONDS = _seconds(env, "PARLEY_MEDIA_URL_SECONDS", 3600.0)
        self.PLIVO_AUTH_ID = env.get("PLIVO_AUTH_ID", "")
        self.PLIVO_AUTH_TOKEN = env.get("PLIVO_AUTH_TOKEN", "")
        self.PLIVO_TIMEOUT_SECONDS = _seconds(env, "PLIVO_TIMEOUT_SECONDS", 5.0)
        self.PLIVO_API_BASE_URL = env.get("PLIVO_API_BASE_URL") or "https://api.plivo.com"
        # Plivo's legacy V2 signature covers neither query nor body: refused unless this is on.
        self.PLIVO_ALLOW_V2_SIGNATURES = switch(env, "PLIVO_ALLOW_V2_SIGNATURES", False)
        self.TWILIO_ACCOUNT_SID = env.get("TWILIO_ACCOUNT_SID", "")
        self.TWILIO_AUTH_TOKEN = env.get("TWILIO_AUTH_TOKEN", "")
        self.TWILIO_API_BASE_URL = env.get("TWILIO_API_BASE_URL") or "https://api.twilio.com"
        self.TWILIO_TIMEOUT_SECONDS = _seconds(env, "TWILIO_TIMEOUT_SECONDS", 5.0)
        self.EMBED_SECRET = _embed_secret(env, "EMBED_SECRET")
        self.EMBED_ALLOWED_ORIGINS = frame_origins(_list(env.get("EMBED_ALLOWED_ORIGINS"), ""))
        # Which installed plugins are enabled (entry-point names). Plivo, the built-in provider,
        # is on by default once its credentials are set; PARLEY_SMS_PROVIDERS names them all.
        if bool(self.PLIVO_AUTH_ID) != bool(self.PLIVO_AUTH_TOKEN):  # half set: a slip, not "no Plivo"
            names = ["PLIVO_AUTH_ID", "PLIVO_AUTH_TOKEN"]
            given, missing = names if self.PLIVO_AUTH_ID else names[::-1]
            raise ConfigurationError(
                f"{given} is set but {missing} is not: set both to use Plivo, or neither"
            )
        plivo = " plivo" if self.PLIVO_AUTH_ID else ""
        self.SMS_PROVIDERS = _list(env.get("PARLEY_SMS_PROVIDERS"), f"console{plivo}")
        self.CONTACT_RESOLVERS = _list(env.get("PARLEY_CONTACT_RESOLVERS"), "campaign")
        # Bots: a bot-mode conversation is answered by the FIRST enabled bot.
        self.BOTS = _list(env.get("PARLEY_BOTS"), "kb")
        # A bot that has not answered within this many seconds hands the conversation to agents.
        self.BOT_TIMEOUT_SECONDS = _seconds(env, "PARLEY_BOT_TIMEOUT_SECONDS", 5.0)
        # A reply whose bot answer was lost (a worker died mid-answer) is asked again by the sweep,
        # and handed to agents if still unanswered this long after it came in.
        self.BOT_ESCALATE_AFTER_SECONDS = _seconds(env, "PARLEY_BOT_ESCALATE_AFTER_SECONDS", 300.0)
        self.QUEUE_IMMEDIATE = False
        # SQLite: WAL checkpoints in a thread of each process, not inside requests' commits
        # (webapp/sqlite_checkpoints.py). TestConfig turns it off; its own tests turn it on.
        self.SQLITE_BACKGROUND_CHECKPOINTS = True
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        # Served over HTTPS (PUBLIC_BASE_URL says so): cookies never travel in clear text.
        self.SESSION_COOKIE_SECURE = self.PUBLIC_BASE_URL.startswith("https://")
        self.WTF_CSRF_TIME_LIMIT = None  # tokens live as long as the session
        # Sending: transient failures retry with exponential backoff (base, 2×base, 4×base …).
        self.SEND_MAX_ATTEMPTS = _count(env, "PARLEY_SEND_MAX_ATTEMPTS", 5, least=1)
        self.SEND_RETRY_BASE_SECONDS = _seconds(env, "PARLEY_SEND_RETRY_BASE_SECONDS", 2.0, zero=True)
        # The sweep re-queues messages queued this long ago, and fails sends interrupted this long ago.
        self.SWEEP_QUEUED_AFTER_SECONDS = _seconds(
            env, "PARLEY_SWEEP_QUEUED_AFTER_SECONDS", 60.0, zero=True
        )
        self.SENDING_TIMEOUT_SECONDS = _seconds(env, "PARLEY_SENDING_TIMEOUT_SECONDS", 300.0)
        # Login throttling: this many failed logins for one email, or from one IP address, within
        # the window refuse further attempts for it until the window has passed over them.
        self.LOGIN_MAX_FAILURES_PER_EMAIL = _count(env, "PARLEY_LOGIN_MAX_FAILURES_PER_EMAIL", 10)
        self.LOGIN_MAX_FAILURES_PER_IP = _count(env, "PARLEY_LOGIN_MAX_FAILURES_PER_IP", 100)
        self.LOGIN_WINDOW_SECONDS = _seconds(env, "PARLEY_LOGIN_WINDOW_SECONDS", 900.0)
        # Password checks (a deliberately slow hash) one web process runs at once; attempts beyond
        # them get 429 at once, so a flood of logins cannot take every thread from signed-in agents.
        self.LOGIN_CHECKS_PER_PROCESS = _count(env, "PARLEY_LOGIN_CHECKS_PER_PROCESS", 1, least=1)
        # How many reverse proxies stand before the app: their X-Forwarded-For names the client.
        self.TRUSTED_PROXIES = _count(env, "PARLEY_TRUSTED_PROXIES", 0)
        # Bigger request bodies get 413 before they are read (the contact-list upload has its own).
        self.MAX_REQUEST_BYTES = _count(env, "PARLEY_MAX_REQUEST_BYTES", 1024 * 1024)
        # The CRM API: each key's rate limit (the `limits` notation), counted in this storage;
        # with several web processes, give them one shared store (Redis) or each counts alone.
        self.API_RATE_LIMIT = _rate_limit(env, "PARLEY_API_RATE_LIMIT", "300 per minute")
        self.API_RATE_LIMIT_STORAGE = env.get("PARLEY_API_RATE_LIMIT_STORAGE") or (
            self.QUEUE_URL if self.QUEUE_URL.startswith("redis://") else "memory://"
        )
        # Activity webhooks: the first retry's delay (then doubling), one attempt's time limit, how
        # many attempts a worker makes at once (apart from sending), and whether endpoints may be
        # private addresses (and http), for on-premises CRMs and tests.
        self.WEBHOOK_RETRY_BASE_SECONDS = _seconds(env, "PARLEY_WEBHOOK_RETRY_BASE_SECONDS", 5.0)
        self.WEBHOOK_TIMEOUT_SECONDS = _seconds(env, "PARLEY_WEBHOOK_TIMEOUT_SECONDS", 5.0)
        self.WEBHOOK_CONCURRENCY = _count(env, "PARLEY_WEBHOOK_CONCURRENCY", 4, least=1)
        # Then forgotten; at most a century (the pruning's cutoff must be a date).
        self.WEBHOOK_LOG_DAYS = _count(env, "PARLEY_WEBHOOK_LOG_DAYS", 30, most=36_600, least=1)
        self.WEBHOOK_ALLOW_PRIVATE = switch(env, "PARLEY_WEBHOOK_ALLOW_PRIVATE", False)
        # Single sign-on (OpenID Connect): on when an issuer and a client are configured. The
        # issuer is contacted only when someone signs in, so a down issuer never stops the app.
        self.OIDC_ISSUER = _issuer(env, "OIDC_ISSUER")
        self.OIDC_CLIENT_ID = (env.get("OIDC_CLIENT_ID") or "").strip()
        self.OIDC_CLIENT_SECRET = env.get("OIDC_CLIENT_SECRET") or ""
        self.OIDC_TIMEOUT_SECONDS = _seconds(env, "PARLEY_OIDC_TIMEOUT_SECONDS", 5.0)
        self.OIDC_PROVISION_ROLE, self.OIDC_PROVISION_OFFICE = _provisioning(env)
        self.PASSWORD_LOGIN = switch(env, "PASSWORD_LOGIN", True)
        self.INBOX_PAGE_SIZE = 25
        self.INBOX_POLL_SECONDS = 3
        # Inbox rows and thread messages kept rendered, per process (webapp/web/fragments.py).
        self.FRAGMENT_CACHE_SIZE = 4096
        # One line per request from gunicorn (gunicorn.conf.py reads the variable); read here too so
        # that a value that is neither on nor off is refused like any other setting.
        self.ACCESS_LOG = switch(env, "PARLEY_ACCESS_LOG", False)


class TestConfig(Config):
    """Tests: a throwaway database, the queue runs tasks inline."""

    TESTING = True

    def __init__(self, instance_path: str, database_url: str) -> None:
        super().__init__(instance_path)
        self.SECRET_KEY = "test-secret-key"
        self.SQLALCHEMY_DATABASE_URI = database_url
        self.QUEUE_IMMEDIATE = True
        self.SQLITE_BACKGROUND_CHECKPOINTS = False
        self.SMS_PROVIDERS = ["console"]
        self.CONTACT_RESOLVERS = ["campaign"]
        self.BOTS = ["kb"]
        self.BOT_TIMEOUT_SECONDS = 5.0
        self.PUBLIC_BASE_URL = "http://parley.test"
        self.OIDC_ISSUER = self.OIDC_CLIENT_ID = self.OIDC_CLIENT_SECRET = ""
        self.OIDC_PROVISION_ROLE = self.OIDC_PROVISION_OFFICE = ""
        self.PASSWORD_LOGIN = True


def _database_url(env: os._Environ, name: str, default: str) -> str:
    """A database URL SQLAlchemy reads, of a database it knows; checked now, since the engine
    would refuse it only with a traceback. The refusal never repeats the URL: it may hold a password."""
    value = (env.get(name) or "").strip() or default
    try:
        make_url(value).get_dialect().import_dbapi()  # its driver too, as the engine will
    except (NoSuchModuleError, ImportError) as exc:
        scheme = value.split(":", 1)[0]
        what = "a database Parley does not know" if isinstance(exc, NoSuchModuleError) else (
            "a database driver that is not installed")  # fmt: skip
        install = ""
        if isinstance(exc, ImportError) and scheme.startswith("postgresql"):  # the `postgres` extra
            install = '; install psycopg: make install, or pip install -e ".[postgres]"'
        raise ConfigurationError(
            f"{name} names {what} ({scheme!r}); use sqlite:///PATH or "
            f"postgresql+psycopg://USER:PASSWORD@HOST:5432/NAME{install}"
        ) from None
    except ArgumentError:  # NoSuchModuleError's parent: unparseable
        raise ConfigurationError(
            f"{name} must be a database URL such as sqlite:///PATH or "
            f"postgresql+psycopg://USER:PASSWORD@HOST:5432/NAME"
        ) from None
    return value


# The least an HS256 key should have (RFC 7518: a key as long as the hash's output, 256 bits).
MIN_EMBED_SECRET = 32


def _embed_secret(env: os._Environ, name: str) -> str:
    """The secret launch tokens are signed with, or "" (embedding off). A `$(…)` command copied
    into a .env file is kept as it is written, a secret anyone can read in the docs: refused. One
    shorter than MIN_EMBED_SECRET is taken (SPEC sets no length), with a warning in the log. Neither
    message repeats the value."""
    value = env.get(name, "")
    if value.startswith("$("):
        raise ConfigurationError(
            f"{name} holds a shell command, not a secret: paste the output of "
            f"python3 -c \"import secrets; print(secrets.token_urlsafe(48))\" "
            f"(a .env file keeps $(…) as it is written)"
        )
    if value and len(value) < MIN_EMBED_SECRET:
        log.warning(
            "%s is %d characters: use at least %d random ones, e.g. the output of python3 -c "
            "\"import secrets; print(secrets.token_urlsafe(48))\" (an HS256 key any shorter can be "
            "guessed offline from one launch token)",
            name, len(value), MIN_EMBED_SECRET,
        )  # fmt: skip
    return value


def _seconds(env: os._Environ, name: str, default: float, zero: bool = False) -> float:
    """A duration: above 0 (or 0 too, with `zero`), at most MAX_SECONDS."""
    value = (env.get(name) or "").strip()
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")  # refused below, like NaN itself
    if not ((seconds >= 0 if zero else seconds > 0) and seconds <= MAX_SECONDS):
        least = "0" if zero else "above 0"
        raise ConfigurationError(
            f"{name} must be a number of seconds, {least} and at most {MAX_SECONDS} (a year), "
            f"not {value!r}"
        )
    return seconds


def _count(env: os._Environ, name: str, default: int, most: int = MAX_COUNT, least: int = 0) -> int:
    value = (env.get(name) or "").strip()
    if not value:
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= 18 and least <= int(value) <= most):
        raise ConfigurationError(f"{name} must be a whole number from {least} to {most}, not {value!r}")
    return int(value)


def _rate_limit(env: os._Environ, name: str, default: str) -> str:
    """One limit in the `limits` notation, read now: the API would read it at its first request."""
    value = (env.get(name) or "").strip()
    if not value:
        return default
    try:
        items = parse_many(value)
    except ValueError:
        items = []
    if len(items) != 1 or items[0].amount < 1:
        raise ConfigurationError(
            f"{name} must be one rate limit such as '300 per minute' or '10/second' "
            f"(second, minute, hour, day, month or year), not {value!r}"
        )
    return value


def _base_url(env: os._Environ, name: str, default: str) -> str:
    """An http(s) URL with a host; without its trailing slash, paths are appended to it."""
    value = (env.get(name) or "").strip() or default
    try:
        parts = urlsplit(value)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
        usable = usable and not parts.query and not parts.fragment
    except ValueError:  # e.g. an unclosed IPv6 bracket
        usable = False
    if not usable:
        raise ConfigurationError(
            f"{name} must be the http:// or https:// URL Parley is reached at, such as "
            f"https://parley.example.edu, not {value!r}"
        )
    return value.rstrip("/")


def secure_url(url: str) -> bool:
    """An https URL with a host, or http to this machine's loopback (a local identity provider,
    tests): nothing between them can read or change what they exchange."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
    if parts.scheme == "https":
        return bool(host)
    return parts.scheme == "http" and _loopback(host)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _issuer(env: os._Environ, name: str) -> str:
    """The identity provider's issuer, or "" (no single sign-on). Its form is checked now, though
    it is contacted only at sign-in: a typo would otherwise wait for the first person signing in.
    OpenID Connect issuers have no query or fragment (the discovery path is appended)."""
    value = (env.get(name) or "").strip()
    if not value:
        return ""
    parts = urlsplit(value) if secure_url(value) else None
    if parts is None or parts.query or parts.fragment or value.endswith(("?", "#")):
        raise ConfigurationError(
            f"{name} must be your identity provider's issuer, an https:// URL with no query such as "
            f"https://login.example.edu (http:// only to this machine, e.g. http://127.0.0.1:8080), "
            f"not {value!r}"
        )
    return value


# How an on/off variable may be spelled (any case); unset or empty leaves its default.
ON = ("1", "true", "yes", "on")
OFF = ("0", "false", "no", "off")


def switch(env: os._Environ, name: str, default: bool) -> bool:
    """On or off. Anything else is refused: read as off, a "True" meant to turn on a setting
    would silently leave it off."""
    raw = env.get(name) or ""
    value = raw.strip().lower()
    if not value:
        return default
    if value in ON:
        return True
    if value in OFF:
        return False
    raise ConfigurationError(
        f"{name} must be on or off: {'/'.join(ON)} or {'/'.join(OFF)} (any case), not {raw!r}"
    )


def _provisioning(env: os._Environ) -> tuple[str, str]:
    """Who single sign-on creates: both set, or neither (nobody is created)."""
    role = (env.get("OIDC_PROVISION_ROLE") or "").strip().lower()
    office = (env.get("OIDC_PROVISION_OFFICE") or "").strip()
    if bool(role) != bool(office):
        raise ConfigurationError("OIDC_PROVISION_ROLE and OIDC_PROVISION_OFFICE must be set together")
    if role and role not in ("standard", "limited"):
        # Never admin: whoever the identity provider vouches for would administer Parley.
        raise ConfigurationError(f"OIDC_PROVISION_ROLE must be standard or limited, not {role!r}")
    return role, office


def _instance_secret(instance: Path) -> str:
    """Without SECRET_KEY, keep a random one in the instance folder so sessions survive restarts."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
