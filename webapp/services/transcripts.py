"""A conversation's transcript, for records requests and audits: every message and history event
(mode switches, retries, cancellations) and agents' internal notes with its time, author and status,
as CSV or as a printable page. Each export is in the audit log."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, select

from webapp.extensions import db
from webapp.models import (
    ApiKey,
    AuthorKind,
    Conversation,
    Direction,
    Message,
    Office,
    ReusableNumber,
    Status,
    User,
)
from webapp.services import audit
from webapp.services.contacts import display_names
from webapp.services.phones import format_phone
from webapp.services.quiet_hours import QuietHours, format_local, release_time, zone_or_utc
from webapp.services.spreadsheets import csv_text

HEADER = ("time", "direction", "author", "text", "status")
BATCH = 1000  # messages read at a time: a long conversation never sits in memory as ORM objects
ERASED = "[erased under the office's retention policy]"
AUTHOR_NAMES = {AuthorKind.BOT: "Bot", AuthorKind.SYSTEM: "Parley", AuthorKind.CONTACT: None}

_MESSAGES = Message.__table__
_USERS = User.__table__
_API_KEYS = ApiKey.__table__

# What a line is made of (office exports read the same), and the joins its author's name needs.
LINE_COLUMNS = (
    _MESSAGES.c.created_at,
    _MESSAGES.c.direction,
    _MESSAGES.c.author_kind,
    func.coalesce(_USERS.c.name, _API_KEYS.c.name),
    _MESSAGES.c.body,
    _MESSAGES.c.media_urls,
    _MESSAGES.c.status,
    _MESSAGES.c.error_reason,
    _MESSAGES.c.send_at,
    _MESSAGES.c.erased_at,
)


def with_authors(messages):
    """`messages` (the table, or a join that holds it) joined to the names of their authors."""
    return messages.outerjoin(_USERS, _USERS.c.id == _MESSAGES.c.author_user_id).outerjoin(
        _API_KEYS, _API_KEYS.c.id == _MESSAGES.c.author_api_key_id
    )


# Built once: a batch of a conversation's messages after a given id, with their authors' names.
BATCH_OF_MESSAGES = (
    select(_MESSAGES.c.id, *LINE_COLUMNS)
    .select_from(with_authors(_MESSAGES))
    .where(_MESSAGES.c.conversation_id == bindparam("conversation_id"), _MESSAGES.c.id > bindparam("after"))
    .order_by(_MESSAGES.c.id)
    .limit(BATCH)
)


@dataclass(frozen=True)
class Line:
    """One line of a transcript."""

    at: datetime
    time: str  # ISO 8601 in the office's time zone, with its offset
    direction: str  # inbound, outbound, event or note
    author: str
    text: str
    status: str


@dataclass(frozen=True)
class Heading:
    conversation_id: int
    contact: str  # the display name, or the formatted phone
    phone: str
    number: str
    office: Office
    zone: ZoneInfo
    quiet: QuietHours | None


def heading(conversation: Conversation) -> Heading:
    number: ReusableNumber = conversation.number
    office = db.session.get(Office, number.office_id)
    name = display_names([conversation.contact_phone])[conversation.contact_phone]
    return Heading(
        conversation_id=conversation.id,
        contact=name,
        phone=format_phone(conversation.contact_phone),
        number=f"{number.label or format_phone(number.phone)} · {format_phone(number.phone)}",
        office=office,
        zone=zone_or_utc(office.time_zone),
        quiet=QuietHours.of(office.time_zone, office.quiet_hours_start, office.quiet_hours_end),
    )


def _status(
    status: str, reason: str | None, send_at: datetime | None, zone: ZoneInfo, quiet: QuietHours | None
) -> str:
    if status == Status.SCHEDULED and send_at is not None:
        return f"scheduled for {format_local(release_time(send_at, quiet), zone)}"
    if reason and status in (Status.FAILED, Status.UNDELIVERED):
        return f"{status}: {reason}"
    return status


def line(row, contact: str, zone: ZoneInfo, quiet: QuietHours | None) -> Line:
    """A row of LINE_COLUMNS as a line; `contact` names the contact (inbound messages' author);
    `quiet`, the office's quiet hours, say when a held text goes."""
    (created_at, direction, author_kind, author_name, body, media, status, reason, send_at,
     erased_at) = row  # fmt: skip
    if direction == Direction.INBOUND:
        author = contact
    else:
        author = author_name or AUTHOR_NAMES.get(author_kind) or "Parley"
    text = body
    if media:
        text += ("\n" if text else "") + "\n".join(f"[picture] {url}" for url in media)
    if erased_at is not None:
        text = ERASED
    return Line(
        at=created_at,
        time=created_at.astimezone(zone).isoformat(timespec="seconds"),
        direction=direction,
        author=author,
        text=text,
        status=_status(status, reason, send_at, zone, quiet),
    )


def lines(head: Heading) -> Iterator[Line]:
    """Every message and event of the conversation, oldest first, read in batches."""
    after = 0
    while True:
        params = {"conversation_id": head.conversation_id, "after": after}
        rows = db.session.execute(BATCH_OF_MESSAGES, params).all()
        for row in rows:
            yield line(row[1:], head.contact, head.zone, head.quiet)
        if len(rows) < BATCH:
            return
        after = rows[-1][0]


def as_csv(head: Heading) -> str:
    """The transcript as CSV (`time,direction,author,text,status`), formulas neutralised."""
    rows = ((line.time, line.direction, line.author, line.text, line.status) for line in lines(head))
    return csv_text(HEADER, rows)


def record_export(user: User, head: Heading, kind: str) -> None:
    """The audit entry of one export (`csv` or `print`), in the caller's transaction."""
    audit.record(
        user,
        "transcript.exported",
        f"Transcript of conversation {head.conversation_id} with {head.phone} ({kind})",
        [head.office],
        {"conversation_id": head.conversation_id, "format": kind},
    )
