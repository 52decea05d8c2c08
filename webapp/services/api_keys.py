"""API keys: created and revoked by admins (console or CLI), checked on every API request.

A key is 32 random bytes, shown once when it is made; only its SHA-256 is kept. A plain hash (not
a password hash) is right here: the key is random and long, so there is nothing to guess, and every
API request looks its key up by the hash in one indexed query.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import ApiKey, Office, User, utcnow
from webapp.services import audit
from webapp.services.directory import name_key, name_problem

KEY_PREFIX = "parley_"
NAME_MAX = 80
# last_used_at is written at most this often per key, so that reads stay reads.
LAST_USED_GRANULARITY = timedelta(minutes=1)


class ApiKeyError(ValueError):
    """Bad input for a key (its name, its office); nothing was changed."""


@dataclass(frozen=True)
class NewKey:
    """A key just made: `secret` is the only time the key itself is seen."""

    key: ApiKey
    secret: str


@dataclass(frozen=True)
class Caller:
    """The key a request proved, by its columns: what the API needs to scope and author."""

    key_id: int
    name: str
    office_id: int
    last_used_at: datetime | None


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ApiKeyError("Give the key a name, e.g. the CRM that will use it.")
    # Checked before runs of spaces are joined, which would turn a line break into a space.
    if problem := name_problem(name):
        raise ApiKeyError(f"A key's name {problem}.")
    name = " ".join(name.split())
    if len(name) > NAME_MAX:
        raise ApiKeyError(f"A key's name can be at most {NAME_MAX} characters.")
    return name


def create_key(name: str, office: Office, created_by: User | None) -> NewKey:
    """A new key of `office`, audited; the caller commits. Names are unique among the office's
    active keys, letter case aside."""
    name = _clean_name(name)
    # Messages are authored by the key's name: "slate" would not tell them from "Slate"'s.
    alike = _active_keys_alike(name, office.id)
    taken = (
        f"{office.name} has an active key named {(alike[0].name if alike else name)!r} already; "
        "choose another name."
    )
    if alike:
        raise ApiKeyError(taken)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=name,
        office_id=office.id,
        key_hash=hash_key(secret),
        prefix=secret[: len(KEY_PREFIX) + 4],
        created_by_id=created_by.id if created_by is not None else None,
    )
    db.session.add(key)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise ApiKeyError(taken) from None
    audit.record(
        created_by, "api_key.created", f"API key {name} created for {office.name}", offices=[office],
        detail={"key_id": key.id, "prefix": key.prefix},
    )
    return NewKey(key, secret)


def revoke_key(key: ApiKey, revoked_by: User | None) -> None:
    """Revoke a key: its next request gets 401. Audited; the caller commits."""
    if key.revoked_at is not None:
        return
    key.revoked_at = utcnow()
    audit.record(
        revoked_by, "api_key.revoked", f"API key {key.name} revoked", offices=[key.office],
        detail={"key_id": key.id, "prefix": key.prefix},
    )


def key_by_id(key_id: int) -> ApiKey | None:
    return db.session.get(ApiKey, key_id)


def check_name(name: str) -> None:
    """Raise ApiKeyError when `name` can be no key's name, whatever its office."""
    _clean_name(name)


def _active_keys_alike(name: str, office_id: int | None = None) -> list[ApiKey]:
    """The active keys (of one office) whose name reads as `name`, letter case aside, as office
    names are compared (`directory.name_key`). In Python: SQLite's lower() folds ASCII letters only,
    and keys are few."""
    query = select(ApiKey).where(ApiKey.revoked_at.is_(None)).order_by(ApiKey.office_id, ApiKey.id)
    if office_id is not None:
        query = query.where(ApiKey.office_id == office_id)
    wanted = name_key(name)
    return [key for key in db.session.scalars(query) if name_key(key.name) == wanted]


def active_keys_named(name: str) -> list[ApiKey]:
    """The active keys of that name, letter case aside, one per office (where keys made before
    case was compared read alike, the one written exactly so)."""
    written = " ".join(name.split())
    keys = _active_keys_alike(name)
    exact = {key.office_id for key in keys if key.name == written}
    return [key for key in keys if key.office_id not in exact or key.name == written]


def keys_of_offices(office_ids: set[int]) -> list[ApiKey]:
    """The keys of these offices, active first, newest first (for the admin console)."""
    if not office_ids:
        return []
    return list(
        db.session.scalars(
            select(ApiKey)
            .where(ApiKey.office_id.in_(office_ids))
            .order_by(ApiKey.revoked_at.is_not(None), ApiKey.id.desc())
        )
    )


# Built once: every API request runs it.
CALLER = select(ApiKey.id, ApiKey.name, ApiKey.office_id, ApiKey.last_used_at).where(
    ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None)
)


def caller_for(secret: str) -> Caller | None:
    """The active key whose secret this is, or None (unknown or revoked)."""
    if not secret:
        return None
    row = db.session.execute(CALLER, {"key_hash": hash_key(secret)}).first()
    return Caller(*row) if row else None


def needs_last_used(caller: Caller, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return caller.last_used_at is None or now - caller.last_used_at >= LAST_USED_GRANULARITY


def mark_used(caller: Caller) -> None:
    """Record that the key was used now; the caller commits."""
    db.session.execute(update(ApiKey).where(ApiKey.id == caller.key_id).values(last_used_at=utcnow()))
