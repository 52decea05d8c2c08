"""Office exports: an office's messages for a date range, written to a CSV file by the worker."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.org import Office, User
from webapp.models.types import UTCDateTime, utcnow


class ExportStatus(StrEnum):
    PENDING = "pending"  # waiting for the worker
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"  # done, and its file deleted after the link expired (or retention withdrew it)


class OfficeExport(db.Model):
    __tablename__ = "office_exports"
    __table_args__ = (Index("ix_office_exports_office", "office_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id", ondelete="CASCADE"))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Days in the office's time zone, both included.
    date_from: Mapped[date] = mapped_column(Date)
    date_to: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default=ExportStatus.PENDING.value)
    total_rows: Mapped[int | None]  # counted when the worker starts
    rows_written: Mapped[int] = mapped_column(default=0)
    # The file's name in the export folder: random, so it cannot be guessed.
    file_name: Mapped[str] = mapped_column(String(80))
    error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # After this the download link answers 410 and the worker deletes the file.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    office: Mapped[Office] = relationship()
    requested_by: Mapped[User | None] = relationship()
