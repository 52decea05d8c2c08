"""The 1:1 text flow through the web app, as an agent's browser would drive it (minus JavaScript)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from tests.conftest import PASSWORD, csrf_token, login
from webapp.extensions import db
from webapp.models import Conversation, Message, Participant
from webapp.plugin_api import InboundMessage
from webapp.services import inbound, knowledge_base
from webapp.web import format_when, time_tag


def compose(client, number_id, to, body, key=None):
    token = csrf_token(client, "/texts/new")
    data = {"csrf_token": token, "number_id": str(number_id), "to": to, "body": body}
    if key:
        data["idempotency_key"] = key
    return client.post("/texts/new", data=data)


def reply_from_contact(phone: str, to: str = "+12025550100", text: str = "Thanks!"):
    return inbound.receive(InboundMessage(from_phone=phone, to_phone=to, body=text), "console")


def test_pages_need_login(client, setup):
    for path in ("/", "/inbox", "/texts/new", "/contacts/lookup?phone=2025550143"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert "/login" in response.headers["Location"]


def test_htmx_request_without_session_is_sent_to_login(client, setup):
    response = client.get("/inbox", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login")


def test_login_with_wrong_password_is_refused(client, setup):
    response = login(client, "standard@example.edu", "wrong-password")
    assert response.status_code == 401
    assert "Email or password is incorrect." in response.get_data(as_text=True)
    assert client.get("/inbox").status_code == 302


def test_login_and_logout(client, setup):
    response = login(client, "standard@example.edu")
    assert response.status_code == 302
    assert client.get("/inbox").status_code == 200
    token = csrf_token(client, "/inbox")
    response = client.post("/logout", data={"csrf_token": token})
    # The browser forgets what it kept for the user: drafts in its storage, cached pictures.
    assert response.headers["Clear-Site-Data"] == '"cache", "storage"'
    assert client.get("/inbox").status_code == 302


def test_login_refuses_deactivated_user(client, setup):
    setup["users"]["standard"].active = False
    db.session.commit()
    response = login(client, "standard@example.edu")
    assert response.status_code == 401
    assert "deactivated" in response.get_data(as_text=True)


def test_login_ignores_foreign_next(client, setup):
    token = csrf_token(client)
    response = client.post(
        "/login?next=//evil.example/x",
        data={"email": "standard@example.edu", "password": PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/inbox"


def test_a_line_break_in_next_is_no_place_to_go(client, setup):
    """A crafted link's next with a line break (no header may hold one) goes to the inbox."""
    token = csrf_token(client)
    response = client.post(
        "/login?next=/inbox%0D%0ASet-Cookie:x=1",
        data={"email": "standard@example.edu", "password": PASSWORD, "csrf_token": token},
    )
    assert (response.status_code, response.headers["Location"]) == (302, "/inbox")
    assert client.get("/login?next=/search%0A").headers["Location"] == "/inbox"  # signed in already


def test_forms_without_csrf_token_are_refused(client, setup):
    response = client.post("/login", data={"email": "standard@example.edu", "password": PASSWORD})
    assert response.status_code == 400
    login(client, "standard@example.edu")
    number = setup["number"]
    response = client.post(
        "/texts/new", data={"number_id": number.id, "to": "2025550143", "body": "Hi"}
    )
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0


def test_compose_sends_and_opens_the_conversation(client, setup):
    login(client, "standard@example.edu")
    response = compose(client, setup["number"].id, "202-555-0143", "Hello from Admissions")
    assert response.status_code == 303
    match = re.fullmatch(r"/conversations/(\d+)", response.headers["Location"])
    assert match
    conversation = db.session.get(Conversation, int(match.group(1)))
    assert conversation.contact_phone == "+12025550143"
    assert conversation.needs_attention is False
    message = db.session.scalars(select(Message)).one()
    assert message.body == "Hello from Admissions"
    assert message.status == "sent"  # the console provider accepted it through the queue
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Hello from Admissions" in page
    assert "(202) 555-0143" in page
    assert "Sam Standard" in page


