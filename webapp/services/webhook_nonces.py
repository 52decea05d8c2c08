"""Signed provider webhooks are answered once: each signature's nonce is recorded as it is used."""

from __future__ import annotations

import hashlib

from webapp.models import WebhookNonce, utcnow
from webapp.services.dbutil import insert_ignoring_conflict

MAX_NONCE_LENGTH = 255  # webhook_nonces.nonce is VARCHAR(255)


def use(provider: str, nonce: str) -> bool:
    """Record a webhook's nonce in the caller's transaction; False when it was already used.

    Not committed here: the work the request does commits it, or, for a request refused, the
    refusal, once its work is rolled back. The primary key decides, not a check first: of two
    requests with one nonce, in any processes, one gets True.
    """
    if len(nonce) > MAX_NONCE_LENGTH:
        # Still unique and still the same for a replay; only a signer could make one this long.
        nonce = "sha256:" + hashlib.sha256(nonce.encode("utf-8", "replace")).hexdigest()
    return insert_ignoring_conflict(
        WebhookNonce, ["provider", "nonce"], provider=provider, nonce=nonce, received_at=utcnow()
    )
