"""What crosses the boundary between Parley and its plugins: plain, frozen values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

MAX_MESSAGE_ID = 2**31 - 1  # messages.id is a 32-bit integer


@dataclass(frozen=True)
class OutboundMessage:
    """A message Parley asks a provider to send."""

    message_id: int  # Parley's own id: lets a status report find the message before send returns
    from_phone: str  # E.164
    to_phone: str  # E.164
    body: str
    status_callback_url: str | None = None
    # Pictures (MMS): public, unguessable http(s) URLs for the provider to fetch. Only providers
    # with `supports_media` are given any.
    media_urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class SendResult:
    """What a provider answered. `status` is "sent" (accepted) or "failed"."""

    status: str
    provider_message_id: str | None = None
    error_code: str | None = None
    error_reason: str | None = None
    # A transient failure (network, 5xx, 429) may succeed when retried; a permanent one never will.
    transient: bool = False
    # The request went out but its answer never came back (a read timeout, an answer cut off): the
    # provider may have the message. Parley then sends it again only when an agent presses Retry.
    may_have_gone: bool = False
    # The provider refused because the recipient opted out with it (e.g. Twilio's 21610): Parley
    # then adds the phone to its own opt-out list.
    recipient_opted_out: bool = False


@dataclass(frozen=True)
class WebhookRequest:
    """An HTTP request a provider sent us, as the provider plugin needs to verify and parse it."""

    method: str
    url: str  # the public URL the provider called (PUBLIC_BASE_URL + path + query)
    headers: Mapping[str, str]
    form: Mapping[str, str]

    def parley_message_id(self) -> int | None:
        """Parley's own message id, from the `message_id` query Parley puts in every status
        callback URL it gives (`OutboundMessage.status_callback_url`); None when absent.

        Raises ValueError when it is there but not a message id.
        """
        values = parse_qs(urlsplit(self.url).query).get("message_id")
        if not values:
            return None
        raw = values[0].strip()
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 20) or not 0 < int(raw) <= MAX_MESSAGE_ID:
            raise ValueError("message_id must be a positive whole number")
        return int(raw)


@dataclass(frozen=True)
class InboundMessage:
    from_phone: str
    to_phone: str
    body: str
    provider_message_id: str | None = None
    media_urls: tuple[str, ...] = ()
    # The provider's own reading of the message: "optout", "optin", "help" or None.
    intent: str | None = None


@dataclass(frozen=True)
class StatusUpdate:
    provider_message_id: str
    status: str  # queued, sent, delivered, undelivered, failed
    parley_message_id: int | None = None
    error_code: str | None = None
    error_reason: str | None = None
    recipient_opted_out: bool = False


@dataclass(frozen=True)
class ContactName:
    name: str
    source: str = ""  # e.g. the campaign it came from


@dataclass(frozen=True)
class BotContext:
    """What a bot knows about the conversation it answers in."""

    conversation_id: int | None  # None for a trial (the admin's "try a question" box): nothing sent
    office_id: int  # the office owning the reusable number: whose knowledge to answer from
    contact_phone: str  # E.164; "" for a trial
    # The conversation's latest messages, oldest first: "contact: …", "bot: …", "agent: …".
    history: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class BotReply:
    """A bot's verdict on one inbound message.

    - `text`: the answer Parley sends (through the normal queue, authored "Bot");
    - `escalate=True`: hand the conversation to agents (agent mode, Needs Attention);
    - neither: the bot does not know; Parley applies the office's "I don't know" setting.

    `confidence` (0–100), `source_id` and `matched` describe the best match the bot found (even one
    too weak to answer with), for the admin's "try a question" box and the logs.
    """

    text: str | None = None
    escalate: bool = False
    confidence: float | None = None
    source_id: int | None = None  # e.g. the knowledge-base entry the answer came from
    matched: str | None = None  # e.g. the phrasing that matched
