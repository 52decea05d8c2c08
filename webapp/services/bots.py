"""Bots answer bot-mode conversations.

The inbound pipeline stores a contact's message and queues `answer_with_bot`; the worker runs the
enabled bot with a deadline, then sends its answer (the normal queue, opt-out check and delivery
statuses, authored "Bot"), applies the office's "I don't know" setting, or hands the conversation to
agents. A bot that raises or runs late also hands it to agents: the contact's message is already
stored, so nothing is lost.

If several bots are enabled (config BOTS), the first one answers every bot-mode conversation.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, exists, func, select
from sqlalchemy.orm import aliased

from webapp import queue
from webapp.extensions import db
from webapp.models import (
    TEXT_DIRECTIONS,
    AuthorKind,
    Conversation,
    Direction,
    IdkAction,
    KnowledgeBaseEntry,
    Message,
    Mode,
    Office,
    OptOut,
    Status,
    utcnow,
)
from webapp.plugin_api import Bot, BotContext, BotReply, InboundMessage
from webapp.services import conversations, optouts
from webapp.services.dbutil import ByValues, written_limit
from webapp.services.segments import MAX_MESSAGE_LENGTH, shows_nothing

log = logging.getLogger(__name__)

HISTORY_LENGTH = 10  # messages of context a bot gets


class BotTimeout(Exception):
    """The bot did not answer within BOT_TIMEOUT_SECONDS."""


def active_bot() -> Bot | None:
    """The bot answering bot-mode conversations: the first enabled one."""
    bots = current_app.extensions["parley"].bots
    return next(iter(bots.values()), None)


def confidence_threshold() -> float | None:
    """The confidence the active bot needs to answer, if it says (the knowledge-base bot does)."""
    threshold = getattr(active_bot(), "threshold", None)
    return float(threshold) if isinstance(threshold, int | float) else None


def timeout_seconds() -> float:
    return float(current_app.config.get("BOT_TIMEOUT_SECONDS", 5.0))


def schedule_answer(message_id: int) -> None:
    """Queue the bot's answer to a committed inbound message. Call with no open transaction."""
    try:
        queue.enqueue_bot_answer(message_id)
    except Exception:  # the queue is down: people answer instead, now
        log.exception("could not queue the bot's answer to message %s", message_id)
        message = db.session.get(Message, message_id)
        if message is not None and message.conversation.mode == Mode.BOT:
            conversations.escalate(
                message.conversation, "The bot could not be reached, so this needs an agent."
            )
        db.session.commit()


def answer(message_id: int) -> None:
    """Worker side: let the bot answer an inbound message of a bot-mode conversation, in its turn.

    The worker's threads may take two quick texts of one conversation at once; answers keep the
    order of the texts all the same. While an earlier text still waits for its answer, this one
    is put off and asked again TURN_WAIT_SECONDS later. An earlier text that has waited longer
    than the sweep's delay lost its task (a worker died): it is answered here, first.
    """
    message = db.session.get(Message, message_id)
    if not _owed_an_answer(message):
        db.session.rollback()
        return
    conversation = message.conversation
    earlier = _earlier_unanswered(conversation.id, message_id)
    if earlier and optouts.is_opted_out(conversation.contact_phone):
        earlier = []  # nothing is sent to an opted-out contact: no order to keep
    lost_before = utcnow() - timedelta(seconds=current_app.config["SWEEP_QUEUED_AFTER_SECONDS"])
    if any(received_at >= lost_before for _id, received_at in earlier):
        db.session.commit()
        try:
            queue.enqueue_bot_answer(message_id, delay=TURN_WAIT_SECONDS)
        except Exception:  # the queue is down: the sweep, or the next text's task, asks again
            log.warning("could not put off the bot's answer to message %s", message_id, exc_info=True)
        return
    db.session.commit()
    for earlier_id, _received_at in earlier:
        _answer_one(earlier_id)
    _answer_one(message_id)


