"""The console SMS provider: prints outgoing messages instead of sending them.

The embedded default for `make run` and development. Replies come in with
`flask --app webapp sms receive --from PHONE --to NUMBER --text TEXT`.
"""

from __future__ import annotations

import logging
import uuid

from webapp.plugin_api import OutboundMessage, SendResult, SmsProvider

log = logging.getLogger("parley.console_sms")


class ConsoleSmsProvider(SmsProvider):
    label = "Console (development)"

    def send(self, message: OutboundMessage) -> SendResult:
        log.warning(
            "SMS %s -> %s (message %s): %s",
            message.from_phone,
            message.to_phone,
            message.message_id,
            message.body,
        )
        return SendResult(status="sent", provider_message_id=f"console-{uuid.uuid4()}")
