"""Bounded requests: bodies over PARLEY_MAX_REQUEST_BYTES (1 MiB) get 413 before they are read,
with a message naming the limit; only the contact-list upload takes bigger ones, up to its own."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Response

from tests.admin.conftest import CONTACTS_CSV, as_admin, upload
from tests.conftest import PASSWORD, csrf_token, login
from tests.fake_plivo import v3_headers
from tests.plivo import conftest as plivo_fixtures
from tests.plivo.conftest import CONTACT, PLIVO_NUMBER
from webapp.extensions import db
from webapp.models import CampaignImport, LoginFailure, Message
from webapp.services.admin.campaigns import MAX_UPLOAD_BYTES

# Plivo enabled (a signed webhook) and cheap password hashes, as in those suites.
app = plivo_fixtures.app
plivo_timeout = plivo_fixtures.plivo_timeout
fake_plivo = plivo_fixtures.fake_plivo
plivo_number = plivo_fixtures.plivo_number

MIB = 1024 * 1024
BOUNDARY = "parley-test-boundary"
URLENCODED = "application/x-www-form-urlencoded"


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_login_post_over_the_limit_is_refused_before_the_view_runs(client, setup, monkeypatch):
    hashed = []
    monkeypatch.setattr("webapp.models.org.check_password_hash", lambda *a: hashed.append(1))
    data = {
        "csrf_token": csrf_token(client),
        "email": "standard@example.edu",
        "password": "wrong",
        "padding": (io.BytesIO(b"x" * (MIB + 1)), "padding.bin"),
    }
    response = client.post("/login", data=data, content_type="multipart/form-data")

    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "Parley accepts at most 1 MB in one request" in page
    assert "<html" in page
    assert hashed == [] and count(LoginFailure) == 0

    # Just under the limit: served as ever.
    data = {"csrf_token": csrf_token(client), "email": "standard@example.edu", "password": "x"}
    data["padding"] = "y" * (MIB - 1024)
    assert client.post("/login", data=data).status_code == 401


def test_a_signed_webhook_over_the_limit_stores_nothing(client, setup, plivo_number):
    path = "/webhooks/plivo/inbound"
    form = {
        "From": CONTACT[1:], "To": PLIVO_NUMBER[1:], "Type": "sms",
        "MessageUUID": str(uuid.uuid4()), "Text": "z" * (MIB + 1),
    }  # fmt: skip
    headers = v3_headers("https://parley.example.edu" + path, form)
    response = client.post(path, data=form, headers=headers)

    assert response.status_code == 413
    assert response.mimetype == "text/plain"
    assert "at most 1 MB" in response.get_data(as_text=True)
    assert count(Message) == 0


def test_a_body_without_content_length_is_cut_off_at_the_limit(app, setup):
    body = _multipart({"email": "a@example.edu", "password": "x"}, 2 * MIB)
    response = post_raw(app, "/login", body)
    assert response.status_code == 413
    assert "at most 1 MB" in response.get_data(as_text=True)
    assert count(LoginFailure) == 0


@pytest.mark.parametrize("padding, status", [(2 * MIB, 413), (MIB // 2, 302)])
def test_a_form_without_content_length_is_refused_past_the_limit_not_cut_short(
    app, client, setup, padding, status
):
    """A url-encoded form sent chunked, with the right password first: past the limit it is a 413,
    not the part before the limit taken as the whole form (which signed the sender in)."""
    fields = f"csrf_token={csrf_token(client)}&email=standard%40example.edu&password={PASSWORD}"
    body = io.BufferedReader(io.BytesIO(f"{fields}&padding={'y' * padding}".encode()))
    response = post_raw(app, "/login", body, client=client, content_type=URLENCODED)

    assert response.status_code == status  # 302: signed in, to the inbox
    if status == 413:
        assert "at most 1 MB" in response.get_data(as_text=True)
    else:
        assert response.headers["Location"].endswith("/inbox")


def test_an_htmx_request_over_the_limit_gets_the_message_in_the_page(client, setup):
    data = {"csrf_token": csrf_token(client), "padding": "y" * (MIB + 1)}
    response = client.post("/login", data=data, headers={"HX-Request": "true"})
    assert response.status_code == 413
    assert response.headers["HX-Retarget"] == "#main"
    assert "at most 1 MB" in response.get_data(as_text=True)


@pytest.fixture
def admin_client(client, setup):
    return as_admin(client)


def test_the_contact_list_upload_has_its_own_larger_limit(app, admin_client, setup):
    body = _multipart({"name": "Huge"}, 0)  # never read: its declared length is enough
    response = post_raw(
        app, "/admin/campaigns/new", body, content_length=MAX_UPLOAD_BYTES + MIB, client=admin_client
    )
    assert response.status_code == 413
    assert "The file is larger than 50 MB" in response.get_data(as_text=True)
    assert count(CampaignImport) == 0

    rows = "".join(f"Pat,Doe{n},(202) 555-{n % 10000:04d}\n" for n in range(42_000))
    raw = (CONTACTS_CSV + rows).encode()
    assert len(raw) > MIB
    response = upload(admin_client, "Big List", setup["office"].id, raw)
    assert response.status_code in (302, 303)
    assert count(CampaignImport) == 1


def test_a_small_app_limit_leaves_the_uploads_their_own(database_url, tmp_path):
    """An operator who lowers PARLEY_MAX_REQUEST_BYTES to 32 KB still has a contact list bigger
    than that accepted: the upload's own limit is 50 MB whatever the app's is."""
    from tests.conftest import Factory, make_app, serving

    with serving(make_app(database_url, tmp_path, MAX_REQUEST_BYTES=32 * 1024)) as small:
        make = Factory()
        office = make.office("Admissions")
        make.user("admin@example.edu", "admin", name="Alex Admin")
        client = small.test_client()
        assert login(client, "admin@example.edu").status_code == 302
        rows = "".join(f"Pat,Doe{n},(202) 555-{n % 10000:04d}\n" for n in range(4_000))
        raw = (CONTACTS_CSV + rows).encode()
        assert len(raw) > 96 * 1024  # more than one piece of the parser's reading
        response = upload(client, "Big List", office.id, raw)
        assert response.status_code in (302, 303), response.get_data(as_text=True)
        assert count(CampaignImport) == 1
        # Any other body keeps the app's limit.
        data = {"csrf_token": csrf_token(client, "/inbox"), "padding": "y" * (32 * 1024)}
        assert client.post("/login", data=data).status_code == 413


def test_an_upload_streamed_past_its_own_limit_is_cut_off(app, admin_client, setup):
    fields = {"name": "Huge", "office_id": str(setup["office"].id)}
    body = _multipart(fields, MAX_UPLOAD_BYTES + MIB)
    response = post_raw(app, "/admin/campaigns/new", body, client=admin_client)
    assert response.status_code == 413
    assert "The file is larger than 50 MB" in response.get_data(as_text=True)
    assert count(CampaignImport) == 0


def test_the_uploads_larger_limit_is_for_signed_in_sessions_only(app, client, setup):
    """Otherwise anyone could make the server read 50 MB: the CSRF check reads the whole form
    before the login check runs."""
    body = _multipart({"name": "Huge"}, 2 * MIB)
    response = post_raw(app, "/admin/campaigns/new", body, content_length=2 * MIB + 4096)
    assert response.status_code == 413
    assert "Parley accepts at most 1 MB in one request" in response.get_data(as_text=True)

    # A session that ended (signed out) is no longer one.
    as_admin(client)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/inbox")})
    body = _multipart({"name": "Huge"}, 0)
    response = post_raw(app, "/admin/campaigns/new", body, content_length=2 * MIB, client=client)
    assert response.status_code == 413
    assert "Parley accepts at most 1 MB in one request" in response.get_data(as_text=True)


def test_a_cookie_kept_after_its_session_ended_gets_no_larger_limit(app, client, setup):
    """A copy of the session cookie, kept from before signing out, still carries its token: the
    session it names has ended, so the upload is held to the app's 1 MB like a stranger's."""
    as_admin(client)
    kept = client.get_cookie("session").value
    client.post("/logout", data={"csrf_token": csrf_token(client, "/inbox")})
    client.set_cookie("session", kept)
    body = _multipart({"name": "Huge"}, 0)
    response = post_raw(app, "/admin/campaigns/new", body, content_length=2 * MIB, client=client)
    assert response.status_code == 413
    assert "Parley accepts at most 1 MB in one request" in response.get_data(as_text=True)

    as_admin(client)  # signed in again: the larger limit is back
    raw = (CONTACTS_CSV + "Pat,Doe,(202) 555-0101\n" * 60_000).encode()
    assert len(raw) > MIB
    response = upload(client, "List", setup["office"].id, raw)
    assert response.status_code in (302, 303)
    assert count(CampaignImport) == 1


def test_the_larger_limit_is_for_file_uploads_only(app, client, setup):
    """A compose form takes a picture of up to 5 MB; the same form without a file is an ordinary
    body, held to the app's 1 MB."""
    login(client, "standard@example.edu")
    data = {
        "csrf_token": csrf_token(client, "/texts/new"),
        "number_id": str(setup["number"].id),
        "to": "(202) 555-0142",
        "body": "Hello",
        "padding": "x" * (2 * MIB),
    }
    response = client.post("/texts/new", data=data)  # application/x-www-form-urlencoded
    assert response.status_code == 413
    assert "Parley accepts at most 1 MB in one request" in response.get_data(as_text=True)
    assert count(Message) == 0

    data["padding"] = (io.BytesIO(b"x" * (2 * MIB)), "padding.bin")  # the same, as an upload
    response = client.post("/texts/new", data=data, content_type="multipart/form-data")
    assert response.status_code in (302, 303)
    assert count(Message) == 1


