"""POST /api/v1/messages: a text from the CRM goes the way an agent's does (queue, opt-out checks,
statuses), authored by the key; bad input gets a precise problem and sends nothing; an
Idempotency-Key makes retries safe, also when they arrive at once."""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from tests.admin.conftest import as_admin, post
from tests.api.conftest import Crm, assert_problem, new_key
from tests.conftest import login
from webapp.extensions import db
from webapp.models import ApiKey, Message, ReusableNumber
from webapp.services import optouts


def message_count() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Message))


def test_a_text_from_the_crm_is_queued_sent_and_shown_in_the_inbox(app, client, crm):
    response = crm.send("(202) 555-0143", "Your application is complete.")
    assert response.status_code == 202, response.get_data(as_text=True)
    message = response.get_json()
    assert message["status"] == "queued"
    assert message["from"] == "+12025550100" and message["to"] == "+12025550143"
    assert message["text"] == "Your application is complete."
    assert message["author"] == "Slate" and message["direction"] == "outbound"
    assert isinstance(message["id"], int) and isinstance(message["conversation_id"], int)
    datetime.fromisoformat(message["created_at"])

    # The worker (inline in tests) sent it through the number's provider, as it sends agents' texts;
    # the answer's Location is where its progress is read.
    assert response.headers["Location"] == f"/api/v1/messages/{message['id']}"
    now = crm.get(response.headers["Location"]).get_json()
    assert now["status"] == "sent" and now["id"] == message["id"]

    # Agents see it in the conversation, authored by the key's name.
    as_admin(client)
    page = client.get(f"/conversations/{message['conversation_id']}").get_data(as_text=True)
    assert "Your application is complete." in page and "Slate" in page


def test_a_number_of_another_office_is_refused(crm, other_crm):
    before = message_count()
    body = assert_problem(crm.send(from_="+12025550200"), 422, "unknown-number")
    assert "+12025550200" in body["detail"] and body["errors"][0]["field"] == "from"
    assert body["detail"].endswith("Use the E.164 form of one of its numbers: +12025550100.")
    theirs = assert_problem(other_crm.send(from_="+12025550100"), 422, "unknown-number")
    assert theirs["detail"].endswith("Use the E.164 form of one of its numbers: +12025550200.")
    assert_problem(crm.send(from_="+12025550999"), 422, "unknown-number")
    db.session.execute(update(ReusableNumber).values(active=False))
    db.session.commit()
    none = assert_problem(crm.send(), 422, "unknown-number")
    assert "The office has no active number yet" in none["detail"]
    assert message_count() == before


def test_an_opted_out_contact_gets_nothing(crm):
    optouts.opt_out("+12025550143", source="admin")
    db.session.commit()
    body = assert_problem(crm.send("202-555-0143"), 422, "opted-out")
    assert "opted out" in body["detail"] and "STOP" not in body["detail"]  # an admin added it
    assert message_count() == 0


def test_a_refused_send_ends_its_reads_with_commit(crm):
    """A refusal after the key's and the number's reads changed nothing: its transaction ends with
    COMMIT, not ROLLBACK, which on PostgreSQL drops the statements psycopg prepared."""
    from tests.test_prepared_statements import transaction_ends

    optouts.opt_out("+12025550143", source="admin")
    db.session.commit()
    crm.send("202-555-0199")  # the key's first use records it: a write, not this test's subject
    with transaction_ends() as ends:
        assert_problem(crm.send("202-555-0143"), 422, "opted-out")
    assert ends and "rollback" not in ends, ends


@pytest.mark.parametrize(
    ("to", "message"),
    [("555-0143", "10-digit US phone"), ("+44 20 7946 0958", "International numbers"),
     ("(000) 555-0143", "not a valid US phone")],
)  # fmt: skip
def test_an_invalid_phone_gets_a_precise_problem(crm, to, message):
    before = message_count()
    body = assert_problem(crm.send(to), 422, "invalid-phone")
    assert message in body["detail"] and body["errors"] == [
        {"field": "to", "message": body["errors"][0]["message"]}
    ]
    assert message_count() == before


