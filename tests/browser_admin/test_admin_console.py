"""An admin sets up a new office from nothing in the browser; its first user then texts from it.

The admin creates an office, a standard user and a number assigned to that user, imports a contact
list with two bad rows (both reported in the preview) and launches it. The new user then sees the
number in the compose From list and a campaign contact's name in the inbox.
"""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update

from tests.browser_admin.conftest import log_in, new_page, release_database
from webapp.extensions import db
from webapp.models import CampaignImport
from webapp.plugin_api import InboundMessage
from webapp.services import directory, inbound
from webapp.services.admin import offices

ADMIN_PASSWORD = "admin-password-1"
CSV = (
    "First Name,Last Name,Mobile Phone,Program\n"
    "Maria,Garcia,(202) 555-0143,Nursing\n"
    "James,Smith,202-555-0178,Engineering\n"
    "Bad,Row,12345,Biology\n"
    "Maria,Twice,202.555.0143,Nursing\n"
    "Aisha,Khan,2025550199,Biology\n"
)


def test_admin_sets_up_an_office_and_its_first_user_texts_from_it(
    app, live_server, browser: Browser, tmp_path
):
    # The only thing made outside the browser: the first administrator, in no office yet.
    directory.create_user("root@example.edu", "admin", ADMIN_PASSWORD, name="Rita Root")
    release_database()

    page = new_page(browser, live_server)
    log_in(page, "root@example.edu", ADMIN_PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    expect(page.get_by_role("heading", name="Admin console")).to_be_visible()

    # An office.
    page.get_by_role("navigation", name="Admin sections").get_by_role(
        "link", name="Offices"
    ).click()
    page.get_by_label("Office name").fill("Financial Aid")
    page.get_by_label("HELP reply").fill("Financial Aid Office: call (202) 555-0110.")
    page.get_by_role("button", name="Create office").click()
    expect(page.get_by_role("heading", name="Financial Aid", exact=True)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Office Financial Aid created.")

    # A standard user in it.
    page.get_by_role("navigation", name="Admin sections").get_by_role("link", name="Users").click()
    page.get_by_role("link", name="Add user").click()
    page.get_by_label("Name", exact=True).fill("Nia Navarro")
    page.get_by_label("Email", exact=True).fill("nia@example.edu")
    page.get_by_label("Role").select_option(label="Texting - Standard")
    page.get_by_role("group", name="Offices").get_by_label("Financial Aid").check()
    page.get_by_label("Password", exact=True).fill("nia-password-1")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("heading", name="Nia Navarro")).to_be_visible()

    # A reusable number assigned to that user; a bad number first gets an inline error.
    page.get_by_role("navigation", name="Admin sections").get_by_role(
        "link", name="Reusable numbers"
    ).click()
    page.get_by_role("link", name="Add number").click()
    page.get_by_label("Phone number").fill("202-555-0300")
    page.get_by_label("Label", exact=True).fill("Financial Aid Main")
    page.get_by_role("button", name="Add number").click()
    expect(page.get_by_text("is not an E.164 phone number")).to_be_visible()
    page.get_by_label("Phone number").fill("+12025550300")
    page.get_by_label("Description").fill("Questions about aid packages")
    expect(page.get_by_label("Provider")).to_have_value("console")
    page.get_by_role("group", name="Assigned agents").get_by_label("Nia Navarro").check()
    page.get_by_role("button", name="Add number").click()
    expect(page.get_by_role("heading", name="Financial Aid Main")).to_be_visible()

    # A contact list with two bad rows, both reported before anything is saved.
    csv_path = tmp_path / "fall-contacts.csv"
    csv_path.write_text(CSV, encoding="utf-8")
    page.get_by_role("navigation", name="Admin sections").get_by_role(
        "link", name="Campaign records"
    ).click()
    page.get_by_role("link", name="Import contact list").click()
    page.get_by_label("Campaign name").fill("FA Fall Outreach")
    page.get_by_label("Contact list (CSV)").set_input_files(str(csv_path))
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_role("heading", name="Preview: FA Fall Outreach")).to_be_visible()
    invalid = page.get_by_role("table", name=re.compile("Invalid rows"))
    expect(invalid.get_by_role("row")).to_have_count(3)  # header + two rows
    expect(invalid).to_contain_text("phone '12345': Enter a 10-digit US phone number")
    expect(invalid).to_contain_text("phone '202.555.0143' repeats line 2")
    page.get_by_role("button", name="Save as draft").click()
    expect(page.get_by_role("heading", name="FA Fall Outreach")).to_be_visible()
    expect(page.get_by_role("table", name="Contacts")).to_contain_text("Aisha Khan")
    page.get_by_role("button", name="Launch campaign").click()
    expect(page.get_by_role("status")).to_contain_text("FA Fall Outreach is launched")

    # A campaign contact texts the new number.
    inbound.receive(
        InboundMessage(from_phone="+12025550199", to_phone="+12025550300", body="Is my aid ready?"),
        "console",
    )
    release_database()

    # The new user sees the number in From, and the contact by name in the inbox.
    agent = new_page(browser, live_server)
    log_in(agent, "nia@example.edu", "nia-password-1")
    expect(agent.get_by_role("tab", name=re.compile("Needs Attention"))).to_be_visible()
    expect(agent.get_by_role("tabpanel")).to_contain_text("Aisha Khan")
    expect(agent.get_by_role("tabpanel")).to_contain_text("Is my aid ready?")
    agent.get_by_role("button", name="Create Content").click()
    agent.get_by_role("menuitem", name="Create 1:1 Text").click()
    from_select = agent.get_by_label("From")
    expect(from_select.locator("option")).to_have_text(["Financial Aid Main · (202) 555-0300"])


