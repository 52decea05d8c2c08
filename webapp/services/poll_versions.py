"""What a poll shows, as a tag: an unchanged poll answers 304 unrendered, after one statement.

That statement is the one that loads the signed-in user: the polled views are marked
`user_read_with(signed_in_with_inbox)` or `(signed_in_with_conversation)`, which read the user's
row (only while the session is live) and the tag's inputs together.

Database triggers keep the counters (`PollVersion`, migration 0007_poll_versions) whoever writes:
- a tab of the inbox depends on the user's numbers (which, and how the user sees them), each
  number's counter (its conversations: rows, flags, previews, opt-outs), the user's counter (read
  marks, participations) and the directory's (names). Needs Attention follows the `attention`
  counters instead, raised only by the changes it shows: on a number, those of conversations that
  need attention (before or after), and any that changes a count (a conversation added, removed,
  moved or opted out); on the user, read marks of conversations that need attention and
  participations. Replies and statuses in conversations that need none leave it alone. The
  user's `version` counts only what Participating shows: read marks of conversations that need
  no attention, and participations;
- the open conversation depends on its own counter (its row, messages, statuses, opt-out), its
  number's label and whether it is active, and the directory's counter; its visibility is
  checked in the same query. The inbox's poll, which checks the conversation open beside the
  list, reads these in its one statement too (`open_conversation_version`).
Tags are digests of those values and of the caller's `context` (what else the markup depends on).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple

from flask import g
from sqlalchemy import ScalarSelect, and_, bindparam, func, select

from webapp.extensions import db
from webapp.models import (
    Backing,
    Conversation,
    PollVersion,
    ReusableNumber,
    Role,
    SignedInUser,
    Status,
    User,
    number_agents,
)
from webapp.services import access, sessions
from webapp.services.conversations import DELAYED_AFTER, HistoryEntry
from webapp.services.inbox import NEEDS_ATTENTION

DIRECTORY_ID = 0  # the directory's one counter
# Table columns: a poll runs these statements without the ORM's per-execution work.
_versions = PollVersion.__table__
_numbers = ReusableNumber.__table__.c
_conversations = Conversation.__table__.c
_users = User.__table__.c


def _counter(scope: str, scope_id: object, column: str = "version") -> ScalarSelect:
    """A counter of a scope (`scope_id`: an id, or a bound parameter)."""
    return (
        select(_versions.c[column])
        .where(_versions.c.scope == scope, _versions.c.scope_id == scope_id)
        .scalar_subquery()
    )


def _digest(*parts: object) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


@lru_cache(maxsize=2)
def _signed_in_inbox_statement(with_open_conversation: bool):
    """Built once (with or without the open conversation): the signed-in user (as the user loader
    reads them: only while the session is live) and, one row each, the numbers behind their tabs
    with their counters: those they have access to, and their offices' numbers (where
    participations show), each marked whether the user sees it whole (by the rules of their
    role). A user without numbers gets one row whose number columns are NULL.

    With the open conversation (`conversation_id`), each row ends with that conversation's number,
    NULL unless the user may see it, and its counter."""
    user_id = bindparam("id")
    number_counter = _versions.alias("number_counter")
    mine, seen_whole = access.my_numbers_seen_whole(user_id, _users.role == Role.ADMIN)
    statement = (
        select(
            *sessions.SIGNED_IN_USER_COLUMNS,
            _numbers.id,
            seen_whole.label("visible"),
            _numbers.backing,
            number_agents.c.user_id.is_not(None).label("agent"),
            _numbers.label,
            _numbers.phone,
            _numbers.active,
            number_counter.c.version,
            number_counter.c.attention,
            _counter("user", user_id),
            _counter("user", user_id, "attention"),
            _counter("directory", DIRECTORY_ID),
        )
        .select_from(User.__table__)
        .outerjoin(ReusableNumber.__table__, mine)
        .outerjoin(
            number_agents,
            and_(number_agents.c.number_id == _numbers.id, number_agents.c.user_id == user_id),
        )
        .outerjoin(
            number_counter,
            and_(number_counter.c.scope == "number", number_counter.c.scope_id == _numbers.id),
        )
        .where(sessions.SIGNED_IN)
        .order_by(_numbers.id)
    )
    if not with_open_conversation:
        return statement
    return statement.add_columns(
        _visible_conversation_number(user_id), _counter("conversation", bindparam("conversation_id"))
    )


def _visible_conversation_number(user_id) -> ScalarSelect:
    """The number of conversation `conversation_id`, NULL unless the user may see it (by
    `access.visible_on_its_number`, for the role the user has). It correlates with nothing, so
    each database runs it once per statement, not once per row."""
    viewer = User.__table__.alias("viewer")
    is_admin = select(viewer.c.role).where(viewer.c.id == user_id).scalar_subquery() == Role.ADMIN
    thread = Conversation.__table__.join(
        ReusableNumber.__table__, _numbers.id == _conversations.number_id
    )
    return (
        select(_conversations.number_id)
        .select_from(thread)
        .where(
            _conversations.id == bindparam("conversation_id"),
            access.visible_on_its_number(user_id, is_admin),
        )
        .correlate(None)
        .scalar_subquery()
    )


@lru_cache(maxsize=1)
def _signed_in_conversation_statement():
    """Built once: the signed-in user (as `_signed_in_inbox_statement`) and the conversation's
    counter, number and directory counter, NULL unless the user may see the conversation (by the
    rules of their role)."""
    user_id = bindparam("id")
    conversation_counter = _versions.alias("conversation_counter")
    visible = access.visible_on_its_number(user_id, _users.role == Role.ADMIN)
    thread = Conversation.__table__.join(
        ReusableNumber.__table__, _numbers.id == _conversations.number_id
    )
    return (
        select(
            *sessions.SIGNED_IN_USER_COLUMNS,
            _conversations.id,
            func.coalesce(conversation_counter.c.version, 0),
            _numbers.label,
            _numbers.phone,
            _numbers.active,
            _counter("directory", DIRECTORY_ID),
        )
        .select_from(User.__table__)
        .outerjoin(thread, and_(_conversations.id == bindparam("conversation_id"), visible))
        .outerjoin(
            conversation_counter,
            and_(
                conversation_counter.c.scope == "conversation",
                conversation_counter.c.scope_id == _conversations.id,
            ),
        )
        .where(sessions.SIGNED_IN)
    )


class _NumberRow(NamedTuple):
    """A number behind the user's tabs, as `_signed_in_inbox_statement` reads it after the user."""

    id: int
    visible: bool  # seen whole, not only where the user takes part
    backing: str
    agent: bool
    label: str
    phone: str
    active: bool  # a deactivated number's conversations show that nothing can be sent
    version: int | None
    attention_version: int | None
    user_version: int | None  # the user's read marks and participations Participating shows
    user_attention_version: int | None  # those Needs Attention shows
    directory_version: int | None


