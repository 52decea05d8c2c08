"""The agent UI's server side: the page title leads with the Needs Attention count."""

from __future__ import annotations

import re

from tests.conftest import login
from tests.test_web_flow import reply_from_contact
from webapp.extensions import db


def title(page: str) -> str:
    return re.search(r"<title>(.*?)</title>", page, re.S)[1].strip()


def test_the_title_leads_with_the_needs_attention_count(client, setup):
    login(client, "standard@example.edu")
    assert title(client.get("/inbox").get_data(as_text=True)) == "Inbox · Parley"
    for phone in ("+12025550143", "+12025550178", "+12025550199"):
        conversation_id = reply_from_contact(phone).conversation_id
    db.session.commit()
    assert title(client.get("/inbox").get_data(as_text=True)) == "(3) Inbox · Parley"
    page = client.get(f"/conversations/{conversation_id}").get_data(as_text=True)
    assert title(page) == "(3) (202) 555-0199 · Parley"
