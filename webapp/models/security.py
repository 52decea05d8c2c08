"""What keeps sign-in and webhooks trustworthy: live sessions, failed logins, webhook nonces."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.types import UTCDateTime, utcnow


class UserSession(db.Model):
    """A signed-in session. The session cookie carries a random token; only its SHA-256 is kept.

    A request is signed in only while its session's row exists: logout deletes the row, so a copy of
    the cookie signs nobody in, and a password change, deactivation or role change deletes the user's
    other rows, which ends those sessions at their next request in every process.
    """

    __tablename__ = "user_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # How the session began: "password", "embed" or "sso".
    method: Mapped[str] = mapped_column(String(16))
    # Indexed: starting a session deletes a batch of the oldest, expired rows.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class LoginFailure(db.Model):
    """One failed login, counted per email and per IP address over the throttle's window.

    In the database so that every web process counts the same failures; rows older than the window
    are deleted as new ones arrive.
    """

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_email", "email", "failed_at"),
        Index("ix_login_failures_ip", "ip", "failed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    ip: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class WebhookNonce(db.Model):
    """A provider webhook's signature nonce, seen once.

    The primary key makes "accepted once" a database guarantee across processes: a replayed request
    carries a nonce already here and is refused. Plivo's V3 signatures do not expire, so neither do
    their nonces.
    """

    __tablename__ = "webhook_nonces"

    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(255), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
