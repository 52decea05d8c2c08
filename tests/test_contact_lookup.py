"""Contact lookup: by phone in any format or by name, in the page and in the header's dropdown."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import event, select

from tests.conftest import csrf_token, login
from webapp.extensions import db
from webapp.plugin_api import InboundMessage
from webapp.services import campaigns, inbound
from webapp.services.contacts import display_name

CONTACTS_CSV = b"""first_name,last_name,phone
Maria,Garcia,202-555-0143
James,Smith,(202) 555-0178
Aisha,Khan,2025550199
Mariana,Lopez,2025550111
"""


def import_list(name: str, office: str, csv: bytes, launch: bool = True) -> None:
    campaigns.import_campaign(name, office, io.BytesIO(csv), launch=launch)


def send(client, number_id: int, to: str, body: str = "Hello") -> str:
    token = csrf_token(client, "/texts/new")
    response = client.post(
        "/texts/new", data={"csrf_token": token, "number_id": number_id, "to": to, "body": body}
    )
    return response.headers["Location"]


@pytest.fixture
def contacts(setup):
    import_list("Fall Open House", "Admissions", CONTACTS_CSV)
    return setup


def lookup(client, query: str, param: str = "q", htmx: bool = False) -> str:
    headers = {"HX-Request": "true"} if htmx else {}
    response = client.get("/contacts/lookup", query_string={param: query}, headers=headers)
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.mark.parametrize(
    "typed", ["2025550143", "202-555-0143", "(202) 555-0143", "+1 202 555 0143", "1.202.555.0143"]
)
def test_lookup_by_phone_in_any_format(client, contacts, typed):
    login(client, "standard@example.edu")
    page = lookup(client, typed, param="phone")
    assert "Maria Garcia" in page
    assert "(202) 555-0143" in page
    assert "Can be texted" in page


def test_a_contact_without_a_name_shows_their_phone_once(client, contacts):
    login(client, "standard@example.edu")
    page = lookup(client, "2025550188", param="phone")  # on no list
    card = page[page.index('class="contact-card"'):]
    assert card.count("(202) 555-0188") == 1 and "Can be texted" in card
    assert 'href="/texts/new?to=(202)+555-0188"' in card
    named = lookup(client, "2025550143", param="phone")
    assert "Maria Garcia" in named and "(202) 555-0143" in named


def test_lookup_shows_visible_conversations_with_links(client, contacts):
    login(client, "standard@example.edu")
    location = send(client, contacts["number"].id, "2025550143")
    page = lookup(client, "2025550143", param="phone")
    assert f'href="{location}"' in page
    assert "Conversation on Admissions Main" in page
    assert "Text this contact" in page


def test_lookup_hides_conversations_the_user_cannot_see(client, contacts, make, app):
    make.office("Financial Aid")
    make.user("fa@example.edu", "standard", offices=("Financial Aid",))
    fa_number = make.number("+12025550120", office="Financial Aid", inboxes=("Financial Aid",),
                            label="FA Line")
    login(client, "fa@example.edu")
    fa_location = send(client, fa_number.id, "2025550143")
    admissions = app.test_client()
    login(admissions, "standard@example.edu")
    page = lookup(admissions, "(202) 555-0143")
    assert "Maria Garcia" in page
    assert fa_location not in page and "FA Line" not in page
    assert "No conversations with this contact that you can see." in page


def test_lookup_shows_opt_out_and_offers_no_text(client, contacts):
    inbound.receive(InboundMessage(from_phone="+12025550143", to_phone="+12025550100", body="STOP"),
                    "console")
    login(client, "standard@example.edu")
    page = lookup(client, "202 555 0143")
    assert "Opted out" in page
    assert "Text this contact" not in page
    # The unsolicited STOP started a conversation this user can see.
    assert "Conversation on Admissions Main" in page


@pytest.mark.parametrize(
    "typed", ["maria", "MARIA", "Garc", "maria garcia", "Garcia Maria", "ma ga"]
)
def test_lookup_by_name(client, contacts, typed):
    login(client, "standard@example.edu")
    page = lookup(client, typed)
    assert "Maria Garcia" in page
    assert "(202) 555-0143" in page
    assert "James Smith" not in page


NAMES_OF_SEVERAL_WORDS = """first_name,last_name,phone
Mary Ann,Smith,2025550120
Juan,De La Cruz,2025550121
Ada,Adeyemi-Okonkwo,2025550122
Émile,Zola,2025550123
Åsa,Öberg,2025550124
Inés,De Ávila,2025550125
""".encode()


@pytest.mark.parametrize(
    ("typed", "name"),
    [("Mary Ann", "Mary Ann Smith"), ("mary ann smith", "Mary Ann Smith"),
     ("smith mary ann", "Mary Ann Smith"),
     ("Juan De La Cruz", "Juan De La Cruz"), ("de la cruz", "Juan De La Cruz"),
     ("ada okonkwo", "Ada Adeyemi-Okonkwo"), ("inés ávila", "Inés De Ávila")],
)  # fmt: skip
def test_a_name_of_several_words_is_found_as_it_is_written(client, contacts, typed, name):
    """The first word starts a first or last name; each other word may start a word inside one."""
    import_list("Spring Visit", "Admissions", NAMES_OF_SEVERAL_WORDS)
    login(client, "standard@example.edu")
    assert name in lookup(client, typed)


@pytest.mark.parametrize(
    ("typed", "name"),
    [("Émile", "Émile Zola"), ("émile", "Émile Zola"), ("ÉMILE", "Émile Zola"), ("zola émile", "Émile Zola"),
     ("åsa", "Åsa Öberg"), ("öberg", "Åsa Öberg")],
)  # fmt: skip
def test_a_name_starting_with_an_accented_capital_is_found_in_any_case(client, contacts, typed, name):
    """SQLite's lower() changes ASCII letters alone: "Émile" is still "Émile" to it."""
    import_list("Spring Visit", "Admissions", NAMES_OF_SEVERAL_WORDS)
    login(client, "standard@example.edu")
    assert name in lookup(client, typed)


