"""POST /webhooks/plivo/inbound: signatures, parsing, idempotency, MMS and opt-out intents."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import event, func, select

from tests.conftest import login
from tests.fake_plivo import sign_v2, sign_v3, v3_headers
from tests.plivo.conftest import CONTACT, PLIVO_NUMBER, post_signed
from webapp.extensions import db
from webapp.models import Conversation, Message, OptOutEvent
from webapp.services import optouts

PATH = "/webhooks/plivo/inbound"
URL = "https://parley.example.edu" + PATH
NONCE = "31415926535897932384"


def sms(text: str = "Is my application complete?", **extra: str) -> dict[str, str]:
    form = {
        "From": CONTACT[1:],  # Plivo sends digits without "+"
        "To": PLIVO_NUMBER[1:],
        "Text": text,
        "Type": "sms",
        "MessageUUID": str(uuid.uuid4()),
        "Units": "1",
    }
    form.update(extra)
    return form


def stored_messages() -> list[Message]:
    return list(db.session.scalars(select(Message).where(Message.direction == "inbound")))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_signed_sms_is_stored_and_needs_attention(client, setup, plivo_number):
    form = sms()
    response = post_signed(client, PATH, form)

    assert response.status_code == 200
    [message] = stored_messages()
    assert message.body == "Is my application complete?"
    assert message.provider == "plivo"
    assert message.provider_message_id == form["MessageUUID"]
    conversation = db.session.get(Conversation, message.conversation_id)
    assert conversation.contact_phone == CONTACT
    assert conversation.number_id == plivo_number.id
    assert conversation.needs_attention is True

    login(client, "standard@example.edu")
    page = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert "Is my application complete?" in page


def test_phones_with_plus_are_accepted_too(client, setup, plivo_number):
    response = post_signed(client, PATH, sms(From=CONTACT, To=PLIVO_NUMBER))
    assert response.status_code == 200
    [message] = stored_messages()
    assert db.session.get(Conversation, message.conversation_id).contact_phone == CONTACT


def test_ma_v3_signature_is_accepted(client, setup, plivo_number):
    form = sms()
    headers = {
        "X-Plivo-Signature-Ma-V3": sign_v3(URL, form, NONCE),
        "X-Plivo-Signature-V3-Nonce": NONCE,
    }
    assert post_signed(client, PATH, form, headers).status_code == 200
    assert len(stored_messages()) == 1


def test_subaccount_v3_with_main_account_ma_v3(client, setup, plivo_number):
    """A subaccount's number: V3 is signed with the subaccount's token, Ma-V3 with ours."""
    form = sms()
    headers = {
        "X-Plivo-Signature-V3": sign_v3(URL, form, NONCE, token="subaccount-token"),
        "X-Plivo-Signature-Ma-V3": sign_v3(URL, form, NONCE),
        "X-Plivo-Signature-V3-Nonce": NONCE,
    }
    assert post_signed(client, PATH, form, headers).status_code == 200


def test_v2_signature_is_refused_unless_allowed(client, setup, plivo_number):
    """V2 signs neither the body nor the query (tests/security/test_webhook_replay.py allows it)."""
    form = sms()
    headers = {"X-Plivo-Signature-V2": sign_v2(URL, NONCE), "X-Plivo-Signature-V2-Nonce": NONCE}
    response = post_signed(client, PATH, form, headers)
    assert response.status_code == 403
    assert "PLIVO_ALLOW_V2_SIGNATURES=1" in response.get_data(as_text=True)
    assert stored_messages() == []


@pytest.mark.parametrize(
    "signatures",
    ["{wrong},{right}", "{right}, {wrong}", " {wrong} , {wrong2} ,{right}"],
)
def test_any_of_several_comma_separated_signatures_may_match(
    client, setup, plivo_number, signatures
):
    form = sms()
    value = signatures.format(
        right=sign_v3(URL, form, NONCE),
        wrong=sign_v3(URL, form, NONCE, token="old-token"),
        wrong2="bm90IGEgc2lnbmF0dXJl",
    )
    headers = {"X-Plivo-Signature-V3": value, "X-Plivo-Signature-V3-Nonce": NONCE}
    assert post_signed(client, PATH, form, headers).status_code == 200


def _refused_headers(form: dict) -> dict[str, dict]:
    good = sign_v3(URL, form, NONCE)
    return {
        "unsigned": {},
        "wrong token": {
            "X-Plivo-Signature-V3": sign_v3(URL, form, NONCE, token="someone-else"),
            "X-Plivo-Signature-V3-Nonce": NONCE,
        },
        "signed for the internal URL": {
            "X-Plivo-Signature-V3": sign_v3("http://localhost" + PATH, form, NONCE),
            "X-Plivo-Signature-V3-Nonce": NONCE,
        },
        "signed with another nonce": {
            "X-Plivo-Signature-V3": good,
            "X-Plivo-Signature-V3-Nonce": NONCE + "0",
        },
        "no nonce": {"X-Plivo-Signature-V3": good},
        "V3 wrong, V2 right (no downgrade)": {
            "X-Plivo-Signature-V3": sign_v3(URL, form, NONCE, token="someone-else"),
            "X-Plivo-Signature-V3-Nonce": NONCE,
            "X-Plivo-Signature-V2": sign_v2(URL, NONCE),
            "X-Plivo-Signature-V2-Nonce": NONCE,
        },
        "V2 with a wrong token": {
            "X-Plivo-Signature-V2": sign_v2(URL, NONCE, token="someone-else"),
            "X-Plivo-Signature-V2-Nonce": NONCE,
        },
        "garbled": {
            "X-Plivo-Signature-V3": "%%%\u00e9\u00fc, ,,,=\u00ff" + "A" * 500,
            "X-Plivo-Signature-V3-Nonce": "\u00e9",
        },
        "empty": {"X-Plivo-Signature-V3": "", "X-Plivo-Signature-V3-Nonce": ""},
    }


@pytest.mark.parametrize("case", list(_refused_headers(sms())))
def test_unsigned_or_wrongly_signed_requests_are_refused(client, setup, plivo_number, case):
    form = sms()
    response = post_signed(client, PATH, form, _refused_headers(form)[case])
    assert response.status_code == 403
    assert stored_messages() == []
    assert count(Conversation) == 0


def test_tampered_body_is_refused(client, setup, plivo_number):
    form = sms("Hi")
    headers = v3_headers(URL, form)
    response = post_signed(client, PATH, {**form, "Text": "STOP"}, headers)
    assert response.status_code == 403
    assert stored_messages() == []
    assert not optouts.is_opted_out(CONTACT)


def test_repeated_delivery_is_stored_once(client, setup, plivo_number):
    form = sms()
    first = post_signed(client, PATH, form)
    again = post_signed(client, PATH, form)
    assert first.status_code == again.status_code == 200
    assert len(stored_messages()) == 1


def test_repeated_delivery_leaves_the_conversation_where_it_was(client, setup, plivo_number):
    first = sms("First question")
    post_signed(client, PATH, first)
    post_signed(client, PATH, sms("Second question"))
    conversation = db.session.scalars(select(Conversation)).one()
    before = (conversation.last_activity_at, conversation.last_message_preview)

    assert post_signed(client, PATH, first).status_code == 200  # Plivo retries the first
    db.session.expire_all()
    assert before[1] == "Second question"
    assert (conversation.last_activity_at, conversation.last_message_preview) == before
    assert len(stored_messages()) == 2


def test_concurrent_duplicate_deliveries_are_stored_once(app, setup, plivo_number):
    form = sms("Sent once, delivered many times")
    threads_count = 20  # Plivo retries; a burst of the same delivery must still store one message
    barrier = threading.Barrier(threads_count)
    statuses: list[int] = []
    db.session.commit()

    def deliver() -> None:
        with app.app_context():
            client = app.test_client()
            barrier.wait()
            # Each delivery signed anew, with its own nonce: a replayed nonce is refused (403).
            headers = v3_headers(URL, form)
            statuses.append(client.post(PATH, data=form, headers=headers).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert statuses == [200] * threads_count
    assert len(stored_messages()) == 1
    assert count(Conversation) == 1


def test_concurrent_first_messages_from_a_new_phone_all_land(app, setup, plivo_number):
    """A new contact's burst of texts arrives at once: one conversation, every message, no 5xx."""
    forms = [sms(f"Part {k} of my question") for k in range(12)]
    barrier = threading.Barrier(len(forms))
    statuses: list[int] = []
    db.session.commit()

    def deliver(form: dict) -> None:
        with app.app_context():
            client = app.test_client()
            barrier.wait()
            statuses.append(client.post(PATH, data=form, headers=v3_headers(URL, form)).status_code)

    threads = [threading.Thread(target=deliver, args=(form,)) for form in forms]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert statuses == [200] * len(forms)
    assert sorted(m.body for m in stored_messages()) == sorted(f["Text"] for f in forms)
    assert count(Conversation) == 1


