"""Reusable numbers: add, edit, deactivate, and their Unsolicited Message Settings.

Access is computed live from the assignments (services/access.py), so a change reaches every
user's compose From list and inbox at once. A number's backing is copied into each conversation
when it starts, so a new backing applies to new conversations from then on.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import exists, select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import Backing, Office, ReusableNumber, User, office_memberships
from webapp.services import audit, offices
from webapp.services.admin import (
    FormErrors,
    NotFound,
    chosen_offices,
    lock_users,
    my_office_ids_query,
    my_offices,
    read_ids,
    unreadable_error,
)
from webapp.services.directory import MAX_DESCRIPTION_LENGTH, MAX_NAME_LENGTH, name_problem
from webapp.services.phones import PhoneError, format_phone, parse_e164

BACKING_CHOICES = [
    (Backing.AGENT.value, "Agent", "Staff answer replies; a reply needs attention."),
    (Backing.BOT.value, "Bot", "A bot answers replies; it hands over to staff when it must."),
]


def list_numbers(admin: User) -> list[ReusableNumber]:
    """Numbers owned by the admin's offices, with their assignments (no query per row)."""
    return list(
        db.session.scalars(
            select(ReusableNumber)
            .options(
                selectinload(ReusableNumber.office),
                selectinload(ReusableNumber.agents),
                selectinload(ReusableNumber.inboxes),
            )
            .where(ReusableNumber.office_id.in_(my_office_ids_query(admin)))
            .order_by(ReusableNumber.active.desc(), ReusableNumber.label, ReusableNumber.phone)
        )
    )


def number_for_admin(admin: User, number_id: int) -> ReusableNumber:
    number = db.session.scalar(
        select(ReusableNumber).where(
            ReusableNumber.id == number_id,
            ReusableNumber.office_id.in_(my_office_ids_query(admin)),
        )
    )
    if number is None:
        raise NotFound("number not found")
    return number


def assignable_agents(admin: User, number: ReusableNumber | None = None) -> list[User]:
    """Who may be an assigned agent: active users of the admin's offices, and the number's own
    assigned agents, from wherever (another office's, placed on the command line), so that its
    admin sees them and can take them off."""
    member = exists().where(
        office_memberships.c.user_id == User.id,
        office_memberships.c.office_id.in_(my_office_ids_query(admin)),
    )
    ours = list(
        db.session.scalars(select(User).where(member, User.active.is_(True)).order_by(User.name, User.id))
    )
    known = {user.id for user in ours}
    theirs = [user for user in (number.agents if number else []) if user.id not in known]
    return sorted(ours + theirs, key=lambda user: (user.name, user.id))


def assignable_inboxes(admin: User, number: ReusableNumber | None = None) -> list[Office]:
    """The admin's offices, and the number's own assigned inboxes of other offices (see
    assignable_agents)."""
    ours = my_offices(admin)
    known = {office.id for office in ours}
    theirs = [office for office in (number.inboxes if number else []) if office.id not in known]
    return sorted(ours + theirs, key=lambda office: (office.name, office.id))


def _details(
    admin: User,
    office_id: int | str | None,
    label: str,
    description: str,
    provider: str,
    enabled_providers: list[str],
    errors: dict[str, str],
) -> tuple[Office | None, str, str]:
    office = None
    if office_id is None or not str(office_id).strip():
        errors["office"] = "Choose the office that owns this number."
    else:
        office_ids, unreadable = read_ids([office_id])
        if not unreadable:
            try:
                office = chosen_offices(admin, office_ids)[0]
            except NotFound:
                pass
        if office is None:
            errors["office"] = "Choose one of your offices."
    label = (label or "").strip()
    if not label:
        errors["label"] = "Give the number a label agents will recognise, like “Admissions Main”."
    elif len(label) > MAX_NAME_LENGTH:
        errors["label"] = f"A label can be at most {MAX_NAME_LENGTH} characters."
    elif problem := name_problem(label):  # as `numbers add` and every other name
        errors["label"] = f"A label {problem}."
    description = (description or "").strip()
    if len(description) > MAX_DESCRIPTION_LENGTH:
        errors["description"] = f"A description can be at most {MAX_DESCRIPTION_LENGTH:,} characters."
    if provider not in enabled_providers:
        enabled = ", ".join(enabled_providers) or "none"
        errors["provider"] = f"Choose an enabled SMS provider ({enabled})."
    return office, label, description


