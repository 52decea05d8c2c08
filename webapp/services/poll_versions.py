"""What a poll shows, as a tag read in one small query: an unchanged poll answers 304 unrendered.

Database triggers keep the counters (`PollVersion`, migration 0007_poll_versions) whoever writes:
- a tab of the inbox depends on the user's numbers (which, and how the user sees them), each
  number's counter (its conversations: rows, flags, previews, opt-outs), the user's counter (read
  marks, participations) and the directory's (names). Both tabs show both counts, so the two
  share these inputs;
- the open conversation depends on its own counter (its row, messages, statuses, opt-out), its
  number's label and the directory's counter; its visibility is checked in the same query.
Tags are digests of those values and of the caller's `context` (what else the markup depends on).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import ScalarSelect, and_, bindparam, func, or_, select

from webapp.extensions import db
from webapp.models import (
    Backing,
    Conversation,
    PollVersion,
    ReusableNumber,
    Status,
    User,
    number_agents,
)
from webapp.services import access
from webapp.services.conversations import DELAYED_AFTER, HistoryEntry

DIRECTORY_ID = 0  # the directory's one counter
# Table columns: a poll runs these statements without the ORM's per-execution work.
_versions = PollVersion.__table__
_numbers = ReusableNumber.__table__.c
_conversations = Conversation.__table__.c


def _counter(scope: str, scope_id: object) -> ScalarSelect:  # an id, or a bound parameter
    return (
        select(_versions.c.version)
        .where(_versions.c.scope == scope, _versions.c.scope_id == scope_id)
        .scalar_subquery()
    )


def _digest(*parts: object) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class InboxVersion:
    tag: str
    numbers: access.InboxNumbers  # what the tab's own queries need, read along


@lru_cache(maxsize=2)
def _inbox_statement(admin: bool):
    """Built once (per role kind): the numbers behind the user's tabs with their counters.

    Those the user sees whole, and their offices' numbers (where their participations show).
    """
    user_id = bindparam("user_id")
    visible = access.visible_numbers(user_id, admin)
    number_counter = _versions.alias("number_counter")
    return (
        select(
            _numbers.id,
            _numbers.id.in_(visible).label("visible"),
            _numbers.backing,
            number_agents.c.user_id.is_not(None).label("agent"),
            _numbers.label,
            _numbers.phone,
            number_counter.c.version,
            _counter("user", user_id),
            _counter("directory", DIRECTORY_ID),
        )
        .outerjoin(
            number_agents,
            and_(number_agents.c.number_id == _numbers.id, number_agents.c.user_id == user_id),
        )
        .outerjoin(
            number_counter,
            and_(number_counter.c.scope == "number", number_counter.c.scope_id == _numbers.id),
        )
        .where(
            or_(
                _numbers.id.in_(visible),
                _numbers.id.in_(access.numbers_of_my_offices(user_id)),
            )
        )
        .order_by(_numbers.id)
    )


def inbox_version(user: User, context: str) -> InboxVersion:
    """The tag of the user's inbox tabs (one query), and their numbers for rendering them."""
    rows = [tuple(row) for row in db.session.execute(_inbox_statement(user.is_admin), {"user_id": user.id})]
    numbers = access.InboxNumbers(
        visible=tuple(number_id for number_id, visible, *_ in rows if visible),
        bot_assigned=tuple(
            number_id
            for number_id, visible, backing, agent, *_ in rows
            if visible and agent and backing == Backing.BOT
        ),
    )
    return InboxVersion(_digest(context, user.id, user.role, rows), numbers)


@lru_cache(maxsize=2)
def _conversation_statement(admin: bool):
    """Built once (per role kind): the conversation's counter, if it is visible to the user."""
    conversation_counter = _versions.alias("conversation_counter")
    return (
        select(
            func.coalesce(conversation_counter.c.version, 0),
            _numbers.label,
            _numbers.phone,
            _counter("directory", DIRECTORY_ID),
        )
        .select_from(Conversation.__table__)
        .join(ReusableNumber.__table__, _numbers.id == _conversations.number_id)
        .outerjoin(
            conversation_counter,
            and_(
                conversation_counter.c.scope == "conversation",
                conversation_counter.c.scope_id == _conversations.id,
            ),
        )
        .where(
            _conversations.id == bindparam("conversation_id"),
            access.visible_conversation_clause(bindparam("user_id"), admin),
        )
    )


def conversation_version(user: User, conversation_id: int, context: str) -> str | None:
    """The tag of the open conversation (one query); None when the user may not see it."""
    params = {"conversation_id": conversation_id, "user_id": user.id}
    row = db.session.execute(_conversation_statement(user.is_admin), params).first()
    if row is None:
        return None
    return _digest(context, user.id, user.role, conversation_id, tuple(row))


def changes_at(messages: Iterable[HistoryEntry]) -> datetime | None:
    """When the thread will read differently with no write at all: a queued message becomes
    "delayed" after a while. None when nothing shown depends on the time."""
    due = [
        message.created_at + DELAYED_AFTER
        for message in messages
        if message.status == Status.QUEUED and not message.is_delayed
    ]
    return min(due, default=None)
