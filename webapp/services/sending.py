"""Sending: compose and reply queue a message; the worker hands it to the provider.

The message row is committed as `queued` before any provider call, so nothing accepted is lost.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, exists, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import aliased

from webapp import transactions
from webapp.extensions import db
from webapp.models import (
    AuthorKind,
    Conversation,
    Direction,
    Message,
    Mode,
    Office,
    OptOut,
    ReusableNumber,
    Status,
    User,
    utcnow,
)
from webapp.plugin_api import OutboundMessage, SendResult
from webapp.plugin_api.registry import PluginError
from webapp.queue import enqueue_send
from webapp.services import access, conversations, media, optouts, saved_replies, webhooks
from webapp.services.optouts import OPTED_OUT_ERROR, is_opted_out
from webapp.services.phones import PhoneError, parse_us_phone
from webapp.services.quiet_hours import QuietHours
from webapp.services.scheduling import ScheduleError, automatic_quiet_hours, parse_send_later
from webapp.services.segments import (
    MAX_MESSAGE_LENGTH,
    OTHER_LINE_BREAKS,
    control_character_problem,
    shows_nothing,
)

log = logging.getLogger(__name__)

# Order of delivery states: a report never moves a message backwards.
STATUS_RANK = {
    Status.QUEUED: 0,
    Status.SENDING: 1,
    Status.SENT: 2,
    Status.DELIVERED: 3,
    Status.UNDELIVERED: 3,
    Status.FAILED: 3,
}
INTERRUPTED_CODE = "interrupted"
# Texts Parley itself would not send (they never reached a provider): the reports keep them out
# of the delivery rate, which measures the providers and carriers.
OPTED_OUT_CODE = "opted_out"
NUMBER_OFF_CODE = "number_deactivated"
REFUSED_CODES = (OPTED_OUT_CODE, NUMBER_OFF_CODE)
INTERRUPTED_REASON = (
    "Sending was interrupted before the provider confirmed it, so it may not have gone out. "
    "Use Retry to send it again."
)


class SendError(Exception):
    """A message that cannot be sent; `field` names the form field the message belongs to."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def validate_body(body: str | None, with_picture: bool = False) -> str:
    """The message text; it may be empty only when a picture goes with it."""
    text = (body or "").replace("\r\n", "\n").translate(OTHER_LINE_BREAKS)
    if shows_nothing(text) and not with_picture:
        raise SendError("body", "Enter a message.")
    if problem := control_character_problem(text):
        raise SendError("body", problem)
    if len(text) > MAX_MESSAGE_LENGTH:
        raise SendError(
            "body",
            f"A message can be at most {MAX_MESSAGE_LENGTH:,} characters; this one has {len(text):,} "
            f"({len(text) - MAX_MESSAGE_LENGTH:,} too many). Shorten it to send; nothing was sent.",
        )
    return text


def validate_agent_body(body: str | None, with_picture: bool = False) -> str:
    """An agent's message: as any, and no saved reply's merge field left unfilled in it."""
    text = validate_body(body, with_picture)
    unfilled = saved_replies.unfilled_message(text)
    if unfilled:
        raise SendError("body", unfilled)
    return text


@dataclass(frozen=True)
class CheckedText:
    """A compose form that passed every check, ready to queue."""

    number: conversations.NumberRef
    phone: str
    text: str
    idempotency_key: str | None  # as stored: `form_token` of the form's key
    existing: Queued | None  # the same form, submitted before
    quiet: QuietHours | None = None  # the number's office's quiet hours
    send_later: datetime | None = None  # the agent chose when it goes
    picture: media.CheckedPicture | None = None


# Tables, not mapped classes, in statements built once: they run as Core statements (see
# docs/performance.md).
_MESSAGES = Message.__table__
_NUMBERS = ReusableNumber.__table__
_OFFICES = Office.__table__
_OPT_OUTS = OptOut.__table__
_CONVERSATIONS = Conversation.__table__


