"""Agents' internal notes through the CRM API and the activity webhooks: shown as notes
(`direction` "note"), never as texts."""

from __future__ import annotations

import json

from sqlalchemy import select

from tests.api.test_read import receive
from webapp.extensions import db
from webapp.models import Conversation, WebhookDelivery
from webapp.services import conversations, webhooks


def test_a_note_is_in_the_conversations_messages_as_a_note(crm, world):
    webhooks.add_endpoint("http://127.0.0.1:9/events", world["office"], ["note.added"], None, True)
    db.session.commit()
    conversation_id = receive("Is my transcript in?")
    conversation = db.session.get(Conversation, conversation_id)
    note = conversations.add_note(conversation, world["users"]["standard"], "Registrar says Monday")
    db.session.commit()

    data = crm.get(f"/api/v1/conversations/{conversation_id}/messages").get_json()["data"]
    assert [(m["direction"], m["text"], m["author"], m["status"]) for m in data] == [
        ("inbound", "Is my transcript in?", "+12025550143", "received"),
        ("note", "Registrar says Monday", "Sam Standard", ""),
    ]
    assert crm.get(f"/api/v1/messages/{note.id}").get_json()["direction"] == "note"

    delivery = db.session.scalar(select(WebhookDelivery))
    assert delivery.event_type == "note.added"
    body = json.loads(delivery.payload)
    assert body["type"] == "note.added"
    assert body["data"]["direction"] == "note" and body["data"]["text"] == "Registrar says Monday"