def _answer_one(message_id: int) -> None:
    """Let the bot answer one inbound message of a bot-mode conversation, now."""
    message = db.session.get(Message, message_id)
    if not _owed_an_answer(message):
        db.session.rollback()  # an agent took over meanwhile, or this task ran before
        return
    conversation = message.conversation
    number = conversation.number
    context = BotContext(
        conversation_id=conversation.id,
        office_id=number.office_id,
        contact_phone=conversation.contact_phone,
        history=_history(conversation.id, message_id),
    )
    inbound = InboundMessage(
        from_phone=conversation.contact_phone,
        to_phone=number.phone,
        body=message.body,
        provider_message_id=message.provider_message_id,
        media_urls=tuple(message.media_urls or ()),
    )
    conversation_id = conversation.id
    db.session.commit()  # hold no transaction (on SQLite: no lock) while the bot thinks

    bot = active_bot()
    reply: BotReply | None = None
    failure = None
    if optouts.may_ask_to_stop(inbound.body):
        failure = "The contact seems to ask for no more texts, so no bot answers: this needs an agent."
    elif bot is None:
        failure = "No bot is enabled to answer this number, so this needs an agent."
    else:
        try:
            reply = run_bot(bot, context, inbound)
        except BotTimeout:
            log.warning("bot %s did not answer message %s in time", bot.name, message_id)
            failure = (
                f"The bot did not answer within {timeout_seconds():g} seconds, "
                "so this needs an agent."
            )
        except Exception:
            log.exception("bot %s failed on message %s", bot.name, message_id)
            failure = "The bot failed to answer, so this needs an agent."
    _apply(conversation_id, message_id, reply, failure)


def run_bot(bot: Bot, context: BotContext, inbound: InboundMessage) -> BotReply:
    """The bot's reply, within the deadline; raises BotTimeout or whatever the bot raised.

    The bot runs in its own thread with its own app context (and database session); a late bot is
    left to finish on its own and its answer is dropped.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    outcome: dict[str, object] = {}
    done = threading.Event()

    def call() -> None:
        with app.app_context():
            try:
                outcome["reply"] = bot.reply(context, inbound)
            except BaseException as exc:  # handed to the caller, who decides
                outcome["error"] = exc
            finally:
                db.session.remove()
                done.set()

    threading.Thread(target=call, name=f"parley-bot-{bot.name}", daemon=True).start()
    if not done.wait(timeout_seconds()):
        raise BotTimeout()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    reply = outcome.get("reply")
    if not isinstance(reply, BotReply):
        raise TypeError(f"bot {bot.name!r} returned {type(reply).__name__}, not a BotReply")
    return reply


def _apply(
    conversation_id: int, message_id: int, reply: BotReply | None, failure: str | None
) -> None:
    conversation = db.session.get(
        Conversation, conversation_id, with_for_update=True, populate_existing=True
    )
    if conversation is None or conversation.mode != Mode.BOT:
        # Switched to agent mode while the bot was thinking: Switch Mode gave the question to people.
        db.session.rollback()
        return
    key = _answer_key(message_id)
    if failure is None and reply is not None:
        text = (reply.text or "").strip()
        if reply.escalate:
            failure = "The bot handed this conversation to an agent."
        elif len(text) > MAX_MESSAGE_LENGTH:
            failure = "The bot's answer was too long to send, so this needs an agent."
        elif not shows_nothing(text):
            _send(conversation, text, key)
            return
        else:
            office = db.session.get(Office, conversation.number.office_id)
            if office.idk_action == IdkAction.MESSAGE and not shows_nothing(office.idk_message):
                _send(conversation, office.idk_message, key)
                return
            failure = "The bot did not know the answer, so this needs an agent."
    conversations.escalate(conversation, failure or "This needs an agent.")
    db.session.commit()


def _send(conversation: Conversation, text: str, key: str) -> None:
    """Through the agents' pipeline: queued, opt-out checked, delivery statuses; authored Bot."""
    from webapp.services.sending import send_automatic

    if send_automatic(conversation, text, AuthorKind.BOT, idempotency_key=key) is None:
        # Opted out: no answer can go, yet the contact asked something; people decide what to do.
        conversations.escalate(
            conversation, "The contact has opted out, so the bot could not answer; this needs an agent."
        )
    db.session.commit()


def _answer_key(message_id: int) -> str:
    """One bot answer per inbound message, enforced by the unique idempotency key."""
    return f"bot-answer-{message_id}"


def _owed_an_answer(message: Message | None) -> bool:
    """Is this a contact's text of a bot-mode conversation that the bot has not answered yet?"""
    if message is None or message.direction != Direction.INBOUND:
        return False
    return message.conversation.mode == Mode.BOT and not _already_answered(message.id)


