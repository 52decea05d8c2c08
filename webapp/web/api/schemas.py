"""The API's request and response bodies. These models validate requests (through spectree) and
are the OpenAPI document's schemas: the document cannot say one thing while the server checks
another."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from webapp.services.dbutil import MAX_ROW_ID, unstorable
from webapp.services.phones import plain
from webapp.services.segments import MAX_MESSAGE_LENGTH

E164 = r"^\+[1-9][0-9]{1,14}$"
# The characters a typed US phone may have (digits, spaces and "().+-"), once read as the UI reads
# it (full-width digits, any dash, a copy's direction marks: `phones.plain`); the server then checks
# that they make a valid US number.
TYPED_PHONE = r"^[0-9\s().+-]+$"
CURSOR = r"^[A-Za-z0-9_-]*$"
# Printable ASCII: a key travels in an HTTP header.
# Printable ASCII, no spaces, and no commas: two Idempotency-Key headers arrive joined by one.
IDEMPOTENCY_KEY = r"^[\x21-\x2b\x2d-\x7e]+$"


def storable(text: str) -> str:
    """Refuse what no database column can keep: NUL characters and lone surrogates."""
    problem = unstorable(text)
    if problem:
        raise ValueError(problem)
    return text


def _if_text(change):
    return BeforeValidator(lambda value: change(value) if isinstance(value, str) else value)


Text = Annotated[str, AfterValidator(storable)]
# A phone as people type or paste it, in the ASCII form the pattern describes.
TypedPhone = Annotated[str, _if_text(plain), AfterValidator(storable)]
# A message as it is kept: a line break counts once, as the UI's counter counts it (browsers send
# a textarea's line breaks as CR LF).
MessageText = Annotated[str, _if_text(lambda text: text.replace("\r\n", "\n")), AfterValidator(storable)]
# Constraints inside the type: on an optional field, the document keeps them too.
Cursor = Annotated[str, StringConstraints(max_length=100, pattern=CURSOR), AfterValidator(storable)]
IdempotencyKey = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=IDEMPOTENCY_KEY), AfterValidator(storable)
]


class SendMessage(BaseModel):
    """A 1:1 text to send from one of the key's office's numbers."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)

    from_: Text = Field(
        alias="from",
        pattern=E164,
        description="E.164 phone of a reusable number of the key's office.",
        examples=["+12025550100"],
    )
    to: TypedPhone = Field(
        min_length=1,
        max_length=40,
        pattern=TYPED_PHONE,
        description="The contact's US phone, in any common format (e.g. (202) 555-0143).",
        examples=["(202) 555-0143"],
    )
    text: MessageText = Field(
        min_length=1,
        max_length=MAX_MESSAGE_LENGTH,
        description=f"The message, at most {MAX_MESSAGE_LENGTH} characters (a line break, CR LF "
        "included, counts as one).",
        examples=["Your application is complete."],
    )


class SendHeaders(BaseModel):
    """Headers of a send."""

    model_config = ConfigDict(extra="ignore")

    idempotency_key: IdempotencyKey | None = Field(
        default=None,
        alias="Idempotency-Key",
        description="Any unique string (e.g. a UUID). A retry with the same key and body returns "
        "the same message and sends nothing again; with another body it gets 422. Kept at least "
        "24 hours.",
    )


class PhoneQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: TypedPhone = Field(
        min_length=1,
        max_length=40,
        pattern=TYPED_PHONE,
        description="A US phone in any common format.",
        examples=["(202) 555-0143"],
    )


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cursor: Cursor | None = Field(
        default=None,
        description="`next_cursor` of the previous page.",
    )
    limit: int = Field(default=50, ge=1, le=200, description="Items per page.")


class ConversationsQuery(PhoneQuery, PageQuery):
    model_config = ConfigDict(extra="forbid")


class OfficeMessagesQuery(PageQuery):
    model_config = ConfigDict(extra="forbid")

    after: int | None = Field(
        default=None,
        ge=0,
        le=MAX_ROW_ID,
        description="Start after this message id, e.g. the last one your CRM holds; left out: "
        "from the office's first message. Only on the first page (then `cursor`).",
    )


class MessageOut(BaseModel):
    """A message as the API shows it."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    id: int
    conversation_id: int
    direction: Literal["inbound", "outbound", "note"] = Field(
        description="inbound: from the contact; outbound: from the office; note: an agent's "
        "internal note in the conversation, never sent to the contact."
    )
    status: str = Field(
        description="outbound: queued, sending, sent, delivered, undelivered or failed, or "
        "scheduled (held by the office's quiet hours) and cancelled; inbound: received; "
        "note: empty."
    )
    from_: str = Field(alias="from", description="E.164 phone it came from.")
    to: str = Field(description="E.164 phone it went to.")
    text: str
    author: str = Field(
        description="Who wrote it: an agent's name, the API key's name, Bot, Parley (automatic "
        "answers), or the contact's phone for inbound messages."
    )
    created_at: datetime
    # No defaults: both are always in a message, null when they do not apply, so the document
    # marks them required and generated clients need not treat them as optional.
    error_reason: str | None = Field(description="Why it failed, when it did; else null.")
    send_at: datetime | None = Field(
        description="When a scheduled message goes (UTC, ISO 8601): the end of the office's quiet "
        "hours, or the time an agent chose; null when the message is not scheduled.",
    )
    erased_at: datetime | None = Field(
        description="When the office's message retention erased this message's text and pictures "
        "(UTC, ISO 8601; `text` is then empty); null while they are kept.",
    )


class MessagePage(BaseModel):
    data: list[MessageOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at the end.")


class ConversationOut(BaseModel):
    id: int
    number: str = Field(description="E.164 phone of the office's reusable number.")
    contact_phone: str
    contact_name: str | None = Field(description="From the office's campaign records, if known.")
    mode: Literal["agent", "bot"]
    needs_attention: bool
    last_activity_at: datetime
    created_at: datetime


class ConversationPage(BaseModel):
    data: list[ConversationOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at the end.")


class ContactOut(BaseModel):
    phone: str = Field(description="E.164")
    name: str | None
    opted_out: bool = Field(description="Opted out (STOP): nothing can be sent to this phone.")
    conversations: list[ConversationOut]


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document (served as application/problem+json)."""

    type: str = Field(description="Identifies the kind of problem; documented at /api/v1/docs.")
    title: str
    status: int
    detail: str = Field(description="What went wrong and what to do about it.")
    errors: list[FieldError] = Field(default_factory=list)