def test_bad_bodies_get_precise_problems_and_send_nothing(app, crm):
    before = message_count()
    good = {"from": "+12025550100", "to": "2025550143", "text": "Hi"}

    raw = crm.post("/api/v1/messages", data='{"from": "+1202', content_type="application/json")
    assert_problem(raw, 400, "malformed-json")
    assert_problem(crm.post("/api/v1/messages", json={**good, "to": "(202) 555-0100"}), 422, "own-number")
    nested = "[" * 5000 + "]" * 5000  # deeper than Python's JSON parser goes
    assert_problem(crm.post("/api/v1/messages", data=nested, content_type="application/json"), 400)
    form = crm.client.post("/api/v1/messages", data=good, headers=crm.headers())
    assert_problem(form, 415)
    assert_problem(crm.post("/api/v1/messages", json=["not", "an", "object"]), 422)
    null = crm.post("/api/v1/messages", data=" null ", content_type="application/json")
    assert assert_problem(null, 422)["errors"] == [{"field": "body", "message": "not a JSON object"}]
    twice = '{"from": "+12025550100", "to": "2025550143", "text": "Hi", "text": "Bye"}'
    repeated = assert_problem(crm.post("/api/v1/messages", data=twice, content_type="application/json"), 422)
    assert repeated["errors"] == [{"field": "text", "message": "named more than once"}]
    assert "text more than once" in repeated["detail"]
    not_utf8 = crm.post("/api/v1/messages", data=b'{"text": "\xff"}', content_type="application/json")
    assert_problem(not_utf8, 400, "malformed-json")
    for constant in ("NaN", "Infinity", "-Infinity"):  # Python's parser reads them; JSON has none
        data = '{"from": "+12025550100", "to": "2025550143", "text": ' + constant + "}"
        not_json = crm.post("/api/v1/messages", data=data, content_type="application/json")
        assert assert_problem(not_json, 400, "malformed-json")["detail"] == (
            f"The body is not valid JSON: JSON has no {constant}."
        )
    long_number = '{"from": "+12025550100", "to": ' + "1" * 4301 + ', "text": "Hi"}'  # valid JSON
    too_long = crm.post("/api/v1/messages", data=long_number, content_type="application/json")
    too_long = assert_problem(too_long, 400)
    assert too_long["detail"] == "The body holds a number too long to read (over 4,300 digits)."
    deep = assert_problem(crm.post("/api/v1/messages", data=nested, content_type="application/json"), 400)
    assert deep["detail"] == "The body nests arrays or objects deeper than Parley reads."

    unknown = assert_problem(crm.post("/api/v1/messages", json={**good, "cc": "x"}), 422, "invalid-request")
    assert unknown["errors"][0]["field"] == "cc"
    wrong_type = assert_problem(crm.post("/api/v1/messages", json={**good, "to": 2025550143}), 422)
    assert wrong_type["errors"][0]["field"] == "to"
    missing = assert_problem(crm.post("/api/v1/messages", json={"from": "+12025550100"}), 422)
    assert {e["field"] for e in missing["errors"]} == {"to", "text"}
    assert "to" in missing["detail"] and "text" in missing["detail"]
    assert_problem(crm.post("/api/v1/messages", json={**good, "text": "x" * 1601}), 422)
    assert_problem(crm.post("/api/v1/messages", json={**good, "text": "   "}), 422, "invalid-text")
    assert_problem(crm.post("/api/v1/messages", json={**good, "text": "a\u0000b"}), 422, "invalid-text")
    # Two fields refused for different reasons: no one type fits both.
    both = crm.post("/api/v1/messages", json={**good, "to": "abc", "text": ""})
    assert {e["field"] for e in assert_problem(both, 422, "invalid-request")["errors"]} == {"to", "text"}
    assert_problem(crm.post("/api/v1/messages", json={**good, "from": "2025550100"}), 422)

    big = crm.post("/api/v1/messages", json={**good, "text": "x" * (2 * 1024 * 1024)})
    assert "1 MB" in assert_problem(big, 413)["detail"]
    assert message_count() == before


