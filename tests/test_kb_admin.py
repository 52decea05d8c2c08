"""The knowledge-base admin pages under /admin/kb: admins of the office only; list, add, edit,
delete, "try a question", and the "I don't know" setting, with precise errors and no 500s."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from tests.conftest import csrf_token, login
from webapp.extensions import db
from webapp.models import KnowledgeBaseEntry, Office
from webapp.services import knowledge_base


@pytest.fixture
def admin(client, setup, make):
    make.number("+12025550101", backing="bot", inboxes=("Admissions",), label="Admissions FAQ Bot")
    login(client, "admin@example.edu")
    return setup


def base(setup) -> str:
    return f"/admin/kb/{setup['office'].id}"


def post(client, path: str, data: dict, htmx: bool = False, token_from: str | None = None):
    token = csrf_token(client, token_from or path)
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(path, data={"csrf_token": token, **data}, headers=headers)


def entries() -> list[KnowledgeBaseEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(KnowledgeBaseEntry).order_by(KnowledgeBaseEntry.id)))


def add(setup, question="application deadline\nwhen are applications due", answer="Jan 15."):
    entry = knowledge_base.add_entry(setup["office"], question, answer)
    db.session.commit()
    return entry


# ---- Who may ----


@pytest.mark.parametrize("email", ["standard@example.edu", "limited@example.edu"])
def test_only_admins_may_manage_the_knowledge_base(client, setup, email):
    entry = add(setup)
    login(client, email)
    office = setup["office"].id
    for path in ("/admin/kb", f"/admin/kb/{office}", f"/admin/kb/{office}/entries/new",
                 f"/admin/kb/{office}/entries/{entry.id}/edit"):  # fmt: skip
        assert client.get(path).status_code == 403, path
    token = csrf_token(client, "/inbox")
    for path in (f"/admin/kb/{office}/entries/new", f"/admin/kb/{office}/entries/{entry.id}/delete",
                 f"/admin/kb/{office}/idk", f"/admin/kb/{office}/try"):  # fmt: skip
        response = client.post(path, data={"csrf_token": token, "question": "x", "answer": "y"})
        assert response.status_code == 403, path
    assert len(entries()) == 1
    assert "Knowledge base" not in client.get("/inbox").get_data(as_text=True)


def test_pages_need_login(client, setup):
    response = client.get(f"/admin/kb/{setup['office'].id}")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_admins_manage_only_their_own_offices(client, admin, make):
    other = make.office("Financial Aid")
    entry = knowledge_base.add_entry(other, "fafsa", "March 1.")
    db.session.commit()
    other_id, entry_id = other.id, entry.id
    assert client.get(f"/admin/kb/{other_id}").status_code == 403
    assert client.get(f"/admin/kb/{other_id}/entries/{entry_id}/edit").status_code == 403
    response = post(
        client, f"/admin/kb/{other_id}/entries/{entry_id}/delete", {}, token_from="/inbox"
    )
    assert response.status_code == 403
    # Another office's entry under my office's URL does not exist.
    mine = base(admin)
    assert client.get(f"{mine}/entries/{entry_id}/edit").status_code == 404
    assert post(client, f"{mine}/entries/{entry_id}/delete", {}, token_from=mine).status_code == 404
    assert len(entries()) == 1


def test_forms_without_csrf_are_refused(client, admin):
    response = client.post(f"{base(admin)}/entries/new", data={"question": "q", "answer": "a"})
    assert response.status_code == 400
    assert entries() == []


# ---- List, add, edit, delete ----


def test_admin_reaches_the_knowledge_base_from_the_header(client, admin):
    page = client.get("/inbox").get_data(as_text=True)
    assert 'href="/admin/kb"' in page
    response = client.get("/admin/kb")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(base(admin))


def test_empty_knowledge_base_page(client, admin):
    page = client.get(base(admin)).get_data(as_text=True)
    assert "Admissions knowledge base" in page
    assert "No entries yet" in page
    assert "Admissions FAQ Bot" in page  # which number it answers for


def test_the_page_as_an_htmx_fragment_is_its_content_without_the_frame(client, admin):
    response = client.get(base(admin), headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Admissions knowledge base" in html
    assert "<html" not in html and 'aria-label="Admin sections"' not in html


def test_add_edit_and_delete_an_entry(client, admin):
    response = post(
        client,
        f"{base(admin)}/entries/new",
        {"question": " application deadline \n\n When are applications due? \nAPPLICATION DEADLINE",
         "answer": "Regular Decision: January 15."},
    )  # fmt: skip
    assert response.status_code == 303
    assert response.headers["Location"].endswith(base(admin))
    [entry] = entries()
    assert entry.phrasings == ["application deadline", "When are applications due?"]
    assert entry.updated_by_id == admin["users"]["admin"].id
    page = client.get(base(admin)).get_data(as_text=True)
    assert page.count("Entry added.") == 1  # once, as a confirmation, in the admin console's frame
    assert 'alert-success" role="status" tabindex="-1" autofocus><p>Entry added.' in page
    assert 'aria-label="Admin sections"' in page
    assert "When are applications due?" in page
    assert "Regular Decision: January 15." in page
    assert "by Alex Admin" in page

    edit = f"{base(admin)}/entries/{entry.id}/edit"
    assert "Regular Decision: January 15." in client.get(edit).get_data(as_text=True)
    response = post(client, edit, {"question": "deadline", "answer": "Early Action: November 1."})
    assert response.status_code == 303
    [entry] = entries()
    assert (entry.question, entry.answer) == ("deadline", "Early Action: November 1.")

    response = post(client, f"{base(admin)}/entries/{entry.id}/delete", {}, token_from=base(admin))
    assert response.status_code == 303
    assert entries() == []
    assert "Entry deleted." in client.get(base(admin)).get_data(as_text=True)


def test_htmx_add_navigates_with_hx_redirect(client, admin):
    response = post(
        client,
        f"{base(admin)}/entries/new",
        {"question": "tour", "answer": "Daily at 10."},
        htmx=True,
    )
    assert response.status_code == 204
    assert response.headers["HX-Redirect"].endswith(base(admin))


@pytest.mark.parametrize(
    "question, answer, field, error",
    [
        ("", "Jan 15.", "question", "Enter at least one question phrasing or keyword."),
        ("  \n \n", "Jan 15.", "question", "Enter at least one question phrasing or keyword."),
        ("deadline\n???", "Jan 15.", "question", "The phrasing “???” has no word in it"),
        ("x" * 2000, "Jan 15.", "question",
         "Questions can be at most 1,000 characters in all; these have 2,000."),
        ("deadline", "", "answer", "Enter the answer the bot sends."),
        # Sent to contacts and listed on terminals: no control character (an escape, a bell).
        ("deadline", "Jan 15.\x1b[2J", "answer", "The text holds a control character (U+001B)"),
        ("dead\x07line", "Jan 15.", "question", "The text holds a control character (U+0007)"),
        ("deadline", "y" * 1700, "answer",
         "An answer can be at most 1,600 characters (it is sent as one text); this one has 1,700."),
    ],
)  # fmt: skip
def test_bad_entries_are_refused_inline_and_change_nothing(
    client, admin, question, answer, field, error
):
    response = post(client, f"{base(admin)}/entries/new", {"question": question, "answer": answer})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert error in page
    assert f'id="{field}-error"' in page
    assert 'aria-invalid="true"' in page
    assert entries() == []
    # What was typed is kept, so nothing has to be typed again.
    if answer:
        assert answer in page

    htmx = post(
        client, f"{base(admin)}/entries/new", {"question": question, "answer": answer}, htmx=True
    )
    assert htmx.status_code == 200
    assert error in htmx.get_data(as_text=True)
    assert "<html" not in htmx.get_data(as_text=True)  # just the form fragment


def test_bad_edit_keeps_the_entry(client, admin):
    entry_id = add(admin).id
    response = post(
        client, f"{base(admin)}/entries/{entry_id}/edit", {"question": "", "answer": ""}
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Enter at least one question phrasing or keyword." in page
    assert "Enter the answer the bot sends." in page
    [entry] = entries()
    assert entry.answer == "Jan 15."


def test_a_phrasing_of_another_entry_is_refused_and_changes_nothing(client, admin, make):
    """The bot would answer a phrasing in two entries with the first alone: it belongs to one."""
    deadline = add(admin)
    tour = add(admin, "campus tour", "Daily at 10.")
    knowledge_base.add_entry(make.office("Financial Aid"), "application deadline", "March 1.")
    db.session.commit()  # another office's knowledge base: no clash
    refused = post(client, f"{base(admin)}/entries/new", {"question": "tours\nApplication  Deadline",
                                                          "answer": "Soon."})  # fmt: skip
    assert refused.status_code == 422
    said = ("“Application Deadline” is already a phrasing of the entry “application deadline” (and 1 "
            "other phrasing), whose answer the bot sends for it")  # fmt: skip
    assert said in refused.get_data(as_text=True)
    both = {"question": "campus tour\nwhen are applications due", "answer": "Daily at 10."}
    edited = post(client, f"{base(admin)}/entries/{tour.id}/edit", both)
    assert edited.status_code == 422 and "is already a phrasing of the entry" in edited.get_data(as_text=True)
    kept = post(client, f"{base(admin)}/entries/{deadline.id}/edit",
                {"question": "application deadline", "answer": "January 15."})  # its own phrasing
    assert kept.status_code in (200, 303)
    assert [(e.question, e.answer) for e in entries() if e.office_id == admin["office"].id] == [
        ("application deadline", "January 15."), ("campus tour", "Daily at 10."),
    ]  # fmt: skip
    # Twins saved before this check: each keeps its phrasings through an edit of its answer.
    twin = KnowledgeBaseEntry(office_id=admin["office"].id, question="Campus tour?", answer="Old.")
    db.session.add(twin)
    db.session.commit()
    answer_only = {"question": "Campus tour?", "answer": "Daily."}
    fixed = post(client, f"{base(admin)}/entries/{twin.id}/edit", answer_only)
    assert fixed.status_code in (200, 303)
    assert db.session.get(KnowledgeBaseEntry, twin.id).answer == "Daily."


def test_missing_entry_is_404(client, admin):
    assert client.get(f"{base(admin)}/entries/999999/edit").status_code == 404


def test_entry_text_is_escaped(client, admin):
    add(admin, question="<script>alert(1)</script>", answer="<b>bold</b>")
    page = client.get(base(admin)).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page


# ---- Try a question ----


def try_question(client, admin, question: str, htmx: bool = True):
    return post(
        client, f"{base(admin)}/try", {"question": question}, htmx=htmx, token_from=base(admin)
    )


def test_try_a_question_shows_the_entry_and_confidence(client, admin):
    entry_id = add(admin).id
    response = try_question(client, admin, "WHEN is the aplication dedline?")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f"Entry #{entry_id} would answer" in page
    assert re.search(r'<strong class="kb-confidence-value">9\d%</strong>', page)
    assert "Matched “application deadline”" in page
    assert "Jan 15." in page
    assert "<html" not in page
    # Nothing was sent anywhere: a trial is not a conversation.
    from webapp.models import Message

    assert db.session.scalar(select(func.count()).select_from(Message)) == 0


def test_try_an_unknown_question_shows_what_happens_instead(client, admin):
    add(admin)
    page = try_question(client, admin, "marching band?").get_data(as_text=True)
    assert "No entry is a confident match: the conversation goes to an agent" in page
    knowledge_base.set_idk(
        db.session.get(Office, admin["office"].id), "message", "We will text you back!"
    )
    db.session.commit()
    page = try_question(client, admin, "application").get_data(as_text=True)
    assert "the bot sends your “I don't know” message" in page
    assert "We will text you back!" in page
    assert "Closest match" in page  # "application" is close to an entry, not close enough


@pytest.mark.parametrize(
    "question, said",
    [
        ("STOP", "an opt-out keyword: Parley opts the contact out"),
        ("cancel", "an opt-out keyword"),
        ("Start", "an opt-in keyword"),
        ("info", "a HELP keyword: the office"),
    ],
)
def test_try_a_keyword_says_parley_answers_it_not_the_bot(client, admin, question, said):
    """STOP, START and HELP never reach the bot: the box says what happens, not "I don't know"."""
    add(admin, "cancel my application", "Reply with your applicant ID and we will withdraw it.")
    page = try_question(client, admin, question).get_data(as_text=True)
    assert f"This is {said}" in page and "the bot does not answer" in page
    assert "I don't know" not in page and "goes to an agent" not in page and "would answer" not in page


def test_try_a_text_that_may_ask_to_stop_says_an_agent_gets_it(client, admin):
    add(admin)
    page = try_question(client, admin, "Stop texting me about the application deadline")
    page = page.get_data(as_text=True)
    assert "no bot answers it, and the conversation goes to an agent (Needs Attention)" in page
    assert "would answer" not in page


@pytest.mark.parametrize(
    "question, error",
    [
        ("", "Type a question to try."),
        ("   ", "Type a question to try."),
        ("q" * 2000, "A question can be at most 1,600 characters (a contact cannot send more); "
                     "this one has 2,000."),
    ],
)  # fmt: skip
def test_try_bad_question(client, admin, question, error):
    response = try_question(client, admin, question)
    assert response.status_code == 200
    assert error in response.get_data(as_text=True)
    plain = try_question(client, admin, question, htmx=False)
    assert plain.status_code == 422
    assert error in plain.get_data(as_text=True)


def test_try_with_a_broken_bot_says_so(client, admin, app):
    from tests.test_bots import RaisingBot

    bot = RaisingBot(app.config)
    bot.name = "kb"
    app.extensions["parley"].bots["kb"] = bot
    response = try_question(client, admin, "application deadline")
    assert response.status_code == 200
    assert "The bot failed: RuntimeError." in response.get_data(as_text=True)


# ---- "I don't know" ----


def test_idk_setting(client, admin):
    page = client.get(base(admin)).get_data(as_text=True)
    assert 'value="escalate" checked' in page
    data = {"idk_action": "message", "idk_message": "A counselor will reply."}
    response = post(client, f"{base(admin)}/idk", data, htmx=True, token_from=base(admin))
    assert response.status_code == 200
    assert "Saved." in response.get_data(as_text=True)
    office = db.session.get(Office, admin["office"].id)
    db.session.refresh(office)
    assert (office.idk_action, office.idk_message) == ("message", "A counselor will reply.")
    page = client.get(base(admin)).get_data(as_text=True)
    assert 'value="message" checked' in page


@pytest.mark.parametrize(
    "data, error",
    [
        (
            {"idk_action": "message", "idk_message": ""},
            "Enter the message the bot sends when it does not know.",
        ),
        (
            {"idk_action": "message", "idk_message": "m" * 1601},
            "The message can be at most 1,600 characters; this one has 1,601.",
        ),
        ({"idk_action": "message", "idk_message": "Ask us\x1b"},
         "The text holds a control character (U+001B)"),
        ({"idk_action": "shrug"}, "Choose what happens when the bot does not know"),
        ({}, "Choose what happens when the bot does not know"),
    ],
)
def test_bad_idk_setting_changes_nothing(client, admin, data, error):
    response = post(client, f"{base(admin)}/idk", data, token_from=base(admin))
    assert response.status_code == 422
    assert error in response.get_data(as_text=True)
    office = db.session.get(Office, admin["office"].id)
    db.session.refresh(office)
    assert office.idk_action == "escalate"
