"""Held messages: a text waiting for the end of its office's quiet hours, or for the time an agent
chose (Send later), shows **Scheduled** until the worker releases it, or an agent cancels it.

A held message is a row with status `scheduled` and `send_at`; releasing it is a conditional
update (scheduled → queued) that one worker alone wins, then the usual send, whose claim checks
opt-outs again: a STOP that arrived while it waited stops it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from webapp.extensions import db
from webapp.models import (
    AuthorKind,
    Conversation,
    Direction,
    Message,
    Mode,
    Office,
    ReusableNumber,
    Status,
    User,
    utcnow,
)
from webapp.queue import enqueue_send
from webapp.services import conversations
from webapp.services.offices import quiet_hours_of_office
from webapp.services.quiet_hours import QuietHours, format_clock, format_local, zone_or_utc

MAX_AHEAD = timedelta(days=365)
RELEASE_BATCH = 500
_MESSAGES = Message.__table__


class ScheduleError(ValueError):
    """A Send later time that cannot be used, or a cancel that came too late; says why."""


class NoSuchMessage(LookupError):
    """A cancel of a message the conversation does not have; says so."""


def automatic_quiet_hours(office_id: int) -> QuietHours | None:
    """The quiet hours that a bot's answer, an API text or a retry waits for."""
    return quiet_hours_of_office(office_id)


def compose_notices(numbers: list[ReusableNumber], now: datetime | None = None) -> list[str]:
    """What compose says before Send: for each office of these From numbers that is in its quiet
    hours now, that a text from its numbers will be held, and until when (one query)."""
    office_ids = {number.office_id for number in numbers}
    if not office_ids:
        return []
    now = now or utcnow()
    notices = []
    for office in db.session.scalars(select(Office).where(Office.id.in_(office_ids)).order_by(Office.name)):
        quiet = QuietHours.of(office.time_zone, office.quiet_hours_start, office.quiet_hours_end)
        until = quiet.hold_until(now) if quiet else None
        if until is not None:
            notices.append(
                f"{office.name} is in its quiet hours, {quiet.describe()}: a text sent now from its "
                f"numbers is held and goes {format_local(until, quiet.zone)}, unless the contact "
                "texted within the last hour."
            )
    return notices


def parse_send_later(
    text: str | None, zone_name: str | None, quiet: QuietHours | None, now: datetime | None = None
) -> datetime | None:
    """The form's Send later field (a local date and time, e.g. 2026-03-09T08:00, in the office's
    time zone) as a UTC moment; None when it is empty."""
    text = (text or "").strip()
    if not text:
        return None
    zone = zone_or_utc(zone_name)
    try:
        local = datetime.fromisoformat(text)
    except ValueError:
        raise ScheduleError("Enter the date and time to send, e.g. 2026-03-09 08:00.") from None
    if local.tzinfo is not None:
        raise ScheduleError("Enter a local date and time, without a time zone.")
    # In UTC: compared in its own zone, a time the clocks skip would be taken as written.
    moment = local.replace(tzinfo=zone).astimezone(UTC)
    if moment.astimezone(zone).replace(tzinfo=None) != local:
        raise ScheduleError(
            f"{format_clock(local.time())} does not exist on {local:%b} {local.day} in {zone.key}: "
            "the clocks go forward then. Choose another time."
        )
    now = now or utcnow()
    if moment <= now:
        raise ScheduleError(f"That time has passed: choose a time after {format_local(now, zone)}.")
    if moment - now > MAX_AHEAD:
        raise ScheduleError("A message can be scheduled at most a year ahead.")
    if quiet is not None and quiet.contains(moment):
        raise ScheduleError(
            f"That time is inside the office's quiet hours, {quiet.describe()}: choose another."
        )
    return moment


def due_message_ids(now: datetime | None = None) -> list[int]:
    """Held messages whose time has come, oldest first."""
    ids = list(
        db.session.scalars(
            select(Message.id)
            .where(Message.status == Status.SCHEDULED.value, Message.send_at <= (now or utcnow()))
            .order_by(Message.send_at, Message.id)
            .limit(RELEASE_BATCH)
        )
    )
    db.session.rollback()
    return ids


def _office_of(message_id: int) -> int | None:
    return db.session.scalar(
        select(ReusableNumber.office_id)
        .join(Conversation, Conversation.number_id == ReusableNumber.id)
        .join(Message, Message.conversation_id == Conversation.id)
        .where(Message.id == message_id)
    )