def post_raw(
    app: Flask,
    path: str,
    body: io.BufferedReader,
    content_length: int | None = None,
    client: FlaskClient | None = None,
    content_type: str = f"multipart/form-data; boundary={BOUNDARY}",
) -> Response:
    """POST a body (multipart unless told) as gunicorn hands it on: without Content-Length
    (chunked), or with the one given, with `client`'s session cookie if given. The test client
    always declares the body's own, so this goes to the app directly."""
    headers = {"Transfer-Encoding": "chunked"} if content_length is None else {}
    environ = EnvironBuilder(
        path=path, method="POST", content_type=content_type, headers=headers
    ).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"]) if client else None
    if cookie is not None:
        environ["HTTP_COOKIE"] = f"{cookie.key}={cookie.value}"
    environ["wsgi.input"] = body
    if content_length is None:
        environ["wsgi.input_terminated"] = True  # the server ends the stream (werkzeug's test)
    else:
        environ["CONTENT_LENGTH"] = str(content_length)
    db.session.commit()
    with app.app_context():
        return Response.from_app(app, environ, buffered=True)


class _Stream(io.RawIOBase):
    """A request body made as it is read: big bodies without holding them in memory."""

    def __init__(self, parts: Iterator[bytes]) -> None:
        self.parts = parts
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.pending:
            self.pending = next(self.parts, b"")
            if not self.pending:
                return 0
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        return size


