"""Bot-backed numbers: the bot answers, "I don't know" escalates or answers, keywords skip the bot,
a broken or slow bot hands the conversation to agents, and Switch Mode."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from plugins.console_sms import ConsoleSmsProvider
from tests.conftest import csrf_token, login
from webapp.extensions import db
from webapp.models import Conversation, Message, OptOut, utcnow
from webapp.plugin_api import Bot, BotReply, InboundMessage, OutboundMessage, SendResult, StatusUpdate
from webapp.services import bots, delivery_reports, inbound, knowledge_base, optouts, sending

BOT_NUMBER = "+12025550101"
CONTACT = "+12025550143"
DEADLINE_ANSWER = "Applications are due January 15."


@pytest.fixture
def bot_setup(setup, make):
    """The Admissions setup plus a bot-backed number (standard@ is its assigned agent) and a
    knowledge base that knows the application deadline."""
    number = make.number(
        BOT_NUMBER,
        backing="bot",
        agents=("standard@example.edu",),
        inboxes=("Admissions",),
        label="Admissions FAQ Bot",
    )
    knowledge_base.add_entry(
        setup["office"], "application deadline\nwhen are applications due", DEADLINE_ANSWER
    )
    db.session.commit()
    return {**setup, "bot_number": number}


def text_in(body: str, phone: str = CONTACT, to: str = BOT_NUMBER):
    return inbound.receive(InboundMessage(from_phone=phone, to_phone=to, body=body), "console")


def conversation_of(result) -> Conversation:
    """The conversation of a received text (or a conversation), freshly loaded."""
    db.session.expire_all()
    conversation_id = getattr(result, "conversation_id", None) or result.id
    return db.session.get(Conversation, conversation_id)


def outbound(conversation: Conversation) -> list[Message]:
    return list(
        db.session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation.id, Message.direction == "outbound")
            .order_by(Message.id)
        )
    )


def events(conversation: Conversation) -> list[str]:
    return list(
        db.session.scalars(
            select(Message.body).where(
                Message.conversation_id == conversation.id, Message.direction == "event"
            )
        )
    )


def conversation_page(client, conversation: Conversation) -> str:
    return client.get(f"/conversations/{conversation.id}").get_data(as_text=True)


# ---- The knowledge base answers ----


def test_known_question_is_answered_by_the_bot(client, bot_setup):
    result = text_in("When is the APPLICATION deadline??")
    conversation = conversation_of(result)
    [answer] = outbound(conversation)
    assert answer.body == DEADLINE_ANSWER
    assert answer.author_kind == "bot"
    assert answer.author_user_id is None
    # Through the agents' pipeline: queued, then handed to the provider (the queue runs inline).
    assert answer.status == "sent"
    assert answer.provider_message_id
    assert conversation.mode == "bot"
    assert conversation.needs_attention is False

    login(client, "standard@example.edu")  # the number's assigned agent
    link = f"/conversations/{conversation.id}"
    assert link in client.get("/inbox?tab=participating").get_data(as_text=True)
    assert link not in client.get("/inbox?tab=attention").get_data(as_text=True)
    page = conversation_page(client, conversation)
    assert DEADLINE_ANSWER in page
    assert '<span class="msg-author" dir="auto">Bot</span>' in page
    assert "1:1 Text (Bot)" in page


class RefusingProvider(ConsoleSmsProvider):
    def send(self, message: OutboundMessage) -> SendResult:
        return SendResult(status="failed", error_code="400", error_reason="The provider refused the message.")


def test_a_bot_answer_that_cannot_be_sent_gives_the_question_to_people(client, bot_setup, app):
    app.extensions["parley"].sms_providers["console"] = RefusingProvider(app.config)
    conversation = conversation_of(text_in("When is the application deadline?"))
    [answer] = outbound(conversation)
    assert answer.status == "failed"
    assert (conversation.mode, conversation.needs_attention) == ("agent", True)
    said = "The bot's answer could not be sent (The provider refused the message); this needs an agent."
    assert f"{said} Switched to agent mode." in events(conversation)


class KeywordAnsweringProvider(ConsoleSmsProvider):
    handles_keywords = True  # as Twilio and Plivo do


class SlowProvider(ConsoleSmsProvider):
    def send(self, message: OutboundMessage) -> SendResult:
        return SendResult(status="failed", error_reason="The provider did not answer", may_have_gone=True)


def test_a_bot_answer_that_may_have_gone_waits_for_its_report(client, bot_setup, app):
    """No answer from the provider in time: the answer may well have arrived, so the question is
    not taken from the bot; a report that it failed would hand it over."""
    app.extensions["parley"].sms_providers["console"] = SlowProvider(app.config)
    conversation = conversation_of(text_in("When is the application deadline?"))
    [answer] = outbound(conversation)
    assert (answer.status, answer.error_code) == ("failed", "interrupted")
    assert (conversation.mode, conversation.needs_attention) == ("bot", False)


def unconfirmed_for(answer: Message, minutes: int) -> None:
    moment = utcnow() - timedelta(minutes=minutes)
    db.session.execute(update(Message).where(Message.id == answer.id).values(updated_at=moment))
    db.session.commit()


@pytest.mark.parametrize("report", [None, "delivered"])
def test_a_bot_answer_that_may_have_gone_goes_to_people_unless_confirmed_in_time(
    client, bot_setup, app, report
):
    """The provider never took it, perhaps: with no report after BOT_ESCALATE_AFTER_SECONDS, the
    minute's sweep hands the question to people (nobody knew it might be unanswered), once. A
    report that it went leaves it with the bot."""
    app.extensions["parley"].sms_providers["console"] = SlowProvider(app.config)
    conversation = conversation_of(text_in("When is the application deadline?"))
    [answer] = outbound(conversation)
    unconfirmed_for(answer, 4)
    assert sending.escalate_unconfirmed_bot_answers() == 0  # still within the 5 minutes
    if report:
        update_ = StatusUpdate(answer.provider_message_id or "p-1", report, parley_message_id=answer.id)
        delivery_reports.record(update_, "console")
    unconfirmed_for(answer, 6)
    assert sending.escalate_unconfirmed_bot_answers() == (0 if report else 1)
    conversation = conversation_of(conversation)
    if report:
        assert (conversation.mode, conversation.needs_attention) == ("bot", False)
        return
    assert (conversation.mode, conversation.needs_attention) == ("agent", True)
    said = (
        "The bot's answer may not have reached the contact (the provider never confirmed it); this "
        "needs an agent."
    )
    assert f"{said} Switched to agent mode." in events(conversation)
    assert sending.escalate_unconfirmed_bot_answers() == 0  # once


def test_a_bot_answer_the_carrier_did_not_deliver_gives_the_question_to_people(client, bot_setup):
    conversation = conversation_of(text_in("When is the application deadline?"))
    [answer] = outbound(conversation)
    delivery_reports.record(
        StatusUpdate(answer.provider_message_id, "undelivered", parley_message_id=answer.id), "console"
    )
    conversation = conversation_of(conversation)
    assert (conversation.mode, conversation.needs_attention) == ("agent", True)
    login(client, "standard@example.edu")
    assert f"/conversations/{conversation.id}" in client.get("/inbox?tab=attention").get_data(as_text=True)


def test_the_bot_does_not_answer_another_of_parleys_numbers(client, bot_setup):
    """Texted from Parley's own number (another bot's, say), its answer would be answered back
    without end: people get it instead."""
    conversation = conversation_of(text_in("When is the application deadline?", phone="+12025550100"))
    assert outbound(conversation) == []
    assert (conversation.mode, conversation.needs_attention) == ("agent", True)
    assert any("came from another of Parley's numbers" in event for event in events(conversation))


@pytest.mark.parametrize(("body", "intent", "word"), [("YES", "optin", "START"), ("AYUDA", "help", "HELP")])
def test_a_keyword_only_the_provider_knows_is_not_a_question(client, bot_setup, app, body, intent, word):
    """Twilio reads YES as START and AYUDA as HELP, words Parley's own list does not have, and
    answers them itself: the history says so, and the bot, reading earlier texts back, answers only
    the question after."""
    app.extensions["parley"].sms_providers["console"] = KeywordAnsweringProvider(app.config)
    keyword = InboundMessage(from_phone=CONTACT, to_phone=BOT_NUMBER, body=body, intent=intent)
    inbound.receive(keyword, "console")
    conversation = conversation_of(text_in("When is the application deadline?"))
    assert [message.body for message in outbound(conversation)] == [DEADLINE_ANSWER]
    assert (conversation.mode, conversation.needs_attention) == ("bot", False)
    assert f"Console read this text as {word}." in events(conversation)


def test_the_bot_answers_every_question_of_a_conversation(client, bot_setup):
    knowledge_base.add_entry(bot_setup["office"], "campus tour", "Tours run daily at 10am.")
    db.session.commit()
    text_in("application deadline?")
    result = text_in("can i book a campus tour")
    bodies = [message.body for message in outbound(conversation_of(result))]
    assert bodies == [DEADLINE_ANSWER, "Tours run daily at 10am."]


def test_an_opted_out_contacts_question_goes_to_agents_since_the_bot_cannot_answer(client, bot_setup):
    """Nothing leaves for an opted-out phone, yet the contact asked something: as in an agent-mode
    conversation, people see it in Needs Attention (and may call, or wait for START)."""
    text_in("STOP")
    result = text_in("when is the application deadline")
    conversation = conversation_of(result)
    assert outbound(conversation) == []
    assert (conversation.mode, conversation.needs_attention) == ("agent", True)
    assert events(conversation) == [
        "Contact opted out; no more texts will be sent.",
        "The contact has opted out, so the bot could not answer; this needs an agent. "
        "Switched to agent mode.",
    ]
    login(client, "admin@example.edu")  # in the office inbox, not assigned to the bot's number
    assert f"/conversations/{conversation.id}" in client.get("/inbox?tab=attention").get_data(as_text=True)


def test_repeated_task_answers_once(client, bot_setup, app):
    result = text_in("application deadline")
    app.extensions["parley.tasks"].answer_with_bot(result.message_id)  # e.g. a retried task
    assert len(outbound(conversation_of(result))) == 1


# ---- "I don't know" ----


def test_unknown_question_escalates_by_default(client, bot_setup, app):
    result = text_in("Do you have a marching band?")
    conversation = conversation_of(result)
    assert outbound(conversation) == []
    assert conversation.mode == "agent"
    assert conversation.needs_attention is True
    assert any("did not know" in event for event in events(conversation))

    # Needs Attention for everyone it is visible to: the assigned agent and the inbox's members.
    for email in ("standard@example.edu", "limited@example.edu", "admin@example.edu"):
        agent = app.test_client()
        login(agent, email)
        assert f"/conversations/{conversation.id}" in agent.get("/inbox?tab=attention").get_data(
            as_text=True
        ), email
    page = conversation_page(agent, conversation)
    assert "1:1 Text (Agent)" in page
    assert "The bot did not know the answer" in page


def test_unknown_question_gets_the_custom_idk_message(client, bot_setup):
    idk = "Good question! A counselor will text you back within one business day."
    knowledge_base.set_idk(bot_setup["office"], "message", idk)
    db.session.commit()
    result = text_in("Do you have a marching band?")
    conversation = conversation_of(result)
    [answer] = outbound(conversation)
    assert answer.body == idk
    assert answer.author_kind == "bot"
    assert conversation.mode == "bot"
    assert conversation.needs_attention is False
    login(client, "standard@example.edu")
    assert f"/conversations/{conversation.id}" not in client.get("/inbox?tab=attention").get_data(
        as_text=True
    )


@pytest.mark.parametrize("body", ["Stop texting me about the application deadline", "Don’t text me again"])
def test_a_text_that_may_ask_to_stop_goes_to_an_agent_not_the_bot(client, bot_setup, body):
    """Not a keyword alone, so no opt-out; but no bot answers (even from a known entry, even with
    an I don't know message): an agent reads it and decides."""
    knowledge_base.set_idk(bot_setup["office"], "message", "We'll get back to you.")
    db.session.commit()
    conversation = conversation_of(text_in(body))
    assert outbound(conversation) == []
    assert (conversation.mode, conversation.needs_attention) == ("agent", True)
    assert any("seems to ask for no more texts" in event for event in events(conversation))
    assert not optouts.is_opted_out(CONTACT)


def test_a_question_with_stop_in_it_is_still_the_bots_to_answer(client, bot_setup):
    conversation = conversation_of(text_in("Can I stop by the office? When are applications due?"))
    [answer] = outbound(conversation)
    assert answer.body == DEADLINE_ANSWER and conversation.mode == "bot"


def test_switching_idk_back_to_escalate_escalates(client, bot_setup):
    knowledge_base.set_idk(bot_setup["office"], "message", "We'll get back to you.")
    knowledge_base.set_idk(bot_setup["office"], "escalate")
    db.session.commit()
    conversation = conversation_of(text_in("marching band?"))
    assert outbound(conversation) == []
    assert conversation.needs_attention is True


def test_after_escalation_the_contact_is_answered_by_people(client, bot_setup):
    conversation = conversation_of(text_in("marching band?"))
    assert conversation.mode == "agent"
    # Even a question the bot knows now waits for an agent: the conversation is in agent mode.
    conversation = conversation_of(text_in("application deadline"))
    assert outbound(conversation) == []
    assert conversation.needs_attention is True


@pytest.mark.parametrize(
    "body",
    ["", "x" * 2000, "When is the application deadline? " + "Also, " * 300],
    ids=["empty", "2000-chars-noise", "keyword-lost-in-long-text"],
)
def test_odd_texts_are_handed_to_an_agent_not_lost(client, bot_setup, body):
    result = inbound.receive(
        InboundMessage(
            from_phone=CONTACT, to_phone=BOT_NUMBER, body=body, media_urls=("https://x.test/a.jpg",)
        ),
        "console",
    )
    conversation = conversation_of(result)
    assert db.session.get(Message, result.message_id).body == body
    assert outbound(conversation) == []
    assert conversation.needs_attention is True
    login(client, "standard@example.edu")
    assert client.get(f"/conversations/{conversation.id}").status_code == 200


# ---- Keywords never reach the bot ----


@pytest.mark.parametrize("keyword", ["STOP", "stop", "Help", "INFO", "START"])
def test_keywords_in_a_bot_conversation_are_never_answered_by_the_bot(client, bot_setup, keyword):
    # A knowledge base that would answer the keyword if the bot were asked.
    knowledge_base.add_entry(bot_setup["office"], "stop\nhelp\ninfo\nstart", "BOT ANSWER")
    knowledge_base.set_idk(bot_setup["office"], "message", "BOT IDK")
    db.session.commit()
    conversation = conversation_of(text_in(keyword))
    messages = outbound(conversation)
    assert all(message.author_kind != "bot" for message in messages)
    assert conversation.mode == "bot"
    assert conversation.needs_attention is False
    if keyword.lower() in ("help", "info"):
        [help_reply] = messages
        assert help_reply.author_kind == "system"
    if keyword == "STOP" or keyword == "stop":
        assert db.session.get(OptOut, CONTACT) is not None


# ---- A broken or slow bot hands the conversation to agents ----


class RaisingBot(Bot):
    def reply(self, context, inbound):
        raise RuntimeError("the knowledge service is down")


class SlowBot(Bot):
    def __init__(self, config) -> None:
        super().__init__(config)
        self.release = threading.Event()

    def reply(self, context, inbound):
        self.release.wait(10)
        return BotReply(text="Too late to be sent")


class WrongTypeBot(Bot):
    def reply(self, context, inbound):
        return "not a BotReply"


class EscalatingBot(Bot):
    def reply(self, context, inbound):
        return BotReply(escalate=True)


def _install(app, bot: Bot) -> Bot:
    bot.name = "kb"
    app.extensions["parley"].bots["kb"] = bot
    return bot


class BlankBot(Bot):
    def reply(self, context, inbound):
        return BotReply(text="\u3164 \u200b")  # a Hangul filler and a zero-width space: nothing shows


def test_a_bot_answer_that_shows_nothing_is_not_sent_and_counts_as_not_knowing(client, bot_setup, app):
    _install(app, BlankBot(app.config))
    conversation = conversation_of(text_in("application deadline"))
    assert outbound(conversation) == []
    assert conversation.mode == "agent" and conversation.needs_attention is True
    assert any("did not know" in event for event in events(conversation))


def test_a_raising_bot_escalates_and_nothing_is_lost(client, bot_setup, app):
    _install(app, RaisingBot(app.config))
    result = text_in("application deadline")
    conversation = conversation_of(result)
    assert db.session.get(Message, result.message_id).body == "application deadline"
    assert outbound(conversation) == []
    assert conversation.mode == "agent"
    assert conversation.needs_attention is True
    assert any("The bot failed to answer" in event for event in events(conversation))
    login(client, "standard@example.edu")
    page = conversation_page(client, conversation)
    assert "application deadline" in page
    assert "The bot failed to answer" in page
    assert "knowledge service is down" not in page  # no internals shown to users


def test_a_slow_bot_escalates_after_its_deadline(client, bot_setup, app):
    app.config["BOT_TIMEOUT_SECONDS"] = 0.3
    slow = _install(app, SlowBot(app.config))
    try:
        result = text_in("application deadline")
        conversation = conversation_of(result)
        assert conversation.mode == "agent"
        assert conversation.needs_attention is True
        assert any("did not answer within 0.3 seconds" in event for event in events(conversation))
    finally:
        slow.release.set()
    assert outbound(conversation) == []  # its late answer is dropped


def test_a_bot_returning_garbage_escalates(client, bot_setup, app):
    _install(app, WrongTypeBot(app.config))
    conversation = conversation_of(text_in("application deadline"))
    assert conversation.needs_attention is True


def test_a_bot_may_escalate_itself(client, bot_setup, app):
    _install(app, EscalatingBot(app.config))
    conversation = conversation_of(text_in("I want to talk to a person"))
    assert conversation.mode == "agent"
    assert conversation.needs_attention is True
    assert any("handed this conversation to an agent" in event for event in events(conversation))


def test_no_enabled_bot_escalates(client, bot_setup, app):
    app.extensions["parley"].bots.clear()
    conversation = conversation_of(text_in("application deadline"))
    assert conversation.needs_attention is True
    assert any("No bot is enabled" in event for event in events(conversation))


def test_a_failing_queue_escalates_at_once(client, bot_setup, app, monkeypatch):
    tasks = app.extensions["parley.tasks"]

    def broken(message_id):
        raise ConnectionError("queue unavailable")

    monkeypatch.setitem(app.extensions, "parley.tasks", replace(tasks, answer_with_bot=broken))
    result = text_in("application deadline")
    conversation = conversation_of(result)
    assert conversation.needs_attention is True
    assert conversation.mode == "agent"


def test_a_bot_is_not_asked_when_the_conversation_is_in_agent_mode(client, bot_setup, app):
    _install(app, RaisingBot(app.config))
    conversation = conversation_of(text_in("hello", to="+12025550100"))  # the agent-backed number
    assert conversation.mode == "agent"
    assert not any("bot" in event.lower() for event in events(conversation))


# ---- The sweep asks again when a bot's answer was lost ----


@pytest.fixture
def lost_answers(app, monkeypatch):
    """The bot's tasks are accepted by the queue and then lost (a worker died while the bot was
    thinking). Restore `app.extensions["parley.tasks"]` to bring the worker back."""
    tasks = app.extensions["parley.tasks"]
    lost: list[int] = []
    monkeypatch.setitem(app.extensions, "parley.tasks", replace(tasks, answer_with_bot=lost.append))
    return tasks


def test_questions_the_bot_had_not_answered_wait_for_people_after_switch_mode(
    client, bot_setup, lost_answers
):
    """Switch Mode while the bot thinks about one text and another waits its turn: their answers
    will not come, so the conversation needs attention (one the bot answered does not: see
    test_switch_mode_both_ways_is_recorded_with_who)."""
    first = text_in("application deadline?")  # the bot's tasks are under way (lost here)
    text_in("and the fees?")
    login(client, "standard@example.edu")
    switch(client, conversation_of(first))
    conversation = conversation_of(first)
    assert (conversation.mode, conversation.needs_attention) == ("agent", True)
    bots._apply(first.conversation_id, first.message_id, BotReply(text=DEADLINE_ANSWER), None)
    assert outbound(conversation_of(first)) == []  # its answer comes too late: dropped


def received_ago(result, minutes: float) -> None:
    """Move a received text back in time."""
    moment = utcnow() - timedelta(minutes=minutes)
    db.session.execute(
        update(Message)
        .where(Message.id == result.message_id)
        .values(created_at=moment, updated_at=moment)
    )
    db.session.commit()


def test_the_sweep_asks_the_bot_again_when_its_answer_was_lost(client, bot_setup, app, lost_answers):
    result = text_in("When is the application deadline?")
    conversation = conversation_of(result)
    assert outbound(conversation) == []
    assert bots.sweep_unanswered() == []  # the bot may still be thinking: too soon to ask again

    received_ago(result, 2)
    app.extensions["parley.tasks"] = lost_answers  # the worker is back
    lost_answers.sweep_stuck_messages()
    conversation = conversation_of(result)
    [answer] = outbound(conversation)
    assert (answer.body, answer.author_kind, answer.status) == (DEADLINE_ANSWER, "bot", "sent")
    assert conversation.mode == "bot"
    assert conversation.needs_attention is False
    # Answered: later sweeps leave it alone.
    lost_answers.sweep_stuck_messages()
    assert len(outbound(conversation_of(result))) == 1


def test_a_forms_key_never_stands_for_the_bots_answer(client, bot_setup, app, lost_answers):
    """An agent who types the key Parley keeps for the bot's answer to a text into a form (the
    form's key is the agent's own) does not answer that text in the bot's stead."""
    result = text_in("When is the application deadline?")
    login(client, "standard@example.edu")
    planted = client.post("/texts/new", data={
        "csrf_token": csrf_token(client, "/texts/new"), "number_id": bot_setup["number"].id,
        "to": "2025550178", "body": "Planted", "idempotency_key": f"bot-answer-{result.message_id}",
    })  # fmt: skip
    assert planted.status_code == 303, planted.get_data(as_text=True)

    received_ago(result, 2)
    app.extensions["parley.tasks"] = lost_answers  # the worker is back
    lost_answers.sweep_stuck_messages()
    [answer] = outbound(conversation_of(result))
    assert (answer.body, answer.author_kind, answer.status) == (DEADLINE_ANSWER, "bot", "sent")


def test_a_reply_the_bot_never_answers_goes_to_agents(client, bot_setup, app, lost_answers):
    app.config["BOT_ESCALATE_AFTER_SECONDS"] = 300
    result = text_in("When is the application deadline?")
    received_ago(result, 4)
    assert bots.sweep_unanswered() == [result.message_id]  # asked again, and lost again
    conversation = conversation_of(result)
    assert (conversation.mode, conversation.needs_attention) == ("bot", False)

    received_ago(result, 6)
    assert bots.sweep_unanswered() == []
    conversation = conversation_of(result)
    assert (conversation.mode, conversation.needs_attention) == ("agent", True)
    notice = "The bot has not answered the last reply, so this needs an agent. Switched to agent mode."
    assert events(conversation) == [notice]
    assert outbound(conversation) == []
    login(client, "standard@example.edu")
    assert f"/conversations/{conversation.id}" in client.get("/inbox?tab=attention").get_data(as_text=True)
    bots.sweep_unanswered()
    assert events(conversation_of(result)) == [notice]  # handed over once


def test_the_sweep_leaves_alone_what_the_bot_must_not_answer(client, bot_setup, app, lost_answers):
    owed = text_in("When is the application deadline?", phone="+12025550150")
    keyword = text_in("START", phone="+12025550151")  # an opt-in that changed nothing: no reply
    text_in("STOP", phone="+12025550152")
    opted_out = text_in("When is the application deadline?", phone="+12025550152")
    taken_over = text_in("Can someone call me?", phone="+12025550153")
    login(client, "standard@example.edu")
    # An agent took over (the unanswered text then waits for people), dismissed it and gave it
    # back: the switches came after the text.
    switch(client, conversation_of(taken_over))
    assert (conversation_of(taken_over).mode, conversation_of(taken_over).needs_attention) == ("agent", True)
    token = csrf_token(client, f"/conversations/{taken_over.conversation_id}")
    client.post(f"/conversations/{taken_over.conversation_id}/attention", data={"csrf_token": token})
    switch(client, conversation_of(taken_over))
    assert conversation_of(taken_over).mode == "bot"
    too_old = text_in("Is the campus open on Sundays?", phone="+12025550154")
    for result in (owed, keyword, opted_out, taken_over):
        received_ago(result, 2)
    received_ago(too_old, 60 * 25)
    assert bots.sweep_unanswered() == [owed.message_id]
    assert bots.sweep_unanswered() == [owed.message_id]  # still owed until it is answered


# ---- Answers keep the order of the texts they answer ----


class FirstTextSlowBot(Bot):
    """Answers every text by name; its answer to "first" waits until the test releases it."""

    def __init__(self, config) -> None:
        super().__init__(config)
        self.thinking = threading.Event()
        self.release = threading.Event()

    def reply(self, context, inbound):
        if inbound.body == "first":
            self.thinking.set()
            self.release.wait(10)
        return BotReply(text=f"About {inbound.body}: yes.")


def in_worker_thread(app, message_id: int) -> threading.Thread:
    """One of the worker's threads running the bot task of a text."""

    def work() -> None:
        with app.app_context():
            bots.answer(message_id)

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def run_tasks_put_off(app) -> int:
    """What the worker's scheduler does once their delay has passed: run the tasks put off for
    later. Returns how many ran."""
    huey = app.extensions["parley.huey"]
    later = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)  # Huey's naive UTC
    tasks = huey.read_schedule(later)
    for task in tasks:
        huey.execute(task, later)
    return len(tasks)


