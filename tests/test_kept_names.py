"""Contacts' names in the inbox are asked of a resolver that follows the directory (the built-in
campaign resolver) once per change of the directory's counter: a refresh that finds the list
changed but no name changed names its rows without asking, and a change of names shows at once."""

from __future__ import annotations

from sqlalchemy import event

from tests.conftest import login
from webapp.extensions import db
from webapp.plugin_api import ContactName, ContactResolver

HTMX = {"HX-Request": "true"}
TAB = "/inbox?tab=attention"
FIRST, SECOND = "+12025550141", "+12025550142"


def launch_campaign(app, tmp_path, name: str, rows: str) -> None:
    """A launched campaign naming contacts, through `flask campaigns import --launch`."""
    path = tmp_path / f"{name}.csv"
    path.write_text("first_name,last_name,phone\n" + rows)
    db.session.commit()
    result = app.test_cli_runner().invoke(
        args=["campaigns", "import", name, str(path), "--office", "Admissions", "--launch"]
    )
    assert result.exit_code == 0, result.output


def tab_and_listing_reads(client) -> tuple[str, int]:
    """The tab as a poll that must render it gets it, and how many of its statements read
    campaign contact lists."""
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        body = client.get(TAB, headers=HTMX).get_data(as_text=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return body, sum("campaign_contacts" in statement for statement in statements)


def test_a_refresh_asks_for_names_again_only_when_the_directory_changed(
    app, client, setup, sms_receive, tmp_path
):
    launch_campaign(app, tmp_path, "Fall visit", f"Jordan,Lee,{FIRST}\n")
    sms_receive("When is the campus tour?", FIRST)
    sms_receive("Is the essay required?", SECOND)
    login(client, "standard@example.edu")

    body, reads = tab_and_listing_reads(client)
    assert "Jordan Lee" in body and "(202) 555-0142" in body
    assert reads == 1

    # The list changed (a new text), the names did not: the kept answers name both rows, the one
    # the campaign names and the one it does not.
    sms_receive("And the deadline?", FIRST)
    body, reads = tab_and_listing_reads(client)
    assert "And the deadline?" in body
    assert "Jordan Lee" in body and "(202) 555-0142" in body
    assert reads == 0

    # A newly launched campaign raises the directory's counter: the tab the page holds is stale,
    # and its next poll brings the name.
    held = client.get(TAB, headers=HTMX).headers["ETag"]
    launch_campaign(app, tmp_path, "Spring visit", f"Riley,Park,{SECOND}\n")
    polled = client.get(TAB, headers=dict(HTMX, **{"If-None-Match": held}))
    assert polled.status_code == 200 and "Riley Park" in polled.get_data(as_text=True)
    body, reads = tab_and_listing_reads(client)
    assert "Riley Park" in body and "Jordan Lee" in body
    assert reads == 0  # asked by the poll before, under the same counter


def test_a_full_store_starts_afresh_and_names_stay_right(
    app, client, setup, sms_receive, tmp_path, monkeypatch
):
    from webapp.services import contacts

    monkeypatch.setattr(contacts, "KEPT_NAMES", 1)  # fewer than a page's rows: every render asks
    launch_campaign(app, tmp_path, "Fall visit", f"Jordan,Lee,{FIRST}\nRiley,Park,{SECOND}\n")
    sms_receive("When is the campus tour?", FIRST)
    sms_receive("Is the essay required?", SECOND)
    login(client, "standard@example.edu")
    for _ in range(2):
        body, reads = tab_and_listing_reads(client)
        assert "Jordan Lee" in body and "Riley Park" in body
        assert reads == 1


class Counting(ContactResolver):
    """A resolver with names of its own (a CRM's, say): it does not follow the directory."""

    names: dict[str, str] = {}
    asked = 0

    def resolve(self, phone: str) -> ContactName | None:
        Counting.asked += 1
        name = self.names.get(phone)
        return ContactName(name=name, source="CRM") if name else None


def test_a_resolver_with_names_of_its_own_is_asked_on_every_refresh(
    app, client, setup, sms_receive, monkeypatch
):
    resolvers = app.extensions["parley"].contact_resolvers
    monkeypatch.setattr(Counting, "names", {FIRST: "Sam Ortiz"})
    monkeypatch.setattr(Counting, "asked", 0)
    monkeypatch.setattr(app.extensions["parley"], "contact_resolvers", [Counting({}), *resolvers])
    sms_receive("When is the campus tour?", FIRST)
    login(client, "standard@example.edu")
    assert "Sam Ortiz" in client.get(TAB, headers=HTMX).get_data(as_text=True)

    Counting.names[FIRST] = "Sam Ortiz-Reyes"  # changed in the CRM: Parley's counters cannot know
    sms_receive("And the deadline?", FIRST)
    assert "Sam Ortiz-Reyes" in client.get(TAB, headers=HTMX).get_data(as_text=True)
    assert Counting.asked == 2
