"""A contact's pictures (inbound MMS): the worker downloads the provider's media links through the
Plivo plugin and keeps the pictures, which the thread shows as thumbnails; anything else stays a
link, and no link outside Plivo's own is ever fetched."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from pathlib import Path

from PIL import Image
from sqlalchemy import select

from tests.conftest import login
from tests.fake_plivo import AUTH_ID, AUTH_TOKEN, FakePlivo
from tests.plivo.conftest import CONTACT, PLIVO_NUMBER, post_signed
from webapp.extensions import db
from webapp.models import Message, MessagePicture, Office, utcnow
from webapp.services import media, offices, retention

PATH = "/webhooks/plivo/inbound"
HTMX = {"HX-Request": "true"}


def picture(kind: str = "PNG", size: tuple[int, int] = (60, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (20, 90, 200)).save(out, kind)
    return out.getvalue()


def mms(*links: str, body: str = "Here is my transcript") -> dict[str, str]:
    form = {"From": CONTACT[1:], "To": PLIVO_NUMBER[1:], "Body": body, "Type": "mms",
            "MessageUUID": str(uuid.uuid4()), "MediaCount": str(len(links))}  # fmt: skip
    form.update({f"Media{number}": link for number, link in enumerate(links, start=1)})
    return form


def media_path(name: str) -> str:
    return f"/media/Account/{AUTH_ID}/Message/{uuid.uuid4()}/Media/{name}"


def received() -> Message:
    return db.session.scalars(select(Message).where(Message.direction == "inbound")).one()


def kept(message: Message) -> list[MessagePicture]:
    return list(db.session.scalars(select(MessagePicture).where(MessagePicture.message_id == message.id)))


def test_a_contacts_pictures_show_as_thumbnails_and_other_media_stay_links(
    client, app, setup, plivo_number, fake_plivo
):
    png = fake_plivo.serve_file(media_path("map"), picture("PNG"))
    jpeg = fake_plivo.serve_file(media_path("photo"), picture("JPEG", (30, 50)), "image/jpeg")
    card = fake_plivo.serve_file(media_path("card"), b"BEGIN:VCARD\nFN:Priya\nEND:VCARD\n", "text/vcard")
    gone = fake_plivo.url + media_path("gone")  # 404
    assert post_signed(client, PATH, mms(png, card, jpeg, gone)).status_code == 200

    message = received()
    assert message.media_urls == [png, card, jpeg, gone]  # the provider's links are all kept
    pictures = kept(message)
    assert sorted((p.source_url, p.content_type, p.width, p.height) for p in pictures) == sorted(
        [(png, "image/png", 60, 40), (jpeg, "image/jpeg", 30, 50)]
    )
    # Plivo's media links are public: no credentials are sent to them.
    assert {authorization for _, authorization in fake_plivo.downloads} == {None}

    login(client, "standard@example.edu")
    page = client.get(f"/conversations/{message.conversation_id}").get_data(as_text=True)
    assert 'alt="Picture 1 from the contact (opens full size)" width="60" height="40"' in page
    assert 'alt="Picture 2 from the contact (opens full size)" width="30" height="50"' in page
    # The vCard and the missing file stay links; the pictures' links are replaced by thumbnails.
    assert f'href="{card}"' in page and f'href="{gone}"' in page
    assert f'href="{png}"' not in page and f'href="{jpeg}"' not in page
    first = next(p for p in pictures if p.source_url == png)
    thumbnail = client.get(f"/conversations/{message.conversation_id}/pictures/{first.token}")
    assert thumbnail.status_code == 200
    assert thumbnail.mimetype == "image/png" and thumbnail.data == picture("PNG")


def test_links_of_the_accounts_api_are_fetched_with_its_credentials(
    client, setup, plivo_number, fake_plivo
):
    path = f"/v1/Account/{AUTH_ID}/Message/{uuid.uuid4()}/Media/1/"
    link = fake_plivo.serve_file(path, picture("GIF"), "image/gif", credentials=f"{AUTH_ID}:{AUTH_TOKEN}")
    assert post_signed(client, PATH, mms(link)).status_code == 200

    [kept_picture] = kept(received())
    assert kept_picture.content_type == "image/gif"
    [(fetched, authorization)] = fake_plivo.downloads
    assert fetched == path and authorization.startswith("Basic ")


def test_links_elsewhere_are_never_fetched_and_stay_links(client, setup, plivo_number, fake_plivo):
    with FakePlivo() as elsewhere:
        foreign = elsewhere.serve_file(media_path("map"), picture())
        other_account = fake_plivo.serve_file(
            f"/v1/Account/MA{'Y' * 18}/Message/1/Media/1/", picture(), credentials=f"{AUTH_ID}:{AUTH_TOKEN}"
        )
        assert post_signed(client, PATH, mms(foreign, other_account)).status_code == 200

        assert elsewhere.downloads == [] and fake_plivo.downloads == []
    assert kept(received()) == []


def test_a_file_over_5_mb_or_not_a_picture_stays_a_link(client, setup, plivo_number, fake_plivo):
    big = fake_plivo.serve_file(media_path("big"), picture() + b"\0" * media.MAX_PICTURE_BYTES)
    renamed = fake_plivo.serve_file(media_path("map.jpg"), b"%PDF-1.7 not a picture", "image/jpeg")
    assert post_signed(client, PATH, mms(big, renamed)).status_code == 200

    message = received()
    assert kept(message) == []
    login(client, "standard@example.edu")
    page = client.get(f"/conversations/{message.conversation_id}").get_data(as_text=True)
    assert f'href="{big}"' in page and f'href="{renamed}"' in page


def test_a_repeated_delivery_downloads_nothing_twice(client, setup, plivo_number, fake_plivo):
    form = mms(fake_plivo.serve_file(media_path("map"), picture()))
    assert post_signed(client, PATH, form).status_code == 200
    assert post_signed(client, PATH, form).status_code == 200

    assert len(kept(received())) == 1
    assert len(fake_plivo.downloads) == 1


def test_a_passing_failure_is_tried_again_and_the_open_conversation_then_shows_the_picture(
    client, app, setup, plivo_number, fake_plivo
):
    path = media_path("map")
    link = fake_plivo.serve_file(path, b"busy", "text/plain", status=503)
    assert post_signed(client, PATH, mms(link)).status_code == 200
    message = received()
    assert kept(message) == []
    # The worker will try again in a minute.
    [retry] = app.extensions["parley.huey"].scheduled()
    assert retry.name == "keep_inbound_pictures" and retry.args == (message.id, 2)

    login(client, "standard@example.edu")
    live = f"/conversations/{message.conversation_id}/live"
    first = client.get(live, headers=HTMX)
    assert first.status_code == 200 and f'href="{link}"' in first.get_data(as_text=True)
    etag = first.headers["ETag"]
    assert client.get(live, headers=dict(HTMX, **{"If-None-Match": etag})).status_code == 304

    fake_plivo.serve_file(path, picture())
    assert media.keep_inbound(message.id, attempt=2) is None
    refreshed = client.get(live, headers=dict(HTMX, **{"If-None-Match": etag}))
    assert refreshed.status_code == 200
    body = refreshed.get_data(as_text=True)
    assert 'alt="Picture from the contact (opens full size)"' in body and f'href="{link}"' not in body


def test_tries_stop_after_the_third(client, setup, plivo_number, fake_plivo):
    link = fake_plivo.serve_file(media_path("map"), b"busy", "text/plain", status=503)
    assert post_signed(client, PATH, mms(link)).status_code == 200
    message = received()

    assert media.keep_inbound(message.id, attempt=2) == media.INBOUND_RETRY_SECONDS[1]
    assert media.keep_inbound(message.id, attempt=3) is None
    assert kept(message) == []


def test_retention_erases_a_contacts_pictures_with_the_text(app, client, setup, plivo_number, fake_plivo):
    link = fake_plivo.serve_file(media_path("map"), picture())
    assert post_signed(client, PATH, mms(link)).status_code == 200
    message = received()
    [kept_picture] = kept(message)
    stored = Path(app.config["MEDIA_FOLDER"]) / kept_picture.storage_key
    assert stored.exists()
    message.created_at = utcnow() - timedelta(days=40)
    office = db.session.get(Office, setup["office"].id)
    offices.set_retention(None, office, 30)
    db.session.commit()

    retention.erase_office(db.session.get(Office, setup["office"].id))

    assert not stored.exists() and kept(message) == []
    login(client, "standard@example.edu")
    thread = client.get(f"/conversations/{message.conversation_id}").get_data(as_text=True)
    assert "/pictures/" not in thread and link not in thread
