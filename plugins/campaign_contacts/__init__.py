"""Names contacts from the most recently launched campaign whose contact list holds their phone.

Reads campaign contact lists through the plugin API (`self.records.contacts`), never writes them.
Draft campaigns never count; archived ones that were launched do.
"""

from __future__ import annotations

from webapp.plugin_api import ContactName, ContactResolver


class CampaignContactResolver(ContactResolver):
    follows_directory = True  # campaign contact lists, read only through self.records

    def resolve(self, phone: str) -> ContactName | None:
        return self.resolve_many([phone]).get(phone)

    def resolve_many(self, phones: list[str]) -> dict[str, ContactName]:
        if not phones:
            return {}
        found: dict[str, ContactName] = {}
        for listing in self.records.contacts.campaign_listings(phones):
            if listing.phone in found:
                continue  # an older campaign's entry (listings come newest first per phone)
            first, last = listing.first_name, listing.last_name
            name = f"{first} {last}" if first and last else first or last
            if name:
                found[listing.phone] = ContactName(name=name, source=listing.campaign)
        return found
