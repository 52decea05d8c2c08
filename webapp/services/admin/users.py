"""Users: create, change role and offices, deactivate and reactivate, set a new password.

An admin sees the users who share an office with them, but changes a user only when everything that
user reaches is the admin's: every office they belong to, and the office of every number they are an
assigned agent of. Otherwise an admin could set a password and sign in as someone with access to an
office they do not administer. An admin cannot take away their own admin role or deactivate
themselves, and grants only offices they belong to.

A user in no office (made on the command line) is everyone's to place in an office, except an
administrator: another admin taking over that account would hold it wherever it goes next. For the
same reason nobody but the user sets the password of a user in no office: an admin who did could
sign in as them once another office's admin had placed them.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import Office, ReusableNumber, Role, User, number_agents, office_memberships
from webapp.services import audit, sessions
from webapp.services.admin import (
    Forbidden,
    FormErrors,
    NotFound,
    chosen_offices,
    my_office_ids,
    my_office_ids_query,
    read_ids,
    unreadable_error,
)
from webapp.services.directory import EMAIL_PATTERN, check_new_password, name_problem

ROLE_CHOICES = [(role.value, role.label) for role in Role]


def _visible_to(admin: User):
    """Members of one of the admin's offices, and users in no office at all."""
    membership = office_memberships.c.user_id == User.id
    return or_(
        exists().where(membership, office_memberships.c.office_id.in_(my_office_ids_query(admin))),
        ~exists().where(membership),
    )


def list_users(admin: User) -> list[User]:
    """Users the admin sees, active first, with their offices loaded in one more query."""
    return list(
        db.session.scalars(
            select(User)
            .options(selectinload(User.offices))
            .where(_visible_to(admin))
            .order_by(User.active.desc(), User.name, User.id)
        )
    )


def user_for_admin(admin: User, user_id: int) -> User:
    user = db.session.scalar(
        select(User).options(selectinload(User.offices)).where(User.id == user_id, _visible_to(admin))
    )
    if user is None:
        raise NotFound("user not found")
    return user


def _agent_offices(user_ids: list[int]) -> dict[int, list[Office]]:
    """Per user, the offices of the numbers they are an assigned agent of (one query)."""
    found: dict[int, list[Office]] = {user_id: [] for user_id in user_ids}
    if not user_ids:
        return found
    rows = db.session.execute(
        select(number_agents.c.user_id, Office)
        .join(ReusableNumber, ReusableNumber.id == number_agents.c.number_id)
        .join(Office, Office.id == ReusableNumber.office_id)
        .where(number_agents.c.user_id.in_(user_ids))
        .distinct()
    )
    for user_id, office in rows:
        found[user_id].append(office)
    return found


def _names(offices: list[Office]) -> str:
    names = sorted({office.name for office in offices})
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _refusal(admin: User, user: User, mine: set[int], agent_offices: list[Office]) -> str | None:
    if user.id == admin.id:
        return None  # whatever they reach, they already are this user
    members = [office for office in user.offices if office.id not in mine]
    agents = [office for office in agent_offices if office.id not in mine]
    if members or agents:
        parts = []
        if members:
            parts.append(f"a member of {_names(members)}")
        if agents:
            parts.append(f"an assigned agent of numbers of {_names(agents)}")
        return (
            f"Also {' and '.join(parts)}, which you do not administer: only an administrator "
            "of all of this user's offices can change them."
        )
    if not user.offices and user.role == Role.ADMIN:
        return (
            "An administrator in no office: no other admin can change this account, so that it "
            "cannot be taken over. They can still change it themselves."
        )
    return None


def refusal(admin: User, user: User) -> str | None:
    """Why this admin may not change this user (shown in the console, and the 403's message), or
    None when they may."""
    return _refusal(admin, user, my_office_ids(admin), _agent_offices([user.id])[user.id])


def refusals(admin: User, users: list[User]) -> dict[int, str]:
    """`refusal` for a list of users, in two queries whatever its length."""
    mine = my_office_ids(admin)
    agent_offices = _agent_offices([user.id for user in users])
    reasons = {user.id: _refusal(admin, user, mine, agent_offices[user.id]) for user in users}
    return {user_id: reason for user_id, reason in reasons.items() if reason}


