"""Offices: create, rename (and their HELP reply), list members."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import distinct, func, select

from webapp.extensions import db
from webapp.models import (
    Campaign,
    Office,
    OptOut,
    ReusableNumber,
    User,
    office_memberships,
    utcnow,
)
from webapp.services import audit, directory
from webapp.services.admin import FormErrors, NotFound, lock_users, my_office_ids_query
from webapp.services.segments import OTHER_LINE_BREAKS, control_character_problem, shows_nothing

HELP_TEXT_MAX = 320  # two SMS segments: the automatic answer to HELP/INFO


@dataclass(frozen=True)
class OfficeRow:
    office: Office
    members: int
    numbers: int


def list_offices(admin: User) -> list[OfficeRow]:
    """The admin's offices with member and number counts (three queries, whatever the count)."""
    mine = my_office_ids_query(admin)
    offices = list(db.session.scalars(select(Office).where(Office.id.in_(mine)).order_by(Office.name)))
    members = dict(
        db.session.execute(
            select(office_memberships.c.office_id, func.count())
            .join(User, User.id == office_memberships.c.user_id)
            .where(office_memberships.c.office_id.in_(mine), User.active.is_(True))
            .group_by(office_memberships.c.office_id)
        ).all()
    )
    numbers = dict(
        db.session.execute(
            select(ReusableNumber.office_id, func.count())
            .where(ReusableNumber.office_id.in_(mine), ReusableNumber.active.is_(True))
            .group_by(ReusableNumber.office_id)
        ).all()
    )
    return [OfficeRow(o, members.get(o.id, 0), numbers.get(o.id, 0)) for o in offices]


def office_for_admin(admin: User, office_id: int) -> Office:
    office = db.session.scalar(
        select(Office).where(Office.id == office_id, Office.id.in_(my_office_ids_query(admin)))
    )
    if office is None:
        raise NotFound("office not found")
    return office


def members(office: Office) -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .join(office_memberships, office_memberships.c.user_id == User.id)
            .where(office_memberships.c.office_id == office.id)
            .order_by(User.active.desc(), User.name)
        )
    )


def _check_name(name: str, office: Office | None = None) -> str:
    name = (name or "").strip()
    if not name:
        raise FormErrors({"name": "Enter the office's name."})
    if len(name) > 120:
        raise FormErrors({"name": "An office name can be at most 120 characters."})
    if problem := directory.name_problem(name):
        raise FormErrors({"name": f"An office name {problem}."})
    name = directory.office_name(name)
    unchanged = office is not None and name == office.name
    if not unchanged and directory.office_name_taken(name, office.id if office else None):
        raise FormErrors({"name": f"An office named “{name}” already exists."})
    return name


def _check_help_text(help_text: str) -> str:
    help_text = (help_text or "").replace("\r\n", "\n").translate(OTHER_LINE_BREAKS).strip()
    if shows_nothing(help_text):
        return ""  # the default HELP reply, not a text that looks empty
    if len(help_text) > HELP_TEXT_MAX:
        raise FormErrors({"help_text": f"Keep the HELP reply to {HELP_TEXT_MAX} characters."})
    if problem := control_character_problem(help_text):
        raise FormErrors({"help_text": problem})
    return help_text


def create_office(admin: User, name: str, help_text: str = "") -> Office:
    """A new office; its creator joins it, so it is theirs to manage from then on."""
    name = _check_name(name)
    help_text = _check_help_text(help_text)
    try:
        office = directory.create_office(name, help_text=help_text)
    except directory.DirectoryError as exc:  # the same rules; kept for a racing duplicate
        raise FormErrors({"name": str(exc)}) from None
    lock_users([admin.id])  # joining an office: see lock_users
    db.session.execute(office_memberships.insert().values(user_id=admin.id, office_id=office.id))
    audit.record(admin, "office.created", f"Created office {office.name}", [office])
    return office


def update_office(admin: User, office: Office, name: str, help_text: str) -> bool:
    """Rename an office or change its HELP reply. False when nothing changed."""
    errors: dict[str, str] = {}
    try:
        name = _check_name(name, office)
    except FormErrors as exc:
        errors.update(exc.errors)
    try:
        help_text = _check_help_text(help_text)
    except FormErrors as exc:
        errors.update(exc.errors)
    if errors:
        raise FormErrors(errors)
    changes = []
    if name != office.name:
        changes.append(f"renamed {office.name} to {name}")
    if help_text != office.help_text:
        changes.append("changed its HELP reply")
    if not changes:
        return False
    summary = f"Office {office.name}: " + " and ".join(changes)
    detail = {"name": [office.name, name], "help_text_changed": help_text != office.help_text}
    office.name = name
    office.help_text = help_text
    audit.record(admin, "office.updated", summary, [office], detail)
    return True


@dataclass(frozen=True)
class Overview:
    offices: list[OfficeRow]
    users: int
    numbers: int
    campaigns: dict[str, int]  # by status
    recent_changes: int  # audit events of the last 7 days
    opt_outs: int  # phones opted out, organisation-wide


def overview(admin: User) -> Overview:
    """The console's front page: what the admin's offices have, in a few grouped counts."""
    mine = my_office_ids_query(admin)
    rows = list_offices(admin)
    users = db.session.scalar(
        select(func.count(distinct(office_memberships.c.user_id)))
        .join(User, User.id == office_memberships.c.user_id)
        .where(office_memberships.c.office_id.in_(mine), User.active.is_(True))
    )
    campaigns = dict(
        db.session.execute(
            select(Campaign.status, func.count())
            .where(Campaign.office_id.in_(mine))
            .group_by(Campaign.status)
        ).all()
    )
    return Overview(
        offices=rows,
        users=users or 0,
        numbers=sum(row.numbers for row in rows),
        campaigns=campaigns,
        recent_changes=audit.count_since(admin, utcnow() - timedelta(days=7)),
        opt_outs=db.session.scalar(select(func.count()).select_from(OptOut)) or 0,
    )
