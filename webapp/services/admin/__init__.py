"""The admin console's rules. An admin manages only the offices they are a member of, and what
those offices own: members, reusable numbers, campaign records. Every change lands in the audit log.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Office, User, office_memberships
from webapp.services.dbutil import row_id


class FormErrors(ValueError):
    """Bad input, per form field; nothing was changed."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


class NotFound(LookupError):
    """Not there, or not in the admin's offices (answered 404: existence is not their business)."""


class Forbidden(PermissionError):
    """The admin may see this but not change it; the message says why (answered 403)."""


class Conflict(ValueError):
    """The change does not apply to the thing as it is now: the message says what became of it
    (answered 409). Nothing was changed."""


class Unavailable(Exception):
    """The input was fine but its work could not be started now (the queue is down): nothing was
    saved, and the same request works later (answered 503 with Retry-After)."""


def my_office_ids_query(admin: User):
    return select(office_memberships.c.office_id).where(office_memberships.c.user_id == admin.id)


def my_office_ids(admin: User) -> set[int]:
    return set(db.session.scalars(my_office_ids_query(admin)))


def my_offices(admin: User) -> list[Office]:
    return list(
        db.session.scalars(
            select(Office).where(Office.id.in_(my_office_ids_query(admin))).order_by(Office.name)
        )
    )


def lock_users(user_ids: Iterable[int]) -> None:
    """Lock these users' rows until the commit. Changing what a user reaches (their offices, the
    numbers they answer) and changing a user take it first, so another admin's scope check cannot
    pass on what a concurrent change is about to make untrue (PostgreSQL; SQLite ignores FOR
    UPDATE and runs one writer at a time anyway)."""
    ids = sorted(set(user_ids))  # one order for every locker: no deadlock between two of them
    if ids:
        db.session.execute(select(User.id).where(User.id.in_(ids)).order_by(User.id).with_for_update())


def read_ids(values: Iterable[str | int]) -> tuple[set[int], list[str]]:
    """Ids from a form's checkboxes or selects, and the values that name no row at all (see
    row_id). The caller refuses those by name: dropping one would save a choice nobody made."""
    ids: set[int] = set()
    unreadable: list[str] = []
    for value in values:
        found = value if isinstance(value, int) else row_id(value)
        if found is None:
            unreadable.append(str(value))
        else:
            ids.add(found)
    return ids, unreadable


def unreadable_error(values: list[str], listed: str) -> str:
    """The error for values that are not ids of `listed` (a form edited or gone stale)."""
    shown = ", ".join(f"“{value[:40]}”" for value in values[:3])
    which = "which is" if len(values) == 1 else "which are"
    return f"The form sent {shown}, {which} not one of the listed {listed}: choose from the list."


def chosen_offices(admin: User, office_ids: set[int]) -> list[Office]:
    """The admin's offices among those chosen; any other id is someone else's and refused."""
    mine = {office.id: office for office in my_offices(admin)}
    if not office_ids <= set(mine):
        raise NotFound("office not in your offices")
    return [mine[office_id] for office_id in sorted(office_ids, key=lambda i: mine[i].name)]
