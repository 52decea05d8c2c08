"""POST /webhooks/twilio/inbound: signatures, parsing, idempotency by MessageSid, MMS and opt-outs."""

from __future__ import annotations

import io
import threading

import pytest
from PIL import Image
from sqlalchemy import func, select

from tests.conftest import login
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, new_sid, sign, signed_headers
from tests.twilio.conftest import BASE, CONTACT, TWILIO_NUMBER, post_signed
from tests.webhook_receiver import add_endpoint, running_receiver
from webapp.extensions import db
from webapp.models import Conversation, Message, MessagePicture, OptOutEvent
from webapp.services import inbound, optouts

PATH = "/webhooks/twilio/inbound"
URL = BASE + PATH


def sms(text: str = "Is my application complete?", **extra: str) -> dict[str, str]:
    """An incoming SMS as Twilio posts it."""
    sid = new_sid()
    form = {
        "ToCountry": "US",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": text,
        "To": TWILIO_NUMBER,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": CONTACT,
        "ApiVersion": "2010-04-01",
    }
    form.update(extra)
    return form


def stored_messages() -> list[Message]:
    return list(db.session.scalars(select(Message).where(Message.direction == "inbound")))


def outbound_count() -> int:
    query = select(func.count()).select_from(Message).where(Message.direction == "outbound")
    return db.session.scalar(query)


def test_signed_sms_is_stored_and_needs_attention(client, setup, twilio_number):
    form = sms()
    response = post_signed(client, PATH, form)

    # Twilio texts a plain-text answer back to the contact; empty TwiML asks it to do nothing.
    assert response.status_code == 200 and response.mimetype == "text/xml"
    assert response.get_data(as_text=True) == "<Response/>"
    again = post_signed(client, PATH, form)  # Twilio's retry of the same message
    assert (again.status_code, again.mimetype) == (200, "text/xml")
    assert again.get_data(as_text=True) == "<Response/>"
    [message] = stored_messages()
    assert message.body == "Is my application complete?"
    assert (message.provider, message.provider_message_id) == ("twilio", form["MessageSid"])
    conversation = db.session.get(Conversation, message.conversation_id)
    assert conversation.contact_phone == CONTACT
    assert conversation.number_id == twilio_number.id
    assert conversation.needs_attention is True

    login(client, "standard@example.edu")
    page = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert "Is my application complete?" in page


def test_signature_with_the_port_twilio_may_include_is_accepted(client, setup, twilio_number):
    form = sms()
    headers = {"X-Twilio-Signature": sign("https://parley.example.edu:443" + PATH, form)}
    assert post_signed(client, PATH, form, headers).status_code == 200


def _refused_headers(form: dict) -> dict[str, dict]:
    return {
        "unsigned": {},
        "wrong token": signed_headers(URL, form, token="someone-else"),
        "signed for the internal URL": signed_headers("http://localhost" + PATH, form),
        "signed for another path": signed_headers(BASE + "/webhooks/twilio/status", form),
        "garbled": {"X-Twilio-Signature": "%%%\u00e9\u00fc, ,,,=\u00ff" + "A" * 500},
        "empty": {"X-Twilio-Signature": ""},
        "signed with a SharedKey": {
            **signed_headers(URL, form),
            "X-Twilio-Webhooks-Signature-Settings": "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256",
        },
    }


@pytest.mark.parametrize("case", list(_refused_headers(sms())))
def test_unsigned_or_wrongly_signed_requests_are_refused(client, setup, twilio_number, case):
    form = sms()
    response = post_signed(client, PATH, form, _refused_headers(form)[case])
    assert response.status_code == 403
    assert stored_messages() == []
    assert db.session.scalar(select(func.count()).select_from(Conversation)) == 0


def test_a_sharedkey_signature_is_refused_with_a_reason(client, setup, twilio_number):
    form = sms()
    headers = {**signed_headers(URL, form), "X-Twilio-Webhooks-Signature-Settings": "key=k1"}
    response = post_signed(client, PATH, form, headers)
    assert response.status_code == 403
    assert "TWILIO_AUTH_TOKEN" in response.get_data(as_text=True)


def test_tampered_body_is_refused(client, setup, twilio_number):
    form = sms("Hi")
    headers = signed_headers(URL, form)
    response = post_signed(client, PATH, {**form, "Body": "STOP"}, headers)
    assert response.status_code == 403
    assert stored_messages() == []
    assert not optouts.is_opted_out(CONTACT)


