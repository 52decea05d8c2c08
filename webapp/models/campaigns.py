"""Campaign records and their contact lists (the source of contact names)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.org import Office
from webapp.models.types import UTCDateTime, utcnow


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    LAUNCHED = "launched"
    ARCHIVED = "archived"


# Statuses whose contact lists name contacts: launched, and archived after launch.
NAMING_STATUSES = (CampaignStatus.LAUNCHED.value, CampaignStatus.ARCHIVED.value)


class Campaign(db.Model):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"), index=True)
    status: Mapped[str] = mapped_column(String(12), default=CampaignStatus.DRAFT.value)
    launched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Kept by the importers, so lists never count 100k-row contact lists.
    contact_count: Mapped[int] = mapped_column(default=0, server_default="0")

    office: Mapped[Office] = relationship()


class CampaignContact(db.Model):
    __tablename__ = "campaign_contacts"
    __table_args__ = (
        UniqueConstraint("campaign_id", "phone"),
        # Contact-name lookup: one indexed probe on the phone.
        Index("ix_campaign_contacts_phone", "phone", "campaign_id"),
        # The admin's contact list: one campaign's contacts in import order, keyset-paginated.
        Index("ix_campaign_contacts_campaign", "campaign_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    first_name: Mapped[str] = mapped_column(String(120), default="")
    last_name: Mapped[str] = mapped_column(String(120), default="")
    phone: Mapped[str] = mapped_column(String(20))  # E.164
    extra: Mapped[dict] = mapped_column(JSON, default=dict)

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


# Contact lookup by name: prefix searches on lower(first_name) / lower(last_name) use these
# expression indexes (text_pattern_ops on PostgreSQL, so `LIKE 'pre%'` can use them whatever the
# database's collation; there they include what a search by name reads, for index-only scans).
# Created in migrations/versions/0002_embed.py and 0015_name_search.py.
for _column in ("first_name", "last_name"):
    Index(
        f"ix_campaign_contacts_{_column}_lower",
        func.lower(CampaignContact.__table__.c[_column]).label(f"{_column}_lower"),
        postgresql_ops={f"{_column}_lower": "text_pattern_ops"},
        postgresql_include=["first_name", "last_name", "campaign_id", "phone"],
    )


class ImportStatus(StrEnum):
    VALIDATING = "validating"  # the worker is checking every row
    READY = "ready"  # preview shown; nothing saved yet
    REJECTED = "rejected"  # no valid row, or an unreadable file: nothing can be saved
    IMPORTING = "importing"  # saved as a draft campaign; contacts going in batch by batch
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class CampaignImport(db.Model):
    """An uploaded contact list on its way to a draft campaign: preview first, then the import."""

    __tablename__ = "campaign_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id", ondelete="CASCADE"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    campaign_name: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(255), default="")  # as uploaded, for display
    stored_name: Mapped[str] = mapped_column(String(64))  # file in the instance folder
    status: Mapped[str] = mapped_column(String(12), default=ImportStatus.VALIDATING.value)
    rows_estimate: Mapped[int] = mapped_column(default=0)
    rows_checked: Mapped[int] = mapped_column(default=0)
    valid_rows: Mapped[int] = mapped_column(default=0)
    invalid_rows: Mapped[int] = mapped_column(default=0)
    imported_rows: Mapped[int] = mapped_column(default=0)
    message: Mapped[str] = mapped_column(String(500), default="")
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    office: Mapped[Office] = relationship()
    campaign: Mapped[Campaign | None] = relationship()

    @property
    def in_progress(self) -> bool:
        return self.status in (ImportStatus.VALIDATING, ImportStatus.IMPORTING)


class CampaignImportError(db.Model):
    """One invalid row of an uploaded contact list, as the preview lists it."""

    __tablename__ = "campaign_import_errors"

    import_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_imports.id", ondelete="CASCADE"), primary_key=True
    )
    line: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    reason: Mapped[str] = mapped_column(String(300))