def idempotency_token(scope: str, key: str) -> str:
    """What `messages.idempotency_key` keeps for a key a client chose (a form's, an API
    request's): scoped to whoever chose it (`scope`), so that one client's keys never meet
    another's or Parley's own (a bot's answer), and of a fixed length whatever was sent."""
    return hashlib.sha256(f"{scope}\n{key}".encode("utf-8", "surrogatepass")).hexdigest()


def form_token(sender: User, key: str | None) -> str | None:
    """The stored key of a compose or reply form's `idempotency_key`: the sender's own."""
    return idempotency_token(f"form\n{sender.id}", key) if key else None


def _earlier(column):
    return select(column).where(_MESSAGES.c.idempotency_key == bindparam("key")).scalar_subquery()


def _earlier_conversation(column):
    earlier = _earlier(_MESSAGES.c.conversation_id)
    return select(column).where(_CONVERSATIONS.c.id == earlier).scalar_subquery()


REUSED_FORM_ERROR = (
    "This form was already sent with another message or to another phone, so nothing more was "
    "sent. Reload the page to send a new text."
)


# Built once: every compose checks, in one statement, that the sender may use the number (its
# columns come back), whether the contact opted out and which message an earlier submit of the
# same form made, if any.
COMPOSE_CHECKS = (
    select(
        *conversations.NUMBER_REF_COLUMNS,
        exists().where(_OPT_OUTS.c.phone == bindparam("phone")).label("opted_out"),
        _earlier(_MESSAGES.c.id).label("earlier_id"),
        _earlier(_MESSAGES.c.conversation_id).label("earlier_conversation_id"),
        _earlier(_MESSAGES.c.body).label("earlier_body"),
        _earlier_conversation(_CONVERSATIONS.c.contact_phone).label("earlier_phone"),
        _earlier_conversation(_CONVERSATIONS.c.number_id).label("earlier_number_id"),
        _OFFICES.c.time_zone,
        _OFFICES.c.quiet_hours_start,
        _OFFICES.c.quiet_hours_end,
    )
    .select_from(_NUMBERS.join(_OFFICES, _OFFICES.c.id == _NUMBERS.c.office_id))
    .where(_NUMBERS.c.id == bindparam("number_id"), access.may_send_from(bindparam("user_id")))
)


def check_text(
    sender: User,
    number_id: int | None,
    to: str,
    body: str,
    idempotency_key: str | None = None,
    send_later: str | None = None,
    picture: media.CheckedPicture | None = None,
) -> CheckedText:
    """Every check of a compose form (reads only); ComposeErrors names each field that fails."""
    if not sender.can_create_texts:
        raise access.AccessDenied("this role cannot create 1:1 texts")
    errors: dict[str, str] = {}
    try:
        phone = parse_us_phone(to)
    except PhoneError as exc:
        phone = None
        errors["to"] = str(exc)
    checks = None
    key = form_token(sender, idempotency_key)
    if number_id is not None:
        params = {"number_id": number_id, "user_id": sender.id, "phone": phone, "key": key}
        checks = db.session.execute(COMPOSE_CHECKS, params).first()
    if checks is None:
        errors["number"] = "Choose a number you have access to."
    try:
        text = validate_body(body, with_picture=picture is not None)
    except SendError as exc:
        errors["body"] = exc.message
    else:
        unfilled = saved_replies.compose_unfilled_message(text, phone)
        if unfilled:
            errors["body"] = unfilled
    quiet = later = None
    if checks is not None and picture is not None and not sends_pictures(checks.provider):
        errors["picture"] = NO_PICTURES
    if checks is not None:
        quiet = QuietHours.of(checks.time_zone, checks.quiet_hours_start, checks.quiet_hours_end)
        try:
            later = parse_send_later(send_later, checks.time_zone, quiet)
        except ScheduleError as exc:
            errors["send_at"] = str(exc)
    if errors:
        raise ComposeErrors(errors)
    assert checks is not None and phone is not None
    number = conversations.NumberRef(*checks[: len(conversations.NumberRef._fields)])
    if phone == number.phone:
        raise ComposeErrors({"to": OWN_NUMBER_ERROR})
    existing = None
    if checks.earlier_id is not None:
        earlier = (checks.earlier_body, checks.earlier_phone, checks.earlier_number_id)
        if earlier != (text, phone, number.id):
            raise ComposeErrors({"form": REUSED_FORM_ERROR})
        existing = Queued(checks.earlier_id, checks.earlier_conversation_id)
    if existing is None and checks.opted_out:
        raise ComposeErrors({"form": OPTED_OUT_ERROR})
    return CheckedText(number, phone, text, key, existing, quiet, later, picture)


