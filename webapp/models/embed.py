"""Embedding in a CRM: the launch tokens already used, so each one works once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.types import UTCDateTime, utcnow


class UsedLaunchToken(db.Model):
    """A launch token's `jti`, kept until the token expires.

    The primary key makes "single use" a database guarantee that holds across processes: the second
    INSERT of a jti conflicts, whoever checks first. Rows past `expires_at` are purged on later
    launches (an expired token is refused by its `exp` anyway).
    """

    __tablename__ = "embed_used_tokens"

    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