def _check_manageable(admin: User, user: User) -> None:
    """Lock the user's row, read their offices afresh, then check: an admin adding them to an
    office meanwhile waits for this change's commit, or this check sees their addition."""
    db.session.scalar(
        select(User)
        .options(selectinload(User.offices))
        .where(User.id == user.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    reason = refusal(admin, user)
    if reason:
        raise Forbidden(reason)


def _check_name(name: str, errors: dict[str, str]) -> str:
    name = (name or "").strip()
    if not name:
        errors["name"] = "Enter the person's name."
    elif len(name) > 120:
        errors["name"] = "A name can be at most 120 characters."
    elif problem := name_problem(name):
        errors["name"] = f"A name {problem}."
    return name


def _check_role(role: str, errors: dict[str, str]) -> str:
    if role not in {r.value for r in Role}:
        errors["role"] = "Choose a role."
    return role


def _check_password(password: str, errors: dict[str, str], field: str = "password") -> str:
    refusal = check_new_password(password)
    if refusal:
        errors[field] = refusal
    return password


def _check_offices(
    admin: User, office_ids: Iterable[str | int], errors: dict[str, str]
) -> list[Office]:
    office_ids, unreadable = read_ids(office_ids)
    if unreadable:  # refused, not skipped: the user would leave an office nobody took away
        errors["offices"] = unreadable_error(unreadable, "offices")
        return []
    try:
        return chosen_offices(admin, office_ids)
    except NotFound:
        errors["offices"] = "Choose offices you manage."
        return []


def create_user(
    admin: User, name: str, email: str, role: str, office_ids: Iterable[str | int], password: str
) -> User:
    errors: dict[str, str] = {}
    name = _check_name(name, errors)
    email = (email or "").strip().lower()
    if not EMAIL_PATTERN.match(email) or len(email) > 254:
        errors["email"] = "Enter an email address, like name@college.edu."
    elif db.session.scalar(select(User.id).where(User.email == email)):
        errors["email"] = f"{email} already has an account; each person signs in with one email."
    role = _check_role(role, errors)
    offices = _check_offices(admin, office_ids, errors)
    if not offices and "offices" not in errors:
        errors["offices"] = "Choose at least one office."
    _check_password(password, errors)
    if errors:
        raise FormErrors(errors)
    user = User(email=email, name=name, role=role)
    user.set_password(password)
    user.offices = offices
    db.session.add(user)
    db.session.flush()
    audit.record(
        admin,
        "user.created",
        f"Created {user.name} ({email}) as {user.role_label} in "
        + ", ".join(office.name for office in offices),
        offices,
        {"user_id": user.id, "role": role, "offices": [o.id for o in offices]},
    )
    return user


def update_user(
    admin: User, user: User, name: str, role: str, office_ids: Iterable[str | int]
) -> bool:
    """Change a user's name, role and offices (all of them the admin's). False: no change.

    Raises Forbidden, having changed nothing, when the admin may not manage this user."""
    _check_manageable(admin, user)
    errors: dict[str, str] = {}
    name = _check_name(name, errors)
    role = _check_role(role, errors)
    if user.id == admin.id and role != Role.ADMIN and "role" not in errors:
        errors["role"] = "You cannot remove your own admin role; ask another admin to do it."
    offices = _check_offices(admin, office_ids, errors)
    if not offices and "offices" not in errors:
        errors["offices"] = "A user needs at least one office."
    if not errors:
        staying = {office.id for office in offices} if role == Role.ADMIN else set()
        orphaned = _left_without_an_admin(user, staying)
        if orphaned:
            errors["offices"] = (
                f"{_names(orphaned)} would have no administrator left: make someone else an admin "
                "of it first."
            )
    if errors:
        raise FormErrors(errors)

    changes: list[str] = []
    before = {office.id: office for office in user.offices}
    after = {office.id: office for office in offices}
    if name != user.name:
        changes.append(f"name {user.name} → {name}")
    if role != user.role:
        changes.append(f"role {user.role_label} → {Role(role).label}")
    added = [after[i].name for i in after if i not in before]
    removed = [before[i].name for i in before if i not in after]
    if added:
        changes.append("added to " + ", ".join(added))
    if removed:
        changes.append("removed from " + ", ".join(removed))
    if not changes:
        return False
    detail = {
        "user_id": user.id,
        "role": [user.role, role],
        "offices": [sorted(before), sorted(after)],
    }
    label = user.name
    user.name = name
    if role != user.role:
        sessions.end_all(user.id)  # they sign in again, under the new role
    user.role = role
    user.offices = offices
    # Both the offices it left and the ones it joined see the change.
    audit.record(
        admin,
        "user.updated",
        f"{label}: " + "; ".join(changes),
        [*before.values(), *offices],
        detail,
    )
    return True


def _left_without_an_admin(user: User, still_admin_of: set[int]) -> list[Office]:
    """The offices an active admin leaves (all of theirs but `still_admin_of`) where no other
    active admin would be left: nobody could then manage them in the console."""
    if not (user.active and user.role == Role.ADMIN):
        return []
    leaving = [office for office in user.offices if office.id not in still_admin_of]
    return [
        office
        for office in leaving
        if not db.session.scalar(
            select(
                exists().where(
                    office_memberships.c.office_id == office.id,
                    office_memberships.c.user_id == User.id,
                    User.id != user.id,
                    User.role == Role.ADMIN.value,
                    User.active.is_(True),
                )
            )
        )
    ]


def set_active(admin: User, user: User, active: bool) -> bool:
    """Deactivate (cannot sign in; messages and history stay) or reactivate a user.

    Raises Forbidden, having changed nothing, when the admin may not manage this user."""
    _check_manageable(admin, user)
    if not active and user.id == admin.id:
        raise FormErrors({"active": "You cannot deactivate your own account."})
    if user.active == active:
        return False
    user.active = active
    if not active:
        sessions.end_all(user.id)
    kind = "user.reactivated" if active else "user.deactivated"
    verb = "Reactivated" if active else "Deactivated"
    audit.record(admin, kind, f"{verb} {user.name} ({user.email})", user.offices, {"user_id": user.id})
    return True


def password_refusal(admin: User, user: User) -> str | None:
    """Why this admin may not set this user's password beyond `refusal`: the user is in no office."""
    if user.offices or user.id == admin.id:
        return None
    return (
        "This user is in no office yet: add them to one of your offices first, then set their "
        "password."
    )


def set_password(admin: User, user: User, password: str, keep_token: str | None = None) -> None:
    """Raises Forbidden, having changed nothing, when the admin may not manage this user."""
    _check_manageable(admin, user)
    reason = password_refusal(admin, user)
    if reason:
        raise Forbidden(reason)
    errors: dict[str, str] = {}
    _check_password(password, errors, field="new_password")
    if errors:
        raise FormErrors(errors)
    user.set_password(password)
    # Ends the user's sessions; `keep_token`, the admin's own, survives setting their own password.
    sessions.end_others(user.id, keep_token)
    audit.record(
        admin,
        "user.password_set",
        f"Set a new password for {user.name} ({user.email})",
        user.offices,
        {"user_id": user.id},  # never the password
    )
