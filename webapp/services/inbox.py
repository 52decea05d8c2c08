"""The inbox: the Needs Attention and Participating tabs, their counts, keyset-paginated lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import and_, bindparam, func, select, tuple_, union

from webapp.models import (
    Conversation,
    OptOut,
    Participant,
    ReadMark,
    ReusableNumber,
    User,
)
from webapp.services import access
from webapp.services.contacts import display_names
from webapp.services.dbutil import run_core
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


COUNT_CAP = 100  # tab counts stop here ("99+"), so a count costs the same whatever the backlog


def _own_numbers(user: User, tab: str) -> tuple[int, ...]:
    numbers = access.inbox_numbers(user)
    return numbers.visible if tab == NEEDS_ATTENTION else numbers.bot_assigned


# The inbox statements are built once per shape (tab, how many numbers, page size) and cached;
# a request only binds its values (`_params`): building them anew cost more than running them.
#
# A tab is the union of two sources, each read from an index in (activity, id) order:
# - the user's participations (their copies of the conversation's flag and last activity,
#   ix_participants_inbox): Needs Attention holds those needing attention, Participating the rest;
# - the user's "own" numbers (ix_conversations_inbox): for Needs Attention every number whose
#   conversations the user sees, for Participating the bot-backed numbers where they are an agent.


def _joined(tab: str):
    """The user's participations in the tab, as (id, last_activity_at)."""
    return select(
        Participant.conversation_id.label("id"), Participant.last_activity_at.label("last_activity_at")
    ).where(
        Participant.user_id == bindparam("user_id"),
        Participant.needs_attention == (tab == NEEDS_ATTENTION),  # "= true" is indexable
    )


def _on_number(tab: str, number):  # noqa: ANN001
    return select(Conversation.id, Conversation.last_activity_at).where(
        Conversation.number_id == number, Conversation.needs_attention == (tab == NEEDS_ATTENTION)
    )


def _params(user: User) -> dict:
    params: dict = {"user_id": user.id}
    for tab in TABS:
        own = _own_numbers(user, tab)
        params[f"{tab}_own"] = list(own)
        params.update({f"{tab}_own_{k}": number_id for k, number_id in enumerate(own)})
    return params


@lru_cache(maxsize=512)
def _counts_statement(attention_own: int, participating_own: int):
    """Each tab counted as two disjoint parts, each stopping at COUNT_CAP rows."""

    def capped(tab: str, own_count: int):
        parts = [_joined(tab)]
        if own_count:
            own = bindparam(f"{tab}_own", expanding=True)
            parts = [
                parts[0].where(Participant.number_id.not_in(own)),
                _on_number(tab, Conversation.number_id).where(Conversation.number_id.in_(own)),
            ]
        limited = [part.limit(COUNT_CAP).subquery() for part in parts]
        return sum(select(func.count()).select_from(sub).scalar_subquery() for sub in limited)

    return select(capped(NEEDS_ATTENTION, attention_own), capped(PARTICIPATING, participating_own))


def counts(user: User) -> dict[str, int]:
    """Conversations in each tab, up to COUNT_CAP (one query)."""
    shape = (len(_own_numbers(user, tab)) for tab in TABS)
    row = run_core(_counts_statement(*shape), _params(user)).one()
    return {tab: min(value, COUNT_CAP) for tab, value in zip(TABS, row, strict=True)}


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


@lru_cache(maxsize=512)
def _page_statement(tab: str, own_count: int, limit: int, paged: bool):
    """The newest `limit` rows of each source merged: the page is the newest `limit` of those.

    Sources overlap (a participation on an own number), so the merge is a UNION, not UNION ALL.
    """
    after = tuple_(
        bindparam("after_at", type_=Conversation.last_activity_at.type), bindparam("after_id")
    )
    sources = [_joined(tab)]
    sources += [_on_number(tab, bindparam(f"{tab}_own_{k}")) for k in range(own_count)]
    newest_of_each = []
    for source in sources:
        ident, at = source.selected_columns
        if paged:
            source = source.where(tuple_(at, ident) < after)
        source = source.order_by(at.desc(), ident.desc()).limit(limit)
        newest_of_each.append(select(source.subquery()))
    candidates = union(*newest_of_each).subquery()
    page_ids = (
        select(candidates.c.id)
        .order_by(candidates.c.last_activity_at.desc(), candidates.c.id.desc())
        .limit(limit)
        .subquery()
    )
    newest = (Conversation.last_activity_at.desc(), Conversation.id.desc())
    return (
        select(
            Conversation.id,
            Conversation.contact_phone,
            Conversation.last_message_preview,
            Conversation.last_activity_at,
            Conversation.last_inbound_at,
            Conversation.mode,
            Conversation.needs_attention,
            ReusableNumber.label,
            ReusableNumber.phone.label("number_phone"),
            ReadMark.read_at,
            OptOut.phone.label("opted_out"),
        )
        .join(page_ids, page_ids.c.id == Conversation.id)
        .join(ReusableNumber, ReusableNumber.id == Conversation.number_id)
        .outerjoin(
            ReadMark,
            and_(
                ReadMark.conversation_id == Conversation.id,
                ReadMark.user_id == bindparam("user_id"),
            ),
        )
        # A join on the opt-outs' key: one probe per row (PostgreSQL hashed a subquery over every
        # opt-out instead).
        .outerjoin(OptOut, OptOut.phone == Conversation.contact_phone)
        .order_by(*newest)
    )


def list_tab(user: User, tab: str, cursor: str | None = None, limit: int = 25) -> InboxPage:
    """A page of the tab, newest activity first, after `cursor` (keyset pagination, no OFFSET).

    Each branch reads at most limit + 1 rows from the inbox index; the newest of those make the
    page, so a page costs the same at 1,000 or 1,000,000 conversations.
    """
    if tab not in TABS:
        tab = NEEDS_ATTENTION
    after = decode_cursor(cursor)
    params = _params(user)
    if after is not None:
        params.update(after_at=after[0], after_id=after[1])
    statement = _page_statement(tab, len(_own_numbers(user, tab)), limit + 1, after is not None)
    results = run_core(statement, params).all()
    has_more = len(results) > limit
    results = results[:limit]
    names = display_names([r.contact_phone for r in results])
    rows = [
        ConversationRow(
            id=r.id,
            display_name=names[r.contact_phone],
            phone=format_phone(r.contact_phone),
            number_label=r.label or format_phone(r.number_phone),
            preview=r.last_message_preview,
            last_activity_at=r.last_activity_at,
            unread=r.last_inbound_at is not None
            and (r.read_at is None or r.read_at < r.last_inbound_at),
            mode=r.mode,
            needs_attention=r.needs_attention,
            opted_out=r.opted_out is not None,
        )
        for r in results
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