def test_an_identical_retry_is_answered_again_and_stored_once(app, client, setup, twilio_number):
    """Twilio retries a webhook with the very same signature: idempotent by MessageSid, and the
    office's CRM hears of the text once."""
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    with running_receiver() as crm:
        secret = add_endpoint(app, crm.url)
        form = sms()
        headers = signed_headers(URL, form)
        assert post_signed(client, PATH, form, headers).status_code == 200
        conversation = db.session.scalars(select(Conversation)).one()
        before = (conversation.last_activity_at, conversation.last_message_preview)
        again = post_signed(client, PATH, form, headers)
        assert again.status_code == 200
        assert again.get_data(as_text=True) == "<Response/>"  # nothing for Twilio to do
        assert len(stored_messages()) == 1
        db.session.expire_all()
        assert (conversation.last_activity_at, conversation.last_message_preview) == before
        events = [event["type"] for event in crm.verified(secret)]
        assert events == ["message.received", "conversation.needs_attention"]


def test_a_retry_of_a_delivery_whose_storing_failed_is_stored(client, setup, twilio_number, monkeypatch):
    """The first delivery's transaction failed (nothing stored): Twilio's identical retry must not
    be refused as a replay, or the text would be lost for good."""
    form = sms("Did you get my transcript?")
    headers = signed_headers(URL, form)
    monkeypatch.setattr(inbound.conversations, "record_activity", _broken)
    with pytest.raises(RuntimeError):
        post_signed(client, PATH, form, headers)
    db.session.rollback()
    monkeypatch.undo()
    assert stored_messages() == []

    again = post_signed(client, PATH, form, headers)
    assert again.status_code == 200, again.get_data(as_text=True)
    assert [message.body for message in stored_messages()] == ["Did you get my transcript?"]


def _broken(*args, **kwargs):
    raise RuntimeError("the database went away mid-transaction")


def test_the_same_messagesid_is_stored_once(client, setup, twilio_number):
    """A delivery of one MessageSid that differs in some other field (so its signature differs too)."""
    first = sms("First question")
    post_signed(client, PATH, first)
    post_signed(client, PATH, sms("Second question"))
    conversation = db.session.scalars(select(Conversation)).one()
    before = (conversation.last_activity_at, conversation.last_message_preview)

    response = post_signed(client, PATH, {**first, "NumSegments": "2"})
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "<Response/>"
    db.session.expire_all()
    assert (conversation.last_activity_at, conversation.last_message_preview) == before
    assert len(stored_messages()) == 2