NO_PICTURES = "This number's provider cannot send pictures (MMS). Nothing was sent."
NUMBER_OFF_ERROR = (
    "Failed to Send SMS Message: this number has been deactivated by an administrator, so nothing "
    "can be sent from it"
)
OWN_NUMBER_ERROR = "That is the From number itself: enter the contact's phone number."
sends_pictures = media.sends_pictures


@dataclass(frozen=True)
class Queued:
    """A message waiting in the queue (or sent already, for a repeated form)."""

    message_id: int
    conversation_id: int
    send_at: datetime | None = None  # held until then (Scheduled)


def queue_text(sender: User, checked: CheckedText) -> Queued:
    """Queue a checked compose form. Continues the conversation if one exists.

    The opt-out check may be a moment old here: the worker checks again in the transaction that
    sends, so a STOP that arrives in between still stops the text.
    """
    if checked.existing is not None:
        return checked.existing
    return _queue_outbound(
        checked.number, checked.phone, checked.text, sender, checked.idempotency_key,
        quiet=checked.quiet, send_later=checked.send_later, picture=checked.picture,
    )  # fmt: skip


def create_text(
    sender: User, number_id: int | None, to: str, body: str, idempotency_key: str | None = None
) -> Message:
    """A 1:1 text from the compose form, checked and queued in one go (the CLI and tests)."""
    queued = queue_text(sender, check_text(sender, number_id, to, body, idempotency_key))
    return db.session.get(Message, queued.message_id)


def send_from_api(
    number: conversations.NumberRef, phone: str, text: str, api_key_id: int, idempotency_key: str | None
) -> Queued:
    """A text a CRM sent through the API (its checks were made by the caller): the same queue,
    statuses and worker-side opt-out check as an agent's, authored by the key. It does not answer
    the conversation: Needs Attention stays as it is."""
    return _queue_outbound(
        number, phone, text, None, idempotency_key, AuthorKind.API, api_key_id,
        quiet=automatic_quiet_hours(number.office_id),
    )  # fmt: skip


def reply(
    sender: User,
    conversation: Conversation,
    body: str,
    idempotency_key: str | None = None,
    send_later: str | None = None,
    picture: media.CheckedPicture | None = None,
) -> Queued:
    """An agent's reply in a conversation visible to them (the view checked that). In the
    office's quiet hours it is held (unless the contact texted within the hour); `send_later`, a
    local date and time in the office's zone, holds it until then."""
    text = validate_agent_body(body, with_picture=picture is not None)
    key = form_token(sender, idempotency_key)
    existing = _by_idempotency_key(key)
    if existing is not None:
        if (existing.conversation_id, existing.body) != (conversation.id, text):
            raise SendError("body", REUSED_FORM_ERROR)
        return existing.queued
    if is_opted_out(conversation.contact_phone):
        raise SendError("body", OPTED_OUT_ERROR)
    number = conversation.number
    if not number.active:
        raise SendError("body", NUMBER_OFF_ERROR)
    if picture is not None and not sends_pictures(number.provider):
        raise SendError("picture", NO_PICTURES)
    office = db.session.get(Office, number.office_id)
    quiet = QuietHours.of(office.time_zone, office.quiet_hours_start, office.quiet_hours_end)
    try:
        later = parse_send_later(send_later, office.time_zone, quiet)
    except ScheduleError as exc:
        raise SendError("send_at", str(exc)) from None
    return _queue_outbound(
        number, conversation.contact_phone, text, sender, key,
        quiet=quiet, send_later=later, picture=picture,
    )  # fmt: skip


