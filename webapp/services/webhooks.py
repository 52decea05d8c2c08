"""Activity webhooks: an office's CRM endpoints receive its events, signed per Standard Webhooks.

- An event is written as one delivery row per subscribed endpoint, in the transaction of the change
  itself: it exists only if the change committed. After the commit the worker is asked to deliver
  it; the sweep picks up any request that was lost.
- The worker posts it (no redirects followed, a short timeout) with `webhook-id`, `webhook-timestamp`
  and `webhook-signature`. A non-2xx answer, a timeout or a refused address is retried with
  exponential backoff from PARLEY_WEBHOOK_RETRY_BASE_SECONDS, for about a day, with the same
  `webhook-id`. Events of one conversation go out in order: a later one waits for the earlier.
- An endpoint whose deliveries have all failed for a day is disabled; an admin can enable it again.
- An admin can rotate an endpoint's secret: for a day the old secret signs too (the header then
  carries two signatures, as the specification allows), so the CRM can switch without refusing
  the deliveries in between.
- URLs must be https and resolve to public addresses, checked when added and again before every
  attempt (a name can be re-pointed at an inside address later). PARLEY_WEBHOOK_ALLOW_PRIVATE=1
  allows private addresses and http, for on-premises CRMs and tests.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import secrets
import socket
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from flask import current_app
from requests.adapters import HTTPAdapter
from sqlalchemy import ColumnElement, bindparam, delete, event, exists, select, update
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from webapp.extensions import db
from webapp.models import (
    Conversation,
    DeliveryStatus,
    Message,
    Office,
    ReusableNumber,
    User,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)
from webapp.queue import enqueue_webhook
from webapp.services import audit
from webapp.services.api_conversations import as_json as conversation_as_json
from webapp.services.api_conversations import office_conversation
from webapp.services.api_messages import as_json, office_message

log = logging.getLogger(__name__)
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

EVENT_TYPES = (
    "message.received",
    "message.sent",
    "message.delivered",
    "message.failed",
    "conversation.needs_attention",
    "contact.opted_out",
    "contact.opted_in",
    "note.added",  # an agent's internal note (never sent to the contact)
)
# A message's status → the event it fires.
STATUS_EVENTS = {
    "sent": "message.sent",
    "delivered": "message.delivered",
    "undelivered": "message.failed",
    "failed": "message.failed",
}
GIVE_UP_AFTER = timedelta(days=1)
MAX_RETRY_DELAY = 3600.0
ATTEMPT_MARGIN_SECONDS = 30  # beyond an attempt's time limit, before another may post the delivery
PENDING_IDS = "parley.webhook_deliveries"  # session.info: deliveries to request after the commit
MAX_URL_LENGTH = 2000  # the url column's size


class WebhookError(ValueError):
    """A URL or event type that cannot be used, or a change that cannot be made now (a second
    rotation while the previous secret still signs); nothing was changed."""


class UnresolvedHost(WebhookError):
    """The URL's host has no address right now: a delivery cannot go, but the URL may be right."""

    def __init__(self, host: str) -> None:
        super().__init__(f"{host} does not resolve to any address.")
        self.host = host


# ---- Endpoints ----


def check_url(url: str, allow_private: bool) -> str:
    """The URL, if Parley may post to it: https (http too when private addresses are allowed),
    and a host whose every address is public unless private ones are allowed."""
    url = (url or "").strip()
    if any(char.isspace() or not char.isprintable() for char in url):
        # urlsplit drops tabs and keeps spaces: the URL posted to would not be the one shown. (Only
        # here, where an endpoint is added: one saved before this rule still delivers.)
        raise WebhookError(f"{url!r} is not a URL: it has a space or a control character in it.")
    return _plainly_written(_checked(url, allow_private)[0])


