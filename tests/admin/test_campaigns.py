"""Campaign records in the admin console: upload, preview every invalid row, save as a draft,
launch, archive, browse contacts; bad files are refused precisely and change nothing."""

from __future__ import annotations

import codecs
import io
import os
import re
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.admin.conftest import post, switch, upload
from tests.conftest import csrf_token, login
from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    Campaign,
    CampaignContact,
    CampaignImport,
    CampaignImportError,
)
from webapp.plugin_api import InboundMessage
from webapp.services import campaigns, contacts, inbound
from webapp.services.admin import Conflict, FormErrors
from webapp.services.admin import campaigns as service

GOOD_CSV = (
    "first_name,last_name,phone,program\n"
    "Maria,Garcia,(202) 555-0143,Nursing\n"
    "James,Smith,202-555-0178,Engineering\n"
    "Bad,Phone,12345,Biology\n"
    "Aisha,Khan,202.555.0199,Biology\n"
    "Maria,Again,(202) 555-0143,Nursing\n"
)


def counts() -> tuple[int, int, int]:
    return (
        db.session.scalar(select(func.count()).select_from(Campaign)),
        db.session.scalar(select(func.count()).select_from(CampaignContact)),
        db.session.scalar(select(func.count()).select_from(CampaignImport)),
    )


def stored_files(app) -> list[str]:
    folder = Path(app.config["IMPORT_FOLDER"])
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def start(client, world, content: str | bytes, name: str = "Fall Open House", htmx: bool = False):
    raw = content.encode() if isinstance(content, str) else content
    return upload(client, name, world["office"].id, raw, htmx=htmx)


def saved_contact(first_name: str) -> CampaignContact:
    """A contact of the campaign the test saved (the world fixture has others)."""
    return db.session.scalar(
        select(CampaignContact)
        .join(Campaign, Campaign.id == CampaignContact.campaign_id)
        .where(Campaign.name == "Fall Open House", CampaignContact.first_name == first_name)
    )


def job_from(response) -> CampaignImport:
    job_id = int(response.headers.get("Location", response.headers.get("HX-Redirect")).rsplit("/", 1)[1])
    return db.session.get(CampaignImport, job_id)


def test_preview_lists_every_invalid_row_before_anything_is_saved(client, world):
    login(client, "admin@example.edu")
    campaigns_before, contacts_before, _ = counts()
    response = start(client, world, GOOD_CSV)
    assert response.status_code == 303
    job = job_from(response)
    assert (job.status, job.valid_rows, job.invalid_rows) == ("ready", 3, 2)

    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Preview: Fall Open House" in page
    assert '<td class="num">4</td><td>phone &#39;12345&#39;: Enter a 10-digit US phone number' in page
    assert '<td class="num">6</td><td>phone &#39;(202) 555-0143&#39; repeats line 2</td>' in page
    assert "Maria" in page and "program: Nursing" in page  # a sample of what will be saved
    assert "Save as draft" in page
    # Nothing is saved yet.
    assert counts()[:2] == (campaigns_before, contacts_before)
    assert contacts.display_name("+12025550199") == "(202) 555-0199"


def test_empty_extra_columns_are_left_out_of_a_contacts_details(client, world):
    login(client, "admin@example.edu")
    csv = (
        "first_name,last_name,phone,email,major\n"
        "Maria,Garcia,(202) 555-0143,,Nursing\nJames,Smith,202-555-0178,,\n"
    )
    job = job_from(start(client, world, csv))
    preview = client.get(f"/admin/campaigns/imports/{job.id}").get_data(as_text=True)
    post(client, f"/admin/campaigns/imports/{job.id}/save")
    campaign = db.session.scalar(select(Campaign).where(Campaign.name == "Fall Open House"))
    page = client.get(f"/admin/campaigns/{campaign.id}").get_data(as_text=True)
    for shown in (preview, page):
        assert '<td class="extra">major: Nursing</td>' in shown and '<td class="extra"></td>' in shown
        assert "email:" not in shown


def test_save_as_draft_then_launch_names_contacts_in_the_inbox(client, world):
    login(client, "admin@example.edu")
    job = job_from(start(client, world, GOOD_CSV))
    response = post(client, f"/admin/campaigns/imports/{job.id}/save")
    assert response.status_code == 303
    campaign = db.session.scalar(select(Campaign).where(Campaign.name == "Fall Open House"))
    assert response.headers["Location"] == f"/admin/campaigns/{campaign.id}"
    assert (campaign.status, campaign.contact_count) == ("draft", 3)
    saved = db.session.scalars(
        select(CampaignContact).where(CampaignContact.campaign_id == campaign.id).order_by(CampaignContact.id)
    ).all()
    assert [(c.first_name, c.phone, c.extra) for c in saved] == [
        ("Maria", "+12025550143", {"program": "Nursing"}),
        ("James", "+12025550178", {"program": "Engineering"}),
        ("Aisha", "+12025550199", {"program": "Biology"}),
    ]
    assert stored_files(client.application) == []  # the upload is gone once imported

    inbound.receive(InboundMessage(from_phone="+12025550199", to_phone="+12025550100", body="Hi"), "console")
    switch(client, "standard@example.edu")
    assert "Aisha Khan" not in client.get("/inbox").get_data(as_text=True)  # a draft names no one

    switch(client, "admin@example.edu")
    page = client.get(f"/admin/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Launch campaign" in page
    response = post(client, f"/admin/campaigns/{campaign.id}/launch")
    assert response.status_code == 303
    assert "is launched" in client.get(response.headers["Location"]).get_data(as_text=True)

    switch(client, "standard@example.edu")
    assert "Aisha Khan" in client.get("/inbox").get_data(as_text=True)
    kinds = list(db.session.scalars(select(AuditEvent.kind).order_by(AuditEvent.id)))
    assert kinds == ["campaign.saved", "campaign.launched"]


def test_archive(client, world):
    launched = world["campaign"]
    login(client, "admin@example.edu")
    post(client, f"/admin/campaigns/{launched.id}/launch")
    response = post(client, f"/admin/campaigns/{launched.id}/archive")
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Campaign, launched.id).status == "archived"
    # A launched campaign, archived, still names its contacts.
    assert contacts.display_name("+12025550143") == "Maria Garcia"
    # A second click, or another tab: the change no longer applies (409), and the page says why.
    response = post(client, f"/admin/campaigns/{launched.id}/archive")
    assert response.status_code == 409
    assert "This campaign is already archived." in response.get_data(as_text=True)
    response = post(client, f"/admin/campaigns/{launched.id}/launch")
    assert response.status_code == 409
    assert "This campaign is archived; only a draft can be launched." in response.get_data(as_text=True)
    shown = post(client, f"/admin/campaigns/{launched.id}/archive", htmx=True)
    assert shown.status_code == 200 and "already archived" in shown.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Campaign, launched.id).status == "archived"
    assert list(db.session.scalars(select(AuditEvent.kind).order_by(AuditEvent.id))) == [
        "campaign.launched", "campaign.archived",
    ]  # fmt: skip


