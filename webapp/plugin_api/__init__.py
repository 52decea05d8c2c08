"""The one import surface for plugin authors."""

from webapp.plugin_api.helpers import (
    fetch_file,
    numbered_links,
    printable,
    required_fields,
    required_settings,
    url_setting,
    url_under,
)
from webapp.plugin_api.interfaces import (
    Bot,
    ContactResolver,
    MediaUnavailable,
    Plugin,
    SmsProvider,
    WebhookRefused,
)
from webapp.plugin_api.questions import content_words
from webapp.plugin_api.records import (
    CampaignListing,
    ContactDirectory,
    KnowledgeBase,
    KnowledgeEntry,
    ParleyRecords,
)
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

__all__ = [
    "Bot",
    "BotContext",
    "BotReply",
    "CampaignListing",
    "ContactDirectory",
    "ContactName",
    "ContactResolver",
    "InboundMessage",
    "KnowledgeBase",
    "KnowledgeEntry",
    "MediaUnavailable",
    "OutboundMessage",
    "ParleyRecords",
    "Plugin",
    "SendResult",
    "SmsProvider",
    "StatusUpdate",
    "WebhookRefused",
    "WebhookRequest",
    "content_words",
    "fetch_file",
    "numbered_links",
    "printable",
    "required_fields",
    "required_settings",
    "url_setting",
    "url_under",
]