def _plainly_written(url: str) -> str:
    """The URL as one writes it: scheme and host in lower case, no default port, no fragment
    (never sent). Written otherwise, the same endpoint added twice would get every event twice."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    default_port = 443 if parts.scheme == "https" else 80
    netloc = host if parts.port in (None, default_port) else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def _checked(url: str, allow_private: bool) -> tuple[str, Address]:
    """`check_url`, and the address checked: a delivery connects to that address itself, so a
    name re-pointed between the check and the connection (DNS rebinding) changes nothing."""
    url = (url or "").strip()
    if len(url) > MAX_URL_LENGTH:
        raise WebhookError(
            f"A webhook URL can be at most {MAX_URL_LENGTH:,} characters; this one has {len(url):,}."
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookError(f"{url!r} is not a URL.") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise WebhookError(
            "A webhook URL must start with https:// or http:// and name a host."
            if allow_private
            else "A webhook URL must start with https:// and name a host "
            "(http:// only with PARLEY_WEBHOOK_ALLOW_PRIVATE=1)."
        )
    if parts.username or parts.password:
        raise WebhookError("A webhook URL cannot carry a user name or password.")
    addresses = _addresses(parts.hostname, port or (443 if parts.scheme == "https" else 80))
    if not allow_private:
        for address in addresses:
            if not _public(address):
                raise WebhookError(
                    f"{parts.hostname} resolves to {address}, which is not a public address; "
                    "Parley posts only to public addresses (PARLEY_WEBHOOK_ALLOW_PRIVATE=1 lifts "
                    "this for on-premises CRMs)."
                )
    return url, addresses[0]


# IPv6 prefixes that carry an IPv4 address in their last 32 bits: the well-known NAT64 prefix,
# IPv4-translated (SIIT) and the deprecated IPv4-compatible form. (The local-use NAT64 prefix is
# refused whole.)
_IPV4_IN_LAST_32_BITS = tuple(
    ipaddress.ip_network(prefix) for prefix in ("64:ff9b::/96", "::ffff:0:0:0/96", "::/96")
)
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")


def _public(address: Address) -> bool:
    """A public address, and for IPv6 one that does not lead to a private IPv4 address: a
    translated (NAT64), 6to4, Teredo or IPv4-mapped address reaches the IPv4 address it embeds."""
    if not address.is_global:
        return False
    if address.version == 4:
        return True
    if address in _LOCAL_NAT64:
        return False
    embedded = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    if any(address in prefix for prefix in _IPV4_IN_LAST_32_BITS):
        embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return all(ipv4.is_global for ipv4 in embedded if ipv4 is not None)


def _addresses(host: str, port: int) -> list[Address]:
    try:
        found = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise UnresolvedHost(host) from None
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in found]


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


# How long the secret before a rotation keeps signing: time to put the new one in the CRM.
PREVIOUS_SECRET_SIGNS_FOR = timedelta(days=1)


def previous_secret_signs_until(endpoint: WebhookEndpoint, now: datetime) -> datetime | None:
    """Until when the secret before the last rotation still signs; None when it no longer does."""
    until = endpoint.previous_secret_until
    return until if endpoint.previous_secret and until is not None and now < until else None


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets a delivery is signed with now: the endpoint's, and its previous one for a day
    after a rotation."""
    if previous_secret_signs_until(endpoint, now) is not None:
        return [endpoint.secret, endpoint.previous_secret]
    return [endpoint.secret]


@dataclass(frozen=True)
class AddedEndpoint:
    endpoint: WebhookEndpoint  # its secret is `endpoint.secret`
    warning: str | None  # something to tell whoever added it, though it was added


