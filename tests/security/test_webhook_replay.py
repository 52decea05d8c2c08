"""A signed provider webhook is accepted once: a replay of its signature is refused (403) and
changes nothing, in every Parley process. Plivo's legacy V2 signature, which signs neither the
text nor the query, is refused unless PLIVO_ALLOW_V2_SIGNATURES=1. A re-sent "recipient opted out"
report (error 200) never opts a contact out again after they texted START.

Requests are signed by the tests' own implementation of Plivo's algorithm (tests/fake_plivo.py).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import _empty_tables
from tests.fake_plivo import FakePlivo, new_nonce, sign_v2, sign_v3, v3_headers
from tests.plivo.conftest import BASE, CONTACT, PLIVO_NUMBER, plivo_app
from webapp import config
from webapp.extensions import db
from webapp.models import Message
from webapp.services import inbound, optouts, sending

INBOUND = "/webhooks/plivo/inbound"
STATUS = "/webhooks/plivo/status"
REPLAYED = "Replayed webhook: this signature was already used"


@pytest.fixture
def fake_plivo() -> Iterator[FakePlivo]:
    with FakePlivo() as server:
        yield server


@pytest.fixture
def app_settings() -> dict:
    return {}


@pytest.fixture
def app(database_url: str, tmp_path: Path, fake_plivo: FakePlivo, app_settings: dict):
    """The suite's `app` with Plivo enabled (pointed at the fake API), plus `app_settings`."""
    app = plivo_app(database_url, tmp_path, fake_plivo, **app_settings)
    with app.app_context():
        yield app
        db.session.remove()
        _empty_tables()
        db.engine.dispose()


@pytest.fixture
def plivo_number(setup, make):
    return make.number(PLIVO_NUMBER, provider="plivo", inboxes=("Admissions",), label="Plivo")


def sms(text: str = "Is my application complete?", to: str = PLIVO_NUMBER) -> dict[str, str]:
    return {
        "From": CONTACT[1:],
        "To": to[1:],
        "Text": text,
        "Type": "sms",
        "MessageUUID": str(uuid.uuid4()),
    }


def inbound_bodies() -> list[str]:
    query = select(Message.body).where(Message.direction == "inbound").order_by(Message.id)
    return list(db.session.scalars(query))


def post(client, path: str, form: dict, headers: dict):
    return client.post(path, data=form, headers=headers)


# V3 replays ------------------------------------------------------------------------------------


@pytest.mark.parametrize("nonce", ["31415926535897932384", "7" * 300], ids=["plivo", "long"])
def test_replayed_inbound_text_is_refused_and_stored_once(client, plivo_number, nonce):
    form = sms()
    headers = v3_headers(BASE + INBOUND, form, nonce)

    first = post(client, INBOUND, form, headers)
    assert (first.status_code, first.get_data(as_text=True)) == (200, "Stored\n")

    replay = post(client, INBOUND, form, headers)
    # Refused as a replay, not answered "Duplicate, already stored" with a 200.
    assert replay.status_code == 403
    assert REPLAYED in replay.get_data(as_text=True)
    assert inbound_bodies() == ["Is my application complete?"]


def test_a_refused_request_uses_up_its_nonce_too(client, make, setup):
    """Sent to a number Parley does not have yet: 404 and nothing stored but its nonce, so the
    same signature is refused as a replay afterwards, even once the number exists."""
    form = sms()
    headers = v3_headers(BASE + INBOUND, form)
    assert post(client, INBOUND, form, headers).status_code == 404

    make.number(PLIVO_NUMBER, provider="plivo", inboxes=("Admissions",), label="Plivo")
    replay = post(client, INBOUND, form, headers)
    assert replay.status_code == 403
    assert REPLAYED in replay.get_data(as_text=True)
    assert inbound_bodies() == []