def send_automatic(
    conversation: Conversation,
    body: str,
    author_kind: AuthorKind,
    idempotency_key: str | None = None,
) -> Queued | None:
    """A message Parley or a bot sends itself (e.g. the HELP answer). Skipped when opted out.

    A bot's answer waits out the office's quiet hours; Parley's own answer to a keyword (HELP)
    does not: the contact asked for it a moment ago, and carriers expect it at once.
    With an idempotency key, a repeated call (a retried task) finds the message it already made.
    """
    existing = _by_idempotency_key(idempotency_key)
    if existing is not None:
        return existing.queued
    if is_opted_out(conversation.contact_phone):
        return None
    number = conversation.number
    quiet = None if author_kind == AuthorKind.SYSTEM else automatic_quiet_hours(number.office_id)
    return _queue_outbound(
        number, conversation.contact_phone, body, None, idempotency_key, author_kind, quiet=quiet
    )


class ComposeErrors(SendError):
    """Several field errors at once, for the compose form."""

    def __init__(self, errors: dict[str, str]) -> None:
        first_field, first = next(iter(errors.items()))
        super().__init__(first_field, first)
        self.errors = errors


# Built once: every form carries a key, so every compose and reply asks.
BY_IDEMPOTENCY_KEY = select(
    Message.id, Message.conversation_id, Message.body, Message.status, Message.send_at
).where(Message.idempotency_key == bindparam("key"))


@dataclass(frozen=True)
class _Earlier:
    message_id: int
    conversation_id: int
    body: str
    status: str
    send_at: datetime | None

    @property
    def queued(self) -> Queued:
        held = self.send_at if self.status == Status.SCHEDULED else None
        return Queued(self.message_id, self.conversation_id, send_at=held)


def _by_idempotency_key(key: str | None) -> _Earlier | None:
    """The message an earlier submit of the same form (or run of the same task) made, if any."""
    if not key:
        return None
    db.session.flush()  # a message added in this session counts too
    row = db.session.execute(BY_IDEMPOTENCY_KEY, {"key": key}).first()
    return _Earlier(*row) if row else None


# Built once: every text sent runs it.
INSERT_OUTBOUND = (
    insert(Message.__table__)
    .values(
        conversation_id=bindparam("conversation_id"),
        direction=Direction.OUTBOUND.value,
        body=bindparam("body"),
        media_urls=[],
        author_kind=bindparam("author_kind"),
        author_user_id=bindparam("author_user_id"),
        author_api_key_id=bindparam("author_api_key_id"),
        status=bindparam("status"),
        send_at=bindparam("send_at"),
        held_by_quiet_hours=bindparam("held_by_quiet_hours"),
        provider=bindparam("provider"),
        idempotency_key=bindparam("idempotency_key"),
        attempts=0,
        created_at=bindparam("now"),
        updated_at=bindparam("now"),
    )
    .returning(Message.id)
)


