"""Opt-outs: phones that must never be texted, and the record of every change."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.org import User
from webapp.models.types import UTCDateTime, utcnow


class OptOut(db.Model):
    __tablename__ = "opt_outs"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)  # E.164
    source: Mapped[str] = mapped_column(String(20))  # keyword, provider, admin
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The reusable number it came through (a STOP texted to it, or its provider's report); None for
    # an opt-out an admin added by hand. Its office's admins may remove it.
    number_id: Mapped[int | None] = mapped_column(
        ForeignKey("reusable_numbers.id", ondelete="SET NULL")
    )

    created_by: Mapped[User | None] = relationship()


class OptOutEvent(db.Model):
    __tablename__ = "opt_out_events"
    __table_args__ = (Index("ix_opt_out_events_phone", "phone", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(10))  # opt_out, opt_in; again: once more, another way
    source: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    detail: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User | None] = relationship()
