"""Offices, users and their roles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import Column, ForeignKey, String, Table, Text, Time
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.extensions import db
from webapp.models.types import UTCDateTime, utcnow


class Role(StrEnum):
    ADMIN = "admin"
    STANDARD = "standard"
    LIMITED = "limited"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.ADMIN: "Texting - Administrative",
    Role.STANDARD: "Texting - Standard",
    Role.LIMITED: "Texting - Limited",
}

office_memberships = Table(
    "office_memberships",
    db.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("office_id", ForeignKey("offices.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Office(db.Model):
    """An office (e.g. "Admissions"); each has a shared office inbox."""

    __tablename__ = "offices"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    help_text: Mapped[str] = mapped_column(Text, default="")
    # The bot's "I don't know": "escalate" to agents, or "message" (send idk_message).
    idk_action: Mapped[str] = mapped_column(
        String(10), default="escalate", server_default="escalate"
    )
    idk_message: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Compliance: the office's IANA time zone (None: UTC), its quiet hours in that zone (both
    # set, or neither: off) and how many days message text is kept (None: no limit).
    time_zone: Mapped[str | None] = mapped_column(String(64))
    quiet_hours_start: Mapped[time | None] = mapped_column(Time)
    quiet_hours_end: Mapped[time | None] = mapped_column(Time)
    retention_days: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    members: Mapped[list[User]] = relationship(
        secondary=office_memberships, back_populates="offices", order_by="User.name"
    )

    def __repr__(self) -> str:
        return f"<Office {self.name}>"


class RoleChecks:
    """What a user's role allows; shared by `User` and `SignedInUser` (both have role, active)."""

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def can_create_texts(self) -> bool:
        return self.role in (Role.ADMIN, Role.STANDARD)

    @property
    def role_label(self) -> str:
        return Role(self.role).label


class User(RoleChecks, UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=Role.STANDARD.value)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The latest sign-in, shown in the admin console: when, and how ("password", "embed" or "sso").
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_sign_in_method: Mapped[str | None] = mapped_column(String(16))

    offices: Mapped[list[Office]] = relationship(
        secondary=office_memberships, back_populates="members", order_by="Office.name"
    )

    # A hash no password matches: the user was made at their first single sign-on and has no
    # Parley password until an administrator sets one.
    NO_PASSWORD = "!"

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    @property
    def has_password(self) -> bool:
        return self.password_hash != self.NO_PASSWORD

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def __repr__(self) -> str:
        return f"<User {self.email}>"


@dataclass(frozen=True, eq=False)
class SignedInUser(RoleChecks, UserMixin):
    """The signed-in user as a plain object of its columns, for a request that only reads or a
    view marked `@plain_user` (compose, reply and the other conversation actions).

    These requests never change the user or link it to new rows, so they need no ORM object (and
    skip loading one). Other requests that write load `User`.
    """

    id: int
    email: str
    name: str
    role: str
    active: bool
    created_at: datetime

    def __repr__(self) -> str:
        return f"<SignedInUser {self.email}>"