def add_endpoint(
    url: str, office: Office, event_types: Iterable[str], created_by: User | None, allow_private: bool
) -> AddedEndpoint:
    """A new endpoint of `office` (audited; the caller commits).

    A host that does not resolve now is accepted with a warning: DNS may be down or answer
    differently here (split horizon), and every delivery checks the address again anyway. What is
    certainly wrong (not https, a private address) is refused."""
    types = list(dict.fromkeys(event_types))
    unknown = [kind for kind in types if kind not in EVENT_TYPES]
    if unknown:
        raise WebhookError(f"Unknown event type {unknown[0]!r}; the types are {', '.join(EVENT_TYPES)}.")
    warning = None
    try:
        checked = check_url(url, allow_private)
    except UnresolvedHost as exc:
        checked = _plainly_written(url.strip())
        warning = (
            f"{exc.host} does not resolve to any address from here right now. The endpoint is "
            "saved; each delivery looks the name up again, and a failed one is retried."
        )
    # A second endpoint for the same URL would receive every event twice. (Compared as written
    # plainly: an endpoint added before URLs were kept so may be written otherwise.)
    urls = db.session.execute(
        select(WebhookEndpoint.url, WebhookEndpoint.active).where(WebhookEndpoint.office_id == office.id)
    )
    same = next((active for url, active in urls if _plainly_written(url) == checked), None)
    if same is not None:
        raise WebhookError(
            "This office already has an endpoint for that URL"
            + ("." if same else "; it is disabled: enable it on its page instead.")
        )
    endpoint = WebhookEndpoint(
        office_id=office.id,
        url=checked,
        secret=new_secret(),
        event_types=types,
        created_by_id=created_by.id if created_by is not None else None,
    )
    db.session.add(endpoint)
    db.session.flush()
    audit.record(
        created_by, "webhook.added", f"Webhook {endpoint.url} added for {office.name}",
        offices=[office], detail={"endpoint_id": endpoint.id, "events": types or ["all"]},
    )  # fmt: skip
    return AddedEndpoint(endpoint, warning)


# ---- Events ----


_ENDPOINTS = WebhookEndpoint.__table__
# Built once: every text in and out asks. A table's columns: it runs as a Core statement.
# FOR KEY SHARE on PostgreSQL (SQLite's one writer needs none): an admin deleting an endpoint
# waits for the text's transaction, whose deliveries the deletion then takes with it, instead of
# the text failing on a delivery for an endpoint deleted in between.
ACTIVE_ENDPOINTS = (
    select(_ENDPOINTS.c.id, _ENDPOINTS.c.event_types)
    .where(_ENDPOINTS.c.office_id == bindparam("office_id"), _ENDPOINTS.c.active.is_(True))
    .with_for_update(read=True, key_share=True)
)


def office_listens(office_id: ColumnElement[int]) -> ColumnElement[bool]:
    """Does the office have an active endpoint at all? A clause for a statement that reads the
    office anyway (an inbound text's number): most offices have none, and then a text costs no
    more."""
    return exists().where(_ENDPOINTS.c.office_id == office_id, _ENDPOINTS.c.active.is_(True))


def _subscribed(office_id: int, event_type: str) -> list[int]:
    """The ids of the office's active endpoints that take this event."""
    endpoints = db.session.execute(ACTIVE_ENDPOINTS, {"office_id": office_id})
    return [endpoint_id for endpoint_id, types in endpoints if not types or event_type in types]


def emit(office_id: int, event_type: str, data: dict, conversation_id: int | None = None) -> None:
    """Record an event for the office's endpoints, in the caller's transaction."""
    endpoint_ids = _subscribed(office_id, event_type)
    if not endpoint_ids:
        return
    body = json.dumps(
        {"type": event_type, "timestamp": _iso(utcnow()), "data": data},
        separators=(",", ":"),
    )
    deliveries = [
        WebhookDelivery(
            endpoint_id=endpoint_id, event_type=event_type, webhook_id=f"msg_{uuid.uuid4().hex}",
            payload=body, conversation_id=conversation_id, next_attempt_at=utcnow(),
        )
        for endpoint_id in endpoint_ids
    ]  # fmt: skip
    db.session.add_all(deliveries)
    db.session.flush()
    db.session.info.setdefault(PENDING_IDS, []).extend(d.id for d in deliveries)


