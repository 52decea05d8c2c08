"""Reports: how texting went over a range of days, for an admin's offices or a user's own work.

Every figure comes from aggregate queries over the conversations active since the range began,
found through `ix_conversations_inbox` (or, for one agent, `ix_participants_inbox`), and their
messages (`ix_messages_conversation`). Their cost follows the messages of the chosen offices in
the range, never the size of the whole database; there is no table to keep current.

Days are the local days of the office's time zone (`office_timezone`). Definitions, in the words a
report reader sees them, are in docs/reports.md.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Date,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal_column,
    or_,
    select,
    true,
)

from webapp.extensions import db
from webapp.models import (
    TEXT_DIRECTIONS,
    AuthorKind,
    Conversation,
    Direction,
    Message,
    Office,
    OptOutEvent,
    Participant,
    ReusableNumber,
    Status,
    User,
    office_memberships,
    utcnow,
)
from webapp.services import access, conversations
from webapp.services.quiet_hours import QuietHours, local_moment, zone_or_utc
from webapp.services.sending import REFUSED_CODES
from webapp.transactions import plans_for_values

PRESETS = (7, 30, 90)
DEFAULT_DAYS = 30
MAX_DAYS = 366
OLDEST = timedelta(days=20 * 366)  # how far back a range may start
# A contact's turn that began this long before the range is not looked for (a wait that long has
# long been in Needs Attention; reading further back would cost every report).
WAIT_LOOKBACK = timedelta(days=7)
LONG_WAIT = timedelta(hours=1)
FAILED = (Status.FAILED.value, Status.UNDELIVERED.value)
PENDING = (Status.QUEUED.value, Status.SENDING.value)
# Outbound texts outside every figure: a cancelled one never goes; a scheduled one is held (quiet
# hours, Send later) and counts once it goes, on the day it was written.
NOT_GOING = (Status.CANCELLED.value, Status.SCHEDULED.value)
# Texts sent: those that left or are leaving (queued, sending). A failed one never left (refused:
# the contact opted out, the number was switched off; or the provider would not take it); it
# counts among failures only. An undelivered one left, and the carrier could not deliver it.
NOT_SENT = (*NOT_GOING, Status.FAILED.value)
# A text the contact never got (failed, undelivered) neither starts a conversation, answers a
# contact nor ends their turn.
NOT_RECEIVED = (*NOT_SENT, Status.UNDELIVERED.value)
# How the history records a Does Not Need Attention and a bot's hand-over (the ends of the notes
# `conversations.clear_attention` and `conversations.escalate` write; tests/test_reports.py makes
# both happen and counts them).
DISMISSED_NOTE = conversations.DISMISSED_NOTE
ESCALATED_NOTE = "Switched to agent mode."
ZONE_KEY = re.compile(r"^[A-Za-z0-9_+/-]+$")

_c = Conversation.__table__.c
_m = Message.__table__.c
# An outbound text the contact got or is getting (delivered, sent, or on its way): what starts a
# conversation, answers a contact or ends their turn.
_TO_CONTACT = and_(_m.direction == Direction.OUTBOUND.value, _m.status.not_in(NOT_RECEIVED))
# A contact's text that is more than a keyword (STOP, HELP…, as Parley read it on arrival): a
# question or a reply. Parley answers keywords itself.
_FROM_CONTACT = and_(_m.direction == Direction.INBOUND.value, _m.keyword.is_(None))
_p = Participant.__table__.c
_n = ReusableNumber.__table__.c


class ReportError(ValueError):
    """A range or filter that cannot be reported on; the message says why. Nothing is shown."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


def office_timezone(office: Office) -> ZoneInfo:
    """The zone an office's days are counted in: its own (compliance settings), else UTC. The one
    place reports learn an office's zone."""
    return zone_or_utc(office.time_zone)


