"""Contact display names through the chain of contact-resolver plugins."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Conversation, ReusableNumber, User
from webapp.services.phones import format_phone


def display_names(phones: list[str]) -> dict[str, str]:
    """A display name for each phone: a resolver's name, else the formatted phone alone."""
    wanted = list(dict.fromkeys(phones))
    names: dict[str, str] = {}
    for resolver in current_app.extensions["parley"].contact_resolvers:
        missing = [phone for phone in wanted if phone not in names]
        if not missing:
            break
        for phone, contact in resolver.resolve_many(missing).items():
            names[phone] = contact.name
    return {phone: names.get(phone) or format_phone(phone) for phone in wanted}


def display_name(phone: str) -> str:
    return display_names([phone])[phone]


@dataclass(frozen=True)
class LookupResult:
    phone: str  # E.164
    display_name: str
    opted_out: bool
    conversations: list  # (Conversation, number label) visible to the user


def lookup(user: User, phone: str) -> LookupResult:
    """A contact by phone: name, opt-out status and the conversations the user may see."""
    from webapp.services import access
    from webapp.services.optouts import is_opted_out

    rows = db.session.execute(
        select(Conversation, ReusableNumber)
        .join(ReusableNumber, ReusableNumber.id == Conversation.number_id)
        .where(
            Conversation.contact_phone == phone,
            access.visible_conversation_clause(user, access.visible_number_ids(user)),
        )
        .order_by(Conversation.last_activity_at.desc())
    ).all()
    return LookupResult(
        phone=phone,
        display_name=display_name(phone),
        opted_out=is_opted_out(phone),
        conversations=[(conversation, number) for conversation, number in rows],
    )
