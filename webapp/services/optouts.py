"""Opt-outs: the keyword rules, and the list that every send is checked against.

An opt-out holds for the whole organisation, so taking one away is weighty: only an admin of the
office whose number it came through may remove it, an admin of one of the offices of the admin who
added it by hand, or an admin of every office (for one that came through more than one number, or
by hand and by text); and only with a written reason, which the history and the audit log keep.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import delete, exists, select, tuple_, update
from sqlalchemy.orm import joinedload

from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    Conversation,
    Office,
    OptOut,
    OptOutEvent,
    ReusableNumber,
    User,
    office_memberships,
)
from webapp.services import audit, webhooks
from webapp.services.admin import Forbidden, FormErrors, NotFound, my_office_ids, my_office_ids_query
from webapp.services.dbutil import ByValues, insert_ignoring_conflict
from webapp.services.phones import format_phone

OPT_OUT_KEYWORDS = frozenset(
    {
        "stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout", "opt out",
        "stop all", "do not text", "do not message", "take me off your list",
    }
)  # fmt: skip
OPT_IN_KEYWORDS = frozenset({"start", "unstop", "resume"})
HELP_KEYWORDS = frozenset({"help", "info"})
KEYWORDS = OPT_OUT_KEYWORDS | OPT_IN_KEYWORDS | HELP_KEYWORDS

OPTED_OUT_ERROR = "Failed to Send SMS Message: this contact has opted out"


class Intent(StrEnum):
    OPT_OUT = "optout"
    OPT_IN = "optin"
    HELP = "help"


_NOT_WORDS = re.compile(r"[^\w\s]")


def _readings(text: str) -> tuple[str, ...]:
    """A text as a phone may write it, in lowercase words: full-width and circled letters (ＳＴＯＰ,
    ⓈⓉⓄⓅ) as the usual ones, and every mark or emoji around or between the words (Stop!, STOP 🛑,
    stop-all) as a space. NFKC makes letters of some symbols after a word too (™, 🈲): the second
    reading makes the marks spaces first."""
    text = text or ""
    return tuple(
        " ".join(_NOT_WORDS.sub(" ", unicodedata.normalize("NFKC", reading).lower()).split())
        for reading in (text, _NOT_WORDS.sub(" ", text))
    )


def keyword_intent(text: str) -> Intent | None:
    """The intent of a message that is, as a whole and in any case, a keyword; None otherwise."""
    for phrase in _readings(text):
        if phrase in OPT_OUT_KEYWORDS:
            return Intent.OPT_OUT
        if phrase in OPT_IN_KEYWORDS:
            return Intent.OPT_IN
        if phrase in HELP_KEYWORDS:
            return Intent.HELP
    return None


# The shapes of a longer text that asks for no more texts: "Stop texting me", "Quit messaging
# me", "Don't text me again", "no more texts", "unsubscribe please", "take me off your list",
# "Stop! Wrong number". Only a keyword alone opts out; but no bot answers such a text: an agent
# reads it. Everyday questions with the same words are not such texts: "Can I stop by?", "Will
# my aid stop?", "opt out of the meal plan", "cancel my application".
_STOP_REQUEST = re.compile(
    r"\b(stop|quit|end|cease) (texting|txting|messaging|contacting|sending)\b"
    r"|\b(stop|quit|end|cancel) (these |the |your |ur |all |all the )?(texts|text messages|messages|msgs)\b"
    r"|\b(do not|don.?t|never) (text|txt|message|msg|contact|sms)\b"
    r"|\bno more (texts|text messages|messages|msgs)\b"
    r"|\b(unsubscribe|stopall)\b"
    r"|\b(take|remove) me (off|from) (your|this|the|ur) (list|texts|messages|number|contacts)\b"
    r"|\bopt ?out\b(?! of)"
    r"|^(stop|quit)\b(?! by)"
    r"|\b(please|pls|plz|i said) stop\b(?! by)"
)


def may_ask_to_stop(text: str) -> bool:
    """Whether a text that is not a keyword alone asks, in other words, for no more texts."""
    return any(_STOP_REQUEST.search(phrase) for phrase in _readings(text))


# Built once: every send, inbound message and contact lookup asks.
# Tables, not mapped classes, in statements built once: they run as Core statements (see
# docs/performance.md).
_OPT_OUTS = OptOut.__table__

OPTED_OUT = ByValues("phones", lambda phone_in: select(_OPT_OUTS.c.phone).where(phone_in(_OPT_OUTS.c.phone)))


def is_opted_out(phone: str) -> bool:
    return bool(opted_out_phones([phone]))


def opted_out_phones(phones: list[str]) -> set[str]:
    if not phones:
        return set()
    # Opt-outs are only ever written by Core statements: no pending ORM change to flush first.
    return set(OPTED_OUT.run(phones).scalars())


class Change(StrEnum):
    """What an opt-out request changed."""

    NEW = "new"  # the phone was not opted out
    ANOTHER_WAY = "another way"  # it was, another way: now held more widely (who may remove it changed)
    NONE = "none"  # it was already, this way: nothing changed, nothing is recorded


def opt_out(
    phone: str,
    source: str,
    user: User | None = None,
    detail: str = "",
    number_id: int | None = None,
) -> Change:
    """Record an opt-out (in the caller's transaction), and say what it changed.

    `number_id`: the reusable number it came through (its office's admins may remove it); None for
    one an admin adds by hand (the admins of that admin's offices may remove it). A phone already
    opted out through another number (or by hand) is then opted out organisation-wide: no single
    office's admins may take it away."""
    added = insert_ignoring_conflict(
        OptOut,
        ["phone"],
        phone=phone,
        source=source,
        created_by_id=user.id if user else None,
        number_id=number_id,
    )
    if added:
        db.session.add(
            OptOutEvent(phone=phone, action="opt_out", source=source, user=user, detail=detail)
        )
        _audit("optout.added", phone, source, user, detail, number_id)
        _tell_crms(phone, "contact.opted_out", user)
        return Change.NEW
    widened = db.session.execute(
        update(OptOut)
        .where(
            OptOut.phone == phone,
            OptOut.number_id.is_not(None),  # not held organisation-wide already
            OptOut.number_id.is_distinct_from(number_id),
        )
        .values(number_id=None)
    ).rowcount
    if source != "admin":  # the contact (or their carrier) asks too: no longer one admin's doing
        widened += db.session.execute(
            update(OptOut)
            .where(OptOut.phone == phone, OptOut.source == "admin")
            .values(source=source, created_by_id=None)
        ).rowcount
    if not widened:
        return Change.NONE
    # Asked another way (another number, by hand, the contact after an admin): who may remove it
    # changed, so it is recorded as the first request was.
    db.session.add(OptOutEvent(phone=phone, action="again", source=source, user=user, detail=detail))
    _audit("optout.again", phone, source, user, detail, number_id)
    return Change.ANOTHER_WAY


def opt_in(
    phone: str, source: str, user: User | None = None, detail: str = "", number_id: int | None = None
) -> bool:
    """Remove an opt-out (in the caller's transaction). True when the phone was opted out.

    A contact's own START comes here directly (`number_id`: the number it texted, for the audit
    log); an admin goes through `remove_opt_out`."""
    removed = db.session.execute(delete(OptOut).where(OptOut.phone == phone)).rowcount == 1
    if removed:
        db.session.add(
            OptOutEvent(phone=phone, action="opt_in", source=source, user=user, detail=detail)
        )
        _audit("optout.removed", phone, source, user, detail, number_id)
        _tell_crms(phone, "contact.opted_in", user)
    return removed


REASON_MAX = 200  # the history's detail column


@dataclass(frozen=True)
class Origin:
    """The reusable number an opt-out came through, as one admin's list shows it: the number's
    label and phone only to an admin of its office (None otherwise), its office to everyone."""

    number_label: str | None
    number_phone: str | None
    office_id: int
    office_name: str


def origins(number_ids: set[int], viewer_office_ids: set[int]) -> dict[int, Origin]:
    """By number id, in one query. An opt-out holds for every office, but another office's number
    is not the viewer's to see: who may remove it (its office) is all they learn of it."""
    if not number_ids:
        return {}
    rows = db.session.execute(
        select(ReusableNumber.id, ReusableNumber.label, ReusableNumber.phone, Office.id, Office.name)
        .join(Office, Office.id == ReusableNumber.office_id)
        .where(ReusableNumber.id.in_(number_ids))
    )
    found = {}
    for number_id, label, phone, office_id, office_name in rows:
        if office_id not in viewer_office_ids:
            label = phone = None
        found[number_id] = Origin(label, phone, office_id, office_name)
    return found


def administers_every_office(admin: User) -> bool:
    """A member of every office there is (an organisation-wide opt-out is all of theirs)."""
    others = select(Office.id).where(Office.id.not_in(my_office_ids_query(admin)))
    return not db.session.scalar(select(exists(others)))


class RemovalRights:
    """What one admin may remove, worked out once for a page of opt-outs."""

    def __init__(self, admin: User, number_ids: set[int], colleagues: set[int]) -> None:
        self.mine = my_office_ids(admin)
        self.every_office = administers_every_office(admin)
        self.origins = origins(number_ids, self.mine)
        self.colleagues = colleagues  # of the page's hand-adders: users sharing an office with admin

    def refusal(self, opt_out: OptOut) -> str | None:
        """Why the admin may not remove this opt-out, or None when they may."""
        origin = self.origins.get(opt_out.number_id) if opt_out.number_id else None
        if origin is None:
            if self.every_office or _added_by_hand(opt_out) in self.colleagues:
                return None  # an admin of every office, or one of the offices of who added it
            if _added_by_hand(opt_out) is not None:
                return (
                    "It was added by hand by an administrator of other offices: only an "
                    "administrator of one of their offices can remove it."
                )
            return (
                "It did not come through one office's number, so it holds for every office: only "
                "an administrator of every office can remove it."
            )
        if origin.office_id in self.mine:
            return None
        return (
            f"It came through a number of {origin.office_name}: only an "
            f"administrator of {origin.office_name} can remove it."
        )


def _added_by_hand(opt_out: OptOut) -> int | None:
    """Who added it by hand, while nobody else has opted the phone out (no number, no text)."""
    if opt_out.number_id is None and opt_out.source == "admin":
        return opt_out.created_by_id
    return None


def removal_rights(admin: User, rows: list[OptOut]) -> RemovalRights:
    adders = {adder for row in rows if (adder := _added_by_hand(row)) is not None}
    colleagues = set()
    if adders:
        colleagues = set(
            db.session.scalars(
                select(office_memberships.c.user_id).where(
                    office_memberships.c.user_id.in_(adders),
                    office_memberships.c.office_id.in_(my_office_ids_query(admin)),
                )
            )
        )
    return RemovalRights(admin, {row.number_id for row in rows if row.number_id}, colleagues)


def check_reason(reason: str) -> str:
    """The written reason an admin gives for removing an opt-out, trimmed; FormErrors if unusable."""
    reason = (reason or "").strip()
    if not reason:
        raise FormErrors({"reason": "Say why this phone may be texted again."})
    if len(reason) > REASON_MAX:
        raise FormErrors(
            {"reason": f"Keep the reason to {REASON_MAX} characters; this one has {len(reason)}."}
        )
    return reason


def remove_opt_out(admin: User, phone: str, reason: str) -> None:
    """An admin takes a phone off the list (in the caller's transaction), with a written reason.

    Raises NotFound (not opted out), Forbidden (not theirs to remove) or FormErrors (no usable
    reason), having changed nothing."""
    opt_out = db.session.scalar(select(OptOut).where(OptOut.phone == phone).with_for_update())
    if opt_out is None:
        raise NotFound("not opted out")
    refusal = removal_rights(admin, [opt_out]).refusal(opt_out)
    if refusal:
        raise Forbidden(refusal)
    reason = check_reason(reason)
    opt_in(phone, source="admin", user=admin, detail=reason)


def _tell_crms(phone: str, event_type: str, admin: User | None) -> None:
    """A change of the phone's opt-out, which holds organisation-wide, for the CRMs of the offices
    it concerns (in the caller's transaction): every office with a conversation with the phone
    (a STOP's own conversation included), and an admin's own offices, on whose behalf they act."""
    talked = (
        select(ReusableNumber.office_id)
        .join(Conversation, Conversation.number_id == ReusableNumber.id)
        .where(Conversation.contact_phone == phone)
        .distinct()
    )
    offices = set(db.session.scalars(talked)) | (my_office_ids(admin) if admin else set())
    for office_id in sorted(offices):
        webhooks.contact_event(office_id, phone, event_type)


SOURCE_LABELS = {
    "keyword": "by text",
    "provider": "as reported by the provider",
    "admin": "by an admin",
}


def _audit(
    kind: str, phone: str, source: str, user: User | None, detail: str, number_id: int | None
) -> None:
    """Opt-outs hold for the whole organisation, so every admin's audit log shows them. The number
    it came through is kept by id: the log shows it to its office's admins only (`event_origins`)."""
    change = {"optout.added": "opted out", "optout.again": "opted out again"}.get(kind, "opted back in")
    how = SOURCE_LABELS.get(source, source)
    summary = f"{format_phone(phone)} {change} {how}" + (f" ({detail})" if detail else "")
    data: dict = {"phone": phone, "source": source}
    if number_id is not None:
        data["number_id"] = number_id
    if detail and user is not None:
        data["reason" if kind == "optout.removed" else "note"] = detail  # what the admin wrote
    audit.record(user, kind, summary, detail=data, org_wide=True)


def event_origins(events: list[AuditEvent], admin: User) -> dict[int, Origin]:
    """By audit event id, the number an opt-out entry came through, for those `admin` may see (a
    number of their offices: `origins`), in one query."""
    number_ids = {}
    for event in events:
        number_id = (event.detail or {}).get("number_id")
        if event.kind.startswith("optout.") and isinstance(number_id, int):
            number_ids[event.id] = number_id
    if not number_ids:
        return {}
    found = origins(set(number_ids.values()), my_office_ids(admin))
    return {
        event_id: found[number_id]
        for event_id, number_id in number_ids.items()
        if number_id in found and found[number_id].number_phone is not None
    }


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
