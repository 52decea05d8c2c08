"""Pictures (MMS): Attach picture on compose and reply, checked by content, stored in the media
folder, shown in the thread, sent to providers by a signed link that expires, erased by retention."""

from __future__ import annotations

import io
import logging
import struct
import zlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from PIL import Image
from sqlalchemy import func, select

from tests.conftest import csrf_token, login, make_app, serving
from tests.fake_plivo import AUTH_ID, FakePlivo
from tests.fake_plivo import AUTH_TOKEN as PLIVO_TOKEN
from webapp.extensions import db
from webapp.models import Message, MessagePicture, Office, utcnow
from webapp.services import media, offices, retention

BASE = "https://parley.example.edu"
CONTACT = "(202) 555-0143"


def picture_bytes(kind: str = "PNG", size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, kind)
    return out.getvalue()


@pytest.fixture
def fake_plivo() -> Iterator[FakePlivo]:
    with FakePlivo() as fake:
        yield fake


@pytest.fixture
def app(database_url: str, tmp_path: Path, fake_plivo) -> Iterator[Flask]:
    """Console and Plivo (at its fake) enabled; pictures under the test's instance folder."""
    app = make_app(
        database_url, tmp_path, SMS_PROVIDERS=["console", "plivo"], PUBLIC_BASE_URL=BASE,
        PLIVO_AUTH_ID=AUTH_ID, PLIVO_AUTH_TOKEN=PLIVO_TOKEN, PLIVO_API_BASE_URL=fake_plivo.url,
    )  # fmt: skip
    with serving(app):
        yield app


def compose(client, number_id: int, body: str, upload: tuple[bytes, str] | None, htmx: bool = False):
    data = {
        "csrf_token": csrf_token(client, "/texts/new"),
        "number_id": number_id,
        "to": CONTACT,
        "body": body,
    }
    if upload is not None:
        data["picture"] = (io.BytesIO(upload[0]), upload[1])
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post("/texts/new", data=data, headers=headers, content_type="multipart/form-data")


def media_files(app: Flask) -> list[Path]:
    folder = Path(app.config["MEDIA_FOLDER"])
    return sorted(folder.iterdir()) if folder.exists() else []


def test_compose_offers_attach_picture_and_sends_it_as_a_link(app, client, setup, caplog):
    login(client, "standard@example.edu")
    page = client.get("/texts/new").get_data(as_text=True)
    assert '<label for="compose-picture">Attach picture</label>' in page
    assert 'enctype="multipart/form-data"' in page
    png = picture_bytes()
    with caplog.at_level(logging.WARNING, logger="parley.console_sms"):
        response = compose(client, setup["number"].id, "Here is the campus map", (png, "map.png"))
    assert response.status_code == 303
    message = db.session.scalars(select(Message)).one()
    picture = db.session.scalars(select(MessagePicture)).one()
    assert (picture.message_id, picture.content_type, picture.width, picture.height) == (
        message.id, "image/png", 40, 30,
    )  # fmt: skip
    assert [path.name for path in media_files(app)] == [picture.storage_key]
    # The console provider printed a public link to it, which works without a session.
    [record] = [r for r in caplog.records if hasattr(r, "outbound")]
    [link] = record.outbound.media_urls
    assert link.startswith(f"{BASE}/media/") and picture.token not in link
    anonymous = app.test_client()
    fetched = anonymous.get(link.removeprefix(BASE))
    assert fetched.status_code == 200 and fetched.data == png and fetched.mimetype == "image/png"
    # The thread shows a thumbnail from the session route.
    thread = client.get(f"/conversations/{message.conversation_id}").get_data(as_text=True)
    thumbnail = f"/conversations/{message.conversation_id}/pictures/{picture.token}"
    assert f'<img src="{thumbnail}"' in thread and 'width="40" height="30"' in thread
    assert client.get(thumbnail).data == png
    assert anonymous.get(thumbnail).status_code in (302, 401)


