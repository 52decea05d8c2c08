"""Who else has a conversation open, and who answered it while an agent was writing.

Presence rides on a light request the open conversation makes every few seconds (not the
conversation's own refresh, whose ETag must stay the same while its content does): it records
"this agent is here (and typing) now" and answers with the other agents seen in the last
PRESENT_SECONDS. Nothing else reads the table; old rows are dropped as the conversation is polled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from webapp.extensions import db
from webapp.models import AuthorKind, Direction, Message, Presence, Status, User, utcnow
from webapp.services.conversations import locked
from webapp.services.dbutil import upsert

PRESENT_SECONDS = 10  # seen this recently: still has the conversation open
TYPING_SECONDS = 6  # typed this recently: still typing
FORGET_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class Colleague:
    name: str
    typing: bool


def here(conversation_id: int, user: User, typing: bool, now: datetime | None = None) -> list[Colleague]:
    """Record the agent in the conversation now; the others in it, by name."""
    now = now or utcnow()
    values = {"conversation_id": conversation_id, "user_id": user.id, "seen_at": now,
              "typing_at": now if typing else None}  # fmt: skip
    update = {"seen_at": now, "typing_at": now} if typing else {"seen_at": now}
    upsert(Presence, ["conversation_id", "user_id"], values=values, update=update)
    db.session.execute(
        delete(Presence).where(
            Presence.conversation_id == conversation_id, Presence.seen_at < now - FORGET_AFTER
        )
    )
    rows = db.session.execute(
        select(User.name, Presence.typing_at)
        .join(User, User.id == Presence.user_id)
        .where(
            Presence.conversation_id == conversation_id,
            Presence.user_id != user.id,
            Presence.seen_at >= now - timedelta(seconds=PRESENT_SECONDS),
        )
        .order_by(User.name)
    ).all()
    typing_since = now - timedelta(seconds=TYPING_SECONDS)
    return [Colleague(name, typing_at is not None and typing_at >= typing_since) for name, typing_at in rows]


def stopped_typing(conversation_id: int, user: User) -> None:
    """The agent sent what they typed: colleagues stop seeing them typing with their next look."""
    db.session.execute(
        update(Presence)
        .where(Presence.conversation_id == conversation_id, Presence.user_id == user.id)
        .values(typing_at=None)
    )


def describe(colleagues: list[Colleague]) -> str:
    """"Sam Standard is typing…", "Alex Admin and Sam Standard are viewing this conversation"."""
    typing = [c.name for c in colleagues if c.typing]
    viewing = [c.name for c in colleagues if not c.typing]
    parts = []
    if typing:
        parts.append(f"{_names(typing)} {'is' if len(typing) == 1 else 'are'} typing a reply…")
    if viewing:
        parts.append(f"{_names(viewing)} {'is' if len(viewing) == 1 else 'are'} viewing this conversation.")
    return " ".join(parts)


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


@dataclass(frozen=True)
class Collision:
    message_id: int
    author: str  # the colleague's first name, as agents call each other
    at: datetime

    def warning(self, now: datetime | None = None) -> str:
        return f"{self.author} replied {ago(self.at, now or utcnow())}."


def replied_since(conversation_id: int, seen_message_id: int, user: User) -> Collision | None:
    """Another agent's reply in the conversation after the last message this agent saw (one
    cancelled before it went answered nobody). The conversation stays locked until the caller's
    transaction ends: of two agents pressing Send at once, the second sees the first's reply."""
    locked(conversation_id)
    row = db.session.execute(
        select(Message.id, User.name, Message.created_at)
        .join(User, User.id == Message.author_user_id)
        .where(
            Message.conversation_id == conversation_id,
            Message.id > seen_message_id,
            Message.direction == Direction.OUTBOUND.value,
            Message.author_kind == AuthorKind.AGENT.value,
            Message.author_user_id != user.id,
            Message.status != Status.CANCELLED.value,
        )
        .order_by(Message.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return Collision(row.id, row.name.split(" ")[0] or row.name, row.created_at)


def ago(moment: datetime, now: datetime) -> str:
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 60:
        return "just now" if seconds < 5 else f"{seconds} seconds ago"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''} ago"
    hours = minutes // 60
    return f"{hours} hour{'s' if hours != 1 else ''} ago"
