"""Opt-outs: keywords, HELP, the admin Opt-outs page, and that nothing is ever sent to an opted-out phone."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from tests.admin.conftest import world  # noqa: F401  (two offices)
from tests.conftest import csrf_token, login
from webapp.extensions import db
from webapp.models import AuditEvent, Conversation, Message, OptOut, OptOutEvent
from webapp.plugin_api import InboundMessage
from webapp.services import audit, inbound, optouts


def receive(text: str, phone: str = "+12025550143"):
    return inbound.receive(InboundMessage(phone, "+12025550100", text), "console")


@pytest.mark.parametrize(
    "text",
    ["STOP", "stop", "Stop.", "  STOPALL ", "unsubscribe", "Cancel", "END", "quit", "REVOKE", "optout",
     "Opt-Out", "OPT OUT", "opt out.", "stop all", "Do not text", "DO NOT MESSAGE", "Take me off your list!"],
)
def test_opt_out_keywords(text):
    assert optouts.keyword_intent(text) is optouts.Intent.OPT_OUT


@pytest.mark.parametrize("text", ["START", "unstop", "Resume"])
def test_opt_in_keywords(text):
    assert optouts.keyword_intent(text) is optouts.Intent.OPT_IN


@pytest.mark.parametrize("text", ["HELP", "info", "Help?"])
def test_help_keywords(text):
    assert optouts.keyword_intent(text) is optouts.Intent.HELP


@pytest.mark.parametrize(
    "text", ["please stop by the office", "I want to stop", "help me with my application", "", "stopp"]
)
def test_keywords_inside_longer_messages_are_not_keywords(text):
    assert optouts.keyword_intent(text) is None


def test_stop_then_start(setup):
    receive("STOP")
    assert optouts.is_opted_out("+12025550143")
    conversation = db.session.scalars(select(Conversation)).one()
    assert conversation.needs_attention is False  # an opt-out is not a question to answer
    receive("START")
    assert not optouts.is_opted_out("+12025550143")
    actions = db.session.scalars(select(OptOutEvent.action).order_by(OptOutEvent.id)).all()
    assert actions == ["opt_out", "opt_in"]


def test_a_repeated_stop_changes_nothing_and_says_nothing_more(setup):
    """The contact sends STOP twice to the same number: the thread says they opted out once, and
    the history and audit log hold one opt-out, as a repeated START changes nothing either."""
    receive("STOP")
    receive("STOP")
    receive("Stop.")
    events = db.session.scalars(
        select(Message.body).where(Message.direction == "event").order_by(Message.id)
    ).all()
    assert events == ["Contact opted out; no more texts will be sent."]
    assert db.session.scalars(select(OptOutEvent.action)).all() == ["opt_out"]
    kinds = db.session.scalars(select(AuditEvent.kind).where(AuditEvent.kind.like("optout.%"))).all()
    assert kinds == ["optout.added"]


def test_please_stop_by_is_a_normal_reply(setup):
    receive("Please stop by at 3pm")
    assert not optouts.is_opted_out("+12025550143")
    assert db.session.scalars(select(Conversation)).one().needs_attention is True


def test_provider_intent_counts(setup):
    inbound.receive(
        InboundMessage("+12025550143", "+12025550100", "Arrêtez", intent="optout"), "console"
    )
    assert optouts.is_opted_out("+12025550143")
    # Recorded as the provider's word, not as a keyword the contact texted.
    assert db.session.get(OptOut, "+12025550143").source == "provider"
    receive("STOP", phone="+12025550178")
    assert db.session.get(OptOut, "+12025550178").source == "keyword"


def test_a_stop_to_a_deactivated_number_still_opts_the_phone_out(app, setup):
    """The contact texts STOP to a number the office no longer uses (or a provider reports an
    opt-out through it): the phone is opted out all the same, and START opts it back in. Anything
    else is refused, as for a number Parley does not have."""
    setup["number"].active = False
    db.session.commit()
    with pytest.raises(inbound.InboundError):
        receive("Are you still there?")
    with pytest.raises(inbound.InboundError):
        receive("HELP")  # nothing is sent from a deactivated number, not even HELP's answer
    result = app.test_cli_runner().invoke(
        args=["sms", "receive", "--from", "2025550143", "--to", "+12025550100", "--text", "stop"]
    )
    assert result.exit_code == 0, result.output
    assert optouts.is_opted_out("+12025550143")
    inbound.receive(InboundMessage("+12025550178", "+12025550100", "Bitte nicht", intent="optout"), "console")
    assert optouts.is_opted_out("+12025550178")
    # START lifts it through the same number (the provider has re-subscribed the contact there).
    receive("START")
    assert not optouts.is_opted_out("+12025550143")
    outbound = select(func.count()).select_from(Message).where(Message.direction == "outbound")
    assert db.session.scalar(outbound) == 0  # no confirmation from a number that sends nothing


def test_help_without_an_office_text_still_says_who_is_texting(setup):
    receive("HELP")
    answer = db.session.scalars(select(Message).where(Message.direction == "outbound")).one()
    assert answer.body.startswith("Admissions: Reply STOP to stop receiving texts")


def test_help_gets_the_office_help_text(setup):
    setup["office"].help_text = "Admissions: call (202) 555-0100. Reply STOP to opt out."
    db.session.commit()
    receive("HELP")
    answer = db.session.scalars(select(Message).where(Message.direction == "outbound")).one()
    assert answer.body == "Admissions: call (202) 555-0100. Reply STOP to opt out."
    assert answer.author_kind == "system"
    assert answer.status == "sent"


def test_nothing_is_sent_to_an_opted_out_phone_even_help(setup):
    receive("STOP")
    receive("HELP")
    outbound = select(func.count()).select_from(Message).where(Message.direction == "outbound")
    assert db.session.scalar(outbound) == 0


def test_reply_to_opted_out_contact_is_refused(client, setup):
    result = receive("Hi")
    receive("STOP")
    login(client, "standard@example.edu")
    location = f"/conversations/{result.conversation_id}"
    page = client.get(location).get_data(as_text=True)
    assert "Opted out" in page
    token = csrf_token(client, location)
    response = client.post(f"{location}/messages", data={"body": "Still there?", "csrf_token": token})
    assert response.status_code == 422
    assert "Failed to Send SMS Message: this contact has opted out" in response.get_data(as_text=True)
    assert "Still there?" in response.get_data(as_text=True)  # what was typed is kept


@pytest.mark.parametrize("role", ["standard", "limited"])
def test_opt_outs_page_is_for_admins_only(client, setup, role):
    login(client, f"{role}@example.edu")
    assert client.get("/admin/opt-outs/").status_code == 403
    token = csrf_token(client, "/inbox")
    response = client.post("/admin/opt-outs/", data={"phone": "2025550143", "csrf_token": token})
    assert response.status_code == 403
    assert not optouts.is_opted_out("+12025550143")


def test_opt_outs_page_needs_login(client, setup):
    assert client.get("/admin/opt-outs/").status_code == 302


def test_admin_adds_and_removes_an_opt_out(client, setup):
    login(client, "admin@example.edu")
    token = csrf_token(client, "/admin/opt-outs/")
    response = client.post(
        "/admin/opt-outs/", data={"phone": "(202) 555-0143", "note": "Asked by phone", "csrf_token": token}
    )
    assert response.status_code == 303
    assert optouts.is_opted_out("+12025550143")
    page = client.get("/admin/opt-outs/").get_data(as_text=True)
    # Said once, after the add, as a confirmation (not in an error's colours).
    assert page.count("is opted out: no number will text it.") == 1
    confirmation = 'alert-success" role="status" tabindex="-1" autofocus><p>'  # focus starts there
    assert confirmation + "(202) 555-0143 is opted out: no number will text it." in page
    assert "(202) 555-0143" in page and "Alex Admin" in page and "Asked by phone" in page
    response = client.post(
        "/admin/opt-outs/+12025550143/remove", data={"reason": "Wants texts again", "csrf_token": token}
    )
    assert response.status_code == 303
    assert not optouts.is_opted_out("+12025550143")
    page = client.get("/admin/opt-outs/").get_data(as_text=True)
    removed = "(202) 555-0143 is off the opt-out list: it may be texted again."
    assert confirmation + removed in page
    events = db.session.scalars(select(OptOutEvent).order_by(OptOutEvent.id)).all()
    assert [(e.action, e.source, e.user.email) for e in events] == [
        ("opt_out", "admin", "admin@example.edu"),
        ("opt_in", "admin", "admin@example.edu"),
    ]
    assert all(e.created_at is not None for e in events)


def test_admin_bad_phone_changes_nothing(client, setup):
    login(client, "admin@example.edu")
    token = csrf_token(client, "/admin/opt-outs/")
    response = client.post("/admin/opt-outs/", data={"phone": "12345", "csrf_token": token})
    assert response.status_code == 422
    assert "Enter a 10-digit US phone number" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(OptOut)) == 0
    assert client.post("/admin/opt-outs/+12025550143/remove", data={"csrf_token": token}).status_code == 404
    assert db.session.scalar(select(func.count()).select_from(OptOutEvent)) == 0


def test_admin_duplicate_opt_out_is_reported(client, setup):
    receive("STOP")
    login(client, "admin@example.edu")
    token = csrf_token(client, "/admin/opt-outs/")
    response = client.post("/admin/opt-outs/", data={"phone": "2025550143", "csrf_token": token})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "already opted out" in page
    assert db.session.scalar(select(func.count()).select_from(OptOutEvent)) == 1
    # Next to the Phone field (app.js removes such an error once the phone is edited), not
    # above the form where it would outlive the next try.
    phone_field = re.search(r'<input id="opt-out-phone"[^>]*>', page)[0]
    assert 'aria-invalid="true"' in phone_field and 'aria-describedby="phone-error"' in phone_field
    assert "autofocus" in phone_field
    assert '<p class="field-error" id="phone-error">That phone has already opted out.</p>' in page
    assert "alert-error" not in page


def test_admin_bad_phone_and_long_note_are_each_shown_by_their_field(client, setup):
    login(client, "admin@example.edu")
    token = csrf_token(client, "/admin/opt-outs/")
    form = {"phone": "12345", "note": "n" * 250, "csrf_token": token}
    response = client.post("/admin/opt-outs/", data=form)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert '<p class="field-error" id="phone-error">Enter a 10-digit US phone number' in page
    assert '<p class="field-error" id="note-error">A note can be at most 200 characters' in page
    phone_field = re.search(r'<input id="opt-out-phone"[^>]*>', page)[0]
    note_field = re.search(r'<input id="opt-out-note"[^>]*>', page)[0]
    assert "autofocus" in phone_field and "autofocus" not in note_field  # one focus: the first
    assert 'aria-invalid="true"' in note_field
    assert db.session.scalar(select(func.count()).select_from(OptOut)) == 0


def test_compose_says_under_to_that_a_typed_phone_opted_out(app, client, setup):
    """The page asks as To is typed; only roles that may compose may ask."""
    receive("STOP")
    login(client, "standard@example.edu")
    notice = client.get("/texts/new/to-notice?to=(202) 555-0143")
    assert notice.status_code == 200 and notice.headers["Cache-Control"] == "no-store"
    assert "This contact opted out: texts cannot be sent to them until they text START." in notice.text
    for other in ("(202) 555-0144", "555-01", "", "x" * 500):
        assert client.get("/texts/new/to-notice", query_string={"to": other}).text == ""
    limited = app.test_client()
    login(limited, "limited@example.edu")
    assert limited.get("/texts/new/to-notice?to=2025550143").status_code == 403
    signed_out = app.test_client().get("/texts/new/to-notice?to=2025550143")
    assert signed_out.status_code == 302 and "/login" in signed_out.headers["Location"]


def test_an_inbound_text_keeps_how_parley_read_it(setup):
    """Each inbound text keeps the keyword it was answered as (the reports leave those out of
    replies): marks, emoji and full-width letters read through; the provider's own reading counts
    (Plivo's and Twilio's intent); a question that says "stop" is none."""
    bodies = {
        "Stop.": "optout", "stop😤": "optout", "Stop 😭🙏🏽": "optout", "ＳＴＯＰ": "optout",
        "«STOP»": "optout", "do - not - text": "optout", "STOP" + "!" * 60: "optout",
        "Stop™": "optout", "STOP 🈲": "optout", "ⓈⓉⓄⓅ": "optout", "🅂🅃🄾🄿!": "optout",
        "Start!": "optin", "¿Help?": "help",
        "stop please": None, "please stop by": None, "s.t.o.p": None, "stop_all": None, "": None,
    }  # fmt: skip
    for body, reading in bodies.items():
        assert receive(body, "+12025550178").duplicate is False
        kept = db.session.scalar(select(Message.keyword).where(Message.body == body))
        assert kept == reading, repr(body)
    inbound.receive(InboundMessage("+12025550190", "+12025550100", "Arrêtez", intent="optout"), "console")
    assert db.session.scalar(select(Message.keyword).where(Message.body == "Arrêtez")) == "optout"


def test_full_width_stop_opts_out(setup):
    """A phone set to full-width letters writes ＳＴＯＰ: it is STOP."""
    receive("ＳＴＯＰ")
    assert optouts.is_opted_out("+12025550143")
    receive("ｓｔａｒｔ")
    assert not optouts.is_opted_out("+12025550143")


def test_a_stop_shows_the_number_it_came_to_only_to_its_own_office(client, world):  # noqa: F811
    """A contact's STOP and START through an Admissions number are in every admin's history and
    audit log (the opt-out holds for every office), but the number itself is Admissions' to see,
    as on the opt-out list: Financial Aid's admins learn its office only."""
    receive("STOP")
    receive("START")
    events = db.session.scalars(select(OptOutEvent).order_by(OptOutEvent.id)).all()
    assert [e.detail for e in events] == ["texted a number of Admissions"] * 2
    logged = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [e.summary for e in logged] == [
        "(202) 555-0143 opted out by text (texted a number of Admissions)",
        "(202) 555-0143 opted back in by text (texted a number of Admissions)",
    ]
    assert {e.detail["number_id"] for e in logged} == {world["number"].id}

    login(client, "fa-admin@example.edu")
    for path in ("/admin/opt-outs/", "/admin/audit"):
        page = client.get(path).get_data(as_text=True)
        assert "texted a number of Admissions" in page, path
        assert "(202) 555-0100" not in page and "+12025550100" not in page and "Admissions Main" not in page
    # Admissions' admins see it on the opt-out entries (not on other entries about the number).
    audit.record(world["users"]["admin"], "number.updated", "Admissions Main: label", [world["office"]],
                 {"number_id": world["number"].id})  # fmt: skip
    db.session.commit()
    mine = client.application.test_client()
    login(mine, "admin@example.edu")
    page = mine.get("/admin/audit").get_data(as_text=True)
    assert page.count("Came through Admissions Main · (202) 555-0100") == 2