def test_mms_media_links_are_kept_and_shown(client, setup, plivo_number):
    media = [f"https://media.plivo.com/Account/{i}/Media/photo{i}.jpg" for i in (1, 2, 3)]
    form = sms(Type="mms", MediaCount="3", Media1=media[0], Media2=media[1], Media10=media[2],
               Media3="javascript:alert(1)")  # fmt: skip
    del form["Text"]
    form["Body"] = "Here is my transcript"
    assert post_signed(client, PATH, form).status_code == 200

    [message] = stored_messages()
    assert message.body == "Here is my transcript"
    assert message.media_urls == media  # in order (10 after 2); no script links
    login(client, "standard@example.edu")
    page = client.get(f"/conversations/{message.conversation_id}").get_data(as_text=True)
    for url in media:
        assert f'href="{url}"' in page
    assert "javascript:" not in page


def test_plivo_optout_intent_opts_the_phone_out_without_a_reply(client, setup, plivo_number):
    form = sms("please take me off", MessageIntent="optout")
    assert post_signed(client, PATH, form).status_code == 200

    assert optouts.is_opted_out(CONTACT)
    assert db.session.scalars(select(OptOutEvent)).one().action == "opt_out"
    # Plivo already confirmed to the contact: Parley sends nothing itself.
    outbound = select(func.count()).select_from(Message).where(Message.direction == "outbound")
    assert db.session.scalar(outbound) == 0

    assert post_signed(client, PATH, sms("START", MessageIntent="optin")).status_code == 200
    assert not optouts.is_opted_out(CONTACT)