def test_launching_a_launched_campaign_says_it_is_already_launched(client, world):
    campaign = world["campaign"]
    login(client, "admin@example.edu")
    assert post(client, f"/admin/campaigns/{campaign.id}/launch").status_code == 303
    again = post(client, f"/admin/campaigns/{campaign.id}/launch")
    assert again.status_code == 409
    assert "This campaign is already launched." in again.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 1


@pytest.mark.parametrize("action", ["launch", "archive"])
def test_a_campaign_still_importing_is_neither_launched_nor_archived(client, world, action):
    campaign = world["campaign"]
    db.session.add(
        CampaignImport(
            office_id=world["office"].id, campaign_name=campaign.name, stored_name="y",
            status="importing", campaign_id=campaign.id,
        )
    )  # fmt: skip
    db.session.commit()
    login(client, "admin@example.edu")
    response = post(client, f"/admin/campaigns/{campaign.id}/{action}")
    assert response.status_code == 409
    assert f"The contact list is still importing; {action} it when it is done." in response.get_data(
        as_text=True
    )
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status == "draft"


def test_a_draft_archived_without_launch_names_no_one(world):
    admin = world["users"]["admin"]
    service.archive(admin, world["campaign"])  # "Admissions List" is a draft
    db.session.commit()
    assert contacts.display_name("+12025550143") == "(202) 555-0143"


@pytest.mark.parametrize(
    ("encoding", "last_name"),
    [
        ("latin-1", "Núñez"),
        ("cp1252", "O’Brien–Núñez"),  # Excel's "CSV" on Windows: curly apostrophe, en dash
        ("utf-8-sig", "O’Brien–Núñez"),
        ("utf-8", "O’Brien–Núñez"),
    ],
)
def test_windows_latin1_and_utf8_with_bom_are_all_read(client, world, encoding, last_name):
    content = f"first_name,last_name,phone\nJosé,{last_name},(202) 555-0143\n".encode(encoding)
    login(client, "admin@example.edu")
    job = job_from(start(client, world, content))
    assert (job.status, job.valid_rows, job.invalid_rows) == ("ready", 1, 0)
    post(client, f"/admin/campaigns/imports/{job.id}/save")
    contact = db.session.scalar(select(CampaignContact).where(CampaignContact.first_name == "José"))
    assert contact.last_name == last_name and contact.phone == "+12025550143"


def test_a_byte_windows_1252_has_no_character_for_is_read_and_its_row_reported(client, world):
    """Read as Latin-1, such a byte is a control character: the file is read (as Windows-1252), and
    the row holding it is an invalid row (a name shown to agents cannot hold one)."""
    rows = (
        "first_name,last_name,phone\nJosé,Núñez\x81,(202) 555-0143\nAna,O’Brien,(202) 555-0144\n"
        "Eva,Ruiz–Paz,(202) 555-0145\n"
    )
    content = rows.replace("\x81", "").encode("cp1252").replace(b"N\xfa\xf1ez", b"N\xfa\xf1ez\x81")
    login(client, "admin@example.edu")
    job = job_from(start(client, world, content))
    assert (job.status, job.valid_rows, job.invalid_rows) == ("ready", 2, 1)
    post(client, f"/admin/campaigns/imports/{job.id}/save")
    new_rows = CampaignContact.first_name.in_(("José", "Ana", "Eva"))
    names = db.session.scalars(
        select(CampaignContact.last_name).where(new_rows).order_by(CampaignContact.phone)
    ).all()
    assert names == ["O’Brien", "Ruiz–Paz"]  # the rest of the file is still read as Windows-1252


@pytest.mark.parametrize("bom", [b"", codecs.BOM_UTF8])
def test_one_windows_byte_in_a_utf8_file_spoils_none_of_its_names(client, world, bom):
    """A name pasted from a Windows program (its curly apostrophe one byte of Windows-1252) into
    a UTF-8 list (with Excel's byte order mark or without): that byte reads as Windows-1252 does,
    and every other name as written; the first column is still known by its name."""
    text = "First Name,Last Name,Phone\nJosé,Núñez,(202) 555-0143\nZoë,Brontë,(202) 555-0144\n"
    content = bom + text.encode() + b"Kevin,O\x92Brien,(202) 555-0145\n"
    login(client, "admin@example.edu")
    job = job_from(start(client, world, content))
    assert (job.status, job.valid_rows, job.invalid_rows, job.message) == ("ready", 3, 0, "")
    post(client, f"/admin/campaigns/imports/{job.id}/save")
    rows = db.session.execute(
        select(CampaignContact.first_name, CampaignContact.last_name, CampaignContact.extra)
        .join(Campaign, Campaign.id == CampaignContact.campaign_id)
        .where(Campaign.name == "Fall Open House")
        .order_by(CampaignContact.phone)
    ).all()
    assert [tuple(row) for row in rows] == [
        ("José", "Núñez", {}), ("Zoë", "Brontë", {}), ("Kevin", "O’Brien", {})
    ]  # fmt: skip


def test_a_windows_file_whose_byte_pairs_happen_to_be_utf8_is_read_as_windows(app, world):
    """Saved whole as Windows-1252: "É’" is C9 92, which UTF-8 reads as one other letter. The file
    is read as what most of it is, Windows-1252, so ANDRÉ’S stays as written."""
    from webapp.services import campaigns as contact_lists

    listing = "first_name,last_name,phone\nANDRÉ’S,Núñez,2025550143\nRené,Côté,2025550144\n"
    rows = list(contact_lists.read_contacts(io.BytesIO(listing.encode("cp1252"))))
    assert [(r.first_name, r.last_name) for r in rows] == [("ANDRÉ’S", "Núñez"), ("René", "Côté")]


@pytest.mark.parametrize(
    ("encoding", "separator"),
    [("utf-16", "\t"), ("utf-32", "\t"), ("utf-16-le", "\t"), ("utf-16-be", ";"), ("utf-8", ";"),
     ("utf-8", "\t"), ("cp1252", ";")],
)  # fmt: skip
def test_excels_unicode_text_and_semicolon_lists_are_read(client, world, encoding, separator):
    """Excel's "Unicode Text" (UTF-16, tabs), UTF-16 without its byte order mark, as some exports
    write it, and Excel's CSV where the comma is the decimal point."""
    rows = ["first_name", "last_name", "phone", "Notes"], ["José", "O’Brien", "(202) 555-0143", "a, b"]
    content = "".join(separator.join(row) + "\r\n" for row in rows).encode(encoding)
    login(client, "admin@example.edu")
    job = job_from(start(client, world, content))
    assert (job.status, job.valid_rows, job.invalid_rows) == ("ready", 1, 0)
    post(client, f"/admin/campaigns/imports/{job.id}/save")
    contact = db.session.scalar(select(CampaignContact).where(CampaignContact.first_name == "José"))
    assert (contact.last_name, contact.phone, contact.extra) == ("O’Brien", "+12025550143", {"Notes": "a, b"})


