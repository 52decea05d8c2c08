"""Login throttling: too many failed logins for one email, or from one IP address, within a window
refuse further attempts for it until enough of those failures are older than the window.

The failures live in the database (`LoginFailure`), the one store every web process shares, on
SQLite and PostgreSQL alike, and one that survives a restart. A throttled attempt costs two indexed
reads and no password hashing. Refused attempts are not recorded: the refusal ends when the window
has passed over the failures that caused it, however often the client keeps trying.

Concurrent attempts checked before any of them is recorded may pass the check together, so a
burst can exceed a limit by the number of attempts in flight; the next one is refused.
"""

from __future__ import annotations

import ipaddress
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, insert, select

from webapp.extensions import db
from webapp.models import LoginFailure, utcnow

# Expired rows deleted per recorded failure: bounded work per request, yet more than one, so the
# table shrinks back after a flood.
PRUNE_BATCH = 50
EMAIL_LENGTH = LoginFailure.__table__.c.email.type.length
IP_LENGTH = LoginFailure.__table__.c.ip.type.length


@dataclass(frozen=True)
class Throttled:
    """Why an attempt is refused and for how long (whole seconds, at least 1)."""

    by_email: bool
    retry_after_seconds: int

    @property
    def message(self) -> str:
        minutes = max(1, math.ceil(self.retry_after_seconds / 60))
        when = "1 minute" if minutes == 1 else f"{minutes} minutes"
        whom = "for this email" if self.by_email else "from your network"
        return f"Too many failed sign-ins {whom}. Try again in {when}."


BUSY_MESSAGE = "Many sign-ins are being checked at this moment. Try again in a few seconds."
BUSY_RETRY_AFTER_SECONDS = 1


# How long an attempt may wait for a check to finish (a check takes about a tenth of a second).
SLOT_WAIT_SECONDS = 1.0


@dataclass(frozen=True)
class _Slots:
    checks: threading.BoundedSemaphore  # checks running
    room: threading.BoundedSemaphore  # checks running and attempts waiting for one


def _slots() -> _Slots:
    slots = current_app.extensions.get("parley.password_checks")
    if slots is None:  # the first login of this process; setdefault keeps one if two race here
        size = current_app.config["LOGIN_CHECKS_PER_PROCESS"]
        fresh = _Slots(threading.BoundedSemaphore(size), threading.BoundedSemaphore(2 * size))
        slots = current_app.extensions.setdefault("parley.password_checks", fresh)
    return slots


@contextmanager
def password_check_slot() -> Iterator[bool]:
    """Yields whether this attempt may check a password now. A process runs at most
    LOGIN_CHECKS_PER_PROCESS checks at once; as many attempts again wait for one (up to
    SLOT_WAIT_SECONDS), so that people signing in at the same moment are served in turn, and any
    further attempt is refused at once. A flood therefore holds at most twice that many threads,
    and the others stay free for signed-in agents (docs/security.md has the measurements);
    someone refused retries a moment later."""
    slots = _slots()
    if not slots.room.acquire(blocking=False):
        yield False
        return
    try:
        acquired = slots.checks.acquire(timeout=SLOT_WAIT_SECONDS)
        try:
            yield acquired
        finally:
            if acquired:
                slots.checks.release()
    finally:
        slots.room.release()


def check(email: str, ip: str, now: datetime | None = None) -> Throttled | None:
    """Is a login attempt for `email` from `ip` refused? Call before any password work."""
    config = current_app.config
    now = now or utcnow()
    window = timedelta(seconds=config["LOGIN_WINDOW_SECONDS"])
    email_limit = config["LOGIN_MAX_FAILURES_PER_EMAIL"]
    by_email = _limit_reached(LoginFailure.email, _key(email, EMAIL_LENGTH), email_limit, now - window)
    ip_limit = config["LOGIN_MAX_FAILURES_PER_IP"]
    by_ip = _limit_reached(LoginFailure.ip, _ip_key(ip), ip_limit, now - window)
    ends = [moment for moment in (by_email, by_ip) if moment is not None]
    if not ends:
        return None
    until = max(ends) + window
    seconds = max(1, math.ceil((until - now).total_seconds()))
    return Throttled(by_email=by_email is not None, retry_after_seconds=seconds)


def _limit_reached(column, value: str, limit: int, since: datetime) -> datetime | None:
    """When the `limit`-th most recent failure in the window happened, if there are that many: the
    attempts are refused until it, too, is older than the window. One walk of the index, at most
    `limit` entries long."""
    if limit <= 0:
        return None
    return db.session.scalar(
        select(LoginFailure.failed_at)
        .where(column == value, LoginFailure.failed_at > since)
        .order_by(LoginFailure.failed_at.desc())
        .offset(limit - 1)
        .limit(1)
    )


def record_failure(email: str, ip: str, now: datetime | None = None) -> None:
    """Count a failed login (unknown emails too: the count must not tell which emails exist), and
    delete a bounded batch of failures older than the window. Commits."""
    now = now or utcnow()
    since = now - timedelta(seconds=current_app.config["LOGIN_WINDOW_SECONDS"])
    expired = (
        select(LoginFailure.id).where(LoginFailure.failed_at <= since).limit(PRUNE_BATCH).scalar_subquery()
    )
    db.session.execute(delete(LoginFailure).where(LoginFailure.id.in_(expired)))
    db.session.execute(
        insert(LoginFailure).values(email=_key(email, EMAIL_LENGTH), ip=_ip_key(ip), failed_at=now)
    )
    db.session.commit()


def forget_failures(email: str) -> None:
    """After a successful login: the email's failures no longer count against it. Its IP address's
    failures still do, so one known password cannot wipe a flood's count. The caller commits, with
    the session it starts."""
    db.session.execute(delete(LoginFailure).where(LoginFailure.email == _key(email, EMAIL_LENGTH)))


def _key(value: str, length: int) -> str:
    # The column's width: an overlong email is still counted, never a database error.
    return value[:length]


def _ip_key(ip: str) -> str:
    """An IPv4 client by its address; an IPv6 client by its /64 network, which one client owns
    (and within which it can pick a new address for every attempt)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return _key(ip, IP_LENGTH)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # an IPv4 client seen through an IPv6 socket
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((int(address), 64), strict=False))
    return str(address)