def test_name_prefix_finds_several_contacts(client, contacts):
    login(client, "standard@example.edu")
    page = lookup(client, "mari")
    assert "Maria Garcia" in page and "Mariana Lopez" in page
    assert "Aisha Khan" not in page


def test_name_search_ignores_drafts_and_other_offices(client, contacts, make):
    make.office("Financial Aid")
    import_list("FA Draft", "Admissions", b"first_name,last_name,phone\nDora,Draft,2025550155\n",
                launch=False)
    import_list("FA List", "Financial Aid", b"first_name,last_name,phone\nFiona,Other,2025550166\n")
    login(client, "standard@example.edu")
    assert "Dora" not in lookup(client, "dora")
    page = lookup(client, "fiona")
    assert "Fiona" not in page
    assert "No contact named" in page


def test_name_search_treats_wildcards_literally(client, contacts):
    login(client, "standard@example.edu")
    page = lookup(client, "m%")
    assert "Maria Garcia" not in page and "No contact named" in page
    assert "Maria Garcia" not in lookup(client, "m_ria")


def test_bad_phone_gets_a_clear_message(client, contacts):
    login(client, "standard@example.edu")
    assert "Enter a 10-digit US phone number" in lookup(client, "555-01")
    assert "Type at least 2 letters" in lookup(client, "m")


