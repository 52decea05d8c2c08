"""A user's own account: what it is, its password, its sessions elsewhere."""

from __future__ import annotations

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Office, User, office_memberships
from webapp.services import audit, sessions
from webapp.services.directory import MIN_PASSWORD_LENGTH

MAX_PASSWORD_LENGTH = 200  # as the admin console's rule


class PasswordRefused(ValueError):
    """The password change was refused, per form field; nothing was changed."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def offices_of(user_id: int) -> list[Office]:
    return list(
        db.session.scalars(
            select(Office)
            .join(office_memberships, office_memberships.c.office_id == Office.id)
            .where(office_memberships.c.user_id == user_id)
            .order_by(Office.name)
        )
    )


def change_password(user: User, current: str, new: str, keep_token: str | None) -> None:
    """The user's own password change. It ends their other sessions; the one whose token is
    `keep_token` (where they changed it) stays signed in. The caller commits."""
    errors: dict[str, str] = {}
    if not user.check_password(current or ""):
        errors["current_password"] = "That is not your current password; nothing was changed."
    if len(new or "") < MIN_PASSWORD_LENGTH:
        errors["new_password"] = f"A password needs at least {MIN_PASSWORD_LENGTH} characters."
    elif len(new) > MAX_PASSWORD_LENGTH:
        errors["new_password"] = f"A password can be at most {MAX_PASSWORD_LENGTH} characters."
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