def _queue_outbound(
    number: ReusableNumber | conversations.NumberRef,
    contact_phone: str,
    text: str,
    sender: User | None,
    idempotency_key: str | None,
    author_kind: AuthorKind = AuthorKind.AGENT,
    api_key_id: int | None = None,
    quiet: QuietHours | None = None,
    send_later: datetime | None = None,
    picture: media.CheckedPicture | None = None,
) -> Queued:
    """Store the message as queued, move its conversation up (an agent's text also answers it:
    no longer Needs Attention, the agent participates and has read it), commit, then queue the
    send. Core statements: this runs for every text, and the ORM would triple its cost.

    Inside the office's `quiet` hours, or with `send_later`, the message is stored scheduled
    instead, and the worker releases it at its time (see services/scheduling)."""
    now = utcnow()
    activity = conversations.record_activity(
        number,
        contact_phone,
        conversations.preview_of(text, picture is not None),
        now,
        clear_attention=sender is not None,
        agent_id=sender.id if sender is not None else None,
    )
    send_at = send_later
    if send_at is None and quiet is not None:
        if sender is not None:
            send_at = quiet.hold_agent_text(now, activity.last_inbound_at)
        else:
            send_at = quiet.hold_until(now)
    params = {
        "conversation_id": activity.conversation_id,
        "body": text,
        "author_kind": author_kind.value,
        "author_user_id": sender.id if sender else None,
        "author_api_key_id": api_key_id,
        "provider": number.provider,
        "idempotency_key": idempotency_key or None,
        "now": now,
        "status": (Status.QUEUED if send_at is None else Status.SCHEDULED).value,
        "send_at": send_at,
        "held_by_quiet_hours": send_at is not None and send_later is None,
    }
    try:
        message_id = db.session.execute(INSERT_OUTBOUND, params).scalar_one()
    except IntegrityError:
        # The same form was submitted twice at once: the other submit made the message.
        db.session.rollback()
        existing = _by_idempotency_key(idempotency_key)
        if existing is None:
            raise
        same = (existing.conversation_id, existing.body) == (activity.conversation_id, text)
        if sender is not None and not same:  # an agent's form, sent twice at once, changed between
            raise ComposeErrors({"form": REUSED_FORM_ERROR}) from None
        return existing.queued
    if picture is not None:
        media.store(message_id, picture)
    # Writes that would change nothing are skipped: most texts continue a conversation the
    # agent is already in and has read.
    if sender is not None and not activity.participating:
        conversations.add_participant(activity.conversation_id, sender)
    if sender is not None and not activity.read:
        conversations.mark_read(activity.conversation_id, sender)
    db.session.commit()
    if send_at is None:
        enqueue_send(message_id)
    return Queued(message_id, activity.conversation_id, send_at)


def deliver(message_id: int) -> int | None:
    """Worker side: send one queued message. Returns seconds until a retry, or None when done."""
    message = db.session.get(Message, message_id, with_for_update=True, populate_existing=True)
    if message is None or message.status != Status.QUEUED:
        db.session.rollback()
        return None  # already sent, failed, or being sent by another worker
    conversation = message.conversation
    number = conversation.number
    # Checked in the same transaction that claims the message: a STOP that came in while it waited
    # in the queue still stops it.
    if is_opted_out(conversation.contact_phone):
        _fail(message, OPTED_OUT_ERROR, code=OPTED_OUT_CODE)
        webhooks.status_event(message.id, message.status)
        db.session.commit()
        return None
    if not number.active:  # deactivated while the text waited (held, queued or retried)
        _fail(message, NUMBER_OFF_ERROR, code=NUMBER_OFF_CODE)
        webhooks.status_event(message.id, message.status)
        db.session.commit()
        return None
    message.status = Status.SENDING.value
    message.attempts += 1
    attempt, retries = message.attempts, message.retries
    # Each attempt goes through the number's provider of now: an admin may have moved the number
    # to another provider while the text waited (held, scheduled or between retries).
    provider_name, office_id = number.provider, number.office_id
    if message.provider != provider_name:
        message.provider, message.provider_message_id = provider_name, None
    outbound = OutboundMessage(
        message_id=message.id,
        from_phone=number.phone,
        to_phone=conversation.contact_phone,
        body=message.body,
        status_callback_url=status_callback_url(provider_name, message.id, message.retries),
        # Links to its pictures made now, so that they are valid when the provider fetches them.
        media_urls=tuple(message.media_urls or ()) + tuple(media.public_urls(message.id)),
    )
    db.session.commit()

    try:
        provider = current_app.extensions["parley"].provider(provider_name)
    except PluginError as exc:  # e.g. a Plivo number while Plivo is disabled or unconfigured
        provider = None
        result = SendResult(status="failed", error_reason=f"Cannot send: {exc}.")
    if provider is not None and outbound.media_urls and not provider.supports_media:
        provider = None  # it would drop the pictures and send the text alone
        result = SendResult(status="failed", error_reason=f"{provider_name} cannot send pictures.")
    try:
        if provider is not None:
            result = provider.send(outbound)
    except Exception as exc:  # a provider must not raise, but one that does must not lose the message
        log.exception("provider %s raised while sending message %s", provider_name, message_id)
        result = SendResult(status="failed", error_reason=f"Provider error: {exc}", transient=True)

    for wait in (*RECORD_WAITS, None):
        try:
            retry_in, bot_failure = _record_result(
                message_id, result, provider_name, retries, attempt, office_id
            )
            break
        except DBAPIError as exc:
            db.session.rollback()
            if wait is None or not transactions.out_of_reach(exc):
                raise
            log.warning(
                "could not record the provider's answer for message %s (%s), trying again in %s s",
                message_id, transactions.reason(exc), wait,
            )  # fmt: skip
            time.sleep(wait)
    if bot_failure is not None:
        conversations.bot_answer_failed(*bot_failure)
    return retry_in


