"""Delivery reports: a provider's word on how an outbound message fared.

Reports can arrive out of order and before the send call has returned, so a message is found by
Parley's own id first (carried in the callback URL) and only moves forward (`advance_status`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import AuthorKind, Direction, Message, Status
from webapp.plugin_api import StatusUpdate
from webapp.services import conversations, webhooks
from webapp.services.sending import INTERRUPTED_CODE, advance_status, record_provider_opt_out

log = logging.getLogger(__name__)

REPORTABLE = frozenset(
    {Status.QUEUED, Status.SENT, Status.DELIVERED, Status.UNDELIVERED, Status.FAILED}
)

# Shown next to a message whose report carried no error code.
DEFAULT_REASONS = {
    Status.FAILED: "The provider reported that the message failed",
    Status.UNDELIVERED: "The carrier could not deliver the message",
}


class UnknownMessage(LookupError):
    """The report names no outbound message of this provider."""


class BadReport(ValueError):
    """The report is not one Parley can apply (e.g. a status it does not know)."""


@dataclass(frozen=True)
class ReportOutcome:
    message_id: int
    status: str
    changed: bool
    opted_out: bool = False


def record(update: StatusUpdate, provider: str, retry: int = 0) -> ReportOutcome:
    """Apply one delivery report and commit. `retry` is the count of Retries its callback URL was
    made after (`retry_in_url`).

    Raises UnknownMessage or BadReport, having changed nothing.
    """
    try:
        status = Status(update.status)
    except ValueError:
        raise BadReport(f"unknown status {update.status!r}") from None
    if status not in REPORTABLE:
        raise BadReport(f"unknown status {update.status!r}")

    message = _find(update, provider)
    if message is None:
        db.session.rollback()
        named = update.parley_message_id or update.provider_message_id
        raise UnknownMessage(f"no outbound {provider} message {named}")
    waits_since_retry = message.status in (Status.QUEUED, Status.SCHEDULED) and message.attempts == 0
    # The count is in the URL Parley gave (which names the message); found by the provider's id
    # alone, the report is of the attempt that id was recorded for (a Retry clears it).
    before_retry = update.parley_message_id == message.id and retry < message.retries
    if before_retry or waits_since_retry:
        # A report of an attempt before an agent's Retry: it must not mark the text sent again
        # sent, failed or delivered; that attempt reports on its own. (Callback URLs made before
        # they carried the count are told by the text still waiting for its first attempt since
        # the Retry, which counts attempts from 0; a text re-queued after an attempt has attempts,
        # and a report of it says the provider has it.)
        outcome = ReportOutcome(message.id, message.status, changed=False)
        db.session.rollback()
        return outcome
    if not message.provider_message_id and not _id_taken(provider, update.provider_message_id):
        message.provider_message_id = update.provider_message_id

    reason = update.error_reason or DEFAULT_REASONS.get(status)
    taken = _taken_after_all(message)
    changed = advance_status(message, status, reason) or taken
    if changed and status in DEFAULT_REASONS:
        message.error_code = update.error_code

    opted_out = False
    # Only the report that records the failure opts out: one that changes nothing (the same or a
    # later report of a final message) must not undo the contact's opt-in since.
    if update.recipient_opted_out and changed:
        opted_out = record_provider_opt_out(message, provider)
    outcome = ReportOutcome(message.id, message.status, changed, opted_out)
    if changed:
        webhooks.status_event(message.id, message.status)
    bot_answer_failed = changed and status in DEFAULT_REASONS and message.author_kind == AuthorKind.BOT
    conversation_id, reason = message.conversation_id, message.error_reason
    db.session.commit()
    if bot_answer_failed:
        conversations.bot_answer_failed(conversation_id, reason)
    return outcome


def retry_in_url(url: str) -> int:
    """The count of Retries a status callback URL was made after (`sending.status_callback_url`):
    0 when it does not say. Raises BadReport when it says something else than a count."""
    values = parse_qs(urlsplit(url).query).get("retry")
    if not values:
        return 0
    raw = values[0].strip()
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
        raise BadReport("retry must be a whole number of retries")
    return int(raw)


def _taken_after_all(message: Message) -> bool:
    """A send the sweep failed as interrupted (its worker died before recording the provider's
    answer) did reach the provider, since it reports on it: it moves on from sent, as when the
    slow call itself returns, so that nobody retries a text that went out."""
    if message.status != Status.FAILED or message.error_code != INTERRUPTED_CODE:
        return False
    message.status, message.error_code, message.error_reason = Status.SENT.value, None, None
    return True


def _find(update: StatusUpdate, provider: str) -> Message | None:
    """The message by Parley's id (works before the send returned), else by the provider's id.

    Locked, so a concurrent report or the sending worker cannot overwrite this change.
    """
    outbound = (Message.direction == Direction.OUTBOUND.value, Message.provider == provider)
    if update.parley_message_id is not None:
        message = db.session.scalars(
            select(Message)
            .where(Message.id == update.parley_message_id, *outbound)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()
        if message is not None:
            return message
    return db.session.scalars(
        select(Message)
        .where(Message.provider_message_id == update.provider_message_id, *outbound)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def _id_taken(provider: str, provider_message_id: str) -> bool:
    return (
        db.session.scalar(
            select(Message.id).where(
                Message.provider == provider, Message.provider_message_id == provider_message_id
            )
        )
        is not None
    )