def message_event(message_id: int, event_type: str, office_id: int | None = None) -> None:
    """A message's event (its `data` as the API shows the message), in the caller's transaction.
    `office_id`: the office of the message's number, when the caller knows it."""
    if office_id is None:
        office_id = db.session.scalar(
            select(ReusableNumber.office_id)
            .join(Conversation, Conversation.number_id == ReusableNumber.id)
            .join(Message, Message.conversation_id == Conversation.id)
            .where(Message.id == message_id)
        )
    if office_id is None or not _subscribed(office_id, event_type):
        return
    db.session.flush()  # the message as it stands in this transaction
    message = office_message(office_id, message_id)
    if message is not None:
        emit(office_id, event_type, as_json(message), message.conversation_id)


def conversation_event(conversation_id: int, event_type: str) -> None:
    """A conversation's event (its `data` as the API shows the conversation), in the caller's
    transaction."""
    office_id = db.session.scalar(
        select(ReusableNumber.office_id)
        .join(Conversation, Conversation.number_id == ReusableNumber.id)
        .where(Conversation.id == conversation_id)
    )
    if office_id is None or not _subscribed(office_id, event_type):
        return
    db.session.flush()  # the conversation as it stands in this transaction
    conversation = office_conversation(office_id, conversation_id)
    if conversation is not None:
        emit(office_id, event_type, conversation_as_json(conversation), conversation_id)


def contact_event(office_id: int, phone: str, event_type: str) -> None:
    """A change of a phone's opt-out, for one office's CRM (optouts says which offices)."""
    emit(office_id, event_type, {"phone": phone, "opted_out": event_type == "contact.opted_out"})


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def status_event(message_id: int, status: str) -> None:
    """The event of a message's new status, if it has one."""
    if status in STATUS_EVENTS:
        message_event(message_id, STATUS_EVENTS[status])


@event.listens_for(Session, "after_commit")
def _request_delivery(session: Session) -> None:
    """Ask the worker to deliver what the transaction recorded, now that it is committed."""
    for delivery_id in session.info.pop(PENDING_IDS, ()):
        enqueue_webhook(delivery_id)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(PENDING_IDS, None)


# ---- Delivery (the worker) ----


def retry_delay(attempts: int) -> float:
    base = current_app.config["WEBHOOK_RETRY_BASE_SECONDS"]
    return min(MAX_RETRY_DELAY, base * 2 ** max(0, attempts - 1))


def attempt(delivery_id: int) -> tuple[float | None, list[int]]:
    """Post one delivery. Returns (seconds until it is tried again or None, deliveries to request
    next: the conversation's following event once this one is through)."""
    delivery = db.session.get(WebhookDelivery, delivery_id, with_for_update=True, populate_existing=True)
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        db.session.rollback()
        return None, []
    endpoint = delivery.endpoint
    if not endpoint.active:
        _finish(delivery, DeliveryStatus.FAILED, "The endpoint is disabled.")
        return None, []
    if _waits_for_earlier(delivery):
        db.session.rollback()
        return None, []  # the earlier event's delivery requests this one when it is through
    now = utcnow()
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > now + timedelta(seconds=1):
        wait = (delivery.next_attempt_at - now).total_seconds()
        db.session.rollback()
        return wait, []
    url, payload, webhook_id = endpoint.url, delivery.payload, delivery.webhook_id
    secrets_now = signing_secrets(endpoint, now)
    # While the endpoint answers, no lock is held; the attempt's time limit marks the delivery as
    # taken, so a second request for it (the sweep's, a duplicate retry) does not post it again.
    timeout = current_app.config["WEBHOOK_TIMEOUT_SECONDS"]
    delivery.next_attempt_at = now + timedelta(seconds=timeout + ATTEMPT_MARGIN_SECONDS)
    db.session.commit()

    status_code, error, latency_ms = _post(url, secrets_now, payload, webhook_id)

    delivery = db.session.get(WebhookDelivery, delivery_id, with_for_update=True, populate_existing=True)
    if delivery is None:  # an admin deleted its endpoint meanwhile
        db.session.rollback()
        return None, []
    endpoint = delivery.endpoint
    now = utcnow()
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = status_code
    delivery.last_latency_ms = latency_ms
    delivery.last_error = (error or "")[:300] or None
    if status_code is not None and 200 <= status_code < 300:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        endpoint.failing_since = None
        following = _following(delivery)
        db.session.commit()
        return None, following
    if endpoint.active:  # an admin may have disabled it while it was posted: their word stays
        endpoint.failing_since = endpoint.failing_since or now
        if now - endpoint.failing_since >= GIVE_UP_AFTER:
            endpoint.active = False
            endpoint.disabled_reason = (
                f"Disabled on {now:%Y-%m-%d %H:%M} UTC: every delivery failed for a day "
                f"(last: {describe_outcome(status_code, error)})."
            )
    if now - delivery.created_at >= GIVE_UP_AFTER or not endpoint.active:
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = None
        following = _following(delivery)
        db.session.commit()
        return None, following
    delay = retry_delay(delivery.attempts)
    delivery.next_attempt_at = now + timedelta(seconds=delay)
    db.session.commit()
    return delay, []


