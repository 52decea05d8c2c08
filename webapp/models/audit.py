"""The audit log: who changed what, and when, in the admin console (and every opt-out change)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, ForeignKey, Index, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.org import Office, User
from webapp.models.types import UTCDateTime, utcnow

# The offices an event concerns: an admin sees the events of their own offices.
audit_event_offices = Table(
    "audit_event_offices",
    db.metadata,
    Column("event_id", ForeignKey("audit_events.id", ondelete="CASCADE"), primary_key=True),
    Column("office_id", ForeignKey("offices.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_audit_event_offices_office", "office_id", "event_id"),
)


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (
        # The audit page's filters, newest first.
        Index("ix_audit_events_actor", "actor_id", "id"),
        Index("ix_audit_events_kind", "kind", "id"),
        Index("ix_audit_events_org_wide", "org_wide", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: a contact/system
    kind: Mapped[str] = mapped_column(String(40))  # e.g. user.updated, optout.added
    summary: Mapped[str] = mapped_column(String(500))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    # Opt-outs hold for the whole organisation, so every admin sees their changes.
    org_wide: Mapped[bool] = mapped_column(default=False)

    actor: Mapped[User | None] = relationship()
    offices: Mapped[list[Office]] = relationship(secondary=audit_event_offices)