def _multipart(fields: dict[str, str], file_bytes: int) -> io.BufferedReader:
    def parts() -> Iterator[bytes]:
        for name, value in fields.items():
            yield (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            ).encode()
        yield (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
            "Content-Type: text/csv\r\n\r\nfirst_name,last_name,phone\n"
        ).encode()
        row = b"Pat,Doe,(202) 555-0143\n" * 4096
        for _ in range(file_bytes // len(row) + 1):
            yield row
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    return io.BufferedReader(_Stream(parts()), 1 << 16)



@pytest.mark.parametrize(
    ("limit", "said"),
    [(2000, "2,000 bytes"), (1536, "1,536 bytes"), (512 * 1024, "512 KB"), (3 * MIB, "3 MB"),
     (MIB + 1000, "1,049,576 bytes")],
)  # fmt: skip
def test_the_413_names_the_limit_exactly(app, client, setup, limit, said):
    app.config["MAX_REQUEST_BYTES"] = limit
    data = {"csrf_token": csrf_token(client), "padding": "y" * (limit + 1)}
    response = client.post("/login", data=data, headers={"HX-Request": "true"})
    assert response.status_code == 413
    assert f"Parley accepts at most {said} in one request" in response.get_data(as_text=True)


def test_the_upload_check_leaves_no_transaction_open_while_the_body_arrives(app, admin_client, setup):
    """The live-session check runs before the body is read, which may take minutes from a phone:
    it opens no transaction of the request's (on PostgreSQL one would sit idle, holding locks)."""
    from webapp.web import request_limits

    cookie = admin_client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    db.session.commit()
    with app.test_request_context(
        "/admin/campaigns/new", method="POST", content_type=f"multipart/form-data; boundary={BOUNDARY}",
        headers={"Cookie": f"{cookie.key}={cookie.value}"},
    ):  # fmt: skip
        assert request_limits._upload_limit() is not None  # signed in: the upload's own limit
        assert not db.session().in_transaction()