def _post(
    url: str, secrets_now: list[str], payload: str, webhook_id: str
) -> tuple[int | None, str | None, int]:
    allow_private = current_app.config["WEBHOOK_ALLOW_PRIVATE"]
    started = time.monotonic()
    try:
        url, address = _checked(url, allow_private)  # again: the name may point elsewhere now
        sent_at = utcnow()
        headers = {
            "content-type": "application/json",
            "user-agent": "Parley-Webhooks/1",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": " ".join(
                Webhook(secret).sign(webhook_id, sent_at, payload) for secret in secrets_now
            ),
        }
        with requests.Session() as session:
            pinned = _pinned(url, address, session)
            response = session.post(
                pinned, data=payload.encode(), headers=headers, allow_redirects=False,
                timeout=current_app.config["WEBHOOK_TIMEOUT_SECONDS"],
            )  # fmt: skip
            response.close()
        return response.status_code, None, _ms_since(started)
    except WebhookError as exc:
        return None, str(exc), _ms_since(started)
    except requests.RequestException as exc:
        return None, _failure(exc), _ms_since(started)


def _failure(exc: requests.RequestException) -> str:
    """What went wrong, for the delivery log: in words first, the exception's name after."""
    if isinstance(exc, requests.Timeout):
        said = f"No answer within {current_app.config['WEBHOOK_TIMEOUT_SECONDS']:g} seconds"
    elif isinstance(exc, requests.exceptions.SSLError):
        said = "Its TLS certificate was not accepted"
    elif isinstance(exc, requests.ConnectionError):
        said = "Could not connect (refused, or the host is unreachable)"
    else:
        said = "The request failed"
    return f"{said} ({type(exc).__name__})."


class _PinnedHost(HTTPAdapter):
    """Connects to an address given in the URL, while TLS still names and verifies the host
    (SNI and the certificate's name): urllib3's `server_hostname` and `assert_hostname`."""

    def __init__(self, host: str) -> None:
        self.host = host
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, server_hostname=self.host, assert_hostname=self.host, **kwargs)


def _pinned(url: str, address: Address, session: requests.Session) -> str:
    """The URL with the checked address in place of the host name, which goes in `Host` (and in
    TLS, by `_PinnedHost`): no second lookup the check did not see."""
    parts = urlsplit(url)
    host = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{host}:{parts.port}" if parts.port else host
    session.headers["Host"] = parts.netloc
    session.mount(f"{parts.scheme}://{netloc}/", _PinnedHost(parts.hostname or ""))
    return urlunsplit(parts._replace(netloc=netloc))


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def describe_outcome(status_code: int | None, error: str | None) -> str:
    return f"HTTP {status_code}" if status_code is not None else (error or "no answer")


