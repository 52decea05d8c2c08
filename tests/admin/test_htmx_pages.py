"""Every page answers an htmx request (`HX-Request: true`) with its fragment, never a server error:
the block a view renders for htmx must be one of its template's own and hold what it uses (a
macro imported outside the block is not there when the block renders alone)."""

from __future__ import annotations

from tests.conftest import login
from webapp.extensions import db
from webapp.services import campaigns

# Routes that are not pages: files, machine endpoints, provider and sign-in callbacks.
NOT_PAGES = ("/static", "/api/", "/webhooks/", "/embed/", "/media/", "/auth/", "/healthz", "/readyz")


def test_every_page_answers_an_htmx_request(app, client, world):
    campaigns.launch_campaign(world["campaign"])  # search then finds a contact by name
    db.session.commit()
    login(client, "admin@example.edu")
    pages = sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and not rule.arguments and not rule.rule.startswith(NOT_PAGES)
    )
    office_id = world["office"].id
    pages += ["/search?q=Maria", "/search?q=2025550143", f"/admin/offices/{office_id}/compliance"]
    assert "/admin/compliance" in pages and len(pages) > 20
    failed = {}
    for page in pages:
        status = client.get(page, headers={"HX-Request": "true"}).status_code
        if status >= 500:
            failed[page] = status
    assert failed == {}
