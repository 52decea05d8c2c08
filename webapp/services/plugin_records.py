"""The core's side of the plugin API's read interfaces (webapp.plugin_api.records): the queries
behind what plugins may read, returning frozen values rather than models."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, or_, select

from webapp.extensions import db
from webapp.models import NAMING_STATUSES, Campaign, CampaignContact, KnowledgeBaseEntry
from webapp.plugin_api import (
    CampaignListing,
    ContactDirectory,
    KnowledgeBase,
    KnowledgeEntry,
    ParleyRecords,
)
from webapp.services.dbutil import ByValues

# Tables, not mapped classes, in statements built once: they run as Core statements (see
# docs/performance.md).
_CAMPAIGN_CONTACTS = CampaignContact.__table__
_CAMPAIGNS = Campaign.__table__


# Built once: the inbox asks for a page of names on every refresh.
LISTINGS_BY_PHONE = ByValues(
    "phones",
    lambda phone_in: (
        select(
            _CAMPAIGN_CONTACTS.c.phone,
            _CAMPAIGN_CONTACTS.c.first_name,
            _CAMPAIGN_CONTACTS.c.last_name,
            _CAMPAIGNS.c.name,
        )
        .join(_CAMPAIGNS, _CAMPAIGNS.c.id == _CAMPAIGN_CONTACTS.c.campaign_id)
        .where(
            phone_in(_CAMPAIGN_CONTACTS.c.phone),
            # Not IN (…): a list of constants would be rewritten into the SQL on every call.
            or_(*(_CAMPAIGNS.c.status == status for status in NAMING_STATUSES)),
            # A draft archived without launch never named anyone.
            _CAMPAIGNS.c.launched_at.is_not(None),
        )
        .order_by(_CAMPAIGN_CONTACTS.c.phone, _CAMPAIGNS.c.launched_at.desc(), _CAMPAIGNS.c.id.desc())
    ),
)

ENTRIES_OF_OFFICE = (
    select(KnowledgeBaseEntry.id, KnowledgeBaseEntry.question, KnowledgeBaseEntry.answer)
    .where(KnowledgeBaseEntry.office_id == bindparam("office_id"))
    .order_by(KnowledgeBaseEntry.id)
)


class CampaignContactDirectory(ContactDirectory):
    def campaign_listings(self, phones: Sequence[str]) -> list[CampaignListing]:
        if not phones:
            return []
        return [
            CampaignListing(phone=phone, first_name=first, last_name=last, campaign=campaign)
            for phone, first, last, campaign in LISTINGS_BY_PHONE.run(phones)
        ]


class OfficeKnowledgeBase(KnowledgeBase):
    def entries(self, office_id: int) -> list[KnowledgeEntry]:
        # A short read of its own, released before the caller goes on: a bot holds no lock while
        # it thinks.
        with db.engine.connect() as connection:
            rows = connection.execute(ENTRIES_OF_OFFICE, {"office_id": office_id}).all()
        return [
            KnowledgeEntry(id=entry_id, phrasings=phrasings(question), answer=answer)
            for entry_id, question, answer in rows
        ]


def phrasings(question: str) -> tuple[str, ...]:
    """An entry's question phrasings, stored one per line."""
    return tuple(line.strip() for line in question.splitlines() if line.strip())


def records() -> ParleyRecords:
    """What the registry hands to every plugin."""
    return ParleyRecords(contacts=CampaignContactDirectory(), knowledge_base=OfficeKnowledgeBase())