# The provider has answered, and the database connection is lost before its answer is written
# down: tried again on a new connection, these many seconds apart. Otherwise the text (which went,
# or did not) would be failed by the sweep as "may not have gone out", inviting a second send.
RECORD_WAITS = (0.5, 1, 2, 4)


def _record_result(
    message_id: int, result: SendResult, provider_name: str, retries: int, attempt: int, office_id: int
) -> tuple[int | None, tuple[int, str | None] | None]:
    """Write down the provider's answer to one attempt (made after `retries` Retries, the
    `attempt`-th since the last) and commit. Returns the seconds until a retry (None when done),
    and the conversation and reason when a bot's answer failed now."""
    message = db.session.get(Message, message_id, with_for_update=True, populate_existing=True)
    if message.retries != retries:
        # An answer so slow that the sweep failed the text as interrupted, and an agent pressed
        # Retry since: it is not of the attempt now under way, which answers for itself.
        db.session.rollback()
        return None, None
    status_before = message.status
    if result.provider_message_id:  # this attempt's, over one a late report of an earlier left
        message.provider_message_id = result.provider_message_id
    retry_in = None
    interrupted = message.status == Status.FAILED and message.error_code == INTERRUPTED_CODE
    if interrupted and result.status == "sent":
        # The sweep gave up on a slow call that did go through after all.
        message.status, message.error_code, message.error_reason = Status.SENT.value, None, None
    elif message.status != Status.SENDING:
        # A delivery report overtook the send call: the provider has the message, so whatever
        # the call said, neither retry nor fail it.
        pass
    elif result.status == "sent":
        advance_status(message, Status.SENT)
    elif result.may_have_gone:
        # Sent again by itself, it could reach the contact twice. As an interrupted send, a report
        # from the provider moves it on (`delivery_reports`), and Retry is an agent's choice.
        reason = f"{result.error_reason or 'The provider did not answer'}, so it may have gone out. "
        _fail(message, reason + "Use Retry to send it again if the contact did not get it.", INTERRUPTED_CODE)
    elif result.transient and attempt < current_app.config["SEND_MAX_ATTEMPTS"]:
        message.status = Status.QUEUED.value
        message.error_reason = result.error_reason
        retry_in = current_app.config["SEND_RETRY_BASE_SECONDS"] * 2 ** (attempt - 1)
        retry_in = _retry_outside_quiet_hours(message, office_id, retry_in)
    else:
        _fail(message, result.error_reason or "The provider refused the message", result.error_code)
        if result.recipient_opted_out:
            record_provider_opt_out(message, provider_name)
    if message.status != status_before:
        webhooks.status_event(message.id, message.status)  # sent or failed (not re-queued)
    failed_now = message.status == Status.FAILED and status_before != Status.FAILED
    # An interrupted send may have gone: its report, not this, says whether the answer arrived.
    bot_answer_failed = (
        failed_now and message.author_kind == AuthorKind.BOT and message.error_code != INTERRUPTED_CODE
    )
    bot_failure = (message.conversation_id, message.error_reason) if bot_answer_failed else None
    db.session.commit()
    return retry_in, bot_failure