def test_the_header_dropdown_hints_while_a_phone_is_typed_the_page_says_it_is_wrong(client, contacts):
    login(client, "standard@example.edu")
    typing = client.get("/contacts/search?q=202", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert '<p class="muted lookup-hint">Enter a 10-digit US phone number' in typing
    assert '<p class="field-error lookup-hint">Enter a 10-digit US phone number' in lookup(client, "202")


def test_lookup_htmx_returns_only_the_results(client, contacts):
    login(client, "standard@example.edu")
    page = lookup(client, "maria", htmx=True)
    assert page.lstrip().startswith('<div id="lookup-results"')
    assert "<html" not in page and "Maria Garcia" in page


def test_header_dropdown_partial(client, contacts):
    login(client, "standard@example.edu")
    response = client.get("/contacts/search?q=garcia", headers={"HX-Request": "true"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in page
    assert "Maria Garcia" in page and "(202) 555-0143" in page
    assert "Open the contact lookup" in page
    empty = client.get("/contacts/search?q=", headers={"HX-Request": "true"})
    assert empty.get_data(as_text=True).strip() == ""
    plain = client.get("/contacts/search?q=garcia")
    assert plain.status_code == 302 and plain.headers["Location"] == "/contacts/lookup?q=garcia"


def test_header_has_the_debounced_lookup_box(client, contacts):
    login(client, "standard@example.edu")
    page = client.get("/inbox").get_data(as_text=True)
    assert 'hx-get="/contacts/search"' in page
    assert "delay:300ms" in page
    assert 'id="header-lookup-results"' in page


def test_lookup_needs_login(client, contacts):
    assert client.get("/contacts/search?q=maria").status_code == 302
    assert client.get("/contacts/lookup?q=maria").status_code == 302


def test_limited_user_deep_link_to_compose_is_refused_with_the_lookup(client, contacts):
    login(client, "limited@example.edu")
    response = client.get("/texts/new?to=202-555-0143")
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "Maria Garcia" in page
    assert "can reply to conversations but not start them" in page
    assert "Text this contact" not in page
    assert client.get("/texts/new").status_code == 403


def test_name_search_uses_the_name_indexes(app, contacts):
    """The query a name search sends is answered from the lower(name) indexes (no table scan),
    once the list is of a realistic size: over a handful of rows any plan is as good."""
    from webapp.models import Campaign, CampaignContact, User
    from webapp.services.contacts import _phones_by_name

    user = db.session.scalar(select(User).where(User.email == "standard@example.edu"))
    campaign_id = db.session.scalar(select(Campaign.id).where(Campaign.name == "Fall Open House"))
    others = [
        {"campaign_id": campaign_id, "first_name": f"Person{i}", "last_name": f"Family{i}",
         "phone": f"+1303555{i:04d}", "extra": {}}
        for i in range(3000)
    ]  # fmt: skip
    db.session.execute(CampaignContact.__table__.insert(), others)
    db.session.commit()
    engine = db.session.get_bind()
    statements: list[tuple] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        assert "+12025550143" in _phones_by_name(user, "gar", 5)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    statement, parameters = next(s for s in statements if "campaign_contacts" in s[0])
    cursor = db.session.connection().connection.driver_connection.cursor()
    if engine.dialect.name == "postgresql":
        # Statistics of the tables as they are now, not as an earlier test left them.
        cursor.execute("ANALYZE campaign_contacts, campaigns, office_memberships")
        cursor.execute(f"EXPLAIN {statement}", parameters)
    else:
        cursor.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
    plan = "\n".join(str(row) for row in cursor.fetchall())
    assert "ix_campaign_contacts_last_name_lower" in plan
    assert "ix_campaign_contacts_first_name_lower" in plan
    db.session.rollback()


def test_a_contact_is_named_by_the_newest_launched_list_that_names_them(setup):
    import_list("Spring Fair", "Admissions", b"first_name,last_name,phone\nMaria,Garcia,2025550143\n")
    assert display_name("+12025550143") == "Maria Garcia"
    import_list("Summer Camp", "Admissions", b"first_name,last_name,phone\n,Garcia-Ruiz,2025550143\n")
    assert display_name("+12025550143") == "Garcia-Ruiz"  # a last name alone names too
    # A newer list without a name for the phone does not hide the name an older one gave.
    import_list("Fall Visit", "Admissions", b"first_name,last_name,phone\n,,2025550143\n")
    # A draft names no one.
    import_list("Winter Draft", "Admissions", b"first_name,phone\nMia,2025550143\n", launch=False)
    db.session.commit()
    assert display_name("+12025550143") == "Garcia-Ruiz"
    assert display_name("+12025550199") == "(202) 555-0199"


def test_an_international_number_is_not_offered_for_a_new_text_and_says_why(client, contacts):
    """Compose takes US numbers only: the lookup does not offer a text it would refuse."""
    inbound.receive(InboundMessage(from_phone="+442079460958", to_phone="+12025550100", body="Hi"),
                    "console")
    login(client, "standard@example.edu")
    page = lookup(client, "+44 20 7946 0958", param="phone")
    assert "Conversation on Admissions Main" in page  # replies there still work
    assert "Text this contact" not in page
    assert (
        "A new text cannot be started to this number: international numbers are not supported yet."
        in page
    )
    assert "Text this contact" in lookup(client, "(202) 555-0143", param="phone")
