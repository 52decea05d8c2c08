"""Messages as the CRM API and the activity webhooks show them (one shape for both)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select

from webapp.extensions import db
from webapp.models import (
    ApiKey,
    AuthorKind,
    Conversation,
    Direction,
    Message,
    ReusableNumber,
    Status,
    User,
)
from webapp.services.offices import quiet_hours_of_office
from webapp.services.quiet_hours import QuietHours, release_time


@dataclass(frozen=True)
class ApiMessage:
    id: int
    conversation_id: int
    direction: str
    status: str
    from_phone: str
    to_phone: str
    text: str
    author: str
    created_at: datetime
    error_reason: str | None
    send_at: datetime | None = None  # when a scheduled message goes; None unless scheduled
    erased_at: datetime | None = None  # when retention erased its text (then ""); None while kept


MESSAGE_COLUMNS = (
    Message.id,
    Message.conversation_id,
    Message.direction,
    Message.status,
    ReusableNumber.phone,
    Conversation.contact_phone,
    Message.body,
    Message.author_kind,
    User.name,
    ApiKey.name,
    Message.created_at,
    Message.error_reason,
    Message.send_at,
    Message.erased_at,
)


def messages_query():
    return (
        select(*MESSAGE_COLUMNS)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .join(ReusableNumber, ReusableNumber.id == Conversation.number_id)
        .outerjoin(User, User.id == Message.author_user_id)
        .outerjoin(ApiKey, ApiKey.id == Message.author_api_key_id)
        .where(ReusableNumber.office_id == bindparam("office_id"))
        # History events (mode switches, retries) are not messages; agents' notes are shown as notes.
        .where(Message.direction != Direction.EVENT.value)
    )


AUTHOR_NAMES = {AuthorKind.BOT: "Bot", AuthorKind.SYSTEM: "Parley"}


def messages_from_rows(office_id: int, rows) -> list[ApiMessage]:
    """The office's message rows as the API shows them (the office's quiet hours read only when
    one of them is held)."""
    held = any(row.status == Status.SCHEDULED for row in rows)
    quiet = quiet_hours_of_office(office_id) if held else None
    return [message_from_row(row, quiet) for row in rows]


def message_from_row(row, quiet: QuietHours | None = None) -> ApiMessage:
    """`quiet`: the office's quiet hours, for a held message's send_at."""
    (id_, conversation_id, direction, status, number_phone, contact_phone, body, author_kind,
     user_name, key_name, created_at, error_reason, send_at, erased_at) = row  # fmt: skip
    inbound = direction == Direction.INBOUND
    if inbound:
        author = contact_phone
    else:
        author = user_name or key_name or AUTHOR_NAMES.get(author_kind, "Parley")
    return ApiMessage(
        id=id_, conversation_id=conversation_id, direction=direction, status=status,
        from_phone=contact_phone if inbound else number_phone,
        to_phone=number_phone if inbound else contact_phone,
        text=body, author=author, created_at=created_at, error_reason=error_reason,
        # A released message keeps its old send_at: only a held one says when it goes.
        send_at=release_time(send_at, quiet) if status == Status.SCHEDULED and send_at is not None else None,
        erased_at=erased_at,
    )  # fmt: skip


MESSAGE_BY_ID = messages_query().where(Message.id == bindparam("message_id"))


def office_message(office_id: int, message_id: int) -> ApiMessage | None:
    """A message of the office's conversations (not a history note), or None."""
    row = db.session.execute(MESSAGE_BY_ID, {"office_id": office_id, "message_id": message_id}).first()
    return messages_from_rows(office_id, [row])[0] if row else None


def as_json(message: ApiMessage) -> dict:
    """The message as JSON shows it (the API's MessageOut, the webhooks' `data`)."""
    return {
        "id": message.id, "conversation_id": message.conversation_id,
        "direction": message.direction, "status": message.status, "from": message.from_phone,
        "to": message.to_phone, "text": message.text, "author": message.author,
        "created_at": message.created_at.isoformat().replace("+00:00", "Z"),
        "error_reason": message.error_reason,
        "send_at": _utc_text(message.send_at),
        "erased_at": _utc_text(message.erased_at),
    }  # fmt: skip


def _utc_text(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None