def _already_answered(message_id: int) -> bool:
    return (
        db.session.scalar(
            select(Message.id).where(Message.idempotency_key == _answer_key(message_id))
        )
        is not None
    )


# ---- Turns: answers in the order of the texts ----

# How long an answer waits before looking again whether the earlier texts have theirs.
TURN_WAIT_SECONDS = 1.0
# How many messages before a text are looked at for earlier texts still waiting: more than a
# contact types before the bot has answered the first.
TURN_LOOKBACK = 20

_messages = Message.__table__.c
# Built once: every bot task asks.
MESSAGES_BEFORE = (
    select(_messages.id, _messages.direction, _messages.keyword, _messages.created_at)
    .where(
        _messages.conversation_id == bindparam("conversation_id"),
        _messages.id < bindparam("message_id"),
    )
    .order_by(_messages.id.desc())
    .limit(written_limit(TURN_LOOKBACK))
)
ANSWERED = ByValues(
    "keys",
    lambda key_in: select(_messages.idempotency_key).where(key_in(_messages.idempotency_key)),
)


def _earlier_unanswered(conversation_id: int, message_id: int) -> list[tuple[int, datetime]]:
    """The contact's texts before `message_id` that the bot has yet to answer, oldest first, with
    when they came in. Only those since the conversation's last event count: texts before a mode
    switch, an escalation or an opt-out are not the bot's to answer. Keywords never are."""
    texts = []
    rows = db.session.execute(
        MESSAGES_BEFORE, {"conversation_id": conversation_id, "message_id": message_id}
    )
    for earlier_id, direction, keyword, received_at in rows:
        if direction == Direction.EVENT:
            break
        if direction == Direction.INBOUND and keyword is None:
            texts.append((earlier_id, received_at))
    if not texts:
        return []
    answered = set(ANSWERED.run(_answer_key(earlier_id) for earlier_id, _ in texts).scalars())
    return [text for text in reversed(texts) if _answer_key(text[0]) not in answered]


# ---- The sweep: replies whose answer was lost ----

# How far back the sweep looks: a worker that died is restarted long before (and a day of replies
# is a short index range).
SWEEP_LOOKBACK = timedelta(days=1)

_later = aliased(Message)
# Built once: the sweep runs every minute. A reply is owed an answer while it is the last message
# of a bot-mode conversation: the bot's answer, an escalation, a keyword's event or reply, a mode
# switch and an agent's text all come after it.
OWED_ANSWERS = (
    select(Message.id, Message.conversation_id, Message.created_at)
    .join(Conversation, Conversation.id == Message.conversation_id)
    .where(
        Message.status == Status.RECEIVED.value,
        Message.keyword.is_(None),  # Parley answers keywords itself, never the bot
        Message.updated_at >= bindparam("since"),
        Message.updated_at < bindparam("before"),
        Conversation.mode == Mode.BOT.value,
        ~exists().where(_later.conversation_id == Message.conversation_id, _later.id > Message.id),
        ~exists().where(OptOut.phone == Conversation.contact_phone),
    )
    .order_by(Message.id)
    .limit(500)
)


def sweep_unanswered() -> list[int]:
    """Replies of bot-mode conversations that the bot never answered: its task was lost (a worker
    died while the bot was thinking, or a queue without persistence restarted).

    Replies waiting longer than BOT_ESCALATE_AFTER_SECONDS are handed to agents here. The others,
    waiting longer than SWEEP_QUEUED_AFTER_SECONDS, are returned: the caller asks the bot again,
    which is safe to repeat (`answer` checks the mode, and the answer key lets one answer through).
    Keywords are skipped (Parley answers them, never the bot), and so are opted-out contacts.
    """
    config = current_app.config
    now = utcnow()
    rows = db.session.execute(
        OWED_ANSWERS,
        {
            "since": now - SWEEP_LOOKBACK,
            "before": now - timedelta(seconds=config["SWEEP_QUEUED_AFTER_SECONDS"]),
        },
    ).all()
    give_up = now - timedelta(seconds=config["BOT_ESCALATE_AFTER_SECONDS"])
    ask_again = []
    for message_id, conversation_id, received_at in rows:
        if received_at < give_up:
            _escalate_unanswered(conversation_id, message_id)
        else:
            ask_again.append(message_id)
    db.session.commit()
    return ask_again