def test_answers_to_two_quick_texts_come_in_the_order_of_the_texts(client, bot_setup, app, lost_answers):
    bot = _install(app, FirstTextSlowBot(app.config))
    # Two texts in quick succession: both queued before a worker thread takes either.
    first, second = text_in("first"), text_in("second")
    app.extensions["parley.tasks"] = lost_answers  # the worker starts: two threads take them
    db.session.commit()
    slow = in_worker_thread(app, first.message_id)
    try:
        assert bot.thinking.wait(5)
        # The second text's thread runs while the bot still thinks about the first.
        in_worker_thread(app, second.message_id).join(10)
    finally:
        bot.release.set()
        slow.join(10)
    for _ in range(3):  # whatever was put off meanwhile, as the worker's scheduler would
        run_tasks_put_off(app)
    answers = outbound(conversation_of(second))
    # The thread shows messages in the order they were stored.
    assert [answer.body for answer in answers] == ["About first: yes.", "About second: yes."]


def test_a_text_whose_answer_was_lost_is_answered_before_the_next(client, bot_setup, app, lost_answers):
    knowledge_base.add_entry(bot_setup["office"], "campus tour", "Tours run daily at 10am.")
    db.session.commit()
    first = text_in("When is the application deadline?")  # its task is lost (a worker died)
    received_ago(first, 2)
    app.extensions["parley.tasks"] = lost_answers  # the worker is back
    second = text_in("can i book a campus tour")
    bodies = [answer.body for answer in outbound(conversation_of(second))]
    assert bodies == [DEADLINE_ANSWER, "Tours run daily at 10am."]


