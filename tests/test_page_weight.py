"""Page weight: the first full load of the inbox, HTML plus the CSS and JS it references,
stays within 100 KB uncompressed for an agent with a full first page of conversations."""

from __future__ import annotations

import io
import re

from sqlalchemy import text

from tests.conftest import login
from webapp.extensions import db
from webapp.plugin_api import InboundMessage
from webapp.services import campaigns, inbound

BUDGET = 100 * 1024  # as scripts/bench.py counts it
ROWS = 25  # a full first page (INBOX_PAGE_SIZE)

FIRST_NAMES = ["Maria-Fernanda", "Oluwaseun", "Christopher", "Anastasia", "Muhammad", "Guadalupe"]
LAST_NAMES = ["Castellanos Rodriguez", "Adeyemi-Okonkwo", "Vanderberg", "Papadopoulou", "Nguyen-Tran"]
PREVIEWS = [
    "Hi, I submitted my application last Tuesday but the portal still says my transcript is missing. "
    "Can you check?",
    "Is the campus tour on Saturday still happening? My parents are driving in from out of state.",
    "Thank you so much for the reminder! I'll upload the FAFSA confirmation tonight after work.",
    "What documents do I need for the international student scholarship, and is there a deadline?",
]


def full_inbox(phones: list[str]) -> None:
    """Named campaign contacts, each of whom texted in: a full Needs Attention page."""
    lines = ["first_name,last_name,phone"]
    for k, phone in enumerate(phones):
        lines.append(f"{FIRST_NAMES[k % 6]},{LAST_NAMES[k % 5]},{phone}")
    campaigns.import_campaign("Fall Open House", "Admissions", io.BytesIO("\n".join(lines).encode()),
                              launch=True)
    for k, phone in enumerate(phones):
        message = InboundMessage(from_phone=phone, to_phone="+12025550100", body=PREVIEWS[k % 4])
        inbound.receive(message, "console")


def conversation_ids_from_one() -> None:
    """The rows' links carry conversation ids, so the page's size depends on their digits: the page
    is measured with ids as a new database numbers them. SQLite numbers an emptied table from 1
    again; PostgreSQL's sequence goes on from the run's earlier tests (a test order of its own per
    worker), and is set back (the table is empty here)."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("ALTER SEQUENCE conversations_id_seq RESTART WITH 1"))
        db.session.commit()


def test_first_load_of_a_full_inbox_is_at_most_100_kb(client, setup):
    conversation_ids_from_one()
    full_inbox([f"+1202555{2000 + k:04d}" for k in range(ROWS)])
    login(client, "standard@example.edu")

    page = client.get("/inbox")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.count('<li class="conv-row') == ROWS
    assert "Maria-Fernanda Castellanos Rodriguez" in html

    assets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)
    assets += re.findall(r'<script src="([^"]+)"', html)
    assert any(a.endswith(".css") for a in assets) and any("htmx" in a for a in assets)
    sizes = {"/inbox": len(page.data)}
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert "Content-Encoding" not in response.headers  # counted uncompressed
        sizes[asset] = len(response.data)

    total = sum(sizes.values())
    report = ", ".join(f"{name} {size / 1024:.1f} KB" for name, size in sizes.items())
    assert total <= BUDGET, f"first load is {total / 1024:.1f} KB: {report}"
