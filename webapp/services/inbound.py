"""The inbound pipeline: every incoming text, from a provider webhook or `sms receive`, ends here."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from sqlalchemy import bindparam, select

from webapp import queue
from webapp.extensions import db
from webapp.models import (
    AuthorKind,
    Conversation,
    Direction,
    Message,
    Mode,
    Office,
    ReusableNumber,
    Status,
    utcnow,
)
from webapp.plugin_api import InboundMessage
from webapp.services import conversations, optouts, webhooks
from webapp.services.conversations import NUMBER_REF_COLUMNS, NumberRef
from webapp.services.dbutil import dialect_insert
from webapp.services.phones import PhoneError, normalise_provider_phone

log = logging.getLogger(__name__)

# An office without a HELP reply of its own still says who is texting (carriers ask for it).
DEFAULT_HELP_TEXT = "{office}: Reply STOP to stop receiving texts from us, START to receive them again."


class InboundError(ValueError):
    """An inbound message Parley cannot take (e.g. to a number it does not have)."""


@dataclass(frozen=True)
class Received:
    conversation_id: int
    message_id: int
    duplicate: bool = False


class Arrival(NamedTuple):
    """An inbound text made ready to store, by reads and checks alone: the number it came to,
    whether that number's office has webhook endpoints to tell, and the sender's phone."""

    message: InboundMessage
    number: NumberRef
    office_listens: bool
    contact_phone: str
    intent: optouts.Intent | None


# Built once: every inbound message asks, before its transaction writes (it holds SQLite's write
# lock for the writes alone).
_numbers = ReusableNumber.__table__.c
NUMBER_BY_PHONE = select(
    *NUMBER_REF_COLUMNS, webhooks.office_listens(_numbers.office_id), _numbers.active
).where(_numbers.phone == bindparam("phone"))


@lru_cache(maxsize=2)
def _insert_message_statement(dialect: str):
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: the provider's message id dedupes.

    Built once per database: every inbound message runs it."""
    insert = dialect_insert(dialect)
    return (
        insert(Message.__table__)
        .values(
            conversation_id=bindparam("conversation_id"),
            direction=Direction.INBOUND.value,
            body=bindparam("body"),
            keyword=bindparam("keyword"),
            media_urls=bindparam("media_urls"),
            author_kind=AuthorKind.CONTACT.value,
            status=Status.RECEIVED.value,
            provider=bindparam("provider"),
            provider_message_id=bindparam("provider_message_id"),
            attempts=0,  # every column given: no default computed in Python
            created_at=bindparam("now"),
            updated_at=bindparam("now"),
        )
        .on_conflict_do_nothing(index_elements=["provider", "provider_message_id"])
        .returning(Message.id)
    )


def receive(inbound: InboundMessage, provider: str) -> Received:
    """Store an inbound message once and route it (needs attention, opt-outs, HELP).

    Idempotent on (provider, provider message id): a repeated delivery changes nothing. To any
    number, whatever its provider: `sms receive` stands in for every provider's webhook.
    """
    return store(prepare(inbound, provider=None), provider)


def prepare(inbound: InboundMessage, provider: str | None = None) -> Arrival:
    """Everything `store` needs that takes reads alone: the active reusable number the message was
    sent to (InboundError if there is none; a deactivated one takes an opt-out) and its sender's
    phone (PhoneError if malformed). A provider's webhook (`provider`) is for its own numbers:
    other texts to a number Parley sends through another provider are refused (InboundError)."""
    number_phone = normalise_provider_phone(inbound.to_phone)
    row = db.session.execute(NUMBER_BY_PHONE, {"phone": number_phone}).first()
    intent = _intent(inbound)
    # A deactivated number, or one moved to another provider, takes an opt-out and an opt-in
    # still: a contact's STOP is never lost, nor the START that lifts it (the opt-out holds for
    # every office's number).
    keyword = intent in (optouts.Intent.OPT_OUT, optouts.Intent.OPT_IN)
    if row is None or not (row.active or keyword):
        raise InboundError(f"{number_phone} is not an active reusable number")
    *columns, office_listens, _active = row
    number = NumberRef(*columns)
    if provider is not None and number.provider != provider and not keyword:
        raise InboundError(f"{number_phone} sends through {number.provider} here, not {provider}")
    contact_phone = normalise_provider_phone(inbound.from_phone)
    if contact_phone == number_phone:  # no conversation of a number with itself (nor replies to it)
        raise PhoneError(f"{contact_phone} is the number the message was sent to, not a contact")
    return Arrival(inbound, number, bool(office_listens), contact_phone, intent)