def _deactivated_members(admin: User, user_ids: set[int]) -> list[User]:
    """Those of `user_ids` who are deactivated users of the admin's offices (a form opened before
    they were deactivated), by name."""
    member = exists().where(
        office_memberships.c.user_id == User.id,
        office_memberships.c.office_id.in_(my_office_ids_query(admin)),
    )
    return list(
        db.session.scalars(
            select(User).where(User.id.in_(user_ids), User.active.is_(False), member).order_by(User.name)
        )
    )


def _settings(
    admin: User,
    number: ReusableNumber | None,
    backing: str,
    agent_ids: Iterable[str | int],
    inbox_ids: Iterable[str | int],
    errors: dict[str, str],
) -> tuple[list[User], list[Office]]:
    """The assignments after the change: the admin's choices among their own users and offices
    and the number's assignments outside them (kept while ticked, removed when not). An id the
    admin may not choose is refused, never skipped: the number would lose an assignment nobody
    took away."""
    if backing not in {b.value for b in Backing}:
        errors["backing"] = "Choose who answers replies: agent or bot."
    agent_ids, unreadable_agents = read_ids(agent_ids)
    candidates = {user.id: user for user in assignable_agents(admin, number)}
    if unreadable_agents:
        errors["agents"] = unreadable_error(unreadable_agents, "agents")
    elif not agent_ids <= set(candidates):
        deactivated = _deactivated_members(admin, agent_ids - set(candidates))
        if deactivated:
            names = ", ".join(user.name for user in deactivated)
            errors["agents"] = (
                f"{names} {'is' if len(deactivated) == 1 else 'are'} deactivated: only active "
                "users can be assigned agents."
            )
        else:
            errors["agents"] = "Choose agents from your offices."
    inbox_ids, unreadable_inboxes = read_ids(inbox_ids)
    inboxes = []
    if unreadable_inboxes:
        errors["inboxes"] = unreadable_error(unreadable_inboxes, "inboxes")
    else:
        choices = {office.id: office for office in assignable_inboxes(admin, number)}
        if inbox_ids <= set(choices):
            inboxes = [choices[i] for i in sorted(inbox_ids, key=lambda i: choices[i].name)]
        else:
            errors["inboxes"] = "Choose inboxes of your offices."
    agents = [candidates[i] for i in sorted(agent_ids) if i in candidates]
    # A new agent reaches the number's office: see lock_users.
    lock_users({a.id for a in agents} - {a.id for a in (number.agents if number else [])})
    return agents, inboxes


def add_number(
    admin: User,
    phone: str,
    office_id: int | str | None,
    label: str,
    description: str,
    provider: str,
    enabled_providers: list[str],
    backing: str,
    agent_ids: Iterable[str | int],
    inbox_ids: Iterable[str | int],
) -> ReusableNumber:
    errors: dict[str, str] = {}
    e164 = ""
    try:
        e164 = parse_e164(phone)
    except PhoneError as exc:
        errors["phone"] = str(exc)
    else:
        if db.session.scalar(select(ReusableNumber.id).where(ReusableNumber.phone == e164)):
            errors["phone"] = f"{e164} is already a reusable number; each number can be added once."
    office, label, description = _details(
        admin, office_id, label, description, provider, enabled_providers, errors
    )
    agents, inboxes = _settings(admin, None, backing, agent_ids, inbox_ids, errors)
    if errors:
        raise FormErrors(errors)
    number = ReusableNumber(
        phone=e164,
        office=office,
        label=label,
        description=description,
        provider=provider,
        backing=backing,
    )
    number.agents = agents
    number.inboxes = inboxes
    db.session.add(number)
    db.session.flush()
    audit.record(
        admin,
        "number.added",
        f"Added {format_phone(e164)} “{label}” to {office.name} ({backing}-backed, {provider}); "
        + _assignment_text(agents, inboxes),
        [office, *inboxes],
        {"number_id": number.id, "phone": e164},
    )
    return number


