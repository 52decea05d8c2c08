"""Conversations as the CRM API and the activity webhooks show them (one shape for both)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, or_, select

from webapp.extensions import db
from webapp.models import NAMING_STATUSES, Campaign, CampaignContact, Conversation, ReusableNumber
from webapp.services.dbutil import ByValues

# The API's names: only the key's office's launched campaigns count, the most recent first, since
# a CRM key must learn nothing of another office's contact lists.
_OFFICE_LISTINGS = ByValues(
    "phones",
    lambda phone_in: (
        select(CampaignContact.phone, CampaignContact.first_name, CampaignContact.last_name)
        .join(Campaign, Campaign.id == CampaignContact.campaign_id)
        .where(
            phone_in(CampaignContact.phone),
            Campaign.office_id == bindparam("office_id"),
            or_(*(Campaign.status == status for status in NAMING_STATUSES)),
            Campaign.launched_at.is_not(None),
        )
        .order_by(CampaignContact.phone, Campaign.launched_at.desc(), Campaign.id.desc())
    ),
)


def office_campaign_names(office_id: int, phones: list[str]) -> dict[str, str]:
    """Names from one office's campaign records; a phone none of them names is left out."""
    if not phones:
        return {}
    names: dict[str, str] = {}
    for phone, first, last in _OFFICE_LISTINGS.run(phones, {"office_id": office_id}):
        name = f"{first} {last}" if first and last else first or last
        if name and phone not in names:
            names[phone] = name
    return names


@dataclass(frozen=True)
class ApiConversation:
    id: int
    number: str
    contact_phone: str
    contact_name: str | None
    mode: str
    needs_attention: bool
    last_activity_at: datetime
    created_at: datetime


CONVERSATION_COLUMNS = (
    Conversation.id,
    ReusableNumber.phone,
    Conversation.contact_phone,
    Conversation.mode,
    Conversation.needs_attention,
    Conversation.last_activity_at,
    Conversation.created_at,
)


def conversations_query():
    """The conversations of the office bound as `office_id`, as rows for `named`."""
    return (
        select(*CONVERSATION_COLUMNS)
        .join(ReusableNumber, ReusableNumber.id == Conversation.number_id)
        .where(ReusableNumber.office_id == bindparam("office_id"))
    )


def named(office_id: int, rows: list) -> list[ApiConversation]:
    """Rows of `conversations_query` with their contacts' names from the office's campaign records."""
    names = office_campaign_names(office_id, [row[2] for row in rows])
    return [
        ApiConversation(
            id=row[0], number=row[1], contact_phone=row[2], contact_name=names.get(row[2]),
            mode=row[3], needs_attention=row[4], last_activity_at=row[5], created_at=row[6],
        )
        for row in rows
    ]  # fmt: skip


def office_conversation(office_id: int, conversation_id: int) -> ApiConversation | None:
    """One of the office's conversations, or None when it has no such one."""
    rows = db.session.execute(
        conversations_query().where(Conversation.id == conversation_id), {"office_id": office_id}
    ).all()
    found = named(office_id, rows)
    return found[0] if found else None


def as_json(conversation: ApiConversation) -> dict:
    """The conversation as JSON shows it (the API's ConversationOut, the webhooks' `data`)."""
    return {
        "id": conversation.id, "number": conversation.number,
        "contact_phone": conversation.contact_phone, "contact_name": conversation.contact_name,
        "mode": conversation.mode, "needs_attention": conversation.needs_attention,
        "last_activity_at": _iso(conversation.last_activity_at),
        "created_at": _iso(conversation.created_at),
    }  # fmt: skip


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