@pytest.mark.parametrize("identical", [True, False], ids=["identical requests", "one MessageSid"])
def test_concurrent_duplicate_deliveries_are_stored_once(app, setup, twilio_number, identical):
    form = sms("Sent once, delivered many times")
    count = 16
    barrier = threading.Barrier(count)
    statuses: list[int] = []
    db.session.commit()

    def deliver(k: int) -> None:
        delivery = form if identical else {**form, "ApiVersion": f"2010-04-{k:02d}"}
        with app.app_context():
            client = app.test_client()
            barrier.wait()
            response = client.post(PATH, data=delivery, headers=signed_headers(URL, delivery))
            statuses.append(response.status_code)

    threads = [threading.Thread(target=deliver, args=(k,)) for k in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # Every delivery is answered 200, with the same empty TwiML.
    assert statuses == [200] * count
    assert len(stored_messages()) == 1
    assert db.session.scalar(select(func.count()).select_from(Conversation)) == 1


def test_mms_media_links_are_kept_and_shown(client, setup, twilio_number):
    media = [f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/ME{i}"
             for i in range(3)]  # fmt: skip
    form = sms("Here is my transcript", NumMedia="4", MediaUrl0=media[0], MediaContentType0="image/jpeg",
               MediaUrl1=media[1], MediaUrl10=media[2], MediaUrl2="javascript:alert(1)")  # fmt: skip
    assert post_signed(client, PATH, form).status_code == 200

    [message] = stored_messages()
    assert message.body == "Here is my transcript"
    assert message.media_urls == media  # in order (10 after 1); no script links
    login(client, "standard@example.edu")
    page = client.get(f"/conversations/{message.conversation_id}").get_data(as_text=True)
    for url in media:
        assert f'href="{url}"' in page
    assert "javascript:" not in page


def test_a_contacts_picture_is_downloaded_with_the_accounts_credentials(
    client, setup, twilio_number, fake_twilio
):
    out = io.BytesIO()
    Image.new("RGB", (48, 32), (10, 120, 60)).save(out, "JPEG")
    path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/ME1"
    credentials = f"{ACCOUNT_SID}:{AUTH_TOKEN}"
    link = fake_twilio.serve_file(path, out.getvalue(), "image/jpeg", credentials=credentials)
    foreign = "https://example.org/ME2"  # not the account's: never fetched, stays a link
    form = sms("Campus map", NumMedia="2", MediaUrl0=link, MediaUrl1=foreign)
    assert post_signed(client, PATH, form).status_code == 200

    [message] = stored_messages()
    [picture] = db.session.scalars(select(MessagePicture).where(MessagePicture.message_id == message.id))
    assert (picture.source_url, picture.content_type) == (link, "image/jpeg")
    assert (picture.width, picture.height) == (48, 32)
    assert [fetched for fetched, _ in fake_twilio.downloads] == [path]
    login(client, "standard@example.edu")
    page = client.get(f"/conversations/{message.conversation_id}").get_data(as_text=True)
    assert 'alt="Picture from the contact (opens full size)" width="48" height="32"' in page
    assert f'href="{foreign}"' in page and f'href="{link}"' not in page


def test_a_picture_without_text_is_stored(client, setup, twilio_number):
    form = sms("", NumMedia="1", MediaUrl0="https://api.twilio.com/media/ME1")
    assert post_signed(client, PATH, form).status_code == 200
    [message] = stored_messages()
    assert (message.body, message.media_urls) == ("", ["https://api.twilio.com/media/ME1"])


@pytest.mark.parametrize("opt_out_type", [{"OptOutType": "STOP"}, {}], ids=["OptOutType", "keyword"])
def test_stop_opts_the_phone_out_without_a_second_confirmation(
    client, setup, twilio_number, fake_twilio, opt_out_type
):
    """Twilio answers STOP itself (with or without Advanced Opt-Out's OptOutType): Parley records
    the opt-out and sends nothing."""
    assert post_signed(client, PATH, sms("Stop", **opt_out_type)).status_code == 200

    assert optouts.is_opted_out(CONTACT)
    assert db.session.scalars(select(OptOutEvent)).one().action == "opt_out"
    assert outbound_count() == 0
    assert fake_twilio.requests == []

    assert post_signed(client, PATH, sms("START", OptOutType="START")).status_code == 200
    assert not optouts.is_opted_out(CONTACT)
    assert fake_twilio.requests == []


def test_help_gets_no_second_answer_on_twilio_numbers(client, setup, twilio_number, fake_twilio):
    assert post_signed(client, PATH, sms("HELP", OptOutType="HELP")).status_code == 200
    assert post_signed(client, PATH, sms("info")).status_code == 200
    assert outbound_count() == 0
    assert fake_twilio.requests == []


@pytest.mark.parametrize("missing", ["From", "To", "MessageSid"])
def test_missing_fields_are_refused_precisely(client, setup, twilio_number, missing):
    form = sms()
    del form[missing]
    response = post_signed(client, PATH, form)
    assert response.status_code == 400
    assert f"missing {missing}" in response.get_data(as_text=True)
    assert stored_messages() == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("From", "not-a-phone"), ("To", "12"), ("From", "whatsapp:+12025550143"), ("MessageSid", "S" * 101)],
)
def test_malformed_fields_are_refused(client, setup, twilio_number, field, value):
    response = post_signed(client, PATH, sms(**{field: value}))
    assert response.status_code == 400
    assert stored_messages() == []
    assert db.session.scalar(select(func.count()).select_from(Conversation)) == 0


def test_an_empty_signed_request_is_a_400_not_a_500(client, setup, twilio_number):
    response = post_signed(client, PATH, {})
    assert response.status_code == 400
    assert "missing From, To, MessageSid" in response.get_data(as_text=True)


def test_message_to_a_number_parley_does_not_have_is_404(client, setup, twilio_number):
    response = post_signed(client, PATH, sms(To="+12025550111"))
    assert response.status_code == 404
    assert "+12025550111 is not an active reusable number" in response.get_data(as_text=True)
    assert stored_messages() == []


def test_a_text_to_a_number_of_another_provider_is_404_but_a_stop_is_kept(client, setup, twilio_number):
    """Twilio still pointing a number at Parley after it moved to another provider: its texts are
    refused where the webhook's logs show it, and nothing is stored; a contact's STOP still counts."""
    console_number = setup["number"].phone
    response = post_signed(client, PATH, sms(To=console_number))
    assert response.status_code == 404
    assert f"{console_number} sends through console here, not twilio" in response.get_data(as_text=True)
    assert stored_messages() == []
    assert db.session.scalar(select(func.count()).select_from(Conversation)) == 0

    assert post_signed(client, PATH, sms("STOP", To=console_number)).status_code == 200
    assert optouts.is_opted_out(CONTACT)
