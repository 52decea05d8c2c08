"""A NUL character in any form or query value (or name) is refused with 400 and a message, before
any view runs: PostgreSQL cannot store one (psycopg refuses the string), and no person types one.
The request changes nothing. A provider's signed webhook is the exception: its text is stored
without the NUL, since a refusal would lose it."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from tests.conftest import csrf_token, login
from tests.fake_plivo import v3_headers
from tests.plivo import conftest as plivo_fixtures
from tests.plivo.conftest import CONTACT, PLIVO_NUMBER
from webapp.extensions import db
from webapp.models import Conversation, LoginFailure, Message, OptOutEvent
from webapp.plugin_api import InboundMessage
from webapp.services import inbound, optouts

# Plivo enabled, for a signed webhook.
app = plivo_fixtures.app
plivo_timeout = plivo_fixtures.plivo_timeout
fake_plivo = plivo_fixtures.fake_plivo
plivo_number = plivo_fixtures.plivo_number

REFUSED = "The request contains a NUL character, which Parley does not accept."


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_login_with_a_nul_is_refused_and_not_counted(client, setup):
    data = {"csrf_token": csrf_token(client), "email": "a\x00b@example.edu", "password": "x"}
    response = client.post("/login", data=data)
    assert response.status_code == 400
    assert REFUSED in response.get_data(as_text=True)
    assert count(LoginFailure) == 0


def test_a_compose_form_with_a_nul_sends_nothing(client, setup):
    login(client, "standard@example.edu")
    token = csrf_token(client, "/texts/new")
    form = {"number_id": setup["number"].id, "to": "2025550143", "body": "Hi\x00", "csrf_token": token}
    response = client.post("/texts/new", data=form)
    assert response.status_code == 400
    assert REFUSED in response.get_data(as_text=True)
    assert count(Message) == 0

    # In a field's name too; under htmx the page says it in place of the form.
    form = {"number_id": setup["number"].id, "to": "2025550143", "body": "Hi", "csrf_token": token}
    response = client.post("/texts/new", data={**form, "x\x00": "1"}, headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert response.headers["HX-Retarget"] == "#main"
    assert count(Message) == 0


def test_a_query_string_with_a_nul_is_refused(client, setup):
    login(client, "standard@example.edu")
    response = client.get("/contacts/search?q=Pat%00Doe")
    assert response.status_code == 400
    assert REFUSED in response.get_data(as_text=True)


NUL_IN_PATH = "The address contains a NUL character (%00), which Parley does not accept."


def test_a_nul_in_a_path_segment_is_refused_and_changes_nothing(client, setup):
    """A path segment reaches queries like a form value does (PostgreSQL refused it with a 500)."""
    optouts.opt_out("+12025550143", source="admin", user=setup["users"]["admin"])
    db.session.commit()
    login(client, "admin@example.edu")
    token = csrf_token(client, "/admin/opt-outs/")
    response = client.post("/admin/opt-outs/%00/remove", data={"reason": "x", "csrf_token": token})
    assert response.status_code == 400
    assert NUL_IN_PATH in response.get_data(as_text=True)
    assert optouts.is_opted_out("+12025550143")
    assert count(OptOutEvent) == 1

    inbound.receive(InboundMessage("+12025550143", setup["number"].phone, "Hello"), "console")
    conversation_id = db.session.scalars(select(Conversation.id)).one()
    response = client.get(f"/conversations/{conversation_id}/pictures/%00")
    assert response.status_code == 400
    assert NUL_IN_PATH in response.get_data(as_text=True)

    # The API answers the same refusal as a problem.
    response = client.get("/api/v1/messages/%00")
    assert response.status_code == 400
    assert NUL_IN_PATH in response.get_json()["detail"]


def test_a_signed_webhooks_text_with_a_nul_is_stored_without_it(client, plivo_number):
    """Refused, the text would be lost: the provider's retries carry the same NUL."""
    path = "/webhooks/plivo/inbound"
    form = {
        "From": CONTACT[1:], "To": PLIVO_NUMBER[1:], "Type": "sms",
        "MessageUUID": str(uuid.uuid4()) + "\x00", "Text": "Hello\x00 there",
    }  # fmt: skip
    response = client.post(path, data=form, headers=v3_headers("https://parley.example.edu" + path, form))
    assert response.status_code == 200
    message = db.session.scalars(select(Message)).one()
    assert message.body == "Hello there" and "\x00" not in message.provider_message_id
