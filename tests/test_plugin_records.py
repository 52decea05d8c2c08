"""Plugins read Parley's records through the plugin API's read interfaces, handed to them by the
registry: the built-in resolver and bot work from those alone, as a third-party plugin would."""

from __future__ import annotations

import io
from collections.abc import Sequence

from plugins.campaign_contacts import CampaignContactResolver
from plugins.kb_bot import KnowledgeBaseBot
from webapp.extensions import db
from webapp.plugin_api import (
    BotContext,
    CampaignListing,
    ContactDirectory,
    ContactName,
    InboundMessage,
    KnowledgeBase,
    KnowledgeEntry,
    ParleyRecords,
)
from webapp.services import campaigns, knowledge_base
from webapp.services.plugin_records import records


class FakeDirectory(ContactDirectory):
    def __init__(self, listings: list[CampaignListing]) -> None:
        self.listings = listings
        self.asked: list[list[str]] = []

    def campaign_listings(self, phones: Sequence[str]) -> list[CampaignListing]:
        self.asked.append(list(phones))
        return [listing for listing in self.listings if listing.phone in phones]


class FakeKnowledgeBase(KnowledgeBase):
    def __init__(self, entries: dict[int, list[KnowledgeEntry]]) -> None:
        self.by_office = entries

    def entries(self, office_id: int) -> list[KnowledgeEntry]:
        return self.by_office.get(office_id, [])


def fake_records(
    listings: list[CampaignListing] | None = None, entries: dict | None = None
) -> ParleyRecords:
    return ParleyRecords(
        contacts=FakeDirectory(listings or []), knowledge_base=FakeKnowledgeBase(entries or {})
    )


def test_the_registry_hands_every_plugin_the_cores_records(app):
    registry = app.extensions["parley"]
    plugins = [*registry.sms_providers.values(), *registry.contact_resolvers, *registry.bots.values()]
    assert plugins
    for plugin in plugins:
        assert isinstance(plugin.records, ParleyRecords)
    assert len({id(plugin.records) for plugin in plugins}) == 1


def test_the_campaign_resolver_names_from_the_contact_directory_alone():
    resolver = CampaignContactResolver({})
    resolver.records = fake_records(
        listings=[  # newest launch first per phone, as the directory promises
            CampaignListing("+12025550143", None, "Garcia-Ruiz", "Summer Camp"),
            CampaignListing("+12025550143", "Maria", "Garcia", "Spring Fair"),
            CampaignListing("+12025550178", None, None, "Fall Visit"),  # no name: names no one
            CampaignListing("+12025550178", "James", None, "Spring Fair"),
        ]
    )
    names = resolver.resolve_many(["+12025550143", "+12025550178", "+12025550199"])
    assert names == {
        "+12025550143": ContactName(name="Garcia-Ruiz", source="Summer Camp"),
        "+12025550178": ContactName(name="James", source="Spring Fair"),
    }
    assert resolver.resolve("+12025550199") is None
    assert resolver.records.contacts.asked == [
        ["+12025550143", "+12025550178", "+12025550199"],
        ["+12025550199"],
    ]  # one question per page of phones


def test_the_kb_bot_answers_from_the_knowledge_base_interface_alone():
    bot = KnowledgeBaseBot({})
    bot.records = fake_records(
        entries={7: [KnowledgeEntry(3, ("application deadline", "last day to apply"), "Jan 15")]}
    )

    def ask(office_id: int, text: str):
        context = BotContext(conversation_id=None, office_id=office_id, contact_phone="")
        return bot.reply(context, InboundMessage(from_phone="", to_phone="", body=text))

    answer = ask(7, "When is the last day to apply?")
    assert (answer.text, answer.source_id, answer.matched) == ("Jan 15", 3, "last day to apply")
    assert ask(8, "When is the last day to apply?").text is None  # another office's knowledge


def test_the_cores_contact_directory_lists_launched_campaigns_newest_first(setup):
    csv = b"first_name,last_name,phone\nMaria,Garcia,2025550143\n"
    campaigns.import_campaign("Spring Fair", "Admissions", io.BytesIO(csv), launch=True)
    campaigns.import_campaign("Summer Camp", "Admissions", io.BytesIO(csv), launch=True)
    campaigns.import_campaign("Winter Draft", "Admissions", io.BytesIO(csv), launch=False)
    db.session.commit()

    listings = records().contacts.campaign_listings(["+12025550143", "+12025550199"])

    assert [listing.campaign for listing in listings] == ["Summer Camp", "Spring Fair"]
    assert listings[0] == CampaignListing("+12025550143", "Maria", "Garcia", "Summer Camp")
    assert records().contacts.campaign_listings([]) == []


def test_the_cores_knowledge_base_gives_each_entrys_phrasings(make):
    office = make.office("Admissions")
    other = make.office("Financial Aid")
    entry = knowledge_base.add_entry(office, "application deadline\nlast day to apply", "Jan 15")
    knowledge_base.add_entry(other, "fafsa", "March 1")
    office_id, entry_id = office.id, entry.id
    db.session.commit()  # the knowledge base reads on a connection of its own

    assert records().knowledge_base.entries(office_id) == [
        KnowledgeEntry(entry_id, ("application deadline", "last day to apply"), "Jan 15")
    ]
