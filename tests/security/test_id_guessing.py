"""Guessing ids: people of Admissions type the ids of Financial Aid's conversations, messages,
numbers, campaigns, contact-list uploads, users, office, knowledge-base entries and opt-outs into
URLs and forms. They get 404 (or 403 where the page is not theirs to open at all), the answer shows
nothing of Financial Aid, and nothing changes. And a Limited user cannot compose (403)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from tests.admin import conftest as admin_fixtures
from tests.conftest import csrf_token, login
from tests.security.office_objects import OfficeObjects, all_rows, office_objects
from webapp.extensions import db
from webapp.models import Message

# The admin tests' two offices (and their cheap password hashing).
world = admin_fixtures.world

FA_CONTACT = "+12025550166"
FA_OPTED_OUT = "+12025550188"
# What Financial Aid's objects would show, were they shown.
FA_TEXTS = ("Is my form in?", "We have it.", "(202) 555-0166", "Finn Staff", "FA Main", "FA List",
            "Pending Financial Aid", "555-0200")  # fmt: skip

ADMISSIONS = ["standard@example.edu", "limited@example.edu", "admin@example.edu"]


@pytest.fixture
def fa(world) -> OfficeObjects:
    return office_objects(
        world["other_admin"], world["other_user"], world["other_office"], world["other_number"],
        world["other_campaign"].id, contact=FA_CONTACT, opted_out=FA_OPTED_OUT,
    )  # fmt: skip


def request(client, method: str, path: str, data: dict | None = None):
    if method == "GET":
        return client.get(path)
    return client.post(path, data={"csrf_token": csrf_token(client, "/inbox"), **(data or {})})


def assert_refused(response, statuses: tuple[int, ...], where: str) -> None:
    body = response.get_data(as_text=True)
    assert response.status_code in statuses, (where, response.status_code)
    for text in FA_TEXTS:
        assert text not in body, (where, text)


def conversation_requests(fa: OfficeObjects) -> list[tuple[str, str, dict | None]]:
    base = f"/conversations/{fa.conversation}"
    return [
        ("GET", base, None),
        ("GET", f"{base}/live", None),
        ("POST", f"{base}/messages", {"body": "Guessed my way in"}),
        ("POST", f"{base}/attention", None),
        ("POST", f"{base}/mode", None),
        ("POST", f"{base}/messages/{fa.message}/retry", None),
        ("POST", f"{base}/notes", {"note": "Guessed my way in"}),
        ("POST", f"{base}/presence", {"typing": "1"}),
        ("GET", f"/saved-replies?conversation_id={fa.conversation}", None),
    ]


@pytest.mark.parametrize("email", ADMISSIONS)
def test_another_offices_conversation_is_not_found(client, fa, email):
    login(client, email)
    before = all_rows()
    for method, path, data in conversation_requests(fa):
        assert_refused(request(client, method, path, data), (404,), f"{method} {path}")
    assert all_rows() == before


LISTS = ("/inbox?tab=attention", "/contacts/lookup?phone=2025550166")


@pytest.mark.parametrize("email", ADMISSIONS)
def test_another_offices_conversation_is_not_listed_or_found_by_phone(app, client, fa, email):
    link = f"/conversations/{fa.conversation}"
    insider = app.test_client()
    login(insider, "fa-staff@example.edu")
    for path in LISTS:  # where Financial Aid's own people find it
        assert link in insider.get(path).get_data(as_text=True), path
    login(client, email)
    for path in (*LISTS, "/inbox?tab=participating", "/contacts/lookup?q=Is%20my%20form"):
        page = client.get(path).get_data(as_text=True)
        assert link not in page, path
        assert "Is my form in?" not in page, path


def test_composing_from_another_offices_number_is_refused(client, fa):
    login(client, "standard@example.edu")
    page = client.get("/texts/new").get_data(as_text=True)
    assert "FA Main" not in page and f'value="{fa.number}"' not in page  # not offered in From
    before = all_rows()
    form = {"number_id": str(fa.number), "to": "2025550143", "body": "From their line"}
    response = request(client, "POST", "/texts/new", form)
    assert_refused(response, (403, 422), "compose from another office's number")
    assert all_rows() == before


def test_a_limited_user_cannot_compose(client, world):
    login(client, "limited@example.edu")
    assert "Create 1:1 Text" not in client.get("/inbox").get_data(as_text=True)
    response = client.get("/texts/new")
    assert response.status_code == 403
    assert "cannot create 1:1 texts" in response.get_data(as_text=True)
    form = {"number_id": str(world["number"].id), "to": "2025550143", "body": "Hi"}
    response = request(client, "POST", "/texts/new", form)
    assert response.status_code == 403
    assert "cannot create 1:1 texts" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0


def admin_requests(fa: OfficeObjects, own_office: int) -> list[tuple[str, str, dict | None]]:
    """Every admin page and action that names one of Financial Aid's objects."""
    office = str(own_office)
    return [
        ("GET", f"/admin/offices/{fa.office}", None),
        ("POST", f"/admin/offices/{fa.office}", {"name": "Renamed"}),
        ("GET", f"/admin/users/{fa.user}", None),
        ("POST", f"/admin/users/{fa.user}", {"name": "Finn", "role": "limited", "office_ids": [office]}),
        ("POST", f"/admin/users/{fa.user}/password", {"new_password": "a-new-long-password"}),
        ("POST", f"/admin/users/{fa.user}/active", {"active": "0"}),
        ("GET", f"/admin/numbers/{fa.number}", None),
        ("POST", f"/admin/numbers/{fa.number}",
         {"office_id": office, "label": "Mine now", "description": "", "provider": "console"}),
        ("POST", f"/admin/numbers/{fa.number}/settings", {"backing": "bot", "inbox_ids": [office]}),
        ("POST", f"/admin/numbers/{fa.number}/active", {"active": "0"}),
        ("GET", f"/admin/campaigns/{fa.campaign}", None),
        ("POST", f"/admin/campaigns/{fa.campaign}/launch", None),
        ("POST", f"/admin/campaigns/{fa.campaign}/archive", None),
        ("GET", f"/admin/campaigns/imports/{fa.import_job}", None),
        ("GET", f"/admin/campaigns/imports/{fa.import_job}/progress", None),
        ("POST", f"/admin/campaigns/imports/{fa.import_job}/save", None),
        ("POST", f"/admin/campaigns/imports/{fa.import_job}/cancel", None),
        # Their knowledge base is not mine to open (403); their entry under my office is not found.
        ("GET", f"/admin/kb/{fa.office}", None),
        ("GET", f"/admin/kb/{fa.office}/entries/{fa.entry}/edit", None),
        ("POST", f"/admin/kb/{fa.office}/entries/{fa.entry}/edit", {"question": "q", "answer": "a"}),
        ("POST", f"/admin/kb/{fa.office}/entries/{fa.entry}/delete", None),
        ("POST", f"/admin/kb/{fa.office}/entries/new", {"question": "q", "answer": "a"}),
        ("POST", f"/admin/kb/{fa.office}/idk", {"idk_action": "message", "idk_message": "Hm"}),
        ("GET", f"/admin/kb/{own_office}/entries/{fa.entry}/edit", None),
        ("POST", f"/admin/kb/{own_office}/entries/{fa.entry}/edit", {"question": "q", "answer": "a"}),
        ("POST", f"/admin/kb/{own_office}/entries/{fa.entry}/delete", None),
        ("POST", f"/admin/api-keys/{fa.api_key}/revoke", None),
        ("GET", f"/admin/webhooks/{fa.webhook}", None),
        ("POST", f"/admin/webhooks/{fa.webhook}/enable", None),
        ("POST", f"/admin/webhooks/{fa.webhook}/disable", None),
        ("POST", f"/admin/webhooks/{fa.webhook}/deliveries/{fa.webhook_delivery}/redeliver", None),
        ("GET", f"/admin/saved-replies/{fa.saved_reply}", None),
        ("POST", f"/admin/saved-replies/{fa.saved_reply}", {"title": "Mine", "body": "Mine now"}),
        ("POST", f"/admin/saved-replies/{fa.saved_reply}/delete", None),
    ]  # fmt: skip


