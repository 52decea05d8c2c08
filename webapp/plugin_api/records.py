"""What plugins may read of Parley's records: small read interfaces returning frozen values.

Parley's services implement them; the registry hands them to every plugin as `plugin.records`.
A plugin never imports Parley's models or services, so their shape can change without breaking it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class CampaignListing:
    """A phone's entry in a campaign's contact list."""

    phone: str  # E.164
    first_name: str | None
    last_name: str | None
    campaign: str  # the campaign's name


class ContactDirectory(ABC):
    """Campaign contact lists, read-only."""

    @abstractmethod
    def campaign_listings(self, phones: Sequence[str]) -> list[CampaignListing]:
        """The phones' entries in the contact lists of launched campaigns (archived ones included
        once launched; drafts never), grouped by phone, the most recent launch first. One query."""


@dataclass(frozen=True)
class KnowledgeEntry:
    """One knowledge-base entry: the ways a contact may ask, and the answer to send."""

    id: int
    phrasings: tuple[str, ...]  # question phrasings or keywords
    answer: str


class KnowledgeBase(ABC):
    """Each office's knowledge base, read-only."""

    @abstractmethod
    def entries(self, office_id: int) -> list[KnowledgeEntry]:
        """The office's entries, oldest first. Read on a connection of its own and released at
        once, so a plugin that thinks afterwards holds no database lock."""


@dataclass(frozen=True)
class ParleyRecords:
    """The read interfaces the registry hands to each plugin (`Plugin.records`)."""

    contacts: ContactDirectory
    knowledge_base: KnowledgeBase