# ---- Switch Mode ----


def switch(client, conversation: Conversation, htmx: bool = False):
    token = csrf_token(client, f"/conversations/{conversation.id}")
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(
        f"/conversations/{conversation.id}/mode", data={"csrf_token": token}, headers=headers
    )


def test_switch_mode_both_ways_is_recorded_with_who(client, bot_setup):
    conversation = conversation_of(text_in("application deadline"))
    assert conversation.mode == "bot"
    login(client, "standard@example.edu")

    page = switch(client, conversation).get_data(as_text=True)
    assert "1:1 Text (Agent)" in page
    assert "Sam Standard switched this conversation to agent mode" in page
    conversation = conversation_of(conversation)
    assert (conversation.mode, conversation.needs_attention) == ("agent", False)  # the bot answered
    # In agent mode a contact's question waits for an agent; the bot stays quiet.
    conversation = conversation_of(text_in("application deadline"))
    assert len(outbound(conversation)) == 1
    assert conversation.needs_attention is True

    # Refused while it needs attention…
    response = switch(client, conversation)
    assert response.status_code == 409
    assert "needs attention" in response.get_data(as_text=True)
    assert conversation_of(conversation).mode == "agent"

    # …allowed once it is cleared; back to bot mode, and the bot answers again.
    token = csrf_token(client, f"/conversations/{conversation.id}")
    client.post(f"/conversations/{conversation.id}/attention", data={"csrf_token": token})
    page = switch(client, conversation, htmx=True).get_data(as_text=True)
    assert "1:1 Text (Bot)" in page
    assert "Sam Standard switched this conversation to bot mode" in page
    conversation = conversation_of(text_in("when are applications due"))
    assert conversation.mode == "bot"
    assert [message.body for message in outbound(conversation)] == [DEADLINE_ANSWER] * 2
    assert conversation.needs_attention is False


def test_switch_mode_refusal_is_shown_in_place_for_htmx(client, bot_setup):
    conversation = conversation_of(text_in("marching band?"))  # escalated: needs attention
    login(client, "standard@example.edu")
    response = switch(client, conversation, htmx=True)
    assert response.status_code == 200  # htmx swaps only 2xx: the error shows in the pane
    body = response.get_data(as_text=True)
    assert 'role="alert" tabindex="-1" autofocus' in body  # focus goes to the refusal
    assert "before switching mode" in body
    assert conversation_of(conversation).mode == "agent"


def test_mode_is_shown_in_the_list(client, bot_setup):
    bot_conversation = conversation_of(text_in("application deadline"))
    login(client, "standard@example.edu")
    page = client.get("/inbox?tab=participating").get_data(as_text=True)
    assert f"/conversations/{bot_conversation.id}" in page
    assert '<span class="tag tag-mode">Bot</span>' in page