def working_seconds(quiet: QuietHours | None, start: datetime, end: datetime) -> float:
    """Seconds from `start` to `end` outside the office's quiet hours (all of them without)."""
    total = (end - start).total_seconds()
    if quiet is None or end <= start:
        return total
    day = start.astimezone(quiet.zone).date() - timedelta(days=1)  # a window from the evening before
    while day <= end.astimezone(quiet.zone).date():
        window_start = local_moment(day, quiet.start, quiet.zone)
        window_end = local_moment(day + timedelta(days=quiet.end < quiet.start), quiet.end, quiet.zone)
        total -= max((min(end, window_end) - max(start, window_start)).total_seconds(), 0)
        day += timedelta(days=1)
    return total


# ---- The range ----


@dataclass(frozen=True)
class DateRange:
    first: date
    last: date  # inclusive
    zone: ZoneInfo
    preset: str = ""  # "7", "30", "90", or "" for a custom range

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(0), tzinfo=self.zone).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=self.zone).astimezone(UTC)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=k) for k in range((self.last - self.first).days + 1)]


def today_in(zone: ZoneInfo, now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(zone).date()


def parse_range(
    preset: str | None,
    first: str | None,
    last: str | None,
    zone: ZoneInfo,
    now: datetime | None = None,
    future: bool = False,
) -> DateRange:
    """The last 7, 30 or 90 days (ending today), or a custom range of dates (YYYY-MM-DD,
    inclusive) of at most a year that does not end after tomorrow (unless `future`); days that
    have not come yet count nothing."""
    today = today_in(zone, now)
    preset = (preset or "").strip()
    if preset != "custom" and not (preset == "" and (first or last)):
        if preset == "":
            preset = str(DEFAULT_DAYS)
        if not (preset.isascii() and preset.isdigit() and len(preset) <= 3) or int(preset) not in PRESETS:
            raise ReportError("range", "Choose a range: the last 7, 30 or 90 days, or custom dates.")
        days = int(preset)
        return DateRange(today - timedelta(days=days - 1), today, zone, preset)
    start_day = _parse_day("from", first)
    end_day = _parse_day("to", last)
    if end_day < start_day:
        raise ReportError("to", f"The range ends ({end_day:%b %d, %Y}) before it starts "
                                f"({start_day:%b %d, %Y}): swap the dates.")  # fmt: skip
    # A day of leeway: the reader's today may be a time zone ahead of the office's.
    if end_day > today + timedelta(days=1) and not future:
        raise ReportError("to", f"The range ends in the future: the last day can be "
                                f"{today + timedelta(days=1):%b %d, %Y} at the latest.")  # fmt: skip
    if end_day > today + timedelta(days=MAX_DAYS):  # also keeps the range's moments from date.max
        raise ReportError("to", f"The range ends too far ahead: the last day can be "
                                f"{today + timedelta(days=MAX_DAYS):%b %d, %Y} at the latest.")  # fmt: skip
    if start_day < today - OLDEST:  # also keeps the range's moments far from date.min
        raise ReportError(
            "from", f"The range starts too long ago: the first day can be {today - OLDEST:%b %d, %Y} "
            "at the earliest."
        )
    if (end_day - start_day).days + 1 > MAX_DAYS:
        raise ReportError("from", f"A report covers at most {MAX_DAYS} days; this range has "
                                  f"{(end_day - start_day).days + 1}. Choose a shorter one.")  # fmt: skip
    return DateRange(start_day, end_day, zone)


def parse_days(first: str | None, last: str | None, zone: ZoneInfo, now: datetime | None = None) -> DateRange:
    """A range from optional dates (the API): the last day defaults to today, the first to the
    last day of a DEFAULT_DAYS range ending on it. It may reach into the future (this month, or
    "today" by a caller's clock a time zone ahead of the office's)."""
    end_day = _parse_day("to", last) if last else today_in(zone, now)
    if first:
        start_day = _parse_day("from", first)
        if not last and start_day > end_day:
            raise ReportError(
                "from",
                f"from ({start_day:%b %d, %Y}) is after today ({end_day:%b %d, %Y}), where the "
                "range ends when to is left out: give a to on or after from, or a from up to today.",
            )
    else:
        span = timedelta(days=DEFAULT_DAYS - 1)
        start_day = end_day - span if end_day > date.min + span else date.min
    return parse_range("custom", start_day.isoformat(), end_day.isoformat(), zone, now, future=True)


def _parse_day(name: str, text: str | None) -> date:
    label = "From" if name == "from" else "To"
    if not (text or "").strip():
        raise ReportError(name, f"Enter the {label} date, e.g. 2026-09-01.")
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ReportError(name, f"{label}: {text.strip()[:20]!r} is not a date; write it as "
                                "YYYY-MM-DD, e.g. 2026-09-01.") from None  # fmt: skip


# ---- Who and what a report covers ----


@dataclass(frozen=True)
class Choice:
    id: int
    label: str


@dataclass(frozen=True)
class Scope:
    """The numbers a report counts, and the agent it is narrowed to (None: everyone)."""

    number_ids: tuple[int, ...]
    agent_id: int | None
    zone: ZoneInfo
    office_id: int | None = None  # the office chosen, None for all of the user's
    number_id: int | None = None
    # What the filter form offers (the user's offices, their numbers, their agents).
    offices: tuple[Choice, ...] = ()
    numbers: tuple[Choice, ...] = ()
    agents: tuple[Choice, ...] = ()
    own_figures: bool = False  # a user who is not an admin sees their own work only


def _as_id(name: str, value: str | int | None) -> int | None:
    if value is None or value == "":
        return None
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise ReportError(name, f"There is no such {name} among yours.")
    return int(text)


def scope_for(
    user: User, office: str | int | None = None, number: str | int | None = None,
    agent: str | int | None = None,
) -> Scope:  # fmt: skip
    """What `user` may see: an admin, every number of their offices and any of their agents; anyone
    else, their own work on the numbers of their offices and those they answer. An office, number
    or agent outside that is refused with the same words whether it exists or not."""
    office_id, number_id, agent_id = (
        _as_id("office", office),
        _as_id("number", number),
        _as_id("agent", agent),
    )
    offices = list(
        db.session.scalars(
            select(Office)
            .join(office_memberships, office_memberships.c.office_id == Office.id)
            .where(office_memberships.c.user_id == user.id)
            .order_by(Office.name)
        )
    )
    if office_id is not None and office_id not in {o.id for o in offices}:
        raise ReportError("office", "There is no such office among yours.")
    chosen = [o for o in offices if office_id in (None, o.id)]
    chosen_ids = [o.id for o in chosen]
    # Admins report on their offices' numbers; others on those and the numbers they answer.
    reachable = _n.office_id.in_([o.id for o in offices])
    if not user.is_admin:
        reachable = or_(reachable, _n.id.in_(access.visible_numbers(user.id, False)))
    numbers_query = select(_n.id, _n.label, _n.phone, _n.office_id).where(reachable)
    if office_id is not None:
        numbers_query = numbers_query.where(_n.office_id == office_id)
    numbers = db.session.execute(numbers_query.order_by(_n.label, _n.phone)).all()
    if number_id is not None and number_id not in {row.id for row in numbers}:
        if office_id is not None and db.session.scalar(select(_n.id).where(_n.id == number_id, reachable)):
            raise ReportError("number", "That number is not among the chosen office's numbers: choose "
                              "its own office, or All my offices.")  # fmt: skip
        raise ReportError("number", "There is no such number among the ones you can report on.")
    number_ids = tuple(row.id for row in numbers if number_id in (None, row.id))
    # Days are those of the offices whose numbers are reported on: one number's office, say, even
    # under All my offices.
    number_offices = {row.office_id for row in numbers if row.id in number_ids}
    zone_offices = list(db.session.scalars(select(Office).where(Office.id.in_(number_offices))))
    agents: list = []
    if user.is_admin:
        agents = db.session.execute(
            select(User.id, User.name)
            .join(office_memberships, office_memberships.c.user_id == User.id)
            .where(office_memberships.c.office_id.in_(chosen_ids))
            .distinct()
            .order_by(User.name, User.id)
        ).all()
        if agent_id is not None and agent_id not in {row.id for row in agents}:
            raise ReportError("agent", "There is no such agent in the offices you report on.")
    elif agent_id not in (None, user.id):
        raise ReportError("agent", "You can see your own figures only.")
    else:
        agent_id = user.id
    return Scope(
        number_ids=number_ids,
        agent_id=agent_id,
        zone=_zone_of(zone_offices or chosen),
        office_id=office_id,
        number_id=number_id,
        offices=tuple(Choice(o.id, o.name) for o in offices),
        numbers=tuple(Choice(row.id, f"{row.label or row.phone}") for row in numbers),
        agents=tuple(Choice(row.id, row.name) for row in agents),
        own_figures=not user.is_admin,
    )


def scope_for_office(office_id: int) -> Scope:
    """Every number of one office (the CRM API's key)."""
    office = db.session.get(Office, office_id)
    number_ids = tuple(db.session.scalars(select(_n.id).where(_n.office_id == office_id).order_by(_n.id)))
    return Scope(number_ids=number_ids, agent_id=None, zone=office_timezone(office), office_id=office_id)


def _zone_of(offices: list[Office]) -> ZoneInfo:
    """The offices' zone; UTC when they do not share one."""
    zones = {office_timezone(o).key for o in offices}
    return ZoneInfo(zones.pop()) if len(zones) == 1 else ZoneInfo("UTC")


# ---- The figures ----


@dataclass(frozen=True)
class DayRow:
    day: date
    sent: int = 0
    received: int = 0
    responses: int = 0
    response_median: float | None = None
    response_p90: float | None = None


@dataclass(frozen=True)
class AgentRow:
    agent_id: int
    name: str
    sent: int
    conversations_started: int
    responses: int
    response_median: float | None
    response_p90: float | None


@dataclass
class Report:
    range: DateRange
    scope: Scope
    messages_sent: int = 0
    messages_received: int = 0
    delivered: int = 0
    failed: int = 0  # failed or undelivered: of the texts written, those the contact did not get
    undelivered: int = 0  # of those, the ones that were sent (counted in messages_sent)
    refused: int = 0  # of those, the ones Parley would not send (opted out, number switched off)
    pending: int = 0
    failures: list[tuple[str, int]] = field(default_factory=list)  # reason, count; most first
    started_by_agents: int = 0
    started_by_contacts: int = 0
    started_by_bots: int = 0
    contacts_texted: int = 0
    contacts_replied: int = 0
    responses: int = 0
    response_median: float | None = None
    response_p90: float | None = None
    long_waits: int = 0  # conversations that waited in Needs Attention longer than LONG_WAIT
    bot_answers: int | None = 0  # None when narrowed to one agent: bots are nobody's figures
    bot_escalations: int | None = 0
    opt_outs: int = 0
    opt_ins: int = 0
    days: list[DayRow] = field(default_factory=list)
    agents: list[AgentRow] = field(default_factory=list)

    @property
    def conversations_started(self) -> int:
        return self.started_by_agents + self.started_by_contacts + self.started_by_bots

    @property
    def reported(self) -> int:
        """Texts with a final report: delivered, failed or undelivered. A text Parley refused
        before sending never reached a provider, so it says nothing about delivery."""
        return self.delivered + self.failed - self.refused

    @property
    def unreported(self) -> int:
        """Texts that left but never got a final report (the console and some carrier routes
        stop at "sent"): outside the delivery rate, whatever became of them."""
        return self.messages_sent - self.delivered - self.undelivered - self.pending

    @property
    def delivery_rate(self) -> float | None:
        """Delivered, of the texts whose fate is known (delivered, failed or undelivered) but
        those Parley refused before sending; None when no text got a final report."""
        return self.delivered / self.reported if self.reported else None

    @property
    def reply_rate(self) -> float | None:
        return self.contacts_replied / self.contacts_texted if self.contacts_texted else None


def build(scope: Scope, period: DateRange, now: datetime | None = None) -> Report:
    """Every figure of the report, in five aggregate statements, each planned for the range."""
    with plans_for_values():
        return _build(scope, period, now)


def _build(scope: Scope, period: DateRange, now: datetime | None) -> Report:
    now = now or utcnow()
    report = Report(period, scope)
    if not scope.number_ids:
        report.days = [DayRow(day) for day in period.days]
        return report
    conv = _conversations(scope, period)
    per_day_sent: Counter = Counter()
    per_day_received: Counter = Counter()
    sent_by_agent: Counter = Counter()
    _count_messages(report, conv, period, scope.agent_id, per_day_sent, per_day_received, sent_by_agent)
    started_by_agent = _count_started(report, conv, period, scope.agent_id)
    _count_replies(report, conv, period, scope.agent_id)
    by_day, by_agent = _count_waits(report, conv, period, scope.agent_id, now, _quiet_hours(scope))
    _count_opt_outs(report, scope, period)
    report.days = [
        DayRow(day, per_day_sent[day], per_day_received[day], len(by_day[day]),
               *_percentiles(by_day[day]))
        for day in period.days
    ]  # fmt: skip
    agent_ids = set(sent_by_agent) | set(by_agent) | set(started_by_agent)
    if scope.agent_id is not None:  # one agent's report shows nobody else's work
        agent_ids &= {scope.agent_id}
    names = dict(db.session.execute(select(User.id, User.name).where(User.id.in_(agent_ids))).all())
    report.agents = sorted(
        (
            AgentRow(agent, names.get(agent, "(deleted user)"), sent_by_agent[agent],
                     started_by_agent[agent], len(by_agent[agent]), *_percentiles(by_agent[agent]))
            for agent in agent_ids
        ),
        key=lambda row: (-row.sent, -row.responses, row.name, row.agent_id),
    )  # fmt: skip
    return report


def _conversations(scope: Scope, period: DateRange):
    """The conversations with any message since the range began (their last activity is later),
    read from the inbox indexes: per number, or from one agent's participations."""
    attention = _c.needs_attention.in_([false(), true()])  # the index's second column, named
    if scope.agent_id is None:
        query = select(_c.id, _c.needs_attention, _c.number_id).where(
            _c.number_id.in_(scope.number_ids), attention, _c.last_activity_at >= period.start
        )
    else:
        query = select(_p.conversation_id.label("id"), _p.needs_attention, _p.number_id).where(
            _p.user_id == scope.agent_id,
            _p.needs_attention.in_([false(), true()]),
            _p.last_activity_at >= period.start,
            _p.number_id.in_(scope.number_ids),
        )
    # Materialized: read once from its index. Inlined into a join, PostgreSQL may prefer a
    # parallel scan of every conversation.
    return query.cte("report_conversations").prefix_with("MATERIALIZED")


def _in_range(column, period: DateRange):
    return and_(column >= period.start, column < period.end)


def _count_messages(report, conv, period, agent_id, per_day_sent, per_day_received, sent_by_agent) -> None:
    day = local_day(_m.created_at, period).label("day")
    escalation = and_(
        _m.direction == Direction.EVENT.value,
        _m.author_kind == AuthorKind.SYSTEM.value,
        _m.body.like("%" + ESCALATED_NOTE),
    )
    failure = case((_m.status.in_(FAILED), func.coalesce(_m.error_reason, "")), else_=None).label("reason")
    is_escalation = case((escalation, 1), else_=0).label("escalation")
    refused = case((_m.error_code.in_(REFUSED_CODES), 1), else_=0).label("refused")
    columns = (
        day, _m.direction, _m.author_kind, _m.author_user_id, _m.status, failure, is_escalation, refused
    )
    rows = db.session.execute(
        select(*columns, func.count().label("n"))
        .join(conv, conv.c.id == _m.conversation_id)
        .where(_in_range(_m.created_at, period), or_(_m.direction.in_(TEXT_DIRECTIONS), escalation))
        .group_by(*columns)
    ).all()
    failures: Counter = Counter()
    bot_answers = escalations = 0
    for day_value, direction, author_kind, author_id, status, reason, escalated, not_sent, count in rows:
        day_value = _as_date(day_value)
        if escalated:
            escalations += count
        elif direction == Direction.INBOUND:
            report.messages_received += count
            per_day_received[day_value] += count
        elif direction == Direction.OUTBOUND and status not in NOT_GOING:
            sent = status not in NOT_SENT
            if sent and author_kind == AuthorKind.BOT:
                bot_answers += count
            if sent and author_kind == AuthorKind.AGENT and author_id is not None:
                sent_by_agent[author_id] += count
            if agent_id is not None and author_id != agent_id:
                continue  # one agent's report: their own texts only
            if sent:
                report.messages_sent += count
                per_day_sent[day_value] += count
            if status == Status.DELIVERED:
                report.delivered += count
            elif status in FAILED:
                report.failed += count
                if status == Status.UNDELIVERED:
                    report.undelivered += count
                elif not_sent:
                    report.refused += count
                failures[reason or "No reason given"] += count
            elif status in PENDING:
                report.pending += count
    report.failures = sorted(failures.items(), key=lambda item: (-item[1], item[0]))
    if agent_id is None:
        report.bot_answers, report.bot_escalations = bot_answers, escalations
    else:
        report.bot_answers = report.bot_escalations = None


def _first_of(conversation_id, *conditions):
    return (
        select(_m.id)
        .where(_m.conversation_id == conversation_id, *conditions)
        .order_by(_m.id)
        .limit(1)
        .scalar_subquery()
    )


def _count_started(report: Report, conv, period: DateRange, agent_id: int | None) -> Counter:
    """Conversations whose first text falls in the range: by whom, and for those a contact began,
    whether a bot gave the first answer."""
    first = Message.__table__.alias("first_text")
    answer = Message.__table__.alias("first_answer")
    inbound = _m.direction == Direction.INBOUND.value
    rows = db.session.execute(
        select(
            first.c.direction, first.c.author_kind, first.c.author_user_id, answer.c.author_kind, func.count()
        )
        .select_from(conv)
        .join(first, first.c.id == _first_of(conv.c.id, or_(inbound, _TO_CONTACT)))
        .outerjoin(answer, answer.c.id == _first_of(conv.c.id, _TO_CONTACT))
        .where(_in_range(first.c.created_at, period))
        .group_by(first.c.direction, first.c.author_kind, first.c.author_user_id, answer.c.author_kind)
    ).all()
    by_agent: Counter = Counter()
    for direction, author_kind, author_id, answered_by, count in rows:
        if direction == Direction.OUTBOUND:
            if author_kind == AuthorKind.AGENT and author_id is not None:
                by_agent[author_id] += count
            if agent_id is None or author_id == agent_id:
                report.started_by_agents += count
        elif agent_id is None:  # one agent's report counts the conversations they began
            if answered_by == AuthorKind.BOT:
                report.started_by_bots += count
            else:
                report.started_by_contacts += count
    return by_agent


def _count_replies(report: Report, conv, period: DateRange, agent_id: int | None) -> None:
    """Conversations texted in the range (by the agent, when narrowed), and those whose contact
    answered later in the range (a keyword alone, STOP say, is no answer)."""
    outbound = _TO_CONTACT
    if agent_id is not None:
        outbound = and_(outbound, _m.author_user_id == agent_id)
    per_conversation = (
        select(
            func.min(case((outbound, _m.id), else_=None)).label("first_out"),
            func.max(case((_FROM_CONTACT, _m.id), else_=None)).label("last_in"),
        )
        .join(conv, conv.c.id == _m.conversation_id)
        .where(_in_range(_m.created_at, period))
        .group_by(_m.conversation_id)
        .subquery()
    )
    texted, replied = db.session.execute(
        select(
            func.count(per_conversation.c.first_out),
            func.count(case((per_conversation.c.last_in > per_conversation.c.first_out, 1), else_=None)),
        )
    ).one()
    report.contacts_texted, report.contacts_replied = texted, replied


def _quiet_hours(scope: Scope) -> dict[int, QuietHours]:
    """The quiet hours of the offices of the report's numbers, by number (those that have them)."""
    offices = Office.__table__.c
    rows = db.session.execute(
        select(_n.id, offices.time_zone, offices.quiet_hours_start, offices.quiet_hours_end)
        .join(Office.__table__, offices.id == _n.office_id)
        .where(_n.id.in_(scope.number_ids))
    ).all()
    quiet = {number_id: QuietHours.of(zone, start, end) for number_id, zone, start, end in rows}
    return {number_id: hours for number_id, hours in quiet.items() if hours is not None}


def _count_waits(
    report: Report, conv, period: DateRange, agent_id: int | None, now: datetime,
    quiet: dict[int, QuietHours],
):  # fmt: skip
    """Contacts' turns: a run of a contact's messages (keywords aside) and what ended it: an
    agent's text (a response, timed from the run's first message), a bot's answer, or an agent's
    Does Not Need Attention. A turn still open waits while its conversation needs attention.

    Where the office has quiet hours, a turn's time counts outside them only (working hours)."""
    kind = case(
        (_FROM_CONTACT, "contact"),
        (and_(_TO_CONTACT, _m.author_kind == AuthorKind.AGENT.value), "agent"),
        (and_(_TO_CONTACT, _m.author_kind == AuthorKind.BOT.value), "bot"),
        (
            and_(
                _m.direction == Direction.EVENT.value,
                _m.author_kind == AuthorKind.AGENT.value,
                _m.body.like("%" + DISMISSED_NOTE),
            ),
            "dismissed",
        ),
        else_=None,
    )
    # A held text (Send later, quiet hours, a retry) answers when it goes, not when it was written.
    went = func.coalesce(_m.send_at, _m.created_at).label("went")
    relevant = (
        select(_m.conversation_id.label("cid"), _m.id, _m.created_at, went, _m.author_user_id,
               kind.label("kind"))
        .join(conv, conv.c.id == _m.conversation_id)
        .where(_m.created_at >= period.start - WAIT_LOOKBACK)
        .subquery("relevant")
    )  # fmt: skip
    # Each turn's messages share a number: how many turns had ended before them.
    ended_before = func.sum(case((relevant.c.kind != "contact", 1), else_=0)).over(
        partition_by=relevant.c.cid, order_by=relevant.c.id
    )
    numbered = (
        select(relevant, ended_before.label("turn")).where(relevant.c.kind.is_not(None)).cte("numbered")
    )
    turns = (
        select(numbered.c.cid, numbered.c.turn, func.min(numbered.c.created_at).label("started"))
        .where(numbered.c.kind == "contact")
        .group_by(numbered.c.cid, numbered.c.turn)
        .subquery("turns")
    )
    ends = (
        select(numbered.c.cid, (numbered.c.turn - 1).label("turn"), numbered.c.kind,
               numbered.c.author_user_id, numbered.c.went.label("created_at"))
        .where(numbered.c.kind != "contact")
        .subquery("ends")
    )  # fmt: skip
    # Durations and days come from the database: a report has thousands of turns. The times
    # themselves only where quiet hours take their share out.
    times = (conv.c.number_id, turns.c.started, ends.c.created_at) if quiet else ()
    rows = db.session.execute(
        select(turns.c.cid, local_day(turns.c.started, period), ends.c.kind, ends.c.author_user_id,
               conv.c.needs_attention,
               seconds_between(turns.c.started, func.coalesce(ends.c.created_at, now)), *times)
        .select_from(turns)
        .join(conv, conv.c.id == turns.c.cid)
        .outerjoin(ends, and_(ends.c.cid == turns.c.cid, ends.c.turn == turns.c.turn))
        .where(_in_range(turns.c.started, period))
    ).all()  # fmt: skip
    by_day: dict[date, list[float]] = defaultdict(list)
    by_agent: dict[int, list[float]] = defaultdict(list)
    waited: set[int] = set()
    responses: list[float] = []
    long_wait = LONG_WAIT.total_seconds()
    for cid, day, ended_by, author_id, needs_attention, seconds, *moments in rows:
        # PostgreSQL answers a numeric; SQLite's julianday arithmetic is exact to a millisecond.
        seconds = round(float(seconds), 3)
        if moments and moments[0] in quiet:
            number_id, started, ended = moments
            seconds = round(working_seconds(quiet[number_id], started, ended or now), 3)
        if ended_by is None:  # still the contact's turn (`seconds` so far)
            if needs_attention and agent_id is None and seconds > long_wait:
                waited.add(cid)
            continue
        if ended_by == "bot" or (agent_id is not None and author_id != agent_id):
            continue
        if seconds > long_wait:
            waited.add(cid)
        if ended_by == "agent":
            responses.append(seconds)
            by_day[_as_date(day)].append(seconds)
            if author_id is not None:
                by_agent[author_id].append(seconds)
    report.responses = len(responses)
    report.response_median, report.response_p90 = _percentiles(responses)
    report.long_waits = len(waited)
    return by_day, by_agent


def _count_opt_outs(report: Report, scope: Scope, period: DateRange) -> None:
    """Opt-outs and opt-ins of the contacts of the report's numbers (an opt-out holds for the whole
    organisation: a contact of two offices counts in both)."""
    events = OptOutEvent.__table__.c
    in_scope = select(_c.id).where(_c.contact_phone == events.phone, _c.number_id.in_(scope.number_ids))
    if scope.agent_id is not None:
        in_scope = in_scope.where(exists().where(_p.conversation_id == _c.id, _p.user_id == scope.agent_id))
    rows = db.session.execute(
        select(events.action, func.count())
        .where(_in_range(events.created_at, period), exists(in_scope))
        .group_by(events.action)
    ).all()
    counts = dict(rows)
    report.opt_outs, report.opt_ins = counts.get("opt_out", 0), counts.get("opt_in", 0)


def _percentiles(values: list[float]) -> tuple[float | None, float | None]:
    """Median and 90th percentile (linear interpolation between the closest ranks)."""
    if not values:
        return None, None
    if len(values) == 1:
        return values[0], values[0]
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    return statistics.median(values), deciles[8]


# ---- Local days in SQL ----


def local_day(column, period: DateRange):
    """The local date (in the range's zone) of a UTC time column, as SQL.

    PostgreSQL knows IANA zones; SQLite gets the zone's UTC offset, which changes within a range
    only at daylight-saving changes (found here with zoneinfo), as a CASE over those moments."""
    zone = period.zone
    if db.session.get_bind().dialect.name == "postgresql":
        if not ZONE_KEY.match(zone.key):
            raise ValueError(f"unexpected time zone name {zone.key!r}")
        # Written into the SQL, not bound: the same expression must appear in GROUP BY.
        local = func.timezone(literal_column(f"'{zone.key}'"), func.timezone(literal_column("'UTC'"), column))
        return cast(local, Date)
    segments = _offsets(zone, period.start, period.end)
    if len(segments) == 1:
        return func.date(column, f"{segments[0][1]:+d} seconds")
    # Each WHEN: before the next change, the offset in force until then.
    modifier = case(
        *((column < segments[k + 1][0], f"{segments[k][1]:+d} seconds") for k in range(len(segments) - 1)),
        else_=f"{segments[-1][1]:+d} seconds",
    )
    return func.date(column, modifier)


def seconds_between(start, end):
    """`end - start` in seconds, as SQL."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def _offsets(zone: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """(from when, UTC offset in seconds) for each offset the zone has between start and end."""

    def offset(moment: datetime) -> int:
        return int(moment.astimezone(zone).utcoffset().total_seconds())

    segments = [(start, offset(start))]
    if zone.key == "UTC":
        return segments
    step = timedelta(hours=6)
    moment = start
    while moment < end:
        later = min(moment + step, end)
        if offset(later) != segments[-1][1]:
            low, high = moment, later  # the change is in (low, high]: narrow it to the second
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if offset(middle) == segments[-1][1]:
                    low = middle
                else:
                    high = middle
            high = high.replace(microsecond=0)
            segments.append((high, offset(high)))
        moment = later
    return segments


def _as_date(value) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