def record_provider_opt_out(message: Message, provider: str) -> bool:
    """The provider says the message's recipient opted out with it (its own STOP list): the phone
    joins Parley's list too, so no later text tries. False when it was already there."""
    conversation = message.conversation
    change = optouts.opt_out(
        conversation.contact_phone,
        source="provider",
        detail=f"{provider} reported the recipient opted out (message {message.id})",
        number_id=conversation.number_id,
    )
    if change is not optouts.Change.NONE:
        conversations.add_event(
            conversation,
            "Contact opted out (reported by the provider); no more texts will be sent.",
        )
    return change is optouts.Change.NEW


def advance_status(message: Message, status: Status, reason: str | None = None) -> bool:
    """Move a message forward to `status`; never back, and never out of a final state."""
    if message.is_final or STATUS_RANK[status] <= STATUS_RANK.get(Status(message.status), -1):
        return False
    message.status = status.value
    if status in (Status.SENT, Status.DELIVERED):
        message.error_reason = None
    elif reason:
        message.error_reason = reason
    return True


def _fail(message: Message, reason: str, code: str | None = None) -> None:
    message.status = Status.FAILED.value
    message.error_reason = reason[:300]
    message.error_code = code


def status_callback_url(provider: str, message_id: int, retries: int = 0) -> str:
    """Where the provider reports on an attempt: Parley's message id, and after an agent's Retry
    how many there were, so that a late report of an attempt before it is told apart."""
    base = current_app.config["PUBLIC_BASE_URL"]
    url = f"{base}/webhooks/{provider}/status?message_id={message_id}"
    return f"{url}&retry={retries}" if retries else url


def _retry_outside_quiet_hours(message: Message, office_id: int, retry_in: float) -> float | None:
    """A retry that would fall in the office's quiet hours waits for their end instead: the
    message is held (scheduled) and the worker releases it then. Returns the delay, or None."""
    quiet = automatic_quiet_hours(office_id)
    hold = quiet.hold_until(utcnow() + timedelta(seconds=retry_in)) if quiet else None
    if hold is None:
        return retry_in
    message.status = Status.SCHEDULED.value
    message.send_at = hold
    message.held_by_quiet_hours = True
    return None


def stuck_message_ids() -> list[int]:
    """Queued messages nobody has picked up for a while (a lost enqueue or a dead worker)."""
    cutoff = utcnow() - timedelta(seconds=current_app.config["SWEEP_QUEUED_AFTER_SECONDS"])
    ids = list(
        db.session.scalars(
            select(Message.id)
            .where(Message.status == Status.QUEUED, Message.updated_at < cutoff)
            .order_by(Message.id)
            .limit(500)
        )
    )
    db.session.rollback()
    return ids


def fail_interrupted_sends() -> int:
    """Messages left in `sending` by a worker that died during the provider call.

    Sending them again could text the contact twice, and a provider that did take one reports its
    status to the callback URL anyway (which moves it on from here). So they are failed visibly,
    with a reason, and an agent decides whether to Retry.
    """
    cutoff = utcnow() - timedelta(seconds=current_app.config["SENDING_TIMEOUT_SECONDS"])
    stuck = db.session.scalars(
        select(Message)
        .where(Message.status == Status.SENDING, Message.updated_at < cutoff)
        .order_by(Message.id)
        .limit(500)
        .with_for_update(skip_locked=True)
    ).all()
    for message in stuck:
        _fail(message, INTERRUPTED_REASON, code=INTERRUPTED_CODE)
        webhooks.status_event(message.id, message.status)
    db.session.commit()
    return len(stuck)