def test_an_admin_guessing_another_offices_ids_finds_nothing(client, world, fa):
    login(client, "admin@example.edu")
    before = all_rows()
    for method, path, data in admin_requests(fa, world["office"].id):
        assert_refused(request(client, method, path, data), (403, 404), f"{method} {path}")
    assert all_rows() == before


def test_under_htmx_a_refusal_is_shown_in_place_of_the_page(client, world, fa):
    """htmx swaps no 4xx by itself: a refused button would silently do nothing."""
    login(client, "admin@example.edu")
    token = csrf_token(client, "/inbox")
    response = client.post(
        f"/admin/users/{fa.user}/active", data={"active": "0", "csrf_token": token},
        headers={"HX-Request": "true"},
    )  # fmt: skip
    assert response.status_code == 404
    assert response.headers["HX-Retarget"] == "#main"
    assert response.headers["HX-Reselect"] == "#main"
    assert "Not found" in response.get_data(as_text=True)


def test_the_audit_log_filtered_by_another_offices_user_shows_nothing_of_theirs(client, world, fa):
    path = f"/admin/audit?user={world['other_admin'].id}"
    # Financial Aid's own admin sees their events (what the other office must not)...
    login(client, "fa-admin@example.edu")
    theirs = client.get(path).get_data(as_text=True)
    assert "for Financial Aid" in theirs and "Financial Aid CRM" in theirs
    client.post("/logout", data={"csrf_token": csrf_token(client, "/inbox")})
    # ...and Admissions' admin, filtering by that user, sees none of them.
    login(client, "admin@example.edu")
    page = client.get(path).get_data(as_text=True)
    for text in (*FA_TEXTS, "for Financial Aid", "Financial Aid CRM"):
        assert text not in page, text