def test_an_opt_out_logged_before_the_number_was_kept_by_id_reads_as_it_did(client, world):  # noqa: F811
    """Older entries wrote the number into their words; they are shown as written."""
    audit.record(None, "optout.added", "(202) 555-0143 opted out by text (texted +12025550100)",
                 detail={"phone": "+12025550143", "source": "keyword"}, org_wide=True)  # fmt: skip
    db.session.commit()
    login(client, "admin@example.edu")
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "<td>(202) 555-0143 opted out by text (texted +12025550100)</td>" in page


@pytest.mark.parametrize(
    "text",
    ["Stop texting me about the FAFSA", "please unsubscribe me", "Wrong number. Do not text me again",
     "Don’t text me", "take me off your list pls", "Quit texting me", "Cancel these texts",
     "End these messages", "no more texts", "Stop™ texting me", "Stop! Wrong number", "I said STOP",
     "opt-out please"],
)  # fmt: skip
def test_a_longer_text_asking_for_no_more_texts_is_told_but_opts_nobody_out(text):
    assert optouts.may_ask_to_stop(text) and optouts.keyword_intent(text) is None


@pytest.mark.parametrize(
    "text",
    ["please stop by", "Can I stop by the office tomorrow?", "Is there a stop on the shuttle?",
     "Will my aid stop if I drop a class?", "When can I opt out of the meal plan?",
     "Can I cancel my application?", "When does the semester end?", "remove me from the waitlist"],
)  # fmt: skip
def test_everyday_questions_with_the_same_words_do_not_ask_to_stop(text):
    assert not optouts.may_ask_to_stop(text)
