"""The inbox: the Needs Attention and Participating tabs, their counts, keyset-paginated lists."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple

from sqlalchemy import and_, bindparam, case, false, func, or_, select, true, tuple_, union

from webapp.extensions import db
from webapp.models import (
    Conversation,
    Office,
    OptOut,
    Participant,
    ReadMark,
    ReusableNumber,
    User,
)
from webapp.services import access, media
from webapp.services.contacts import display_names
from webapp.services.dbutil import in_list, written_limit
from webapp.services.phones import format_phone
from webapp.services.quiet_hours import QuietHours, format_local, release_time, zone_or_utc

# Tables, not mapped classes: the inbox's statements run as Core statements, without the ORM's
# per-execution work (see docs/performance.md).
_CONVERSATIONS = Conversation.__table__
_NUMBERS = ReusableNumber.__table__
_OFFICES = Office.__table__
_OPT_OUTS = OptOut.__table__
_PARTICIPANTS = Participant.__table__
_READ_MARKS = ReadMark.__table__

NEEDS_ATTENTION = "attention"
PARTICIPATING = "participating"
TABS = (NEEDS_ATTENTION, PARTICIPATING)


class ConversationRow(NamedTuple):
    """One row of a tab (a tuple: a page builds 25 of them per refresh)."""

    id: int
    display_name: str
    number_label: str
    preview: str
    last_activity_at: datetime
    unread: bool
    mode: str
    opted_out: bool


@dataclass(frozen=True)
class InboxPage:
    tab: str
    rows: list[ConversationRow]
    next_cursor: str | None
    counts: dict[str, int] | None = None  # both tabs' counts, with a first page (see list_tab)


COUNT_CAP = 100  # tab counts stop here ("99+"), so a count costs the same whatever the backlog


def _own_numbers(numbers: access.InboxNumbers, tab: str) -> tuple[int, ...]:
    return numbers.visible if tab == NEEDS_ATTENTION else numbers.bot_assigned


# The inbox statements are built once per shape (tab, how many numbers, page size) and cached;
# a request only binds its values (`_params`): building them anew cost more than running them.
#
# A tab is the union of two sources, each read from an index in (activity, id) order:
# - the user's participations (their copies of the conversation's flag and last activity,
#   ix_participants_inbox) that still make the conversation visible (see _joined): Needs
#   Attention holds those needing attention, Participating the rest;
# - the user's "own" numbers (ix_conversations_inbox): for Needs Attention every number whose
#   conversations the user sees, for Participating the bot-backed numbers where they are an agent.


def _joined(tab: str):
    """The user's participations in the tab, as (id, last_activity_at).

    Only those that still make their conversation visible: on a number the user sees whole
    (`visible`, bound) or one of their offices' numbers. Filtered by the participation's copy of
    its number, so the index still gives the order.
    """
    user_id = bindparam("user_id")
    return select(
        _PARTICIPANTS.c.conversation_id.label("id"),
        _PARTICIPANTS.c.last_activity_at.label("last_activity_at"),
    ).where(
        _PARTICIPANTS.c.user_id == user_id,
        _PARTICIPANTS.c.needs_attention == (tab == NEEDS_ATTENTION),  # "= true" is indexable
        or_(
            in_list(_PARTICIPANTS.c.number_id, "visible"),
            _PARTICIPANTS.c.number_id.in_(access.numbers_of_my_offices(user_id)),
        ),
    )


def _on_number(tab: str, number):
    return select(_CONVERSATIONS.c.id, _CONVERSATIONS.c.last_activity_at).where(
        _CONVERSATIONS.c.number_id == number, _CONVERSATIONS.c.needs_attention == (tab == NEEDS_ATTENTION)
    )


def _own_counts(numbers: access.InboxNumbers) -> tuple[int, int]:
    """How many own numbers each tab has: the shape its statements are built for."""
    attention, participating = (len(_own_numbers(numbers, tab)) for tab in TABS)
    return attention, participating


def _params(user: User, numbers: access.InboxNumbers) -> dict:
    params: dict = {"user_id": user.id, "visible": list(numbers.visible)}
    for tab in TABS:
        own = _own_numbers(numbers, tab)
        params[f"{tab}_own"] = list(own)
        params.update({f"{tab}_own_{k}": number_id for k, number_id in enumerate(own)})
    return params


def _tab_counts(attention_own: int, participating_own: int) -> list:
    """Each tab counted as two disjoint parts, each stopping at COUNT_CAP rows (two columns)."""

    def capped(tab: str, own_count: int):
        parts = [_joined(tab)]
        if own_count:
            parts = [
                parts[0].where(~in_list(_PARTICIPANTS.c.number_id, f"{tab}_own")),
                _on_number(tab, _CONVERSATIONS.c.number_id).where(
                    in_list(_CONVERSATIONS.c.number_id, f"{tab}_own")
                ),
            ]
        limited = [part.limit(written_limit(COUNT_CAP)).subquery() for part in parts]
        return sum(select(func.count()).select_from(sub).scalar_subquery() for sub in limited)

    return [
        capped(NEEDS_ATTENTION, attention_own).label("attention_count"),
        capped(PARTICIPATING, participating_own).label("participating_count"),
    ]


@lru_cache(maxsize=512)
def _counts_statement(attention_own: int, participating_own: int):
    return select(*_tab_counts(attention_own, participating_own))


def _capped(values) -> dict[str, int]:
    return {tab: min(value, COUNT_CAP) for tab, value in zip(TABS, values, strict=True)}


def counts(user: User, numbers: access.InboxNumbers | None = None) -> dict[str, int]:
    """Conversations in each tab, up to COUNT_CAP (one query)."""
    numbers = numbers or access.inbox_numbers(user)
    return _capped(db.session.execute(_counts_statement(*_own_counts(numbers)), _params(user, numbers)).one())


@lru_cache(maxsize=1)
def _waiting_statement():
    return _joined(NEEDS_ATTENTION).limit(1)


def mine_need_attention(user: User, numbers: access.InboxNumbers | None = None) -> bool:
    """Whether a conversation the user took part in needs attention now (and so is not under
    Participating): one indexed row at most, read only when Participating is empty."""
    numbers = numbers or access.inbox_numbers(user)
    params = {"user_id": user.id, "visible": list(numbers.visible)}
    return db.session.execute(_waiting_statement(), params).first() is not None


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


def _with_number_read_mark_and_opt_out(conversations):
    """A select of conversations joined with their number, and with two more columns: whether the
    user (`user_id`) has a contact's message unread, and the contact's opt-out. Each is joined on
    its key: one probe per row (PostgreSQL hashed a subquery over every opt-out instead)."""
    # Decided in SQL: two timestamps per row would cost more to read than the comparison.
    unread = and_(
        _CONVERSATIONS.c.last_inbound_at.is_not(None),
        or_(_READ_MARKS.c.read_at.is_(None), _READ_MARKS.c.read_at < _CONVERSATIONS.c.last_inbound_at),
    )
    return (
        conversations.add_columns(
            case((unread, true()), else_=false()).label("unread"), _OPT_OUTS.c.phone.label("opted_out")
        )
        .join(_NUMBERS, _NUMBERS.c.id == _CONVERSATIONS.c.number_id)
        .outerjoin(
            _READ_MARKS,
            and_(
                _READ_MARKS.c.conversation_id == _CONVERSATIONS.c.id,
                _READ_MARKS.c.user_id == bindparam("user_id"),
            ),
        )
        .outerjoin(_OPT_OUTS, _OPT_OUTS.c.phone == _CONVERSATIONS.c.contact_phone)
    )


@lru_cache(maxsize=512)
def _page_statement(tab: str, own_counts: tuple[int, int], limit: int, paged: bool):
    """The newest `limit` rows of each source merged: the page is the newest `limit` of those.

    Sources overlap (a participation on an own number), so the merge is a UNION, not UNION ALL.
    A first page also carries both tabs' counts on every row (subqueries run once): the list
    every open inbox polls then costs one statement fewer.
    """
    own_count = own_counts[TABS.index(tab)]
    after = tuple_(bindparam("after_at", type_=_CONVERSATIONS.c.last_activity_at.type), bindparam("after_id"))
    sources = [_joined(tab)]
    sources += [_on_number(tab, bindparam(f"{tab}_own_{k}")) for k in range(own_count)]
    newest_of_each = []
    for source in sources:
        ident, at = source.selected_columns
        if paged:
            source = source.where(tuple_(at, ident) < after)
        source = source.order_by(at.desc(), ident.desc()).limit(written_limit(limit))
        newest_of_each.append(select(source.subquery()))
    candidates = union(*newest_of_each).subquery()
    page_ids = (
        select(candidates.c.id)
        .order_by(candidates.c.last_activity_at.desc(), candidates.c.id.desc())
        .limit(written_limit(limit))
        .subquery()
    )
    newest = (_CONVERSATIONS.c.last_activity_at.desc(), _CONVERSATIONS.c.id.desc())
    page = select(
        _CONVERSATIONS.c.id,
        _CONVERSATIONS.c.contact_phone,
        _CONVERSATIONS.c.last_message_preview,
        _CONVERSATIONS.c.last_activity_at,
        _CONVERSATIONS.c.mode,
        _NUMBERS.c.label,
        _NUMBERS.c.phone.label("number_phone"),
    ).join(page_ids, page_ids.c.id == _CONVERSATIONS.c.id)
    if not paged:
        page = page.add_columns(*_tab_counts(*own_counts))
    return _with_number_read_mark_and_opt_out(page).order_by(*newest)


def list_tab(
    user: User,
    tab: str,
    cursor: str | None = None,
    limit: int = 25,
    numbers: access.InboxNumbers | None = None,
    directory_version: int | None = None,
) -> InboxPage:
    """A page of the tab, newest activity first, after `cursor` (keyset pagination, no OFFSET).

    Each branch reads at most limit + 1 rows from the inbox index; the newest of those make the
    page, so a page costs the same at 1,000 or 1,000,000 conversations. `directory_version`: the
    directory's counter, when the request read it (`contacts.display_names` keeps names by it).
    """
    if tab not in TABS:
        tab = NEEDS_ATTENTION
    after = decode_cursor(cursor)
    numbers = numbers or access.inbox_numbers(user)  # the inbox route reads them with its user
    params = _params(user, numbers)
    if after is not None:
        params.update(after_at=after[0], after_id=after[1])
    statement = _page_statement(tab, _own_counts(numbers), limit + 1, after is not None)
    results = db.session.execute(statement, params).all()
    tab_counts = None
    if after is None:  # an empty tab has no row to carry the counts
        first = results[0] if results else None
        tab_counts = (
            _capped((first.attention_count, first.participating_count)) if first else counts(user, numbers)
        )
    has_more = len(results) > limit
    results = results[:limit]
    names = display_names([r.contact_phone for r in results], directory_version)
    # Unpacked by position: 25 rows of ten columns, where each lookup by name costs.
    rows = [
        ConversationRow(
            conversation_id,
            names[phone],
            label or format_phone(number_phone),
            preview,
            last_activity_at,
            bool(unread),
            mode,
            opted_out is not None,
        )
        for (
            conversation_id, phone, preview, last_activity_at, mode, label, number_phone,
            *_counts, unread, opted_out,
        ) in results
    ]  # fmt: skip
    next_cursor = encode_cursor(rows[-1]) if has_more and rows else None
    return InboxPage(tab=tab, rows=rows, next_cursor=next_cursor, counts=tab_counts)


def down_to(page: InboxPage, moment: datetime, at_least: int) -> InboxPage:
    """The page's rows active at `moment` (to the second, as the list shows it) or later, and at
    least `at_least` of them: a refreshed list reaches as far down as the reader had loaded."""
    moment = moment.replace(microsecond=0)
    kept = max(at_least, sum(1 for row in page.rows if row.last_activity_at >= moment))
    if kept >= len(page.rows):
        return page
    return replace(page, rows=page.rows[:kept], next_cursor=encode_cursor(page.rows[kept - 1]))


@dataclass(frozen=True)
class ConversationView:
    """Everything the conversation pane shows, loaded in a fixed number of queries."""

    id: int
    mode: str
    needs_attention: bool
    number_label: str
    display_name: str
    phone: str
    opted_out: bool
    unread: bool  # for the user: a contact's message arrived since they last read it
    messages: list
    # The office's time zone and quiet hours, and the contact's last text: when a Send is held.
    time_zone: str | None = None
    quiet: QuietHours | None = None
    last_inbound_at: datetime | None = None
    pictures_offered: bool = False  # the number's provider sends MMS: the reply offers Attach picture
    number_active: bool = True  # False: an admin deactivated the number, nothing can be sent from it

    @property
    def mode_label(self) -> str:
        return "1:1 Text (Bot)" if self.mode == "bot" else "1:1 Text (Agent)"

    def local_time(self, moment: datetime) -> str:
        """A moment in the office's time zone, e.g. "Mon, Mar 9, 8:00 AM EDT"."""
        return format_local(moment, zone_or_utc(self.time_zone))

    def goes_at(self, send_at: datetime) -> str:
        """When a held text goes, in the office's time zone: its time, or the end of the office's
        quiet hours when they (changed since it was scheduled) cover it: release holds it again."""
        return self.local_time(release_time(send_at, self.quiet))

    def hold_notice(self, now: datetime) -> str | None:
        """What the reply box says before Send when a reply sent now would be held."""
        if self.quiet is None:
            return None
        until = self.quiet.hold_agent_text(now, self.last_inbound_at)
        if until is None:
            return None
        return (
            f"Quiet hours, {self.quiet.describe()}: a message sent now is held and goes "
            f"{self.local_time(until)}. You can cancel it until then."
        )