# The readers below run a statement whose first columns are the user's (SIGNED_IN_USER_COLUMNS)
# and keep the rest of each row in `g`, under keys that the version functions look up.
_USER_WIDTH = len(sessions.SIGNED_IN_USER_COLUMNS)
_NUMBER_WIDTH = len(_NumberRow._fields)
_READ_ALONG = "parley_poll_inputs"


def _load_user_with(statement, params: dict) -> tuple[SignedInUser | None, list[tuple]]:
    """The signed-in user (None when the session does not sign them in), and the rest of each row
    unless its first column after the user's is NULL (no number, or no visible conversation)."""
    rows = db.session.execute(statement, params).all()
    if not rows:
        return None, []
    rest = [tuple(row[_USER_WIDTH:]) for row in rows if row[_USER_WIDTH] is not None]
    return SignedInUser(*rows[0][:_USER_WIDTH]), rest


def _keep(key: tuple, rows: list[tuple]) -> None:
    """Keep what a reader read for this request, for the version functions."""
    g.setdefault(_READ_ALONG, {})[key] = rows


def _read_along(key: tuple) -> list[tuple]:
    try:
        return g.get(_READ_ALONG, {})[key]
    except KeyError:
        raise LookupError(
            f"the {key[0]} poll's version is read with its user: mark the view user_read_with(...)"
        ) from None


def signed_in_with_inbox(params: dict, open_conversation_id: int | None = None) -> SignedInUser | None:
    """A user loader for the inbox (`user_read_with`): the signed-in user, with the numbers behind
    their tabs and the tabs' version inputs, read in the same statement; and with the version
    inputs of the conversation open beside the list, if any (`open_conversation_version`)."""
    if open_conversation_id is None:
        user, rows = _load_user_with(_signed_in_inbox_statement(False), params)
    else:
        statement = _signed_in_inbox_statement(True)
        user, rows = _load_user_with(statement, {**params, "conversation_id": open_conversation_id})
        key = ("open conversation", params["id"], open_conversation_id)
        _keep(key, [row[_NUMBER_WIDTH:] for row in rows])
    _keep(("inbox", params["id"]), [row[:_NUMBER_WIDTH] for row in rows])
    return user