@pytest.mark.parametrize("email", ["standard@example.edu", "limited@example.edu"])
def test_only_admins_see_or_change_opt_outs(client, fa, email):
    login(client, email)
    before = all_rows()
    response = client.get("/admin/opt-outs/")
    assert response.status_code == 403
    assert "(202) 555-0188" not in response.get_data(as_text=True)
    for phone in (FA_OPTED_OUT, "+12025550143"):
        response = request(client, "POST", f"/admin/opt-outs/{phone}/remove", {"reason": "guess"})
        assert response.status_code == 403, phone
    response = request(client, "POST", "/admin/opt-outs/", {"phone": "2025550143"})
    assert response.status_code == 403
    assert all_rows() == before


def test_an_id_larger_than_any_row_is_not_found_on_every_route(app, client, world):
    """Every route with a row's id, in every method it takes, given an id beyond any integer column
    (and beyond 64 bits): refused as an id of no row, the database never asked (it failed with a
    500). Werkzeug's router says 405 where the same path takes another method."""
    login(client, "admin@example.edu")
    token = csrf_token(client, "/inbox")
    checked = []
    for rule in app.url_map.iter_rules():
        if "<int" not in rule.rule or rule.rule.startswith("/api/"):  # the API: its own tests
            continue
        path = re.sub(r"<int(\([^)]*\))?:\w+>", "99999999999999999999", rule.rule)
        path = re.sub(r"<[^>]+>", "x", path)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(path, method=method, data={"csrf_token": token})
            assert response.status_code in (404, 405), (method, path, response.status_code)
            checked.append(rule.endpoint)
    assert {"conversations.show", "admin.user_active", "admin.number_active"} <= set(checked)


# Beyond 64 bits; and beyond the 4,300 digits Python's int() reads (a ValueError, if asked).
HUGE = ["99999999999999999999", "1" * 4301]


@pytest.mark.parametrize("huge", HUGE, ids=["20 digits", "4,301 digits"])
def test_an_id_larger_than_any_row_in_a_form_or_query_names_no_row(client, world, huge):
    login(client, "admin@example.edu")
    queries = (
        f"/admin/audit?before={huge}", f"/admin/audit?user={huge}", f"/search?q=hi&before={huge}",
        f"/inbox?open={huge}", f"/saved-replies?conversation_id={huge}",
    )  # fmt: skip
    for query in queries:
        assert client.get(query).status_code in (200, 404), query
    nobody = client.get(f"/admin/audit?user={huge}").get_data(as_text=True)
    assert "No changes recorded for this filter" in nobody
    data = {"csrf_token": csrf_token(client, "/texts/new"), "number_id": huge, "to": "2025550143",
            "body": "Kept as typed"}  # fmt: skip
    response = client.post("/texts/new", data=data)
    assert response.status_code == 422
    assert "Kept as typed</textarea>" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0
