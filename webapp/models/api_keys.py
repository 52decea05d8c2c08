"""API keys: how a CRM's server calls Parley's API on behalf of one office."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.org import Office, User
from webapp.models.types import UTCDateTime, utcnow

ACTIVE = text("revoked_at IS NULL")


class ApiKey(db.Model):
    """A key of one office. Only the SHA-256 of the key is kept: it is shown once, at creation.

    A revoked key keeps its row (the messages it sent still name it), and its name may be used
    again by a new key. Names are unique among an office's active keys: two offices may each
    name a key after the CRM they share.
    """

    __tablename__ = "api_keys"
    __table_args__ = (
        Index(
            "uq_api_keys_office_active_name",
            "office_id",
            "name",
            unique=True,
            sqlite_where=ACTIVE,
            postgresql_where=ACTIVE,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The key's first characters, so that people can tell their keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Kept to the minute: a key's every request does not write.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    office: Mapped[Office] = relationship()
    created_by: Mapped[User | None] = relationship()

    @property
    def active(self) -> bool:
        return self.revoked_at is None
