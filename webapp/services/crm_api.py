"""The CRM API's rules: what a key may send and read. A key reaches its own office only: the
numbers of that office and their conversations. Sending goes through `sending`, as the UI's does.

Errors are `ApiProblem`s with a `detail` a person can act on; the web layer turns them into
RFC 9457 problem documents.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, bindparam, exists, func, or_, select

from webapp.extensions import db
from webapp.models import (
    Conversation,
    Message,
    OptOut,
    ReusableNumber,
    Status,
    utcnow,
)
from webapp.services import conversations, sending
from webapp.services.api_conversations import (
    ApiConversation,
    conversations_query,
    named,
    office_campaign_names,
)
from webapp.services.api_keys import Caller
from webapp.services.api_messages import ApiMessage, messages_from_rows, messages_query, office_message
from webapp.services.optouts import is_opted_out
from webapp.services.phones import PhoneError, parse_us_phone
from webapp.transactions import discard_writes

DEFAULT_PAGE = 50
MAX_PAGE = 200


class ApiProblem(Exception):
    """A refused request. `kind` names the problem type (a slug documented at /api/v1/docs)."""

    def __init__(
        self, status: int, kind: str, title: str, detail: str, errors: list[dict] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail
        self.errors = errors or []


def not_found(what: str) -> ApiProblem:
    return ApiProblem(
        404, "not-found", "Not found",
        f"There is no {what} with that id among your office's conversations.",
    )  # fmt: skip


# Titles of the problem types that the request's validation gives too (web/api).
TITLES = {
    "invalid-phone": "Invalid phone number",
    "invalid-text": "Invalid text",
    "invalid-cursor": "Invalid cursor",
}


def invalid_phone(field: str, exc: PhoneError) -> ApiProblem:
    return ApiProblem(
        422, "invalid-phone", TITLES["invalid-phone"], f"{field}: {exc}",
        errors=[{"field": field, "message": str(exc)}],
    )  # fmt: skip


def parse_phone(field: str, text: str) -> str:
    try:
        return parse_us_phone(text)
    except PhoneError as exc:
        raise invalid_phone(field, exc) from None


def message(caller: Caller, message_id: int) -> ApiMessage:
    found = office_message(caller.office_id, message_id)
    if found is None:
        raise not_found("message")
    return found


# ---- Cursors: opaque to clients; inside, the list that issued them and an id ----

# The lists that page, and how a problem names them. A cursor carries its list and that list's
# filter (a conversation id, a contact phone): an id alone means something else in another list.
MESSAGES = "messages"
OFFICE_MESSAGES = "office-messages"
CONVERSATIONS = "conversations"
LIST_NAMES = {
    MESSAGES: "a conversation's messages (GET /api/v1/conversations/{id}/messages)",
    OFFICE_MESSAGES: "the office's messages (GET /api/v1/messages)",
    CONVERSATIONS: "the conversations with a phone (GET /api/v1/conversations)",
}
FILTER_NAMES = {MESSAGES: "conversation", OFFICE_MESSAGES: "office", CONVERSATIONS: "phone"}


def encode_cursor(kind: str, scope: str, position: str) -> str:
    return base64.urlsafe_b64encode(f"v2:{kind}:{scope}:{position}".encode()).decode().rstrip("=")


def _invalid_cursor() -> ApiProblem:
    return ApiProblem(
        422, "invalid-cursor", TITLES["invalid-cursor"],
        "cursor: pass the next_cursor value of the previous page unchanged.",
        errors=[{"field": "cursor", "message": "not a cursor this API returned"}],
    )  # fmt: skip


def _cursor_mismatch(issued_by: str) -> ApiProblem:
    return ApiProblem(
        422, "cursor-mismatch", "Cursor of another list",
        f"cursor: this cursor was returned by {issued_by}. Pass a next_cursor only to the list "
        "that returned it, with the same filters; leave cursor out to start from the first page.",
        errors=[{"field": "cursor", "message": "returned by another list"}],
    )  # fmt: skip


def _numbers(text: str) -> tuple[int, ...]:
    """A position: one number (an id) or two joined by a dot (a time in microseconds, an id)."""
    parts = text.split(".")
    if len(parts) > 2 or not all(p.isascii() and p.isdigit() and len(p) <= 18 for p in parts):
        raise _invalid_cursor()
    return tuple(int(part) for part in parts)


def decode_cursor(cursor: str | None, kind: str, scope: str) -> tuple[int, ...] | None:
    """Where a page continues: (id,) or, for a list by activity, (microseconds, id). A cursor of
    another list (or of the same list with another filter) is refused: it would silently give a
    wrong page."""
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise _invalid_cursor() from None
    parts = raw.split(":")
    position = _numbers(parts[-1])
    # Cursors issued before they named their list carry an id only: a walk through a list that
    # began before an upgrade goes on.
    if parts[0] == "v1" and len(parts) == 2 and len(position) == 1:
        return position
    if parts[0] != "v2" or len(parts) != 4 or parts[1] not in LIST_NAMES:
        raise _invalid_cursor()
    if parts[1] != kind:
        raise _cursor_mismatch(f"another list: {LIST_NAMES[parts[1]]}")
    if parts[2] != scope:
        raise _cursor_mismatch(f"this list for another {FILTER_NAMES[kind]}")
    if kind in (MESSAGES, OFFICE_MESSAGES) and len(position) != 1:
        raise _invalid_cursor()
    return position


@dataclass(frozen=True)
class Page:
    data: list
    next_cursor: str | None


def _page(rows: list, limit: int, kind: str, scope: str, position=lambda row: str(row[0])):
    """The first `limit` rows and the cursor of the page after them, if any (by default the
    position of a row is its id, its first column)."""
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(kind, scope, position(rows[-1])) if more and rows else None


def conversation_messages(
    caller: Caller, conversation_id: int, cursor: str | None, limit: int = DEFAULT_PAGE
) -> Page:
    """A conversation's messages, oldest first; `next_cursor` continues after the last one."""
    after = decode_cursor(cursor, MESSAGES, str(conversation_id))
    _conversation_row(caller, conversation_id)  # 404 unless the key's office has it
    query = (
        messages_query()
        .where(Message.conversation_id == conversation_id)
        .order_by(Message.id)
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(Message.id > after[-1])
    rows = db.session.execute(query, {"office_id": caller.office_id}).all()
    rows, next_cursor = _page(rows, limit, MESSAGES, str(conversation_id))
    return Page(messages_from_rows(caller.office_id, rows), next_cursor)


# The office's messages are listed once they are this old. On PostgreSQL an id is taken when a
# message is written and seen when its transaction commits, so a later id can be seen first: a CRM
# that keeps the last id it read would skip the earlier one for good. No transaction runs this long.
SETTLED_AFTER = timedelta(seconds=30)


def office_messages(
    caller: Caller, after: int | None, cursor: str | None, limit: int = DEFAULT_PAGE
) -> Page:
    """Every message of the office's conversations at least SETTLED_AFTER old, oldest first, after
    the message id `after` (a CRM catching up, e.g. after its webhook endpoint was down);
    `next_cursor` continues."""
    if after is not None and cursor:
        raise ApiProblem(
            422, "invalid-request", "Invalid request",
            "after: give after on the first page only; the next pages take the cursor alone.",
            errors=[{"field": "after", "message": "not with cursor"}],
        )  # fmt: skip
    position = decode_cursor(cursor, OFFICE_MESSAGES, str(caller.office_id))
    start = position[-1] if position is not None else after or 0
    settled = utcnow() - SETTLED_AFTER
    query = (
        messages_query()
        .where(Message.id > start, Message.created_at <= settled)
        .order_by(Message.id)
        .limit(limit + 1)
    )
    rows = db.session.execute(query, {"office_id": caller.office_id}).all()
    rows, next_cursor = _page(rows, limit, OFFICE_MESSAGES, str(caller.office_id))
    return Page(messages_from_rows(caller.office_id, rows), next_cursor)


# ---- Conversations ----


def _conversation_row(caller: Caller, conversation_id: int):
    row = db.session.execute(
        conversations_query().where(Conversation.id == conversation_id),
        {"office_id": caller.office_id},
    ).first()
    if row is None:
        raise not_found("conversation")
    return row


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
# Both conversation lists: the most recent activity first, the newest conversation first among
# equal times (the key that keyset pages continue from).
BY_ACTIVITY = (Conversation.last_activity_at.desc(), Conversation.id.desc())


def _activity_position(row) -> str:
    return f"{(row[5] - EPOCH) // MICROSECOND}.{row[0]}"


def conversations_with(
    caller: Caller, phone: str, cursor: str | None, limit: int = DEFAULT_PAGE
) -> Page:
    """The office's conversations with a contact phone, the most recent activity first."""
    contact_phone = parse_phone("phone", phone)
    before = decode_cursor(cursor, CONVERSATIONS, contact_phone)
    query = (
        conversations_query()
        .where(Conversation.contact_phone == contact_phone)
        .order_by(*BY_ACTIVITY)
        .limit(limit + 1)
    )
    if before is not None:
        if len(before) == 1:
            # A cursor from when this list went by id: continue after that conversation's place.
            before = _place_of(caller, contact_phone, before[0])
        moment, last_id = _moment(before[0]), before[1]
        query = query.where(
            or_(
                Conversation.last_activity_at < moment,
                and_(Conversation.last_activity_at == moment, Conversation.id < last_id),
            )
        )
    rows = db.session.execute(query, {"office_id": caller.office_id}).all()
    rows, next_cursor = _page(rows, limit, CONVERSATIONS, contact_phone, _activity_position)
    return Page(named(caller.office_id, rows), next_cursor)


def _moment(microseconds: int) -> datetime:
    try:
        return EPOCH + microseconds * MICROSECOND
    except OverflowError:  # no time Parley wrote: the cursor was made up or changed
        raise _invalid_cursor() from None


def _place_of(caller: Caller, contact_phone: str, conversation_id: int) -> tuple[int, int]:
    """Where a conversation of this list stands; a cursor naming any other is not this list's."""
    moment = db.session.scalar(
        select(Conversation.last_activity_at).where(
            Conversation.id == conversation_id,
            Conversation.contact_phone == contact_phone,
            Conversation.number_id.in_(
                select(ReusableNumber.id).where(ReusableNumber.office_id == caller.office_id)
            ),
        )
    )
    if moment is None:
        raise _invalid_cursor()
    return (moment - EPOCH) // MICROSECOND, conversation_id


@dataclass(frozen=True)
class ApiContact:
    phone: str
    name: str | None
    opted_out: bool
    conversations: list[ApiConversation]


CONTACT_CONVERSATIONS_SHOWN = 100


def lookup_contact(caller: Caller, phone: str) -> ApiContact:
    """A contact by phone: name, opt-out and the office's conversations with it (newest first)."""
    contact_phone = parse_phone("phone", phone)
    rows = db.session.execute(
        conversations_query()
        .where(Conversation.contact_phone == contact_phone)
        .order_by(*BY_ACTIVITY)
        .limit(CONTACT_CONVERSATIONS_SHOWN),
        {"office_id": caller.office_id},
    ).all()
    name = office_campaign_names(caller.office_id, [contact_phone]).get(contact_phone)
    return ApiContact(contact_phone, name, is_opted_out(contact_phone), named(caller.office_id, rows))


# ---- Sending ----


@dataclass(frozen=True)
class Sent:
    message: ApiMessage
    replayed: bool  # an earlier request with the same Idempotency-Key made it


def idempotency_token(caller: Caller, key: str) -> str:
    """What `messages.idempotency_key` keeps for a client's key: scoped to the API key, so that
    two CRMs choosing the same key never meet."""
    return sending.idempotency_token(f"api\n{caller.key_id}", key)


# Built once: every API send checks, in one statement, the number (of the key's office), whether
# the contact opted out and which message an earlier request with the same key made, if any.
SEND_CHECKS = select(
    *conversations.NUMBER_REF_COLUMNS,
    ReusableNumber.active,
    exists().where(OptOut.phone == bindparam("phone")).label("opted_out"),
    select(Message.id)
    .where(Message.idempotency_key == bindparam("token"))
    .scalar_subquery()
    .label("earlier_id"),
).where(
    ReusableNumber.phone == bindparam("from_phone"),
    ReusableNumber.office_id == bindparam("office_id"),
)


@dataclass(frozen=True)
class CheckedSend:
    number: conversations.NumberRef
    phone: str
    text: str
    token: str | None
    earlier_id: int | None


def _office_numbers_hint(office_id: int) -> str:
    """The numbers a refused `from` could have been: the office's own (a few), in E.164."""
    phones = db.session.scalars(
        select(ReusableNumber.phone)
        .where(ReusableNumber.office_id == office_id, ReusableNumber.active.is_(True))
        .order_by(ReusableNumber.phone)
        .limit(6)
    ).all()
    if not phones:
        return "The office has no active number yet: an administrator adds one in the admin console."
    shown = ", ".join(phones[:5]) + (", …" if len(phones) > 5 else "")
    return f"Use the E.164 form of one of its numbers: {shown}."


def check_send(caller: Caller, from_phone: str, to: str, text: str, key: str | None) -> CheckedSend:
    """Every check of a send (reads only): the office's number, the phone, the text, opt-out."""
    phone = parse_phone("to", to)
    try:
        text = sending.validate_body(text)
    except sending.SendError as exc:
        raise ApiProblem(
            422, "invalid-text", TITLES["invalid-text"], f"text: {exc.message}",
            errors=[{"field": "text", "message": exc.message}],
        ) from None  # fmt: skip
    token = idempotency_token(caller, key) if key else None
    params = {"from_phone": from_phone, "office_id": caller.office_id, "phone": phone, "token": token}
    row = db.session.execute(SEND_CHECKS, params).first()
    if row is None:
        raise ApiProblem(
            422, "unknown-number", "Not an active number of your office",
            f"from: {from_phone} is not an active reusable number of this API key's office. "
            + _office_numbers_hint(caller.office_id),
            errors=[{"field": "from", "message": "not a number of this key's office"}],
        )  # fmt: skip
    number = conversations.NumberRef(*row[: len(conversations.NumberRef._fields)])
    # A retry of a message already made is answered with it, whatever changed since.
    if row.earlier_id is None and not row.active:
        raise ApiProblem(
            422, "unknown-number", "Not an active number of your office",
            f"from: {from_phone} was deactivated by an administrator and sends nothing now; nothing "
            "was sent. " + _office_numbers_hint(caller.office_id),
            errors=[{"field": "from", "message": "deactivated"}],
        )  # fmt: skip
    if phone == number.phone:
        raise ApiProblem(
            422, "own-number", "Sent to itself",
            f"to: {phone} is the from number itself; give the contact's phone. Nothing was sent.",
            errors=[{"field": "to", "message": "the from number itself"}],
        )  # fmt: skip
    if row.earlier_id is None and row.opted_out:
        raise ApiProblem(
            422, "opted-out", "Contact opted out",
            f"to: {phone} has opted out; nothing was sent. Nothing can be sent to it until the "
            "contact texts START.",
            errors=[{"field": "to", "message": "opted out"}],
        )  # fmt: skip
    return CheckedSend(number, phone, text, token, row.earlier_id)


def _same_request(existing: ApiMessage, checked: CheckedSend) -> bool:
    return (
        existing.from_phone == checked.number.phone
        and existing.to_phone == checked.phone
        and existing.text == checked.text
    )


def _conflict() -> ApiProblem:
    return ApiProblem(
        422, "idempotency-key-reused", "Idempotency-Key reused with another request",
        "This Idempotency-Key was used for a request with another from, to or text. Use a new key "
        "for a new message; repeat a request with its own key only to retry it unchanged.",
    )  # fmt: skip


def earlier(caller: Caller, checked: CheckedSend) -> Sent | None:
    """The message an earlier request with the same key made (before anything is written)."""
    if checked.earlier_id is None:
        return None
    existing = message(caller, checked.earlier_id)
    if not _same_request(existing, checked):
        raise _conflict()
    return Sent(existing, replayed=True)


def send(caller: Caller, checked: CheckedSend) -> Sent:
    """Queue a checked send. Requests with one Idempotency-Key take turns: the first makes the
    message, the others (retries, or the same request sent twice at once) find it."""
    if checked.token is not None:
        _take_turns(checked.token)
        earlier_id = db.session.scalar(select(Message.id).where(Message.idempotency_key == checked.token))
        if earlier_id is not None:
            discard_writes()  # ends the turn: the lock goes with the transaction
            replay = earlier(caller, replace(checked, earlier_id=earlier_id))
            assert replay is not None
            return replay
    queued = sending.send_from_api(
        checked.number, checked.phone, checked.text, caller.key_id, checked.token
    )
    made = message(caller, queued.message_id)
    if not _same_request(made, checked):
        raise _conflict()
    # The answer says what was accepted: queued, or scheduled when the office's quiet hours hold
    # it. A worker may already be sending it; reading the message again shows its progress.
    accepted = Status.SCHEDULED if queued.send_at is not None else Status.QUEUED
    return Sent(
        replace(made, status=accepted.value, error_reason=None, send_at=queued.send_at), replayed=False
    )


def _take_turns(token: str) -> None:
    """Hold a lock on the key until this transaction ends. PostgreSQL: a transaction-scoped
    advisory lock (concurrent inserts of one unique key can otherwise deadlock with the
    conversation's row locks); SQLite: write transactions already run one at a time."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(func.pg_advisory_xact_lock(int(token[:15], 16))))