@pytest.mark.parametrize("start_bytes", [b"PK\x03\x04\x14\x00\x06\x00", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"])
def test_an_excel_workbook_is_refused_with_how_to_save_it_as_csv(client, world, start_bytes):
    login(client, "admin@example.edu")
    response = start(client, world, start_bytes + b"\x00" * 200)
    assert response.status_code == 422
    assert "This is an Excel workbook, not a CSV file" in response.get_data(as_text=True)
    assert stored_files(client.application) == []


@pytest.mark.parametrize(
    "content",
    [b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01", b"D\x82\x8b\xfd\xe6\xf1\xc2k0\xf9\x0e\xc7\xdd",
     b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"],
    ids=["jpeg", "random", "png", "pdf"],
)  # fmt: skip
def test_a_picture_or_other_binary_file_renamed_csv_is_said_to_be_no_text(client, world, content):
    """Its bytes are not listed as "columns found" (control characters, on the page and in a terminal)."""
    login(client, "admin@example.edu")
    response = start(client, world, content + b"\x00\x1b" * 100)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "This is not a CSV file: its first line is not text." in page
    assert "Columns found" not in page and "\x1b" not in page
    assert stored_files(client.application) == []


@pytest.mark.parametrize(
    ("content", "name"),
    [('"Name, first";last_name;phone\r\nJosé;Núñez;2025550143\r\n'.encode(), "Name, first"),
     ("first_name\tlast_name\tphone\tnotes, misc\r\nJosé\tNúñez\t2025550143\t\r\n".encode("utf-16"),
      "first_name")],
)
def test_the_separator_is_the_one_that_finds_the_phone_column(app, world, content, name):
    """A comma inside a header's cell is no separator when semicolons or tabs find the phone."""
    from webapp.services import campaigns as contact_lists

    (row,) = contact_lists.read_contacts(io.BytesIO(content))
    assert (row.phone, row.last_name) == ("+12025550143", "Núñez")
    assert contact_lists.read_header(io.BytesIO(content))[0] == name


def test_unicode_text_that_does_not_decode_is_refused_and_nothing_is_kept(client, world):
    login(client, "admin@example.edu")
    header = "first_name\tlast_name\tphone\r\n".encode("utf-16")
    broken = header + b"\x00\xd8" + "x\r\n".encode("utf-16-le")  # a lone surrogate
    response = start(client, world, broken)
    assert response.status_code == 422
    assert "starts as UTF-16 text (Excel&#39;s Unicode Text) but is not valid all through" in (
        response.get_data(as_text=True)
    )
    response = start(client, world, broken.removeprefix(codecs.BOM_UTF16_LE))  # without its mark
    assert response.status_code == 422
    assert "starts as UTF-16 text (Excel&#39;s Unicode Text) but is not valid all through" in (
        response.get_data(as_text=True)
    )
    assert stored_files(client.application) == []


def test_rows_are_numbered_as_a_spreadsheet_shows_them_and_long_cells_shortened(app, world):
    """A quoted cell over three lines is one row; a phone too long to quote whole still shows why."""
    from webapp.services import campaigns as contact_lists
    from webapp.services.campaigns import RowError

    raw = io.BytesIO(
        b'first_name,last_name,phone,note\nA,B,2025550111,"line one\nline two\nline three"\n'
        b"C,D,555,x\nE,F," + b"1" * 400 + b",y\n"
    )
    errors = [(row.line, row.reason) for row in contact_lists.read_contacts(raw) if isinstance(row, RowError)]
    assert [line for line, _ in errors] == [3, 4]
    assert errors[1][1].startswith("phone '" + "1" * 40 + "…': ") and "longer than any phone" in errors[1][1]


@pytest.mark.parametrize(
    "header",
    [
        "First_Name,LAST_NAME,Mobile Phone,Intended Major",
        "first name,Last Name,PHONE,Intended Major",
        "FirstName,last-name,phone number,Intended Major",
        "First,Last,Cell,Intended Major",
        "Given Name,Family Name,Telephone,Intended Major",
        "first_name,last_name,Phone #,Intended Major",
    ],
)
def test_headers_match_case_insensitively_and_mobile_phone_counts(client, world, header):
    login(client, "admin@example.edu")
    csv_text = f"{header}\nMaria,Garcia,2025550143,Nursing\n"
    job = job_from(start(client, world, csv_text))
    assert job.valid_rows == 1
    post(client, f"/admin/campaigns/imports/{job.id}/save")
    contact = saved_contact("Maria")
    assert (contact.last_name, contact.extra) == ("Garcia", {"Intended Major": "Nursing"})


NO_NAMES = (
    "No first-name or last-name column found: contacts will show by phone number. "
    "Columns found: Mobile, Email, Intended Major."
)
NAMELESS_CSV = "Mobile,Email,Intended Major\n2025550143,m@example.edu,Nursing\n"


def test_a_list_without_name_columns_says_so_on_the_preview_and_still_saves(client, world):
    login(client, "admin@example.edu")
    response = start(client, world, NAMELESS_CSV)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f'<div class="alert alert-warning"><p>{NO_NAMES}</p></div>' in page
    assert "Save as draft" in page  # the admin may still go on

    job = job_from(response)
    post(client, f"/admin/campaigns/imports/{job.id}/save")
    contact = db.session.scalar(
        select(CampaignContact)
        .join(Campaign, Campaign.id == CampaignContact.campaign_id)
        .where(Campaign.name == "Fall Open House")
    )
    assert (contact.phone, contact.first_name, contact.last_name) == ("+12025550143", "", "")
    assert contact.extra == {"Email": "m@example.edu", "Intended Major": "Nursing"}


@pytest.mark.parametrize("header", ["first_name,phone", "Surname,Phone"])
def test_one_name_column_is_enough_and_the_preview_warns_of_nothing(client, world, header):
    login(client, "admin@example.edu")
    response = start(client, world, f"{header}\nMaria,2025550143\n")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Save as draft" in page and "alert-warning" not in page


def test_the_command_line_warns_of_a_list_without_name_columns(app, world, tmp_path):
    csv_file = tmp_path / "list.csv"
    csv_file.write_text(NAMELESS_CSV)
    args = ["campaigns", "import", "Nameless", str(csv_file), "--office", "Admissions"]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    assert result.stderr == f"Warning: {NO_NAMES}\n"
    assert result.stdout.startswith("Imported 1 contact into draft campaign 'Nameless'")
    named = tmp_path / "named.csv"
    named.write_text("first_name,last_name,phone\nAna,Ruiz,2025550144\n")
    args = ["campaigns", "import", "Named", str(named), "--office", "Admissions"]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0 and result.stderr == ""


@pytest.mark.parametrize(
    ("content", "field", "message"),
    [
        (
            "first_name,last_name,email\nMaria,Garcia,m@example.edu\n",
            "file",
            "The file has no phone column; the header must include first_name,last_name,phone. "
            "Columns found: first_name, last_name, email.",
        ),
        ("", "file", "The file is empty; it needs a header row first_name,last_name,phone."),
        (
            "first_name,last_name,phone\n",
            "file",
            "The file has a header row but no contacts under it; nothing to import.",
        ),
        (  # the second column would hide the first one's values
            "first_name,last_name,phone,notes,Notes\nA,B,2025550122,keep-me-1,keep-me-2\n",
            "file",
            "The header names 'Notes' twice (columns 4 and 5); give each column a name of its own. "
            "Nothing was imported.",
        ),
    ],
)
def test_unusable_files_are_refused_at_once_and_nothing_is_kept(client, world, content, field, message):
    login(client, "admin@example.edu")
    before = counts()
    response = start(client, world, content)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f'id="{field}-error">{message}</p>' in page.replace("&#39;", "'")
    assert 'value="Fall Open House"' in page
    assert counts() == before
    assert stored_files(client.application) == []


def test_upload_form_errors_in_htmx_are_a_fragment(client, world):
    login(client, "admin@example.edu")
    response = upload(client, "Admissions List", world["other_office"].id, b"", htmx=True)
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert fragment.lstrip().startswith('<form id="upload-form"')
    assert (
        'id="name-error">A campaign named “Admissions List” already exists; choose another name.' in fragment
    )
    assert 'id="office-error">Choose one of your offices.' in fragment


def test_missing_file_is_reported(client, world):
    login(client, "admin@example.edu")
    response = post(client, "/admin/campaigns/new", {"name": "X", "office_id": str(world["office"].id)})
    assert response.status_code == 422
    assert (
        'id="file-error">Choose a CSV file with a header row first_name,last_name,phone.'
        in response.get_data(as_text=True)
    )


def test_a_file_with_no_valid_row_can_not_be_saved(client, world):
    login(client, "admin@example.edu")
    before = counts()[:2]
    csv_text = "first_name,last_name,phone\nA,B,123\nC,D,not a phone\n"
    response = start(client, world, csv_text)
    job = job_from(response)
    assert job.status == "rejected"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The file has no valid contact rows, so there is nothing to save." in page
    assert "Save as draft" not in page
    assert '<td class="num">2</td>' in page and '<td class="num">3</td>' in page
    response = post(client, f"/admin/campaigns/imports/{job.id}/save")
    assert response.status_code == 409
    assert "This file has no valid contact rows, so there is nothing to save." in response.get_data(
        as_text=True
    )
    assert counts()[:2] == before
    assert stored_files(client.application) == []


ROWS = "".join(f"Cam,Lee,20255{n:05d}\n" for n in range(100))


@pytest.mark.parametrize(
    ("listing", "refusal"),
    [
        (f'first_name,last_name,phone\nAna,Lopez,2025550101\nBen,"O\'Brien,2025550102\n{ROWS}',
         "Line 3 cannot be read as CSV: a quote opened in it is never closed"),
        (f'first_name,last_name,phone\n{ROWS}Bad,1,2\nBen,"O\'Brien" Jr,2025550102\n',
         "Line 103 cannot be read as CSV: a quoted cell has text after its closing quote"),
    ],
)  # fmt: skip
def test_an_upload_unreadable_part_way_says_where_and_offers_nothing_to_save(client, world, listing, refusal):
    """What the rows before an unreadable line held is not what the file holds: the preview says
    why it is refused, and counts nothing."""
    login(client, "admin@example.edu")
    response = start(client, world, listing)
    job = job_from(response)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert refusal in page
    assert "Save as draft" not in page
    assert "valid contacts" not in page and "Invalid rows" not in page
    assert (job.status, job.valid_rows, job.invalid_rows) == ("rejected", 0, 0)
    assert db.session.scalar(select(func.count()).select_from(CampaignImportError)) == 0


def test_extra_empty_cells_at_the_end_of_a_row_are_nothing_and_a_short_row_is_refused(app, world):
    """Trailing separators add empty cells: nothing. A row short of cells is refused: which cell
    it lacks cannot be told (a school left out would put the year in its place)."""
    from webapp.services import campaigns as contact_lists

    listing = (
        "phone,first_name,last_name,school,year\n"
        "2025550163,Ben,Cho,Hill,2027,,,\n"  # three empty cells more
        "2025550162,Ana,Lopez,2027\n"  # which one is missing?
        "2025550165,Di,Fox,Hill,2027,x\n"  # a cell more, with something in it
    )
    rows = list(contact_lists.read_contacts(io.BytesIO(listing.encode())))
    assert (rows[0].first_name, rows[0].phone, rows[0].extra) == (
        "Ben", "+12025550163", {"school": "Hill", "year": "2027"}
    )  # fmt: skip
    assert [(r.line, r.reason) for r in rows[1:]] == [
        (3, "has 4 fields; the header has 5"), (4, "has 6 fields; the header has 5")
    ]  # fmt: skip


def test_an_upload_discarded_while_its_rows_are_checked_stays_discarded(client, world, monkeypatch):
    """The admin presses Discard upload while the worker is still checking the rows: the check
    stops there, keeps nothing, and the upload stays discarded (not back as ready to save)."""
    login(client, "admin@example.edu")
    discard = {}
    read_rows = service.read_contacts

    def read_and_discard(raw):
        for number, row in enumerate(read_rows(raw)):
            if number == 2 and discard:  # the admin's Discard, in the middle of the check
                assert post(client, f"/admin/campaigns/imports/{discard['id']}/cancel").status_code == 303
            yield row

    monkeypatch.setattr(service, "PROGRESS_EVERY", 3)
    monkeypatch.setattr(service, "read_contacts", read_and_discard)
    def held(job_id: int) -> None:  # the worker's turn comes below
        discard["id"] = job_id

    monkeypatch.setattr(service.queue, "enqueue_import_check", held)
    job = job_from(start(client, world, GOOD_CSV))
    service.check_rows(job.id)
    db.session.expire_all()
    job = db.session.get(CampaignImport, job.id)
    assert (job.status, job.valid_rows) == ("cancelled", 0)
    assert stored_files(client.application) == []
    refused = post(client, f"/admin/campaigns/imports/{job.id}/save")
    assert refused.status_code == 409
    assert "This upload was discarded" in refused.get_data(as_text=True)


def test_duplicate_phones_are_reported_and_kept_once(client, world):
    login(client, "admin@example.edu")
    csv_text = "first_name,last_name,phone\nA,One,2025550143\nB,Two,+1 (202) 555-0143\n"
    job = job_from(start(client, world, csv_text))
    assert (job.valid_rows, job.invalid_rows) == (1, 1)
    error = db.session.scalar(select(CampaignImportError).where(CampaignImportError.import_id == job.id))
    assert (error.line, error.reason) == (3, "phone '+1 (202) 555-0143' repeats line 2")


def test_a_taken_campaign_name_is_refused(world):
    with pytest.raises(FormErrors) as raised:
        service.start_import(
            world["users"]["admin"],
            "admissions list",
            world["office"].id,
            io.BytesIO(b"phone\n1\n"),
            "a.csv",
        )
    assert raised.value.errors == {
        "name": "A campaign named “admissions list” already exists; choose another name."
    }
    # Names are one list for every office (the command line launches one by its name alone): a
    # name taken where the admin does not look says so.
    with pytest.raises(FormErrors) as raised:
        service.start_import(
            world["users"]["admin"], "FA\u200b LIST", world["office"].id, io.BytesIO(b"phone\n1\n"), "a.csv"
        )
    assert raised.value.errors == {
        "name": "A campaign named “FA\u200b LIST” already exists in another office; choose another name."
    }


def test_campaign_names_differ_by_more_than_case_in_any_script(app, world, tmp_path):
    listing = tmp_path / "visit.csv"
    listing.write_text("first_name,last_name,phone\nAna,Lopez,2025550101\n")
    runner = app.test_cli_runner()
    office = ["--office", "Admissions"]
    imported = runner.invoke(args=["campaigns", "import", "Été Visit", str(listing), *office])
    assert imported.exit_code == 0, imported.output
    again = runner.invoke(args=["campaigns", "import", "ÉTÉ VISIT", str(listing), *office])
    assert again.exit_code == 1 and "A campaign named 'ÉTÉ VISIT' already exists." in again.output
    launched = runner.invoke(args=["campaigns", "launch", "été visit"])
    assert launched.exit_code == 0, launched.output
    assert campaigns.campaign_by_name("ÉTÉ VISIT").status == "launched"

    # Two kept before names had to differ: launched by the name as written, never by a guess.
    db.session.add(Campaign(name="ÉTÉ VISIT", office_id=world["office"].id, status="draft"))
    db.session.commit()
    guessed = runner.invoke(args=["campaigns", "launch", "été visit"])
    assert guessed.exit_code == 1
    assert "Several campaigns have names that read as 'été visit'" in guessed.output
    assert runner.invoke(args=["campaigns", "launch", "ÉTÉ VISIT"]).exit_code == 0


def test_discard_an_upload(client, world):
    login(client, "admin@example.edu")
    job = job_from(start(client, world, GOOD_CSV))
    assert stored_files(client.application)
    response = post(client, f"/admin/campaigns/imports/{job.id}/cancel")
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(CampaignImport, job.id).status == "cancelled"
    assert stored_files(client.application) == []
    assert db.session.scalar(select(Campaign.id).where(Campaign.name == "Fall Open House")) is None


def test_saving_an_upload_that_cannot_be_saved_says_what_became_of_it(client, world):
    login(client, "admin@example.edu")
    discarded = job_from(start(client, world, GOOD_CSV))
    assert post(client, f"/admin/campaigns/imports/{discarded.id}/cancel").status_code == 303
    refused = post(client, f"/admin/campaigns/imports/{discarded.id}/save")  # e.g. from another tab
    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    assert "This upload was discarded, so there is nothing to save." in page
    assert "Only a checked contact list" not in page
    shown = post(client, f"/admin/campaigns/imports/{discarded.id}/save", htmx=True)
    assert shown.status_code == 200 and "was discarded" in shown.get_data(as_text=True)
    assert db.session.scalar(select(Campaign.id).where(Campaign.name == "Fall Open House")) is None

    saved = job_from(start(client, world, GOOD_CSV, name="Spring Visit"))
    assert post(client, f"/admin/campaigns/imports/{saved.id}/save").status_code == 303
    again = post(client, f"/admin/campaigns/imports/{saved.id}/save")  # a second click
    assert again.status_code == 409
    assert "This contact list is already saved as a draft campaign." in again.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).where(Campaign.name == "Spring Visit")) == 1

    failed = job_from(start(client, world, GOOD_CSV, name="Winter Fair"))
    failed.status = "failed"  # as an import that stopped with an error leaves it
    db.session.commit()
    refused = post(client, f"/admin/campaigns/imports/{failed.id}/save")
    assert refused.status_code == 409
    assert "stopped with an error and nothing was saved" in refused.get_data(as_text=True)

    checking = job_from(start(client, world, GOOD_CSV, name="Summer Camp"))
    checking.status = "validating"  # as while the worker still checks it
    db.session.commit()
    refused = post(client, f"/admin/campaigns/imports/{checking.id}/save")
    assert refused.status_code == 409
    assert "still being checked" in refused.get_data(as_text=True)


def test_a_name_taken_since_the_upload_is_refused_at_save(client, world):
    login(client, "admin@example.edu")
    job = job_from(start(client, world, GOOD_CSV))
    db.session.add(Campaign(name="fall open house", office_id=world["office"].id, status="draft"))
    db.session.commit()  # meanwhile, another admin's campaign
    refused = post(client, f"/admin/campaigns/imports/{job.id}/save")
    assert refused.status_code == 409
    page = refused.get_data(as_text=True).replace("&#34;", '"')
    assert "was created since this file was uploaded" in page and "Discard this upload" in page
    db.session.expire_all()
    assert db.session.get(CampaignImport, job.id).status == "ready"


def test_discarding_an_upload_that_is_gone_or_saved_says_what_became_of_it(client, world):
    login(client, "admin@example.edu")
    job = job_from(start(client, world, GOOD_CSV))
    assert post(client, f"/admin/campaigns/imports/{job.id}/cancel").status_code == 303

    again = post(client, f"/admin/campaigns/imports/{job.id}/cancel")  # e.g. a second click
    assert again.status_code == 409
    page = again.get_data(as_text=True)
    assert "This upload was already discarded; nothing was saved from it." in page
    assert "already saved" not in page
    shown = post(client, f"/admin/campaigns/imports/{job.id}/cancel", htmx=True)
    assert shown.status_code == 200 and "already discarded" in shown.get_data(as_text=True)

    saved = job_from(start(client, world, GOOD_CSV, name="Spring Visit"))
    assert post(client, f"/admin/campaigns/imports/{saved.id}/save").status_code == 303
    refused = post(client, f"/admin/campaigns/imports/{saved.id}/cancel")
    assert refused.status_code == 409
    assert "already saved; archive the campaign instead" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(CampaignImport, saved.id).status != "cancelled"
    assert db.session.scalar(select(Campaign.id).where(Campaign.name == "Spring Visit")) is not None

    failed = job_from(start(client, world, GOOD_CSV, name="Winter Fair"))
    failed.status = "failed"  # as an import that stopped with an error leaves it
    db.session.commit()
    refused = post(client, f"/admin/campaigns/imports/{failed.id}/cancel")
    assert refused.status_code == 409
    assert "stopped with an error and nothing was saved" in refused.get_data(as_text=True)


def test_many_invalid_rows_page_by_line(client, world):
    login(client, "admin@example.edu")
    rows = "".join(f"X,Y,bad{i}\n" for i in range(130))
    job = job_from(start(client, world, "first_name,last_name,phone\nA,B,2025550143\n" + rows))
    assert job.invalid_rows == 130
    page = client.get(f"/admin/campaigns/imports/{job.id}").get_data(as_text=True)
    assert page.count('<td class="num">') == service.ERRORS_PAGE
    assert "Show more invalid rows" in page and "after=102" in page
    more = client.get(
        f"/admin/campaigns/imports/{job.id}?after=102", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert "<html" not in more and more.count('<td class="num">') == 30
    assert '<td class="num">103</td>' in more and "Show more" not in more


def test_progress_polls_while_running_and_reloads_when_done(client, world):
    login(client, "admin@example.edu")
    job = CampaignImport(
        office_id=world["office"].id, campaign_name="Big list", stored_name="x", filename="big.csv",
        status="validating", rows_estimate=100_000, rows_checked=25_000,
    )  # fmt: skip
    db.session.add(job)
    db.session.commit()
    page = client.get(f"/admin/campaigns/imports/{job.id}").get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in page
    assert '<progress max="100000" value="25000"' in page
    assert "25,000 of about 100,000 rows checked" in page
    fragment = client.get(
        f"/admin/campaigns/imports/{job.id}/progress", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="import-progress"')

    job.status, job.valid_rows, job.invalid_rows = "ready", 99_990, 10
    db.session.commit()
    response = client.get(f"/admin/campaigns/imports/{job.id}/progress", headers={"HX-Request": "true"})
    assert response.headers["HX-Refresh"] == "true"
    # The page reloads with the result; focus starts on what happened, which is read out.
    reloaded = client.get(f"/admin/campaigns/imports/{job.id}").get_data(as_text=True)
    said = "Every row is checked: 99,990 ready to import, 10 invalid. Check the preview below."
    assert re.search(r'<div class="alert alert-success" role="status" tabindex="-1" autofocus><p>'
                     + re.escape(said), reloaded)  # fmt: skip


def test_launch_waits_for_the_import(world):
    campaign = world["campaign"]
    db.session.add(
        CampaignImport(
            office_id=world["office"].id, campaign_name=campaign.name, stored_name="y",
            status="importing", campaign_id=campaign.id,
        )
    )  # fmt: skip
    db.session.commit()
    with pytest.raises(Conflict, match="The contact list is still importing; launch it when it is done."):
        service.launch(world["users"]["admin"], campaign)


def test_a_failed_import_leaves_nothing_behind(client, world, monkeypatch):
    login(client, "admin@example.edu")
    job = job_from(start(client, world, GOOD_CSV))

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(service, "_insert_batch", broken)
    response = post(client, f"/admin/campaigns/imports/{job.id}/save")
    assert response.status_code == 303
    db.session.expire_all()
    job = db.session.get(CampaignImport, job.id)
    assert job.status == "failed" and job.campaign_id is None
    assert db.session.scalar(select(Campaign.id).where(Campaign.name == "Fall Open House")) is None
    page = client.get(f"/admin/campaigns/imports/{job.id}").get_data(as_text=True)
    assert "The import stopped with an error; nothing was saved." in page
    # The page the admin was sent to polls the import: it brings them to that reason.
    progress = client.get(f"/admin/campaigns/imports/{job.id}/progress", headers={"HX-Request": "true"})
    assert progress.headers["HX-Redirect"] == f"/admin/campaigns/imports/{job.id}"
    audit = client.get("/admin/audit").get_data(as_text=True)
    assert "Saved campaign Fall Open House as a draft" in audit
    assert (
        "The import of campaign Fall Open House for Admissions stopped with an error; the draft was "
        "removed and nothing was saved"
    ) in audit


def import_campaign_rows(rows: str) -> None:
    from webapp.services import campaigns as contact_lists

    contact_lists.import_campaign("Accents", "Admissions", io.BytesIO(rows.encode()))
    db.session.commit()


def test_contacts_search_and_keyset_pages(client, world):
    login(client, "admin@example.edu")
    rows = "".join(f"Student{i},Last{i},(202) 555-{1000 + i:04d}\n" for i in range(60))
    job = job_from(start(client, world, "first_name,last_name,phone\n" + rows + "Zed,Quinn,2025550143\n"))
    post(client, f"/admin/campaigns/imports/{job.id}/save")
    campaign = db.session.scalar(select(Campaign).where(Campaign.name == "Fall Open House"))

    first = service.search_contacts(campaign, "", limit=25)
    second = service.search_contacts(campaign, "", after_id=first.next_cursor, limit=25)
    third = service.search_contacts(campaign, "", after_id=second.next_cursor, limit=25)
    names = [c.first_name for page in (first, second, third) for c in page.contacts]
    assert len(names) == 61 and len(set(names)) == 61 and third.next_cursor is None

    assert [c.full_name for c in service.search_contacts(campaign, "zed q").contacts] == ["Zed Quinn"]
    assert [c.full_name for c in service.search_contacts(campaign, "(202) 555-0143").contacts] == [
        "Zed Quinn"
    ]
    assert [c.first_name for c in service.search_contacts(campaign, "555-105").contacts] == [
        f"Student{i}" for i in range(50, 60)
    ]
    assert service.search_contacts(campaign, "100%_").contacts == []
    # Names starting with an accented capital, which SQLite's lower() leaves as it is.
    import_campaign_rows("first_name,last_name,phone\nÉmile,Zola,2025550161\nÑandú,Güell,2025550162\n")
    accented = db.session.scalar(select(Campaign).where(Campaign.name == "Accents"))
    for typed, name in (("émile", "Émile Zola"), ("ÉMILE Z", "Émile Zola"), ("ñandú", "Ñandú Güell")):
        assert [c.full_name for c in service.search_contacts(accented, typed).contacts] == [name], typed

    url = f"/admin/campaigns/{campaign.id}"
    page = client.get(url).get_data(as_text=True)
    assert "Student0 Last0" in page and "Show more contacts" in page
    found = client.get(
        f"{url}?q=quinn", headers={"HX-Request": "true", "HX-Target": "contact-results"}
    ).get_data(as_text=True)
    assert found.lstrip().startswith('<div id="contact-results"') and "Zed Quinn" in found
    assert "Student0" not in found


def test_campaign_list_shows_only_the_admins_offices(client, world):
    login(client, "admin@example.edu")
    page = client.get("/admin/campaigns").get_data(as_text=True)
    assert "Admissions List" in page and "FA List" not in page


def queue_down(*args):
    raise ConnectionError("redis is down")


def kept_token(page: str) -> str:
    match = re.search(r'name="kept_upload" value="([0-9a-f]{32})"', page)
    assert match, page
    return match.group(1)


def test_queue_down_at_upload_saves_nothing_and_keeps_the_file_for_the_next_try(client, world, monkeypatch):
    login(client, "admin@example.edu")
    office_id = world["office"].id
    before = counts()
    monkeypatch.setattr("webapp.queue.enqueue_import_check", queue_down)
    response = start(client, world, GOOD_CSV)
    # Nothing was wrong with the form: a retryable 503, not a form error.
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    page = response.get_data(as_text=True)
    assert "background worker queue is not reachable, so contacts.csv was not checked" in page
    assert "upload again in a minute, without choosing it again" in page
    assert 'value="Fall Open House"' in page  # the form as filled in
    assert re.search(rf'<option value="{office_id}"\s+selected>', page)
    assert "Kept from your last try: contacts.csv" in page
    assert counts() == before  # nothing saved
    token = kept_token(page)

    # The queue is back: the form sent again, no file chosen, uploads the one kept.
    monkeypatch.undo()
    form = {"name": "Fall Open House", "office_id": str(office_id), "kept_upload": token,
            "kept_filename": "contacts.csv"}  # fmt: skip
    response = post(client, "/admin/campaigns/new", form)
    assert response.status_code == 303
    job = job_from(response)
    assert (job.status, job.valid_rows, job.invalid_rows, job.filename) == ("ready", 3, 2, "contacts.csv")
    assert not any(name.endswith(".kept.csv") for name in stored_files(client.application))

    # Kept once, used once: a second submission of the same form is asked for the file.
    again = post(client, "/admin/campaigns/new", {**form, "name": "Spring Visit"})
    assert again.status_code == 422
    assert "The file kept from your last try is no longer here; choose it again." in again.get_data(
        as_text=True
    )
    assert counts()[2] == before[2] + 1


def test_queue_down_at_upload_in_htmx_swaps_the_form_with_the_file_kept(client, world, monkeypatch):
    login(client, "admin@example.edu")
    monkeypatch.setattr("webapp.queue.enqueue_import_check", queue_down)
    response = start(client, world, GOOD_CSV, htmx=True)
    assert response.status_code == 200  # htmx swaps only 2xx answers
    fragment = response.get_data(as_text=True)
    assert fragment.lstrip().startswith('<form id="upload-form"')
    assert 'role="alert"' in fragment and "was not checked and nothing was saved yet" in fragment
    kept_token(fragment)


def test_a_new_file_replaces_the_one_kept(client, world, monkeypatch):
    login(client, "admin@example.edu")
    monkeypatch.setattr("webapp.queue.enqueue_import_check", queue_down)
    token = kept_token(start(client, world, GOOD_CSV).get_data(as_text=True))
    monkeypatch.undo()
    token_csrf = csrf_token(client, "/inbox")
    response = client.post(
        "/admin/campaigns/new",
        data={
            "csrf_token": token_csrf, "name": "Fall Open House", "office_id": str(world["office"].id),
            "kept_upload": token, "kept_filename": "contacts.csv",
            "file": (io.BytesIO(b"first_name,last_name,phone\nZed,Quinn,2025550143\n"), "fixed.csv"),
        },
        content_type="multipart/form-data",
    )  # fmt: skip
    assert response.status_code == 303
    assert (job_from(response).filename, job_from(response).valid_rows) == ("fixed.csv", 1)
    assert not any(name.endswith(".kept.csv") for name in stored_files(client.application))


@pytest.mark.parametrize("token", ["0" * 32, "../../parley.db", "x"])
def test_a_kept_file_that_is_not_there_is_asked_for_again(client, world, token):
    login(client, "admin@example.edu")
    before = counts()
    form = {"name": "Fall Open House", "office_id": str(world["office"].id), "kept_upload": token}
    response = post(client, "/admin/campaigns/new", form)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="file-error">The file kept from your last try is no longer here; choose it again.' in page
    assert 'name="kept_upload"' not in page
    assert counts() == before


def test_queue_down_at_save_undoes_the_draft(client, world, monkeypatch):
    def down(*args):
        raise ConnectionError("redis is down")

    login(client, "admin@example.edu")
    job = job_from(start(client, world, GOOD_CSV))
    monkeypatch.setattr("webapp.queue.enqueue_import_contacts", down)
    response = post(client, f"/admin/campaigns/imports/{job.id}/save")
    assert response.status_code == 503  # try again later: nothing was wrong with the list
    assert response.headers["Retry-After"] == "5"
    page = response.get_data(as_text=True)
    assert "nothing was saved" in page and "Save as draft" in page  # still there to click again
    db.session.expire_all()
    assert db.session.get(CampaignImport, job.id).status == "ready"
    assert db.session.scalar(select(Campaign.id).where(Campaign.name == "Fall Open House")) is None
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0
    monkeypatch.undo()
    assert post(client, f"/admin/campaigns/imports/{job.id}/save").status_code == 303
    assert saved_contact("Aisha").phone == "+12025550199"


def test_a_row_with_a_nul_character_is_reported_not_stored(app, world):
    """PostgreSQL cannot store a NUL: the row is invalid, with its line, and the others import."""
    from webapp.services import campaigns as contact_lists
    from webapp.services.campaigns import RowError

    raw = io.BytesIO(b"first_name,last_name,phone\nAna\x00,Ruiz,2025550143\nCam,Lee,2025550178\n")
    rows = list(contact_lists.read_contacts(raw))
    assert [(row.line, row.reason) for row in rows if isinstance(row, RowError)] == [
        (2, "contains a NUL character, which no name or phone has")
    ]
    assert [row.first_name for row in rows if not isinstance(row, RowError)] == ["Cam"]


def test_names_that_would_hide_or_reverse_what_they_say_are_row_errors(app, world):
    """A name is shown to every agent as written: a direction override (which made "aicraG" read
    as "Garcia"), a control character or a blank filler is refused, naming the column; a line
    break inside a quoted name is a space."""
    from webapp.services import campaigns as contact_lists
    from webapp.services.campaigns import RowError

    csv_text = (
        "first_name,last_name,phone\n"
        "Maria,\u202eaicraG,2025550143\n"
        "\u3164,,2025550144\n"
        "Ali\x1b[2Jce,Lee,2025550145\n"
        '"Mary\nAnn",Smith,2025550146\n'
        "Cam,Lee,2025550178\n"
    )
    rows = list(contact_lists.read_contacts(io.BytesIO(csv_text.encode())))
    assert [(row.line, row.reason) for row in rows if isinstance(row, RowError)] == [
        (2, "the last name cannot contain characters that reverse the direction of text"),
        (3, "the first name needs at least one visible character"),
        (4, "the first name cannot contain control characters, such as a line break or a tab"),
    ]
    assert [row.first_name for row in rows if not isinstance(row, RowError)] == ["Mary Ann", "Cam"]


def test_a_kept_file_nobody_came_back_for_is_forgotten_after_a_day(client, world, monkeypatch):
    login(client, "admin@example.edu")
    monkeypatch.setattr("webapp.queue.enqueue_import_check", queue_down)
    token = kept_token(start(client, world, GOOD_CSV).get_data(as_text=True))
    abandoned = Path(client.application.config["IMPORT_FOLDER"]) / f"{token}.kept.csv"
    day_ago = time.time() - service.KEPT_SECONDS - 60
    os.utime(abandoned, (day_ago, day_ago))
    kept_token(start(client, world, GOOD_CSV, name="Spring Visit").get_data(as_text=True))
    assert not abandoned.exists()
    assert len([name for name in stored_files(client.application) if name.endswith(".kept.csv")]) == 1


EMPTY_ROWS_CSV = (
    "\n"
    " , ,\n"
    "first_name,last_name,phone,program\n"
    "Maria,Garcia,(202) 555-0143,Nursing\n"
    ",,,\n"
    "\n"
    "James,Smith,202-555-0178,Engineering\n"
    " , ,,\n"
    "\n"
    "Bad,Phone,12345,Biology\n"
    "\n"
)


def test_blank_lines_are_skipped_without_a_word_and_later_rows_keep_their_lines(client, world):
    """Blank lines (or separators and spaces alone), before the header or among the rows, are no
    rows: not listed, not counted as invalid; the row after them is named by its line in the file."""
    login(client, "admin@example.edu")
    response = start(client, world, EMPTY_ROWS_CSV)
    job = job_from(response)
    assert (job.status, job.valid_rows, job.invalid_rows) == ("ready", 2, 1)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert '<td class="num">10</td>' in page
    assert "empty row" not in page


def test_a_name_too_long_to_keep_is_a_row_error_not_cut(app, world):
    from webapp.services import campaigns as contact_lists
    from webapp.services.campaigns import RowError

    long_name = "A" * 121
    csv_text = f"first_name,last_name,phone\n{long_name},Ruiz,2025550143\nCam,Lee,2025550178\n"
    raw = io.BytesIO(csv_text.encode())
    rows = list(contact_lists.read_contacts(raw))
    assert [(row.line, row.reason) for row in rows if isinstance(row, RowError)] == [
        (2, "the first name is longer than 120 characters")
    ]
    assert [row.first_name for row in rows if not isinstance(row, RowError)] == ["Cam"]


def test_unnamed_columns_keep_their_values_apart(app, world):
    from webapp.services import campaigns as contact_lists

    raw = io.BytesIO(b"first_name,last_name,phone,,\nAna,Ruiz,2025550143,one,two\n")
    (row,) = contact_lists.read_contacts(raw)
    assert row.extra == {"(column 4)": "one", "(column 5)": "two"}


def refused_on_the_command_line(app, tmp_path, name: str, text: str) -> list[str]:
    """What `campaigns import` says of a file it refuses (exit 1, no campaign kept)."""
    csv_file = tmp_path / "list.csv"
    csv_file.write_text(text)
    args = ["campaigns", "import", name, str(csv_file), "--office", "Admissions"]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 1
    db.session.rollback()
    assert db.session.scalar(select(Campaign.id).where(Campaign.name == name)) is None
    return result.output.strip().splitlines()


def test_a_field_past_the_csv_limit_is_one_error_line_naming_it(app, world, tmp_path):
    huge = "B" * 200_000
    text = f"first_name,last_name,phone\nAna,Ruiz,2025550143\n{huge},Lee,2025550178\n"
    assert refused_on_the_command_line(app, tmp_path, "Too big", text) == [
        "Error: Line 3 cannot be read as CSV: a field is longer than 131,072 "
        "characters (a quote left open runs on). Nothing was imported."
    ]


def test_a_quote_left_open_is_reported_on_the_line_it_opens(app, world):
    from webapp.services import campaigns as contact_lists

    rows = "".join(f"Cam,Lee,20255{n:05d}\n" for n in range(8000))
    raw = io.BytesIO(f'first_name,last_name,phone\n"Ana,Ruiz,2025550143\n{rows}'.encode())
    with pytest.raises(contact_lists.CampaignError, match="Line 2 cannot be read as CSV"):
        list(contact_lists.read_contacts(raw))


def test_a_quote_left_open_in_a_small_file_stops_it_on_the_line_it_opens(app, world, tmp_path):
    """Shorter than the field limit, the rest of the file would be read as one cell of one bad
    row: its hundred contacts gone without a word."""
    rows = "".join(f"Cam,Lee,20255{n:05d}\n" for n in range(100))
    text = f'first_name,last_name,phone\nAna,Lopez,2025550101\nBen,"O\'Brien,2025550102\n{rows}'
    assert refused_on_the_command_line(app, tmp_path, "Open quote", text) == [
        "Error: Line 3 cannot be read as CSV: a quote opened in it is never closed, so the rest of "
        "the file would be one cell. Nothing was imported."
    ]


def test_text_after_a_closing_quote_is_named(app, world):
    from webapp.services import campaigns as contact_lists

    raw = io.BytesIO(b'first_name,last_name,phone\nAna,"Ruiz" Jr,2025550143\n')
    with pytest.raises(contact_lists.CampaignError, match="Line 2 cannot be read as CSV: a quoted cell has"):
        list(contact_lists.read_contacts(raw))


def test_the_command_line_skips_blank_lines_without_counting_them(app, world, tmp_path):
    csv_file = tmp_path / "list.csv"
    csv_file.write_text(EMPTY_ROWS_CSV)
    args = ["campaigns", "import", "With gaps", str(csv_file), "--office", "Admissions"]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("line 10: phone '12345'") and result.stderr.count("\n") == 1
    assert result.stdout == "Imported 2 contacts into draft campaign 'With gaps'; 1 invalid row skipped.\n"
    saved = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "campaign.saved"))
    assert "(1 invalid row left out)" in saved.summary


def test_blank_lines_before_the_header_are_skipped(app, world):
    from webapp.services import campaigns as contact_lists

    raw = io.BytesIO(b"\r\n\r\n;;\r\nfirst_name;last_name;phone\r\nAna;Ruiz;2025550143\r\nBo;Li;12345\r\n")
    assert contact_lists.read_header(raw) == ["first_name", "last_name", "phone"]
    rows = list(contact_lists.read_contacts(raw))
    assert [row.first_name for row in rows if isinstance(row, contact_lists.ContactRow)] == ["Ana"]
    assert [row.line for row in rows if isinstance(row, contact_lists.RowError)] == [6]


def test_the_command_line_counts_one_contact_and_one_row_in_the_singular(app, world, tmp_path):
    csv_file = tmp_path / "list.csv"
    csv_file.write_text("first_name,last_name,phone\nAna,Ruiz,2025550143\nBo,Li,12345\n")
    args = ["campaigns", "import", "Just Ana", str(csv_file), "--office", "Admissions"]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    assert result.stdout == "Imported 1 contact into draft campaign 'Just Ana'; 1 invalid row skipped.\n"