def store(arrival: Arrival, provider: str) -> Received:
    """`receive`, for a message made ready by `prepare`: its writes, in the caller's transaction,
    committed here."""
    inbound, number, intent = arrival.message, arrival.number, arrival.intent
    # Sources without their own ids (the console) get one, so every message has a key.
    provider_message_id = inbound.provider_message_id or f"local-{uuid.uuid4()}"
    now = utcnow()
    # The office's CRM hears when a conversation starts needing attention, not of every text
    # while it does (those are message.received).
    needed_attention = (
        arrival.office_listens
        and intent is None
        and conversations.needs_attention_locked(number.id, arrival.contact_phone)
    )
    # A reply routed to people needs attention (in agent mode); keywords are Parley's to answer.
    activity = conversations.record_activity(
        number,
        arrival.contact_phone,
        conversations.preview_of(inbound.body, bool(inbound.media_urls)),
        now,
        inbound=True,
        raise_attention=intent is None,
    )
    message_id = db.session.execute(
        _insert_message_statement(db.session.get_bind().dialect.name),
        {
            "conversation_id": activity.conversation_id,
            "body": inbound.body,
            "keyword": intent.value if intent else None,
            "media_urls": list(inbound.media_urls),
            "provider": provider,
            "provider_message_id": provider_message_id,
            "now": now,
        },
    ).scalar()
    if message_id is None:
        db.session.rollback()  # a repeated delivery: undo moving the conversation up
        existing = db.session.scalars(
            select(Message).where(
                Message.provider == provider,
                Message.provider_message_id == provider_message_id,
            )
        ).one()
        return Received(existing.conversation_id, existing.id, duplicate=True)

    conversation_id = activity.conversation_id
    if arrival.office_listens:
        webhooks.message_event(message_id, "message.received", number.office_id)
        if intent is None and activity.mode == Mode.AGENT and not needed_attention:
            webhooks.conversation_event(conversation_id, "conversation.needs_attention")
    automatic_reply = None
    if intent is not None:
        conversation = db.session.get(Conversation, conversation_id)
        # The provider's own signal (Plivo's MessageIntent), or a keyword Parley read in the text.
        source = "provider" if inbound.intent == intent else "keyword"
        automatic_reply = _handle_keywords(intent, conversation, number, provider, source, inbound.body)
    # Section 4: in bot mode the bot answers (it stays out of Needs Attention unless it escalates).
    bot_answers = intent is None and activity.mode != Mode.AGENT
    # Another number of Parley's (a bot, say): two bots would answer each other without end.
    from_parley = bot_answers and _is_reusable_number(arrival.contact_phone)
    db.session.commit()
    if automatic_reply:
        from webapp.services.sending import send_automatic

        conversation = db.session.get(Conversation, conversation_id)
        send_automatic(conversation, automatic_reply, AuthorKind.SYSTEM)
    if inbound.media_urls:
        queue.enqueue_inbound_pictures(message_id)  # thumbnails in place of the provider's links
    if from_parley:
        conversation = conversations.locked(conversation_id)
        if conversation is not None and conversation.mode == Mode.BOT:
            conversations.escalate(conversation, "This text came from another of Parley's numbers, which "
                                   "the bot does not answer; this needs an agent.")  # fmt: skip
        db.session.commit()
    elif bot_answers:
        # Queued after the commit: the webhook answers at once, the bot works in the worker.
        from webapp.services.bots import schedule_answer

        schedule_answer(message_id)
    return Received(conversation_id, message_id)


def _is_reusable_number(phone: str) -> bool:
    return db.session.scalar(select(ReusableNumber.id).where(ReusableNumber.phone == phone)) is not None


def _intent(inbound: InboundMessage) -> optouts.Intent | None:
    if inbound.intent in {i.value for i in optouts.Intent}:
        return optouts.Intent(inbound.intent)
    return optouts.keyword_intent(inbound.body)


def _handle_keywords(
    intent: optouts.Intent | None,
    conversation: Conversation,
    number: NumberRef,
    provider: str,
    source: str,
    body: str,
) -> str | None:
    """Apply opt-out, opt-in and HELP. Returns the text to answer with, if any."""
    phone = conversation.contact_phone
    if intent is optouts.Intent.OPT_OUT:
        change = optouts.opt_out(phone, source=source, detail=_texted(number), number_id=number.id)
        if change is not optouts.Change.NONE:  # a repeated STOP changes nothing and says nothing
            conversations.add_event(conversation, "Contact opted out; no more texts will be sent.")
        return None
    if intent is optouts.Intent.OPT_IN:
        if optouts.opt_in(phone, source=source, detail=_texted(number), number_id=number.id):
            conversations.add_event(conversation, "Contact opted back in.")
            return None
    elif intent is optouts.Intent.HELP and not _provider_answers_keywords(provider):
        office = db.session.get(Office, number.office_id)
        return office.help_text or DEFAULT_HELP_TEXT.format(office=office.name)
    if optouts.keyword_intent(body) is None:
        # A keyword the provider read that Parley's own list does not have (Twilio's YES for
        # START, AYUDA for HELP), and nothing after it says so: said here, so that people reading
        # the conversation see why nobody answered it.
        word = {optouts.Intent.OPT_IN: "START", optouts.Intent.HELP: "HELP"}[intent]
        conversations.add_event(conversation, f"{provider.capitalize()} read this text as {word}.")
    return None


def _texted(number: NumberRef) -> str:
    """Which number a STOP or START came to, as the opt-out history says it: by its office only.
    Every office's admins read the history; the number itself is for its own office's admins (the
    audit log shows it to them, by its id), as on the opt-out list."""
    return f"texted a number of {db.session.get(Office, number.office_id).name}"


def _provider_answers_keywords(provider: str) -> bool:
    from flask import current_app

    plugin = current_app.extensions["parley"].sms_providers.get(provider)
    return bool(plugin and plugin.handles_keywords)
