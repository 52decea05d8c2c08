"""Users: create, change role and offices, deactivate and reactivate, set a new password.

An admin manages the users of their own offices. Memberships in offices that are not theirs are
kept as they are; an admin cannot take away their own admin role or deactivate themselves.
"""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import Office, Role, User, office_memberships
from webapp.services import audit
from webapp.services.admin import FormErrors, NotFound, chosen_offices, my_office_ids_query
from webapp.services.directory import EMAIL_PATTERN, MIN_PASSWORD_LENGTH

ROLE_CHOICES = [(role.value, role.label) for role in Role]


def _in_my_offices(admin: User):
    return exists().where(
        office_memberships.c.user_id == User.id,
        office_memberships.c.office_id.in_(my_office_ids_query(admin)),
    )


def list_users(admin: User) -> list[User]:
    """Users of the admin's offices, active first, with their offices loaded in one more query."""
    return list(
        db.session.scalars(
            select(User)
            .options(selectinload(User.offices))
            .where(_in_my_offices(admin))
            .order_by(User.active.desc(), User.name, User.id)
        )
    )


def user_for_admin(admin: User, user_id: int) -> User:
    user = db.session.scalar(
        select(User).options(selectinload(User.offices)).where(User.id == user_id, _in_my_offices(admin))
    )
    if user is None:
        raise NotFound("user not found")
    return user


def _check_name(name: str, errors: dict[str, str]) -> str:
    name = (name or "").strip()
    if not name:
        errors["name"] = "Enter the person's name."
    elif len(name) > 120:
        errors["name"] = "A name can be at most 120 characters."
    return name


def _check_role(role: str, errors: dict[str, str]) -> str:
    if role not in {r.value for r in Role}:
        errors["role"] = "Choose a role."
    return role


def _check_password(password: str, errors: dict[str, str], field: str = "password") -> str:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        errors[field] = f"A password needs at least {MIN_PASSWORD_LENGTH} characters."
    elif len(password) > 200:
        errors[field] = "A password can be at most 200 characters."
    return password


def _check_offices(admin: User, office_ids: set[int], errors: dict[str, str]) -> list[Office]:
    try:
        return chosen_offices(admin, office_ids)
    except NotFound:
        errors["offices"] = "Choose offices you manage."
        return []


def create_user(admin: User, name: str, email: str, role: str, office_ids: set[int], password: str) -> User:
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


def update_user(admin: User, user: User, name: str, role: str, office_ids: set[int]) -> bool:
    """Change a user's name, role and memberships in the admin's offices. False: no change."""
    errors: dict[str, str] = {}
    name = _check_name(name, errors)
    role = _check_role(role, errors)
    if user.id == admin.id and role != Role.ADMIN and "role" not in errors:
        errors["role"] = "You cannot remove your own admin role; ask another admin to do it."
    chosen = _check_offices(admin, office_ids, errors)
    mine = set(db.session.scalars(my_office_ids_query(admin)))
    kept = [office for office in user.offices if office.id not in mine]  # not this admin's
    offices = sorted(kept + chosen, key=lambda office: office.name)
    if not offices and "offices" not in errors:
        errors["offices"] = "A user needs at least one office."
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


def set_active(admin: User, user: User, active: bool) -> bool:
    """Deactivate (cannot sign in; messages and history stay) or reactivate a user."""
    if not active and user.id == admin.id:
        raise FormErrors({"active": "You cannot deactivate your own account."})
    if user.active == active:
        return False
    user.active = active
    kind = "user.reactivated" if active else "user.deactivated"
    verb = "Reactivated" if active else "Deactivated"
    audit.record(admin, kind, f"{verb} {user.name} ({user.email})", user.offices, {"user_id": user.id})
    return True


def set_password(admin: User, user: User, password: str) -> None:
    errors: dict[str, str] = {}
    _check_password(password, errors, field="new_password")
    if errors:
        raise FormErrors(errors)
    user.set_password(password)
    audit.record(
        admin,
        "user.password_set",
        f"Set a new password for {user.name} ({user.email})",
        user.offices,
        {"user_id": user.id},  # never the password
    )