def test_the_same_idempotency_key_returns_the_same_message_and_sends_once(crm):
    key = {"Idempotency-Key": "crm-task-1"}
    first = crm.send(text="Once only", headers=key)
    assert first.status_code == 202
    again = crm.send(text="Once only", headers=key)
    assert again.status_code == 202 and again.get_json()["id"] == first.get_json()["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert message_count() == 1

    body = assert_problem(crm.send(text="Something else", headers=key), 422, "idempotency-key-reused")
    assert "another" in body["detail"]
    assert_problem(crm.send("2025550178", "Once only", headers=key), 422, "idempotency-key-reused")
    assert message_count() == 1
    # Another key is another message.
    assert crm.send(text="Once only", headers={"Idempotency-Key": "crm-task-2"}).status_code == 202
    assert message_count() == 2


def test_a_retry_after_its_number_was_deactivated_gets_the_message_it_made(crm):
    """The CRM lost the first answer; meanwhile an admin deactivated the number. The retry is told
    of the text that went, not that it was refused; a new text from that number is refused."""
    key = {"Idempotency-Key": "crm-task-900"}
    first = crm.send(text="Your aid package is ready", headers=key)
    assert first.status_code == 202
    db.session.execute(update(ReusableNumber).values(active=False))
    db.session.commit()
    again = crm.send(text="Your aid package is ready", headers=key)
    assert again.status_code == 202 and again.get_json()["id"] == first.get_json()["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"

    new = assert_problem(crm.send(text="One more thing", headers={"Idempotency-Key": "crm-task-901"}),
                         422, "unknown-number")  # fmt: skip
    assert "+12025550100 was deactivated by an administrator" in new["detail"]
    assert message_count() == 1


def test_two_api_keys_may_choose_the_same_idempotency_key(crm, other_crm):
    key = {"Idempotency-Key": "shared-name"}
    ours = crm.send(text="Ours", headers=key).get_json()
    theirs = other_crm.send(from_="+12025550200", text="Theirs", headers=key).get_json()
    assert ours["id"] != theirs["id"] and theirs["text"] == "Theirs"


def test_a_forms_key_never_stands_for_an_api_clients(app, client, crm, world):
    """An agent of another office who types the token the API keeps for a CRM's key into a form
    (the form's key is the sender's own) neither blocks nor replays the CRM's send."""
    (key_id,) = db.session.scalars(select(ApiKey.id).where(ApiKey.name == "Slate")).all()
    token = hashlib.sha256(f"api\n{key_id}\ncrm-task-81723".encode()).hexdigest()
    login(client, "fa-staff@example.edu")
    planted = post(client, "/texts/new", {
        "number_id": world["other_number"].id, "to": "2025550178", "body": "Planted",
        "idempotency_key": token,
    })  # fmt: skip
    assert planted.status_code == 303, planted.get_data(as_text=True)

    sent = crm.send(text="From the CRM", headers={"Idempotency-Key": "crm-task-81723"})
    assert sent.status_code == 202, sent.get_data(as_text=True)
    assert sent.get_json()["text"] == "From the CRM" and "Idempotent-Replayed" not in sent.headers
    assert message_count() == 2


def test_twenty_concurrent_posts_with_one_key_make_one_message(app, crm):
    results: list = []
    start = threading.Barrier(20)

    def post_once() -> None:
        client = FlaskClient(app, use_cookies=False)
        start.wait()
        try:
            response = client.post(
                "/api/v1/messages",
                json={"from": "+12025550100", "to": "2025550143", "text": "At once"},
                headers=crm.headers({"Idempotency-Key": "burst-1"}),
            )
        except Exception as exc:  # reported below, with the others' answers
            results.append((500, repr(exc)))
        else:
            results.append((response.status_code, response.get_json()))

    db.session.commit()
    threads = [threading.Thread(target=post_once) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [status for status, _ in results] == [202] * 20, results
    assert len({body["id"] for _, body in results}) == 1
    assert message_count() == 1


def test_each_key_has_its_own_rate_limit(app, world):
    app.config["API_RATE_LIMIT"] = "3 per minute"
    limited = Crm(app.test_client(use_cookies=False), new_key("Limited", world["office"]))
    other = Crm(app.test_client(use_cookies=False), new_key("Other", world["office"]))
    for _ in range(3):
        answer = limited.get("/api/v1/contacts/lookup?phone=2025550143")
        assert answer.status_code == 200 and "Retry-After" not in answer.headers
    refused = limited.send()
    body = assert_problem(refused, 429, "rate-limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "3 per 1 minute" in body["detail"]
    assert message_count() == 0
    assert other.get("/api/v1/contacts/lookup?phone=2025550143").status_code == 200


@pytest.mark.parametrize(
    "typed", ["202–555–0143", "２０２－５５５－０１４３", "\u202a(202) 555-0143\u202c", "(202)\u00a0555-0143"]
)
def test_a_phone_is_read_as_the_ui_reads_it(crm, typed):
    """Dashes of any kind, full-width digits, a copy's direction marks, a no-break space."""
    sent = crm.send(typed, "Hello")
    assert sent.status_code == 202, sent.get_data(as_text=True)
    assert sent.get_json()["to"] == "+12025550143"
    found = crm.get("/api/v1/contacts/lookup", query_string={"phone": typed}).get_json()
    assert [c["id"] for c in found["conversations"]] == [sent.get_json()["conversation_id"]]


def test_a_line_break_counts_once_as_the_ui_counts_it(crm):
    """A textarea's line breaks come as CR LF: 1,600 characters once kept, so it is sent."""
    text = "a" * 1598 + "\r\nb"
    sent = crm.send(text=text)
    assert sent.status_code == 202, sent.get_data(as_text=True)
    assert sent.get_json()["text"] == "a" * 1598 + "\nb"
    assert_problem(crm.send(text="a" * 1599 + "\r\nb"), 422, "invalid-text")
    assert message_count() == 1


def test_made_up_keys_share_their_addresss_budget(app, world):
    """Each made-up key would otherwise have a fresh budget: wrong keys are counted per address,
    and past the limit that address's wrong keys wait; a valid key from it is still answered."""
    app.config["API_RATE_LIMIT"] = "3 per minute"
    client = app.test_client(use_cookies=False)
    for attempt in range(3):
        guess = Crm(client, f"parley_made_up_{attempt}")
        assert_problem(guess.get("/api/v1/contacts/lookup?phone=2025550143"), 401)
    refused = Crm(client, "parley_made_up_4").get("/api/v1/contacts/lookup?phone=2025550143")
    body = assert_problem(refused, 429, "rate-limited")
    assert "too many API keys that are not valid" in body["detail"]
    assert int(refused.headers["Retry-After"]) >= 1
    real = Crm(client, new_key("Slate", world["office"]))
    assert real.send().status_code == 202
    assert message_count() == 1


def test_a_rate_limit_store_that_does_not_answer_does_not_stop_the_api(database_url, tmp_path):
    from tests.conftest import Factory, _empty_tables, make_app

    app = make_app(database_url, tmp_path, API_RATE_LIMIT_STORAGE="redis://127.0.0.1:9/0")
    with app.app_context():
        try:
            make = Factory()
            office = make.office("Admissions")
            make.number()
            crm = Crm(app.test_client(use_cookies=False), new_key("Slate", office))
            assert crm.send().status_code == 202
            assert crm.get("/api/v1/contacts/lookup?phone=2025550143").status_code == 200
        finally:
            db.session.remove()
            _empty_tables()
            db.engine.dispose()


@pytest.mark.parametrize(
    ("body", "headers", "field", "said", "kind"),
    [({"to": "abc"}, {}, "to", "to must be a US phone number such as (617) 555-0123", "invalid-phone"),
     ({"from": "2025550100"}, {}, "from", "from must be the E.164 form of one of your office's numbers",
      "invalid-request"),
     ({"text": "x" * 1601}, {}, "text", "text must be at most 1,600 characters", "invalid-text"),
     ({"text": ""}, {}, "text", "text must not be empty", "invalid-text"),
     ({}, {"Idempotency-Key": "k" * 256}, "Idempotency-Key",
      "Idempotency-Key must be at most 255 characters", "invalid-request"),
     ({}, {"Idempotency-Key": "has space"}, "Idempotency-Key", "Idempotency-Key must be one key, printable",
      "invalid-request"),
     # Two Idempotency-Key headers reach the app joined by a comma: which key was meant is unknown.
     ({}, {"Idempotency-Key": "dup1,dup2"}, "Idempotency-Key", "without spaces or commas",
      "invalid-request")],
)  # fmt: skip
def test_a_refused_field_is_named_with_what_it_takes_in_plain_words(crm, body, headers, field, said, kind):
    """A phone or a text refused for its form gets the same problem type as one the server's own
    checks refuse (a number that is no US phone, a text of spaces), so a client handles each once."""
    good = {"from": "+12025550100", "to": "2025550143", "text": "Hi"}
    before = message_count()
    refused = assert_problem(crm.post("/api/v1/messages", json={**good, **body}, headers=headers), 422)
    assert refused["type"] == f"/api/v1/docs#problem-{kind}"
    assert said in refused["detail"]
    assert [(e["field"], said in e["message"]) for e in refused["errors"]] == [(field, True)]
    for jargon in ("pattern", "items after validation", "String should", "^"):
        assert jargon not in refused["detail"]
    assert message_count() == before


@pytest.mark.parametrize(
    ("text", "said"),
    [("\u0007bell \u001b[31m", "The text holds a control character (U+0007) that no message can carry"),
     ("red \u001b[31m", "(U+001B)"), ("del\u007f", "(U+007F)"),
     ("\u200b", "Enter a message."), ("\u200b \u2060\ufeff\n", "Enter a message."),
     ("\u3164", "Enter a message."), ("\u2800\u2800", "Enter a message."), ("\u115f", "Enter a message.")],
)  # fmt: skip
def test_a_text_with_control_characters_or_nothing_visible_is_refused(crm, text, said):
    before = message_count()
    refused = assert_problem(crm.send(text=text), 422, "invalid-text")
    assert said in refused["detail"] and refused["errors"][0]["field"] == "text"
    assert message_count() == before


def test_tabs_line_breaks_and_visible_format_characters_are_sent(crm):
    # A tab, CR and LF are ordinary; a zero-width joiner inside an emoji is part of what shows.
    assert crm.send(text="a\tb\r\nc\rd 👩\u200d💻").status_code == 202
