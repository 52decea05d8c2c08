"""The console SMS provider: prints outgoing messages instead of sending them.

The embedded default for `make run` and development. Replies come in with
`flask --app webapp sms receive --from PHONE --to NUMBER --text TEXT`. Each log record also carries
the message itself (`record.outbound`, an OutboundMessage), for tools and tests that read them.
"""

from __future__ import annotations

import logging
import uuid

from webapp.plugin_api import OutboundMessage, SendResult, SmsProvider, printable

log = logging.getLogger("parley.console_sms")


class ConsoleSmsProvider(SmsProvider):
    label = "Console (development)"
    supports_media = True  # prints the pictures' links

    def send(self, message: OutboundMessage) -> SendResult:
        # A framed block, so a text stands out among the server's and worker's lines.
        lines = [f"  │ {printable(line)}" for line in (message.body or "").splitlines() or [""]]
        lines += [f"  │ [picture] {printable(url)}" for url in message.media_urls]
        log.warning(
            "\n  ┌─ SMS %s → %s (message %s)\n%s\n  └─",
            message.from_phone,
            message.to_phone,
            message.message_id,
            "\n".join(lines),
            extra={"outbound": message},
        )
        return SendResult(status="sent", provider_message_id=f"console-{uuid.uuid4()}")
