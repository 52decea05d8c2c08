"""SQLAlchemy models: persistence and invariants only."""

from webapp.models.api_keys import ApiKey
from webapp.models.audit import AuditEvent, audit_event_offices
from webapp.models.campaigns import (
    NAMING_STATUSES,
    Campaign,
    CampaignContact,
    CampaignImport,
    CampaignImportError,
    CampaignStatus,
    ImportStatus,
)
from webapp.models.conversations import (
    FINAL_STATUSES,
    TEXT_DIRECTIONS,
    AuthorKind,
    Conversation,
    Direction,
    Message,
    MessagePicture,
    Mode,
    Participant,
    ReadMark,
    Status,
)
from webapp.models.embed import UsedLaunchToken
from webapp.models.exports import ExportStatus, OfficeExport
from webapp.models.knowledge_base import IdkAction, KnowledgeBaseEntry
from webapp.models.numbers import Backing, ReusableNumber, number_agents, number_inboxes
from webapp.models.optouts import OptOut, OptOutEvent
from webapp.models.org import Office, Role, SignedInUser, User, office_memberships
from webapp.models.poll_versions import PollVersion
from webapp.models.security import LoginFailure, UserSession, WebhookNonce
from webapp.models.types import utcnow
from webapp.models.webhooks import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from webapp.models.workspace import Presence, SavedReply

__all__ = [
    "NAMING_STATUSES",
    "FINAL_STATUSES",
    "TEXT_DIRECTIONS",
    "ImportStatus",
    "ApiKey",
    "AuditEvent",
    "AuthorKind",
    "Backing",
    "Campaign",
    "CampaignContact",
    "CampaignImport",
    "CampaignImportError",
    "CampaignStatus",
    "Conversation",
    "Direction",
    "ExportStatus",
    "IdkAction",
    "KnowledgeBaseEntry",
    "LoginFailure",
    "Message",
    "MessagePicture",
    "Mode",
    "Office",
    "OfficeExport",
    "OptOut",
    "OptOutEvent",
    "Participant",
    "PollVersion",
    "Presence",
    "ReadMark",
    "ReusableNumber",
    "Role",
    "SavedReply",
    "Status",
    "UsedLaunchToken",
    "SignedInUser",
    "User",
    "UserSession",
    "WebhookNonce",
    "DeliveryStatus",
    "WebhookDelivery",
    "WebhookEndpoint",
    "audit_event_offices",
    "number_agents",
    "number_inboxes",
    "office_memberships",
    "utcnow",
]