@lru_cache(maxsize=2)
def _conversation_pane_statement(admin: bool):
    """Built once (per role kind): the conversation, if visible, with its number, the user's read
    mark and the contact's opt-out, in one statement (every open conversation and refresh asks)."""
    conversation = select(
        _CONVERSATIONS.c.id,
        _CONVERSATIONS.c.contact_phone,
        _CONVERSATIONS.c.mode,
        _CONVERSATIONS.c.needs_attention,
        _NUMBERS.c.label,
        _NUMBERS.c.phone,
        _CONVERSATIONS.c.last_inbound_at,
        _OFFICES.c.time_zone,
        _OFFICES.c.quiet_hours_start,
        _OFFICES.c.quiet_hours_end,
        _NUMBERS.c.provider,
        _NUMBERS.c.active,
    )
    joined = _with_number_read_mark_and_opt_out(conversation)
    return joined.join(_OFFICES, _OFFICES.c.id == _NUMBERS.c.office_id).where(
        _CONVERSATIONS.c.id == bindparam("conversation_id"),
        access.visible_conversation_clause(bindparam("user_id"), admin),
    )


def conversation_view(user: User, conversation_id: int) -> ConversationView:
    """The conversation pane, when the conversation is visible to the user; AccessDenied otherwise."""
    from webapp.services.conversations import history

    params = {"conversation_id": conversation_id, "user_id": user.id}
    row = db.session.execute(_conversation_pane_statement(user.is_admin), params).first()
    if row is None:
        raise access.AccessDenied("conversation not visible")
    phone = row.contact_phone
    return ConversationView(
        id=row.id,
        mode=row.mode,
        needs_attention=row.needs_attention,
        number_label=row.label or row.phone,
        display_name=display_names([phone])[phone],
        phone=format_phone(phone),
        opted_out=row.opted_out is not None,
        unread=bool(row.unread),
        messages=history(row.id),
        time_zone=row.time_zone,
        quiet=QuietHours.of(row.time_zone, row.quiet_hours_start, row.quiet_hours_end),
        last_inbound_at=row.last_inbound_at,
        pictures_offered=media.sends_pictures(row.provider),
        number_active=row.active,
    )