def endpoint_of(delivery_id: int) -> int | None:
    """The endpoint a delivery is for; None when the delivery is gone (pruned from the log)."""
    with db.engine.connect() as connection:  # a read of its own: no transaction left open
        return connection.scalar(select(WebhookDelivery.endpoint_id).where(WebhookDelivery.id == delivery_id))


def _waits_for_earlier(delivery: WebhookDelivery) -> bool:
    if delivery.conversation_id is None:
        return False
    earlier = db.session.scalar(
        select(WebhookDelivery.id).where(
            WebhookDelivery.endpoint_id == delivery.endpoint_id,
            WebhookDelivery.conversation_id == delivery.conversation_id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.id < delivery.id,
        ).limit(1)
    )
    return earlier is not None


def _following(delivery: WebhookDelivery) -> list[int]:
    if delivery.conversation_id is None:
        return []
    following = db.session.scalar(
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.endpoint_id == delivery.endpoint_id,
            WebhookDelivery.conversation_id == delivery.conversation_id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.id > delivery.id,
        )
        .order_by(WebhookDelivery.id)
        .limit(1)
    )
    return [following] if following is not None else []


def _finish(delivery: WebhookDelivery, status: str, error: str) -> None:
    """Ends a delivery without an attempt: the log shows why, not an earlier attempt's answer."""
    delivery.status = status
    delivery.last_error = error
    delivery.last_status_code = None
    delivery.last_latency_ms = None
    delivery.next_attempt_at = None
    db.session.commit()


def due_deliveries(now: datetime | None = None) -> list[int]:
    """Pending deliveries whose time has come a while ago (a lost request, a dead worker)."""
    cutoff = (now or utcnow()) - timedelta(seconds=current_app.config["SWEEP_QUEUED_AFTER_SECONDS"])
    ids = list(
        db.session.scalars(
            select(WebhookDelivery.id)
            .where(
                WebhookDelivery.status == DeliveryStatus.PENDING,
                WebhookDelivery.next_attempt_at < cutoff,
            )
            .order_by(WebhookDelivery.id)
            .limit(500)
        )
    )
    db.session.rollback()
    return ids


PRUNE_BATCH = 1000


def prune_log(now: datetime | None = None) -> int:
    """Forget finished deliveries older than WEBHOOK_LOG_DAYS, oldest first, a batch per
    transaction (a long delete would hold SQLite's write lock). Returns how many went."""
    cutoff = (now or utcnow()) - timedelta(days=current_app.config["WEBHOOK_LOG_DAYS"])
    deliveries = WebhookDelivery.__table__
    pruned = 0
    while True:
        oldest = (
            select(deliveries.c.id)
            .where(deliveries.c.status != DeliveryStatus.PENDING, deliveries.c.created_at < cutoff)
            .order_by(deliveries.c.id)
            .limit(PRUNE_BATCH)
        )
        ids = list(db.session.scalars(oldest))
        if ids:
            db.session.execute(delete(deliveries).where(deliveries.c.id.in_(ids)))
        db.session.commit()
        pruned += len(ids)
        if len(ids) < PRUNE_BATCH:
            return pruned


def forget_office_log(office_id: int, before: datetime) -> int:
    """Retention for the webhook log: an office's finished deliveries created before `before` go
    (their bodies copy message text). Pending ones stay until they are delivered or given up."""
    deliveries = WebhookDelivery.__table__
    endpoints = select(WebhookEndpoint.id).where(WebhookEndpoint.office_id == office_id)
    forgotten = 0
    while True:
        ids = list(
            db.session.scalars(
                select(deliveries.c.id)
                .where(
                    deliveries.c.endpoint_id.in_(endpoints),
                    deliveries.c.status != DeliveryStatus.PENDING,
                    deliveries.c.created_at < before,
                )
                .order_by(deliveries.c.id)
                .limit(PRUNE_BATCH)
            )
        )
        if ids:
            db.session.execute(delete(deliveries).where(deliveries.c.id.in_(ids)))
        db.session.commit()
        forgotten += len(ids)
        if len(ids) < PRUNE_BATCH:
            return forgotten