def update_number(
    admin: User,
    number: ReusableNumber,
    office_id: int | str | None,
    label: str,
    description: str,
    provider: str,
    enabled_providers: list[str],
) -> bool:
    """Edit the office, label, description and provider. False when nothing changed."""
    errors: dict[str, str] = {}
    office, label, description = _details(
        admin, office_id, label, description, provider, enabled_providers, errors
    )
    if errors:
        raise FormErrors(errors)
    changes = []
    if office.id != number.office_id:
        changes.append(f"office {number.office.name} → {office.name}")
    if label != number.label:
        changes.append(f"label “{number.label}” → “{label}”")
    if description != number.description:
        changes.append("description changed")
    if provider != number.provider:
        changes.append(f"provider {number.provider} → {provider}")
    if not changes:
        return False
    previous_office = number.office
    moved = office.id != number.office_id
    if moved:
        lock_users(agent.id for agent in number.agents)  # they reach the new office: see lock_users
    number.office = office
    number.label = label
    number.description = description
    number.provider = provider
    detail: dict = {"number_id": number.id}
    held = ""
    if moved:  # its texts held by the old office's quiet hours go by the new office's
        db.session.flush()
        held = offices.retime_holds_by_its_quiet_hours(office, detail)
    audit.record(
        admin,
        "number.updated",
        f"{format_phone(number.phone)}: " + "; ".join(changes) + held,
        [previous_office, office],
        detail,
    )
    return True


def update_settings(
    admin: User,
    number: ReusableNumber,
    backing: str,
    agent_ids: Iterable[str | int],
    inbox_ids: Iterable[str | int],
) -> bool:
    """The Unsolicited Message Settings. False when nothing changed."""
    errors: dict[str, str] = {}
    agents, inboxes = _settings(admin, number, backing, agent_ids, inbox_ids, errors)
    if errors:
        raise FormErrors(errors)
    changes = []
    if backing != number.backing:
        changes.append(f"backing {number.backing} → {backing} (for new conversations)")
    before_agents, after_agents = {a.id for a in number.agents}, {a.id for a in agents}
    before_inboxes, after_inboxes = {o.id for o in number.inboxes}, {o.id for o in inboxes}
    if before_agents != after_agents or before_inboxes != after_inboxes:
        changes.append(_assignment_text(agents, inboxes))
    if not changes:
        return False
    touched = [number.office, *number.inboxes, *inboxes]
    number.backing = backing
    number.agents = agents
    number.inboxes = inboxes
    audit.record(
        admin,
        "number.settings_updated",
        f"{format_phone(number.phone)} “{number.label}”: " + "; ".join(changes),
        touched,
        {
            "number_id": number.id,
            "agents": [sorted(before_agents), sorted(after_agents)],
            "inboxes": [sorted(before_inboxes), sorted(after_inboxes)],
        },
    )
    return True


def set_active(admin: User, number: ReusableNumber, active: bool) -> bool:
    """Deactivate (out of every From list; replies to it are refused but for an opt-out) or
    reactivate a number."""
    if number.active == active:
        return False
    number.active = active
    kind = "number.reactivated" if active else "number.deactivated"
    verb = "Reactivated" if active else "Deactivated"
    detail: dict = {"number_id": number.id}
    held = ""
    if active:  # its texts held by quiet hours kept their times while it was off: these may have changed
        db.session.flush()
        held = offices.retime_holds_by_its_quiet_hours(number.office, detail)
    audit.record(
        admin,
        kind,
        f"{verb} {format_phone(number.phone)} “{number.label}”" + held,
        [number.office],
        detail,
    )
    return True


def _assignment_text(agents: list[User], inboxes: list[Office]) -> str:
    agent_names = ", ".join(a.name for a in agents) or "none"
    inbox_names = ", ".join(o.name for o in inboxes) or "none"
    return f"agents: {agent_names}; inboxes: {inbox_names}"