def _escalate_unanswered(conversation_id: int, message_id: int) -> None:
    conversation = db.session.get(
        Conversation, conversation_id, with_for_update=True, populate_existing=True
    )
    last = db.session.scalar(
        select(func.max(Message.id)).where(Message.conversation_id == conversation_id)
    )
    # Checked again under the lock: an answer may have come in since the sweep looked.
    if conversation.mode == Mode.BOT and last == message_id:
        conversations.escalate(
            conversation, "The bot has not answered the last reply, so this needs an agent."
        )


def _history(conversation_id: int, up_to_message_id: int) -> tuple[str, ...]:
    rows = db.session.execute(
        select(Message.direction, Message.author_kind, Message.body)
        .where(
            Message.conversation_id == conversation_id,
            Message.id <= up_to_message_id,
            Message.direction.in_(TEXT_DIRECTIONS),  # not events, never agents' notes
        )
        .order_by(Message.id.desc())
        .limit(HISTORY_LENGTH)
    ).all()
    return tuple(f"{author}: {body}" for _direction, author, body in reversed(rows))


# ---- The admin's "try a question" box ----


@dataclass(frozen=True)
class Trial:
    """What would happen if a contact sent `question` to one of the office's bot-backed numbers."""

    question: str
    outcome: str  # answer, idk_message, escalate, keyword, stop_request, no_bot, error
    reply: BotReply | None = None
    entry: KnowledgeBaseEntry | None = None  # the entry the answer (or the closest miss) came from
    text: str = ""  # what the contact would get
    detail: str = ""


# What Parley does with a keyword, which never reaches the bot.
KEYWORD_TRIALS = {
    optouts.Intent.OPT_OUT: "This is an opt-out keyword: Parley opts the contact out, sends nothing more, "
    "and the bot does not answer.",
    optouts.Intent.OPT_IN: "This is an opt-in keyword: Parley lets the contact be texted again, and the "
    "bot does not answer.",
    optouts.Intent.HELP: "This is a HELP keyword: the office's HELP reply answers it (Parley sends it, "
    "or the provider itself on numbers whose provider answers keywords), and the bot does not answer.",
}

STOP_REQUEST_TRIAL = (
    "It asks for no more texts in other words than a keyword (stop texting me, unsubscribe…): no bot "
    "answers it, and the conversation goes to an agent (Needs Attention), who can ask the contact to "
    "reply STOP or have an administrator add the opt-out."
)


def trial(office: Office, question: str) -> Trial:
    """Ask the active bot, without sending anything (a keyword is Parley's to answer, as when it
    comes in). Ends the caller's transaction first."""
    office_id, idk_action, idk_message = office.id, office.idk_action, office.idk_message
    db.session.commit()  # the bot reads in its own session; on SQLite it must not wait for ours
    intent = optouts.keyword_intent(question)
    if intent is not None:
        return Trial(question, "keyword", detail=KEYWORD_TRIALS[intent])
    if optouts.may_ask_to_stop(question):
        return Trial(question, "stop_request", detail=STOP_REQUEST_TRIAL)
    bot = active_bot()
    if bot is None:
        return Trial(question, "no_bot", detail="No bot is enabled (PARLEY_BOTS).")
    context = BotContext(conversation_id=None, office_id=office_id, contact_phone="")
    try:
        reply = run_bot(bot, context, InboundMessage(from_phone="", to_phone="", body=question))
    except BotTimeout:
        return Trial(
            question,
            "error",
            detail=f"The bot did not answer within {timeout_seconds():g} seconds.",
        )
    except Exception as exc:
        log.exception("bot %s failed on a trial question", bot.name)
        return Trial(question, "error", detail=f"The bot failed: {type(exc).__name__}.")
    entry = None
    if reply.source_id is not None:
        entry = db.session.scalar(
            select(KnowledgeBaseEntry).where(
                KnowledgeBaseEntry.id == reply.source_id, KnowledgeBaseEntry.office_id == office_id
            )
        )
    text = (reply.text or "").strip()
    if reply.escalate:
        return Trial(question, "escalate", reply, entry)
    if text:
        return Trial(question, "answer", reply, entry, text=text)
    if idk_action == IdkAction.MESSAGE and idk_message.strip():
        return Trial(question, "idk_message", reply, entry, text=idk_message)
    return Trial(question, "escalate", reply, entry)
