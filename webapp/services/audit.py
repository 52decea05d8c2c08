"""The audit log: every admin change (and every opt-out change) with who, what and when."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import false, func, or_, select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import AuditEvent, Office, User, audit_event_offices, office_memberships
from webapp.services.dbutil import row_id

# kind → what the audit page calls it. The part before the dot is the kind's category.
KINDS: dict[str, str] = {
    "office.created": "Office created",
    "office.updated": "Office renamed or edited",
    "office.quiet_hours": "Quiet hours changed",
    "office.retention": "Retention changed",
    "user.created": "User created",
    "user.updated": "User role or offices changed",
    "user.deactivated": "User deactivated",
    "user.reactivated": "User reactivated",
    "user.password_set": "Password set",
    "number.added": "Number added",
    "number.updated": "Number edited",
    "number.settings_updated": "Unsolicited Message Settings changed",
    "number.deactivated": "Number deactivated",
    "number.reactivated": "Number reactivated",
    "campaign.saved": "Campaign saved as draft",
    "campaign.import_failed": "Campaign import failed",
    "campaign.launched": "Campaign launched",
    "campaign.archived": "Campaign archived",
    "optout.added": "Phone opted out",
    "optout.again": "Phone opted out again",
    "optout.removed": "Phone opted back in",
    "api_key.created": "API key created",
    "api_key.revoked": "API key revoked",
    "webhook.added": "Webhook endpoint added",
    "webhook.disabled": "Webhook endpoint disabled",
    "webhook.enabled": "Webhook endpoint enabled again",
    "webhook.secret_rotated": "Webhook signing secret rotated",
    "webhook.previous_secret_stopped": "Webhook previous signing secret stopped",
    "webhook.deleted": "Webhook endpoint deleted",
    "retention.run": "Retention run (message text erased)",
    "transcript.exported": "Conversation transcript exported",
    "export.requested": "Office messages export requested",
    "export.downloaded": "Office messages export downloaded",
    "saved_reply.created": "Saved reply added",
    "saved_reply.updated": "Saved reply changed",
    "saved_reply.deleted": "Saved reply deleted",
    "kb.entry_added": "Knowledge-base entry added",
    "kb.entry_updated": "Knowledge-base entry changed",
    "kb.entry_deleted": "Knowledge-base entry deleted",
    "kb.idk_updated": "Bot's “I don't know” changed",
}
CATEGORIES: dict[str, str] = {
    "office": "Offices",
    "user": "Users",
    "number": "Reusable numbers",
    "campaign": "Campaign records",
    "optout": "Opt-outs",
    "api_key": "API keys",
    "webhook": "Webhooks",
    "retention": "Retention",
    "transcript": "Transcripts",
    "export": "Exports",
    "saved_reply": "Saved replies",
    "kb": "Knowledge base",
}
NO_USER = "none"  # the user filter's value for changes no staff member made (a contact's STOP)
# Kinds only Parley's own scheduled jobs record (with no user): the log names the job, not "a
# contact, provider or command line". The command line's entries of the same area (`flask offices
# retention`) are of other kinds.
SCHEDULED_JOBS: dict[str, str] = {"retention.run": "Parley (nightly retention)"}
PAGE_SIZE = 50


def record(
    actor: User | None,
    kind: str,
    summary: str,
    offices: Iterable[Office] = (),
    detail: dict | None = None,
    org_wide: bool = False,
) -> AuditEvent:
    """Add an event to the caller's transaction: it commits (or rolls back) with the change."""
    if kind not in KINDS:
        raise ValueError(f"unknown audit kind {kind!r}")
    event = AuditEvent(
        actor_id=actor.id if actor is not None else None,
        kind=kind,
        summary=summary[:500],
        detail=detail or {},
        org_wide=org_wide,
    )
    event.offices = list({office.id: office for office in offices}.values())
    db.session.add(event)
    return event


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    next_cursor: int | None  # the id the next page continues below


def _visible(admin: User):
    """Events of the admin's offices, and organisation-wide ones (opt-outs)."""
    mine = select(office_memberships.c.office_id).where(office_memberships.c.user_id == admin.id)
    linked = select(audit_event_offices.c.event_id).where(audit_event_offices.c.office_id.in_(mine))
    return or_(AuditEvent.org_wide.is_(True), AuditEvent.id.in_(linked))


def count_since(admin: User, since: datetime) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(_visible(admin), AuditEvent.created_at >= since)
        )
        or 0
    )


def list_events(
    admin: User,
    actor: str | None = None,
    kind: str | None = None,
    before_id: int | None = None,
    limit: int = PAGE_SIZE,
) -> AuditPage:
    """Newest first: the events of the admin's offices and organisation-wide ones (opt-outs).

    `actor` is a user id, or NO_USER for changes nobody on staff made; `kind` an exact kind or a
    category. Keyset pagination on the id.
    """
    query = (
        select(AuditEvent)
        .options(selectinload(AuditEvent.actor))
        .where(_visible(admin))
        .order_by(AuditEvent.id.desc())
        .limit(limit + 1)
    )
    if actor == NO_USER:
        query = query.where(AuditEvent.actor_id.is_(None))
    elif actor is not None:  # a user id; one past any row's names nobody
        user_id = row_id(actor)
        query = query.where(AuditEvent.actor_id == user_id if user_id is not None else false())
    if kind in KINDS:
        query = query.where(AuditEvent.kind == kind)
    elif kind in CATEGORIES:
        query = query.where(AuditEvent.kind.like(f"{kind}.%"))
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    events = list(db.session.scalars(query))
    more = len(events) > limit
    events = events[:limit]
    return AuditPage(events=events, next_cursor=events[-1].id if more and events else None)


def kind_label(kind: str) -> str:
    return KINDS.get(kind, kind)