def test_a_nonce_is_kept_only_with_the_work_it_did(client, plivo_number, monkeypatch):
    """The first delivery's transaction failed, storing nothing: its nonce went with it, so the
    same signed request sent again is stored, not refused as a replay and lost."""
    form = sms("Did you get my transcript?")
    headers = v3_headers(BASE + INBOUND, form)
    monkeypatch.setattr(inbound.conversations, "record_activity", _broken)
    with pytest.raises(RuntimeError):
        post(client, INBOUND, form, headers)
    db.session.rollback()
    monkeypatch.undo()

    again = post(client, INBOUND, form, headers)
    assert (again.status_code, again.get_data(as_text=True)) == (200, "Stored\n")
    assert inbound_bodies() == ["Did you get my transcript?"]
    assert post(client, INBOUND, form, headers).status_code == 403  # and only once


def _broken(*args, **kwargs):
    raise RuntimeError("the database went away mid-transaction")


def test_a_burst_of_one_signed_request_is_accepted_once(app, plivo_number):
    form = sms("Played many times at once")
    headers = v3_headers(BASE + INBOUND, form)
    count = 12
    barrier = threading.Barrier(count)
    statuses: list[int] = []
    db.session.commit()

    def deliver() -> None:
        with app.app_context():
            client = app.test_client()
            barrier.wait()
            statuses.append(post(client, INBOUND, form, headers).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(statuses) == [200] + [403] * (count - 1)
    assert inbound_bodies() == ["Played many times at once"]


@pytest.fixture
def sent(setup, plivo_number, fake_plivo) -> Message:
    """A text Plivo accepted: status "sent", its MessageUUID recorded."""
    message = sending.create_text(setup["users"]["standard"], plivo_number.id, CONTACT, "Hello")
    message = db.session.get(Message, message.id, populate_existing=True)
    assert message.status == "sent"
    return message


def status_report(message: Message, status: str, error_code: str = "") -> tuple[str, dict]:
    form = {"MessageUUID": message.provider_message_id, "Status": status, "To": CONTACT[1:]}
    if error_code:
        form["ErrorCode"] = error_code
    return f"{STATUS}?message_id={message.id}", form


def test_replayed_status_report_is_refused(client, sent):
    path, form = status_report(sent, "undelivered", "20")
    headers = v3_headers(BASE + path, form)
    assert post(client, path, form, headers).status_code == 200

    replay = post(client, path, form, headers)
    assert replay.status_code == 403
    assert REPLAYED in replay.get_data(as_text=True)
    message = db.session.get(Message, sent.id, populate_existing=True)
    assert (message.status, message.error_code) == ("undelivered", "20")


def test_nonces_are_shared_by_every_app_instance(
    client, plivo_number, database_url, tmp_path, fake_plivo
):
    """Two Parley processes on one database: a request played to one is refused by the other."""
    other = plivo_app(database_url, tmp_path / "other", fake_plivo)
    form = sms()
    headers = v3_headers(BASE + INBOUND, form)
    try:
        assert post(client, INBOUND, form, headers).status_code == 200
        replay = post(other.test_client(), INBOUND, form, headers)
        assert replay.status_code == 403
        assert REPLAYED in replay.get_data(as_text=True)
    finally:
        with other.app_context():
            db.engine.dispose()
    assert len(inbound_bodies()) == 1


# The error-200 report, re-sent -------------------------------------------------------------------


def test_a_resent_opt_out_report_does_not_undo_a_later_start(client, setup, sent):
    path, report = status_report(sent, "failed", "200")
    assert post(client, path, report, v3_headers(BASE + path, report)).status_code == 200
    assert optouts.is_opted_out(CONTACT)

    start = sms("START")
    assert post(client, INBOUND, start, v3_headers(BASE + INBOUND, start)).status_code == 200
    assert not optouts.is_opted_out(CONTACT)

    # The same report again, validly signed with a new nonce: the message is already failed, so
    # the report changes nothing, and above all does not opt the contact out again.
    resent = post(client, path, report, v3_headers(BASE + path, report, new_nonce()))
    assert resent.status_code == 200
    assert not optouts.is_opted_out(CONTACT)
    conversation = db.session.get(Message, sent.id).conversation
    assert sending.reply(setup["users"]["standard"], conversation, "Welcome back!")


# Legacy V2 -------------------------------------------------------------------------------------


def v2_headers(url: str, nonce: str = "05429567804466091622") -> dict:
    return {"X-Plivo-Signature-V2": sign_v2(url, nonce), "X-Plivo-Signature-V2-Nonce": nonce}


def test_v2_only_signature_is_refused_and_stores_nothing(client, plivo_number):
    form = sms("Anyone with a captured V2 signature could post this")
    response = post(client, INBOUND, form, v2_headers(BASE + INBOUND))
    assert response.status_code == 403
    text = response.get_data(as_text=True)
    assert "Plivo V2 signatures are not accepted; enable V3 signatures" in text
    assert "PLIVO_ALLOW_V2_SIGNATURES=1" in text
    assert inbound_bodies() == []
    assert not optouts.is_opted_out(CONTACT)


def test_the_setting_is_read_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PLIVO_ALLOW_V2_SIGNATURES", "1")
    assert config.TestConfig(str(tmp_path), "sqlite://").PLIVO_ALLOW_V2_SIGNATURES is True
    monkeypatch.setenv("PLIVO_ALLOW_V2_SIGNATURES", "0")
    assert config.TestConfig(str(tmp_path), "sqlite://").PLIVO_ALLOW_V2_SIGNATURES is False


@pytest.mark.parametrize("app_settings", [{"PLIVO_ALLOW_V2_SIGNATURES": True}])
def test_v2_is_accepted_when_allowed_and_its_replay_refused(client, plivo_number, app_settings):
    form = sms()
    headers = v2_headers(BASE + INBOUND)
    assert post(client, INBOUND, form, headers).status_code == 200

    replay = post(client, INBOUND, form, headers)
    assert replay.status_code == 403
    assert REPLAYED in replay.get_data(as_text=True)
    # V2 does not sign the text: another text under the captured signature is refused too.
    assert post(client, INBOUND, sms("STOP"), headers).status_code == 403

    # Allowed or not, V2 is only a fallback when there is no V3 header: a wrong V3 stays wrong.
    form, nonce = sms("Downgraded"), new_nonce()
    downgraded = {
        "X-Plivo-Signature-V3": sign_v3(BASE + INBOUND, form, nonce, token="someone-else"),
        "X-Plivo-Signature-V3-Nonce": nonce,
        **v2_headers(BASE + INBOUND, new_nonce()),
    }
    assert post(client, INBOUND, form, downgraded).status_code == 403
    assert inbound_bodies() == ["Is my application complete?"]
    assert not optouts.is_opted_out(CONTACT)


@pytest.mark.parametrize("app_settings", [{"PLIVO_ALLOW_V2_SIGNATURES": True}])
@pytest.mark.parametrize("refused", ["unknown number", "malformed"])
def test_with_v2_allowed_a_refused_requests_signature_cannot_carry_another_body(
    client, plivo_number, app_settings, refused
):
    """V2 signs neither the text nor the numbers: a captured refused request, replayed with a body
    of the attacker's choosing, must not be accepted."""
    first = sms(to="+12025550999") if refused == "unknown number" else {**sms(), "From": "not a phone"}
    headers = v2_headers(BASE + INBOUND)
    assert post(client, INBOUND, first, headers).status_code in (400, 404)

    replay = post(client, INBOUND, sms("STOP"), headers)
    assert replay.status_code == 403
    assert REPLAYED in replay.get_data(as_text=True)
    assert inbound_bodies() == []
    assert not optouts.is_opted_out(CONTACT)


def test_a_refused_status_report_uses_up_its_nonce(client, sent):
    path = f"{STATUS}?message_id={sent.id}"
    form = {"MessageUUID": "not-ours", "Status": "bogus", "To": CONTACT[1:]}
    headers = v3_headers(BASE + path, form)
    assert post(client, path, form, headers).status_code in (400, 404)
    assert post(client, path, form, headers).status_code == 403
