"""An agent attaches a picture to a text from a Plivo number: it reaches the fake Plivo API as an
MMS whose media URL the provider fetches, shows as a thumbnail in the thread, and its link is
refused to anyone once it has expired. A contact's MMS shows its picture the same way."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from PIL import Image
from playwright.sync_api import Page, expect

from tests.browser.axe import Audit
from tests.browser.conftest import log_in, release
from tests.conftest import make_app, serving
from tests.fake_plivo import AUTH_ID, AUTH_TOKEN, FakePlivo, v3_headers

PLIVO_NUMBER = "+12025550199"


@pytest.fixture
def fake_plivo() -> Iterator[FakePlivo]:
    with FakePlivo(fetch_media=True) as fake:
        yield fake


@pytest.fixture
def app(database_url: str, tmp_path: Path, fake_plivo: FakePlivo) -> Iterator[Flask]:
    app = make_app(
        database_url, tmp_path, SMS_PROVIDERS=["console", "plivo"],
        PLIVO_AUTH_ID=AUTH_ID, PLIVO_AUTH_TOKEN=AUTH_TOKEN, PLIVO_API_BASE_URL=fake_plivo.url,
        PLIVO_MEDIA_BASE_URL=f"{fake_plivo.url}/media", MEDIA_URL_SECONDS=3,
    )  # fmt: skip
    with serving(app):
        yield app


@pytest.fixture
def plivo_number(setup, make) -> int:
    number = make.number(PLIVO_NUMBER, provider="plivo", inboxes=("Admissions",), label="Admissions MMS")
    number_id = number.id
    release()
    return number_id


def png(size: tuple[int, int] = (120, 80)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (20, 90, 200)).save(out, "PNG")
    return out.getvalue()


def test_an_mms_reaches_plivo_and_its_link_expires(
    app: Flask, live_server: str, page: Page, plivo_number: int, fake_plivo: FakePlivo
):
    app.config["PUBLIC_BASE_URL"] = live_server  # the provider fetches pictures from the live app
    picture = png()
    log_in(page, "standard@example.edu")
    page.goto("/texts/new")
    page.get_by_label("From").select_option(str(plivo_number))
    page.get_by_label("To").fill("(202) 555-0143")
    page.get_by_label("Message").fill("Here is the campus map")
    # A phone's big photo: refused next to the field, the typed message kept, nothing sent.
    page.get_by_label("Attach picture").set_input_files(
        {"name": "poster.png", "mimeType": "image/png", "buffer": picture + b"\0" * (12 * 1024 * 1024)}
    )
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#picture-error")).to_contain_text("A picture can be at most 5 MB")
    expect(page.get_by_label("Attach picture")).to_be_focused()
    expect(page.get_by_label("Message")).to_have_value("Here is the campus map")
    assert fake_plivo.requests == []
    # Checked by content: a text file named like a picture is refused, and nothing is sent.
    page.get_by_label("Attach picture").set_input_files(
        {"name": "map.jpg", "mimeType": "image/jpeg", "buffer": b"not a picture at all"}
    )
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#picture-error")).to_contain_text("is not a JPEG, PNG or GIF picture")
    audit = Audit(1280)
    audit.check(page, "compose with a refused picture")
    assert fake_plivo.requests == []
    page.get_by_label("Attach picture").set_input_files(
        {"name": "map.png", "mimeType": "image/png", "buffer": picture}
    )
    page.get_by_role("button", name="Send").click()
    expect(page).to_have_url(re.compile(r"/conversations/\d+"))
    thumbnail = page.get_by_role("img", name="Picture sent (opens full size)")
    expect(thumbnail).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth === 120", arg=thumbnail.element_handle())
    audit.check(page, "conversation with a picture")
    expect(page.get_by_label("Attach picture")).to_be_visible()  # the reply offers it too
    audit.assert_clean()

    # The reply refuses a big picture as compose does: at Attach picture, not at Message.
    page.get_by_label("Message").fill("And the parking map")
    page.get_by_label("Attach picture").set_input_files(
        {"name": "poster.png", "mimeType": "image/png", "buffer": picture + b"\0" * (6 * 1024 * 1024)}
    )
    page.get_by_role("button", name="Send", exact=True).click()
    attach = page.get_by_label("Attach picture")
    expect(attach).to_be_focused()
    expect(attach).to_have_attribute("aria-invalid", "true")
    expect(attach).to_have_accessible_description(re.compile(r"A picture can be at most 5 MB"))
    expect(page.get_by_label("Message")).not_to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Message")).to_have_value("And the parking map")
    assert len(fake_plivo.requests) == 1

    [sent] = fake_plivo.requests
    assert (sent.json["src"], sent.json["type"], sent.json["text"]) == (
        PLIVO_NUMBER, "mms", "Here is the campus map",
    )  # fmt: skip
    [link] = sent.json["media_urls"]
    assert link.startswith(f"{live_server}/media/")
    assert fake_plivo.fetched == [(link, 200, picture)]  # the provider fetched it, no session
    # Link ages are counted in whole seconds (the signing second is truncated), so a 3 s link is
    # certain to have expired only once more than 4 s have passed since it was made.
    time.sleep(4.2)
    stranger = requests.get(link, timeout=5)
    assert stranger.status_code == 410 and "expired" in stranger.text


def test_a_contacts_picture_shows_as_a_thumbnail(
    app: Flask, live_server: str, page: Page, plivo_number: int, fake_plivo: FakePlivo
):
    app.config["PUBLIC_BASE_URL"] = live_server
    # A long screenshot, as phones take them.
    picture = fake_plivo.serve_file(f"/media/Account/{AUTH_ID}/Message/m1/Media/1", png((120, 2400)))
    card = fake_plivo.serve_file(f"/media/Account/{AUTH_ID}/Message/m1/Media/2", b"BEGIN:VCARD", "text/vcard")
    form = {"From": "12025550143", "To": PLIVO_NUMBER[1:], "Type": "mms", "Body": "My campus photo",
            "MessageUUID": "0e0e4d5c-1f1a-4c55-9d38-5b8b0c4f6a01", "MediaCount": "2",
            "Media1": picture, "Media2": card}  # fmt: skip
    url = f"{live_server}/webhooks/plivo/inbound"
    assert requests.post(url, data=form, headers=v3_headers(url, form), timeout=10).status_code == 200

    log_in(page, "standard@example.edu")
    page.goto("/inbox")
    page.get_by_role("link", name=re.compile("My campus photo")).click()
    thumbnail = page.get_by_role("img", name="Picture from the contact (opens full size)")
    expect(thumbnail).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth === 120", arg=thumbnail.element_handle())
    # A thumbnail, not the whole thread's height: at most 16rem tall, its shape kept.
    shown = thumbnail.bounding_box()
    assert shown["height"] <= 16 * 16 and abs(shown["width"] * 20 - shown["height"]) < 20, shown
    expect(page.get_by_role("link", name="Attachment 1")).to_have_attribute("href", card)
    audit = Audit(1280)
    audit.check(page, "conversation with a contact's picture")
    audit.assert_clean()
