"""Provider webhooks: `/webhooks/<provider>/inbound` and `/webhooks/<provider>/status`.

Public (no session) and exempt from CSRF: the provider plugin's signature check is what protects
them. A request whose signature carries a nonce (Plivo) is answered once (the nonce is recorded
with the work it does, or on its own when the request is refused), so a captured request cannot be
played again, not even with another body under a signature that does not cover it (Plivo V2). A
signature without one (Twilio) is the same on the provider's own retry, so such a request is
answered again, as a duplicate. Answers are short plain text (or what the provider takes as "do
nothing" when it acts on the answer, as Twilio does); a provider retries anything but 2xx, and
every handler is idempotent, so a retried delivery changes nothing.
"""

from __future__ import annotations

import dataclasses
import logging

from flask import Blueprint, Response, abort, current_app, request
from werkzeug.datastructures import Headers

from webapp.extensions import csrf, db
from webapp.plugin_api import SmsProvider, WebhookRefused, WebhookRequest
from webapp.plugin_api.registry import installed
from webapp.services import delivery_reports, inbound, webhook_nonces
from webapp.services.phones import PhoneError
from webapp.transactions import discard_writes, read_first

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
csrf.exempt(bp)


@bp.post("/<provider>/inbound")
def inbound_message(provider: str) -> Response:
    plugin, webhook = _verified(provider)
    try:
        message = plugin.parse_inbound(webhook)
    except ValueError as exc:
        return _refused(provider, plugin, webhook, 400, f"Malformed inbound message: {exc}")
    try:
        with read_first():  # the write lock is taken for storing alone
            arrival = inbound.prepare(message, provider)
        _use_once(provider, plugin, webhook)
        received = inbound.store(arrival, provider)
    except inbound.InboundError as exc:
        # A number Parley does not have, no longer uses, or sends through another provider. 404
        # rather than a silent 200: the failure then shows in the provider's webhook logs, where
        # whoever pointed the number at Parley will look; its retries are refused as replays, and
        # nothing is stored.
        log.warning("%s inbound message refused: %s", provider, exc)
        return _refused(provider, plugin, webhook, 404, str(exc))
    except PhoneError as exc:
        return _refused(provider, plugin, webhook, 400, f"Malformed inbound message: {exc}")
    if plugin.inbound_answer is not None:
        body, mimetype = plugin.inbound_answer
        return Response(body, status=200, mimetype=mimetype)
    return _answer(200, "Duplicate, already stored" if received.duplicate else "Stored")


@bp.post("/<provider>/status")
def delivery_report(provider: str) -> Response:
    plugin, webhook = _verified(provider)
    try:
        update = plugin.parse_status(webhook)
        retry = delivery_reports.retry_in_url(webhook.url)
        _use_once(provider, plugin, webhook)
        outcome = delivery_reports.record(update, provider, retry)
    except delivery_reports.UnknownMessage as exc:
        # Every report we asked for names one of our messages; an unknown one is a
        # misrouted callback. 404 makes that visible in the provider's logs.
        log.warning("%s status report: %s", provider, exc)
        return _refused(provider, plugin, webhook, 404, str(exc))
    except ValueError as exc:  # a malformed report, or a status Parley does not know
        return _refused(provider, plugin, webhook, 400, f"Malformed status report: {exc}")
    return _answer(200, f"Message {outcome.message_id} is {outcome.status}")


def _verified(provider: str) -> tuple[SmsProvider, WebhookRequest]:
    """The enabled provider plugin and the request as it sees it; 404/403 otherwise."""
    plugin = current_app.extensions["parley"].sms_providers.get(provider)
    if plugin is None and provider in installed("parley.sms_providers"):
        # Installed, not enabled: nothing here can check its signature, so nothing is accepted.
        abort(_answer(403, f"The {provider} provider is not enabled here: its webhooks are refused."))
    if plugin is None:
        abort(_answer(404, "No such provider"))
    webhook = WebhookRequest(
        method=request.method,
        url=public_url(),
        headers=Headers(request.headers),
        form=request.form.to_dict(),
    )
    try:
        verified = plugin.verify_webhook(webhook)
    except WebhookRefused as exc:
        log.warning("refused a %s webhook: %s: %s", provider, request.path, exc)
        abort(_answer(403, str(exc)))
    if not verified:
        log.warning("refused an unsigned or wrongly signed %s webhook: %s", provider, request.path)
        abort(_answer(403, "Invalid or missing signature"))
    # Signed as sent; read without NULs, which PostgreSQL cannot store and no text needs.
    form = {key: value.replace("\x00", "") for key, value in webhook.form.items()}
    return plugin, dataclasses.replace(webhook, form=form)


def _use_once(provider: str, plugin: SmsProvider, webhook: WebhookRequest) -> None:
    """Record the request's replay key as the first write of the transaction its work commits
    (one INSERT; nothing when the provider has no key); a key already used is a 403."""
    key = plugin.replay_key(webhook)
    if key is not None and not webhook_nonces.use(provider, key):
        log.warning("refused a replayed %s webhook: %s", provider, request.path)
        abort(_answer(403, "Replayed webhook: this signature was already used"))


def _refused(provider: str, plugin: SmsProvider, webhook: WebhookRequest, status: int, text: str) -> Response:
    """Refuse a verified request, changing nothing but using up its nonce: its signature may not
    cover the body (Plivo V2), so a second try could carry another one."""
    discard_writes()
    _use_once(provider, plugin, webhook)
    db.session.commit()
    return _answer(status, text)


def public_url() -> str:
    """The URL the provider called, as it signed it: PUBLIC_BASE_URL, not the internal host."""
    url = current_app.config["PUBLIC_BASE_URL"].rstrip("/") + request.path
    query = request.query_string.decode("utf-8", "replace")
    return f"{url}?{query}" if query else url


def _answer(status: int, text: str) -> Response:
    return Response(text + "\n", status=status, mimetype="text/plain")
