"""The inbox: the Needs Attention and Participating tabs, their counts, keyset-paginated lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select, tuple_, union

from webapp.extensions import db
from webapp.models import (
    Backing,
    Conversation,
    Participant,
    ReadMark,
    ReusableNumber,
    User,
    number_agents,
)
from webapp.services import access
from webapp.services.contacts import display_names
from webapp.services.optouts import opted_out_phones
from webapp.services.phones import format_phone

NEEDS_ATTENTION = "attention"
PARTICIPATING = "participating"
TABS = (NEEDS_ATTENTION, PARTICIPATING)


@dataclass(frozen=True)
class ConversationRow:
    id: int
    display_name: str
    phone: str
    number_label: str
    preview: str
    last_activity_at: datetime
    unread: bool
    mode: str
    needs_attention: bool
    opted_out: bool


@dataclass(frozen=True)
class InboxPage:
    tab: str
    rows: list[ConversationRow]
    next_cursor: str | None


def _tab_clause(user: User, tab: str):
    """SQL condition: a conversation in the user's tab.

    Written as `id IN (a union of index-driven selects)` rather than an OR with a correlated EXISTS:
    the OR made both databases walk every conversation with the same attention flag (most of the
    table for Participating), so counts and pages grew with the data. Each select here reads only
    the user's numbers or participations.
    """
    joined = select(Participant.conversation_id).where(Participant.user_id == user.id)
    if tab == NEEDS_ATTENTION:
        on_numbers = select(Conversation.id).where(
            Conversation.number_id.in_(access.visible_number_ids(user)),
            Conversation.needs_attention.is_(True),
        )
        return and_(Conversation.needs_attention.is_(True), Conversation.id.in_(union(on_numbers, joined)))
    bot_numbers = list(
        db.session.scalars(
            select(number_agents.c.number_id)
            .join(ReusableNumber, ReusableNumber.id == number_agents.c.number_id)
            .where(number_agents.c.user_id == user.id, ReusableNumber.backing == Backing.BOT)
        )
    )
    ids = joined
    if bot_numbers:
        on_bot_numbers = select(Conversation.id).where(
            Conversation.number_id.in_(bot_numbers), Conversation.needs_attention.is_(False)
        )
        ids = union(joined, on_bot_numbers)
    return and_(Conversation.needs_attention.is_(False), Conversation.id.in_(ids))


def counts(user: User) -> dict[str, int]:
    return {
        tab: db.session.scalar(select(func.count()).select_from(Conversation).where(_tab_clause(user, tab)))
        or 0
        for tab in TABS
    }


def encode_cursor(row: ConversationRow) -> str:
    return f"{row.last_activity_at.isoformat()}_{row.id}"


def decode_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    """The (last activity, id) a page continues after; None for a missing or garbled cursor."""
    if not cursor:
        return None
    try:
        stamp, _, ident = cursor.rpartition("_")
        at = datetime.fromisoformat(stamp)
        if at.tzinfo is None:
            return None
        return at, int(ident)
    except ValueError:
        return None


def list_tab(user: User, tab: str, cursor: str | None = None, limit: int = 25) -> InboxPage:
    if tab not in TABS:
        tab = NEEDS_ATTENTION
    query = (
        select(Conversation, ReusableNumber.label, ReusableNumber.phone, ReadMark.read_at)
        .join(ReusableNumber, ReusableNumber.id == Conversation.number_id)
        .outerjoin(
            ReadMark,
            and_(ReadMark.conversation_id == Conversation.id, ReadMark.user_id == user.id),
        )
        .where(_tab_clause(user, tab))
        .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
        .limit(limit + 1)
    )
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(tuple_(Conversation.last_activity_at, Conversation.id) < after)
    results = db.session.execute(query).all()
    has_more = len(results) > limit
    results = results[:limit]
    phones = [conversation.contact_phone for conversation, *_ in results]
    names = display_names(phones)
    opted_out = opted_out_phones(phones)
    rows = [
        ConversationRow(
            id=conversation.id,
            display_name=names[conversation.contact_phone],
            phone=format_phone(conversation.contact_phone),
            number_label=label or format_phone(number_phone),
            preview=conversation.last_message_preview,
            last_activity_at=conversation.last_activity_at,
            unread=conversation.last_inbound_at is not None
            and (read_at is None or read_at < conversation.last_inbound_at),
            mode=conversation.mode,
            needs_attention=conversation.needs_attention,
            opted_out=conversation.contact_phone in opted_out,
        )
        for conversation, label, number_phone, read_at in results
    ]
    next_cursor = encode_cursor(rows[-1]) if has_more and rows else None
    return InboxPage(tab=tab, rows=rows, next_cursor=next_cursor)


@dataclass(frozen=True)
class ConversationView:
    """Everything the conversation pane shows, loaded in a fixed number of queries."""

    conversation: Conversation
    number: ReusableNumber
    display_name: str
    phone: str
    opted_out: bool
    messages: list

    @property
    def mode_label(self) -> str:
        return "1:1 Text (Bot)" if self.conversation.mode == "bot" else "1:1 Text (Agent)"


def conversation_view(conversation: Conversation) -> ConversationView:
    from webapp.services.conversations import history

    phone = conversation.contact_phone
    return ConversationView(
        conversation=conversation,
        number=conversation.number,
        display_name=display_names([phone])[phone],
        phone=format_phone(phone),
        opted_out=bool(opted_out_phones([phone])),
        messages=history(conversation),
    )
