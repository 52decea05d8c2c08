"""The agent UI's server side: the page title leads with the Needs Attention count; the contact
panel beside a conversation."""

from __future__ import annotations

import io
import re

from tests.conftest import login
from tests.test_web_flow import reply_from_contact
from webapp.extensions import db
from webapp.services import campaigns

CSV = b"first_name,last_name,phone\nMaria,Garcia,2025550143\n"


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


def test_the_contact_panel_shows_only_what_the_agent_may_see(client, setup, make):
    make.office("Financial Aid")
    make.number("+12025550200", office="Financial Aid", inboxes=("Financial Aid",), label="FA Main")
    campaigns.import_campaign("Open House", "Admissions", io.BytesIO(CSV), launch=True)
    campaigns.import_campaign("FA Outreach", "Financial Aid", io.BytesIO(CSV), launch=True)
    campaigns.import_campaign("Draft List", "Admissions", io.BytesIO(CSV))
    mine = reply_from_contact("+12025550143").conversation_id
    theirs = reply_from_contact("+12025550143", to="+12025550200").conversation_id
    db.session.commit()
    login(client, "standard@example.edu")

    page = client.get(f"/conversations/{mine}/contact", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Maria Garcia" in page and "Can be texted" in page
    assert "Open House" in page
    assert "FA Outreach" not in page and "Draft List" not in page  # another office's; never launched
    assert "FA Main" not in page and "None that you can see." in page
    assert client.get(f"/conversations/{theirs}/contact").status_code == 404


def test_the_contact_panel_needs_a_session(client, setup):
    conversation_id = reply_from_contact("+12025550143").conversation_id
    db.session.commit()
    response = client.get(f"/conversations/{conversation_id}/contact")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_headings_and_navigation_carry_icons_not_text_glyphs(client, setup):
    """Symbols typed as text (◆, ▸, ✉) are read aloud by screen readers; icons are SVGs hidden from them."""
    login_page = client.get("/login").get_data(as_text=True)
    heading = re.search(r"<h1>(.*?)</h1>", login_page, re.S)[1]
    assert re.sub(r"<[^>]+>", "", heading).strip() == "Parley"
    assert '<svg class="logo' in heading and 'aria-hidden="true"' in heading
    login(client, "admin@example.edu")
    for path in ("/inbox", "/admin/"):
        page = client.get(path).get_data(as_text=True)
        visible_text = re.sub(r"<(script|style)\b.*?</\1>|<[^>]+>", "", page, flags=re.S)
        assert not re.search(r"[\u2190-\u21ff\u2500-\u27bf\u2b00-\u2bff]", visible_text), path


def test_web_addresses_in_a_message_are_links_whatever_the_case_of_their_scheme(client, setup):
    """Phones capitalise a text's first word: "Https://…" must still open the address it names."""
    body = "Https://apply.example.edu/form?id=1 or HTTP://EXAMPLE.ORG, www.example.net and <b>this</b>"
    conversation_id = reply_from_contact("+12025550143", text=body).conversation_id
    db.session.commit()
    login(client, "standard@example.edu")
    page = client.get(f"/conversations/{conversation_id}").get_data(as_text=True)
    thread = page.split('class="msg-body"')[1].split("</p>")[0]
    links = re.findall(r'<a href="([^"]+)"([^>]*)>', thread)
    assert [href for href, _ in links] == [
        "Https://apply.example.edu/form?id=1", "HTTP://EXAMPLE.ORG", "https://www.example.net",
    ]  # fmt: skip
    for _, attributes in links:  # a new tab that learns nothing of Parley
        assert 'target="_blank"' in attributes and 'rel="noopener noreferrer nofollow"' in attributes
    assert ">Https://apply.example.edu/form?id=1</a>" in thread  # shown as the contact wrote it
    assert "&lt;b&gt;this&lt;/b&gt;" in thread