# Events whose `data` is a message, with its text (`note.added`'s is a note).
MESSAGE_EVENTS = (*STATUS_EVENTS.values(), "message.received", "note.added")


def forget_erased_messages(conversation_ids: list[int], message_ids: set[int], erased_at: datetime) -> int:
    """Retention for the webhook log, by message: finished deliveries of these conversations whose
    message was just erased go too, however recent (a text held or scheduled long after it was
    written went, and was logged, after retention's cutoff). Redelivering one would send the
    erased words again. A pending one still goes (the CRM hears of the message), as the API now
    shows it: without its text, with `erased_at`. Returns how many were deleted."""
    deliveries = WebhookDelivery.__table__
    forgotten = 0
    for start in range(0, len(conversation_ids), PRUNE_BATCH):
        rows = db.session.execute(
            select(deliveries.c.id, deliveries.c.payload, deliveries.c.status).where(
                deliveries.c.conversation_id.in_(conversation_ids[start : start + PRUNE_BATCH]),
                deliveries.c.event_type.in_(MESSAGE_EVENTS),
            )
        ).all()
        erased = []
        for row in rows:
            payload = json.loads(row.payload)
            if payload["data"].get("id") not in message_ids:
                continue
            if row.status != DeliveryStatus.PENDING:
                erased.append(row.id)
                continue
            payload["data"].update(text="", erased_at=_iso(erased_at))
            rewritten = db.session.execute(
                update(deliveries)
                .where(deliveries.c.id == row.id, deliveries.c.status == DeliveryStatus.PENDING)
                .values(payload=json.dumps(payload, separators=(",", ":")))
            ).rowcount
            if not rewritten:  # it finished since it was read: it goes, as finished ones do
                erased.append(row.id)
        if erased:
            db.session.execute(delete(deliveries).where(deliveries.c.id.in_(erased)))
        db.session.commit()
        forgotten += len(erased)
    return forgotten


# ---- The admin console ----


def endpoints_of_offices(office_ids: set[int]) -> list[WebhookEndpoint]:
    if not office_ids:
        return []
    return list(
        db.session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.office_id.in_(office_ids))
            .order_by(WebhookEndpoint.id.desc())
        )
    )


def endpoint_in(office_ids: set[int], endpoint_id: int) -> WebhookEndpoint | None:
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    return endpoint if endpoint is not None and endpoint.office_id in office_ids else None


LOG_LENGTH = 100


def delivery_log(endpoint: WebhookEndpoint) -> list[WebhookDelivery]:
    """The endpoint's latest deliveries, newest first."""
    return list(
        db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint.id)
            .order_by(WebhookDelivery.id.desc())
            .limit(LOG_LENGTH)
        )
    )


def redeliver(endpoint: WebhookEndpoint, delivery_id: int) -> WebhookDelivery | None:
    """Send a delivery again, as it was (the same webhook-id), after the commit. WebhookError when
    the endpoint is disabled: nothing is posted to it, redeliveries included."""
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.endpoint_id != endpoint.id:
        return None
    if not endpoint.active:
        raise WebhookError(
            "This endpoint is disabled: nothing is posted to it, redeliveries included. Enable it "
            "again, then redeliver."
        )
    delivery.status = DeliveryStatus.PENDING
    delivery.next_attempt_at = utcnow()
    db.session.info.setdefault(PENDING_IDS, []).append(delivery.id)
    return delivery


