"""Opt-outs: the keyword rules, and the list that every send is checked against."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import joinedload

from webapp.extensions import db
from webapp.models import OptOut, OptOutEvent, User
from webapp.services import audit
from webapp.services.dbutil import ByValues, insert_ignoring_conflict
from webapp.services.phones import format_phone

OPT_OUT_KEYWORDS = frozenset(
    {
        "stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout",
        "stop all", "do not text", "do not message", "take me off your list",
    }
)  # fmt: skip
OPT_IN_KEYWORDS = frozenset({"start", "unstop", "resume"})
HELP_KEYWORDS = frozenset({"help", "info"})

OPTED_OUT_ERROR = "Failed to Send SMS Message: this contact has opted out"


class Intent(StrEnum):
    OPT_OUT = "optout"
    OPT_IN = "optin"
    HELP = "help"


def keyword_intent(text: str) -> Intent | None:
    """The intent of a message that is, as a whole and in any case, a keyword; None otherwise."""
    words = re.sub(r"[^\w\s]", " ", (text or "").lower()).split()
    phrase = " ".join(words)
    if phrase in OPT_OUT_KEYWORDS:
        return Intent.OPT_OUT
    if phrase in OPT_IN_KEYWORDS:
        return Intent.OPT_IN
    if phrase in HELP_KEYWORDS:
        return Intent.HELP
    return None


# Built once: every send, inbound message and contact lookup asks.
OPTED_OUT = ByValues("phones", lambda phone_in: select(OptOut.phone).where(phone_in(OptOut.phone)))


def is_opted_out(phone: str) -> bool:
    return bool(opted_out_phones([phone]))


def opted_out_phones(phones: list[str]) -> set[str]:
    if not phones:
        return set()
    # Opt-outs are only ever written by Core statements: no pending ORM change to flush first.
    return set(OPTED_OUT.run(phones).scalars())


def opt_out(phone: str, source: str, user: User | None = None, detail: str = "") -> bool:
    """Record an opt-out (in the caller's transaction). True when the phone was not opted out."""
    added = insert_ignoring_conflict(
        OptOut,
        ["phone"],
        phone=phone,
        source=source,
        created_by_id=user.id if user else None,
    )
    if added:
        db.session.add(
            OptOutEvent(phone=phone, action="opt_out", source=source, user=user, detail=detail)
        )
        _audit("optout.added", phone, source, user, detail)
    return added


def opt_in(phone: str, source: str, user: User | None = None, detail: str = "") -> bool:
    """Remove an opt-out (in the caller's transaction). True when the phone was opted out."""
    removed = db.session.execute(delete(OptOut).where(OptOut.phone == phone)).rowcount == 1
    if removed:
        db.session.add(
            OptOutEvent(phone=phone, action="opt_in", source=source, user=user, detail=detail)
        )
        _audit("optout.removed", phone, source, user, detail)
    return removed


SOURCE_LABELS = {
    "keyword": "by text",
    "provider": "as reported by the provider",
    "admin": "by an admin",
}


def _audit(kind: str, phone: str, source: str, user: User | None, detail: str) -> None:
    """Opt-outs hold for the whole organisation, so every admin's audit log shows them."""
    change = "opted out" if kind == "optout.added" else "opted back in"
    how = SOURCE_LABELS.get(source, source)
    summary = f"{format_phone(phone)} {change} {how}" + (f" ({detail})" if detail else "")
    audit.record(user, kind, summary, detail={"phone": phone, "source": source}, org_wide=True)


def list_opt_outs(
    after: tuple[datetime, str] | None = None, phone: str | None = None, limit: int = 50
) -> tuple[list[OptOut], tuple[datetime, str] | None]:
    """Opt-outs newest first, keyset-paginated on (created_at, phone)."""
    query = select(OptOut).options(joinedload(OptOut.created_by))
    if phone:
        query = query.where(OptOut.phone == phone)
    if after is not None:
        query = query.where(tuple_(OptOut.created_at, OptOut.phone) < after)
    rows = db.session.scalars(
        query.order_by(OptOut.created_at.desc(), OptOut.phone.desc()).limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = list(rows[:limit])
    return rows, ((rows[-1].created_at, rows[-1].phone) if more and rows else None)


def recent_events(limit: int = 50) -> list[OptOutEvent]:
    return list(
        db.session.scalars(
            select(OptOutEvent)
            .options(joinedload(OptOutEvent.user))
            .order_by(OptOutEvent.id.desc())
            .limit(limit)
        )
    )
