"""The audit log: who changed what and when, for every admin change and every opt-out change."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.admin.conftest import CONTACTS_CSV, post, upload
from tests.conftest import PASSWORD, login
from webapp.extensions import db
from webapp.models import AuditEvent, KnowledgeBaseEntry, utcnow
from webapp.plugin_api import InboundMessage
from webapp.services import audit, inbound, optouts
from webapp.services.admin import offices


def test_every_admin_change_is_recorded_with_who_and_when(client, world):
    admin, office, number = world["users"]["admin"], world["office"], world["number"]
    standard = world["users"]["standard"]
    start = utcnow() - timedelta(seconds=1)
    login(client, "admin@example.edu")
    steps = [
        ("/admin/offices", {"name": "Registrar"}),
        (f"/admin/offices/{office.id}", {"name": "Admissions", "help_text": "Call us"}),
        ("/admin/users/new", {"name": "Nia", "email": "nia@example.edu", "role": "standard",
                              "office_ids": [str(office.id)], "password": "long-password"}),
        (f"/admin/users/{standard.id}", {"name": "Sam S", "role": "standard",
                                         "office_ids": [str(office.id)]}),
        (f"/admin/users/{standard.id}/password", {"new_password": "long-password-2"}),
        (f"/admin/users/{standard.id}/active", {"active": "0"}),
        (f"/admin/users/{standard.id}/active", {"active": "1"}),
        ("/admin/numbers/new", {"phone": "+12025550300", "office_id": str(office.id),
                                "label": "New", "provider": "console", "backing": "agent"}),
        (f"/admin/numbers/{number.id}", {"office_id": str(office.id), "label": "Main",
                                         "provider": "console"}),
        (f"/admin/numbers/{number.id}/settings", {"backing": "bot"}),
        (f"/admin/numbers/{number.id}/active", {"active": "0"}),
        (f"/admin/numbers/{number.id}/active", {"active": "1"}),
    ]  # fmt: skip
    for path, data in steps:
        assert post(client, path, data).status_code == 303, path
    job_id = int(
        upload(client, "Spring", office.id, CONTACTS_CSV.encode()).headers["Location"].rsplit("/", 1)[1]
    )
    campaign_url = post(client, f"/admin/campaigns/imports/{job_id}/save").headers["Location"]
    post(client, f"{campaign_url}/launch")
    post(client, f"{campaign_url}/archive")

    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [e.kind for e in events] == [
        "office.created", "office.updated", "user.created", "user.updated", "user.password_set",
        "user.deactivated", "user.reactivated", "number.added", "number.updated",
        "number.settings_updated", "number.deactivated", "number.reactivated", "campaign.saved",
        "campaign.launched", "campaign.archived",
    ]  # fmt: skip
    assert {e.actor_id for e in events} == {admin.id}
    assert all(e.created_at >= start for e in events)
    assert events[3].summary == "Sam Standard: name Sam Standard → Sam S"


def test_opt_out_changes_are_recorded_for_every_admin(client, world):
    admin = world["users"]["admin"]
    inbound.receive(
        InboundMessage(from_phone="+12025550143", to_phone="+12025550100", body="STOP"), "console"
    )
    inbound.receive(
        InboundMessage(from_phone="+12025550143", to_phone="+12025550100", body="start"), "console"
    )
    optouts.opt_out("+12025550178", "admin", user=admin, detail="asked by phone")
    db.session.commit()
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.kind, e.actor_id) for e in events] == [
        ("optout.added", None), ("optout.removed", None), ("optout.added", admin.id),
    ]  # fmt: skip
    # The number stays out of the words every office's admins read (the log shows it to its own).
    assert events[0].summary == "(202) 555-0143 opted out by text (texted a number of Admissions)"
    assert events[2].summary == "(202) 555-0178 opted out by an admin (asked by phone)"
    # Opt-outs hold for the whole organisation: both offices' admins see them.
    for email in ("admin@example.edu", "fa-admin@example.edu"):
        client = client.application.test_client()
        login(client, email)
        page = client.get("/admin/audit").get_data(as_text=True)
        assert "(202) 555-0143 opted out by text" in page and "opted back in" in page


def test_audit_page_lists_who_what_when_and_filters(client, world):
    admin, other_admin = world["users"]["admin"], world["other_admin"]
    offices.create_office(admin, "Registrar")
    offices.update_office(admin, world["office"], "Admissions", "Call us")
    offices.update_office(other_admin, world["other_office"], "Student Aid", "")
    db.session.commit()
    login(client, "admin@example.edu")
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "Created office Registrar" in page and "Alex Admin" in page
    assert "Office created" in page and "<time datetime=" in page
    assert "Student Aid" not in page  # another office's change

    by_kind = client.get("/admin/audit?kind=office.updated").get_data(as_text=True)
    assert "changed its HELP reply" in by_kind and "Created office Registrar" not in by_kind
    by_category = client.get("/admin/audit?kind=office").get_data(as_text=True)
    assert "changed its HELP reply" in by_category and "Created office Registrar" in by_category
    inbound.receive(
        InboundMessage(from_phone="+12025550143", to_phone="+12025550100", body="STOP"), "console"
    )
    by_user = client.get(f"/admin/audit?user={admin.id}").get_data(as_text=True)
    stop = "(202) 555-0143 opted out by text"
    assert "Created office Registrar" in by_user and stop not in by_user
    nobody = client.get(f"/admin/audit?user={audit.NO_USER}").get_data(as_text=True)
    assert stop in nobody and "Created office Registrar" not in nobody
    fragment = client.get(
        "/admin/audit?kind=optout", headers={"HX-Request": "true", "HX-Target": "audit-results"}
    ).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="audit-results"') and stop in fragment


@pytest.mark.parametrize(
    ("query", "words"),
    [("user=abc", "The User filter is not one of its choices"), ("user=%C2%B2", "The User filter"),
     ("kind=zzz", "The Kind filter is not one of its choices")],
)
def test_a_filter_the_form_never_offers_lists_nothing_and_says_so(client, world, query, words):
    offices.create_office(world["users"]["admin"], "Registrar")
    db.session.commit()
    login(client, "admin@example.edu")
    response = client.get(f"/admin/audit?{query}")
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and words in page and 'role="alert"' in page
    assert "Created office Registrar" not in page


def test_audit_pages_by_keyset(client, world):
    admin = world["users"]["admin"]
    for i in range(audit.PAGE_SIZE + 5):
        offices.update_office(admin, world["office"], "Admissions", f"Help text {i}")
        db.session.flush()
    db.session.commit()
    page = audit.list_events(admin)
    assert len(page.events) == audit.PAGE_SIZE and page.next_cursor == page.events[-1].id
    rest = audit.list_events(admin, before_id=page.next_cursor)
    assert len(rest.events) == 5 and rest.next_cursor is None
    assert {e.id for e in page.events}.isdisjoint(e.id for e in rest.events)

    login(client, "admin@example.edu")
    html = client.get("/admin/audit").get_data(as_text=True)
    assert f"before={page.next_cursor}" in html and "Show older changes" in html
    more = client.get(f"/admin/audit?before={page.next_cursor}", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "<html" not in more and more.count("<tr>") == 5


def test_a_change_that_is_rolled_back_leaves_no_audit_entry(world):
    offices.create_office(world["users"]["admin"], "Registrar")
    db.session.rollback()
    assert db.session.scalar(select(AuditEvent.id)) is None


def test_opt_outs_changed_on_the_opt_out_page_name_the_admin(client, world):
    # A manual opt-out is for the admins of the offices of who added it: Alex removes his own.
    login(client, "admin@example.edu")
    response = post(client, "/admin/opt-outs/", {"phone": "(202) 555-0143", "note": "asked at fair"})
    assert response.status_code == 303
    response = post(client, "/admin/opt-outs/+12025550143/remove", {"reason": "texted us to resume"})
    assert response.status_code == 303
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.kind, e.actor_id) for e in events] == [
        ("optout.added", world["users"]["admin"].id),
        ("optout.removed", world["users"]["admin"].id),
    ]
    page = client.get("/admin/audit?kind=optout").get_data(as_text=True)
    assert "(202) 555-0143 opted out by an admin (asked at fair)" in page
    assert "Alex Admin" in page


def test_a_change_from_the_command_line_says_so(client, world):
    cli = client.application.test_cli_runner()
    result = cli.invoke(args=["api-keys", "create", "Slate", "--office", "Admissions"])
    assert result.exit_code == 0, result.output
    login(client, "admin@example.edu")
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "API key Slate created for Admissions" in page
    assert "Contact, provider or command line" in page


def test_offices_users_numbers_and_campaigns_made_on_the_command_line_are_recorded(client, world, tmp_path):
    """An admin account made from the command line leaves a trace, as one made in the console does."""
    listing = tmp_path / "fair.csv"
    listing.write_text("first_name,last_name,phone\nAna,Ruiz,2025550143\nBad,Row,12\n")
    commands = [
        ["offices", "create", "Registrar"],
        ["users", "create", "root@example.edu", "--role", "admin", "--password", PASSWORD,
         "--office", "Admissions", "--name", "Rae Root"],
        ["numbers", "add", "+12025550300", "--office", "Admissions", "--provider", "console",
         "--backing", "agent", "--inbox", "Admissions"],
        ["campaigns", "import", "Fair", str(listing), "--office", "Admissions"],
        ["campaigns", "launch", "Fair"],
        ["campaigns", "import", "Fair 2", str(listing), "--office", "Admissions", "--launch"],
        ["campaigns", "launch", "Fair"],  # refused: already launched, so nothing to record
    ]  # fmt: skip
    cli = client.application.test_cli_runner()
    for args in commands:
        cli.invoke(args=args)
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.kind, e.actor_id, e.summary) for e in events] == [
        ("office.created", None, "Created office Registrar on the command line"),
        ("user.created", None,
         "Created Rae Root (root@example.edu) as Texting - Administrative in Admissions on the command line"),
        ("number.added", None,
         "Added (202) 555-0300 to Admissions (agent-backed, console) on the command line"),
        ("campaign.saved", None, "Saved campaign Fair as a draft for Admissions on the command line: "
         "1 contact from fair.csv (1 invalid row left out)"),
        ("campaign.launched", None, "Launched campaign Fair (1 contact) on the command line"),
        ("campaign.saved", None, "Saved campaign Fair 2 as a draft for Admissions on the command line: "
         "1 contact from fair.csv (1 invalid row left out)"),
        ("campaign.launched", None, "Launched campaign Fair 2 (1 contact) on the command line"),
    ]  # fmt: skip
    login(client, "admin@example.edu")
    page = client.get("/admin/audit?kind=user").get_data(as_text=True)
    assert "Created Rae Root (root@example.edu) as Texting - Administrative in Admissions" in page
    # In no office (as the first single sign-on administrator is made): every admin sees it, as they
    # see a new office nobody belongs to yet.
    loose = ["users", "create", "sso-root@example.edu", "--role", "admin", "--password", PASSWORD]
    assert cli.invoke(args=loose).exit_code == 0
    other = client.application.test_client()
    login(other, "fa-admin@example.edu")
    page = other.get("/admin/audit").get_data(as_text=True)
    assert "sso-root@example.edu) as Texting - Administrative in no office on the command line" in page
    assert "Created office Registrar on the command line" in page
    assert "Rae Root" not in page  # Admissions' own


def test_knowledge_base_changes_are_in_the_audit_log(client, world):
    """What the bot tells contacts is an admin change like any other: adding, changing and deleting
    an entry and the "I don't know" setting show in the office's audit log, with who did it."""
    kb = f"/admin/kb/{world['office'].id}"
    login(client, "admin@example.edu")
    entry = {"question": "application deadline\nwhen are applications due", "answer": "Jan 15."}
    assert post(client, f"{kb}/entries/new", entry).status_code == 303
    entry_id = db.session.scalars(select(KnowledgeBaseEntry.id)).one()
    edit = f"{kb}/entries/{entry_id}/edit"
    assert post(client, edit, {**entry, "answer": "January 15."}).status_code == 303
    assert post(client, edit, {**entry, "answer": "January 15."}).status_code == 303  # no change
    assert post(client, edit, {"question": "", "answer": "Nope"}).status_code == 422  # refused
    idk = {"idk_action": "message", "idk_message": "A counselor will text you back."}
    assert post(client, f"{kb}/idk", idk).status_code == 200
    assert post(client, f"{kb}/idk", {"idk_action": "message", "idk_message": ""}).status_code == 422
    assert post(client, f"{kb}/entries/{entry_id}/delete").status_code == 303

    page = client.get("/admin/audit?kind=kb").get_data(as_text=True)
    rows = re.findall(r"<tr>\s*<td class=\"nowrap\">.*?</tr>", page, re.S)
    shown = [(re.search(r'class="tag[^"]*">([^<]*)<', row)[1], re.search(r"<td>([^<]*)</td>", row)[1])
             for row in rows]  # fmt: skip
    assert shown == [
        ("Knowledge-base entry deleted",
         "Knowledge base of Admissions: deleted “application deadline” (and 1 other phrasing)"),
        ("Bot&#39;s “I don&#39;t know” changed",
         "Knowledge base of Admissions: when the bot does not know, the bot sends "
         "“A counselor will text you back.”"),
        ("Knowledge-base entry changed",
         "Knowledge base of Admissions: changed its answer of “application deadline” (and 1 other "
         "phrasing)"),
        ("Knowledge-base entry added",
         "Knowledge base of Admissions: added “application deadline” (and 1 other phrasing)"),
    ]  # fmt: skip
    assert all("Alex Admin" in row for row in rows)
    assert "Knowledge base" in client.get("/admin/audit").get_data(as_text=True)  # a filter choice

    other = client.application.test_client()
    login(other, "fa-admin@example.edu")  # another office's knowledge base is not theirs to follow
    assert "Knowledge base of Admissions" not in other.get("/admin/audit").get_data(as_text=True)


def test_knowledge_base_changes_from_the_command_line_are_in_the_audit_log(client, world):
    cli = client.application.test_cli_runner()
    result = cli.invoke(args=["kb", "add", "Admissions", "--question", "tour", "--answer", "Daily."])
    assert result.exit_code == 0, result.output
    result = cli.invoke(args=["kb", "idk", "Admissions", "--message", "We will reply soon."])
    assert result.exit_code == 0, result.output
    login(client, "admin@example.edu")
    page = client.get("/admin/audit?kind=kb").get_data(as_text=True)
    assert "Knowledge base of Admissions: added “tour”" in page
    assert "when the bot does not know, the bot sends “We will reply soon.”" in page
    assert page.count("Contact, provider or command line") == 2
