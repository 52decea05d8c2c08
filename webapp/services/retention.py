"""Retention: an office that keeps message text N days has older text and pictures erased every
night, with the webhook log's copies of it. Conversations, times, statuses, authors and counts
stay; each run is in the audit log.

Erasing is done in batches of ids (short transactions: the inbox and sending go on meanwhile), and
also clears a conversation's list preview when its last message is older than the policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, func, select, update

from webapp.extensions import db
from webapp.models import Conversation, Direction, Message, Office, ReusableNumber, Status, utcnow
from webapp.services import audit, conversations, exports, media, webhooks

BATCH = 1000
_MESSAGES = Message.__table__
_CONVERSATIONS = Conversation.__table__
_NUMBERS = ReusableNumber.__table__


def cutoff(days: int, now: datetime | None = None) -> datetime:
    """Messages created before this are older than `days` days."""
    return (now or utcnow()) - timedelta(days=days)


# Texts that have not gone yet (held by Send later or quiet hours, queued, being sent): their text
# is still to be sent, so they are erased on a later run, once they have gone.
NOT_GONE = (Status.SCHEDULED.value, Status.QUEUED.value, Status.SENDING.value)


def _erasable(office_id: int, before: datetime) -> Select:
    """Ids of the office's messages (not history events nor texts still to go) created before
    `before`, not erased yet."""
    return (
        select(_MESSAGES.c.id)
        .join(_CONVERSATIONS, _CONVERSATIONS.c.id == _MESSAGES.c.conversation_id)
        .join(_NUMBERS, _NUMBERS.c.id == _CONVERSATIONS.c.number_id)
        .where(
            _NUMBERS.c.office_id == office_id,
            _MESSAGES.c.created_at < before,
            _MESSAGES.c.erased_at.is_(None),
            _MESSAGES.c.direction != Direction.EVENT.value,
            _MESSAGES.c.status.not_in(NOT_GONE),
        )
    )


def would_erase(office_id: int, days: int, now: datetime | None = None) -> int:
    """How many messages a run with this policy would erase now (the admin page's preview)."""
    erasable = _erasable(office_id, cutoff(days, now)).subquery()
    return db.session.scalar(select(func.count()).select_from(erasable)) or 0


@dataclass(frozen=True)
class Run:
    office: str
    days: int
    erased: int


def erase_office(office: Office, now: datetime | None = None) -> Run:
    """Erase the office's message text and pictures older than its policy; one audit entry."""
    days = office.retention_days
    assert days is not None
    before = cutoff(days, now)
    moment = utcnow()
    erased = 0
    last_id = 0
    touched: set[int] = set()  # conversations with a message erased
    erased_ids: set[int] = set()
    while True:
        # Keyset: each batch starts after the last, so a run reads the office's messages once.
        batch = _erasable(office.id, before).where(_MESSAGES.c.id > last_id)
        ids = list(db.session.scalars(batch.order_by(_MESSAGES.c.id).limit(BATCH)))
        if not ids:
            break
        last_id = ids[-1]
        # Checked again as each row is written: a Retry may have queued one since the read.
        rows = db.session.execute(
            update(_MESSAGES)
            .where(_MESSAGES.c.id.in_(ids), _MESSAGES.c.erased_at.is_(None))
            .where(_MESSAGES.c.status.not_in(NOT_GONE))
            .values(body="", media_urls=[], erased_at=moment)
            .returning(_MESSAGES.c.id, _MESSAGES.c.conversation_id)
        ).all()
        touched.update(conversation_id for _, conversation_id in rows)
        marked = [message_id for message_id, _ in rows]
        erased_ids.update(marked)
        erased += len(marked)
        # After the messages are marked (and locked): a contact's picture the worker was keeping
        # meanwhile is either here to erase, or refused by the worker once it sees them erased.
        media.erase(marked)  # their pictures: files and rows
        db.session.commit()
    # The webhook log's bodies, a list row's preview and exports are copies of messages' text.
    forgotten = webhooks.forget_office_log(office.id, before)
    forgotten += webhooks.forget_erased_messages(sorted(touched), erased_ids, moment)
    exports.withdraw_erased(office.id, before)
    office_numbers = select(_NUMBERS.c.id).where(_NUMBERS.c.office_id == office.id)
    db.session.execute(
        update(_CONVERSATIONS)
        .where(
            _CONVERSATIONS.c.number_id.in_(office_numbers),
            _CONVERSATIONS.c.last_activity_at < before,
            _CONVERSATIONS.c.last_message_preview != "",
        )
        .values(last_message_preview="")
    )
    # A recent row may still show an old text: its newest activity came after it (a held reply
    # cancelled, a note), so its preview is taken again from what is left.
    touched_ids = sorted(touched)
    for start in range(0, len(touched_ids), BATCH):
        recent = select(Conversation).where(
            Conversation.id.in_(touched_ids[start : start + BATCH]), Conversation.last_activity_at >= before
        )
        for conversation in db.session.scalars(recent):
            conversations.refresh_preview(conversation)
    audit.record(
        None,
        "retention.run",
        f"Retention for {office.name}: erased the text of {erased:,} message{'' if erased == 1 else 's'} "
        f"older than {days} day{'' if days == 1 else 's'}",
        [office],
        {"erased": erased, "webhook_deliveries": forgotten, "days": days, "before": before.isoformat()},
    )
    db.session.commit()
    return Run(office.name, days, erased)


def run_nightly(now: datetime | None = None) -> list[Run]:
    """The worker's nightly run: every office with a retention policy."""
    office_ids = list(
        db.session.scalars(select(Office.id).where(Office.retention_days.is_not(None)).order_by(Office.id))
    )
    runs = []
    for office_id in office_ids:
        office = db.session.get(Office, office_id)
        if office is not None and office.retention_days:
            runs.append(erase_office(office, now))
    return runs
