"""One office's objects of every kind a URL can name, for the tests that guess or forge requests,
and a snapshot of every row, to show that a refused request changed nothing."""

from __future__ import annotations

import io
from dataclasses import dataclass

from sqlalchemy import select

from tests.admin.conftest import CONTACTS_CSV
from webapp.extensions import db
from webapp.models import Conversation, Office, ReusableNumber, User, WebhookDelivery
from webapp.plugin_api import InboundMessage
from webapp.services import api_keys, inbound, knowledge_base, optouts, saved_replies, sending, webhooks
from webapp.services.admin import campaigns as imports


@dataclass(frozen=True)
class OfficeObjects:
    office: int
    user: int
    number: int
    campaign: int
    conversation: int
    message: int  # an agent's reply in that conversation
    entry: int  # a knowledge-base entry
    import_job: int  # a checked, not yet saved contact list
    opted_out: str  # a phone on the opt-out list
    api_key: int  # an API key of the office
    webhook: int  # a webhook endpoint of the office
    webhook_delivery: int  # an event delivered to it
    saved_reply: int  # a saved reply of the office


def office_objects(
    admin: User, agent: User, office: Office, number: ReusableNumber, campaign_id: int,
    contact: str, opted_out: str,
) -> OfficeObjects:
    """A conversation needing attention (the contact texted, an agent replied, the contact texted
    again), a knowledge-base entry, a pending contact-list upload, an opt-out, an API key and a
    webhook endpoint with a delivery, a saved reply, all of `office`."""
    received = inbound.receive(
        InboundMessage(from_phone=contact, to_phone=number.phone, body="Is my form in?"), "console"
    )
    conversation = db.session.get(Conversation, received.conversation_id)
    reply = sending.reply(agent, conversation, "We have it.")
    inbound.receive(
        InboundMessage(from_phone=contact, to_phone=number.phone, body="Thanks!"), "console"
    )
    entry = knowledge_base.add_entry(office, "deadline", "January 15.")
    optouts.opt_out(opted_out, source="admin", user=admin)
    key = api_keys.create_key(f"{office.name} CRM", office, admin).key
    endpoint = webhooks.add_endpoint("https://93.184.216.34/events", office, [], admin, False).endpoint
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id, event_type="message.received", webhook_id=f"msg_{office.id}",
        payload="{}", status="delivered",
    )  # fmt: skip
    db.session.add(delivery)
    saved_reply = saved_replies.create(admin, office, "Deadline", "Hi {first_name}: January 15.")
    db.session.commit()
    job = imports.start_import(
        admin, f"Pending {office.name}", office.id, io.BytesIO(CONTACTS_CSV.encode()), "pending.csv"
    )
    return OfficeObjects(
        office=office.id, user=agent.id, number=number.id, campaign=campaign_id,
        conversation=received.conversation_id, message=reply.message_id, entry=entry.id,
        import_job=job, opted_out=opted_out, api_key=key.id, webhook=endpoint.id,
        webhook_delivery=delivery.id, saved_reply=saved_reply.id,
    )  # fmt: skip


def all_rows() -> list[list[str]]:
    """Every row of every table."""
    db.session.expire_all()
    return [
        sorted(map(repr, db.session.execute(select(table)).all()))
        for table in db.metadata.sorted_tables
    ]
