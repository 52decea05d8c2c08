"""Names contacts from the most recently launched campaign whose contact list holds their phone.

Reads Parley's campaign records (never writes them). Draft campaigns never count; archived ones
that were launched do.
"""

from __future__ import annotations

from sqlalchemy import or_, select

from webapp.models import NAMING_STATUSES, Campaign, CampaignContact
from webapp.plugin_api import ContactName, ContactResolver
from webapp.services.dbutil import ByValues

# Built once: the inbox asks for a page of names on every refresh.
NAMES_BY_PHONE = ByValues(
    "phones",
    lambda phone_in: (
        select(CampaignContact.phone, CampaignContact.first_name, CampaignContact.last_name, Campaign.name)
        .join(Campaign, Campaign.id == CampaignContact.campaign_id)
        .where(
            phone_in(CampaignContact.phone),
            # Not IN (…): a list of constants would be rewritten into the SQL on every call.
            or_(*(Campaign.status == status for status in NAMING_STATUSES)),
            # A draft archived without launch never named anyone.
            Campaign.launched_at.is_not(None),
        )
        .order_by(CampaignContact.phone, Campaign.launched_at.desc(), Campaign.id.desc())
    ),
)


class CampaignContactResolver(ContactResolver):
    def resolve(self, phone: str) -> ContactName | None:
        return self.resolve_many([phone]).get(phone)

    def resolve_many(self, phones: list[str]) -> dict[str, ContactName]:
        if not phones:
            return {}
        rows = NAMES_BY_PHONE.run(phones)
        found: dict[str, ContactName] = {}
        for phone, first, last, campaign in rows:
            if phone in found:
                continue  # an older campaign's entry (rows come newest first per phone)
            name = f"{first} {last}" if first and last else first or last
            if name:
                found[phone] = ContactName(name=name, source=campaign)
        return found
