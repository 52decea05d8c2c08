"""Who may see and use what. Every view asks here; nothing is trusted from the UI."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from flask import g
from sqlalchemy import and_, bindparam, exists, or_, select, union
from sqlalchemy.orm import joinedload

from webapp.extensions import db
from webapp.models import (
    Backing,
    Conversation,
    Participant,
    ReusableNumber,
    User,
    number_agents,
    number_inboxes,
    office_memberships,
)
from webapp.transactions import read_only_request

# Table columns, not the mapped attributes: statements built from them run without the ORM's
# per-execution work (entities, loading), and mapped queries accept them as well.
_numbers = ReusableNumber.__table__.c
_conversations = Conversation.__table__.c
_participants = Participant.__table__.c


class AccessDenied(Exception):
    """The user may not see or do this (answered 403, or 404 where existence would leak)."""


def _my_office_ids(user_id):
    return select(office_memberships.c.office_id).where(office_memberships.c.user_id == user_id)


def _accessible_selects(user_id) -> list:
    return [
        select(number_agents.c.number_id).where(number_agents.c.user_id == user_id),
        select(number_inboxes.c.number_id).where(
            number_inboxes.c.office_id.in_(_my_office_ids(user_id))
        ),
    ]


def accessible_numbers(user_id):  # an id or a bound parameter; returns a subquery
    """Subquery: the numbers the user has access to (assigned, or in one of their offices' inboxes)."""
    return union(*_accessible_selects(user_id))


def may_send_from(user_id):
    """SQL condition on ReusableNumber: active, and the user has access to it."""
    return and_(
        _numbers.active.is_(True),
        _numbers.id.in_(accessible_numbers(user_id)),
    )


def sendable_numbers(user: User) -> list[ReusableNumber]:
    """The compose From list: active numbers the user has access to."""
    return list(
        db.session.scalars(
            select(ReusableNumber)
            .where(may_send_from(user.id))
            .order_by(ReusableNumber.label, ReusableNumber.phone)
        )
    )


@dataclass(frozen=True)
class InboxNumbers:
    visible: tuple[int, ...]  # numbers all of whose conversations the user sees
    bot_assigned: tuple[int, ...]  # bot-backed numbers where the user is an assigned agent


def numbers_of_my_offices(user_id):
    """Subquery: the numbers the user's offices own.

    Besides the numbers a user sees whole, a participation makes its conversation visible only on
    these: leaving an office takes away what the user saw only through it.
    """
    return select(_numbers.id).where(_numbers.office_id.in_(_my_office_ids(user_id)))


def my_numbers_seen_whole(user_id, is_admin):
    """Two SQL conditions on ReusableNumber, for reading the numbers behind a user's inbox in one
    statement whatever the user's role (`is_admin`, a column or a bound value): the number is the
    user's (accessible, or owned by one of their offices: where participations show), and, for
    such a number, the user sees it whole (`visible_numbers`: an admin every one of them, anyone
    else those they have access to)."""
    accessible = _numbers.id.in_(accessible_numbers(user_id))
    mine = or_(accessible, _numbers.office_id.in_(_my_office_ids(user_id)))
    return mine, or_(is_admin, accessible)


def visible_on_its_number(user_id, is_admin):
    """SQL condition on a conversation joined with its number, for statements that read both
    whatever the user's role (`is_admin`, a column or a bound value): the user may see it, by the
    rules of `visible_conversation_clause`, read from the joined number's columns. A number of
    the user's they see whole shows every conversation; any other of theirs, those they take
    part in."""
    mine, seen_whole = my_numbers_seen_whole(user_id, is_admin)
    participant = exists().where(
        _participants.conversation_id == _conversations.id, _participants.user_id == user_id
    )
    return and_(mine, or_(seen_whole, participant))


def _visible_number_selects(user_id, admin: bool) -> list:
    """Numbers all of whose conversations the user sees: access, or admin of the number's office."""
    queries = _accessible_selects(user_id)
    if admin:
        queries.append(numbers_of_my_offices(user_id))
    return queries


def visible_numbers(user_id, admin: bool):  # an id or a bound parameter; returns a subquery
    """Subquery: the numbers all of whose conversations the user sees."""
    return union(*_visible_number_selects(user_id, admin))


@lru_cache(maxsize=2)
def _inbox_numbers_statement(admin: bool):
    """Built once (per role kind): every inbox request asks."""
    user_id = bindparam("user_id")
    return (
        select(_numbers.id, _numbers.backing, number_agents.c.user_id)
        .outerjoin(
            number_agents,
            and_(number_agents.c.number_id == _numbers.id, number_agents.c.user_id == user_id),
        )
        .where(_numbers.id.in_(union(*_visible_number_selects(user_id, admin))))
        .order_by(_numbers.id)
    )


def inbox_numbers(user: User) -> InboxNumbers:
    """The numbers behind the user's inbox (one query; once per read-only request)."""
    cache = g.setdefault("parley_inbox_numbers", {}) if read_only_request() else {}
    if user.id not in cache:
        rows = db.session.execute(_inbox_numbers_statement(user.is_admin), {"user_id": user.id})
        rows = rows.all()
        cache[user.id] = InboxNumbers(
            visible=tuple(number_id for number_id, _, _ in rows),
            bot_assigned=tuple(
                number_id for number_id, backing, agent in rows if agent and backing == Backing.BOT
            ),
        )
    return cache[user.id]


def visible_conversation_clause(user_id, admin: bool):
    """SQL condition: a conversation the user may see (on a number they see, or as a participant
    on a number of one of their offices).

    The visible numbers are a subquery, not a list read first: one statement where there were two.
    """
    on_visible_number = _conversations.number_id.in_(union(*_visible_number_selects(user_id, admin)))
    if admin:  # an admin sees every number of their offices: a participation adds nothing
        return on_visible_number
    participant = exists().where(
        _participants.conversation_id == _conversations.id, _participants.user_id == user_id
    )
    on_my_offices_number = _conversations.number_id.in_(numbers_of_my_offices(user_id))
    return or_(on_visible_number, and_(on_my_offices_number, participant))


@lru_cache(maxsize=2)
def _visible_conversation_statement(admin: bool):
    """Built once (per role kind): every reply and conversation action asks. Its number comes along."""
    return (
        select(Conversation)
        .options(joinedload(Conversation.number))
        .where(
            Conversation.id == bindparam("conversation_id"),
            visible_conversation_clause(bindparam("user_id"), admin),
        )
    )


def visible_conversation(user: User, conversation_id: int) -> Conversation:
    """The conversation, when visible to the user; AccessDenied otherwise (answered 404)."""
    conversation = db.session.scalar(
        _visible_conversation_statement(user.is_admin),
        {"conversation_id": conversation_id, "user_id": user.id},
    )
    if conversation is None:
        raise AccessDenied("conversation not visible")
    return conversation