def test_help_gets_no_second_answer_on_plivo_numbers(client, setup, plivo_number, fake_plivo):
    assert post_signed(client, PATH, sms("HELP", MessageIntent="help")).status_code == 200
    outbound = select(func.count()).select_from(Message).where(Message.direction == "outbound")
    assert db.session.scalar(outbound) == 0
    assert fake_plivo.requests == []

    # The console provider does not answer HELP itself, so Parley does (the contrast).
    result = client.application.test_cli_runner().invoke(
        args=["sms", "receive", "--from", CONTACT, "--to", "+12025550100", "--text", "HELP"]
    )
    assert result.exit_code == 0, result.output
    assert db.session.scalar(outbound) == 1


def test_an_inbound_text_reads_first_and_writes_in_three_statements(client, setup, plivo_number):
    """The number, with whether its office has webhook endpoints, is read in one statement
    before the transaction that writes; on SQLite the write lock is held for the nonce, the
    conversation and the message alone."""
    statements: list[str] = []
    seen_by_sqlite: list[str] = []  # what SQLite itself ran, transaction control included
    traced_sql: list[str] = []
    traced = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        if not statement.startswith("BEGIN"):
            statements.append(statement)

    def trace(sql: str) -> None:
        if sql.startswith(("--", "PRAGMA")) or "_fts" in sql:
            return  # the FTS5 index's own statements, which a trigger runs
        if traced_sql and traced_sql[-1] == sql:
            return  # SQLite traces a statement again for each trigger it fires
        traced_sql.append(sql)
        word = sql.split(None, 1)[0].upper()
        seen_by_sqlite.append({"SELECT": "read", "INSERT": "write"}.get(word, sql.strip().upper()))

    def checked_out(dbapi_connection, record, proxy) -> None:
        if hasattr(dbapi_connection, "set_trace_callback"):
            dbapi_connection.set_trace_callback(trace)
            traced.append(dbapi_connection)

    db.session.commit()  # the test's own transaction is not the request's
    event.listen(db.engine, "before_cursor_execute", count)
    event.listen(db.engine, "checkout", checked_out)
    try:
        response = post_signed(client, PATH, sms())
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
        event.remove(db.engine, "checkout", checked_out)
        for dbapi_connection in traced:
            dbapi_connection.set_trace_callback(None)
    assert response.status_code == 200
    assert len(stored_messages()) == 1
    assert len(statements) == 4, statements  # number; nonce, conversation, message
    assert "webhook_endpoints" in statements[0], statements[0]
    if db.engine.dialect.name == "sqlite":
        expected = ["read", "BEGIN IMMEDIATE", "write", "write", "write", "COMMIT"]
        assert seen_by_sqlite == expected, seen_by_sqlite