def test_compose_with_htmx_redirects_with_hx_redirect(client, setup):
    login(client, "standard@example.edu")
    token = csrf_token(client, "/texts/new")
    response = client.post(
        "/texts/new",
        data={"number_id": setup["number"].id, "to": "2025550143", "body": "Hi", "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert response.headers["HX-Redirect"].startswith("/conversations/")


def test_compose_accepts_every_us_format(client, setup):
    login(client, "standard@example.edu")
    formats = ["2025550143", "202-555-0143", "202.555.0143", "(202) 555-0143", "12025550143", "+12025550143"]
    for to in formats:
        assert compose(client, setup["number"].id, to, f"via {to}").status_code == 303
    # Every format reached the same contact: one conversation holds all six messages.
    conversation = db.session.scalars(select(Conversation)).one()
    count = select(func.count()).select_from(Message).where(Message.conversation_id == conversation.id)
    assert db.session.scalar(count) == len(formats)


def test_compose_rejects_bad_input_inline_and_sends_nothing(client, setup):
    login(client, "standard@example.edu")
    cases = [
        ("+44 20 7123 4567", "Hello", "International numbers are not supported yet"),
        ("555-0143", "Hello", "Enter a 10-digit US phone number"),
        ("call me maybe", "Hello", "Enter a 10-digit US phone number"),
        ("2025550143", "   ", "Enter a message."),
        ("2025550143", "\u200b", "Enter a message."),
        ("2025550143", "Hi \u001b[31m", "control character (U+001B)"),
        ("2025550143", "x" * 1601, "at most 1,600 characters"),
    ]
    for to, body, error in cases:
        response = compose(client, setup["number"].id, to, body)
        assert response.status_code == 422, to
        page = response.get_data(as_text=True)
        assert error in page
        assert 'aria-invalid="true"' in page
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0


def test_compose_keeps_what_was_typed_after_an_error(client, setup):
    login(client, "standard@example.edu")
    page = compose(client, setup["number"].id, "12345", "Please keep me").get_data(as_text=True)
    assert "Please keep me" in page
    assert 'value="12345"' in page


def test_compose_refuses_a_number_without_access(client, setup, make):
    make.office("Financial Aid")
    other = make.number("+12025550199", office="Financial Aid", inboxes=("Financial Aid",), label="FA")
    login(client, "standard@example.edu")
    page = client.get("/texts/new").get_data(as_text=True)
    assert "FA ·" not in page and "Admissions Main" in page
    response = compose(client, other.id, "2025550143", "Hi")
    assert response.status_code == 422
    assert "Choose a number you have access to." in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0


def selected_from(page: str) -> list[str]:
    """The From list's selected option, as the browser would show it."""
    select_html = page.split('id="compose-from"', 1)[1].split("</select>", 1)[0]
    return re.findall(r'<option value="\d+" selected>([^<]*)</option>', select_html)


def test_from_starts_on_the_number_last_sent_from(client, setup, make):
    second = make.number("+12025550177", inboxes=("Admissions",), label="Visits")
    login(client, "standard@example.edu")
    page = client.get("/texts/new").get_data(as_text=True)
    # Two numbers and none used yet: the first of the list, with nothing to pick first.
    assert selected_from(page) == ["Admissions Main · (202) 555-0100"]
    assert "Choose a number" not in page

    assert compose(client, second.id, "2025550143", "From Visits").status_code == 303
    page = client.get("/texts/new").get_data(as_text=True)
    assert selected_from(page) == ["Visits · (202) 555-0177"]

    # A number the user may no longer send from is not offered, nor started on.
    second.active = False
    db.session.commit()
    page = client.get("/texts/new").get_data(as_text=True)
    assert selected_from(page) == ["Admissions Main · (202) 555-0100"]
    assert "Visits" not in page


def test_from_starts_on_a_number_staff_answer_rather_than_a_bots(client, setup, make):
    """Listed first, a bot-backed number would have the bot answer the contact's reply."""
    make.number("+12025550190", backing="bot", inboxes=("Admissions",), label="Admissions FAQ Bot")
    login(client, "standard@example.edu")
    page = client.get("/texts/new").get_data(as_text=True)
    assert selected_from(page) == ["Admissions Main · (202) 555-0100"]
    assert "Admissions FAQ Bot · (202) 555-0190" in page  # still offered


def test_limited_user_cannot_create_texts(client, setup):
    login(client, "limited@example.edu")
    page = client.get("/inbox").get_data(as_text=True)
    assert "Create Content" in page
    assert "Create 1:1 Text" not in page
    assert client.get("/texts/new").status_code == 403
    token = csrf_token(client, "/inbox")
    response = client.post(
        "/texts/new",
        data={"number_id": setup["number"].id, "to": "2025550143", "body": "Hi", "csrf_token": token},
    )
    assert response.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0


def test_standard_user_sees_create_menu_item(client, setup):
    login(client, "standard@example.edu")
    page = client.get("/").get_data(as_text=True)
    assert 'role="menuitem" href="/texts/new">Create 1:1 Text' in page
    # Each name once on the page (the home page's hint words it differently), as a person finds it.
    assert page.count("Create 1:1 Text") == 1
    assert page.count("Create Content") == 1


def test_to_is_prefilled_from_query(client, setup):
    login(client, "standard@example.edu")
    page = client.get("/texts/new?to=2025550143").get_data(as_text=True)
    assert 'value="2025550143"' in page


def test_repeated_submit_with_same_key_sends_once(client, setup):
    login(client, "standard@example.edu")
    first = compose(client, setup["number"].id, "2025550143", "Once", key="k" * 32)
    second = compose(client, setup["number"].id, "2025550143", "Once", key="k" * 32)
    assert first.headers["Location"] == second.headers["Location"]
    assert db.session.scalar(select(func.count()).select_from(Message)) == 1


def test_a_form_sent_again_with_another_text_or_phone_is_refused_not_dropped(client, setup):
    login(client, "standard@example.edu")
    first = compose(client, setup["number"].id, "2025550143", "First text", key="k" * 32)
    assert first.status_code == 303
    for to, body in [("2025550143", "Second text"), ("2025550178", "First text")]:
        again = compose(client, setup["number"].id, to, body, key="k" * 32)
        assert again.status_code == 422
        assert "This form was already sent with another message" in again.get_data(as_text=True)
    conversation_id = int(first.headers["Location"].rsplit("/", 1)[1])
    token = csrf_token(client, "/inbox")
    reply = {"csrf_token": token, "body": "Another reply", "idempotency_key": "r" * 32}
    assert client.post(f"/conversations/{conversation_id}/messages", data=reply).status_code == 200
    changed = client.post(f"/conversations/{conversation_id}/messages", data={**reply, "body": "Edited"})
    assert changed.status_code == 422
    assert "This form was already sent with another message" in changed.get_data(as_text=True)
    bodies = db.session.scalars(select(Message.body).order_by(Message.id)).all()
    assert bodies == ["First text", "Another reply"]


def test_a_text_to_the_from_number_itself_is_refused(client, setup):
    login(client, "standard@example.edu")
    response = compose(client, setup["number"].id, "(202) 555-0100", "Hello me")
    assert response.status_code == 422
    assert "That is the From number itself" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0


def test_second_text_continues_the_conversation(client, setup):
    login(client, "standard@example.edu")
    first = compose(client, setup["number"].id, "2025550143", "One")
    second = compose(client, setup["number"].id, "(202) 555-0143", "Two")
    assert first.headers["Location"] == second.headers["Location"]
    assert db.session.scalar(select(func.count()).select_from(Conversation)) == 1


@pytest.mark.parametrize("to", ["2025550143", "２０２５５５０１４３"])  # full-width digits: the same phone
def test_opted_out_contact_is_refused(client, setup, to):
    reply_from_contact("+12025550143", text="STOP")
    login(client, "standard@example.edu")
    response = compose(client, setup["number"].id, to, "Are you there?")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Failed to Send SMS Message: this contact has opted out" in page
    # The notice under To, shown before Send, stays beside the refusal.
    assert "This contact opted out: texts cannot be sent to them until they text START." in page
    outbound = select(func.count()).select_from(Message).where(Message.direction == "outbound")
    assert db.session.scalar(outbound) == 0


def test_reply_flow_moves_between_tabs(client, setup):
    login(client, "standard@example.edu")
    location = compose(client, setup["number"].id, "2025550143", "Hello").headers["Location"]
    conversation_id = int(location.rsplit("/", 1)[1])

    participating = client.get("/inbox?tab=participating").get_data(as_text=True)
    assert location in participating
    assert location not in client.get("/inbox?tab=attention").get_data(as_text=True)

    reply_from_contact("+12025550143", text="When is the deadline?")
    attention = client.get("/inbox?tab=attention").get_data(as_text=True)
    assert location in attention
    assert "When is the deadline?" in attention
    assert "is-unread" in attention
    assert location not in client.get("/inbox?tab=participating").get_data(as_text=True)

    token = csrf_token(client, location)
    response = client.post(
        f"/conversations/{conversation_id}/messages",
        data={"body": "March 1st!", "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "March 1st!" in response.get_data(as_text=True)
    assert location in client.get("/inbox?tab=participating").get_data(as_text=True)
    assert location not in client.get("/inbox?tab=attention").get_data(as_text=True)


def test_reply_needs_attention_for_everyone_it_is_visible_to(client, setup, app):
    login(client, "standard@example.edu")
    location = compose(client, setup["number"].id, "2025550143", "Hello").headers["Location"]
    reply_from_contact("+12025550143")
    other = app.test_client()
    login(other, "limited@example.edu")  # member of the assigned office inbox
    assert location in other.get("/inbox?tab=attention").get_data(as_text=True)
    admin = app.test_client()
    login(admin, "admin@example.edu")
    assert location in admin.get("/inbox?tab=attention").get_data(as_text=True)


def test_an_office_admin_sees_their_office_numbers_conversations_and_no_others(client, setup, make, app):
    """Admins see every conversation on their own office's numbers, even where another office's
    inbox answers them; an admin of another office neither opens nor finds them."""
    make.office("Financial Aid")
    make.office("Registrar")
    make.user("fa-admin@example.edu", "admin", offices=("Financial Aid",))
    make.user("reg-admin@example.edu", "admin", offices=("Registrar",))
    number = make.number("+12025550120", office="Financial Aid", inboxes=("Admissions",),
                         label="FA Line")
    login(client, "standard@example.edu")
    location = compose(client, number.id, "2025550143", "Hello").headers["Location"]

    owner = app.test_client()
    login(owner, "fa-admin@example.edu")
    assert "Hello" in owner.get(location).get_data(as_text=True)
    assert location in owner.get("/contacts/lookup?phone=2025550143").get_data(as_text=True)

    other = app.test_client()
    login(other, "reg-admin@example.edu")
    assert other.get(location).status_code == 404
    assert other.get(f"{location}/live").status_code == 404
    assert location not in other.get("/contacts/lookup?phone=2025550143").get_data(as_text=True)

    # The contact answers: the owning office's admin finds it in Needs Attention, the page and its
    # polled fragment alike; the other office's admin does not.
    reply_from_contact("+12025550143", to="+12025550120", text="A question")
    for headers in ({}, {"HX-Request": "true"}):
        assert location in owner.get("/inbox?tab=attention", headers=headers).get_data(as_text=True)
        assert location not in other.get("/inbox?tab=attention", headers=headers).get_data(as_text=True)


def test_does_not_need_attention_clears_the_flag(client, setup):
    login(client, "standard@example.edu")
    location = compose(client, setup["number"].id, "2025550143", "Hello").headers["Location"]
    reply_from_contact("+12025550143")
    page = client.get(location).get_data(as_text=True)
    assert "Does Not Need Attention" in page
    token = csrf_token(client, location)
    client.post(f"{location}/attention", data={"csrf_token": token})
    conversation = db.session.scalars(select(Conversation)).one()
    db.session.refresh(conversation)
    assert conversation.needs_attention is False
    page = client.get(location).get_data(as_text=True)
    assert "Does Not Need Attention</button>" not in page
    assert location in client.get("/inbox?tab=participating").get_data(as_text=True)


def test_switch_mode_is_refused_while_needing_attention(client, setup):
    login(client, "standard@example.edu")
    location = compose(client, setup["number"].id, "2025550143", "Hello").headers["Location"]
    token = csrf_token(client, location)
    page = client.post(f"{location}/mode", data={"csrf_token": token}).get_data(as_text=True)
    assert "1:1 Text (Bot)" in page
    assert "switched this conversation to bot mode" in page
    page = client.post(f"{location}/mode", data={"csrf_token": token}).get_data(as_text=True)
    assert "1:1 Text (Agent)" in page
    reply_from_contact("+12025550143")
    response = client.post(f"{location}/mode", data={"csrf_token": token})
    assert response.status_code == 409
    assert "needs attention" in response.get_data(as_text=True)
    assert db.session.scalars(select(Conversation)).one().mode == "agent"


def test_conversation_of_another_office_is_not_visible(client, setup, make, app):
    make.office("Financial Aid")
    make.user("fa@example.edu", "standard", offices=("Financial Aid",))
    login(client, "standard@example.edu")
    location = compose(client, setup["number"].id, "2025550143", "Hello").headers["Location"]
    outsider = app.test_client()
    login(outsider, "fa@example.edu")
    assert outsider.get(location).status_code == 404
    token = csrf_token(outsider, "/inbox")
    response = outsider.post(f"{location}/messages", data={"body": "hijack", "csrf_token": token})
    assert response.status_code == 404
    assert outsider.get(f"{location}/live").status_code == 404
    assert location not in outsider.get("/inbox?tab=attention").get_data(as_text=True)
    bodies = db.session.scalars(select(Message.body)).all()
    assert "hijack" not in bodies


def test_unsolicited_text_starts_a_conversation_needing_attention(client, setup):
    result = reply_from_contact("+12025550177", text="Hi, who is this?")
    login(client, "standard@example.edu")
    page = client.get("/inbox?tab=attention").get_data(as_text=True)
    assert f"/conversations/{result.conversation_id}" in page
    assert "(202) 555-0177" in page


def test_bot_backed_conversations_show_in_assigned_agents_participating(client, setup, make):
    bot_number = make.number("+12025550101", backing="bot", agents=("standard@example.edu",), label="FAQ Bot")
    knowledge_base.add_entry(setup["office"], "hours\nopening hours", "We are open 9 to 5.")
    db.session.commit()
    result = reply_from_contact("+12025550177", to=bot_number.phone, text="What are your hours?")
    conversation = db.session.get(Conversation, result.conversation_id)
    assert conversation.mode == "bot"
    assert conversation.needs_attention is False
    login(client, "standard@example.edu")
    location = f"/conversations/{result.conversation_id}"
    assert location in client.get("/inbox?tab=participating").get_data(as_text=True)
    assert location not in client.get("/inbox?tab=attention").get_data(as_text=True)


def test_message_body_is_escaped(client, setup):
    login(client, "standard@example.edu")
    attack = "<img src=x onerror=alert(1)>"
    location = compose(client, setup["number"].id, "2025550143", attack).headers["Location"]
    reply_from_contact("+12025550143", text="<script>alert(2)</script>")
    page = client.get(location).get_data(as_text=True)
    assert attack not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script>alert(2)" not in page


def test_participant_added_once(client, setup):
    login(client, "standard@example.edu")
    compose(client, setup["number"].id, "2025550143", "One")
    compose(client, setup["number"].id, "2025550143", "Two")
    assert db.session.scalar(select(func.count()).select_from(Participant)) == 1


def test_security_headers(client, setup):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in csp
    assert "script-src 'self'" in csp
    assert "X-Frame-Options" not in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in response.headers
    secure = client.get("/login", base_url="https://parley.example.edu")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_security_headers_keep_what_a_view_set_and_drop_x_frame_options(app, client):
    @app.get("/test-own-headers")
    def own_headers():
        return "ok", {"Cache-Control": "private, max-age=60", "X-Frame-Options": "DENY"}

    from webapp import web

    web.PUBLIC_ENDPOINTS.add("own_headers")
    try:
        response = client.get("/test-own-headers")
    finally:
        web.PUBLIC_ENDPOINTS.discard("own_headers")
    assert response.headers.getlist("Cache-Control") == ["private, max-age=60"]
    assert "X-Frame-Options" not in response.headers
    assert len(response.headers.getlist("Content-Security-Policy")) == 1
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_data(as_text=True) == "ok"


def test_times_show_in_utc_without_leading_zeros():
    assert format_when(datetime(2026, 3, 5, 9, 7, tzinfo=UTC)) == "Mar 5, 9:07 UTC"
    assert format_when(datetime(2026, 12, 31, 0, 0, tzinfo=UTC)) == "Dec 31, 0:00 UTC"
    evening_in_new_york = datetime(2026, 11, 26, 20, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert format_when(evening_in_new_york) == "Nov 27, 1:30 UTC"
    assert format_when(None) == ""


def test_a_time_element_carries_the_moment_and_its_utc_text():
    moment = datetime(2026, 3, 5, 9, 7, tzinfo=UTC)
    assert time_tag(moment) == '<time datetime="2026-03-05T09:07:00Z">Mar 5, 9:07 UTC</time>'
    assert time_tag(moment, "conv-time") == (
        '<time class="conv-time" datetime="2026-03-05T09:07:00Z">Mar 5, 9:07 UTC</time>'
    )
    assert 'class="a&#34;b"' in time_tag(moment, 'a"b')  # a class is escaped like any attribute
    assert time_tag(None) == ""


@pytest.mark.parametrize("to", ["+12025550100", "2025550100", "(202) 555-0100", "1-202-555-0100"])
def test_sms_receive_takes_the_number_in_any_us_format(app, setup, to):
    def receive(number: str):
        args = ["sms", "receive", "--from", "2025550143", "--to", number, "--text", "Hi"]
        return app.test_cli_runner().invoke(args=args)

    result = receive(to)
    assert result.exit_code == 0, result.output
    assert "Received into conversation" in result.output
    unknown = receive("2025550999")
    assert unknown.exit_code == 1
    assert "+12025550999 is not an active reusable number" in unknown.output


def test_web_addresses_in_messages_are_links_that_open_apart_and_stay_escaped(client, setup):
    reply_from_contact(
        "+12025550143",
        text='Is it https://apply.example.edu/status?id=7&next="><img src=x onerror=alert(1)> or '
        "www.example.edu?",
    )
    conversation = db.session.scalar(select(Conversation.id))
    login(client, "standard@example.edu")
    page = client.get(f"/conversations/{conversation}").get_data(as_text=True)
    body = re.search(r'<p class="msg-body"[^>]*>(.*?)</p>', page, re.S).group(1)
    links = re.findall(r"<a ([^>]*)>", body)
    assert len(links) == 2
    for link in links:
        rel = re.search(r'rel="([^"]*)"', link).group(1).split()
        assert 'target="_blank"' in link and sorted(rel) == ["nofollow", "noopener", "noreferrer"]
    assert 'href="https://apply.example.edu/status?id=7&amp;next=&#34;&gt;&lt;img"' in links[0]
    assert 'href="https://www.example.edu' in links[1]
    assert "<img" not in body and " src=x onerror=alert(1)&gt;" in body