def disable(endpoint: WebhookEndpoint, user: User) -> None:
    """An admin stops an endpoint (audited): no event is posted to it, the ones waiting included,
    until it is enabled again."""
    endpoint.active = False
    endpoint.failing_since = None
    endpoint.disabled_reason = f"{user.name} disabled it."
    audit.record(
        user, "webhook.disabled", f"Webhook {endpoint.url} disabled", offices=[endpoint.office],
        detail={"endpoint_id": endpoint.id},
    )  # fmt: skip


def enable(endpoint: WebhookEndpoint, user: User) -> None:
    """An admin enables a disabled endpoint again (audited); its next events are delivered."""
    endpoint.active = True
    endpoint.failing_since = None
    endpoint.disabled_reason = None
    audit.record(
        user, "webhook.enabled", f"Webhook {endpoint.url} enabled again", offices=[endpoint.office],
        detail={"endpoint_id": endpoint.id},
    )  # fmt: skip


def _locked(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """The endpoint's row, locked and read afresh: two admins' changes to its secrets queue up.
    FOR NO KEY UPDATE on PostgreSQL: texts storing their events (FOR KEY SHARE) do not wait."""
    return db.session.get(
        WebhookEndpoint, endpoint.id, with_for_update={"key_share": True}, populate_existing=True
    )


def rotate_secret(endpoint: WebhookEndpoint, user: User) -> str:
    """A new signing secret for the endpoint (audited; the caller commits), returned to be shown
    once. The one it replaces signs too for PREVIOUS_SECRET_SIGNS_FOR.

    Refused (WebhookError) while the previous secret still signs: a second rotation would stop
    the secret the CRM may still use at once (a reloaded page, a double click, two admins)."""
    endpoint = _locked(endpoint)
    now = utcnow()
    until = previous_secret_signs_until(endpoint, now)
    if until is not None:
        raise WebhookError(
            f"The secret was rotated less than a day ago; the previous one signs until "
            f"{until:%Y-%m-%d %H:%M} UTC. Stop the previous secret first, or rotate after that."
        )
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = now + PREVIOUS_SECRET_SIGNS_FOR
    endpoint.secret = new_secret()
    audit.record(
        user, "webhook.secret_rotated", f"Webhook {endpoint.url}: signing secret rotated",
        offices=[endpoint.office], detail={"endpoint_id": endpoint.id},
    )  # fmt: skip
    return endpoint.secret


def stop_previous_secret(endpoint: WebhookEndpoint, user: User) -> bool:
    """The secret before the last rotation stops signing now (audited; the caller commits): the
    CRM has switched, or the old secret leaked. False: it had stopped already."""
    endpoint = _locked(endpoint)
    if previous_secret_signs_until(endpoint, utcnow()) is None:
        return False
    endpoint.previous_secret = endpoint.previous_secret_until = None
    audit.record(
        user, "webhook.previous_secret_stopped",
        f"Webhook {endpoint.url}: the previous signing secret stopped",
        offices=[endpoint.office], detail={"endpoint_id": endpoint.id},
    )  # fmt: skip
    return True


def forget_previous_secrets(now: datetime | None = None) -> None:
    """Secrets whose day after a rotation is over are no longer kept."""
    endpoints = WebhookEndpoint.__table__
    db.session.execute(
        update(endpoints)
        .where(endpoints.c.previous_secret_until < (now or utcnow()))
        .values(previous_secret=None, previous_secret_until=None)
    )
    db.session.commit()


def delete_endpoint(endpoint: WebhookEndpoint, user: User) -> None:
    """An admin removes an endpoint with its delivery log (audited; the caller commits). Events
    waiting for it are dropped; an attempt under way finds nothing to record."""
    audit.record(
        user, "webhook.deleted", f"Webhook {endpoint.url} deleted", offices=[endpoint.office],
        detail={"endpoint_id": endpoint.id},
    )  # fmt: skip
    db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    db.session.delete(endpoint)