@pytest.mark.parametrize("missing", ["From", "To", "MessageUUID"])
def test_missing_fields_are_refused_precisely(client, setup, plivo_number, missing):
    form = sms()
    form[missing] = ""
    response = post_signed(client, PATH, form)
    assert response.status_code == 400
    assert missing in response.get_data(as_text=True)
    assert stored_messages() == []


@pytest.mark.parametrize(
    ("field", "value"), [("From", "not-a-phone"), ("To", "12"), ("MessageUUID", "x" * 101)]
)
def test_malformed_fields_are_refused(client, setup, plivo_number, field, value):
    response = post_signed(client, PATH, sms(**{field: value}))
    assert response.status_code == 400
    assert stored_messages() == []
    assert count(Conversation) == 0


def test_a_number_texting_itself_is_refused(app, client, setup, plivo_number):
    """No conversation of a number with itself: a reply in it would be sent to the number too."""
    response = post_signed(client, PATH, sms(From=PLIVO_NUMBER.lstrip("+")))
    assert response.status_code == 400
    assert "is the number the message was sent to" in response.get_data(as_text=True)
    assert stored_messages() == [] and count(Conversation) == 0
    args = ["sms", "receive", "--from", PLIVO_NUMBER, "--to", PLIVO_NUMBER, "--text", "Hi"]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 1 and "is the number the message was sent to" in result.output
    assert count(Conversation) == 0


def test_message_to_a_number_parley_does_not_have_is_404(client, setup, plivo_number):
    response = post_signed(client, PATH, sms(To="12025550111"))
    assert response.status_code == 404
    assert "+12025550111 is not an active reusable number" in response.get_data(as_text=True)
    assert stored_messages() == []
    assert count(Conversation) == 0


def test_a_webhook_asked_with_another_method_is_a_405_not_the_login_page(client, setup, plivo_number):
    """A provider set up to GET would follow a redirect to the login page and take its 200 for
    delivered: it gets 405, and retries or shows the error."""
    for method in ("GET", "PUT"):
        for kind in ("inbound", "status"):
            response = client.open(f"/webhooks/plivo/{kind}", method=method)
            assert response.status_code == 405 and "Location" not in response.headers
    assert stored_messages() == []


def test_unknown_or_webhookless_providers(client, setup, plivo_number):
    form = sms()
    assert client.post("/webhooks/vonage/inbound", data=form).status_code == 404  # not installed
    assert client.post("/webhooks/twilio/inbound", data=form).status_code == 403  # not enabled
    # The console provider has no webhooks: nothing it "signs" is accepted.
    assert client.post("/webhooks/console/inbound", data=form).status_code == 403
    assert stored_messages() == []
