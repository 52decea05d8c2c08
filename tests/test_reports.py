"""Reports: figures computed by hand from a few days of texting, made through the real services
(compose, reply, inbound texts and keywords, the bot, Does Not Need Attention) and then moved to
known times. Days in UTC and in New York (EST, and across the change to daylight saving time)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from tests.admin.conftest import world  # noqa: F401  (the two offices)
from webapp.extensions import db
from webapp.models import Conversation, Message, OptOutEvent, ReusableNumber, User, office_memberships
from webapp.plugin_api import InboundMessage
from webapp.services import conversations, inbound, knowledge_base, optouts, reports, sending

MAIN, BOT, FA = "+12025550100", "+12025550101", "+12025550200"
NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")


def at(text: str) -> datetime:
    """'03-02 09:10' (or with seconds) in March 2026, UTC."""
    return datetime.fromisoformat(f"2026-{text}").replace(tzinfo=UTC)


def _last_id() -> int:
    return db.session.scalar(select(Message.id).order_by(Message.id.desc()).limit(1)) or 0


def _stamp_since(after_id: int, moment: datetime, status: str | None = None, reason: str | None = None):
    """Move the messages made since `after_id` (and the opt-out records) to `moment`."""
    values: dict = {"created_at": moment, "updated_at": moment}
    if status:
        values.update(status=status, error_reason=reason)
    db.session.execute(update(Message).where(Message.id > after_id).values(**values))
    db.session.commit()


def contact(phone: str, text: str, when: str, to: str = MAIN, intent: str | None = None) -> None:
    before = _last_id()
    inbound.receive(InboundMessage(from_phone=phone, to_phone=to, body=text, intent=intent), "console")
    db.session.commit()
    _stamp_since(before, at(when))
    # A bot's answer or escalation came right after: five seconds later.
    db.session.execute(
        update(Message)
        .where(Message.id > before, Message.direction != "inbound")
        .values(created_at=at(when).replace(second=5))
    )
    db.session.execute(
        update(Message).where(Message.id > before, Message.direction == "outbound").values(status="delivered")
    )
    db.session.execute(update(OptOutEvent).where(OptOutEvent.phone == phone).values(created_at=at(when)))
    db.session.commit()


def agent_text(user: User, phone: str, text: str, when: str, status="delivered", reason=None, to=MAIN):
    before = _last_id()
    sending.create_text(user, _number_id(to), phone, text)
    db.session.commit()
    _stamp_since(before, at(when), status, reason)


def dismiss(user: User, phone: str, when: str) -> None:
    before = _last_id()
    conversation = db.session.scalar(select(Conversation).where(Conversation.contact_phone == phone))
    conversations.clear_attention(conversation, user)
    db.session.commit()
    _stamp_since(before, at(when))


def _number_id(phone: str) -> int:
    return db.session.scalar(select(ReusableNumber.id).where(ReusableNumber.phone == phone))


@pytest.fixture
def texting(world, make):  # noqa: F811
    """Three days of an admissions office (and one text of Financial Aid's, never counted).

    A (…0143): Sam texts 03-02 09:00; the contact writes 09:10 and 09:12; Sam's answer at 09:40
       failed ("Carrier rejected": never sent, no answer); the contact writes 23:30; Alex answers
       03-03 01:30 (16 h 20 min after 09:10: waited over an hour); the contact writes again 03-05
       08:00 (after the range).
    B (…0178): the contact writes first 03-03 10:00; Sam answers 10:05 (5 min); STOP 11:00; START
       03-04 16:00 (keywords: no reply, no question).
    C (…0190, the bot number): the contact asks the hours 03-04 08:00, the bot answers; asks
       something else 09:00, the bot hands over; Sam's answer at 09:20 was sent but undelivered
       (the contact never got it: no answer).
    D (…0111): the contact writes 03-04 10:00 and 03-05 03:00; nobody answers (still waiting).
    E (…0122): the contact writes 03-04 14:00; Alex marks it Does Not Need Attention at 14:30.
    G (…0133): Sam texts 03-04 15:00; no answer.
    H (…0144): the contact writes 03-02 03:00; nobody answers (still waiting).
    """
    make.number(BOT, backing="bot", inboxes=("Admissions",), label="Admissions Bot")
    knowledge_base.add_entry(world["office"], "hours\nwhat are the hours", "We are open 9 to 5.")
    db.session.commit()
    sam, alex = world["users"]["standard"], world["users"]["admin"]
    agent_text(sam, "+12025550143", "Hi Maria, your file is complete.", "03-02 09:00")
    contact("+12025550143", "Thanks! When is orientation?", "03-02 09:10")
    contact("+12025550143", "And where?", "03-02 09:12")
    agent_text(sam, "+12025550143", "June 5, in the gym.", "03-02 09:40", "failed", "Carrier rejected")
    contact("+12025550143", "Can I bring a parent?", "03-02 23:30")
    agent_text(alex, "+12025550143", "Yes, of course.", "03-03 01:30")
    contact("+12025550143", "Great", "03-05 08:00")
    contact("+12025550178", "Is my FAFSA in?", "03-03 10:00")
    agent_text(sam, "+12025550178", "Yes, it arrived.", "03-03 10:05")
    contact("+12025550178", "STOP", "03-03 11:00")
    contact("+12025550178", "START", "03-04 16:00")
    contact("+12025550190", "What are the hours?", "03-04 08:00", to=BOT)
    contact("+12025550190", "Can I bring my dog?", "03-04 09:00", to=BOT)
    agent_text(sam, "+12025550190", "Service dogs only, sorry.", "03-04 09:20", "undelivered",
               "Unreachable handset", to=BOT)  # fmt: skip
    contact("+12025550111", "Hello?", "03-04 10:00")
    contact("+12025550111", "Anyone there?", "03-05 03:00")
    contact("+12025550122", "Question about housing", "03-04 14:00")
    dismiss(alex, "+12025550122", "03-04 14:30")
    agent_text(sam, "+12025550133", "Reminder: deposit due Friday.", "03-04 15:00")
    contact("+12025550144", "Are you open?", "03-02 03:00")
    contact("+12025550155", "Financial aid question", "03-03 12:00", to=FA)
    agent_text(world["other_user"], "+12025550155", "Happy to help.", "03-03 12:10", to=FA)
    return {**world, "sam": sam, "alex": alex}


def report_for(user, zone: ZoneInfo | None = None, **filters) -> reports.Report:
    scope = reports.scope_for(user, **filters)
    period = reports.parse_range("custom", "2026-03-02", "2026-03-04", scope.zone, now=NOW)
    return reports.build(scope, period, now=NOW)


def test_an_admin_sees_the_office_figures_counted_by_hand(texting):
    r = report_for(texting["alex"])
    assert (r.messages_sent, r.messages_received) == (6, 11)  # A's failed answer never left
    assert (r.delivered, r.failed, r.undelivered, r.pending, r.unreported) == (5, 2, 1, 0, 0)
    assert r.delivery_rate == pytest.approx(5 / 7)
    assert r.failures == [("Carrier rejected", 1), ("Unreachable handset", 1)]
    assert (r.started_by_agents, r.started_by_contacts, r.started_by_bots) == (2, 4, 1)
    # G never answered; B's STOP and START after Sam's text are no reply.
    assert (r.contacts_texted, r.contacts_replied) == (4, 2)
    # Answers: 5 min (B) and 16 h 20 min (A); C's undelivered one answered nobody.
    assert r.responses == 2
    assert r.response_median == 29550  # (300 + 58800) / 2
    assert r.response_p90 == pytest.approx(52950)  # 300 + 0.9 × (58800 − 300)
    assert r.long_waits == 3  # A (16 h), D and H (still waiting); E was dismissed after 30 min
    assert (r.bot_answers, r.bot_escalations) == (1, 1)
    assert (r.opt_outs, r.opt_ins) == (1, 1)
    days = {row.day: row for row in r.days}
    assert list(days) == [date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)]
    assert [(d.sent, d.received, d.responses) for d in r.days] == [(1, 4, 1), (2, 2, 1), (3, 5, 0)]
    # 03-03 01:30's answer counts on 03-02, the day the contact wrote.
    assert (days[date(2026, 3, 2)].response_median, days[date(2026, 3, 2)].response_p90) == (58800, 58800)
    assert days[date(2026, 3, 3)].response_median == 300
    agents = {row.name: row for row in r.agents}
    assert list(agents) == ["Sam Standard", "Alex Admin"]  # most texts first
    sam, alex = agents["Sam Standard"], agents["Alex Admin"]
    assert (sam.sent, sam.conversations_started, sam.responses) == (4, 2, 1)
    assert (sam.response_median, sam.response_p90) == (300, 300)
    assert (alex.sent, alex.conversations_started, alex.responses, alex.response_median) == (1, 0, 1, 58800)


def test_a_held_or_cancelled_text_is_not_counted_as_sent(texting):
    """A text held by quiet hours (or Send later) has not left: it counts once it goes, as a text,
    a conversation started and an answer. A cancelled one never does."""
    sam = texting["sam"]
    agent_text(sam, "+12025550166", "See you at the open house.", "03-04 17:00", "scheduled")
    agent_text(sam, "+12025550167", "Never mind.", "03-04 17:05", "cancelled")
    agent_text(sam, "+12025550111", "Sorry for the wait!", "03-04 17:10", "cancelled")  # D waits on
    r = report_for(texting["alex"])
    assert (r.messages_sent, r.pending) == (6, 0)
    assert [d.sent for d in r.days] == [1, 2, 3]
    assert {row.name: row.sent for row in r.agents}["Sam Standard"] == 4
    assert (r.started_by_agents, r.contacts_texted, r.responses) == (2, 4, 2)

    held = db.session.scalar(select(Message).where(Message.status == "scheduled"))
    held.status = "queued"  # its time came: it is on its way
    db.session.commit()
    r = report_for(texting["alex"])
    assert (r.messages_sent, r.pending) == (7, 1)
    assert [d.sent for d in r.days] == [1, 2, 4]
    assert (r.started_by_agents, r.contacts_texted) == (3, 5)


def test_a_reply_held_for_later_answers_when_it_goes(texting):
    """Send later: the contact waited until the reply went, not until it was written."""
    before = report_for(texting["alex"])
    contact("+12025550188", "Can I visit on Friday?", "03-04 11:00")
    agent_text(texting["sam"], "+12025550188", "Yes! Details soon.", "03-04 11:05")
    reply = db.session.scalar(select(Message).where(Message.body == "Yes! Details soon."))
    reply.send_at = at("03-04 13:05")  # written at 11:05, held until 13:05, then delivered
    db.session.commit()
    after = report_for(texting["alex"])
    assert after.responses == before.responses + 1
    assert after.long_waits == before.long_waits + 1  # two hours and five minutes, not five minutes


def in_new_york(office) -> None:
    office.time_zone = "America/New_York"
    db.session.commit()


def test_days_follow_the_office_time_zone(texting):
    in_new_york(texting["office"])
    r = report_for(texting["alex"])
    assert r.range.start == at("03-02 05:00")  # midnight EST
    # H (03-02 03:00 UTC) is the evening before in New York; D's 03-05 03:00 is 03-04 22:00.
    assert (r.messages_sent, r.messages_received) == (6, 11)
    assert [(d.sent, d.received, d.responses) for d in r.days] == [(2, 3, 1), (1, 2, 1), (3, 6, 0)]
    assert (r.started_by_agents, r.started_by_contacts, r.started_by_bots) == (2, 3, 1)
    assert r.long_waits == 2
    assert (r.response_median, r.response_p90) == (29550, pytest.approx(52950))


def test_days_across_the_change_to_daylight_saving_time(world):  # noqa: F811
    in_new_york(world["office"])
    # 2026-03-08 02:00 EST the clocks go to 03:00 EDT: UTC-5 before, UTC-4 after.
    for when in ("03-08 06:30", "03-08 07:30", "03-09 03:30", "03-09 04:30"):
        contact("+12025550143", "Hello", when)
    scope = reports.scope_for(world["users"]["admin"])
    period = reports.parse_range("custom", "2026-03-08", "2026-03-09", scope.zone, now=at("03-10 12:00"))
    assert (period.start, period.end) == (at("03-08 05:00"), at("03-10 04:00"))
    r = reports.build(scope, period, now=at("03-10 12:00"))
    # 01:30 EST, 03:30 EDT and 23:30 EDT on the 8th; 00:30 EDT on the 9th.
    assert [(d.day, d.received) for d in r.days] == [(date(2026, 3, 8), 3), (date(2026, 3, 9), 1)]


def test_one_number_is_counted_in_its_office_days_even_under_all_my_offices(texting):
    """An admin of two offices in different zones: All my offices counts UTC days, one number
    those of its own office, whether or not the office is chosen too."""
    fay, fa_office = texting["other_admin"], texting["other_office"]
    db.session.execute(office_memberships.insert().values(user_id=fay.id, office_id=texting["office"].id))
    in_new_york(fa_office)  # FA's text of 03-03 12:00 UTC, 07:00 in New York
    assert report_for(fay).scope.zone.key == "UTC"
    for filters in ({"number": _number_id(FA)}, {"number": _number_id(FA), "office": fa_office.id}):
        r = report_for(fay, **filters)
        assert r.scope.zone.key == "America/New_York"
        assert r.range.start == at("03-02 05:00")  # midnight EST
        assert (r.messages_sent, r.messages_received) == (1, 1)
    assert report_for(fay, number=_number_id(MAIN)).scope.zone.key == "UTC"


def test_one_agent_sees_their_own_work(texting):
    r = report_for(texting["sam"])  # not an admin: always their own figures
    assert r.scope.agent_id == texting["sam"].id and r.scope.own_figures
    assert (r.messages_sent, r.messages_received) == (4, 8)  # in A, B, C and G
    assert (r.delivered, r.failed) == (3, 2)
    assert (r.started_by_agents, r.started_by_contacts, r.started_by_bots) == (2, 0, 0)
    # C never got Sam's text; of A, B and G, only A answered (B's STOP and START are no answer).
    assert (r.contacts_texted, r.contacts_replied) == (3, 1)
    assert (r.responses, r.response_median, r.response_p90) == (1, 300, 300)
    assert r.long_waits == 0  # A's two-hour wait was Alex's
    assert (r.bot_answers, r.bot_escalations) == (None, None)
    assert (r.opt_outs, r.opt_ins) == (1, 1)
    assert [a.name for a in r.agents] == ["Sam Standard"]
    # An admin narrowing to Sam sees the same figures.
    narrowed = report_for(texting["alex"], agent=texting["sam"].id)
    assert (narrowed.messages_sent, narrowed.messages_received, narrowed.responses) == (4, 8, 1)


def test_narrowing_to_one_number(texting):
    bot_number = _number_id(BOT)
    r = report_for(texting["alex"], number=bot_number)
    assert (r.messages_sent, r.messages_received) == (2, 2)  # Sam's undelivered answer was sent
    assert (r.started_by_bots, r.bot_answers, r.bot_escalations, r.responses) == (1, 1, 1, 0)


def test_another_office_never_shows(texting):
    fa = report_for(texting["other_admin"])
    assert (fa.messages_sent, fa.messages_received, fa.responses) == (1, 1, 1)
    alex = texting["alex"]
    for filters, field in (
        ({"office": texting["other_office"].id}, "office"),
        ({"number": _number_id(FA)}, "number"),
        ({"agent": texting["other_user"].id}, "agent"),
        ({"agent": "x1"}, "agent"),
    ):
        with pytest.raises(reports.ReportError) as refused:
            reports.scope_for(alex, **filters)
        assert refused.value.field == field
    with pytest.raises(reports.ReportError, match="your own figures"):
        reports.scope_for(texting["sam"], agent=alex.id)


def test_a_number_of_another_of_my_offices_is_refused_by_what_to_change(texting):
    """An admin of both offices picks Admissions and Financial Aid's number: the number is theirs."""
    alex = texting["alex"]
    with pytest.raises(reports.ReportError, match="There is no such number"):  # not theirs at all
        reports.scope_for(alex, office=texting["office"].id, number=_number_id(FA))
    alex.offices.append(texting["other_office"])
    db.session.commit()
    assert reports.scope_for(alex, number=_number_id(FA)).number_ids == (_number_id(FA),)
    with pytest.raises(reports.ReportError) as refused:
        reports.scope_for(alex, office=texting["office"].id, number=_number_id(FA))
    assert refused.value.field == "number"
    assert str(refused.value.message) == (
        "That number is not among the chosen office's numbers: choose its own office, or All my offices."
    )


@pytest.mark.parametrize(
    ("preset", "first", "last", "field", "words"),
    [
        ("custom", "2026-03-04", "2026-03-02", "to", "before it starts"),
        ("custom", "2026-03-01", "2026-03-07", "to", "in the future"),  # after tomorrow
        ("custom", "2025-01-01", "2026-03-04", "from", "at most 366 days"),
        ("custom", "03/01/2026", "2026-03-04", "from", "YYYY-MM-DD"),
        ("custom", "0001-01-01", "0001-01-05", "from", "too long ago"),
        ("custom", "", "2026-03-04", "from", "Enter the From date"),
        ("14", None, None, "range", "7, 30 or 90"),
    ],
)
def test_bad_ranges_are_refused_with_a_reason(app, preset, first, last, field, words):
    with pytest.raises(reports.ReportError, match=words) as refused:
        reports.parse_range(preset, first, last, ZoneInfo("UTC"), now=NOW)
    assert refused.value.field == field


def test_presets_end_today_in_the_office_zone(app):
    period = reports.parse_range("7", None, None, NEW_YORK, now=at("03-05 03:00"))  # 22:00 on 03-04 there
    assert (period.first, period.last, len(period.days)) == (date(2026, 2, 26), date(2026, 3, 4), 7)
    assert reports.parse_range(None, None, None, ZoneInfo("UTC"), now=NOW).preset == "30"


def test_response_times_leave_out_the_office_quiet_hours(world):  # noqa: F811
    office = world["office"]
    office.quiet_hours_start, office.quiet_hours_end = time(21, 0), time(8, 0)
    in_new_york(office)
    # 20:30 EST on 03-02, answered 08:30 the next morning: 30 minutes before the quiet hours
    # began and 30 after they ended.
    contact("+12025550143", "Is the portal down?", "03-03 01:30")
    agent_text(world["users"]["standard"], "+12025550143", "It is back up.", "03-03 13:30")
    contact("+12025550178", "Thanks", "03-03 15:00")  # 10:00 EST, answered in five minutes
    agent_text(world["users"]["admin"], "+12025550178", "You're welcome.", "03-03 15:05")
    r = report_for(world["users"]["admin"])
    assert (r.responses, r.response_median, r.response_p90) == (2, 1950, pytest.approx(3270))
    assert r.long_waits == 0  # an hour of working time, not more
    assert [d.responses for d in r.days] == [1, 1, 0]
    assert reports.working_seconds(None, at("03-03 01:30"), at("03-03 13:30")) == 12 * 3600


def test_a_keyword_with_punctuation_is_no_question_to_answer(world):  # noqa: F811
    """Parley answers "Stop.", "Start!" and "Help?" itself (`optouts.keyword_intent` reads past the
    marks), so they open no turn: the agent's next text, hours later, is no slow answer to them."""
    sam = world["users"]["standard"]
    contact("+12025550143", "When is orientation?", "03-02 09:00")
    agent_text(sam, "+12025550143", "June 5.", "03-02 09:05")  # 5 min
    contact("+12025550143", "Stop.", "03-02 10:00")
    contact("+12025550143", "Start!", "03-03 09:00")
    contact("+12025550143", "Is the portal open?", "03-03 12:00")
    agent_text(sam, "+12025550143", "It is.", "03-03 12:10")  # 10 min
    contact("+12025550178", "Can I visit?", "03-04 08:00")
    agent_text(sam, "+12025550178", "Any weekday.", "03-04 08:30")  # 30 min
    contact("+12025550178", "Help?", "03-04 09:00")  # Parley sends the office's HELP answer
    contact("+12025550178", " help ", "03-04 09:01")
    agent_text(sam, "+12025550178", "Reminder: bring your ID.", "03-04 15:00")  # answers nothing
    r = report_for(world["users"]["admin"])
    assert (r.responses, r.response_median, r.response_p90) == (3, 600, pytest.approx(1560))
    assert r.long_waits == 0
    assert [d.responses for d in r.days] == [1, 1, 1]


def test_a_keyword_alone_is_no_reply(world):  # noqa: F811
    """Reply rate: a contact who only texted STOP or HELP back did not reply, however the phone
    wrote it (with an emoji, in full-width letters) and whoever read it (the provider's intent)."""
    sam = world["users"]["standard"]
    agent_text(sam, "+12025550143", "Your visit is on Friday.", "03-02 09:00")
    contact("+12025550143", "HELP?", "03-02 09:30")
    agent_text(sam, "+12025550178", "Your deposit is due.", "03-02 10:00")
    contact("+12025550178", "Stop!", "03-02 10:30")
    agent_text(sam, "+12025550190", "Your file is complete.", "03-02 11:00")
    contact("+12025550190", "Thanks, see you then", "03-02 11:20")
    stops = (("+12025550111", "stop😤"), ("+12025550122", "ＳＴＯＰ"), ("+12025550133", "Arrêtez"))
    for phone, stop in stops:
        agent_text(sam, phone, "Orientation is on June 5.", "03-02 12:00")
        contact(phone, stop, "03-02 12:30", intent="optout" if stop == "Arrêtez" else None)
        assert optouts.is_opted_out(phone)
    r = report_for(world["users"]["admin"])
    assert (r.contacts_texted, r.contacts_replied) == (6, 1)
    assert r.reply_rate == pytest.approx(1 / 6)


def test_a_text_the_contact_never_got_is_no_answer_and_a_failed_one_was_not_sent(world):  # noqa: F811
    """An answer that failed (refused: the contact had opted out, say) never left: it is a failure,
    not a text sent. One the carrier could not deliver was sent, but reached nobody. Neither ends
    the contact's wait: the answer they got does. A queued one is on its way: it answers."""
    sam = world["users"]["standard"]
    contact("+12025550143", "Is my application complete?", "03-02 09:00")
    agent_text(sam, "+12025550143", "Yes!", "03-02 09:05", "failed", optouts.OPTED_OUT_ERROR)
    agent_text(sam, "+12025550143", "Yes, it is.", "03-02 09:10", "undelivered", "Unreachable handset")
    agent_text(sam, "+12025550143", "Yes, complete.", "03-02 11:00")  # two hours after they asked
    contact("+12025550178", "Are you open today?", "03-03 09:00")
    agent_text(sam, "+12025550178", "Until 5.", "03-03 09:02", "queued")
    r = report_for(world["users"]["admin"])
    assert (r.messages_sent, r.delivered, r.failed, r.pending, r.unreported) == (3, 1, 2, 1, 0)
    assert r.delivery_rate == pytest.approx(1 / 3)
    assert r.failures == [(optouts.OPTED_OUT_ERROR, 1), ("Unreachable handset", 1)]
    assert [d.sent for d in r.days] == [2, 1, 0]
    assert (r.responses, r.response_median, r.response_p90) == (2, 3660, pytest.approx(6492))
    assert r.long_waits == 1
    sam_row = {row.name: row for row in r.agents}["Sam Standard"]
    assert (sam_row.sent, sam_row.responses) == (3, 2)
    assert (r.contacts_texted, r.started_by_contacts) == (2, 2)


def test_the_delivery_rate_leaves_out_texts_parley_did_not_send(world):  # noqa: F811
    """A text still queued when its contact texted STOP is refused by Parley when the worker comes
    to it: it never reached a provider, so it is a failure but says nothing about delivery."""
    sam = world["users"]["standard"]
    agent_text(sam, "+12025550143", "Your visit is on Friday.", "03-02 09:00")
    agent_text(sam, "+12025550178", "Your deposit is due.", "03-02 10:00", "failed", "Carrier rejected")
    agent_text(sam, "+12025550190", "Your file is complete.", "03-02 11:00", "queued")
    waiting = _last_id()
    contact("+12025550190", "STOP", "03-02 11:01")
    assert sending.deliver(waiting) is None
    assert db.session.get(Message, waiting).status == "failed"
    r = report_for(world["users"]["admin"])
    assert (r.delivered, r.failed, r.refused, r.reported) == (1, 2, 1, 2)
    assert r.delivery_rate == pytest.approx(1 / 2)
    assert dict(r.failures) == {"Carrier rejected": 1, optouts.OPTED_OUT_ERROR: 1}
