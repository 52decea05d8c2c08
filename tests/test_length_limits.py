"""No field cuts what is typed or pasted: text over a limit comes back whole with a refusal that
names the limit, and nothing is saved or sent (the browser's side: tests/browser/test_length_limits.py)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from sqlalchemy import func, select

from tests.admin.conftest import as_admin, post
from tests.conftest import csrf_token, login
from tests.test_web_flow import compose, reply_from_contact
from webapp.extensions import db
from webapp.models import Message, WebhookEndpoint
from webapp.plugin_api import OutboundMessage
from webapp.services import optouts

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
PASTED = ("Thank you for your question about the application. " * 40)[:2000]


def messages() -> int:
    return db.session.scalar(select(func.count()).select_from(Message)) or 0


def test_no_template_lets_the_browser_cut_a_field():
    """maxlength makes the browser drop whatever is pasted past it, silently: every limited field
    carries data-maxlength instead, which app.js counts and checks before sending."""
    cut = [str(path.relative_to(TEMPLATES)) for path in TEMPLATES.rglob("*.html")
           if re.search(r"\smaxlength=", path.read_text())]
    assert cut == []


def test_a_pasted_2000_character_compose_is_kept_whole_and_refused(client, setup):
    login(client, "standard@example.edu")
    response = compose(client, setup["number"].id, "2025550143", PASTED)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "A message can be at most 1,600 characters; this one has 2,000 (400 too many)." in page
    assert f">{PASTED}</textarea>" in page  # whole, for the agent to shorten
    assert messages() == 0


def test_a_reply_over_the_limit_is_kept_whole_and_refused(client, setup):
    conversation_id = reply_from_contact("+12025550143").conversation_id
    db.session.commit()
    login(client, "standard@example.edu")
    token = csrf_token(client, f"/conversations/{conversation_id}")
    response = client.post(
        f"/conversations/{conversation_id}/messages",
        data={"csrf_token": token, "body": PASTED},
        headers={"HX-Request": "true"},
    )
    page = response.get_data(as_text=True)
    assert "at most 1,600 characters; this one has 2,000 (400 too many)" in page
    assert f">{PASTED}</textarea>" in page
    assert 'aria-invalid="true"' in page
    assert messages() == 1  # the contact's own


def test_an_opt_out_note_over_its_limit_is_refused_not_cut(client, setup):
    as_admin(client)
    note = "n" * 250
    response = post(client, "/admin/opt-outs/", {"phone": "2025550143", "note": note})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "A note can be at most 200 characters; this one has 250 (50 too many)." in page
    assert f'value="{note}"' in page
    assert not optouts.is_opted_out("+12025550143")
    # The error sits by the Note field, which is marked and focused; the valid phone is not.
    note_field = re.search(r'<input id="opt-out-note"[^>]*>', page)[0]
    assert 'aria-invalid="true"' in note_field and 'aria-describedby="note-error"' in note_field
    assert "autofocus" in note_field
    assert '<p class="field-error" id="note-error">A note can be at most 200' in page
    phone_field = re.search(r'<input id="opt-out-phone"[^>]*>', page)[0]
    assert "aria-invalid" not in phone_field and "autofocus" not in phone_field
    assert "alert-error" not in page


def test_a_webhook_url_over_its_limit_is_refused(app, client, setup):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    as_admin(client)
    url = "http://127.0.0.1/" + "a" * 2000
    response = post(client, "/admin/webhooks", {"url": url, "office_id": setup["office"].id})
    assert response.status_code == 422
    assert "A webhook URL can be at most 2,000 characters; this one has 2,017." in response.get_data(
        as_text=True
    )
    assert db.session.scalars(select(WebhookEndpoint)).all() == []


def test_the_console_provider_prints_a_text_as_a_block_that_stands_out(app, caplog):
    provider = app.extensions["parley"].sms_providers["console"]
    with caplog.at_level(logging.WARNING, logger="parley.console_sms"):
        provider.send(OutboundMessage(7, "+12025550100", "+12025550143", "Hello!\nSee you Saturday."))
    assert caplog.messages == [
        "\n  ┌─ SMS +12025550100 → +12025550143 (message 7)\n  │ Hello!\n  │ See you Saturday.\n  └─"
    ]
