"""The API's operations: send a text, read messages and conversations, look up a contact.

Each view reads the request its spectree models validated, calls one service and answers a model.
"""

from __future__ import annotations

from flask import request, url_for
from spectree import Response as Responses

from webapp.services import crm_api
from webapp.services.dbutil import MAX_ROW_ID
from webapp.transactions import read_first
from webapp.web.api import bp, caller, spec
from webapp.web.api.schemas import (
    ContactOut,
    ConversationOut,
    ConversationPage,
    ConversationsQuery,
    MessageOut,
    MessagePage,
    OfficeMessagesQuery,
    PageQuery,
    PhoneQuery,
    Problem,
    SendHeaders,
    SendMessage,
)

# Ids are 32-bit in the database: a bigger one is simply not there (404), never a database error.
ID = f"int(min=1, max={MAX_ROW_ID})"
# 413: a body over the size limit is refused before anything else, whatever the method.
READ_ERRORS = {
    "HTTP_400": Problem, "HTTP_401": Problem, "HTTP_413": Problem, "HTTP_422": Problem, "HTTP_429": Problem
}  # fmt: skip


def _message_out(message: crm_api.ApiMessage) -> MessageOut:
    return MessageOut(
        id=message.id, conversation_id=message.conversation_id, direction=message.direction,
        status=message.status, from_=message.from_phone, to=message.to_phone, text=message.text,
        author=message.author, created_at=message.created_at, error_reason=message.error_reason,
        send_at=message.send_at, erased_at=message.erased_at,
    )  # fmt: skip


def _conversation_out(conversation: crm_api.ApiConversation) -> ConversationOut:
    return ConversationOut(**vars(conversation))


@bp.post("/messages")
@spec.validate(
    json=SendMessage,
    headers=SendHeaders,
    resp=Responses(
        HTTP_202=MessageOut, HTTP_400=Problem, HTTP_401=Problem, HTTP_413=Problem,
        HTTP_415=Problem, HTTP_422=Problem, HTTP_429=Problem,
    ),  # fmt: skip
    tags=["messages"],
)
def send_message():
    """Send a 1:1 text

    Queues the text from one of the office's numbers, as an agent's Send does (the same queue,
    opt-out checks and statuses), authored by the API key's name. Answers 202 with the message,
    `status` "queued"; read it again for its progress (sent, delivered or failed). Inside the
    office's quiet hours the text is held instead: `status` "scheduled", and `send_at` says when
    it goes.
    """
    body: SendMessage = request.context.json
    key = request.context.headers.idempotency_key
    with read_first():
        checked = crm_api.check_send(caller(), body.from_, body.to, body.text, key)
        earlier = crm_api.earlier(caller(), checked)
    sent = earlier or crm_api.send(caller(), checked)
    out = _message_out(sent.message)
    # Where the message's progress is read (202: accepted, not yet sent).
    headers = {"Location": url_for("api.get_message", message_id=out.id)}
    if sent.replayed:
        headers["Idempotent-Replayed"] = "true"
    return out, 202, headers


@bp.get("/messages")
@spec.validate(
    query=OfficeMessagesQuery, resp=Responses(HTTP_200=MessagePage, **READ_ERRORS), tags=["messages"]
)
def list_messages():
    """List the office's messages

    Every message of the office's conversations (agents' notes too) at least 30 seconds old,
    oldest first, after the message id `after`: how a CRM catches up on what it missed, e.g.
    while its webhook endpoint was down. `next_cursor` fetches the next page (null at the end:
    keep the last id you saw for `after` next time).
    """
    query: OfficeMessagesQuery = request.context.query
    page = crm_api.office_messages(caller(), query.after, query.cursor, query.limit)
    return MessagePage(data=[_message_out(m) for m in page.data], next_cursor=page.next_cursor)


@bp.get(f"/messages/<{ID}:message_id>")
@spec.validate(
    # No query or body to refuse: an id that names no message of the office is 404. Naming 404
    # as the validation status keeps spectree from documenting a 422 this never answers.
    resp=Responses(
        HTTP_200=MessageOut, HTTP_401=Problem, HTTP_404=Problem, HTTP_413=Problem, HTTP_429=Problem
    ),
    validation_error_status=404,
    tags=["messages"],
)
def get_message(message_id: int):
    """Read a message

    One message of the office's conversations, with its current status.
    """
    return _message_out(crm_api.message(caller(), message_id))


@bp.get("/conversations")
@spec.validate(
    query=ConversationsQuery,
    resp=Responses(HTTP_200=ConversationPage, **READ_ERRORS),
    tags=["conversations"],
)
def list_conversations():
    """Find conversations with a phone

    The office's conversations with the contact phone, the most recent activity first (as a
    contact lookup lists them).
    """
    query: ConversationsQuery = request.context.query
    page = crm_api.conversations_with(caller(), query.phone, query.cursor, query.limit)
    return ConversationPage(
        data=[_conversation_out(c) for c in page.data], next_cursor=page.next_cursor
    )


@bp.get(f"/conversations/<{ID}:conversation_id>/messages")
@spec.validate(
    query=PageQuery,
    resp=Responses(HTTP_200=MessagePage, HTTP_404=Problem, **READ_ERRORS),
    tags=["conversations"],
)
def conversation_messages(conversation_id: int):
    """List a conversation's messages

    Oldest first; `next_cursor` fetches the next page (null at the end).
    """
    query: PageQuery = request.context.query
    page = crm_api.conversation_messages(caller(), conversation_id, query.cursor, query.limit)
    return MessagePage(data=[_message_out(m) for m in page.data], next_cursor=page.next_cursor)


@bp.get("/contacts/lookup")
@spec.validate(
    query=PhoneQuery, resp=Responses(HTTP_200=ContactOut, **READ_ERRORS), tags=["contacts"]
)
def lookup_contact():
    """Look up a contact

    The contact's name (from the office's campaign records), whether it opted out, and the
    office's conversations with it, the most recent activity first.
    """
    query: PhoneQuery = request.context.query
    contact = crm_api.lookup_contact(caller(), query.phone)
    return ContactOut(
        phone=contact.phone, name=contact.name, opted_out=contact.opted_out,
        conversations=[_conversation_out(c) for c in contact.conversations],
    )  # fmt: skip