def test_progress_updates_in_the_page_and_filters_apply_in_place(
    app, live_server, browser: Browser
):
    admin = directory.create_user("root@example.edu", "admin", ADMIN_PASSWORD, name="Rita Root")
    office = offices.create_office(admin, "Admissions")
    job = CampaignImport(
        office_id=office.id, created_by_id=admin.id, campaign_name="All Applicants",
        stored_name="gone", filename="applicants.csv", status="validating",
        rows_estimate=100_000, rows_checked=10_000,
    )  # fmt: skip
    db.session.add(job)
    db.session.flush()
    job_id = job.id
    release_database()

    page = new_page(browser, live_server)
    log_in(page, "root@example.edu", ADMIN_PASSWORD)
    page.goto(f"/admin/campaigns/imports/{job_id}")
    progress = page.get_by_role("progressbar", name="Checking every row…")
    expect(progress).to_have_attribute("value", "10000")
    expect(page.get_by_role("status")).to_contain_text("10,000 of about 100,000 rows checked")

    db.session.execute(
        update(CampaignImport).where(CampaignImport.id == job_id).values(rows_checked=60_000)
    )
    release_database()
    expect(page.get_by_role("status")).to_contain_text("60,000 of about 100,000 rows checked")
    expect(progress).to_have_attribute("value", "60000")

    db.session.execute(
        update(CampaignImport)
        .where(CampaignImport.id == job_id)
        .values(status="ready", rows_checked=100_000, valid_rows=100_000)
    )
    release_database()
    expect(page.get_by_role("button", name="Save as draft")).to_be_visible()  # the page reloaded
    expect(page.get_by_role("progressbar")).to_have_count(0)

    # The audit log filters in place (htmx) and keeps the filter in the address.
    page.goto("/admin/audit")
    expect(page.get_by_role("cell", name="Created office Admissions")).to_be_visible()
    page.get_by_label("Kind").select_option(label="Phone opted out")
    expect(page.get_by_text("No changes recorded for this filter")).to_be_visible()
    expect(page).to_have_url(re.compile(r"kind=optout\.added"))


def upload_page(browser: Browser, live_server: str) -> Page:
    """Rita, the admin of Admissions, on the page that uploads a contact list."""
    admin = directory.create_user("root@example.edu", "admin", ADMIN_PASSWORD, name="Rita Root")
    offices.create_office(admin, "Admissions")
    release_database()
    page = new_page(browser, live_server)
    log_in(page, "root@example.edu", ADMIN_PASSWORD)
    page.goto("/admin/campaigns/new")
    return page


def test_the_preview_warns_of_a_list_without_name_columns_and_still_saves(
    app, live_server, browser: Browser, tmp_path
):
    csv_path = tmp_path / "phones-only.csv"
    csv_path.write_text("Mobile Phone,Program\n(202) 555-0143,Nursing\n", encoding="utf-8")
    page = upload_page(browser, live_server)
    page.get_by_label("Campaign name").fill("Phones Only")
    page.get_by_label("Contact list (CSV)").set_input_files(str(csv_path))
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_role("heading", name="Preview: Phones Only")).to_be_visible()
    expect(
        page.get_by_text(
            "No first-name or last-name column found: contacts will show by phone number. "
            "Columns found: Mobile Phone, Program."
        )
    ).to_be_visible()
    page.get_by_role("button", name="Save as draft").click()
    expect(page.get_by_role("heading", name="Phones Only")).to_be_visible()
    expect(page.get_by_role("table", name="Contacts")).to_contain_text("(202) 555-0143")


def test_a_file_over_the_limit_is_refused_before_it_is_sent_and_the_name_stays(
    app, live_server, browser: Browser, tmp_path
):
    big = tmp_path / "everyone.csv"
    with big.open("wb") as file:  # sparse: 60 MB without writing them
        file.truncate(60 * 1024 * 1024)
    page = upload_page(browser, live_server)
    page.wait_for_load_state("load")  # admin.js is running, as for a person
    uploads: list[str] = []
    page.on("request", lambda request: uploads.append(request.url) if request.method == "POST" else None)
    page.get_by_label("Campaign name").fill("Everyone")
    field = page.get_by_label("Contact list (CSV)")
    field.set_input_files(str(big))
    page.get_by_role("button", name="Upload and preview").click()
    expect(field).to_have_accessible_description(re.compile("The file is larger than 50 MB"))
    expect(field).to_be_focused()
    expect(page.get_by_label("Campaign name")).to_have_value("Everyone")
    assert uploads == []