def test_a_picture_link_is_refused_after_it_expires_or_when_forged(app, client, setup, clock):
    app.config["MEDIA_URL_SECONDS"] = 1
    login(client, "standard@example.edu")
    compose(client, setup["number"].id, "Map", (picture_bytes("GIF"), "map.gif"))
    message = db.session.scalars(select(Message)).one()
    [link] = media.public_urls(message.id)
    path = link.removeprefix(BASE)
    anonymous = app.test_client()
    assert anonymous.get(path).status_code == 200
    assert anonymous.get(path[:-2] + ("AA" if not path.endswith("AA") else "BB")).status_code == 404
    clock.shift(timedelta(seconds=2))  # past the second: links count whole seconds
    expired = anonymous.get(path)
    assert expired.status_code == 410
    assert "This picture link has expired" in expired.get_data(as_text=True)
    token = db.session.scalars(select(MessagePicture.token)).one()
    assert anonymous.get(f"/media/{token}").status_code == 404  # the bare token is not a link


def test_another_office_cannot_see_the_thumbnail(app, client, setup, make):
    login(client, "standard@example.edu")
    compose(client, setup["number"].id, "Map", (picture_bytes("JPEG"), "map.jpg"))
    picture = db.session.scalars(select(MessagePicture)).one()
    message = db.session.get(Message, picture.message_id)
    make.office("Financial Aid")
    make.user("fa@example.edu", "standard", offices=("Financial Aid",))
    other = app.test_client()
    login(other, "fa@example.edu")
    assert other.get(f"/conversations/{message.conversation_id}/pictures/{picture.token}").status_code == 404
    # Nor is a picture reachable through a conversation it is not in.
    other_number = make.number("+12025550120", office="Financial Aid", inboxes=("Financial Aid",))
    compose(other, other_number.id, "Hello", None)
    theirs = db.session.scalars(select(Message).where(Message.id != message.id)).one()
    assert other.get(f"/conversations/{theirs.conversation_id}/pictures/{picture.token}").status_code == 404


def renamed_text() -> bytes:
    return b"%PDF-1.4 this is not a picture at all\n" * 20


@pytest.mark.parametrize(
    "upload",
    [
        (b"just some text, renamed", "photo.jpg"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 200, "truncated.jpg"),  # a JPEG signature on nothing
        (b"%PDF-1.4 " * 50, "map.png"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "drawing.gif"),
    ],
)
def test_a_non_picture_is_refused_by_its_content_and_changes_nothing(app, client, setup, upload):
    login(client, "standard@example.edu")
    response = compose(client, setup["number"].id, "Map", upload)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f"The file ({upload[1]}) is not a JPEG, PNG or GIF picture. Nothing was sent." in page
    assert 'id="picture-error"' in page and "Map</textarea>" in page
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0
    assert media_files(app) == []


