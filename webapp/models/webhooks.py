"""Activity webhooks: an office's endpoints, and each event's delivery to one of them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.org import Office
from webapp.models.types import UTCDateTime, utcnow


class WebhookEndpoint(db.Model):
    """A URL of a CRM that receives an office's events, signed with its own secret (Standard
    Webhooks: the secret must be kept to sign, so it is stored as it is)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(100))
    # After a rotation the old secret signs too, until the CRM has switched to the new one.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The event types it receives; empty: every type.
    event_types: Mapped[list] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    # Why it was disabled (an endpoint that failed for a day is disabled automatically).
    disabled_reason: Mapped[str | None] = mapped_column(String(300))
    # Since when every delivery has failed; None while it answers.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    office: Mapped[Office] = relationship()


class DeliveryStatus:
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # given up after about a day, or its endpoint was disabled


class WebhookDelivery(db.Model):
    """One event for one endpoint: the signed body and every attempt's outcome. Every attempt
    sends the same `webhook_id` (receivers deduplicate on it)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        # Events of one conversation go out in order: the earliest pending one first.
        Index("ix_webhook_deliveries_conversation", "endpoint_id", "conversation_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(40))
    webhook_id: Mapped[str] = mapped_column(String(40), unique=True)
    payload: Mapped[str] = mapped_column(Text)
    conversation_id: Mapped[int | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(12), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column()
    last_latency_ms: Mapped[int | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(String(300))
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    endpoint: Mapped[WebhookEndpoint] = relationship()
