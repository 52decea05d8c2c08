"""GET /api/v1/reports/summary: the key's office's figures, as the Reports page counts them."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from tests.api.conftest import assert_problem
from webapp.extensions import db
from webapp.models import utcnow
from webapp.plugin_api import InboundMessage
from webapp.services import inbound, sending

FIELDS = {
    "messages_sent", "messages_received", "conversations_started", "contacts_replied",
    "first_response_seconds_median", "first_response_seconds_p90", "opt_outs", "bot_answers",
    "bot_escalations",
}  # fmt: skip


def receive(body: str, phone: str = "+12025550143", to: str = "+12025550100") -> None:
    inbound.receive(InboundMessage(from_phone=phone, to_phone=to, body=body), "console")
    db.session.commit()


def test_the_summary_counts_the_keys_office_only(crm, other_crm, world):
    sending.create_text(world["users"]["standard"], world["number"].id, "(202) 555-0143", "Hello")
    receive("Hi, is my file complete?")
    sending.create_text(world["users"]["standard"], world["number"].id, "(202) 555-0143", "It is.")
    receive("STOP")
    receive("Financial aid?", phone="+12025550178", to="+12025550200")
    today = utcnow().date().isoformat()
    body = crm.get(f"/api/v1/reports/summary?from={today}&to={today}").get_json()
    assert set(body) == FIELDS
    assert body["messages_sent"] == 2 and body["messages_received"] == 2
    assert (body["conversations_started"], body["contacts_replied"], body["opt_outs"]) == (1, 1, 1)
    assert body["first_response_seconds_median"] == body["first_response_seconds_p90"] >= 0
    assert (body["bot_answers"], body["bot_escalations"]) == (0, 0)
    other = other_crm.get("/api/v1/reports/summary").get_json()  # the last 30 days by default
    assert (other["messages_sent"], other["messages_received"], other["opt_outs"]) == (0, 1, 0)
    assert other["first_response_seconds_median"] is None  # nothing to measure


def test_a_range_reaching_into_the_future_counts_up_to_now(crm, world):
    """A CRM asks for this month, or for "today" by a clock in a time zone ahead of the office's."""
    receive("Hi, is my file complete?")
    today = utcnow().date()
    for first, last in ((today, today + timedelta(days=2)), (today + timedelta(days=1),) * 2):
        response = crm.get(f"/api/v1/reports/summary?from={first}&to={last}")
        assert response.status_code == 200
        expected = 1 if first == today else 0
        assert response.get_json()["messages_received"] == expected


def test_bad_ranges_are_problems(crm, world):
    today = utcnow().date()
    for query, words in (
        (f"from={today}&to={today - timedelta(days=3)}", "before it starts"),
        (f"from={today - timedelta(days=400)}&to={today}", "at most 366 days"),
        ("from=0001-01-01&to=0001-01-02", "too long ago"),
        ("to=0001-01-02", "too long ago"),
        ("from=9999-12-30&to=9999-12-31", "too far ahead"),
        ("to=9999-12-31", "too far ahead"),
    ):
        body = assert_problem(crm.get(f"/api/v1/reports/summary?{query}"), 422, "invalid-range")
        assert words in body["detail"]
    assert_problem(crm.get("/api/v1/reports/summary?from=yesterday"), 422, "invalid-request")
    assert_problem(crm.get("/api/v1/reports/summary?office=2"), 422, "invalid-request")


def test_the_days_a_refusal_names_are_accepted(crm, world):
    """"The last day can be X at the latest": X itself is accepted, and so on for the first day."""
    for query, field in (("from=9999-12-30&to=9999-12-31", "to"), ("from=0001-01-01&to=0001-01-02", "from")):
        detail = assert_problem(crm.get(f"/api/v1/reports/summary?{query}"), 422, "invalid-range")["detail"]
        named = datetime.strptime(re.search(r"can be (\w{3} \d{2}, \d{4})", detail)[1], "%b %d, %Y").date()
        day = timedelta(days=1)
        first, last = (named - day, named) if field == "to" else (named, named + day)
        assert crm.get(f"/api/v1/reports/summary?from={first}&to={last}").status_code == 200, detail
        beyond = (first, last + day) if field == "to" else (first - day, last)
        assert crm.get(f"/api/v1/reports/summary?from={beyond[0]}&to={beyond[1]}").status_code == 422


def test_the_summary_needs_a_key(app, world):
    client = app.test_client(use_cookies=False)
    assert_problem(client.get("/api/v1/reports/summary"), 401, "unauthorized")


def test_a_date_not_in_the_calendar_or_not_a_date_is_named_with_its_form(crm, world):
    for query, field in (("from=12/01/2026", "from"), ("to=abc", "to"), ("from=2026-02-30", "from"),
                         ("from=2026-01-01&to=2026-02-30", "to")):  # fmt: skip
        body = assert_problem(crm.get(f"/api/v1/reports/summary?{query}"), 422, "invalid-request")
        assert f"{field} must be a date as YYYY-MM-DD" in body["detail"], body
        assert "pattern" not in body["detail"] and "^" not in body["detail"]
        assert [e["field"] for e in body["errors"]] == [field]


def test_a_future_from_alone_says_the_range_ends_today_not_swap_the_dates(crm, world):
    soon = utcnow().date() + timedelta(days=5)
    body = assert_problem(crm.get(f"/api/v1/reports/summary?from={soon}"), 422, "invalid-range")
    assert "swap" not in body["detail"]
    assert "after today" in body["detail"] and "give a to" in body["detail"]
    assert body["errors"][0]["field"] == "from"