def png_header(width: int, height: int) -> bytes:
    """The start of a PNG of that size: enough for its size to be read, nothing to decode."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"")


@pytest.mark.parametrize(("width", "height"), [(7_000, 7_000), (30_000, 30_000)])
def test_a_picture_with_too_many_pixels_is_refused_for_that_reason(width, height):
    with pytest.raises(media.PictureError) as refused:
        media.check_picture(io.BytesIO(png_header(width, height)), "huge.png")
    assert "The picture (huge.png) has too many pixels" in str(refused.value)
    assert "at most 40 million" in str(refused.value)


@pytest.mark.parametrize("megabytes", [5, 20])  # a phone's photo: under the request's limit
def test_an_upload_over_5_mb_is_refused_next_to_the_field_keeping_the_message(
    app, client, setup, megabytes
):
    login(client, "standard@example.edu")
    big = picture_bytes() + b"\x00" * (megabytes * 1024 * 1024)
    response = compose(client, setup["number"].id, "Map of the campus", (big, "map.png"), htmx=True)
    assert response.status_code == 200  # htmx swaps the form with its error
    page = response.get_data(as_text=True)
    assert "A picture can be at most 5 MB" in page and 'id="picture-error"' in page
    assert "Map of the campus</textarea>" in page
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0


def test_a_50_mb_upload_gets_a_clear_413_and_changes_nothing(app, client, setup):
    login(client, "standard@example.edu")
    response = compose(client, setup["number"].id, "Map", (b"\xff" * (50 * 1024 * 1024), "huge.jpg"))
    assert response.status_code == 413
    assert "A picture can be at most 5 MB (JPEG, PNG or GIF)" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0
    assert media_files(app) == []


def test_a_reply_may_be_a_picture_alone_and_goes_to_plivo_as_mms(app, client, setup, make, fake_plivo):
    number = make.number("+12025550199", provider="plivo", inboxes=("Admissions",), label="Plivo line")
    login(client, "standard@example.edu")
    compose(client, number.id, "Hello", None)
    conversation_id = db.session.scalars(select(Message.conversation_id)).one()
    page = client.get(f"/conversations/{conversation_id}").get_data(as_text=True)
    assert '<label for="reply-picture">Attach picture</label>' in page
    data = {
        "csrf_token": csrf_token(client, f"/conversations/{conversation_id}"),
        "body": "",
        "picture": (io.BytesIO(picture_bytes("JPEG")), "map.jpeg"),
    }
    response = client.post(
        f"/conversations/{conversation_id}/messages", data=data, content_type="multipart/form-data"
    )
    assert response.status_code == 200
    first, second = fake_plivo.requests
    assert "type" not in first.json or first.json["type"] == "sms"
    assert second.json["type"] == "mms" and not second.json.get("text")
    [link] = second.json["media_urls"]
    assert link.startswith(f"{BASE}/media/")
    fetched = app.test_client().get(link.removeprefix(BASE))
    assert fetched.status_code == 200 and fetched.mimetype == "image/jpeg"
    # An empty reply without a picture is still refused.
    data = {"csrf_token": csrf_token(client, f"/conversations/{conversation_id}"), "body": ""}
    response = client.post(f"/conversations/{conversation_id}/messages", data=data)
    assert "Enter a message." in response.get_data(as_text=True)
    assert len(fake_plivo.requests) == 2


def test_retention_erases_pictures(app, client, setup, clock):
    login(client, "standard@example.edu")
    compose(client, setup["number"].id, "Map", (picture_bytes(), "map.png"))
    picture = db.session.scalars(select(MessagePicture)).one()
    message = db.session.get(Message, picture.message_id)
    message.created_at = utcnow() - timedelta(days=40)
    db.session.commit()
    office = db.session.get(Office, setup["office"].id)
    offices.set_retention(None, office, 30)
    db.session.commit()
    [link] = media.public_urls(message.id)
    retention.erase_office(db.session.get(Office, setup["office"].id))
    assert media_files(app) == []
    assert db.session.scalar(select(func.count()).select_from(MessagePicture)) == 0
    assert app.test_client().get(link.removeprefix(BASE)).status_code == 404
    thread = client.get(f"/conversations/{message.conversation_id}").get_data(as_text=True)
    assert "/pictures/" not in thread


def test_a_long_thread_shows_its_newest_500_messages_each_with_all_its_pictures(client, setup):
    """The thread's limit counts messages, not pictures: pictures never push messages out, and the
    oldest message shown keeps every picture it has."""
    from sqlalchemy import insert

    from webapp.models import Conversation

    conversation = Conversation(number=setup["number"], contact_phone="+12025550143")
    db.session.add(conversation)
    db.session.flush()
    db.session.execute(
        insert(Message),
        [
            {"conversation_id": conversation.id, "direction": "inbound", "body": f"Message {k}",
             "author_kind": "contact", "status": "received"}
            for k in range(1, 502)
        ],
    )  # fmt: skip
    ids = db.session.scalars(
        select(Message.id).where(Message.conversation_id == conversation.id).order_by(Message.id)
    ).all()
    # Three pictures on each of the 200 newest messages and on the oldest one still shown.
    with_pictures = [ids[1], *ids[-200:]]
    db.session.execute(
        insert(MessagePicture),
        [
            {"message_id": message_id, "token": f"t{message_id}x{n}", "content_type": "image/png",
             "size_bytes": 100, "width": 40, "height": 30, "storage_key": f"k{message_id}x{n}"}
            for message_id in with_pictures
            for n in range(3)
        ],
    )  # fmt: skip
    db.session.commit()
    login(client, "standard@example.edu")
    page = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    shown = [k for k in range(1, 502) if f">Message {k}<" in page]
    assert shown == list(range(2, 502)), (shown[:3], len(shown))
    assert page.count('alt="Picture 1 from the contact') == 201
    assert page.count('alt="Picture 3 from the contact') == 201
    assert f"/pictures/t{ids[1]}x2" in page  # the oldest message shown, with its last picture