def release(message_id: int) -> bool:
    """Queue a held message for sending. True for the one caller (of any number racing) that
    moved it; False when it was released, cancelled or sent already, or when its office's quiet
    hours (changed since it was held) cover this moment: then it waits again for their end."""
    now = utcnow()
    office_id = _office_of(message_id)
    quiet = automatic_quiet_hours(office_id) if office_id is not None else None
    hold = quiet.hold_until(now) if quiet else None
    if hold is not None:
        db.session.execute(
            update(_MESSAGES)
            .where(_MESSAGES.c.id == message_id, _MESSAGES.c.status == Status.SCHEDULED.value)
            # Whatever held it before (a Send later time), the quiet hours hold it now.
            .values(send_at=hold, held_by_quiet_hours=True, updated_at=now)
        )
        db.session.commit()
        return False
    moved = db.session.execute(
        update(_MESSAGES)
        .where(_MESSAGES.c.id == message_id, _MESSAGES.c.status == Status.SCHEDULED.value)
        .values(status=Status.QUEUED.value, updated_at=now)
    ).rowcount
    db.session.commit()
    if moved:
        enqueue_send(message_id)  # the send checks opt-outs in the transaction that claims it
    return bool(moved)


def release_due(now: datetime | None = None) -> int:
    """The worker's minute: release every held message whose time has come. Returns how many
    this caller released."""
    return sum(release(message_id) for message_id in due_message_ids(now))


def release_office_due(office_id: int, now: datetime | None = None) -> int:
    """Release at once the office's held messages whose time has come, e.g. those its quiet hours
    held until they were switched off, rather than at the worker's next minute. Returns how many
    go: one held on a number deactivated since fails with that reason instead."""
    rows = list(
        db.session.execute(
            select(Message.id, ReusableNumber.active)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .join(ReusableNumber, ReusableNumber.id == Conversation.number_id)
            .where(
                ReusableNumber.office_id == office_id,
                Message.status == Status.SCHEDULED.value,
                Message.send_at <= (now or utcnow()),
            )
            .order_by(Message.send_at, Message.id)
            .limit(RELEASE_BATCH)
        )
    )
    db.session.rollback()
    return sum(release(message_id) and active for message_id, active in rows)


def cancel(user: User, conversation: Conversation, message_id: int) -> None:
    """An agent's Cancel on a scheduled message of a conversation they can see: it never goes."""
    conversation = conversations.locked(conversation.id) or conversation
    cancelled = db.session.execute(
        update(_MESSAGES)
        .where(
            _MESSAGES.c.id == message_id,
            _MESSAGES.c.conversation_id == conversation.id,
            _MESSAGES.c.direction == Direction.OUTBOUND.value,
            _MESSAGES.c.status == Status.SCHEDULED.value,
        )
        .values(status=Status.CANCELLED.value, updated_at=utcnow())
        .returning(_MESSAGES.c.author_kind)
    ).scalar()
    if cancelled is None:
        raise _not_cancelled(conversation.id, message_id)
    conversations.add_event(conversation, f"{user.name} cancelled a scheduled message", user)
    answering = cancelled in (AuthorKind.AGENT, AuthorKind.BOT)
    conversations.after_withdrawn_text(conversation, message_id, answering=answering)
    if cancelled == AuthorKind.BOT and conversation.mode == Mode.BOT:
        # The bot answered already and will not again: without people the question goes unanswered.
        conversations.escalate(conversation, "The bot's answer was cancelled; this needs an agent.")
    db.session.commit()


# Why a Cancel changed nothing, by the message's status: what the agent is told.
_TOO_LATE = {
    Status.CANCELLED: "This message was already cancelled; it will not be sent.",
    Status.QUEUED: "This message can no longer be cancelled: it is being sent now.",
    Status.SENDING: "This message can no longer be cancelled: it is being sent now.",
    Status.FAILED: "This message can no longer be cancelled: sending it was already tried, and failed.",
}


def _not_cancelled(conversation_id: int, message_id: int) -> Exception:
    """The refusal of a Cancel that changed nothing, from the message as it is now (read after
    the update: a release or another Cancel may just have won)."""
    row = db.session.execute(
        select(_MESSAGES.c.direction, _MESSAGES.c.status).where(
            _MESSAGES.c.id == message_id, _MESSAGES.c.conversation_id == conversation_id
        )
    ).first()
    if row is None:
        return NoSuchMessage("This message does not exist in this conversation; nothing was cancelled.")
    if row.direction != Direction.OUTBOUND:
        return ScheduleError("Only a scheduled text can be cancelled; this message never was one.")
    return ScheduleError(
        _TOO_LATE.get(row.status, "This message can no longer be cancelled: it has already been sent.")
    )
