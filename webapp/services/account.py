"""A user's own account: what it is, its password, its sessions elsewhere."""

from __future__ import annotations

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Office, User, office_memberships
from webapp.services import audit, login_throttle, sessions
from webapp.services.directory import check_new_password
from webapp.transactions import read_first


class PasswordRefused(ValueError):
    """The password change was refused, per form field; nothing was changed."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


class TooManyChecks(Exception):
    """The current password was not checked (throttled, or too many checks at once), as at login."""

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_seconds = retry_after_seconds


def offices_of(user_id: int) -> list[Office]:
    return list(
        db.session.scalars(
            select(Office)
            .join(office_memberships, office_memberships.c.office_id == Office.id)
            .where(office_memberships.c.user_id == user_id)
            .order_by(Office.name)
        )
    )


def has_password(user_id: int) -> bool:
    """False for a user made at their first single sign-on, who has no Parley password to change."""
    return db.session.scalar(select(User.password_hash).where(User.id == user_id)) != User.NO_PASSWORD


def change_password(user: User, current: str, new: str, keep_token: str | None, ip: str) -> None:
    """The user's own password change. It ends their other sessions; the one whose token is
    `keep_token` (where they changed it) stays signed in. The caller commits.

    Checking the current password is a sign-in attempt: it is throttled by the user's email and
    `ip`, takes a password-check slot, and a wrong one counts as a failure (committed here).
    Raises TooManyChecks or PasswordRefused, having changed nothing else."""
    with read_first():  # no write lock held while the password waits for its check and is hashed
        throttled = login_throttle.check(user.email, ip)
    if throttled:
        raise TooManyChecks(throttled.message, throttled.retry_after_seconds)
    with login_throttle.password_check_slot() as may_check:
        if not may_check:
            raise TooManyChecks(login_throttle.BUSY_MESSAGE, login_throttle.BUSY_RETRY_AFTER_SECONDS)
        current_ok = user.check_password(current or "")
    errors: dict[str, str] = {}
    if not current_ok:
        login_throttle.record_failure(user.email, ip)
        errors["current_password"] = "That is not your current password; nothing was changed."
    new_refused = check_new_password(new)
    if new_refused:
        errors["new_password"] = new_refused
    if errors:
        raise PasswordRefused(errors)
    user.set_password(new)
    sessions.end_others(user.id, keep_token)
    audit.record(
        user,
        "user.password_set",
        f"{user.name} ({user.email}) changed their own password",
        user.offices,
        {"user_id": user.id},  # never the password
    )
