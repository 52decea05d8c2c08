"""The console provider passes the conformance kit: its "API" is the log it prints texts to."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.conformance.conftest import OnTheSuitesDatabase
from webapp.plugin_api.testing import ProviderConformance, SentMessage


class ConsoleLog(logging.Handler):
    """Keeps the console provider's log records: each carries the message it printed."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class TestConsoleProvider(OnTheSuitesDatabase, ProviderConformance):
    provider_name = "console"
    webhooks = False  # replies come in with `flask sms receive`

    @pytest.fixture
    def provider_api(self) -> Iterator[ConsoleLog]:
        handler = ConsoleLog()
        logger = logging.getLogger("parley.console_sms")
        logger.addHandler(handler)
        try:
            yield handler
        finally:
            logger.removeHandler(handler)

    def sent_messages(self, provider_api: ConsoleLog) -> list[SentMessage]:
        printed = [record.outbound for record in provider_api.records]
        return [
            SentMessage(m.from_phone, m.to_phone, m.body, m.status_callback_url, media_urls=m.media_urls)
            for m in printed
        ]


def test_the_console_prints_pictures_links(caplog):
    from plugins.console_sms import ConsoleSmsProvider
    from webapp.plugin_api import OutboundMessage

    with caplog.at_level(logging.WARNING, logger="parley.console_sms"):
        ConsoleSmsProvider({}).send(
            OutboundMessage(7, "+12025550100", "+12025550143", "Map", media_urls=("https://x.test/m.png",))
        )
    assert "│ Map" in caplog.text
    assert "│ [picture] https://x.test/m.png" in caplog.text


def test_the_console_prints_control_characters_escaped_never_raw(caplog):
    """Whatever a text holds, it cannot ring the operator's terminal or change its colours."""
    from plugins.console_sms import ConsoleSmsProvider
    from webapp.plugin_api import OutboundMessage

    with caplog.at_level(logging.WARNING, logger="parley.console_sms"):
        ConsoleSmsProvider({}).send(
            OutboundMessage(7, "+12025550100", "+12025550143", "\u0007bell \u001b[31mred\u200b\tend")
        )
    assert "│ \\x07bell \\x1b[31mred\\u200b\\tend" in caplog.text
    printed = caplog.records[0].getMessage()
    assert not any(ord(c) < 0x20 and c != "\n" or 0x7F <= ord(c) < 0xA0 for c in printed)