# How far back the sweep looks for a bot's answer nobody confirmed (as the bots' sweep does).
UNCONFIRMED_LOOKBACK = timedelta(days=1)
_later = aliased(Message)
# Built once: the sweep runs every minute. A bot's answer that may have gone (its send interrupted)
# and that nothing followed in its bot-mode conversation: no report moved it on, nobody answered.
UNCONFIRMED_BOT_ANSWERS = (
    select(Message.conversation_id)
    .join(Conversation, Conversation.id == Message.conversation_id)
    .where(
        Message.status == Status.FAILED.value,
        Message.updated_at >= bindparam("since"),
        Message.updated_at < bindparam("before"),
        Message.error_code == INTERRUPTED_CODE,
        Message.author_kind == AuthorKind.BOT.value,
        Conversation.mode == Mode.BOT.value,
        ~exists().where(_later.conversation_id == Message.conversation_id, _later.id > Message.id),
    )
    .order_by(Message.id)
    .limit(500)
)


def escalate_unconfirmed_bot_answers() -> int:
    """Bot answers whose send was interrupted (they may have gone) wait for the provider's report,
    which moves them on or hands the question to people. With no report after
    BOT_ESCALATE_AFTER_SECONDS (the provider may never have taken it), people get the question:
    nobody would know otherwise that it may be unanswered."""
    now = utcnow()
    give_up = now - timedelta(seconds=current_app.config["BOT_ESCALATE_AFTER_SECONDS"])
    since = now - UNCONFIRMED_LOOKBACK
    found = db.session.scalars(UNCONFIRMED_BOT_ANSWERS, {"since": since, "before": give_up}).all()
    db.session.commit()
    for conversation_id in found:
        conversations.bot_answer_failed(conversation_id, UNCONFIRMED_REASON, maybe_sent=True)
    return len(found)


UNCONFIRMED_REASON = "the provider never confirmed it"


def retry(user: User, conversation: Conversation, message_id: int) -> Message:
    """An agent's Retry on a failed message of a conversation they can see (checked by the view)."""
    message = db.session.scalar(
        select(Message)
        .where(Message.id == message_id, Message.conversation_id == conversation.id)
        .with_for_update()
    )
    if message is None or message.direction != Direction.OUTBOUND:
        raise SendError("retry", "There is no such message to retry in this conversation.")
    if message.status != Status.FAILED:
        raise SendError("retry", f"Only a failed message can be retried; this one is {message.status}.")
    if message.erased_at is not None:
        raise SendError(
            "retry", "This message's text was erased under the office's retention policy, so it cannot be "
            "sent again; write it anew."
        )
    if is_opted_out(conversation.contact_phone):
        raise SendError("retry", OPTED_OUT_ERROR)
    if not conversation.number.active:
        raise SendError("retry", NUMBER_OFF_ERROR)
    # A Retry is an agent's Send again: inside quiet hours it is held like one.
    quiet = automatic_quiet_hours(conversation.number.office_id)
    hold = quiet.hold_agent_text(utcnow(), conversation.last_inbound_at) if quiet else None
    message.status = (Status.QUEUED if hold is None else Status.SCHEDULED).value
    message.send_at = hold
    message.held_by_quiet_hours = hold is not None
    message.error_reason = None
    message.error_code = None
    message.attempts = 0
    message.retries += 1
    message.provider_message_id = None  # the new attempt's, once the provider answers
    conversations.add_event(conversation, f"{user.name} retried a failed message", user)
    db.session.commit()
    if hold is None:
        enqueue_send(message_id)
    return message