def signed_in_with_conversation(params: dict, conversation_id: int) -> SignedInUser | None:
    """A user loader for a conversation's refresh (`user_read_with`; `conversation_id` from the
    URL): the signed-in user, with the conversation's version inputs."""
    statement = _signed_in_conversation_statement()
    user, rows = _load_user_with(statement, {**params, "conversation_id": conversation_id})
    _keep(("conversation", params["id"], conversation_id), rows)
    return user


def _number_rows(user: SignedInUser) -> list[_NumberRow]:
    return [_NumberRow(*row) for row in _read_along(("inbox", user.id))]


def inbox_numbers(user: SignedInUser) -> access.InboxNumbers:
    """The numbers behind the user's inbox, from what `signed_in_with_inbox` read: those they see
    whole, and the bot-backed ones of those they are assigned to."""
    rows = _number_rows(user)
    visible = [row for row in rows if row.visible]
    return access.InboxNumbers(
        visible=tuple(row.id for row in visible),
        bot_assigned=tuple(row.id for row in visible if row.agent and row.backing == Backing.BOT),
    )


def directory_version(user: SignedInUser) -> int | None:
    """The directory's counter (contacts' names), as `signed_in_with_inbox` read it; None for a
    user without numbers, whose inbox names nobody."""
    rows = _number_rows(user)
    return rows[0].directory_version if rows else None


def inbox_version(user: SignedInUser, tab: str, context: str) -> str:
    """The tag of the user's inbox tab, from what `signed_in_with_inbox` read (`inbox_numbers`
    gives their numbers, for rendering them)."""
    rows = _number_rows(user)
    # Each tab leaves out the counters of changes only the other one shows.
    if tab == NEEDS_ATTENTION:
        rows = [row._replace(version=None, user_version=None) for row in rows]
    else:
        rows = [row._replace(user_attention_version=None) for row in rows]
    return _digest(context, user.id, user.role, rows)


def _conversation_tag(user: SignedInUser, conversation_id: int, context: str, inputs: tuple) -> str:
    """`inputs`: the conversation's id and counter, its number's label, phone and whether it is
    active, the directory's counter (the columns of `_signed_in_conversation_statement` after the
    user's)."""
    return _digest(context, user.id, user.role, conversation_id, inputs)


def conversation_version(user: SignedInUser, conversation_id: int, context: str) -> str | None:
    """The tag of the open conversation, from what `signed_in_with_conversation` read; None when
    the user may not see it."""
    rows = _read_along(("conversation", user.id, conversation_id))
    if not rows:
        return None
    return _conversation_tag(user, conversation_id, context, rows[0])


def open_conversation_version(user: SignedInUser, conversation_id: int, context: str) -> str | None:
    """The tag of the conversation open beside the inbox, from what `signed_in_with_inbox` read
    with it: the same as its refresh's (`conversation_version`). None when the user may not see
    it."""
    read = _read_along(("open conversation", user.id, conversation_id))
    if not read:
        return None
    number_id, version = read[0]  # the same in every row; the number NULL unless visible
    for number in _number_rows(user):
        if number.id == number_id:
            inputs = (
                conversation_id, version or 0, number.label, number.phone, number.active,
                number.directory_version,
            )  # fmt: skip
            return _conversation_tag(user, conversation_id, context, inputs)
    return None


def conversation_version_now(
    user: SignedInUser, conversation_id: int, context: str
) -> str | None:
    """The tag of a conversation, read outside its refresh (which reads it with the user): for a
    rendered pane, which carries it. One statement, the refresh's; None when the user may not see
    the conversation."""
    params = sessions.live_session_params(user.id)
    if params is None or signed_in_with_conversation(params, conversation_id) is None:
        return None
    return conversation_version(user, conversation_id, context)


def changes_at(messages: Iterable[HistoryEntry]) -> datetime | None:
    """When the thread will read differently with no write at all: a queued message becomes
    "delayed" after a while. None when nothing shown depends on the time."""
    due = [
        message.created_at + DELAYED_AFTER
        for message in messages
        if message.status == Status.QUEUED and not message.is_delayed
    ]
    return min(due, default=None)
