"""The abstract interfaces plugins implement. Each receives the app config at construction."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from webapp.plugin_api.records import ParleyRecords
from webapp.plugin_api.types import (
    BotContext,
    BotReply,
    ContactName,
    InboundMessage,
    OutboundMessage,
    SendResult,
    StatusUpdate,
    WebhookRequest,
)


class WebhookRefused(Exception):
    """Raised by `SmsProvider.verify_webhook` to refuse a request with a reason a person can act on.

    Parley answers 403 with the message (e.g. "this signature scheme is turned off; turn on …"),
    where returning False gives only "Invalid or missing signature".
    """


class MediaUnavailable(Exception):
    """Raised by `SmsProvider.fetch_media`: the file cannot be had, for the reason given.

    `transient`: a later try may succeed (a timeout, a network error, a 5xx or 429); Parley tries
    again a few times, then keeps showing the link.
    """

    def __init__(self, reason: str, transient: bool = False) -> None:
        super().__init__(reason)
        self.transient = transient


class Plugin(ABC):  # a common base: the abstract methods are on each kind
    #: Set by the registry to the entry-point name the plugin was loaded under.
    name: str = ""
    #: Set by the registry after construction: what the plugin may read of Parley's records.
    records: ParleyRecords

    def __init__(self, config: Mapping[str, Any]) -> None:
        """Read what the plugin needs from `config`: Parley's settings, and for names Parley does
        not define, environment variables. Raise ValueError if it is unusable: Parley refuses to
        start and shows the message (name the setting, never its value)."""
        self.config = config


class SmsProvider(Plugin):
    """Carries text messages for the reusable numbers that name it."""

    #: Shown in the admin UI.
    label: str = ""
    #: True when the provider itself answers STOP/HELP keywords (Parley then sends no confirmation).
    handles_keywords: bool = False
    #: True when `send` carries `OutboundMessage.media_urls` (MMS); others are never given media.
    supports_media: bool = False
    #: The body and media type of the 200 that accepts an inbound message, for a provider that acts
    #: on it (Twilio texts a plain-text answer back to the contact). None: a short plain text.
    inbound_answer: tuple[str, str] | None = None

    @abstractmethod
    def send(self, message: OutboundMessage) -> SendResult:
        """Hand one message to the provider. Never raise for provider errors: return a failed result.

        A failure says whether a retry may succeed (`transient`) and why, in words an agent
        understands (`error_reason`, shown next to the message).
        """

    def verify_webhook(self, request: WebhookRequest) -> bool:
        """True when the request really comes from the provider. Providers without webhooks refuse.

        May raise WebhookRefused to say why a request is refused.
        """
        return False

    def replay_key(self, request: WebhookRequest) -> str | None:
        """What makes this signed request unique (e.g. its signature's nonce), or None.

        Called only for a request `verify_webhook` accepted. Parley accepts each key once per
        provider, across all its processes: a request whose key was already used is refused with 403
        and changes nothing. The key is recorded with the request's work, so a delivery that was
        refused or failed (and changed nothing) may come again with the same key. The signature must
        cover the key, so a replayed request cannot carry a new one. None (the default): the
        provider's signatures carry no such value; idempotent handling alone meets replays.
        """
        return None

    def parse_inbound(self, request: WebhookRequest) -> InboundMessage:
        """Turn a verified inbound webhook into a message; raise ValueError when it is malformed."""
        raise NotImplementedError

    def parse_status(self, request: WebhookRequest) -> StatusUpdate:
        """Turn a verified delivery report into a status update; raise ValueError when malformed."""
        raise NotImplementedError

    def describe_error(self, code: str) -> str:
        """A human-readable reason for a provider error code."""
        return f"Provider error {code}"

    def fetch_media(self, url: str, max_bytes: int) -> bytes:
        """The file behind one of an inbound message's `media_urls`, of at most `max_bytes`.

        Called from a queue worker, so that the thread can show a contact's pictures from Parley's
        own copy. Fetch only the provider's own URLs (the account's credentials go nowhere else);
        raise MediaUnavailable for anything else, for a file over `max_bytes`, or when the provider
        will not give it (`plugin_api.fetch_file` does the download). The default fetches nothing:
        the thread shows the links.
        """
        raise MediaUnavailable(f"{self.label or self.name} does not download media")


class ContactResolver(Plugin):
    """Finds a display name for a phone. Resolvers form a chain; the first name found wins.

    `follows_directory`: set it True only when every name the resolver gives is read from
    Parley's records (`self.records.contacts`), which raise the directory's counter whenever a
    name could change. Parley then keeps the resolver's answers while that counter holds, instead
    of asking again on every inbox refresh.
    """

    follows_directory: bool = False

    @abstractmethod
    def resolve(self, phone: str) -> ContactName | None:
        """The contact's name for an E.164 phone, or None when this resolver does not know it."""

    def resolve_many(self, phones: list[str]) -> dict[str, ContactName]:
        """Names for many phones at once (a list page); override to do it in one query."""
        found = {}
        for phone in phones:
            name = self.resolve(phone)
            if name is not None:
                found[phone] = name
        return found


class Bot(Plugin):
    """Answers contacts in bot-mode conversations.

    Parley calls `reply` from a queue worker, never on the web request that received the message,
    with a deadline (config BOT_TIMEOUT_SECONDS): a bot that raises or runs late hands the
    conversation to agents. Opt-out keywords and HELP never reach a bot. A bot reads Parley's
    records through `self.records` and never writes them; Parley sends the answer itself.
    """

    @abstractmethod
    def reply(self, context: BotContext, inbound: InboundMessage) -> BotReply:
        """An answer (`text`), an escalation (`escalate=True`), or neither: "I don't know".

        Must have no side effects: the admin's "try a question" box calls it too
        (with `context.conversation_id=None`).
        """
